//! What every operation on a presented token starts with, in one place: following the token
//! to the head of its lineage (through retired tokens within their grace window; a late replay
//! revokes the lineage), the transport binding, the expiry check, and what changed about the
//! client (which may revoke under a `reject` policy). Validate, rotation, data and sign-out all
//! admit a token here; none of them calls another to do it.

use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};

use super::policy::BindingPolicy;
use super::retry::{MAX_WRITE_ATTEMPTS, Retries};
use super::{Head, SessionError, SessionService};
use crate::domain::{
    AuditEvent, ClientInfo, EventKind, Presented, RetiredToken, RevocationReason, Session,
    SessionStatus, SessionToken, TokenRecord, Transport,
};
use crate::store::{StoreError, Write};

/// How many retired tokens a presented token may be followed through to its head.
const MAX_SUCCESSOR_HOPS: usize = 4;
/// Bound on the lineage walked when revoking after a replay (one token per rotation).
pub(super) const MAX_LINEAGE: usize = 10_000;

impl SessionService {
    /// What every use of a presented token starts with: the head it leads to ([`Self::resolve`]),
    /// which must be usable at `now`, and the events for what changed about the client. May
    /// write: a broken binding revokes, a late replay revokes the lineage (an expired session
    /// writes nothing: its event comes from the stream when TTL deletes it).
    pub(super) async fn admit(
        &self,
        presented: Presented<'_>,
        now: DateTime<Utc>,
    ) -> Result<(Head, Vec<AuditEvent>), SessionError> {
        let Presented {
            token,
            client,
            transport,
        } = presented;
        let head = self.resolve(token, now).await?;
        bound_to(&head.session, transport)?;
        self.check_usable(&head.session, client, now)?;
        let changes = self.revoke_if_binding_broken(&head, client, now).await?;
        Ok((head, changes))
    }

    /// `Ok` when the session is usable at `now`. Otherwise logs its `expired` event and fails
    /// with `Expired`; writes nothing (the lifecycle event comes from the table's stream when
    /// TTL deletes the item).
    pub(super) fn check_usable(
        &self,
        session: &Session,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<(), SessionError> {
        let status = session.status(now);
        if status.is_active() {
            return Ok(());
        }
        // Its time is the moment the session became unusable, whenever it is seen.
        let event = AuditEvent::of(EventKind::Expired, session, client, session.deadline()).with(
            "deadline",
            if status == SessionStatus::AbsoluteExpired {
                "absolute"
            } else {
                "idle"
            },
        );
        event.log();
        Err(SessionError::Expired)
    }

    /// The events for what changed about the client since the session was last seen. When a
    /// change is configured as fatal (`reject`), revokes the session (a write) and fails.
    pub(super) async fn revoke_if_binding_broken(
        &self,
        head: &Head,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<Vec<AuditEvent>, SessionError> {
        let (mut events, fatal) = self.client_changes(&head.session, client, now);
        if !fatal {
            return Ok(events);
        }
        events.push(
            AuditEvent::of(EventKind::Revoked, &head.session, client, now)
                .with("reason", RevocationReason::Anomaly.as_str()),
        );
        match self
            .store
            .revoke(&head.token.hash(), RevocationReason::Anomaly, now)
            .await?
        {
            Write::Done => events.iter().for_each(AuditEvent::log),
            other => warn!(outcome = ?other, "revoking an anomalous session lost a race"),
        }
        Err(SessionError::Revoked(RevocationReason::Anomaly))
    }

    /// Events for a changed user agent or IP, and whether the policy makes any of them fatal.
    fn client_changes(
        &self,
        session: &Session,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> (Vec<AuditEvent>, bool) {
        let seen = &session.client;
        let mut events = Vec::new();
        let mut fatal = false;
        // A change was recorded lately: under `log` policies, changes within the interval are
        // not recorded again (nor is the client info rewritten), so a client flapping between
        // two user agents or IPs costs no writes. A `reject` policy still acts on every one.
        let quiet = session
            .client_event_at
            .is_some_and(|at| now - at < self.policy.client_event_interval);
        if let (Some(before), Some(after)) = (&seen.user_agent, &client.user_agent)
            && before != after
        {
            events.push(
                AuditEvent::of(EventKind::Anomaly, session, client, now)
                    .with("signal", "user_agent_changed")
                    .with("previous_user_agent", before.as_str()),
            );
            fatal |= self.policy.user_agent_change == BindingPolicy::Reject;
        }
        if let (Some(before), Some(after)) = (&seen.ip, &client.ip)
            && before != after
        {
            events.push(
                AuditEvent::of(EventKind::IpChanged, session, client, now)
                    .with("previous_ip", before.as_str()),
            );
            fatal |= self.policy.ip_change == BindingPolicy::Reject;
        }
        if quiet && !fatal && !events.is_empty() {
            debug!(
                signals = events.len(),
                "client change within the event interval: not recorded"
            );
            return (Vec::new(), false);
        }
        (events, fatal)
    }

    /// Follows `token` to the head of its lineage: through retired tokens within their grace
    /// window (deriving each successor from the token before it). A retired token past
    /// its window is a replay: the lineage is revoked.
    pub(super) async fn resolve(
        &self,
        token: &SessionToken,
        now: DateTime<Utc>,
    ) -> Result<Head, SessionError> {
        let mut current = token.clone();
        for hop in 0..=MAX_SUCCESSOR_HOPS {
            match self.store.load(&current.hash()).await? {
                None => return Err(SessionError::NotFound),
                Some(TokenRecord::Active(session)) => {
                    tracing::Span::current()
                        .record("session_id", tracing::field::display(session.id));
                    return Ok(Head {
                        token: current,
                        session,
                        switched: hop > 0,
                    });
                }
                Some(TokenRecord::Revoked(revoked)) => {
                    info!(session_id = %revoked.session_id, reason = revoked.reason.as_str(), "revoked session presented");
                    return Err(SessionError::Revoked(revoked.reason));
                }
                Some(TokenRecord::Retired(retired)) => {
                    if !retired.is_in_grace(self.policy.rotation_grace, now) {
                        // Boxed: rare, and it would make every resolve's future as large.
                        Box::pin(self.revoke_lineage(&retired, now)).await?;
                        return Err(SessionError::Revoked(RevocationReason::Replay));
                    }
                    current = retired
                        .key
                        .open(&current, retired.session_id, &retired.successor)
                        .ok_or(SessionError::NotFound)?;
                }
            }
        }
        Err(SessionError::NotFound)
    }

    /// A retired token came back after its grace window: someone holds a copy of a token the
    /// legitimate client gave up. Revoke whatever head the lineage has now, record it.
    async fn revoke_lineage(
        &self,
        retired: &RetiredToken,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let event = |kind| {
            AuditEvent::new(
                kind,
                &retired.user_key,
                &retired.user_id,
                retired.tenant_id.as_ref(),
                retired.session_id,
                &ClientInfo::default(),
                now,
            )
        };
        warn!(session_id = %retired.session_id, "retired token replayed after its grace window");
        event(EventKind::ReplayDetected)
            .with("retired_at", retired.retired_at.to_rfc3339())
            .log();
        let revoked = event(EventKind::Revoked).with("reason", RevocationReason::Replay.as_str());
        let mut hash = retired.successor;
        let mut retries = Retries::new("revoke", MAX_WRITE_ATTEMPTS);
        for _ in 0..MAX_LINEAGE {
            match self
                .store
                .revoke(&hash, RevocationReason::Replay, now)
                .await?
            {
                Write::Done => {
                    revoked.log();
                    return Ok(());
                }
                Write::Stale(Some(TokenRecord::Retired(next))) => {
                    hash = next.successor;
                    retries.progress();
                }
                // Already revoked, signed out, or expired and gone: nothing left to revoke.
                Write::Stale(_) => return Ok(()),
                Write::Contended => retries.again()?,
            }
        }
        Ok(())
    }
}

/// `Ok` when the token came the way its session was issued (a cookie session's token in the
/// cookie, a bearer session's as `Authorization: Bearer`); sessions from before tokens were
/// bound accept either.
pub(super) fn bound_to(session: &Session, transport: Transport) -> Result<(), SessionError> {
    match session.transport {
        Some(bound) if bound != transport => Err(SessionError::WrongTransport),
        _ => Ok(()),
    }
}
