//! `session-events`: wiring only. Triggered by the sessions table's stream; the handler
//! (`session_shared::handlers::session_events`) derives lifecycle events from each record and
//! delivers them (webhooks), reporting the first failed record back to Lambda.

use lambda_http::{Error, lambda_runtime, service_fn};
use session_shared::events::Publisher;
use session_shared::handlers;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    session_shared::telemetry::init();
    let namespace = session_shared::config::metrics_namespace();
    let namespace = namespace.as_str();
    let publisher = Publisher::from_env()?;
    let publisher = &publisher;
    lambda_runtime::run(service_fn(move |event| {
        session_shared::metrics::emit(namespace, handlers::session_events(publisher, event))
    }))
    .await
}
