//! The four Lambda handlers. Each answers its own route and turns every failure into a JSON
//! error response; `Err` is reserved for failures of the invocation itself (never used here).

use std::future::Future;

use chrono::Utc;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;

use super::origin::{apply_cors, check_csrf, preflight};
use super::request::{bearer, client_info, json_body, session_credential};
use super::response::{append_set_cookie, json_response, no_content};
use super::{ApiError, Route, SessionBody, Transport};
use crate::app::App;
use crate::domain::{SessionData, SessionToken, TenantId, UserId};
use crate::identity::Identity;
use crate::service::Current;

/// Body of `POST /sessions`. Unknown fields are rejected, not ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    id_token: Option<String>,
    data: Option<Value>,
    #[serde(default)]
    token_in_body: bool,
    /// Trusted-caller mode only: the identity an IAM-signed backend vouches for.
    user_id: Option<String>,
    tenant_id: Option<String>,
}

/// Runs `handler` when the request is for `route`; answers 404/405 otherwise.
async fn serve(
    app: &App,
    req: &Request,
    route: Route,
    handler: impl Future<Output = Result<Response<Body>, ApiError>>,
) -> Result<Response<Body>, Error> {
    let allowed = &app.config.allowed_origins;
    let result = if req.method() == Method::OPTIONS {
        preflight(req, allowed)
    } else {
        match Route::of(req) {
            Ok(found) if found == route => match check_csrf(req, allowed) {
                Ok(()) => handler.await,
                Err(error) => Err(error),
            },
            Ok(_) => Err(ApiError::not_found()),
            Err(error) => Err(error),
        }
    };
    let mut response = result.unwrap_or_else(|error| error.into_response(&app.config.cookie));
    apply_cors(req, allowed, &mut response);
    Ok(response)
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
    let body: CreateRequest = json_body(req, app.config.max_body_bytes)?.unwrap_or_default();
    let identity = match (&body.user_id, &body.tenant_id) {
        (None, None) => verified_identity(app, bearer(req)?, body.id_token.as_deref()).await?,
        // An IAM-signed request carries `Authorization: AWS4-HMAC-SHA256 ...`, not a ticket.
        _ => trusted_identity(app, req, &body)?,
    };
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

/// The identity proven by a login ticket (Bearer header or `id_token`).
async fn verified_identity(
    app: &App,
    header_ticket: Option<&str>,
    body_ticket: Option<&str>,
) -> Result<Identity, ApiError> {
    let ticket = match (header_ticket, body_ticket) {
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
    Ok(app.verifier.verify(ticket).await?)
}

/// Trusted-caller mode: a backend signed the request with IAM (API Gateway checked the
/// signature and the route's IAM auth) and names the user in the body. Refused unless the mode
/// is on *and* the request context carries the IAM caller, so a misconfigured route without
/// IAM auth cannot be used to mint sessions.
fn trusted_identity(app: &App, req: &Request, body: &CreateRequest) -> Result<Identity, ApiError> {
    if !app.config.trusted_caller {
        return Err(ApiError::invalid_request(
            "user_id / tenant_id are only accepted from trusted callers (SESSION_TRUSTED_CALLER)",
        ));
    }
    let iam_caller = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.iam.as_ref())
            .and_then(|iam| iam.user_arn.clone().or(iam.caller_id.clone())),
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx
            .identity
            .user_arn
            .clone()
            .or(ctx.identity.caller.clone()),
        _ => None,
    };
    let Some(caller) = iam_caller else {
        return Err(ApiError::forbidden(
            "trusted-caller sign-in requires an IAM-signed request",
        ));
    };
    if body.id_token.is_some() {
        return Err(ApiError::invalid_request(
            "send either an id_token or a user_id, not both",
        ));
    }
    let user_id = body
        .user_id
        .as_deref()
        .ok_or_else(|| ApiError::invalid_request("user_id is required"))
        .and_then(|raw| {
            UserId::parse(raw).map_err(|e| ApiError::invalid_request(format!("user_id: {e}")))
        })?;
    let tenant_id = body
        .tenant_id
        .as_deref()
        .map(TenantId::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_request(format!("tenant_id: {e}")))?;
    tracing::info!(caller = %caller, user_id = user_id.as_str(), "trusted caller sign-in");
    Ok(Identity { user_id, tenant_id })
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
    let now = Utc::now();
    let current = app
        .sessions
        .validate(
            &credential.token,
            &client_info(req),
            credential.transport == Transport::Cookie,
            now,
        )
        .await
        .map_err(|e| auth_failure(e.into(), credential.transport))?;
    Ok(session_response(app, &current, credential.transport, now))
}

async fn refresh_session(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let credential = session_credential(req, &app.config.cookie)?;
    let now = Utc::now();
    let current = app
        .sessions
        .refresh(&credential.token, &client_info(req), now)
        .await
        .map_err(|e| auth_failure(e.into(), credential.transport))?;
    Ok(session_response(app, &current, credential.transport, now))
}

/// 200 with the session. When the token changed (rotation, or a retired token resolved to its
/// successor), a cookie client gets the new cookie and a bearer client the new token in the
/// body.
fn session_response(
    app: &App,
    current: &Current,
    transport: Transport,
    now: chrono::DateTime<Utc>,
) -> Response<Body> {
    let body = SessionBody::of(&current.session);
    let new_token: Option<&SessionToken> = current.new_token.as_ref();
    match (new_token, transport) {
        (Some(token), Transport::Bearer) => json_response(StatusCode::OK, &body.with_token(token)),
        (Some(token), Transport::Cookie) => {
            let mut response = json_response(StatusCode::OK, &body);
            let cookie = app
                .config
                .cookie
                .issue(token.expose_secret(), current.session.cookie_max_age(now));
            append_set_cookie(&mut response, &cookie);
            response
        }
        (None, _) => json_response(StatusCode::OK, &body),
    }
}

async fn logout_session(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    // No usable credential means nothing to delete: still a clean sign-out.
    if let Ok(credential) = session_credential(req, &app.config.cookie) {
        app.sessions
            .logout(&credential.token, &client_info(req), Utc::now())
            .await
            .map_err(|e| ApiError::from(e).clearing_cookie())?;
    }
    let mut response = no_content();
    append_set_cookie(&mut response, &app.config.cookie.clear());
    Ok(response)
}
