//! Rotation: refresh, renewal and re-authentication. Following a presented token through its
//! lineage, and replay detection, are `admission`'s.

use chrono::{DateTime, Utc};
use tracing::{instrument, warn};

use super::create::Claim;
use super::retry::{MAX_WRITE_ATTEMPTS, Retries};
use super::{Current, Head, SessionError, SessionService};
use crate::domain::{
    AuditEvent, Authentication, ClientInfo, EventKind, Presented, Restricted, ResumeKey,
    RevocationReason, RotationSeed, SealError, Session, SessionToken, TicketUse, TokenHash,
    TokenRecord, UserKey, at_storage_precision, successor_of,
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

/// What became of one try at a rotation ([`SessionService::rotate_once`]).
enum Attempted {
    /// Done: the session under its new token.
    Rotated(Current),
    /// Rotated to a successor that must be rotated in turn (it lacks this rotation's proof).
    Again(Head),
    /// The head's data changed since it was read: this is it now.
    Changed(Session),
    /// A write conflicted with a transaction in flight: wait, then try again.
    Wait,
    /// The lineage moved on: read it again.
    Reread,
}

/// What a rotation goes on with after reading its token's lineage again.
enum Reread {
    /// This head, to rotate (again).
    Again(Head),
    /// Another request rotated it: its successor is the answer.
    Rotated(Current),
}

impl SessionService {
    /// Replaces the token: a new head with a fresh idle window (never past the absolute
    /// deadline), the old token retired, leading to the new one. Concurrent refreshes with the
    /// same token all get the same successor.
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
        head.session.check_permits(Restricted::Reauthenticate)?;
        if head.session.user_key() != *user {
            warn!(session_id = %head.session.id, "re-authentication by another user refused");
            return Err(SessionError::OtherUser);
        }
        let ticket = ticket.filter(|_| self.policy.single_use_tickets);
        if let Some(ticket) = &ticket {
            // A claim of its own found held is the SDK's retry of this one: the proof is ours.
            let resume = ResumeKey::generate().map_err(SealError::Random)?;
            match self.claim_use(ticket, &resume, None, now).await {
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
    ///
    /// Two single writes, in this order, instead of a transaction (half the write units, and
    /// what a multi-Region strongly consistent table accepts):
    ///
    /// 1. **The new head** ([`SessionStore::put_successor`]), a put that never overwrites. Its
    ///    token is derived from the old token and the old head's seed, so every request rotating
    ///    this head writes the same key: the first put wins, the others are told what it wrote
    ///    and adopt it. This write decides the race; the lineage never forks.
    /// 2. **The old head retired** ([`SessionStore::retire`]), pointing at the new one, only
    ///    while its data is what the new head carries. A data change that landed on the old head
    ///    in between is carried over first ([`SessionStore::carry_data`]); the new token is
    ///    handed out only once the old head is retired, so nothing writes the new head meanwhile.
    ///
    /// A crash between the two leaves both heads live and listed: the old token, which the
    /// client still holds (it never got the answer), keeps working, and its next rotation
    /// redoes the second write from what the first left (the put finds the new head, which it
    /// adopts). No token is usable that was not before: the new one is known to no one, and
    /// deriving it takes the old token and the seed, which never leaves the table. A
    /// revocation meanwhile finds both heads listed (or, revoking the old one, makes this
    /// rotation revoke the new one). A crash before the first write changes nothing.
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
            let step = self
                .rotate_once(&head, client, trigger, &changes, authentication, now)
                .await?;
            match step {
                Attempted::Rotated(current) => return Ok(current),
                Attempted::Again(successor) => {
                    head = successor;
                    retries.progress();
                    continue;
                }
                Attempted::Changed(session) => {
                    retries.again()?;
                    head.session = session;
                    continue;
                }
                Attempted::Wait => {
                    retries.wait().await?;
                    continue;
                }
                Attempted::Reread => retries.again()?,
            }
            head = match self
                .reread(&presented, &head, authentication, client, now)
                .await?
            {
                Reread::Again(fresh) => fresh,
                Reread::Rotated(answer) => return Ok(answer),
            };
        }
    }

    /// One try at rotating `head`, by the two writes [`Self::rotate`] orders.
    async fn rotate_once(
        &self,
        head: &Head,
        client: &ClientInfo,
        trigger: RotationTrigger,
        changes: &[AuditEvent],
        authentication: Option<&Authentication>,
        now: DateTime<Utc>,
    ) -> Result<Attempted, SessionError> {
        let Some(seed) = head.session.rotation_seed else {
            // Stored before seeds existed: give it one, then read it again.
            let listing_ttl = self.listing_ttl(now);
            self.store
                .seed(
                    &head.token.hash(),
                    &head.session,
                    &RotationSeed::random(),
                    listing_ttl,
                )
                .await?;
            return Ok(Attempted::Reread);
        };
        let new_token = successor_of(&head.token, &seed, head.session.id);
        let lifetimes = &self.policy.profiles.of(&head.session).lifetimes;
        let mut next = head.session.rotated(lifetimes, client, now);
        if changes.iter().any(|e| e.kind.is_client_change()) {
            next.client_event_at = Some(now);
        }
        if let Some(authentication) = authentication {
            next.authentication = authentication.clone();
        }
        let rotation = Rotation {
            old_hash: &head.token.hash(),
            old: &head.session,
            new_hash: &new_token.hash(),
            next: &next,
            trigger: trigger.as_str(),
            ttl_epoch_seconds: next.ttl_epoch_seconds(self.policy.ttl_margin),
            now,
        };
        // 1. The new head.
        let mut written = match self.store.put_successor(&rotation).await? {
            Write::Done => next.clone(),
            // Written by a concurrent rotation of the same head (or by a first attempt that
            // crashed before retiring it): the same successor, adopted.
            Write::Stale(Some(TokenRecord::Active(existing))) if existing.id == head.session.id => {
                existing
            }
            Write::Contended => return Ok(Attempted::Wait),
            // The successor was retired or revoked since: the lineage moved on.
            Write::Stale(_) => return Ok(Attempted::Reread),
        };
        if written.data_version < head.session.data_version {
            match self
                .store
                .carry_data(rotation.new_hash, &head.session)
                .await?
            {
                Write::Contended => return Ok(Attempted::Wait),
                // Done, or carried by a concurrent rotation: the retirement's condition
                // checks the data it was carried from.
                _ => {
                    written = Session {
                        data: head.session.data.clone(),
                        data_version: head.session.data_version,
                        version: written.version + 1,
                        ..written
                    };
                }
            }
        }
        // 2. The old head retired.
        Ok(match self.store.retire(&rotation).await? {
            Write::Done => {
                let mut events = changes.to_vec();
                events.push(
                    AuditEvent::of(EventKind::Rotated, &written, client, now)
                        .with("trigger", trigger.as_str()),
                );
                events.iter().for_each(AuditEvent::log);
                if authentication.is_none_or(|a| written.authentication == *a) {
                    Attempted::Rotated(Current {
                        session: written,
                        new_token: Some(new_token),
                    })
                } else {
                    // The successor adopted lacks this rotation's new proof, which must land:
                    // rotate it in turn.
                    Attempted::Again(Head {
                        token: new_token,
                        session: written,
                        switched: true,
                    })
                }
            }
            // Its data changed since it was read: carry it over, then retire again.
            Write::Stale(Some(TokenRecord::Active(changed))) => Attempted::Changed(changed),
            // Revoked meanwhile: so is the successor nobody was given yet.
            Write::Stale(Some(TokenRecord::Revoked(revoked))) => {
                self.abandon(rotation.new_hash, revoked.reason, now).await;
                return Err(SessionError::Revoked(revoked.reason));
            }
            // Signed out (or expired and deleted) meanwhile: the successor goes too.
            Write::Stale(None) => {
                self.abandon(rotation.new_hash, RevocationReason::Revoked, now)
                    .await;
                return Err(SessionError::NotFound);
            }
            // Retired by a concurrent rotation: to the same successor.
            Write::Stale(Some(TokenRecord::Retired(_))) => Attempted::Reread,
            Write::Contended => Attempted::Wait,
        })
    }

    /// The head `presented` leads to now, after a write found `head` changed. When another
    /// request rotated it, its successor is the answer ([`Reread::Rotated`]), unless this
    /// rotation carries a new proof of identity, which must land on that successor in turn.
    async fn reread(
        &self,
        presented: &SessionToken,
        head: &Head,
        authentication: Option<&Authentication>,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<Reread, SessionError> {
        let fresh = self.resolve(presented, now).await?;
        self.check_usable(&fresh.session, client, now)?;
        if fresh.token != head.token && authentication.is_none() {
            return Ok(Reread::Rotated(Current {
                session: fresh.session,
                new_token: Some(fresh.token),
            }));
        }
        Ok(Reread::Again(fresh))
    }

    /// Revokes the successor a rotation wrote and never handed out, its predecessor having
    /// ended meanwhile. Best effort: nobody holds its token.
    async fn abandon(&self, hash: &TokenHash, reason: RevocationReason, now: DateTime<Utc>) {
        if let Err(error) = self.store.revoke(hash, reason, now).await {
            warn!(error = %error, "revoking the successor of an ended session failed");
        }
    }
}
