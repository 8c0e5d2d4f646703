//! The IAM-protected admin routes: `DELETE /admin/users/{user_id}/sessions`,
//! `DELETE /admin/tenants/{tenant_id}/sessions`, and
//! `PATCH /admin/users/{user_id}/sessions/{session_id}` (a session's data, server-only keys
//! included).

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use tracing::instrument;

use super::{Api, iam_caller, serve};
use crate::domain::{SessionId, TenantId, UserId, UserKey};
use crate::http::bodies::AdminDataRequest;
use crate::http::request::{client_info, json_body};
use crate::http::response::{json_response, with_etag};
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
            Route::AdminRevokeUser | Route::AdminRevokeTenant => {
                admin_revoke(api, &req, matched).await
            }
            // Not this function's (serve admits only its routes): never another operation.
            _ => Err(ApiError::not_found()),
        }
    })
    .await
}

/// `PATCH /admin/users/{user_id}/sessions/{session_id}`: merge-patch a session's data for
/// the IAM caller, protected keys included (`{"data": <merge patch>}`). 404 when the user has
/// no such usable session.
async fn admin_update_data(
    api: &Api,
    req: &Request,
    matched: &Matched,
) -> Result<Response<Body>, ApiError> {
    let Some(caller) = iam_caller(req) else {
        return Err(ApiError::forbidden(
            "the admin routes require an IAM-signed request",
        ));
    };
    let (Some(user), Some(session)) = (matched.params.first(), matched.params.get(1)) else {
        return Err(ApiError::not_found());
    };
    let user = user_key(req, user)?;
    let session_id = SessionId::parse(session)
        .map_err(|e| ApiError::invalid_request(format!("session id: {e}")))?;
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
    Ok(with_etag(
        json_response(StatusCode::OK, &SessionBody::of(&updated)),
        &updated,
    ))
}

/// The admin routes: every session of a user or a tenant, for the IAM caller.
async fn admin_revoke(
    api: &Api,
    req: &Request,
    matched: Matched,
) -> Result<Response<Body>, ApiError> {
    let Some(caller) = iam_caller(req) else {
        return Err(ApiError::forbidden(
            "the admin routes require an IAM-signed request",
        ));
    };
    let raw = matched.params.last().cloned().unwrap_or_default();
    let by = Revoker::Admin { caller };
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
    let user =
        UserId::parse(raw_user).map_err(|e| ApiError::invalid_request(format!("user id: {e}")))?;
    let query = req.query_string_parameters_ref();
    let tenant = query
        .and_then(|q| q.first("tenant_id"))
        .map(TenantId::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_request(format!("tenant_id: {e}")))?;
    let issuer = query
        .and_then(|q| q.first("issuer"))
        .filter(|i| !i.is_empty());
    Ok(UserKey::of(issuer, tenant.as_ref(), &user))
}
