//! `POST /sessions` (sign-in, carrying a presented guest session over), `POST /sessions/guest`,
//! `GET /sessions/current` (validate, and the JSON 404/405 of unknown routes), `POST /sessions/current/refresh`, `DELETE /sessions/current` (sign-out).

use chrono::Utc;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Error, Request, Response};
use tracing::instrument;

use super::{Api, SignIn, caller_session, iam_caller, refusal, serve, session_response};
use crate::domain::{
    Authentication, Freshness, GuestDataRule, ImpersonationForbidden, Restricted, ResumeKey,
    Session, SessionData, SessionToken, TenantId, UserId, UserKey,
};
use crate::http::bodies::{CreateRequest, GuestRequest, ReauthRequest};
use crate::http::gateway::query;
use crate::http::request::{bearer, client_info, json_body, protected_key_in, session_credential};
use crate::http::response::{append_set_cookie, json_response, no_content, with_etag};
use crate::http::{ApiError, Matched, Route, SessionBody, Transport};
use crate::identity::Identity;
use crate::metrics::Metric;
use crate::session::{Carry, GuestError, GuestStart, PresentedGuest, SessionError, Start};

/// `POST /sessions`: verify the login ticket, start a session, set the cookie. Also
/// `POST /sessions/current/reauth` and `POST /oidc/backchannel-logout`: the routes that verify
/// identity tokens.
#[instrument(skip_all, fields(route = "create"))]
pub async fn create(sign_in: &SignIn, req: Request) -> Result<Response<Body>, Error> {
    serve(
        &sign_in.api,
        &req,
        "session-create",
        async |matched: Matched| match matched.route {
            Route::Reauth => reauth_session(sign_in, &req).await,
            Route::BackchannelLogout => super::provider::backchannel_logout(sign_in, &req).await,
            Route::CreateTrusted if iam_caller(&req).is_none() => {
                // API Gateway lets only IAM-signed requests reach this route; without the
                // signature in the request context, nothing here is trusted.
                Err(ApiError::forbidden(
                    "this request may not sign anyone in here",
                ))
            }
            Route::CreateTrusted => signed_in(create_session(sign_in, &req, true).await),
            Route::Create => signed_in(create_session(sign_in, &req, false).await),
            Route::CreateGuest => create_guest_session(&sign_in.api, &req).await,
            // Not this function's (serve admits only its routes): never another operation.
            _ => Err(ApiError::not_found()),
        },
    )
    .await
}

/// `POST /sessions/current/reauth`: the holder of a session proves again who they are with a
/// fresh identity token (`{"id_token"}`) for the same user (issuer, tenant and subject). The
/// proof's time and methods are recorded and the token rotates (a privilege change); session
/// id, data and deadlines stay. Another user's token is 403 and changes nothing.
async fn reauth_session(sign_in: &SignIn, req: &Request) -> Result<Response<Body>, ApiError> {
    let api = &sign_in.api;
    let body: ReauthRequest = json_body(req, api.http.max_body_bytes)?
        .ok_or_else(|| ApiError::invalid_request("send {\"id_token\": \"<jwt>\"}"))?;
    let credential = session_credential(req, &api.http.cookie)?;
    let identity = sign_in.verifier.verify(&body.id_token).await?;
    let user = UserKey::of(
        identity.issuer.as_deref(),
        identity.tenant_id.as_ref(),
        &identity.user_id,
    );
    let now = Utc::now();
    let authentication = identity
        .authentication
        .unwrap_or_else(|| Authentication::at(now));
    let current = api
        .sessions
        .reauthenticate(
            credential.presented(&client_info(req)),
            &user,
            authentication,
            identity.ticket,
            now,
        )
        .await
        .map_err(|e| match e {
            // About the proof, not the session: the cookie stays.
            SessionError::OtherUser | SessionError::TicketReused => ApiError::from(e),
            e => ApiError::from(e).for_transport(credential.transport),
        })?;
    Ok(session_response(api, &current, credential.transport))
}

/// `GET /sessions/current`: who holds this cookie (or bearer token). Also the fallback for
/// unknown routes (JSON 404/405).
#[instrument(skip_all, fields(route = "validate"))]
pub async fn validate(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    serve(api, &req, "session-validate", async |_| {
        validate_session(api, &req).await
    })
    .await
}

/// `POST /sessions/current/refresh`: extend the idle deadline and re-issue the cookie.
#[instrument(skip_all, fields(route = "refresh"))]
pub async fn refresh(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    serve(api, &req, "session-refresh", async |_| {
        refresh_session(api, &req).await
    })
    .await
}

/// `DELETE /sessions/current`: delete server-side, clear the cookie. Idempotent.
#[instrument(skip_all, fields(route = "logout"))]
pub async fn logout(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    serve(api, &req, "session-logout", async |_| {
        logout_session(api, &req).await
    })
    .await
}

/// A sign-in: by login ticket on `POST /sessions`; on the trusted route (`trusted_route`, an
/// IAM-signed backend) by naming the user, never by ticket.
async fn create_session(
    sign_in: &SignIn,
    req: &Request,
    trusted_route: bool,
) -> Result<Response<Body>, ApiError> {
    let api = &sign_in.api;
    let body: CreateRequest = json_body(req, api.http.max_body_bytes)?.unwrap_or_default();
    let guest_data = body
        .guest_data
        .as_deref()
        .map(|raw| {
            GuestDataRule::parse(raw).ok_or_else(|| {
                ApiError::invalid_request("guest_data: send guest_wins, sign_in_wins or discard")
            })
        })
        .transpose()?
        .unwrap_or_default();
    if trusted_route && body.guest_token.is_some() {
        return Err(ApiError::invalid_request(
            "guest_token: a trusted caller's sign-in carries no guest session over",
        ));
    }
    let guest = if trusted_route {
        None
    } else {
        presented_beside(api, req, body.guest_token.as_deref()).await?
    };
    let identity = if let Some(ticket) = body.impersonation_ticket.as_deref() {
        if trusted_route
            || body.id_token.is_some()
            || body.user_id.is_some()
            || body.tenant_id.is_some()
            || bearer(req)?.is_some()
        {
            return Err(ApiError::invalid_request(
                "send an impersonation_ticket alone: no other ticket, no user",
            ));
        }
        api.sessions.redeem(ticket, Utc::now()).await?
    } else {
        match (&body.user_id, &body.tenant_id) {
            (None, None) if trusted_route => {
                return Err(ApiError::invalid_request(
                    "user_id is required (login tickets sign in at POST /sessions)",
                ));
            }
            (None, None) => {
                verified_identity(sign_in, bearer(req)?, body.id_token.as_deref()).await?
            }
            // An IAM-signed request carries `Authorization: AWS4-HMAC-SHA256 ...`, not a ticket.
            _ => trusted_identity(api, req, &body)?,
        }
    };
    check_token_in_body(api, req, body.token_in_body)?;
    // Server-only keys come from IAM-signed callers alone (the trusted-caller sign-in).
    let trusted = body.user_id.is_some() || body.tenant_id.is_some();
    if !trusted && let Some(data) = &body.data {
        protected_key_in(data, &api.http.protected_data_keys)?;
    }
    let data = match body.data {
        None => SessionData::default(),
        Some(value) => SessionData::parse(value, api.http.max_data_bytes)?,
    };

    let now = Utc::now();
    let transport = if body.token_in_body {
        Transport::Bearer
    } else {
        Transport::Cookie
    };
    let resume = body
        .resume
        .as_deref()
        .map(ResumeKey::parse)
        .transpose()
        .map_err(|_| {
            ApiError::invalid_request(
                "resume: send back the key a 503 of this route gave, as it was given",
            )
        })?;
    let start = Start {
        data,
        client: client_info(req),
        transport,
        profile: body.profile,
        resume,
        guest: guest.map(|guest| Carry {
            guest,
            rule: guest_data,
            protected: api.http.protected_data_keys.clone(),
            max_bytes: api.http.max_data_bytes,
        }),
    };
    let (token, session) = api.sessions.create(identity, start, now).await?;
    if session.upgraded_from.is_some() {
        crate::metrics::count(Metric::GuestsUpgraded, 1);
    }
    crate::metrics::count(
        if trusted {
            Metric::SignInsTrusted
        } else if session.actor.is_some() {
            Metric::SignInsImpersonation
        } else if session.authentication.is_legacy_exchange() {
            Metric::SignInsLegacy
        } else {
            Metric::SignInsTicket
        },
        1,
    );

    Ok(created(api, &token, &session, body.token_in_body))
}

/// 201 with a new session: its token as the cookie, or in the body (`token_in_body`).
fn created(
    api: &Api,
    token: &SessionToken,
    session: &Session,
    token_in_body: bool,
) -> Response<Body> {
    let mut response = if token_in_body {
        // Bearer mode for non-browser clients: the token travels in the body, no cookie.
        json_response(
            StatusCode::CREATED,
            &SessionBody::of(session).with_token(token),
        )
    } else {
        let mut response = json_response(StatusCode::CREATED, &SessionBody::of(session));
        let cookie = api.http.cookie.issue(
            token.expose_secret(),
            api.sessions.cookie_max_age(session, session.created_at),
        );
        append_set_cookie(&mut response, &cookie);
        response
    };
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_static("/sessions/current"),
    );
    // The data's version, as every answer with the session JSON gives it (If-Match of PATCH).
    with_etag(response, session)
}

/// Refuses `token_in_body` to a browser: a script that saw a ticket (or a guest's answer) must
/// not turn it into a bearer token that leaves the browser; browsers get the HttpOnly cookie.
/// A page's request says where it comes from by `Origin`, or (some same-origin requests) by
/// `Referer` alone.
fn check_token_in_body(api: &Api, req: &Request, token_in_body: bool) -> Result<(), ApiError> {
    if token_in_body
        && !api.http.bearer_for_browsers
        && (req.headers().contains_key(header::ORIGIN)
            || req.headers().contains_key(header::REFERER))
    {
        return Err(ApiError::forbidden(
            "token_in_body is not available to browser requests (an Origin or Referer header): use the cookie",
        ));
    }
    Ok(())
}

/// What a sign-in presents beside its ticket: the session cookie, or a bearer client's
/// `guest_token`. An impersonation session is refused (sign out of it first); a guest session
/// is carried over. Only a request that presents a session pays for this (one `GetItem`); a
/// token that leads nowhere usable is no obstacle.
async fn presented_beside(
    api: &Api,
    req: &Request,
    guest_token: Option<&str>,
) -> Result<Option<PresentedGuest>, ApiError> {
    let raw = match guest_token {
        Some(raw) => raw.to_owned(),
        None => match api.http.cookie.read(req.headers()) {
            Ok(Some(raw)) => raw,
            _ => return Ok(None),
        },
    };
    let Ok(token) = SessionToken::parse(&raw) else {
        return match guest_token {
            Some(_) => Err(ApiError::invalid_request(
                "guest_token: send the guest session's token as it was given",
            )),
            None => Ok(None),
        };
    };
    Ok(api.sessions.presented_beside(&token, Utc::now()).await?)
}

/// `POST /sessions/guest`: the visitor's session. The session presented (cookie or bearer), if
/// it is usable (200); else a new guest session (201), within the per-client limit (429).
async fn create_guest_session(api: &Api, req: &Request) -> Result<Response<Body>, ApiError> {
    let body: GuestRequest = json_body(req, api.http.max_body_bytes)?.unwrap_or_default();
    check_token_in_body(api, req, body.token_in_body)?;
    if let Some(data) = &body.data {
        protected_key_in(data, &api.http.protected_data_keys)?;
    }
    let data = match body.data {
        None => SessionData::default(),
        Some(value) => SessionData::parse(value, api.http.max_data_bytes)?,
    };
    // A visitor with a usable session keeps it: two calls never start two sessions.
    if session_credential(req, &api.http.cookie).is_ok() {
        match caller_session(api, req).await {
            Ok(Ok((credential, current))) => {
                return Ok(session_response(api, &current, credential.transport));
            }
            Ok(Err(refused)) => return Ok(refused),
            Err(unavailable) if unavailable.status().is_server_error() => {
                return Err(unavailable);
            }
            // Expired, signed out, revoked: a new guest session replaces it.
            Err(_) => {}
        }
    }
    let transport = if body.token_in_body {
        Transport::Bearer
    } else {
        Transport::Cookie
    };
    let start = GuestStart {
        data,
        client: client_info(req),
        transport,
    };
    let (token, session) = api
        .sessions
        .create_guest(start, Utc::now())
        .await
        .inspect_err(|e| {
            if matches!(e, GuestError::Limited { .. }) {
                crate::metrics::count(Metric::GuestsLimited, 1);
            }
        })?;
    crate::metrics::count(Metric::GuestsCreated, 1);
    Ok(created(api, &token, &session, body.token_in_body))
}

/// A sign-in's answer, its refusal counted (the client's mistake or a spent ticket; a 503 is
/// counted by its cause).
fn signed_in(answer: Result<Response<Body>, ApiError>) -> Result<Response<Body>, ApiError> {
    if let Err(error) = &answer
        && error.status().is_client_error()
    {
        crate::metrics::count(Metric::SignInsRefused, 1);
    }
    answer
}

/// The identity proven by a login ticket (Bearer header or `id_token`).
async fn verified_identity(
    sign_in: &SignIn,
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
    Ok(sign_in.verifier.verify(ticket).await?)
}

/// Trusted-caller mode: a backend signed the request with IAM (API Gateway checked the
/// signature and the route's IAM auth) and names the user in the body. Refused unless the mode
/// is on *and* the request context carries the IAM caller, so a misconfigured route without
/// IAM auth cannot be used to mint sessions.
fn trusted_identity(api: &Api, req: &Request, body: &CreateRequest) -> Result<Identity, ApiError> {
    if !api.http.trusted_caller {
        // As for any other unknown field: the message names what the caller sent, and no
        // field that only trusted callers may send.
        let field = if body.user_id.is_some() {
            "user_id"
        } else {
            "tenant_id"
        };
        return Err(ApiError::invalid_request(format!(
            "the body does not fit this route: unknown field `{field}`"
        )));
    }
    let Some(caller) = iam_caller(req) else {
        return Err(ApiError::forbidden(
            "this request may not name the user to sign in",
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
    Ok(Identity {
        user_id,
        tenant_id,
        issuer: None,
        authentication: None,
        ticket: None,
        allowed_profiles: None,
        actor: None,
        provider_sid: None,
    })
}

async fn validate_session(api: &Api, req: &Request) -> Result<Response<Body>, ApiError> {
    let max_auth_age = max_auth_age(req)?;
    let (credential, current) = match caller_session(api, req).await? {
        Ok(caller) => caller,
        Err(refused) => return Ok(refused),
    };
    // Not signed out either way: the session stays, the cookie stays (and a rotation it just
    // got is still handed over). A stale proof: the app asks the user to prove who they are
    // again; an impersonation session: the action is the user's alone.
    let refused = match max_auth_age.map(|age| current.session.freshness(age, Utc::now())) {
        None | Some(Freshness::Fresh) => None,
        Some(Freshness::Stale) => Some(ApiError::reauthentication_required()),
        Some(Freshness::Impersonated) => {
            Some(ImpersonationForbidden(Restricted::FreshAuthentication).into())
        }
        Some(Freshness::Guest) => Some(ApiError::guest_forbidden()),
    };
    if let Some(error) = refused {
        return Ok(refusal(api, error, &current, credential.transport));
    }
    Ok(session_response(api, &current, credential.transport))
}

/// `?max_auth_age=<seconds>`: how recent the user's last proof of identity must be.
fn max_auth_age(req: &Request) -> Result<Option<chrono::Duration>, ApiError> {
    query(req, "max_auth_age")
        .map(|raw| {
            raw.parse::<u32>()
                .map(|s| chrono::Duration::seconds(i64::from(s)))
                .map_err(|_| {
                    ApiError::invalid_request("max_auth_age must be a whole number of seconds")
                })
        })
        .transpose()
}

async fn refresh_session(api: &Api, req: &Request) -> Result<Response<Body>, ApiError> {
    let credential = session_credential(req, &api.http.cookie)?;
    let now = Utc::now();
    let current = api
        .sessions
        .refresh(credential.presented(&client_info(req)), now)
        .await
        .map_err(|e| ApiError::from(e).for_transport(credential.transport))?;
    Ok(session_response(api, &current, credential.transport))
}

async fn logout_session(api: &Api, req: &Request) -> Result<Response<Body>, ApiError> {
    // No usable credential means nothing to delete: still a clean sign-out.
    if let Ok(credential) = session_credential(req, &api.http.cookie) {
        api.sessions
            .logout(credential.presented(&client_info(req)), Utc::now())
            .await
            // A 503: the session may still be live, so the cookie stays for the retry. A token
            // of the other transport ended nothing: 401, and no clearing cookie that would
            // look like a sign-out.
            .map_err(|e| match e {
                SessionError::Store(e) => ApiError::from(e),
                e if credential.transport == Transport::Bearer => {
                    ApiError::from(e).with_bearer_challenge()
                }
                e => ApiError::from(e),
            })?;
    }
    let mut response = no_content();
    // A bearer sign-out ends the bearer's session and leaves cookies alone: a response never
    // clears a cookie whose session it did not end.
    if !req.headers().contains_key(header::AUTHORIZATION) {
        append_set_cookie(&mut response, &api.http.cookie.clear());
    }
    Ok(response)
}
