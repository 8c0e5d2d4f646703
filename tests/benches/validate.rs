//! Validate latency overhead: `GET /sessions/current` through the real handler (API Gateway v2
//! event → `lambda_http` → service → one `GetItem`) against a raw `GetItem` of the same item,
//! on the same DynamoDB Local, interleaved in one process. Prints p50/p99 of both and their
//! ratio (target ≤ 1.15). Run: `make bench` (or `cargo bench -p session-tests --bench validate`
//! with DynamoDB Local and the AWS_* variables of `make test`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use session_shared::domain::SessionToken;
use session_tests::{Event, Function, Payload, TestTable, app, invoke, ticket};

const WARMUP: usize = 200;
const ITERATIONS: usize = 3_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
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

    let raw_get = || {
        table
            .client
            .get_item()
            .table_name(&table.name)
            .key("pk", AttributeValue::S(format!("TOKEN#{}", hash.encoded())))
            .key("sk", AttributeValue::S("SESSION".into()))
            .consistent_read(true)
            .send()
    };

    let mut raw = Vec::with_capacity(iterations);
    let mut handler = Vec::with_capacity(iterations);
    for i in 0..warmup + iterations {
        let t = Instant::now();
        let item = raw_get().await.unwrap();
        let raw_time = t.elapsed();
        assert!(item.item.is_some());

        let t = Instant::now();
        let reply = invoke(&app, Function::Validate, event.clone()).await;
        let handler_time = t.elapsed();
        assert_eq!(reply.status, 200);

        if i >= warmup {
            raw.push(raw_time);
            handler.push(handler_time);
        }
    }
    raw.sort();
    handler.sort();
    let (r50, r99) = (percentile(&raw, 0.5), percentile(&raw, 0.99));
    let (h50, h99) = (percentile(&handler, 0.5), percentile(&handler, 0.99));
    println!("Validate latency over {iterations} interleaved iterations (after {warmup} warm-up):");
    println!();
    println!("| measure | p50 (µs) | p99 (µs) |");
    println!("|---|---|---|");
    println!("| raw GetItem | {:.0} | {:.0} |", micros(r50), micros(r99));
    println!(
        "| validate handler | {:.0} | {:.0} |",
        micros(h50),
        micros(h99)
    );
    println!(
        "| ratio | {:.3} | {:.3} |",
        micros(h50) / micros(r50),
        micros(h99) / micros(r99)
    );
    table.drop_table().await;
}
