//! `session-webhooks`: wiring only. Triggered by the webhook delivery queue (SQS FIFO); the
//! handler (`session_shared::handlers::webhook_deliveries`) sends each queued webhook once,
//! schedules the retry of those that failed, and moves those past their horizon to the failure
//! queue.

use lambda_http::{Error, lambda_runtime, service_fn};
use session_shared::events::Deliverer;
use session_shared::handlers;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    session_shared::telemetry::init();
    let namespace = session_shared::config::metrics_namespace();
    let namespace = namespace.as_str();
    let deliverer = Deliverer::from_env().await?;
    let deliverer = &deliverer;
    lambda_runtime::run(service_fn(move |event| {
        session_shared::metrics::emit(namespace, handlers::webhook_deliveries(deliverer, event))
    }))
    .await
}
