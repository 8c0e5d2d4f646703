//! Validate latency overhead: `GET /sessions/current` against a raw `GetItem` of the same item,
//! on the same DynamoDB Local, interleaved in one process (the three in a rotating order, so no
//! side always runs right after another). Two measures of our side:
//! - the handler: `handlers::validate` on a ready `http::Request` (routing, CSRF, the cookie,
//!   the session layer with its one `GetItem`, the JSON answer);
//! - the whole invocation as the Lambda runtime runs it (`handlers::run`): the API Gateway v2
//!   event's JSON bytes read into a request, the handler, the answer written as JSON bytes;
//!   with the median of each step;
//! - and, to say where the handler's time goes, its layers alone: the store's read, and the
//!   session layer's validate.
//!
//! Runs on tokio's current-thread runtime, as the functions do, and is built at opt-level 3, as
//! session-validate ships (the bench profile in Cargo.toml).
//!
//! Prints p50/p99 and the overhead over the raw `GetItem` (target for the whole invocation: at most
//! 50 µs at p50). Run: `make bench` (or `cargo bench -p session-tests --bench validate` with
//! DynamoDB Local and the AWS_* variables of `make test`). Under `cargo test` it is a
//! 20-iteration smoke run that checks every answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::Utc;
use session_shared::domain::{ClientInfo, Presented, SessionToken, Transport};
use session_shared::http::gateway::{GatewayEvent, GatewayResponse};
use session_shared::{Api, handlers};
use session_tests::timing::{median, micros, percentile, raw_head_read};
use session_tests::{Event, Function, Payload, TestTable, app, invoke, ticket};

const WARMUP: usize = 200;
const ITERATIONS: usize = 3_000;

/// How long each step of one invocation took.
struct Steps {
    /// Event bytes to the request (`GatewayEvent`).
    read: Duration,
    /// The handler, its `GetItem` included.
    handle: Duration,
    /// The answer written as the event's format, to JSON bytes (`GatewayResponse`).
    write: Duration,
}

impl Steps {
    fn total(&self) -> Duration {
        self.read + self.handle + self.write
    }
}

/// One invocation as the runtime performs it (`handlers::run`): event bytes in, response
/// bytes out. The answer must be 200.
async fn time_invocation(api: &Api, event: &[u8]) -> Steps {
    let t = Instant::now();
    let event: GatewayEvent = serde_json::from_slice(event).unwrap();
    let read = t.elapsed();
    let t = Instant::now();
    let response = handlers::validate(api, event.request).await.unwrap();
    let handle = t.elapsed();
    let t = Instant::now();
    let bytes = serde_json::to_vec(&GatewayResponse::new(event.payload, response)).unwrap();
    let write = t.elapsed();
    let response: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(response["statusCode"], 200, "{response}");
    Steps {
        read,
        handle,
        write,
    }
}

/// The handler alone on a ready request. The answer must be 200.
async fn time_handler(api: &Api, event: &[u8]) -> Duration {
    let request = serde_json::from_slice::<GatewayEvent>(event)
        .unwrap()
        .request;
    let t = Instant::now();
    let response = handlers::validate(api, request).await.unwrap();
    let elapsed = t.elapsed();
    assert_eq!(response.status(), 200);
    elapsed
}

#[tokio::main(flavor = "current_thread")]
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

    let time_raw_get = async || raw_head_read(&table, &hash).await;

    // The handler's layers, each timed alone: the store's read (the GetItem and the item's
    // mapping) and the session layer's validate (the read and the judgement).
    let store = table.store();
    let presented_token = SessionToken::parse(&token).unwrap();
    // The client the event names (`tests/fixtures/apigw-v2-request.json`).
    let client = ClientInfo::new(
        Some("203.0.113.7"),
        Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0"),
    );
    let time_load = async || {
        let t = Instant::now();
        let record = store.load(&hash).await.unwrap();
        let elapsed = t.elapsed();
        assert!(record.is_some());
        elapsed
    };
    let time_session = async || {
        let presented = Presented::new(&presented_token, &client, Transport::Cookie);
        let t = Instant::now();
        let current = app.api.sessions.validate(presented, Utc::now()).await;
        let elapsed = t.elapsed();
        assert!(current.is_ok());
        elapsed
    };

    let mut raw = Vec::with_capacity(iterations);
    let mut load = Vec::with_capacity(iterations);
    let mut session = Vec::with_capacity(iterations);
    let mut handler = Vec::with_capacity(iterations);
    let mut invocation = Vec::with_capacity(iterations);
    // Each minus the raw GetItem of the same iteration, in µs (either may be the larger).
    let mut handler_over = Vec::with_capacity(iterations);
    let mut invocation_over = Vec::with_capacity(iterations);
    let mut steps = Vec::with_capacity(iterations);
    for i in 0..warmup + iterations {
        let (mut r, mut l, mut v, mut h, mut s) = (None, None, None, None, None);
        for turn in 0..5 {
            match (i + turn) % 5 {
                0 => r = Some(time_raw_get().await),
                1 => l = Some(time_load().await),
                2 => v = Some(time_session().await),
                3 => h = Some(time_handler(&app.api, &event).await),
                _ => s = Some(time_invocation(&app.api, &event).await),
            }
        }
        let (r, h, s) = (r.unwrap(), h.unwrap(), s.unwrap());
        if i >= warmup {
            raw.push(r);
            load.push(l.unwrap());
            session.push(v.unwrap());
            handler.push(h);
            invocation.push(s.total());
            handler_over.push(micros(h) - micros(r));
            invocation_over.push(micros(s.total()) - micros(r));
            steps.push(s);
        }
    }
    for sorted in [
        &mut raw,
        &mut load,
        &mut session,
        &mut handler,
        &mut invocation,
    ] {
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
    row("the store's read (GetItem and the item's mapping)", &load);
    row("the session layer's validate", &session);
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
        "Median of each step of the whole invocation (µs): read the event into a request {:.1}, the handler {:.1}, write the answer {:.1}.",
        median(steps.iter().map(|s| micros(s.read)).collect()),
        median(steps.iter().map(|s| micros(s.handle)).collect()),
        median(steps.iter().map(|s| micros(s.write)).collect()),
    );
    table.drop_table().await;
}
