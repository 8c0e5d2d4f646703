//! Rotation: refresh, renewal and re-authentication. Following a presented token through its
//! lineage, and replay detection, are `admission`'s.

use chrono::{DateTime, Utc};
use tracing::{instrument, warn};

use super::create::Claim;
use super::retry::{MAX_WRITE_ATTEMPTS, Retries};
use super::{Current, Head, SessionError, SessionService};
use crate::domain::{
    AuditEvent, Authentication, ClientInfo, EventKind, Presented, ResumeKey, SealError,
    SealedSuccessor, SessionToken, TicketUse, UserKey, at_storage_precision,
};
use crate::store::{Rotation, Write};

/// Why a token is being replaced.
#[derive(Debug, Clone, Copy)]
pub(super) enum RotationTrigger {
    /// `POST /sessions/current/refresh`.
    Refresh,
    /// The renewal interval passed during a validate.
    Renewal,
    /// The user proved who they are again (`POST /sessions/current/reauth`).
    Reauthentication,
}

impl RotationTrigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Refresh => "refresh",
            Self::Renewal => "renewal",
            Self::Reauthentication => "reauthentication",
        }
    }
}

impl SessionService {
    /// Replaces the token: a new head with a fresh idle window (never past the absolute
    /// deadline), the old token retired with the new one sealed under it. Concurrent refreshes
    /// with the same token all get the same successor.
    #[instrument(skip_all, fields(session_id))]
    pub async fn refresh(
        &self,
        presented: Presented<'_>,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        self.rotate_presented(presented, RotationTrigger::Refresh, now)
            .await
    }

    async fn rotate_presented(
        &self,
        presented: Presented<'_>,
        trigger: RotationTrigger,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        let client = presented.client;
        let now = at_storage_precision(now);
        let (head, changes) = self.admit(presented, now).await?;
        if head.switched && matches!(trigger, RotationTrigger::Refresh) {
            // Another request rotated this token moments ago: its successor is the answer.
            return Ok(head.into_current());
        }
        self.rotate(head, client, trigger, changes, None, now).await
    }

    /// The same user proved who they are again: records the new proof (`authentication`)
    /// and rotates the token, as for any privilege change; the session id, data and
    /// deadlines stay. A proof for another user (issuer, tenant and subject compared) is
    /// refused and changes nothing. `ticket`, the proof's single use, is recorded once the
    /// session is known to be the user's, and given back if the rotation then fails.
    #[instrument(skip_all, fields(session_id))]
    pub async fn reauthenticate(
        &self,
        presented: Presented<'_>,
        user: &UserKey,
        authentication: Authentication,
        ticket: Option<TicketUse>,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        let client = presented.client;
        let now = at_storage_precision(now);
        let (head, changes) = self.admit(presented, now).await?;
        if head.session.user_key() != *user {
            warn!(session_id = %head.session.id, "re-authentication by another user refused");
            return Err(SessionError::OtherUser);
        }
        let ticket = ticket.filter(|_| self.policy.single_use_tickets);
        if let Some(ticket) = &ticket {
            // A claim of its own found held is the SDK's retry of this one: the proof is ours.
            let resume = ResumeKey::generate().map_err(SealError::Random)?;
            match self.claim_use(ticket, &resume, now).await {
                Ok(Some(_)) => {}
                Ok(None) => return Err(SessionError::TicketReused),
                Err(Claim::Seal(e)) => return Err(e.into()),
                Err(Claim::Store(e)) => return Err(e.into()),
            }
        }
        let rotated = self
            .rotate(
                head,
                client,
                RotationTrigger::Reauthentication,
                changes,
                Some(&authentication),
                now,
            )
            .await;
        if let (Err(_), Some(ticket)) = (&rotated, &ticket)
            && let Err(error) = self.store.release_ticket(ticket).await
        {
            warn!(error = %error, "giving back a login ticket's use failed");
        }
        rotated
    }

    /// Rotates `head`; when a concurrent request rotated it first, its successor is ours too.
    pub(super) async fn rotate(
        &self,
        head: Head,
        client: &ClientInfo,
        trigger: RotationTrigger,
        changes: Vec<AuditEvent>,
        authentication: Option<&Authentication>,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        tracing::Span::current().record("session_id", tracing::field::display(head.session.id));
        let presented = head.token.clone();
        let mut head = head;
        let mut retries = Retries::new("rotate", MAX_WRITE_ATTEMPTS);
        loop {
            let new_token = SessionToken::generate().map_err(SealError::Random)?;
            let lifetimes = &self.policy.profiles.of(&head.session).lifetimes;
            let mut next = head.session.rotated(lifetimes, client, now);
            if changes.iter().any(|e| e.kind.is_client_change()) {
                next.client_event_at = Some(now);
            }
            if let Some(authentication) = authentication {
                next.authentication = authentication.clone();
            }
            let sealed = SealedSuccessor::seal(&head.token, &new_token, head.session.id)?;
            let mut events = changes.clone();
            events.push(
                AuditEvent::of(EventKind::Rotated, &next, client, now)
                    .with("trigger", trigger.as_str()),
            );
            let ttl = next.ttl_epoch_seconds(self.policy.ttl_margin);
            let written = self
                .store
                .rotate(&Rotation {
                    old_hash: &head.token.hash(),
                    old: &head.session,
                    new_hash: &new_token.hash(),
                    next: &next,
                    sealed: &sealed,
                    trigger: trigger.as_str(),
                    ttl_epoch_seconds: ttl,
                    now,
                })
                .await?;
            match written {
                Write::Done => {
                    events.iter().for_each(AuditEvent::log);
                    return Ok(Current {
                        session: next,
                        new_token: Some(new_token),
                    });
                }
                // Let the transaction in flight finish before reading again.
                Write::Contended => retries.wait().await?,
                Write::Stale(_) => retries.again()?,
            }
            // Lost a race: read again. If someone else rotated, their successor is ours too.
            let fresh = self.resolve(&presented, now).await?;
            self.check_usable(&fresh.session, client, now)?;
            // Someone else rotated: their successor is ours too, unless this rotation carries
            // a new proof of identity, which must land: rotate their successor in turn.
            if fresh.token != head.token && authentication.is_none() {
                return Ok(Current {
                    session: fresh.session,
                    new_token: Some(fresh.token),
                });
            }
            head = fresh;
        }
    }
}
