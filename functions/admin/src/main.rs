//! `session-admin`: wiring only; the handler lives in `session_shared::http::handlers`.
//! Serves the IAM-protected `DELETE /admin/users/{id}/sessions` and
//! `DELETE /admin/tenants/{id}/sessions`.

use lambda_http::{Error, run, service_fn};
use session_shared::{App, http::handlers};

#[tokio::main]
async fn main() -> Result<(), Error> {
    session_shared::telemetry::init();
    let app = App::from_env().await?;
    let app = &app;
    run(service_fn(move |req| handlers::admin(app, req))).await
}
