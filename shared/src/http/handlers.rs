//! The four Lambda handlers. Each answers its own route and turns every failure into a JSON
//! error response; `Err` is reserved for failures of the invocation itself (never used here).

use chrono::Utc;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;

use super::origin::{apply_cors, check_csrf, preflight};
use super::request::{Credential, bearer, client_info, json_body, session_credential};
use super::response::{SessionListItem, append_set_cookie, json_response, no_content, with_etag};
use super::routes::Matched;
use super::{ApiError, Route, SessionBody, Transport};
use crate::app::App;
use crate::domain::{SessionData, SessionId, TenantId, UserId};
use crate::identity::Identity;
use crate::service::{Current, Revoker};
use crate::store::Owner;

/// Body of `POST /sessions`. Unknown fields are rejected, not ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRequest {
    id_token: Option<String>,
    pub(crate) data: Option<Value>,
    #[serde(default)]
    token_in_body: bool,
    /// Trusted-caller mode only: the identity an IAM-signed backend vouches for.
    user_id: Option<String>,
    tenant_id: Option<String>,
}

/// Runs `handler` when the request is for one of `routes` (this function's share of the API);
/// answers preflights, 404/405 and CSRF failures itself, and adds CORS headers to every answer.
async fn serve(
    app: &App,
    req: &Request,
    routes: &[Route],
    handler: impl AsyncFnOnce(Matched) -> Result<Response<Body>, ApiError>,
) -> Result<Response<Body>, Error> {
    let allowed = &app.config.allowed_origins;
    let result = if req.method() == Method::OPTIONS {
        preflight(req, allowed)
    } else {
        match Route::matched(req) {
            Ok(found) if routes.contains(&found.route) => match check_csrf(req, allowed) {
                Ok(()) => handler(found).await,
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
    serve(app, &req, &[Route::Create], async |_| {
        create_session(app, &req).await
    })
    .await
}

/// `GET /sessions/current`: who holds this cookie (or bearer token). Also the fallback for
/// unknown routes (JSON 404/405).
#[instrument(skip_all, fields(route = "validate"))]
pub async fn validate(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, &req, &[Route::Validate], async |_| {
        validate_session(app, &req).await
    })
    .await
}

/// `POST /sessions/current/refresh`: extend the idle deadline and re-issue the cookie.
#[instrument(skip_all, fields(route = "refresh"))]
pub async fn refresh(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, &req, &[Route::Refresh], async |_| {
        refresh_session(app, &req).await
    })
    .await
}

/// `DELETE /sessions/current`: delete server-side, clear the cookie. Idempotent.
#[instrument(skip_all, fields(route = "logout"))]
pub async fn logout(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, &req, &[Route::Logout], async |_| {
        logout_session(app, &req).await
    })
    .await
}

/// The caller's own sessions: `GET /sessions`, `DELETE /sessions[?keep_current=true]`,
/// `DELETE /sessions/{session_id}`, `PATCH /sessions/current`.
#[instrument(skip_all, fields(route = "manage"))]
pub async fn manage(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let routes = [
        Route::List,
        Route::RevokeAll,
        Route::RevokeOne,
        Route::UpdateData,
    ];
    serve(app, &req, &routes, async |matched: Matched| {
        match matched.route {
            Route::List => list_sessions(app, &req).await,
            Route::RevokeAll => revoke_all_sessions(app, &req).await,
            Route::RevokeOne => revoke_session(app, &req, matched.param.as_deref()).await,
            _ => update_data(app, &req).await,
        }
    })
    .await
}

/// `DELETE /admin/users/{user_id}/sessions`, `DELETE /admin/tenants/{tenant_id}/sessions`:
/// IAM-protected in the template, and refused here unless the request context names the IAM
/// caller.
#[instrument(skip_all, fields(route = "admin"))]
pub async fn admin(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let routes = [Route::AdminRevokeUser, Route::AdminRevokeTenant];
    serve(app, &req, &routes, async |matched: Matched| {
        admin_revoke(app, &req, matched).await
    })
    .await
}

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
    let response = match context {
        Some(fields) => json_response(
            StatusCode::OK,
            &serde_json::json!({ "authorizer": fields, "path": req.uri().path() }),
        ),
        None => ApiError::unauthenticated()
            .with_message("this route is protected by the session authorizer")
            .into_plain_response(),
    };
    Ok(response)
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
    let Some(caller) = iam_caller(req) else {
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

/// The IAM principal API Gateway authenticated (route with AWS_IAM auth), if any.
fn iam_caller(req: &Request) -> Option<String> {
    match req.request_context_ref() {
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
    }
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
    let (credential, current) = caller_session(app, req).await?;
    Ok(session_response(app, &current, credential.transport))
}

async fn refresh_session(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let credential = session_credential(req, &app.config.cookie)?;
    let now = Utc::now();
    let current = app
        .sessions
        .refresh(&credential.token, &client_info(req), now)
        .await
        .map_err(|e| auth_failure(e.into(), credential.transport))?;
    Ok(session_response(app, &current, credential.transport))
}

/// 200 with the session. When the token changed (rotation, or a retired token resolved to its
/// successor), a cookie client gets the new cookie and a bearer client the new token in the
/// body.
fn session_response(app: &App, current: &Current, transport: Transport) -> Response<Body> {
    let body = SessionBody::of(&current.session);
    let response = match (&current.new_token, transport) {
        (Some(token), Transport::Bearer) => json_response(StatusCode::OK, &body.with_token(token)),
        _ => keeping_rotation(
            app,
            json_response(StatusCode::OK, &body),
            current,
            transport,
        ),
    };
    with_etag(response, &current.session)
}

/// The caller's session (validated like `GET /sessions/current`), for the routes that act on
/// the caller's behalf.
async fn caller_session(app: &App, req: &Request) -> Result<(Credential, Current), ApiError> {
    let credential = session_credential(req, &app.config.cookie)?;
    let current = app
        .sessions
        .validate(
            &credential.token,
            &client_info(req),
            credential.transport == Transport::Cookie,
            Utc::now(),
        )
        .await
        .map_err(|e| auth_failure(e.into(), credential.transport))?;
    Ok((credential, current))
}

/// Carries a token the validation rotated to a cookie client (a bearer client picks it up on
/// its next refresh: bearer tokens are not rotated on validate).
fn keeping_rotation(
    app: &App,
    mut response: Response<Body>,
    current: &Current,
    transport: Transport,
) -> Response<Body> {
    if let (Some(token), Transport::Cookie) = (&current.new_token, transport) {
        let cookie = app.config.cookie.issue(
            token.expose_secret(),
            current.session.cookie_max_age(Utc::now()),
        );
        append_set_cookie(&mut response, &cookie);
    }
    response
}

/// `GET /sessions`: the caller's usable sessions, most recently seen first, the calling one
/// marked `current`.
async fn list_sessions(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let (credential, current) = caller_session(app, req).await?;
    let me = &current.session;
    let entries = app.sessions.list(&me.user_id, Utc::now()).await?;
    let mut items = vec![SessionListItem::current(me)];
    items.extend(
        entries
            .iter()
            .filter(|e| e.session_id != me.id)
            .map(|e| SessionListItem::of(e, false)),
    );
    let response = json_response(StatusCode::OK, &serde_json::json!({ "sessions": items }));
    Ok(keeping_rotation(
        app,
        response,
        &current,
        credential.transport,
    ))
}

/// `DELETE /sessions/{session_id}`: revoke one of the caller's sessions. An unknown id, a
/// malformed one and another user's all get the same 404.
async fn revoke_session(
    app: &App,
    req: &Request,
    param: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let (credential, current) = caller_session(app, req).await?;
    let me = &current.session;
    let Some(target) = param.and_then(|raw| SessionId::parse(raw).ok()) else {
        return Err(ApiError::session_not_found());
    };
    let by = Revoker::User { session_id: me.id };
    let revoked = app
        .sessions
        .revoke_one(&me.user_id, target, &by, &client_info(req), Utc::now())
        .await?;
    if !revoked {
        return Err(ApiError::session_not_found());
    }
    let mut response = no_content();
    if target == me.id {
        // The caller ended its own session this way: drop the cookie too.
        append_set_cookie(&mut response, &app.config.cookie.clear());
        return Ok(response);
    }
    Ok(keeping_rotation(
        app,
        response,
        &current,
        credential.transport,
    ))
}

/// `DELETE /sessions`: sign out everywhere, or with `?keep_current=true` everywhere else.
async fn revoke_all_sessions(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let keep_current = match req
        .query_string_parameters_ref()
        .and_then(|q| q.first("keep_current"))
    {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::invalid_request(
                "keep_current must be true or false",
            ));
        }
    };
    let (credential, current) = caller_session(app, req).await?;
    let me = &current.session;
    let client = client_info(req);
    let by = Revoker::User { session_id: me.id };
    let now = Utc::now();
    let mut revoked = app
        .sessions
        .revoke_all(Owner::User(&me.user_id), Some(me.id), &by, &client, now)
        .await?;
    let body = |revoked: usize| serde_json::json!({ "revoked": revoked });
    if keep_current {
        let response = json_response(StatusCode::OK, &body(revoked));
        return Ok(keeping_rotation(
            app,
            response,
            &current,
            credential.transport,
        ));
    }
    // The caller's own session last, as an ordinary sign-out of the token it holds.
    let token = current.new_token.as_ref().unwrap_or(&credential.token);
    if app.sessions.logout(token, &client, now).await?.is_some() {
        revoked += 1;
    }
    let mut response = json_response(StatusCode::OK, &body(revoked));
    append_set_cookie(&mut response, &app.config.cookie.clear());
    Ok(response)
}

/// Body of `PATCH /sessions/current`: a JSON merge patch (RFC 7386) for `data`, and
/// optionally the version it was based on (or send `If-Match`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateRequest {
    pub(crate) data: Value,
    version: Option<u64>,
}

/// `PATCH /sessions/current`: merge-patch the session's data, with optimistic concurrency.
async fn update_data(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let body: UpdateRequest = json_body(req, app.config.max_body_bytes)?.ok_or_else(|| {
        ApiError::invalid_request("send {\"data\": <merge patch>, \"version\": <n>}")
    })?;
    let expected = match (if_match(req)?, body.version) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::invalid_request(
                "If-Match and version name different versions",
            ));
        }
        (a, b) => a.or(b),
    };
    let credential = session_credential(req, &app.config.cookie)?;
    let current = app
        .sessions
        .update_data(
            &credential.token,
            &client_info(req),
            &body.data,
            expected,
            app.config.max_data_bytes,
            Utc::now(),
        )
        .await
        .map_err(|e| auth_failure(e.into(), credential.transport))?;
    Ok(session_response(app, &current, credential.transport))
}

/// The version in `If-Match: "3"` (or `W/"3"`); `*` and no header mean no precondition.
fn if_match(req: &Request) -> Result<Option<u64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || ApiError::invalid_request("If-Match must be a version ETag like \"3\"");
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse().ok())
        .map(Some)
        .ok_or_else(bad)
}

/// The admin routes: every session of a user or a tenant, for the IAM caller.
async fn admin_revoke(
    app: &App,
    req: &Request,
    matched: Matched,
) -> Result<Response<Body>, ApiError> {
    let Some(caller) = iam_caller(req) else {
        return Err(ApiError::forbidden(
            "the admin routes require an IAM-signed request",
        ));
    };
    let raw = matched.param.unwrap_or_default();
    let by = Revoker::Admin { caller };
    let client = client_info(req);
    let now = Utc::now();
    let revoked = match matched.route {
        Route::AdminRevokeTenant => {
            let tenant = TenantId::parse(&raw)
                .map_err(|e| ApiError::invalid_request(format!("tenant id: {e}")))?;
            app.sessions
                .revoke_all(Owner::Tenant(&tenant), None, &by, &client, now)
                .await?
        }
        _ => {
            let user = UserId::parse(&raw)
                .map_err(|e| ApiError::invalid_request(format!("user id: {e}")))?;
            app.sessions
                .revoke_all(Owner::User(&user), None, &by, &client, now)
                .await?
        }
    };
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "revoked": revoked }),
    ))
}

async fn logout_session(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    // No usable credential means nothing to delete: still a clean sign-out.
    if let Ok(credential) = session_credential(req, &app.config.cookie) {
        app.sessions
            .logout(&credential.token, &client_info(req), Utc::now())
            .await
            // The session may still be live: keep the cookie so the client can retry.
            .map_err(ApiError::from)?;
    }
    let mut response = no_content();
    append_set_cookie(&mut response, &app.config.cookie.clear());
    Ok(response)
}
