//! Validate: who holds this token. In steady state one strongly consistent read and no write;
//! writes only when the idle window is half used (sliding), when the client changed (IP / user
//! agent events, or a revocation under the `reject` policy), or when the renewal interval has
//! passed (a rotation). Admitting the token is `admission`'s.

use chrono::{DateTime, Utc};
use tracing::{instrument, warn};

use super::rotation::RotationTrigger;
use super::{Current, SessionError, SessionService};
use crate::domain::{
    AuditEvent, EventKind, Presented, TokenRecord, Transport, Use, at_storage_precision,
};
use crate::metrics::Metric;
use crate::store::Write;

impl SessionService {
    /// Who holds this token. In steady state one strongly consistent read and no write;
    /// expiry judged here, since TTL deletes lazily. Writes when the idle window is half used
    /// (sliding), when the client changed (IP / user agent events), or, if `may_rotate`
    /// (cookie clients, which pick up a new cookie by themselves), when the renewal interval
    /// has passed.
    #[instrument(skip_all, fields(session_id))]
    pub async fn validate(
        &self,
        presented: Presented<'_>,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        counted(
            self.checked(presented, presented.transport == Transport::Cookie, now)
                .await,
        )
    }

    /// [`Self::validate`] for callers that cannot hand a new cookie to the browser (the
    /// authorizer): never rotates.
    pub async fn validate_without_rotation(
        &self,
        presented: Presented<'_>,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        counted(self.checked(presented, false, now).await)
    }

    async fn checked(
        &self,
        presented: Presented<'_>,
        may_rotate: bool,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        let client = presented.client;
        let now = at_storage_precision(now);
        let (head, mut events) = self.admit(presented, now).await?;

        let profile = self.policy.profiles.of(&head.session);
        if may_rotate
            && profile
                .rotate_after
                .is_some_and(|after| head.session.is_renewal_due(after, now))
        {
            // Boxed: a rare path whose future would otherwise make every validate's as large.
            return Box::pin(self.rotate(
                head,
                client,
                RotationTrigger::Renewal,
                events,
                None,
                now,
            ))
            .await;
        }
        let extend_to = profile.lifetimes.slide(&head.session, now);
        if let Some(deadline) = extend_to {
            events.push(
                AuditEvent::of(EventKind::Refreshed, &head.session, client, now)
                    .with("expires_at", deadline.to_rfc3339()),
            );
        } else if events.is_empty() {
            return Ok(head.into_current());
        }
        let used = Use {
            at: now,
            client,
            extend_to,
            // The events record a client change: the interval of the next one starts now.
            client_event: events.iter().any(|e| e.kind.is_client_change()),
        };
        let written = self
            .store
            .touch(&head.token.hash(), head.session.version, &used)
            .await;
        match written {
            Ok(Write::Done) => {
                events.iter().for_each(AuditEvent::log);
                // The session as written: the same change in memory, nothing re-read.
                Ok(Current {
                    session: head.session.used(&used),
                    new_token: head.switched.then_some(head.token),
                })
            }
            // A concurrent request wrote first: the session as it is now, if still live.
            Ok(Write::Stale(Some(TokenRecord::Active(current)))) => {
                self.check_usable(&current, client, now)?;
                Ok(Current {
                    session: current,
                    new_token: head.switched.then_some(head.token),
                })
            }
            // Rotated by a concurrent request: the presented token is in its grace window.
            Ok(Write::Stale(Some(TokenRecord::Retired(_)))) | Ok(Write::Contended) => {
                Ok(head.into_current())
            }
            Ok(Write::Stale(Some(TokenRecord::Revoked(r)))) => Err(SessionError::Revoked(r.reason)),
            // Signed out between our read and our write.
            Ok(Write::Stale(None)) => Err(SessionError::NotFound),
            // The read proved the session valid; a failed bookkeeping write must not sign the
            // user out. The next validate tries again.
            Err(error) => {
                warn!(error = %error, "session write on validate failed");
                Ok(head.into_current())
            }
        }
    }
}

/// A validation's outcome, counted in the invocation's metrics (an expiry and a replay are
/// counted where they are found, with their log line).
fn counted(result: Result<Current, SessionError>) -> Result<Current, SessionError> {
    match &result {
        Ok(_) => crate::metrics::count(Metric::Validations, 1),
        Err(SessionError::Revoked(_) | SessionError::NotFound) => {
            crate::metrics::count(Metric::ValidationsRevoked, 1);
        }
        Err(_) => {}
    }
    result
}
