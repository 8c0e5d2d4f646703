//! The IAM-protected admin routes: `DELETE /admin/users/{user_id}/sessions` and
//! `DELETE /admin/tenants/{tenant_id}/sessions`.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use tracing::instrument;

use super::{Api, iam_caller, serve};
use crate::domain::{TenantId, UserId};
use crate::http::request::client_info;
use crate::http::response::json_response;
use crate::http::{ApiError, Matched, Route};
use crate::session::Revoker;
use crate::store::Owner;

/// `DELETE /admin/users/{user_id}/sessions`, `DELETE /admin/tenants/{tenant_id}/sessions`:
/// IAM-protected in the template, and refused here unless the request context names the IAM
/// caller.
#[instrument(skip_all, fields(route = "admin"))]
pub async fn admin(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    let routes = [Route::AdminRevokeUser, Route::AdminRevokeTenant];
    serve(api, &req, &routes, async |matched: Matched| {
        admin_revoke(api, &req, matched).await
    })
    .await
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
    let raw = matched.param.unwrap_or_default();
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
        _ => {
            let user = UserId::parse(&raw)
                .map_err(|e| ApiError::invalid_request(format!("user id: {e}")))?;
            api.sessions
                .revoke_all(Owner::User(&user), None, &by, &client, now)
                .await?
        }
    };
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "revoked": revoked }),
    ))
}
