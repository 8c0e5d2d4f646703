//! The API Gateway HTTP API Lambda authorizer (REQUEST type, payload format 2.0, simple
//! responses) that lets the rest of an API use these sessions without auth code of its own.
//!
//! It reads the session cookie (or `Authorization: Bearer`) exactly like
//! `GET /sessions/current`, and answers with the identity context
//! ([`crate::http::authorizer`]). Every failure (no credential, garbled, expired, revoked,
//! the store unreachable) is `isAuthorized: false`, never an error and never a panic:
//! API Gateway then answers 403 (or 401 when a configured identity source is missing).

use chrono::Utc;
use lambda_http::Error;
use lambda_http::http::HeaderValue;
use lambda_http::http::header::{COOKIE, USER_AGENT};
use tracing::{info, instrument};

use super::Api;
use crate::domain::{ClientInfo, Freshness};
use crate::http::ApiError;
use crate::http::authorizer::{AuthorizerRequest, AuthorizerResponse, context_of};
use crate::http::origin::check_csrf_at;
use crate::http::request::{check_unambiguous, credential_in};

/// Decides one request. `Ok` always: a deny is an answer, not a failure.
#[instrument(skip_all, fields(route = "authorizer", session_id))]
pub async fn handle(api: &Api, request: AuthorizerRequest) -> Result<AuthorizerResponse, Error> {
    // Boxed: the validation future is deep, and the runtime's service type nests it further.
    Ok(Box::pin(decide(api, &request)).await)
}

async fn decide(api: &Api, request: &AuthorizerRequest) -> AuthorizerResponse {
    // Payload 2.0 moves cookies out of the headers into `cookies`: put them back as one
    // `Cookie` header so the credential is read exactly as the session routes read it.
    let mut headers = request.headers.clone();
    headers.remove(COOKIE);
    if !request.cookies.is_empty() {
        match HeaderValue::from_str(&request.cookies.join("; ")) {
            Ok(value) => {
                headers.insert(COOKIE, value);
            }
            Err(_) => return denied("malformed_cookie"),
        }
    }
    let credential = match check_unambiguous(&headers, &api.http.cookie)
        .and_then(|()| credential_in(&headers, &api.http.cookie))
    {
        Ok(credential) => credential,
        Err(error) => return denied(error.code()),
    };
    let http = &request.request_context.http;
    // The service's own CSRF rule on the routes it protects: a cookie-authenticated unsafe
    // request must come from the API's origin or an allowed one (SameSite=Lax lets a
    // same-site sibling host through), unless the route accepts cross-site posts.
    let cross_site = request
        .route_key
        .as_deref()
        .is_some_and(|route| api.http.cross_site_routes.iter().any(|r| r == route));
    if !cross_site
        && let Err(error) = check_csrf_at(
            &http.method,
            &headers,
            request.request_context.domain_name.as_deref(),
            &api.http.origins,
        )
    {
        return denied(error.code());
    }
    let header_ua = request
        .headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let client = ClientInfo::new(
        http.source_ip.as_deref(),
        header_ua.or(http.user_agent.as_deref()),
    );
    // No rotation here: the authorizer cannot hand a new cookie to the browser.
    match api
        .sessions
        .validate_without_rotation(credential.presented(&client), Utc::now())
        .await
    {
        Ok(current) => {
            // A route that needs a recent proof of identity (SESSION_FRESH_ROUTES).
            let max_age = request.route_key.as_deref().and_then(|route| {
                api.http
                    .fresh_routes
                    .iter()
                    .find(|(fresh, _)| fresh == route)
                    .map(|(_, age)| *age)
            });
            match max_age.map(|age| current.session.freshness(age, Utc::now())) {
                None | Some(Freshness::Fresh) => {}
                Some(Freshness::Stale) => return denied("reauthentication_required"),
                Some(Freshness::Impersonated) => return denied("impersonation_forbidden"),
                Some(Freshness::Guest) => return denied("guest_forbidden"),
            }
            // A guest session passes only on the routes configured for guests.
            if current.session.guest
                && !request
                    .route_key
                    .as_deref()
                    .is_some_and(|route| api.http.guest_routes.iter().any(|r| r == route))
            {
                return denied("guest_forbidden");
            }
            AuthorizerResponse {
                is_authorized: true,
                context: context_of(&current.session, &api.http.authorizer_data_keys),
            }
        }
        Err(error) => denied(ApiError::from(error).code()),
    }
}

fn denied(reason: &str) -> AuthorizerResponse {
    info!(reason, "authorizer denied");
    AuthorizerResponse::deny()
}
