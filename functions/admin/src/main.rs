//! `session-admin`: wiring only; the handler lives in `session_shared::handlers`; it builds
//! the session API only (no identity settings, no JWKS).
//! Serves the IAM-protected `DELETE /admin/users/{id}/sessions` and
//! `DELETE /admin/tenants/{id}/sessions`.

use lambda_http::{Error, service_fn};
use session_shared::{Api, handlers};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    session_shared::telemetry::init();
    let namespace = session_shared::config::metrics_namespace();
    let namespace = namespace.as_str();
    let api = Api::from_env()?;
    let api = &api;
    handlers::run(service_fn(move |req| {
        session_shared::metrics::emit(namespace, handlers::admin(api, req))
    }))
    .await
}
