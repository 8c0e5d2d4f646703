//! The Lambda entry handlers: they wire `http` (parsing requests, building responses) to
//! `session` (the operations). One `pub async fn` per function, plus the authorizer's
//! [`authorizer::handle`]. Each answers its own routes and turns every failure into a JSON
//! error response; `Err` is reserved for failures of the invocation itself (never used here).
//!
//! The top of the library: built by the wiring (`app`), never imported by a lower layer. Each
//! function is given only what it uses: [`Api`] for the session routes and the authorizer,
//! [`SignIn`] (the API plus the identity verifier) for `POST /sessions`.

mod admin;
pub mod authorizer;
mod echo;
mod event;
mod manage;
mod provider;
mod sessions;
#[cfg(feature = "events")]
mod stream;
#[cfg(feature = "token-mint")]
mod token;
#[cfg(feature = "events")]
mod webhooks;

use chrono::Utc;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};

pub use admin::admin;
pub use echo::echo;
pub use event::{GatewayService, run};
pub use manage::manage;
pub use sessions::{create, logout, refresh, validate};
#[cfg(feature = "events")]
pub use stream::session_events;
#[cfg(feature = "token-mint")]
pub use token::{Tokens, token};
#[cfg(feature = "events")]
pub use webhooks::webhook_deliveries;

use crate::domain::Restricted;
use crate::http::gateway::{UNREADABLE_HEADERS, gateway};
use crate::http::origin::{apply_cors, check_csrf, preflight};
use crate::http::request::{Credential, check_unambiguous, client_info, session_credential};
use crate::http::response::{
    add_security_headers, append_set_cookie, json_response, rotation_cookie, with_etag,
};
use crate::http::{ApiError, HttpSettings, Matched, Route, SessionBody, Transport};
use crate::identity::IdTokenVerifier;
use crate::session::{Current, SessionService};

/// What the session routes and the authorizer use: the operations and the HTTP settings.
pub struct Api {
    /// The session operations.
    pub sessions: SessionService,
    /// Cookies, origins, limits.
    pub http: HttpSettings,
}

/// What `POST /sessions` uses: the API and the identity-token verifier.
pub struct SignIn {
    /// The session API.
    pub api: Api,
    /// Verifies login tickets and ID tokens.
    pub verifier: IdTokenVerifier,
}

/// Runs `handler` when the request is for a route of `function` ([`Route::function`]: its share
/// of the API); answers preflights, 404/405 and CSRF failures itself, and adds CORS headers to
/// every answer.
async fn serve(
    api: &Api,
    req: &Request,
    function: &str,
    handler: impl AsyncFnOnce(Matched) -> Result<Response<Body>, ApiError>,
) -> Result<Response<Body>, Error> {
    let allowed = &api.http.origins;
    let result = if let Some(names) = req.headers().get(UNREADABLE_HEADERS) {
        Err(ApiError::invalid_request(format!(
            "header {} carries characters no HTTP header may (control characters)",
            names.to_str().unwrap_or("?")
        )))
    } else if req.method() == Method::OPTIONS {
        preflight(req, allowed)
    } else {
        match Route::matched(req) {
            // The routes `Route::function` gives to this function; any other is not here.
            Ok(found) if found.route.function() == function => {
                match check_unambiguous(req.headers(), &api.http.cookie).and_then(|()| {
                    if found.route.is_called_by_browsers() {
                        check_csrf(req, allowed)
                    } else {
                        Ok(())
                    }
                }) {
                    Ok(()) => handler(found).await,
                    Err(error) => Err(error),
                }
            }
            Ok(_) => Err(ApiError::not_found()),
            Err(error) => Err(error),
        }
    };
    let mut response = result.unwrap_or_else(|error| error.into_response(&api.http.cookie));
    apply_cors(req, allowed, &mut response);
    add_security_headers(&mut response, api.http.cookie.is_secure());
    Ok(response)
}

/// The IAM principal API Gateway authenticated (route with AWS_IAM auth), if any.
pub(crate) fn iam_caller(req: &Request) -> Option<String> {
    gateway(req).iam_caller.clone()
}

/// 200 with the session. When the token changed (rotation, or a retired token resolved to its
/// successor), a cookie client gets the new cookie and a bearer client the new token in the
/// body.
fn session_response(api: &Api, current: &Current, transport: Transport) -> Response<Body> {
    let body = SessionBody::of(&current.session);
    let response = match (&current.new_token, transport) {
        (Some(token), Transport::Bearer) => json_response(StatusCode::OK, &body.with_token(token)),
        _ => keeping_rotation(
            api,
            json_response(StatusCode::OK, &body),
            current,
            transport,
        ),
    };
    with_etag(response, &current.session)
}

/// The caller's session (validated like `GET /sessions/current`), for the routes that act on
/// the caller's behalf; or the ready 403 `guest_forbidden` of a guest session on a route
/// guests may not use ([`Route::admits_guests`]), carrying a rotation the validation made.
async fn caller_session(
    api: &Api,
    req: &Request,
) -> Result<Result<(Credential, Current), Response<Body>>, ApiError> {
    let credential = session_credential(req, &api.http.cookie)?;
    let current = api
        .sessions
        .validate(credential.presented(&client_info(req)), Utc::now())
        .await
        .map_err(|e| ApiError::from(e).for_transport(credential.transport))?;
    if current.session.guest && !Route::of(req).is_ok_and(Route::admits_guests) {
        return Ok(Err(refusal(
            api,
            ApiError::guest_forbidden(),
            &current,
            credential.transport,
        )));
    }
    Ok(Ok((credential, current)))
}

/// The caller's session, unless it is an impersonation session asking for `action`: then the
/// ready 403 `impersonation_forbidden` (carrying a rotation the validation made).
async fn caller_permitted(
    api: &Api,
    req: &Request,
    action: Restricted,
) -> Result<Result<(Credential, Current), Response<Body>>, ApiError> {
    let (credential, current) = match caller_session(api, req).await? {
        Ok(caller) => caller,
        Err(refused) => return Ok(Err(refused)),
    };
    Ok(match current.session.check_permits(action) {
        Ok(()) => Ok((credential, current)),
        Err(refused) => Err(refusal(api, refused.into(), &current, credential.transport)),
    })
}

/// `error` for a caller whose session stays: the rotation its validation made is carried.
fn refusal(api: &Api, error: ApiError, current: &Current, transport: Transport) -> Response<Body> {
    keeping_rotation(
        api,
        error.into_response(&api.http.cookie),
        current,
        transport,
    )
}

/// Carries a token the validation rotated to a cookie client (a bearer client picks it up on
/// its next refresh: bearer tokens are not rotated on validate).
fn keeping_rotation(
    api: &Api,
    mut response: Response<Body>,
    current: &Current,
    transport: Transport,
) -> Response<Body> {
    let max_age = api.sessions.cookie_max_age(&current.session, Utc::now());
    if let Some(cookie) = rotation_cookie(&api.http.cookie, current, transport, max_age) {
        append_set_cookie(&mut response, &cookie);
    }
    response
}
