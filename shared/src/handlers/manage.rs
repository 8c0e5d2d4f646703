//! The caller's own sessions: `GET /sessions`, `DELETE /sessions[?keep_current=true]`,
//! `DELETE /sessions/{session_id}`, `PATCH /sessions/current`, and their security history,
//! `GET /sessions/current/events`.

use chrono::Utc;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Error, Request, Response};
use tracing::instrument;

use super::{
    Api, caller_permitted, caller_session, keeping_rotation, refusal, serve, session_response,
};
use crate::domain::{Presented, Restricted, SessionId, page_of};
use crate::http::bodies::UpdateRequest;
use crate::http::gateway::query;
use crate::http::paging::{cursor, history_page_request, page_request};
use crate::http::request::{client_info, json_body, protected_key_in, session_credential};
use crate::http::response::{
    SessionListItem, append_set_cookie, history_body, json_response, no_content,
};
use crate::http::{ApiError, Matched, Route};
use crate::session::Revoker;
use crate::store::Owner;

/// The caller's own sessions: `GET /sessions`, `DELETE /sessions[?keep_current=true]`,
/// `DELETE /sessions/{session_id}`, `PATCH /sessions/current`.
#[instrument(skip_all, fields(route = "manage"))]
pub async fn manage(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    serve(
        api,
        &req,
        "session-manage",
        async |matched: Matched| match matched.route {
            Route::List => list_sessions(api, &req).await,
            Route::RevokeAll => revoke_all_sessions(api, &req).await,
            Route::RevokeOne => {
                revoke_session(api, &req, matched.params.last().map(String::as_str)).await
            }
            Route::UpdateData => update_data(api, &req).await,
            Route::OwnEvents => own_history(api, &req).await,
            // Not this function's (serve admits only its routes): never another operation.
            _ => Err(ApiError::not_found()),
        },
    )
    .await
}

/// `GET /sessions`: the caller's usable sessions, the calling one first (marked `current`),
/// then the others most recently seen first; a page at a time (`limit`, `cursor`).
async fn list_sessions(api: &Api, req: &Request) -> Result<Response<Body>, ApiError> {
    let page = page_request(req)?;
    let (credential, current) = match caller_permitted(api, req, Restricted::ListSessions).await? {
        Ok(caller) => caller,
        Err(refused) => return Ok(refused),
    };
    let me = &current.session;
    let others: Vec<_> = api
        .sessions
        .list(&me.user_key(), Utc::now())
        .await?
        .into_iter()
        .filter(|e| e.session_id != me.id)
        .collect();
    let mut items = Vec::new();
    let (rest, next) = match page.after {
        // The first page starts with the calling session.
        None => {
            items.push(SessionListItem::current(me));
            page_of(others, None, page.limit - 1)
        }
        Some(after) => page_of(others, Some(after), page.limit),
    };
    items.extend(rest.iter().map(|e| SessionListItem::of(e, false)));
    let body = serde_json::json!({
        "sessions": items,
        "next_cursor": next.as_ref().map(cursor),
    });
    let response = json_response(StatusCode::OK, &body);
    Ok(keeping_rotation(
        api,
        response,
        &current,
        credential.transport,
    ))
}

/// `GET /sessions/current/events`: the signed-in user's own security history (every session
/// of theirs, none of anybody else's), newest first, a page at a time.
async fn own_history(api: &Api, req: &Request) -> Result<Response<Body>, ApiError> {
    let (limit, after) = history_page_request(req)?;
    let (credential, current) = match caller_session(api, req).await? {
        Ok(caller) => caller,
        Err(refused) => return Ok(refused),
    };
    let (events, next) = api
        .sessions
        .history(&current.session.user_key(), limit, after.as_ref())
        .await?;
    let response = json_response(StatusCode::OK, &history_body(&events, next.as_ref()));
    Ok(keeping_rotation(
        api,
        response,
        &current,
        credential.transport,
    ))
}

/// `DELETE /sessions/{session_id}`: revoke one of the caller's sessions. An unknown id, a
/// malformed one and another user's all get the same 404.
async fn revoke_session(
    api: &Api,
    req: &Request,
    param: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let (credential, current) = match caller_session(api, req).await? {
        Ok(caller) => caller,
        Err(refused) => return Ok(refused),
    };
    let me = &current.session;
    let Some(target) = param.and_then(|raw| SessionId::parse(raw).ok()) else {
        return Err(ApiError::session_not_found());
    };
    if target != me.id
        && let Err(refused) = me.check_permits(Restricted::RevokeOthers)
    {
        return Ok(refusal(api, refused.into(), &current, credential.transport));
    }
    let by = Revoker::User { session_id: me.id };
    let revoked = api
        .sessions
        .revoke_one(&me.user_key(), target, &by, &client_info(req), Utc::now())
        .await?;
    if !revoked {
        return Err(ApiError::session_not_found());
    }
    let mut response = no_content();
    if target == me.id {
        // The caller ended its own session this way: drop the cookie too.
        append_set_cookie(&mut response, &api.http.cookie.clear());
        return Ok(response);
    }
    Ok(keeping_rotation(
        api,
        response,
        &current,
        credential.transport,
    ))
}

/// `DELETE /sessions`: sign out everywhere, or with `?keep_current=true` everywhere else.
async fn revoke_all_sessions(api: &Api, req: &Request) -> Result<Response<Body>, ApiError> {
    let keep_current = match query(req, "keep_current") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::invalid_request(
                "keep_current must be true or false",
            ));
        }
    };
    let (credential, current) = match caller_permitted(api, req, Restricted::RevokeOthers).await? {
        Ok(caller) => caller,
        Err(refused) => return Ok(refused),
    };
    let me = &current.session;
    let client = client_info(req);
    let by = Revoker::User { session_id: me.id };
    let now = Utc::now();
    let mut revoked = api
        .sessions
        .revoke_all(Owner::User(&me.user_key()), Some(me.id), &by, &client, now)
        .await?;
    let body = |revoked: usize| serde_json::json!({ "revoked": revoked });
    if keep_current {
        let response = json_response(StatusCode::OK, &body(revoked));
        return Ok(keeping_rotation(
            api,
            response,
            &current,
            credential.transport,
        ));
    }
    // The caller's own session last, as an ordinary sign-out of the token it holds.
    let token = current.new_token.as_ref().unwrap_or(&credential.token);
    if api
        .sessions
        .logout(Presented::new(token, &client, credential.transport), now)
        .await?
        .is_some()
    {
        revoked += 1;
    }
    let mut response = json_response(StatusCode::OK, &body(revoked));
    append_set_cookie(&mut response, &api.http.cookie.clear());
    Ok(response)
}

/// `PATCH /sessions/current`: merge-patch the session's data, with optimistic concurrency.
async fn update_data(api: &Api, req: &Request) -> Result<Response<Body>, ApiError> {
    let body: UpdateRequest = json_body(req, api.http.max_body_bytes)?.ok_or_else(|| {
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
    protected_key_in(&body.data, &api.http.protected_data_keys)?;
    let credential = session_credential(req, &api.http.cookie)?;
    let current = api
        .sessions
        .update_data(
            credential.presented(&client_info(req)),
            &body.data,
            expected,
            api.http.max_data_bytes,
            Utc::now(),
        )
        .await
        .map_err(|e| ApiError::from(e).for_transport(credential.transport))?;
    Ok(session_response(api, &current, credential.transport))
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
