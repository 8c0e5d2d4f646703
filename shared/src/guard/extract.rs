//! The session a guarded request carries: put in the request's extensions by the layer, taken
//! out by handlers (`req.extensions().get::<Session>()` under `lambda_http`, or the axum
//! extractor: `Session` where a session is required, `Option<Session>` where it is optional).

use std::ops::Deref;
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use lambda_http::http::request::Parts;

use super::layer::{GuardRan, into_body};
use crate::domain;
use crate::http::{ApiError, SessionBody};

/// The caller's validated session. Cheap to clone; dereferences to the domain session
/// (`user_id`, `tenant_id`, `data`, deadlines). Carries no token.
#[derive(Debug, Clone)]
pub struct Session(Arc<domain::Session>);

impl Session {
    pub(crate) fn new(session: domain::Session) -> Self {
        Self(Arc::new(session))
    }

    /// The session JSON of `GET /sessions/current`, to answer with or to log.
    pub fn body(&self) -> SessionBody<'_> {
        SessionBody::of(&self.0)
    }
}

impl Deref for Session {
    type Target = domain::Session;

    fn deref(&self) -> &domain::Session {
        &self.0
    }
}

/// Why a handler got no session: the caller has none (401, as the session API answers), or the
/// guard layer is not installed in front of the handler (500: a bug in the service, logged).
#[derive(Debug)]
pub struct SessionRejection(ApiError);

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        into_body(self.0.into_plain_response())
    }
}

fn guarded(parts: &Parts) -> Result<Option<Session>, SessionRejection> {
    if parts.extensions.get::<GuardRan>().is_none() {
        tracing::error!("no session guard in front of this handler: add SessionLayer");
        return Err(SessionRejection(ApiError::internal()));
    }
    Ok(parts.extensions.get::<Session>().cloned())
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        guarded(parts)?.ok_or_else(|| SessionRejection(ApiError::unauthenticated()))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        guarded(parts)
    }
}
