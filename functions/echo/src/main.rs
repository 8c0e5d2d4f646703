//! `session-echo`: the example of a route protected by `session-authorizer`. It answers with
//! the authorizer's context (`user_id`, `tenant_id`, `session_id`, selected data keys): what
//! your own functions read to know who is calling.

use lambda_http::{Error, service_fn};
use session_shared::handlers;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    session_shared::telemetry::init();
    handlers::run(service_fn(handlers::echo)).await
}
