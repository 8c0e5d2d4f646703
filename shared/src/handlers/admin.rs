//! The IAM-protected admin routes: `GET` and `DELETE /admin/users/{user_id}/sessions` (a
//! user's live sessions; revoke them all), `GET /admin/users/{user_id}/events` (a user's
//! security history), `DELETE /admin/tenants/{tenant_id}/sessions`, and
//! `PATCH /admin/users/{user_id}/sessions/{session_id}` (a session's data, server-only keys
//! included), `POST /admin/users/{user_id}/impersonation` (a one-time ticket to sign in as the
//! user, the caller named as actor).

use chrono::{SecondsFormat, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use tracing::instrument;

use super::{Api, iam_caller, serve};
use crate::domain::{Actor, Session, SessionId, TenantId, UserId, UserKey, page_of};
use crate::http::bodies::{AdminDataRequest, ImpersonationRequest};
use crate::http::gateway::query;
use crate::http::paging::{cursor, history_page_request, page_request};
use crate::http::request::{client_info, json_body};
use crate::http::response::{SessionListItem, history_body, json_response, no_content, with_etag};
use crate::http::{ApiError, Matched, Route, SessionBody};
use crate::session::Revoker;
use crate::store::Owner;

/// `DELETE /admin/users/{user_id}/sessions`, `DELETE /admin/tenants/{tenant_id}/sessions`:
/// IAM-protected in the template, and refused here unless the request context names the IAM
/// caller.
#[instrument(skip_all, fields(route = "admin"))]
pub async fn admin(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    serve(api, &req, "session-admin", async |matched: Matched| {
        match matched.route {
            Route::AdminUpdateData => admin_update_data(api, &req, &matched).await,
            Route::AdminListUser => admin_list_sessions(api, &req, &matched).await,
            Route::AdminUserEvents => admin_history(api, &req, &matched).await,
            Route::AdminGetSession => admin_get_session(api, &req, &matched).await,
            Route::AdminRevokeSession => admin_revoke_session(api, &req, &matched).await,
            Route::AdminImpersonate => admin_impersonate(api, &req, &matched).await,
            Route::AdminRevokeUser | Route::AdminRevokeTenant => {
                admin_revoke(api, &req, matched).await
            }
            // Not this function's (serve admits only its routes): never another operation.
            _ => Err(ApiError::not_found()),
        }
    })
    .await
}

/// The IAM principal of an admin request; 403 for any other caller.
fn admin_caller(req: &Request) -> Result<String, ApiError> {
    iam_caller(req)
        .ok_or_else(|| ApiError::forbidden("the admin routes require an IAM-signed request"))
}

/// The `reason` an administrator gives for a revocation (`?reason=`, at most 200 characters,
/// no control characters): kept on the tombstones and carried by the `session.revoked` events.
fn admin_note(req: &Request) -> Result<Option<String>, ApiError> {
    query(req, "reason")
        .filter(|n| !n.trim().is_empty())
        .map(checked_reason)
        .transpose()
}

/// An administrator's reason, trimmed: 1 to 200 characters, no control characters.
fn checked_reason(raw: &str) -> Result<String, ApiError> {
    const MAX_CHARS: usize = 200;
    let reason = raw.trim();
    if reason.is_empty()
        || reason.chars().count() > MAX_CHARS
        || reason.chars().any(char::is_control)
    {
        return Err(ApiError::invalid_request(format!(
            "reason: 1 to {MAX_CHARS} characters, no control characters"
        )));
    }
    Ok(reason.to_owned())
}

/// The user and the session the path names.
fn path_session(req: &Request, matched: &Matched) -> Result<(UserKey, SessionId), ApiError> {
    let user = path_user(req, matched)?;
    let raw = matched.params.get(1).ok_or_else(ApiError::not_found)?;
    let id =
        SessionId::parse(raw).map_err(|e| ApiError::invalid_request(format!("session id: {e}")))?;
    Ok((user, id))
}

/// `GET /admin/users/{user_id}/sessions/{session_id}`: the session JSON (data included, as the
/// admin data route answers), 404 when the user has no such usable session.
async fn admin_get_session(
    api: &Api,
    req: &Request,
    matched: &Matched,
) -> Result<Response<Body>, ApiError> {
    let caller = admin_caller(req)?;
    let (user, session_id) = path_session(req, matched)?;
    tracing::info!(caller = %caller, session_id = %session_id, "admin session read");
    let session = api
        .sessions
        .session_of_user(&user, session_id, Utc::now())
        .await?
        .ok_or_else(ApiError::session_not_found)?;
    Ok(session_answer(&session))
}

/// A session as the admin routes answer it: its JSON, data included, and its `ETag`.
fn session_answer(session: &Session) -> Response<Body> {
    with_etag(
        json_response(StatusCode::OK, &SessionBody::of(session)),
        session,
    )
}

/// `DELETE /admin/users/{user_id}/sessions/{session_id}[?reason=...]`: end one session of the
/// user; its device gets 401 `session_revoked` on its next call, the user's other sessions go
/// on. The `session.revoked` event names the IAM caller (`revoked_by`) and the reason
/// (`note`). 204; 404 when the user has no such usable session.
async fn admin_revoke_session(
    api: &Api,
    req: &Request,
    matched: &Matched,
) -> Result<Response<Body>, ApiError> {
    let caller = admin_caller(req)?;
    let (user, session_id) = path_session(req, matched)?;
    let by = Revoker::Admin {
        caller,
        note: admin_note(req)?,
    };
    let revoked = api
        .sessions
        .revoke_one(&user, session_id, &by, &client_info(req), Utc::now())
        .await?;
    if !revoked {
        return Err(ApiError::session_not_found());
    }
    Ok(no_content())
}

/// The user the path names (`{user_id}`, scoped by `tenant_id` and `issuer`).
fn path_user(req: &Request, matched: &Matched) -> Result<UserKey, ApiError> {
    let raw = matched.params.first().ok_or_else(ApiError::not_found)?;
    user_key(req, raw)
}

/// `GET /admin/users/{user_id}/sessions`: the user's live sessions, most recently seen first,
/// a page at a time (`limit`, `cursor`), with what the device list shows. One `Query` of
/// `sessions_by_user`; a user with no session (or another tenant's, another issuer's) has an
/// empty list.
async fn admin_list_sessions(
    api: &Api,
    req: &Request,
    matched: &Matched,
) -> Result<Response<Body>, ApiError> {
    let caller = admin_caller(req)?;
    let user = path_user(req, matched)?;
    let page = page_request(req)?;
    tracing::info!(caller = %caller, "admin session list");
    let entries = api.sessions.list(&user, Utc::now()).await?;
    let (shown, next) = page_of(entries, page.after, page.limit);
    let items: Vec<_> = shown
        .iter()
        .map(|e| SessionListItem::of(e, false))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "sessions": items,
            "next_cursor": next.as_ref().map(cursor),
        }),
    ))
}

/// `GET /admin/users/{user_id}/events`: the user's security history, newest first, a page at
/// a time.
async fn admin_history(
    api: &Api,
    req: &Request,
    matched: &Matched,
) -> Result<Response<Body>, ApiError> {
    let caller = admin_caller(req)?;
    let user = path_user(req, matched)?;
    let (limit, after) = history_page_request(req)?;
    tracing::info!(caller = %caller, "admin history read");
    let (events, next) = api.sessions.history(&user, limit, after.as_ref()).await?;
    Ok(json_response(
        StatusCode::OK,
        &history_body(&events, next.as_ref()),
    ))
}

/// `PATCH /admin/users/{user_id}/sessions/{session_id}`: merge-patch a session's data for
/// the IAM caller, protected keys included (`{"data": <merge patch>}`). 404 when the user has
/// no such usable session.
async fn admin_update_data(
    api: &Api,
    req: &Request,
    matched: &Matched,
) -> Result<Response<Body>, ApiError> {
    let caller = admin_caller(req)?;
    let (user, session_id) = path_session(req, matched)?;
    let body: AdminDataRequest = json_body(req, api.http.max_body_bytes)?
        .ok_or_else(|| ApiError::invalid_request("send {\"data\": <merge patch>}"))?;
    tracing::info!(caller = %caller, session_id = %session_id, "admin data update");
    let updated = api
        .sessions
        .update_data_of(
            &user,
            session_id,
            &body.data,
            api.http.max_data_bytes,
            Utc::now(),
        )
        .await?
        .ok_or_else(ApiError::session_not_found)?;
    Ok(session_answer(&updated))
}

/// `POST /admin/users/{user_id}/impersonation` (`{"reason": "..."}`, required): a one-time
/// ticket, redeemable for five minutes at `POST /sessions` (`{"impersonation_ticket"}`), that
/// signs the IAM caller in as the user, named as the session's actor. 201; the ticket is in
/// this answer only (stored as its hash).
async fn admin_impersonate(
    api: &Api,
    req: &Request,
    matched: &Matched,
) -> Result<Response<Body>, ApiError> {
    let caller = admin_caller(req)?;
    let raw = matched.params.first().ok_or_else(ApiError::not_found)?;
    let (user_id, tenant_id, issuer) = user_named(req, raw)?;
    let body: ImpersonationRequest = json_body(req, api.http.max_body_bytes)?.ok_or_else(|| {
        ApiError::invalid_request("send {\"reason\": \"<why, e.g. the support case>\"}")
    })?;
    let actor = Actor {
        principal: caller,
        reason: Some(checked_reason(&body.reason)?),
    };
    let (ticket, grant) = api
        .sessions
        .impersonate(
            user_id,
            tenant_id,
            issuer.map(str::to_owned),
            actor,
            Utc::now(),
        )
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &serde_json::json!({
            "impersonation_ticket": ticket.expose_secret(),
            "expires_at": grant.expires_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "user_id": grant.user_id.as_str(),
            "tenant_id": grant.tenant_id.as_ref().map(TenantId::as_str),
            "actor": grant.actor,
        }),
    ))
}

/// The admin routes: every session of a user or a tenant, for the IAM caller.
async fn admin_revoke(
    api: &Api,
    req: &Request,
    matched: Matched,
) -> Result<Response<Body>, ApiError> {
    let caller = admin_caller(req)?;
    let raw = matched.params.last().cloned().unwrap_or_default();
    let by = Revoker::Admin {
        caller,
        note: admin_note(req)?,
    };
    let client = client_info(req);
    let now = Utc::now();
    let revoked = match matched.route {
        Route::AdminRevokeTenant => {
            let tenant = TenantId::parse(&raw)
                .map_err(|e| ApiError::invalid_request(format!("tenant id: {e}")))?;
            api.sessions
                .revoke_all(Owner::Tenant(&tenant), None, &by, &client, now)
                .await?
        }
        Route::AdminRevokeUser => {
            let user = user_key(req, &raw)?;
            api.sessions
                .revoke_all(Owner::User(&user), None, &by, &client, now)
                .await?
        }
        _ => return Err(ApiError::not_found()),
    };
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "revoked": revoked }),
    ))
}

/// The user an admin route names: the `{user_id}` of the path, scoped by the `tenant_id` and
/// `issuer` query parameters (the tenant and the identity provider the user signed in with;
/// leave `issuer` out for sessions a trusted caller started). The same subject in another
/// tenant, or from another issuer, is another user.
fn user_key(req: &Request, raw_user: &str) -> Result<UserKey, ApiError> {
    let (user, tenant, issuer) = user_named(req, raw_user)?;
    Ok(UserKey::of(issuer, tenant.as_ref(), &user))
}

/// The parts of the user an admin route names ([`user_key`]).
fn user_named<'a>(
    req: &'a Request,
    raw_user: &str,
) -> Result<(UserId, Option<TenantId>, Option<&'a str>), ApiError> {
    let user =
        UserId::parse(raw_user).map_err(|e| ApiError::invalid_request(format!("user id: {e}")))?;
    let tenant = query(req, "tenant_id")
        .map(TenantId::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_request(format!("tenant_id: {e}")))?;
    let issuer = query(req, "issuer").filter(|i| !i.is_empty());
    Ok((user, tenant, issuer))
}
