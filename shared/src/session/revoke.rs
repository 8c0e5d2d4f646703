//! Ending sessions: sign-out of the presented token, and revocation of listed sessions, one or
//! all of a user's or a tenant's, following rotations so that none is missed.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use tracing::{info, instrument};

use super::admission::MAX_LINEAGE;
use super::admission::bound_to;
use super::retry::{MAX_WRITE_ATTEMPTS, Retries};
use super::{SessionError, SessionService};
use crate::domain::{
    AuditEvent, ClientInfo, EventKind, HistoryPosition, Presented, RevocationCause,
    RevocationReason, SessionEntry, SessionId, TokenRecord, UserKey, at_storage_precision,
    successor_of,
};
use crate::store::{
    BatchOutcome, Listed, MAX_BATCH, Owner, PageKey, Revocation, StoreError, Write,
};

/// Sessions read per index page when revoking many.
const REVOKE_PAGE: i32 = 100;
/// Passes over the index when revoking many: a pass that finds nothing left ends it (sessions
/// rotated or signed in during a pass appear in the next one).
const MAX_REVOKE_PASSES: usize = 5;

/// Who ends sessions that are not their own token (recorded on each `revoked` event).
#[derive(Debug, Clone)]
pub enum Revoker {
    /// The user, from one of their sessions ("sign out that device" / "everywhere").
    User {
        /// The session the user acted from.
        session_id: SessionId,
    },
    /// An administrator or backend, through the IAM-protected admin routes.
    Admin {
        /// The IAM principal.
        caller: String,
        /// Why, in the administrator's words (the route's `reason`), if given.
        note: Option<String>,
    },
    /// The identity provider, by a back-channel logout token (the user signed out there).
    IdentityProvider {
        /// The provider (`iss`).
        issuer: String,
    },
}

impl Revoker {
    fn describe(&self, event: AuditEvent) -> AuditEvent {
        match self {
            Self::User { session_id } => event
                .with("by", "user")
                .with("by_session_id", session_id.to_string()),
            Self::Admin { caller, .. } => event.with("by", "admin").with("caller", caller.as_str()),
            Self::IdentityProvider { issuer } => event
                .with("by", "identity_provider")
                .with("issuer", issuer.as_str()),
        }
    }

    /// Why a revocation on this one's request ends sessions.
    pub fn reason(&self) -> RevocationReason {
        match self {
            Self::User { .. } | Self::Admin { .. } => RevocationReason::Revoked,
            Self::IdentityProvider { .. } => RevocationReason::IdpLogout,
        }
    }

    /// What the tombstones of a revocation for `reason` keep: who, when the user or an
    /// administrator asked for it; the service's own revocations (an eviction) name nobody.
    fn cause(&self, reason: RevocationReason) -> RevocationCause {
        match (reason, self) {
            (RevocationReason::Revoked, Self::User { .. }) => RevocationCause {
                reason,
                by: Some("user".into()),
                note: None,
            },
            (RevocationReason::Revoked, Self::Admin { caller, note }) => RevocationCause {
                reason,
                by: Some(caller.clone()),
                note: note.clone(),
            },
            (RevocationReason::IdpLogout, Self::IdentityProvider { issuer }) => RevocationCause {
                reason,
                by: Some(issuer.clone()),
                note: None,
            },
            _ => reason.into(),
        }
    }
}

impl SessionService {
    /// Deletes the session server-side. Idempotent: `None` when there was nothing to delete.
    /// A retired token within its grace window signs out its successor; after it, it is a
    /// replay and revokes the lineage. A token that came the other way than it was issued
    /// ends nothing and is refused (`WrongTransport`), as on every other route: the client
    /// must not believe it signed out.
    #[instrument(skip_all, fields(session_id))]
    pub async fn logout(
        &self,
        presented: Presented<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionId>, SessionError> {
        let Presented {
            token,
            client,
            transport,
        } = presented;
        let now = at_storage_precision(now);
        let mut retries = Retries::new("logout", MAX_WRITE_ATTEMPTS);
        // The session, once its successor was deleted here: signed out, whatever comes next.
        let mut ended = None;
        loop {
            let head = match self.resolve(token, now).await {
                Ok(head) => head,
                Err(SessionError::Store(e)) => return Err(e.into()),
                Err(_) => return Ok(ended),
            };
            bound_to(&head.session, transport)?;
            let session = &head.session;
            tracing::Span::current().record("session_id", tracing::field::display(session.id));
            let event =
                AuditEvent::of(EventKind::Revoked, session, client, now).with("reason", "logout");
            // A rotation of this head that died between its writes left a successor nobody
            // holds: looked up beside the delete (one read, no round trip), and ended with it.
            let successor = session
                .rotation_seed
                .map(|seed| successor_of(&head.token, &seed, session.id).hash());
            let hash = head.token.hash();
            let (deleted, pending) = tokio::join!(self.store.delete(&hash, session), async {
                match &successor {
                    Some(hash) => self.store.load(hash).await,
                    None => Ok(None),
                }
            });
            if let (Ok(Some(TokenRecord::Active(next))), Some(pending_hash)) = (pending, &successor)
                && next.id == session.id
            {
                match self.store.delete(pending_hash, &next).await {
                    Ok(Write::Done) => ended = Some(session.id),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(
                        error = %error,
                        "ending a signed-out session's pending successor failed"
                    ),
                }
            }
            match deleted? {
                Write::Done => {
                    event.log();
                    return Ok(Some(session.id));
                }
                // Gone since our read: signed out by a concurrent request, or by this one's
                // first attempt whose answer came late (a deleted item keeps no attempt id).
                // The session is ended either way.
                Write::Stale(None) => return Ok(Some(session.id)),
                Write::Stale(Some(_)) | Write::Contended => retries.again()?,
            }
        }
    }

    /// A page of the user's security history (the audit trail `session-events` keeps), newest
    /// first, and where the next page starts.
    pub async fn history(
        &self,
        user: &UserKey,
        limit: usize,
        after: Option<&HistoryPosition>,
    ) -> Result<(Vec<serde_json::Value>, Option<HistoryPosition>), StoreError> {
        self.store.history(user, limit, after).await
    }

    /// The user's usable sessions, most recently seen first (from the `sessions_by_user` index: a
    /// session created or changed a moment ago may lag behind).
    pub async fn list(
        &self,
        user: &UserKey,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        let mut entries = self.store.all_listed(user).await?;
        entries.retain(|e| e.is_active(now));
        // During a rotation the old and the new head of one session are both listed: the one
        // seen last stands for it.
        entries.sort_by_key(|e| std::cmp::Reverse(e.last_seen_at));
        let mut seen = std::collections::HashSet::new();
        entries.retain(|e| seen.insert(e.session_id));
        self.with_actors(entries).await
    }

    /// Revokes the user's session `session_id`. `false` when the user has no such usable
    /// session (another user's id looks exactly like an unknown one).
    #[instrument(skip_all, fields(session_id = %session_id))]
    pub async fn revoke_one(
        &self,
        user: &UserKey,
        session_id: SessionId,
        by: &Revoker,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = at_storage_precision(now);
        let heads = self.usable_heads_of(user, session_id, now).await?;
        if heads.is_empty() {
            return Ok(false);
        }
        Ok(self
            .revoke_listed(heads, by.reason(), by, client, now)
            .await?
            > 0)
    }

    /// Every head `sessions_by_user` lists for the user's session `session_id` (two during a
    /// rotation), if usable at `now`.
    async fn usable_heads_of(
        &self,
        user: &UserKey,
        session_id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        let mut heads = self.store.find_session(user, session_id).await?;
        heads.retain(|e| e.is_active(now));
        Ok(heads)
    }

    /// The user's session `session_id` as `sessions_by_user` lists it, if usable at `now`; `None` for
    /// an unknown id, another user's session (another partition) or an ended one. During a
    /// rotation, the older of its two heads: the one a change carries over from.
    pub(super) async fn usable_session_of(
        &self,
        user: &UserKey,
        session_id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionEntry>, StoreError> {
        Ok(self
            .usable_heads_of(user, session_id, now)
            .await?
            .into_iter()
            .min_by_key(|e| e.last_seen_at))
    }

    /// Revokes every usable session of a user or a tenant, except `keep` (the caller's own,
    /// for "sign out other devices"). Reads the index page by page and revokes in
    /// transactions of [`MAX_BATCH`], following rotations; passes again until a pass finds
    /// nothing left, so a session rotated or created during a pass is not missed. Returns
    /// how many sessions were revoked.
    #[instrument(skip_all)]
    pub async fn revoke_all(
        &self,
        owner: Owner<'_>,
        keep: Option<SessionId>,
        by: &Revoker,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let now = at_storage_precision(now);
        let mut total = 0;
        for _ in 0..MAX_REVOKE_PASSES {
            let mut revoked = 0;
            let mut start: Option<PageKey> = None;
            loop {
                let (page, next) = self.store.listed(owner, start, Some(REVOKE_PAGE)).await?;
                let mut targets = Vec::new();
                for listed in page {
                    match listed {
                        Listed::Session(entry) => targets.push(entry),
                        // A tenant's user: their sessions, all pages.
                        Listed::User(user) => targets.extend(self.store.all_listed(&user).await?),
                    }
                }
                targets.retain(|e| e.is_active(now) && Some(e.session_id) != keep);
                revoked += self
                    .revoke_listed(targets, by.reason(), by, client, now)
                    .await?;
                match next {
                    Some(key) => start = Some(key),
                    None => break,
                }
            }
            total += revoked;
            if revoked == 0 {
                break;
            }
        }
        info!(revoked = total, "sessions revoked");
        Ok(total)
    }

    /// Revokes sessions as an index listed them, in transactions of at most [`MAX_BATCH`]. A
    /// session that was rotated since is revoked at its successor, one signed out since is
    /// skipped; writes cancelled by another's failed condition, or by a conflict, are retried
    /// with backoff. Returns how many were revoked.
    pub async fn revoke_listed(
        &self,
        entries: Vec<SessionEntry>,
        reason: RevocationReason,
        by: &Revoker,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let kind = match reason {
            RevocationReason::Evicted => EventKind::Evicted,
            _ => EventKind::Revoked,
        };
        // One write per item: a tenant's user may be listed beside a head of theirs that is
        // listed itself (stored before tenants listed users), and a transaction may not write
        // one item twice.
        let mut seen = std::collections::HashSet::new();
        let mut queue: VecDeque<(Revocation, AuditEvent, usize)> = entries
            .iter()
            .filter(|e| seen.insert(e.token.encoded()))
            .map(|e| {
                let event = AuditEvent::new(
                    kind,
                    &e.user_key,
                    &e.user_id,
                    e.tenant_id.as_ref(),
                    e.session_id,
                    client,
                    now,
                )
                .with("reason", reason.as_str());
                let target = Revocation {
                    token: e.token,
                    session_id: e.session_id,
                };
                (target, by.describe(event), 0)
            })
            .collect();
        let cause = by.cause(reason);
        let mut revoked = 0;
        let mut retries = Retries::new("revoke_batch", MAX_WRITE_ATTEMPTS);
        while !queue.is_empty() {
            let take = queue.len().min(MAX_BATCH);
            let chunk: Vec<(Revocation, AuditEvent, usize)> = queue.drain(..take).collect();
            let batch: Vec<Revocation> = chunk.iter().map(|(r, _, _)| *r).collect();
            let outcomes = self.store.revoke_batch(&batch, &cause, now).await?;
            let mut progressed = false;
            for ((target, event, hops), outcome) in chunk.into_iter().zip(outcomes) {
                match outcome {
                    BatchOutcome::Revoked => {
                        event.log();
                        revoked += 1;
                        progressed = true;
                    }
                    BatchOutcome::Gone => progressed = true,
                    BatchOutcome::Rotated(successor) if hops < MAX_LINEAGE => {
                        progressed = true;
                        let next = Revocation {
                            token: successor,
                            ..target
                        };
                        queue.push_back((next, event, hops + 1));
                    }
                    BatchOutcome::Rotated(_) => progressed = true,
                    BatchOutcome::Retry => queue.push_back((target, event, hops)),
                }
            }
            if progressed {
                retries.progress();
            } else {
                retries.wait().await?;
            }
        }
        Ok(revoked)
    }
}
