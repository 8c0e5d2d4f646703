//! The session operations, on domain types and the store. Time comes in as `now`.

use chrono::{DateTime, Duration, Utc};
use tracing::{info, instrument, warn};

use crate::domain::{
    ClientInfo, Lifetimes, Session, SessionData, SessionId, SessionStatus, SessionToken,
};
use crate::identity::Identity;
use crate::store::{Extension, SessionStore, StoreError};

/// Why a presented token does not give a usable session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no session for this token")]
    NotFound,
    #[error("the session has expired")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("the operating system's random source failed")]
    Random(#[source] getrandom::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct SessionService {
    store: SessionStore,
    lifetimes: Lifetimes,
    ttl_margin: Duration,
}

impl SessionService {
    pub fn new(store: SessionStore, lifetimes: Lifetimes, ttl_margin: Duration) -> Self {
        Self {
            store,
            lifetimes,
            ttl_margin,
        }
    }

    pub fn lifetimes(&self) -> &Lifetimes {
        &self.lifetimes
    }

    /// Starts a new session for a proven identity. Always a fresh token: a token the client
    /// may already hold is never adopted.
    #[instrument(skip_all, fields(session_id))]
    pub async fn create(
        &self,
        identity: Identity,
        data: SessionData,
        client: ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<(SessionToken, Session), CreateError> {
        let token = SessionToken::generate().map_err(CreateError::Random)?;
        let session = Session::start(
            identity.user_id,
            identity.tenant_id,
            data,
            client,
            &self.lifetimes,
            now,
        );
        tracing::Span::current().record("session_id", tracing::field::display(session.id));
        self.store
            .create(
                &token.hash(),
                &session,
                session.ttl_epoch_seconds(self.ttl_margin),
            )
            .await?;
        info!(user_id = session.user_id.as_str(), "session created");
        Ok((token, session))
    }

    /// Who holds this token. One strongly consistent read; expiry judged here, since TTL
    /// deletes lazily. Writes only when enough of the idle window has passed (sliding).
    #[instrument(skip_all, fields(session_id))]
    pub async fn validate(
        &self,
        token: &SessionToken,
        now: DateTime<Utc>,
    ) -> Result<Session, SessionError> {
        let hash = token.hash();
        let session = self
            .store
            .load(&hash)
            .await?
            .ok_or(SessionError::NotFound)?;
        tracing::Span::current().record("session_id", tracing::field::display(session.id));
        check_active(&session, now)?;

        let Some(new_deadline) = self.lifetimes.slide(&session, now) else {
            return Ok(session);
        };
        match self.store.extend(&hash, new_deadline, now).await {
            Ok(Extension::Extended(extended)) => {
                info!("session extended");
                Ok(extended)
            }
            // A concurrent request extended it already: the session as it is now.
            Ok(Extension::Unchanged(Some(current))) => {
                check_active(&current, now)?;
                Ok(current)
            }
            // Logged out between our read and our write.
            Ok(Extension::Unchanged(None)) => Err(SessionError::NotFound),
            // The read proved the session valid; a failed extension must not sign the user
            // out. The next validate tries again.
            Err(error) => {
                warn!(error = %error, "sliding extension failed");
                Ok(session)
            }
        }
    }

    /// Extends the idle deadline to `now + idle` (never past the absolute deadline).
    /// One conditional write in the common case; a second one only when the absolute
    /// deadline caps the extension.
    #[instrument(skip_all, fields(session_id))]
    pub async fn refresh(
        &self,
        token: &SessionToken,
        now: DateTime<Utc>,
    ) -> Result<Session, SessionError> {
        let hash = token.hash();
        let wanted = now + self.lifetimes.idle();
        let current = match self.store.extend(&hash, wanted, now).await? {
            Extension::Extended(session) => return Ok(refreshed(session)),
            Extension::Unchanged(None) => return Err(SessionError::NotFound),
            Extension::Unchanged(Some(current)) => current,
        };
        tracing::Span::current().record("session_id", tracing::field::display(current.id));
        check_active(&current, now)?;
        let capped = self.lifetimes.extended_deadline(&current, now);
        if capped <= current.expires_at {
            // Already at (or past) what a refresh now would give: nothing to write.
            return Ok(current);
        }
        match self.store.extend(&hash, capped, now).await? {
            Extension::Extended(session) => Ok(refreshed(session)),
            Extension::Unchanged(Some(current)) => {
                check_active(&current, now)?;
                Ok(current)
            }
            Extension::Unchanged(None) => Err(SessionError::NotFound),
        }
    }

    /// Deletes the session server-side. Idempotent: `None` when there was nothing to delete.
    #[instrument(skip_all, fields(session_id))]
    pub async fn logout(&self, token: &SessionToken) -> Result<Option<SessionId>, StoreError> {
        let deleted = self.store.delete(&token.hash()).await?;
        if let Some(id) = deleted {
            tracing::Span::current().record("session_id", tracing::field::display(id));
            info!("session deleted");
        }
        Ok(deleted)
    }
}

fn refreshed(session: Session) -> Session {
    info!(session_id = %session.id, "session refreshed");
    session
}

fn check_active(session: &Session, now: DateTime<Utc>) -> Result<(), SessionError> {
    match session.status(now) {
        SessionStatus::Active => Ok(()),
        status => {
            info!(session_id = %session.id, ?status, "expired session presented");
            Err(SessionError::Expired)
        }
    }
}
