//! `session-authorizer`: an API Gateway HTTP API Lambda authorizer (payload 2.0, simple
//! responses) for the rest of the API. Wiring only; the logic lives in
//! `session_shared::http::authorizer`.

use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::{Error, service_fn};
use session_shared::App;
use session_shared::http::authorizer::{self, AuthorizerRequest};

#[tokio::main]
async fn main() -> Result<(), Error> {
    session_shared::telemetry::init();
    let app = App::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<AuthorizerRequest>| {
        authorizer::handle(app, event.payload)
    }))
    .await
}
