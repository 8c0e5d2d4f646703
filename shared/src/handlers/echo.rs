//! The example protected route, `session-echo`: what an API behind the session authorizer
//! receives.

use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};

use crate::http::ApiError;
use crate::http::response::{add_security_headers, json_response};

/// The example protected route: echoes what the session authorizer told API Gateway about the
/// caller. A request that did not pass the authorizer (no context) gets 401.
pub async fn echo(req: Request) -> Result<Response<Body>, Error> {
    let context = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .map(|a| a.fields.clone())
            .filter(|fields| !fields.is_empty()),
        _ => None,
    };
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
