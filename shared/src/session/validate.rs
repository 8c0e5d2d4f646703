//! Validate: who holds this token. In steady state one strongly consistent read and no write;
//! writes only when the idle window is half used (sliding), when the client changed (IP / user
//! agent events, or a revocation under the `reject` policy), or when the renewal interval has
//! passed (a rotation). Also the two steps every operation on a presented token shares: an
//! expired session is recorded once and refused; a broken client binding may revoke.

use chrono::{DateTime, Utc};
use tracing::{debug, instrument, warn};

use super::policy::BindingPolicy;
use super::rotation::RotationTrigger;
use super::{Current, Head, SessionError, SessionService};
use crate::domain::{
    AuditEvent, ClientInfo, EventKind, RevocationReason, Session, SessionStatus, SessionToken,
    TokenRecord, Transport, at_storage_precision,
};
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
        token: &SessionToken,
        client: &ClientInfo,
        transport: Transport,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        self.checked(
            token,
            client,
            transport,
            transport == Transport::Cookie,
            now,
        )
        .await
    }

    /// [`Self::validate`] for callers that cannot hand a new cookie to the browser (the
    /// authorizer): never rotates.
    pub async fn validate_without_rotation(
        &self,
        token: &SessionToken,
        client: &ClientInfo,
        transport: Transport,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        self.checked(token, client, transport, false, now).await
    }

    async fn checked(
        &self,
        token: &SessionToken,
        client: &ClientInfo,
        transport: Transport,
        may_rotate: bool,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        let now = at_storage_precision(now);
        let (head, mut events) = self.admit(token, client, transport, now).await?;

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
        let version = head.session.version;
        // The events record a client change: the interval of the next one starts now.
        let client_event = events.iter().any(|e| e.kind.is_client_change());
        let written = self
            .store
            .touch(
                &head.token.hash(),
                version,
                client,
                now,
                extend_to,
                client_event,
            )
            .await;
        match written {
            Ok(Write::Done) => {
                events.iter().for_each(AuditEvent::log);
                // The session as written: what the update set, nothing re-read.
                let session = Session {
                    client: head.session.client.merged(client),
                    client_event_at: if client_event {
                        Some(now)
                    } else {
                        head.session.client_event_at
                    },
                    expires_at: extend_to.unwrap_or(head.session.expires_at),
                    last_seen_at: now,
                    version: version + 1,
                    ..head.session
                };
                Ok(Current {
                    session,
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

    /// What every use of a presented token starts with: the head it leads to ([`Self::resolve`]),
    /// which must be usable at `now`, and the events for what changed about the client. May
    /// write: an expired session is recorded, a broken binding revokes, a late replay revokes
    /// the lineage.
    pub(super) async fn admit(
        &self,
        token: &SessionToken,
        client: &ClientInfo,
        transport: Transport,
        now: DateTime<Utc>,
    ) -> Result<(Head, Vec<AuditEvent>), SessionError> {
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
