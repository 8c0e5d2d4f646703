//! `POST /oidc/backchannel-logout`: the identity provider says a user signed out there
//! (OpenID Connect Back-Channel Logout 1.0). Called by the provider's servers, never by a
//! browser: no cookie, no CSRF origin check; the signed logout token is the authentication.

use chrono::Utc;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};

use super::SignIn;
use crate::http::ApiError;
use crate::http::form::form_field;
use crate::metrics::Metric;

/// Verifies the form's `logout_token` and ends what it names: 200 (`Cache-Control: no-store`)
/// also when no session matched; 400 `{"error": "invalid_request", "error_description"}` for
/// a token that is not a valid logout token (or was used before), ending nothing.
pub(super) async fn backchannel_logout(
    sign_in: &SignIn,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let token = form_field(req, "logout_token", sign_in.api.http.max_body_bytes)?;
    let logout = sign_in.verifier.verify_logout(&token).await?;
    let ended = sign_in
        .api
        .sessions
        .provider_logout(&logout, Utc::now())
        .await?;
    crate::metrics::count(Metric::IdpLogouts, ended as u64);
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
