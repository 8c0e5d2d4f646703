//! `session-validate`: wiring only; the handler lives in `session_shared::handlers`; it builds
//! the session API only (no identity settings, no JWKS).

use lambda_http::{Error, run, service_fn};
use session_shared::{Api, handlers};

#[tokio::main]
async fn main() -> Result<(), Error> {
    session_shared::telemetry::init();
    let api = Api::from_env()?;
    let api = &api;
    run(service_fn(move |req| handlers::validate(api, req))).await
}
