//! The example protected route, `session-echo`: what an API behind the session authorizer
//! receives.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

use crate::http::ApiError;
use crate::http::gateway::gateway;
use crate::http::response::{add_security_headers, json_response};

/// The example protected route: echoes what the session authorizer told API Gateway about the
/// caller. A request that did not pass the authorizer (no context) gets 401.
pub async fn echo(req: Request) -> Result<Response<Body>, Error> {
    let context = gateway(&req)
        .authorizer
        .clone()
        .filter(|fields| !fields.is_empty());
    let mut response = match context {
        Some(fields) => json_response(
            StatusCode::OK,
            &serde_json::json!({ "authorizer": fields, "path": req.uri().path() }),
        ),
        None => ApiError::unauthenticated()
            .with_message("this route is protected by the session authorizer")
            .into_plain_response(),
    };
    // Behind API Gateway's HTTPS endpoint: HSTS too.
    add_security_headers(&mut response, true);
    Ok(response)
}
