//! `session-token`: wiring only; the handler lives in `session_shared::handlers`. Serves
//! `POST /sessions/current/token` (a session turned into a short-lived JWT for another service,
//! signed in AWS KMS) and `GET /.well-known/jwks.json` (the keys that verify it).

use lambda_http::{Error, service_fn};
use session_shared::handlers::{self, Tokens};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    session_shared::telemetry::init();
    let namespace = session_shared::config::metrics_namespace();
    let namespace = namespace.as_str();
    let tokens = Tokens::from_env()?;
    let tokens = &tokens;
    handlers::run(service_fn(move |req| {
        session_shared::metrics::emit(namespace, handlers::token(tokens, req))
    }))
    .await
}
