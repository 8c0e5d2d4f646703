//! Guards for Rust services outside API Gateway (the `guard` feature): a tower
//! [`SessionLayer`] and an axum extractor ([`Session`]) that validate the caller's cookie or
//! bearer token directly against DynamoDB, with exactly the rules of `GET /sessions/current`:
//! deadlines, revocation, replay and grace, sliding writes, renewal rotation with its
//! `Set-Cookie`, the CSRF check of cookie-authenticated unsafe requests. No HTTP hop: one
//! `GetItem` per request in steady state.
//!
//! At the level of the handlers: built on `session` (the operations) and `http` (parsing and
//! answers), never imported by a lower layer. Works under `lambda_http` (a tower service) and
//! in a long-running axum server alike.

mod extract;
mod layer;
mod migrate;

use chrono::Utc;
use lambda_http::http::{Extensions, HeaderMap, Method};
use tracing::instrument;

pub use extract::Session;
pub use layer::{GuardService, SessionLayer};
pub use migrate::{LegacySession, Migration, ResolveError, Resolving};

use crate::http::origin::check_csrf_in;
use crate::http::request::{check_unambiguous, client_info_in, optional_credential_in};
use crate::http::response::{add_security_headers, rotation_cookie};
use crate::http::{ApiError, HttpSettings, Transport};
use crate::session::SessionService;

/// Validates the session of each request: the session operations and the HTTP settings (the
/// cookie's name and attributes, the allowed origins) of the session API it guards for. Built
/// once per process (`SessionGuard::from_env` reads the same variables as the functions).
pub struct SessionGuard {
    sessions: SessionService,
    http: HttpSettings,
}

/// What the guard made of a request.
pub(crate) enum Verdict {
    /// A live session; `set_cookies` hand a cookie client its rotated (or new) token, and
    /// clear the legacy cookies of a migrated one.
    Admitted {
        session: Session,
        set_cookies: Vec<String>,
    },
    /// Neither a session cookie nor `Authorization`.
    Anonymous,
    /// The answer to send instead: 401 (with the clearing cookie or the bearer challenge),
    /// 400, 403 `csrf_rejected`, or 503 with `Retry-After` when the store failed.
    Refused(ApiError),
}

impl SessionGuard {
    /// A guard over these operations and HTTP settings.
    pub fn new(sessions: SessionService, http: HttpSettings) -> Self {
        Self { sessions, http }
    }

    /// The layer that requires a session: requests without one are answered 401 before they
    /// reach the service.
    pub fn layer(self) -> SessionLayer {
        SessionLayer::new(self)
    }

    /// Validates the session a request carries, as `GET /sessions/current` does.
    #[instrument(skip_all, fields(route = "guard"))]
    pub(crate) async fn check(
        &self,
        method: &Method,
        headers: &HeaderMap,
        extensions: &Extensions,
    ) -> Verdict {
        let credential = match check_unambiguous(headers, &self.http.cookie)
            .and_then(|()| optional_credential_in(headers, &self.http.cookie))
        {
            Ok(Some(credential)) => credential,
            Ok(None) => return Verdict::Anonymous,
            Err(error) => return Verdict::Refused(error),
        };
        let transport = credential.transport;
        if transport == Transport::Cookie
            && let Err(error) = check_csrf_in(method, headers, extensions, &self.http.origins)
        {
            return Verdict::Refused(error);
        }
        let validated = self
            .sessions
            .validate(
                credential.presented(&client_info_in(headers, extensions)),
                Utc::now(),
            )
            .await;
        match validated {
            Ok(current) => Verdict::Admitted {
                set_cookies: rotation_cookie(
                    &self.http.cookie,
                    &current,
                    transport,
                    self.sessions.cookie_max_age(&current.session, Utc::now()),
                )
                .into_iter()
                .collect(),
                session: Session::new(current.session),
            },
            Err(error) => Verdict::Refused(ApiError::from(error).for_transport(transport)),
        }
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub(crate) fn clearing_cookie(&self) -> String {
        self.http.cookie.clear()
    }

    /// The JSON error answer for `error`, with its cookie and headers.
    pub(crate) fn answer(&self, error: ApiError) -> lambda_http::Response<lambda_http::Body> {
        let mut response = error.into_response(&self.http.cookie);
        add_security_headers(&mut response, self.http.cookie.is_secure());
        response
    }
}
