//! The tower layer: validates each request's session before the inner service runs, answers
//! refusals itself, and passes a rotated cookie back on the inner service's response.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lambda_http::http::{HeaderValue, Request, Response, header};
use tower_layer::Layer;
use tower_service::Service;

use super::migrate::{Exchange, Migration};
use super::{Session, SessionGuard, Verdict};
use crate::domain::{Freshness, ImpersonationForbidden, Restricted};

/// Marks a request the guard has seen, so the extractor can tell "no session" (401) from "no
/// guard installed" (a bug: 500).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardRan;

/// A tower layer that validates the session of every request (see [`SessionGuard`]).
///
/// By default a session is required: a request without one gets the session API's JSON 401
/// (clearing a dead cookie, or a bearer challenge) and never reaches the service.
/// [`SessionLayer::optional`] lets anonymous requests through instead. Either way a store
/// failure is 503 with `Retry-After` and never signs anyone out, and a cookie-authenticated
/// `POST`/`PUT`/`PATCH`/`DELETE` must come from an allowed origin (403 `csrf_rejected`).
#[derive(Clone)]
pub struct SessionLayer {
    guard: Arc<SessionGuard>,
    optional: bool,
    max_auth_age: Option<chrono::Duration>,
    migration: Option<Arc<Migration>>,
    allow_guests: bool,
}

impl SessionLayer {
    /// A layer that requires a session.
    pub fn new(guard: SessionGuard) -> Self {
        Self {
            guard: Arc::new(guard),
            optional: false,
            max_auth_age: None,
            migration: None,
            allow_guests: false,
        }
    }

    /// Lets guest sessions (`POST /sessions/guest`: a visitor who has not signed in) through;
    /// the service sees `session.guest`. Without it a guest gets 403 `guest_forbidden` (or,
    /// under [`SessionLayer::optional`], goes through as anonymous).
    pub fn allow_guests(mut self) -> Self {
        self.allow_guests = true;
        self
    }

    /// Signs in, on this very request, a user who carries a session of the app's former
    /// session system instead of one of the service (see [`Migration`]).
    pub fn migrate(mut self, migration: Migration) -> Self {
        self.migration = Some(Arc::new(migration));
        self
    }

    /// For routes that need a recent proof of identity: a session whose user authenticated
    /// longer than `max_age` ago gets 401 `reauthentication_required`, which keeps the session
    /// and its cookie (`POST /sessions/current/reauth` renews the proof).
    pub fn max_auth_age(mut self, max_age: std::time::Duration) -> Self {
        self.max_auth_age = chrono::Duration::from_std(max_age).ok();
        self
    }

    /// Lets requests without a valid session through to the service, which sees no
    /// [`Session`] (axum: extract `Option<Session>`). A dead cookie is still cleared.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> GuardService<S> {
        GuardService {
            inner,
            guard: Arc::clone(&self.guard),
            optional: self.optional,
            max_auth_age: self.max_auth_age,
            migration: self.migration.clone(),
            allow_guests: self.allow_guests,
        }
    }
}

/// The service [`SessionLayer`] wraps around another.
#[derive(Clone)]
pub struct GuardService<S> {
    inner: S,
    guard: Arc<SessionGuard>,
    optional: bool,
    max_auth_age: Option<chrono::Duration>,
    migration: Option<Arc<Migration>>,
    allow_guests: bool,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GuardService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The clone that was made ready is the one that runs (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = Arc::clone(&self.guard);
        let optional = self.optional;
        let max_auth_age = self.max_auth_age;
        let migration = self.migration.clone();
        let allow_guests = self.allow_guests;
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let mut verdict = guard
                .check(&parts.method, &parts.headers, &parts.extensions)
                .await;
            // No session of the service: perhaps one of the former session system.
            let signed_out = match &verdict {
                Verdict::Anonymous => true,
                Verdict::Refused(error) => error.is_unauthorized(),
                Verdict::Admitted { .. } => false,
            };
            if signed_out && let Some(migration) = &migration {
                match guard
                    .exchange(migration, &parts.headers, &parts.extensions)
                    .await
                {
                    Exchange::None => {}
                    Exchange::Admitted(session, set_cookies) => {
                        verdict = Verdict::Admitted {
                            session,
                            set_cookies,
                        };
                    }
                    Exchange::Refused(error) => verdict = Verdict::Refused(error),
                }
            }
            parts.extensions.insert(GuardRan);
            let set_cookies = match verdict {
                // A guest where guests are not let in: anonymous where that is allowed.
                Verdict::Admitted {
                    session,
                    set_cookies,
                } if session.guest && !allow_guests => {
                    if !optional {
                        let mut answer =
                            into_body(guard.answer(crate::http::ApiError::guest_forbidden()));
                        append_cookies(&mut answer, set_cookies);
                        return Ok(answer);
                    }
                    set_cookies
                }
                Verdict::Admitted {
                    session,
                    set_cookies,
                } => {
                    let refused = match max_auth_age
                        .map(|age| session.freshness(age, chrono::Utc::now()))
                    {
                        None | Some(Freshness::Fresh) => None,
                        Some(Freshness::Stale) => {
                            Some(crate::http::ApiError::reauthentication_required())
                        }
                        // An impersonation session never passes the user's own freshness check.
                        Some(Freshness::Impersonated) => {
                            Some(ImpersonationForbidden(Restricted::FreshAuthentication).into())
                        }
                        Some(Freshness::Guest) => Some(crate::http::ApiError::guest_forbidden()),
                    };
                    if let Some(error) = refused {
                        let mut answer = into_body(guard.answer(error));
                        append_cookies(&mut answer, set_cookies);
                        return Ok(answer);
                    }
                    parts.extensions.insert::<Session>(session);
                    set_cookies
                }
                Verdict::Anonymous if optional => Vec::new(),
                Verdict::Refused(error) if optional && error.is_unauthorized() => error
                    .clears_cookie()
                    .then(|| guard.clearing_cookie())
                    .into_iter()
                    .collect(),
                Verdict::Anonymous => {
                    let error = crate::http::ApiError::unauthenticated();
                    return Ok(into_body(guard.answer(error)));
                }
                Verdict::Refused(error) => return Ok(into_body(guard.answer(error))),
            };
            let mut response = inner.call(Request::from_parts(parts, body)).await?;
            append_cookies(&mut response, set_cookies);
            Ok(response)
        })
    }
}

/// Adds each of `cookies` as a `Set-Cookie` of `response`.
fn append_cookies<B>(response: &mut Response<B>, cookies: Vec<String>) {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

/// A JSON answer of the session API with the body type of the guarded service.
pub(crate) fn into_body<B: From<String>>(response: Response<lambda_http::Body>) -> Response<B> {
    let (parts, body) = response.into_parts();
    let text = String::from_utf8_lossy(body.as_ref()).into_owned();
    Response::from_parts(parts, B::from(text))
}
