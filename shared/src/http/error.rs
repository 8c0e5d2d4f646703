//! [`ApiError`]: the only place errors become HTTP statuses and JSON bodies
//! (`{"error": {"code", "message"}}`). Logs the full chain of a 5xx and sends a generic message.

use std::error::Error as StdError;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use super::Transport;
use super::cookies::{ConflictingCookies, CookiePolicy};
use super::response::json_response;
use crate::domain::{
    DataError, ImpersonationForbidden, ResumeKey, RevocationReason, TokenFormatError,
};
use crate::identity::{IdentityError, LogoutTokenError};
use crate::metrics::Metric;
use crate::session::{CreateError, GuestError, ProviderLogoutError, SessionError, UpdateError};
use crate::store::StoreError;

/// An error answer: status, stable snake_case code, message for the caller, and what else the
/// response must carry (a clearing cookie, `WWW-Authenticate`, `Retry-After`, `Allow`).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    clear_cookie: bool,
    bearer_challenge: bool,
    retry_after_seconds: Option<u32>,
    allow: Option<&'static str>,
    /// The key that finishes an interrupted sign-in (a 503 of `POST /sessions` only).
    resume: Option<ResumeKey>,
    /// Answered as OAuth 2.0 errors are (`{"error": code, "error_description": message}`):
    /// the identity provider's back-channel logout, whose specification says so.
    oauth: bool,
}

#[derive(Serialize)]
struct OAuthErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    resume: Option<&'a str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            clear_cookie: false,
            bearer_challenge: false,
            retry_after_seconds: None,
            allow: None,
            oauth: false,
            resume: None,
        }
    }

    /// 401 `unauthenticated`: no session credential.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "no session: sign in first",
        )
    }

    /// 401 `invalid_token`: a credential that cannot be a session token.
    pub fn invalid_token(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", message)
    }

    /// 401 `ticket_reused`: a login ticket presented a second time.
    pub fn ticket_reused(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "ticket_reused", message)
    }

    /// 429 `rate_limited`, with `Retry-After`: too many guest sessions from this client.
    pub fn rate_limited(message: impl Into<String>, retry_after: chrono::Duration) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        e.retry_after_seconds =
            Some(u32::try_from(retry_after.num_seconds().max(1)).unwrap_or(u32::MAX));
        e
    }

    /// 403 `guest_forbidden`: a guest session asked for what only a signed-in user may.
    pub fn guest_forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "guest_forbidden",
            "a guest session may not use this route: sign in first",
        )
    }

    /// 403 `protected_data`: the session holder tried to set or remove a server-only key.
    pub fn protected_data(key: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "protected_data",
            format!("the data key {key:?} is set by the server only"),
        )
    }

    /// 400 `invalid_request` in the OAuth 2.0 shape (Back-Channel Logout 1.0, section 2.8): a
    /// logout token, or its request, that the identity provider must not send again as it is.
    pub fn logout_refused(description: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::BAD_REQUEST, "invalid_request", description);
        error.oauth = true;
        error
    }

    /// 403 `impersonation_forbidden`: an impersonation session asked for what only the user
    /// may do. The session and its cookie stay.
    pub fn impersonation_forbidden(refused: ImpersonationForbidden) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "impersonation_forbidden",
            refused.to_string(),
        )
    }

    /// 401 `reauthentication_required`: the session is fine, but the user's last proof of
    /// identity is older than the caller asked for. Neither ends the session nor clears the
    /// cookie.
    pub fn reauthentication_required() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "reauthentication_required",
            "the last sign-in is older than this action allows: authenticate again",
        )
    }

    /// 401 `session_expired`.
    pub fn session_expired() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "session_expired",
            "the session has expired: sign in again",
        )
    }

    /// 401 `session_revoked`, saying why.
    pub fn session_revoked(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "session_revoked", message)
    }

    /// 401 `session_evicted`: ended by the per-user cap.
    pub fn session_evicted() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "session_evicted",
            "this session was ended because the account signed in on more devices than allowed",
        )
    }

    /// 403 `csrf_rejected`: a cookie request from an origin not allowed.
    pub fn csrf_rejected(message: impl Into<String>) -> Self {
        crate::metrics::count(Metric::CsrfRefused, 1);
        Self::new(StatusCode::FORBIDDEN, "csrf_rejected", message)
    }

    /// 403 `origin_not_allowed`: a CORS preflight from an origin not allowed.
    pub fn origin_not_allowed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this origin is not allowed to call this API",
        )
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 415 `unsupported_media_type`: the body must be JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        )
    }

    /// 431 `headers_too_large`.
    pub fn headers_too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            message,
        )
    }

    /// 404 `session_not_found`.
    pub fn session_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "session_not_found",
            "you have no active session with this id",
        )
    }

    /// 412 `precondition_failed`, naming the current data version.
    pub fn precondition_failed(current: u64) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            format!(
                "the session data changed since you read it: it is at version {current}; \
                 read it again and re-apply your change"
            ),
        )
    }

    /// 404 `not_found`: no such route.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    /// 405 `method_not_allowed`, with `Allow`.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this route accepts {allow}"),
        );
        e.allow = Some(allow);
        e
    }

    /// 400 `unknown_audience`: no session token is minted for an audience that is not
    /// configured.
    pub fn unknown_audience(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unknown_audience", message)
    }

    /// 503 `service_unavailable` with `Retry-After`.
    pub fn service_unavailable() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "the session store is unavailable: retry shortly",
        );
        e.retry_after_seconds = Some(1);
        e
    }

    /// 500 `internal`.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an internal error occurred",
        )
    }

    /// Replaces the default message with a more specific one.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The credential came from the cookie: tell the browser to drop it.
    pub fn clearing_cookie(mut self) -> Self {
        self.clear_cookie = true;
        self
    }

    /// The credential came as `Authorization: Bearer`: answer with a bearer challenge.
    pub fn with_bearer_challenge(mut self) -> Self {
        self.bearer_challenge = true;
        self
    }

    /// Marks an authentication failure according to how the token came: a cookie is cleared,
    /// a bearer client gets a challenge.
    pub fn for_transport(self, transport: Transport) -> Self {
        match transport {
            Transport::Cookie if self.is_unauthorized() => self.clearing_cookie(),
            Transport::Bearer => self.with_bearer_challenge(),
            Transport::Cookie => self,
        }
    }

    /// Whether the answer clears the session cookie.
    pub fn clears_cookie(&self) -> bool {
        self.clear_cookie
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// A 401.
    pub fn is_unauthorized(&self) -> bool {
        self.status == StatusCode::UNAUTHORIZED
    }

    /// Logs a backend failure with its whole source chain; the caller only sees the generic
    /// message. Client mistakes are not logged as errors.
    fn from_backend(error: &(dyn StdError + 'static), transient: bool) -> Self {
        let mut chain = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        if transient {
            tracing::warn!(error = %chain, "backend unavailable");
            Self::service_unavailable()
        } else {
            tracing::error!(error = %chain, "backend failure");
            Self::internal()
        }
    }

    /// The answer without the cookie handling (for functions that do not own the cookie).
    pub fn into_plain_response(self) -> Response<Body> {
        self.respond(None)
    }

    /// The JSON error response, with the headers and cookie it must carry.
    pub fn into_response(self, cookies: &CookiePolicy) -> Response<Body> {
        self.respond(Some(cookies))
    }

    fn respond(self, cookies: Option<&CookiePolicy>) -> Response<Body> {
        let mut response = if self.oauth {
            let body = OAuthErrorBody {
                error: self.code,
                error_description: &self.message,
            };
            json_response(self.status, &body)
        } else {
            let body = ErrorBody {
                error: ErrorDetail {
                    code: self.code,
                    message: &self.message,
                    resume: self.resume.as_ref().map(ResumeKey::expose_secret),
                },
            };
            json_response(self.status, &body)
        };
        let headers = response.headers_mut();
        if self.clear_cookie
            && let Some(cookies) = cookies
            && let Ok(v) = HeaderValue::from_str(&cookies.clear())
        {
            headers.append(header::SET_COOKIE, v);
        }
        if self.bearer_challenge && self.status == StatusCode::UNAUTHORIZED {
            let challenge = format!(
                r#"Bearer error="invalid_token", error_description="{}""#,
                self.code
            );
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        if let Some(seconds) = self.retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let transient = error.is_transient();
        if transient {
            crate::metrics::count(Metric::UnavailableStore, 1);
        }
        Self::from_backend(&error, transient)
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::NotFound => {
                Self::invalid_token("the session does not exist or was signed out")
            }
            SessionError::Expired => Self::session_expired(),
            wrong @ SessionError::WrongTransport => Self::invalid_token(wrong.to_string()),
            other @ SessionError::OtherUser => Self::new(
                StatusCode::FORBIDDEN,
                "reauth_user_mismatch",
                other.to_string(),
            ),
            reused @ SessionError::TicketReused => Self::ticket_reused(reused.to_string()),
            SessionError::Forbidden(refused) => Self::impersonation_forbidden(refused),
            SessionError::Revoked(RevocationReason::Evicted) => Self::session_evicted(),
            SessionError::Revoked(RevocationReason::Replay) => Self::session_revoked(
                "this session was revoked: an old copy of its token was used again; sign in again",
            ),
            SessionError::Revoked(RevocationReason::Anomaly) => Self::session_revoked(
                "this session was revoked: it was used from a different client; sign in again",
            ),
            SessionError::Revoked(RevocationReason::IdpLogout) => Self::session_revoked(
                "this session was ended: you signed out at your identity provider; sign in again",
            ),
            SessionError::Revoked(RevocationReason::Upgraded) => Self::session_revoked(
                "this guest session ended when its visitor signed in: use the signed-in session",
            ),
            SessionError::Revoked(RevocationReason::Revoked) => {
                Self::session_revoked("this session was revoked: sign in again")
            }
            SessionError::Store(e) => e.into(),
            seal @ SessionError::Seal(_) => Self::from_backend(&seal, false),
        }
    }
}

impl From<GuestError> for ApiError {
    fn from(error: GuestError) -> Self {
        match error {
            limited @ GuestError::Limited { retry_after } => {
                Self::rate_limited(limited.to_string(), retry_after)
            }
            random @ GuestError::Random(_) => Self::from_backend(&random, false),
            GuestError::Store(e) => e.into(),
        }
    }
}

impl From<LogoutTokenError> for ApiError {
    fn from(error: LogoutTokenError) -> Self {
        match error {
            // The provider's own keys could not be fetched: not the token's fault (503).
            LogoutTokenError::Token(IdentityError::KeysUnavailable) => {
                IdentityError::KeysUnavailable.into()
            }
            refused => {
                tracing::info!(reason = %refused, "back-channel logout refused");
                Self::logout_refused(refused.to_string())
            }
        }
    }
}

impl From<ProviderLogoutError> for ApiError {
    fn from(error: ProviderLogoutError) -> Self {
        match error {
            replayed @ ProviderLogoutError::Replayed => Self::logout_refused(replayed.to_string()),
            ProviderLogoutError::Store(e) => e.into(),
            seal @ ProviderLogoutError::Seal(_) => Self::from_backend(&seal, false),
        }
    }
}

impl From<ImpersonationForbidden> for ApiError {
    fn from(refused: ImpersonationForbidden) -> Self {
        Self::impersonation_forbidden(refused)
    }
}

impl From<CreateError> for ApiError {
    fn from(error: CreateError) -> Self {
        match error {
            CreateError::Store(e) => e.into(),
            // Whether the sign-in was recorded is unknown: the same ticket with this key
            // finishes it (and gets the session if it was).
            CreateError::Interrupted { resume, error } => {
                let mut e = Self::from(error).with_message(
                    "the session store did not answer in time: retry with the same ticket and \
                     this resume key",
                );
                e.resume = Some(resume);
                e
            }
            seal @ CreateError::Seal(_) => Self::from_backend(&seal, false),
            reused @ CreateError::TicketReused => Self::ticket_reused(reused.to_string()),
            CreateError::GuestData(error) => error.into(),
            unknown @ CreateError::UnknownImpersonationTicket => {
                Self::invalid_token(unknown.to_string())
            }
            named @ CreateError::ImpersonationProfile => Self::new(
                StatusCode::FORBIDDEN,
                "profile_not_allowed",
                named.to_string(),
            ),
            bare @ CreateError::LegacyWithoutJti => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_token", bare.to_string())
            }
            unknown @ CreateError::UnknownProfile(_) => Self::new(
                StatusCode::BAD_REQUEST,
                "unknown_profile",
                unknown.to_string(),
            ),
            refused @ CreateError::ProfileNotAllowed(_) => Self::new(
                StatusCode::FORBIDDEN,
                "profile_not_allowed",
                refused.to_string(),
            ),
            random @ CreateError::Random(_) => Self::from_backend(&random, false),
        }
    }
}

impl From<IdentityError> for ApiError {
    fn from(error: IdentityError) -> Self {
        match error {
            // The identity provider's keys could not be fetched: retry later.
            IdentityError::KeysUnavailable => {
                crate::metrics::count(Metric::UnavailableIdentityKeys, 1);
                Self::service_unavailable()
                    .with_message("the identity provider's keys are unavailable: retry shortly")
            }
            other => Self::invalid_token(other.to_string()),
        }
    }
}

impl From<TokenFormatError> for ApiError {
    fn from(error: TokenFormatError) -> Self {
        Self::invalid_token(format!("malformed session token: {error}"))
    }
}

impl From<ConflictingCookies> for ApiError {
    fn from(error: ConflictingCookies) -> Self {
        Self::invalid_request(error.to_string())
    }
}

impl From<DataError> for ApiError {
    fn from(error: DataError) -> Self {
        match error {
            DataError::TooLarge { .. } => Self::payload_too_large(error.to_string()),
            DataError::NotAnObject | DataError::ForbiddenKey(_) => {
                Self::invalid_request(error.to_string())
            }
        }
    }
}

impl From<UpdateError> for ApiError {
    fn from(error: UpdateError) -> Self {
        match error {
            UpdateError::Session(e) => e.into(),
            UpdateError::VersionMismatch { current } => Self::precondition_failed(current),
            UpdateError::Data(e) => e.into(),
        }
    }
}
