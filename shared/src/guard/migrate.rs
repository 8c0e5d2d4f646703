//! Bringing signed-in users of an app's former session system over without signing anyone out
//! ([`Migration`], `SessionLayer::migrate`): a request that carries no session of the service
//! but one of the legacy cookies is resolved by the app, and the user it names is signed in, in
//! process, on this very request: a new session (cookie set, legacy cookies cleared), `amr`
//! ending in `legacy`.
//!
//! Parallel requests with one legacy cookie end in one session, as with the Node guards: the
//! sign-in is a single-use ticket named by a hash of the legacy cookie, resumable with a key
//! derived from it, so every request within the rotation grace gets the session the first one
//! made, and later ones none.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use cookie::Cookie;
use lambda_http::http::{Extensions, HeaderMap, header};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Session, SessionGuard};
use crate::domain::{
    Authentication, LEGACY_METHOD, ResumeKey, SessionData, TenantId, TicketUse, Transport, UserId,
};
use crate::http::ApiError;
use crate::http::request::client_info_in;
use crate::identity::Identity;
use crate::session::Start;

/// Who a legacy session belongs to, as the app's former session system says.
#[derive(Debug, Clone, Default)]
pub struct LegacySession {
    /// The user.
    pub user_id: String,
    /// The tenant, if the app has them.
    pub tenant_id: Option<String>,
    /// Carried into the new session's data (a JSON object).
    pub data: Option<Value>,
    /// The lifetime profile to sign in under (`SESSION_PROFILES`).
    pub profile: Option<String>,
    /// When the user signed in to the former system (default: now).
    pub authenticated_at: Option<DateTime<Utc>>,
    /// How they signed in; `legacy` is appended.
    pub amr: Vec<String>,
}

/// Why the former session system could not say (its store is down): the request is answered
/// 503, nothing is cleared.
pub type ResolveError = Box<dyn std::error::Error + Send + Sync>;

/// What [`Migration::new`]'s `resolve` returns: the legacy session of a request's headers, if
/// the former system knows it.
pub type Resolving =
    Pin<Box<dyn Future<Output = Result<Option<LegacySession>, ResolveError>> + Send>>;

type Resolve = Arc<dyn Fn(HeaderMap) -> Resolving + Send + Sync>;
type OnMigrated =
    Arc<dyn Fn(HeaderMap, Session) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// How a guard brings legacy sessions over (see the module).
#[derive(Clone)]
pub struct Migration {
    issuer: String,
    cookies: Vec<String>,
    resolve: Resolve,
    on_migrated: Option<OnMigrated>,
    cookie_path: String,
    cookie_domain: Option<String>,
}

impl Migration {
    /// Exchanges the legacy cookies named `cookies` for sessions of users of `issuer` (the
    /// service's `AUTH_JWT_ISSUER`, so that they are the users its sign-ins know), asking
    /// `resolve` whom a request's legacy cookie belongs to.
    pub fn new<F>(issuer: impl Into<String>, cookies: &[&str], resolve: F) -> Self
    where
        F: Fn(HeaderMap) -> Resolving + Send + Sync + 'static,
    {
        Self {
            issuer: issuer.into(),
            cookies: cookies.iter().map(|c| (*c).to_owned()).collect(),
            resolve: Arc::new(resolve),
            on_migrated: None,
            cookie_path: "/".to_owned(),
            cookie_domain: None,
        }
    }

    /// Called once a request is signed in: end the old session here. It may run more than once
    /// for one legacy session (parallel requests).
    pub fn on_migrated<F, Fut>(mut self, on_migrated: F) -> Self
    where
        F: Fn(HeaderMap, Session) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_migrated = Some(Arc::new(move |headers, session| {
            Box::pin(on_migrated(headers, session))
        }));
        self
    }

    /// The `Path` and `Domain` the legacy cookies were set with (default `/`, none), to clear
    /// them.
    pub fn cookie_scope(mut self, path: impl Into<String>, domain: Option<String>) -> Self {
        self.cookie_path = path.into();
        self.cookie_domain = domain;
        self
    }

    /// The `name=value` of the first legacy cookie the request carries.
    fn legacy_cookie(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|text| Cookie::split_parse(text).flatten())
            .find(|c| !c.value().is_empty() && self.cookies.iter().any(|n| n == c.name()))
            .map(|c| format!("{}={}", c.name(), c.value()))
    }

    /// `Set-Cookie` values removing every legacy cookie where it was set.
    fn clearing(&self) -> Vec<String> {
        self.cookies
            .iter()
            .map(|name| {
                let mut cookie = Cookie::build((name.clone(), ""))
                    .path(self.cookie_path.clone())
                    .max_age(cookie::time::Duration::ZERO)
                    .expires(cookie::time::OffsetDateTime::UNIX_EPOCH)
                    .build();
                if let Some(domain) = &self.cookie_domain {
                    cookie.set_domain(domain.clone());
                }
                cookie.to_string()
            })
            .collect()
    }
}

/// What an exchange came to.
pub(crate) enum Exchange {
    /// No legacy cookie, or one the app does not know, or one exchanged before: signed out as
    /// usual.
    None,
    /// Signed in: the session, and the cookies to set (the session's, the legacy ones cleared).
    Admitted(Session, Vec<String>),
    /// The service's own answer (a refused profile), or 503 when the former system is down.
    Refused(ApiError),
}

impl SessionGuard {
    /// Exchanges the legacy session a request carries, if any, for a session of the service.
    pub(crate) async fn exchange(
        &self,
        migration: &Migration,
        headers: &HeaderMap,
        extensions: &Extensions,
    ) -> Exchange {
        let Some(legacy_cookie) = migration.legacy_cookie(headers) else {
            return Exchange::None;
        };
        let legacy = match (migration.resolve)(headers.clone()).await {
            Ok(Some(legacy)) => legacy,
            Ok(None) => return Exchange::None,
            Err(error) => {
                tracing::warn!(error = %error, "the former session system did not answer");
                return Exchange::Refused(ApiError::service_unavailable());
            }
        };
        let now = Utc::now();
        let identity = match identity_of(migration, &legacy, &legacy_cookie, now) {
            Ok(identity) => identity,
            Err(error) => return Exchange::Refused(error),
        };
        let data = match legacy.data {
            None => SessionData::default(),
            Some(value) => match SessionData::parse(value, self.http.max_data_bytes) {
                Ok(data) => data,
                Err(error) => return Exchange::Refused(error.into()),
            },
        };
        let start = Start {
            data,
            client: client_info_in(headers, extensions),
            transport: Transport::Cookie,
            profile: legacy.profile,
            resume: Some(resume_key(&legacy_cookie)),
            guest: None,
        };
        match self.sessions.create(identity, start, now).await {
            Ok((token, session)) => {
                let mut cookies = vec![self.http.cookie.issue(
                    token.expose_secret(),
                    self.sessions.cookie_max_age(&session, session.created_at),
                )];
                cookies.extend(migration.clearing());
                let session = Session::new(session);
                if let Some(on_migrated) = &migration.on_migrated {
                    on_migrated(headers.clone(), session.clone()).await;
                }
                Exchange::Admitted(session, cookies)
            }
            Err(crate::session::CreateError::TicketReused) => Exchange::None,
            Err(error) => Exchange::Refused(error.into()),
        }
    }
}

/// The identity a legacy session proves: its user, under the service's issuer, with the
/// former system's proof and `legacy` appended, by a single-use ticket named by the legacy
/// cookie's hash (never the cookie).
fn identity_of(
    migration: &Migration,
    legacy: &LegacySession,
    legacy_cookie: &str,
    now: DateTime<Utc>,
) -> Result<Identity, ApiError> {
    let user_id = UserId::parse(&legacy.user_id)
        .map_err(|e| ApiError::invalid_request(format!("the legacy session's user: {e}")))?;
    let tenant_id = legacy
        .tenant_id
        .as_deref()
        .map(TenantId::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_request(format!("the legacy session's tenant: {e}")))?;
    let mut authentication = Authentication::at(legacy.authenticated_at.unwrap_or(now).min(now));
    authentication.methods = legacy
        .amr
        .iter()
        .filter(|m| *m != LEGACY_METHOD)
        .cloned()
        .chain([LEGACY_METHOD.to_owned()])
        .collect();
    let jti = format!("legacy:{}", digest(b"", legacy_cookie));
    Ok(Identity {
        user_id,
        tenant_id,
        issuer: Some(migration.issuer.clone()),
        authentication: Some(authentication),
        ticket: Some(TicketUse::of_jti(&migration.issuer, &jti, now)),
        allowed_profiles: None,
        actor: None,
        provider_sid: None,
    })
}

/// The resume key of a legacy cookie's exchange: only a holder of the cookie can derive it.
fn resume_key(legacy_cookie: &str) -> ResumeKey {
    ResumeKey::parse(&digest(b"session-service/legacy-resume\0", legacy_cookie))
        .unwrap_or_else(|_| unreachable!("a SHA-256 in base64url is a key's shape"))
}

fn digest(salt: &[u8], text: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(salt);
    hash.update(text.as_bytes());
    URL_SAFE_NO_PAD.encode(hash.finalize())
}
