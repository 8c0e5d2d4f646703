//! Validate latency overhead: `GET /sessions/current` against a raw `GetItem` of the same item,
//! on the same DynamoDB Local, interleaved in one process (the three in a rotating order, so no
//! side always runs right after another). Two measures of our side:
//! - the handler: `handlers::validate` on a ready `http::Request` (routing, CSRF, the cookie,
//!   the session layer with its one `GetItem`, the JSON answer);
//! - the whole invocation as the Lambda runtime runs it (`handlers::run`): the API Gateway v2
//!   event's JSON bytes read, `lambda_http`'s conversion to a request, the handler, the answer
//!   converted and serialized to JSON bytes; with the median of each step.
//!
//! Prints p50/p99 and the overhead over the raw `GetItem` (target for the handler: at most
//! 50 µs at p50). Run: `make bench` (or `cargo bench -p session-tests --bench validate` with
//! DynamoDB Local and the AWS_* variables of `make test`). Under `cargo test` it is a
//! 20-iteration smoke run that checks every answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Adapter, Context, LambdaEvent, Request, Service, service_fn};
use session_shared::domain::SessionToken;
use session_shared::handlers::{ApiGatewayEvent, EventAdapter};
use session_shared::{Api, handlers};
use session_tests::timing::{median, micros, percentile};
use session_tests::{Event, Function, Payload, TestTable, app, invoke, ticket};

const WARMUP: usize = 200;
const ITERATIONS: usize = 3_000;

/// How long each step of one invocation took.
struct Steps {
    /// Event bytes to `ApiGatewayEvent`.
    read: Duration,
    /// `lambda_http`'s conversion to an `http::Request` (the adapter's call).
    convert: Duration,
    /// The handler, its `GetItem` included, and the answer's conversion back.
    handle: Duration,
    /// The answer serialized to JSON bytes.
    write: Duration,
}

impl Steps {
    fn total(&self) -> Duration {
        self.read + self.convert + self.handle + self.write
    }
}

/// One invocation as the runtime performs it (`handlers::run`): event bytes in, response
/// bytes out. The answer must be 200.
async fn time_invocation(api: &Api, event: &[u8]) -> Steps {
    let t = Instant::now();
    let request: ApiGatewayEvent = serde_json::from_slice(event).unwrap();
    let read = t.elapsed();
    let t = Instant::now();
    let mut adapter = EventAdapter::new(Adapter::from(service_fn(|req| {
        handlers::validate(api, req)
    })));
    let pending = adapter.call(LambdaEvent::new(request, Context::default()));
    let convert = t.elapsed();
    let t = Instant::now();
    let response = pending.await.unwrap();
    let handle = t.elapsed();
    let t = Instant::now();
    let bytes = serde_json::to_vec(&response).unwrap();
    let write = t.elapsed();
    let response: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(response["statusCode"], 200, "{response}");
    Steps {
        read,
        convert,
        handle,
        write,
    }
}

/// The handler alone on a ready request. The answer must be 200.
async fn time_handler(api: &Api, event: &[u8]) -> Duration {
    let request: ApiGatewayEvent = serde_json::from_slice(event).unwrap();
    let request: Request = request.0.into();
    let t = Instant::now();
    let response = handlers::validate(api, request).await.unwrap();
    let elapsed = t.elapsed();
    assert_eq!(response.status(), 200);
    elapsed
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this as a quick smoke test.
    let full = std::env::args().any(|a| a == "--bench");
    let (warmup, iterations) = if full { (WARMUP, ITERATIONS) } else { (5, 20) };
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let created = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket("bench", None)),
    )
    .await;
    assert_eq!(created.status, 201);
    let token = created.cookie_token();
    let hash = SessionToken::parse(&token).unwrap().hash();
    let event = Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&token);
    let event = serde_json::to_vec(&event.to_json()).unwrap();

    let time_raw_get = async || {
        let t = Instant::now();
        let output = table
            .client
            .get_item()
            .table_name(&table.name)
            .key("pk", AttributeValue::S(format!("TOKEN#{}", hash.encoded())))
            .key("sk", AttributeValue::S("SESSION".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        let elapsed = t.elapsed();
        assert!(output.item.is_some());
        elapsed
    };

    let mut raw = Vec::with_capacity(iterations);
    let mut handler = Vec::with_capacity(iterations);
    let mut invocation = Vec::with_capacity(iterations);
    // Each minus the raw GetItem of the same iteration, in µs (either may be the larger).
    let mut handler_over = Vec::with_capacity(iterations);
    let mut invocation_over = Vec::with_capacity(iterations);
    let mut steps = Vec::with_capacity(iterations);
    for i in 0..warmup + iterations {
        let (mut r, mut h, mut s) = (None, None, None);
        for turn in 0..3 {
            match (i + turn) % 3 {
                0 => r = Some(time_raw_get().await),
                1 => h = Some(time_handler(&app.api, &event).await),
                _ => s = Some(time_invocation(&app.api, &event).await),
            }
        }
        let (r, h, s) = (r.unwrap(), h.unwrap(), s.unwrap());
        if i >= warmup {
            raw.push(r);
            handler.push(h);
            invocation.push(s.total());
            handler_over.push(micros(h) - micros(r));
            invocation_over.push(micros(s.total()) - micros(r));
            steps.push(s);
        }
    }
    for sorted in [&mut raw, &mut handler, &mut invocation] {
        sorted.sort();
    }
    let row = |name: &str, sorted: &[Duration]| {
        let (p50, p99) = (percentile(sorted, 0.5), percentile(sorted, 0.99));
        let r50 = percentile(&raw, 0.5);
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.3} |",
            micros(p50),
            micros(p99),
            micros(p50) - micros(r50),
            micros(p50) / micros(r50),
        );
    };
    println!("Validate latency over {iterations} interleaved iterations (after {warmup} warm-up):");
    println!();
    println!("| measure | p50 (µs) | p99 (µs) | p50 over raw GetItem (µs) | p50 ratio |");
    println!("|---|---|---|---|---|");
    row("raw GetItem", &raw);
    row("validate handler", &handler);
    row(
        "whole invocation (event bytes to response bytes)",
        &invocation,
    );
    println!();
    println!(
        "Median of the per-iteration differences from the raw GetItem next to it: handler {:.0} µs, whole invocation {:.0} µs.",
        median(handler_over),
        median(invocation_over)
    );
    println!(
        "Median of each step of the whole invocation (µs): read the event {:.1}, lambda_http's conversion {:.1}, handler and answer {:.1}, write the answer {:.1}.",
        median(steps.iter().map(|s| micros(s.read)).collect()),
        median(steps.iter().map(|s| micros(s.convert)).collect()),
        median(steps.iter().map(|s| micros(s.handle)).collect()),
        median(steps.iter().map(|s| micros(s.write)).collect()),
    );
    table.drop_table().await;
}
