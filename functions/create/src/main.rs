//! `session-create`: wiring only; the handler lives in `session_shared::handlers`. The one
//! function that verifies identity tokens, so the one that reads the `AUTH_*` settings (and
//! fetches JWKS at cold start).

use lambda_http::{Error, service_fn};
use session_shared::{SignIn, handlers};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    session_shared::telemetry::init();
    let namespace = session_shared::config::metrics_namespace();
    let namespace = namespace.as_str();
    let sign_in = SignIn::from_env().await?;
    let sign_in = &sign_in;
    handlers::run(service_fn(move |req| {
        session_shared::metrics::emit(namespace, handlers::create(sign_in, req))
    }))
    .await
}
