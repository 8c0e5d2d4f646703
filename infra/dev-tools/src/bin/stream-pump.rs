//! `make dev`'s stand-in for Lambda's event source mapping: reads the sessions table's stream
//! from DynamoDB Local (`SESSION_TABLE_NAME`, `AWS_ENDPOINT_URL_DYNAMODB`) and invokes
//! `session-events` under `cargo lambda watch` with `DynamoDBEvent` payloads, with the
//! template's retry, bisect and partial-batch rules (`dev_tools::pump`). Records given up on
//! are described, one JSON line each, in `STREAM_PUMP_FAILED` (the on-failure destination).
//!
//! Settings: `EVENTS_INVOKE_URL` (default
//! `http://127.0.0.1:9000/2015-03-31/functions/session-events/invocations`),
//! `STREAM_PUMP_INTERVAL_MS` (500), `STREAM_PUMP_FAILED` (`.dev/events-failed.jsonl`).

use std::io::Write as _;
use std::time::Duration;

use dev_tools::pump::{Invoked, Retries, deliver};
use dev_tools::stream::{StreamReader, client_from_env};
use serde_json::Value;

/// As the template's event source mapping: `BatchSize`.
const BATCH_SIZE: usize = 100;

/// Fewer retries than the template's default (10), for quick feedback on a laptop.
const RETRIES: Retries = Retries {
    maximum_retry_attempts: 3,
    backoff: Duration::from_secs(1),
};

#[tokio::main]
async fn main() {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let table = var("SESSION_TABLE_NAME", "sessions");
    let url = var(
        "EVENTS_INVOKE_URL",
        "http://127.0.0.1:9000/2015-03-31/functions/session-events/invocations",
    );
    let interval =
        Duration::from_millis(var("STREAM_PUMP_INTERVAL_MS", "500").parse().unwrap_or(500));
    let failed_path = var("STREAM_PUMP_FAILED", ".dev/events-failed.jsonl");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap_or_default();

    let mut reader = loop {
        match StreamReader::open(client_from_env(), &table).await {
            Ok(reader) => break reader,
            Err(error) => {
                eprintln!("stream-pump: waiting for the stream of {table}: {error}");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    eprintln!("stream-pump: {} -> {url}", reader.arn());
    loop {
        let records = match reader.poll().await {
            // As the template's FilterCriteria: token items only.
            Ok(records) => records
                .into_iter()
                .filter(|r| {
                    r["dynamodb"]["Keys"]["pk"]["S"]
                        .as_str()
                        .is_some_and(|pk| pk.starts_with("TOKEN#"))
                })
                .collect::<Vec<_>>(),
            Err(error) => {
                eprintln!("stream-pump: {error}");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        // Batches of BATCH_SIZE, in stream order, as the template's mapping sends them.
        for batch in records.chunks(BATCH_SIZE) {
            let count = batch.len();
            let delivered =
                deliver(batch.to_vec(), RETRIES, |event| invoke(&http, &url, event)).await;
            eprintln!(
                "stream-pump: {count} records, {} handled, {} given up on, {} invocations",
                delivered.handled,
                delivered.failed.len(),
                delivered.invocations
            );
            if !delivered.failed.is_empty() {
                record_failures(&failed_path, &delivered.failed);
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// One invocation of `session-events` under `cargo lambda watch`.
async fn invoke(http: &reqwest::Client, url: &str, event: Value) -> Invoked {
    match dev_tools::invoke::invoke(http, url, event).await {
        Ok(failures) => Invoked::Handled(failures),
        Err(reason) => Invoked::FunctionError(reason),
    }
}

fn record_failures(path: &str, failed: &[Value]) {
    if let Some(dir) = std::path::Path::new(path).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        Ok(mut file) => {
            for entry in failed {
                let _ = writeln!(file, "{entry}");
            }
            eprintln!(
                "stream-pump: {} records given up on, described in {path}",
                failed.len()
            );
        }
        Err(error) => eprintln!("stream-pump: {path}: {error}"),
    }
}
