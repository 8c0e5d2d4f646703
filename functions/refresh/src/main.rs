//! `session-refresh`: wiring only; the handler lives in `session_shared::handlers`; it builds
//! the session API only (no identity settings, no JWKS).

use lambda_http::{Error, service_fn};
use session_shared::{Api, handlers};

#[tokio::main]
async fn main() -> Result<(), Error> {
    session_shared::telemetry::init();
    let api = Api::from_env()?;
    let api = &api;
    handlers::run(service_fn(move |req| handlers::refresh(api, req))).await
}
