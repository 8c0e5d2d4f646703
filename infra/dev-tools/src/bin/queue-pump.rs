//! `make dev`'s stand-in for the webhook delivery queue's event source mapping: receives from
//! `SESSION_WEBHOOK_QUEUE_URL` (moto) and invokes `session-webhooks` under `cargo lambda watch`
//! with `SQSEvent` payloads, deleting what it delivered (`dev_tools::queue`). The retry
//! schedule is the function's: `SESSION_WEBHOOK_RETRY_SCHEDULE`, seconds rather than hours in
//! make dev and the tests.
//!
//! Settings: `WEBHOOKS_INVOKE_URL` (default
//! `http://127.0.0.1:9000/2015-03-31/functions/session-webhooks/invocations`).

use std::time::Duration;

use dev_tools::queue::{QueuePump, client_from_env, invoke_over_http};

#[tokio::main]
async fn main() {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let queue = var("SESSION_WEBHOOK_QUEUE_URL", "");
    let url = var(
        "WEBHOOKS_INVOKE_URL",
        "http://127.0.0.1:9000/2015-03-31/functions/session-webhooks/invocations",
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap_or_default();
    let pump = loop {
        match QueuePump::open(client_from_env(), &queue).await {
            Ok(pump) => break pump,
            Err(error) => {
                eprintln!("queue-pump: waiting for {queue}: {error}");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    eprintln!("queue-pump: {queue} -> {url}");
    // Short polls a quarter of a second apart: a long poll on moto can outlast the SQS client's
    // 3 s attempt budget, and a receive whose answer is lost hides its messages for the queue's
    // visibility timeout (6 minutes).
    loop {
        match pump
            .poll(0, |event| invoke_over_http(&http, &url, event))
            .await
        {
            Ok(0) => tokio::time::sleep(Duration::from_millis(250)).await,
            Ok(count) => eprintln!("queue-pump: {count} webhooks handed to session-webhooks"),
            Err(error) => {
                eprintln!("queue-pump: {error}");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}
