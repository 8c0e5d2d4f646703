//! `session-authorizer`: an API Gateway HTTP API Lambda authorizer (payload 2.0, simple
//! responses) for the rest of the API. Wiring only; the logic lives in
//! `session_shared::handlers::authorizer`. Builds the session API only (no identity settings).

use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::{Error, service_fn};
use session_shared::Api;
use session_shared::handlers::authorizer;
use session_shared::http::authorizer::AuthorizerRequest;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    session_shared::telemetry::init();
    let namespace = session_shared::config::metrics_namespace();
    let namespace = namespace.as_str();
    let api = Api::from_env()?;
    let api = &api;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<AuthorizerRequest>| {
        session_shared::metrics::emit(namespace, authorizer::handle(api, event.payload))
    }))
    .await
}
