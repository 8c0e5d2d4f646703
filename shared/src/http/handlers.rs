//! The four Lambda handlers. Each answers its own route and turns every failure into a JSON
//! error response; `Err` is reserved for failures of the invocation itself (never used here).

use std::future::Future;

use chrono::Utc;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Error, Request, Response};
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;

use super::request::{bearer, client_info, json_body, session_credential};
use super::response::{append_set_cookie, json_response, no_content};
use super::{ApiError, Route, SessionBody, Transport};
use crate::app::App;
use crate::domain::SessionData;

/// Body of `POST /sessions`. Unknown fields are rejected, not ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    id_token: Option<String>,
    data: Option<Value>,
    #[serde(default)]
    token_in_body: bool,
}

/// Runs `handler` when the request is for `route`; answers 404/405 otherwise.
async fn serve(
    app: &App,
    req: &Request,
    route: Route,
    handler: impl Future<Output = Result<Response<Body>, ApiError>>,
) -> Result<Response<Body>, Error> {
    let result = match Route::of(req) {
        Ok(found) if found == route => handler.await,
        Ok(_) => Err(ApiError::not_found()),
        Err(error) => Err(error),
    };
    Ok(result.unwrap_or_else(|error| error.into_response(&app.config.cookie)))
}

/// `POST /sessions`: verify the login ticket, start a session, set the cookie.
#[instrument(skip_all, fields(route = "create"))]
pub async fn create(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, &req, Route::Create, create_session(app, &req)).await
}

/// `GET /sessions/current`: who holds this cookie (or bearer token). Also the fallback for
/// unknown routes (JSON 404/405).
#[instrument(skip_all, fields(route = "validate"))]
pub async fn validate(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, &req, Route::Validate, validate_session(app, &req)).await
}

/// `POST /sessions/current/refresh`: extend the idle deadline and re-issue the cookie.
#[instrument(skip_all, fields(route = "refresh"))]
pub async fn refresh(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, &req, Route::Refresh, refresh_session(app, &req)).await
}

/// `DELETE /sessions/current`: delete server-side, clear the cookie. Idempotent.
#[instrument(skip_all, fields(route = "logout"))]
pub async fn logout(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, &req, Route::Logout, logout_session(app, &req)).await
}

async fn create_session(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let header_ticket = bearer(req)?;
    let body: CreateRequest = json_body(req, app.config.max_body_bytes)?.unwrap_or_default();
    let ticket = match (header_ticket, body.id_token.as_deref()) {
        (Some(h), Some(b)) if h != b => {
            return Err(ApiError::invalid_request(
                "two different identity tokens: send it either as Bearer or as id_token",
            ));
        }
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => {
            return Err(ApiError::unauthenticated().with_message(
                "send a login ticket as Authorization: Bearer <jwt> or {\"id_token\": \"<jwt>\"}",
            ));
        }
    };
    let identity = app.verifier.verify(ticket)?;
    let data = match body.data {
        None => SessionData::default(),
        Some(value) => SessionData::parse(value, app.config.max_data_bytes)?,
    };

    let now = Utc::now();
    let (token, session) = app
        .sessions
        .create(identity, data, client_info(req), now)
        .await?;

    let mut response = if body.token_in_body {
        // Bearer mode for non-browser clients: the token travels in the body, no cookie.
        json_response(
            StatusCode::CREATED,
            &SessionBody::of(&session).with_token(&token),
        )
    } else {
        let mut response = json_response(StatusCode::CREATED, &SessionBody::of(&session));
        let cookie = app.config.cookie.issue(
            token.expose_secret(),
            session.cookie_max_age(session.created_at),
        );
        append_set_cookie(&mut response, &cookie);
        response
    };
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_static("/sessions/current"),
    );
    Ok(response)
}

/// Marks an authentication failure according to how the token came: a cookie is cleared, a
/// bearer client gets a challenge.
fn auth_failure(error: ApiError, transport: Transport) -> ApiError {
    match transport {
        Transport::Cookie if error.is_unauthorized() => error.clearing_cookie(),
        Transport::Bearer => error.with_bearer_challenge(),
        Transport::Cookie => error,
    }
}

async fn validate_session(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let credential = session_credential(req, &app.config.cookie)?;
    let session = app
        .sessions
        .validate(&credential.token, Utc::now())
        .await
        .map_err(|e| auth_failure(e.into(), credential.transport))?;
    Ok(json_response(StatusCode::OK, &SessionBody::of(&session)))
}

async fn refresh_session(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let credential = session_credential(req, &app.config.cookie)?;
    let now = Utc::now();
    let session = app
        .sessions
        .refresh(&credential.token, now)
        .await
        .map_err(|e| auth_failure(e.into(), credential.transport))?;
    let mut response = json_response(StatusCode::OK, &SessionBody::of(&session));
    if credential.transport == Transport::Cookie {
        let cookie = app.config.cookie.issue(
            credential.token.expose_secret(),
            session.cookie_max_age(now),
        );
        append_set_cookie(&mut response, &cookie);
    }
    Ok(response)
}

async fn logout_session(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    // No usable credential means nothing to delete: still a clean sign-out.
    if let Ok(credential) = session_credential(req, &app.config.cookie) {
        app.sessions
            .logout(&credential.token)
            .await
            .map_err(|e| ApiError::from(e).clearing_cookie())?;
    }
    let mut response = no_content();
    append_set_cookie(&mut response, &app.config.cookie.clear());
    Ok(response)
}
