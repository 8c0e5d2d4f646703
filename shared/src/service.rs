//! The session operations, on domain types and the store. Time comes in as `now`.
//!
//! Token lifecycle: a session is a *lineage* of tokens. Exactly one token (the head) carries the
//! session; rotation retires the head and writes a new one in one transaction, sealing the new
//! token under the old one for a grace window. A retired token presented within the window
//! resolves to its successor (parallel tabs, a retried request after a lost response); presented
//! after it, it is a replay: the whole lineage is revoked.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use tracing::{info, instrument, warn};

use std::collections::VecDeque;

use serde_json::Value;

use crate::domain::{
    AuditEvent, ClientInfo, DataError, EventKind, Lifetimes, RetiredToken, RevocationReason,
    SealError, SealedSuccessor, Session, SessionData, SessionId, SessionStatus, SessionToken,
    TokenRecord, UserId,
};
use crate::identity::Identity;
use crate::store::{
    BatchOutcome, MAX_BATCH, Owner, PageKey, Revocation, SessionEntry, SessionStore, StoreError,
    Write,
};

/// How many retired tokens a presented token may be followed through to its head.
const MAX_SUCCESSOR_HOPS: usize = 4;
/// How many times a write that lost a race is retried from a fresh read.
const MAX_WRITE_ATTEMPTS: usize = 8;
/// Bound on the lineage walked when revoking after a replay (one token per rotation).
const MAX_LINEAGE: usize = 10_000;
/// Sessions read per index page when revoking many.
const REVOKE_PAGE: i32 = 100;
/// Passes over the index when revoking many: a pass that finds nothing left ends it (sessions
/// rotated or signed in during a pass appear in the next one).
const MAX_REVOKE_PASSES: usize = 5;

/// Why a presented token does not give a usable session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no session for this token")]
    NotFound,
    #[error("the session has expired")]
    Expired,
    #[error("the session was revoked ({})", .0.as_str())]
    Revoked(RevocationReason),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// Why `PATCH /sessions/current` did not apply.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The client's copy of the data is stale (`If-Match` / `version`).
    #[error("the session data is at version {current}, not the one the patch was based on")]
    VersionMismatch { current: u64 },
    #[error(transparent)]
    Data(#[from] DataError),
}

impl From<StoreError> for UpdateError {
    fn from(e: StoreError) -> Self {
        Self::Session(SessionError::Store(e))
    }
}

/// Who ends sessions that are not their own token (recorded on each `revoked` event).
#[derive(Debug, Clone)]
pub enum Revoker {
    /// The user, from one of their sessions ("sign out that device" / "everywhere").
    User { session_id: SessionId },
    /// An administrator or backend, through the IAM-protected admin routes.
    Admin { caller: String },
}

impl Revoker {
    fn describe(&self, event: AuditEvent) -> AuditEvent {
        match self {
            Self::User { session_id } => event
                .with("by", "user")
                .with("by_session_id", session_id.to_string()),
            Self::Admin { caller } => event.with("by", "admin").with("caller", caller.as_str()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("the operating system's random source failed")]
    Random(#[source] getrandom::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to do when a session is used from a different user agent than it was last seen with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingPolicy {
    /// Record an `anomaly` event and carry on (the default: browsers update their UA string).
    Log,
    /// Revoke the session and answer 401.
    Reject,
}

impl std::str::FromStr for BindingPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "log" => Ok(Self::Log),
            "reject" => Ok(Self::Reject),
            _ => Err("expected log or reject".into()),
        }
    }
}

/// Every knob of the session lifecycle, from [`crate::config::Config`].
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub lifetimes: Lifetimes,
    pub ttl_margin: Duration,
    /// How long a rotated token still resolves to its successor.
    pub rotation_grace: Duration,
    /// Rotate a cookie session's token once it has been in use this long (`None`: only on
    /// refresh).
    pub rotate_after: Option<Duration>,
    pub user_agent_change: BindingPolicy,
    pub ip_change: BindingPolicy,
    /// Most concurrent sessions per user; one more evicts the least recently used.
    pub max_per_user: Option<u32>,
}

impl Policy {
    /// The defaults documented in the README, around the given lifetimes.
    pub fn new(lifetimes: Lifetimes) -> Self {
        Self {
            lifetimes,
            ttl_margin: Duration::days(1),
            rotation_grace: Duration::seconds(30),
            rotate_after: Some(Duration::hours(1)),
            user_agent_change: BindingPolicy::Log,
            ip_change: BindingPolicy::Log,
            max_per_user: None,
        }
    }
}

/// Why a token is being replaced.
#[derive(Debug, Clone, Copy)]
pub enum RotationTrigger {
    /// `POST /sessions/current/refresh`.
    Refresh,
    /// The renewal interval passed during a validate.
    Renewal,
    /// The session's privileges changed (every future privilege change must rotate).
    PrivilegeChange,
}

impl RotationTrigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Refresh => "refresh",
            Self::Renewal => "renewal",
            Self::PrivilegeChange => "privilege_change",
        }
    }
}

/// A usable session, and the token the client must hold from now on when that changed
/// (rotation, or a retired token resolved to its successor).
#[derive(Debug)]
pub struct Current {
    pub session: Session,
    pub new_token: Option<SessionToken>,
}

/// The head of the lineage a presented token leads to.
struct Head {
    token: SessionToken,
    session: Session,
    /// The presented token was retired: `token` is its successor.
    switched: bool,
}

pub struct SessionService {
    store: SessionStore,
    policy: Policy,
}

impl SessionService {
    pub fn new(store: SessionStore, policy: Policy) -> Self {
        Self { store, policy }
    }

    pub fn lifetimes(&self) -> &Lifetimes {
        &self.policy.lifetimes
    }

    /// Starts a new session for a proven identity. Always a fresh token: a token the client
    /// may already hold is never adopted. Under a per-user cap, the least recently used
    /// sessions beyond it are evicted in the same transaction.
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
            &self.policy.lifetimes,
            now,
        );
        tracing::Span::current().record("session_id", tracing::field::display(session.id));
        let created = AuditEvent::of(EventKind::Created, &session, &session.client, now);
        // Creates for one user under a cap serialize on the user's guard item: allow one round
        // per concurrent create, with jittered backoff.
        for attempt in 0..MAX_WRITE_ATTEMPTS * 2 {
            let (evict, guard) = self.evictions_for(&session, now).await?;
            let mut events = vec![created.clone()];
            events.extend(evict.iter().map(|e| {
                AuditEvent::new(
                    EventKind::Evicted,
                    &session.user_id,
                    session.tenant_id.as_ref(),
                    e.session_id,
                    &ClientInfo::default(),
                    now,
                )
                .with("by_session_id", session.id.to_string())
            }));
            let ttl = session.ttl_epoch_seconds(self.policy.ttl_margin);
            match self
                .store
                .create(&token.hash(), &session, ttl, &events, &evict, guard)
                .await?
            {
                Write::Done => {
                    events.iter().for_each(AuditEvent::log);
                    return Ok((token, session));
                }
                // A concurrent create for the same user, or an evicted session that rotated
                // meanwhile: choose again from a fresh read.
                Write::Stale(_) | Write::Contended => backoff(attempt).await,
            }
        }
        Err(StoreError::Contended {
            operation: "create",
        }
        .into())
    }

    /// The sessions to evict so that `session` fits under the per-user cap, and the guard
    /// version they were chosen under. Nothing when there is no cap.
    async fn evictions_for(
        &self,
        session: &Session,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Revocation>, Option<u64>), StoreError> {
        let Some(max) = self.policy.max_per_user else {
            return Ok((Vec::new(), None));
        };
        let (mut live, guard) = self.store.sessions_of(&session.user_id).await?;
        live.retain(|e| e.expires_at > now && e.absolute_expires_at > now);
        live.sort_by_key(|e| e.last_seen_at);
        let excess = (live.len() + 1).saturating_sub(max as usize);
        let evict = live
            .into_iter()
            .take(excess)
            .map(|e| Revocation {
                token: e.token,
                session_id: e.session_id,
            })
            .collect();
        Ok((evict, Some(guard)))
    }

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
        may_rotate: bool,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        let now = now.trunc_subsecs(3);
        let head = self.resolve(token, now).await?;
        self.check_active(&head.session, client, now).await?;
        let changes = self.binding_events(&head, client, now).await?;

        if may_rotate
            && self
                .policy
                .rotate_after
                .is_some_and(|after| head.session.is_renewal_due(after, now))
        {
            return self
                .rotate(head, client, RotationTrigger::Renewal, changes, now)
                .await;
        }
        let switched = head.switched.then(|| head.token.clone());
        let hash = head.token.hash();
        let version = head.session.version;
        let (written, events, applied) =
            if let Some(deadline) = self.policy.lifetimes.slide(&head.session, now) {
                let mut events = changes;
                events.push(
                    AuditEvent::of(EventKind::Refreshed, &head.session, client, now)
                        .with("expires_at", deadline.to_rfc3339()),
                );
                let written = self
                    .store
                    .extend(&hash, version, client, deadline, now, &events)
                    .await;
                (written, events, Some(deadline))
            } else if !changes.is_empty() {
                let written = self
                    .store
                    .touch_client(&hash, version, client, now, &changes)
                    .await;
                (written, changes, None)
            } else {
                return Ok(Current {
                    session: head.session,
                    new_token: switched,
                });
            };
        match written {
            Ok(Write::Done) => {
                events.iter().for_each(AuditEvent::log);
                // The session as written: what the update set, nothing re-read.
                let session = Session {
                    client: head.session.client.merged(client),
                    expires_at: applied.unwrap_or(head.session.expires_at),
                    last_seen_at: now,
                    version: version + 1,
                    ..head.session
                };
                Ok(Current {
                    session,
                    new_token: switched,
                })
            }
            // A concurrent request wrote first: the session as it is now, if still live.
            Ok(Write::Stale(Some(TokenRecord::Active(current)))) => {
                self.check_active(&current, client, now).await?;
                Ok(Current {
                    session: current,
                    new_token: switched,
                })
            }
            // Rotated by a concurrent request: the presented token is in its grace window.
            Ok(Write::Stale(Some(TokenRecord::Retired(_)))) | Ok(Write::Contended) => Ok(Current {
                session: head.session,
                new_token: switched,
            }),
            Ok(Write::Stale(Some(TokenRecord::Revoked(r)))) => Err(SessionError::Revoked(r.reason)),
            // Signed out between our read and our write.
            Ok(Write::Stale(None)) => Err(SessionError::NotFound),
            // The read proved the session valid; a failed bookkeeping write must not sign the
            // user out. The next validate tries again.
            Err(error) => {
                warn!(error = %error, "session write on validate failed");
                Ok(Current {
                    session: head.session,
                    new_token: switched,
                })
            }
        }
    }

    /// Replaces the token: a new head with a fresh idle window (never past the absolute
    /// deadline), the old token retired with the new one sealed under it. Concurrent refreshes
    /// with the same token all get the same successor.
    #[instrument(skip_all, fields(session_id))]
    pub async fn refresh(
        &self,
        token: &SessionToken,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        self.rotate_presented(token, client, RotationTrigger::Refresh, now)
            .await
    }

    /// Rotates the session `token` leads to because its privileges changed.
    pub async fn rotate_for_privilege_change(
        &self,
        token: &SessionToken,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        self.rotate_presented(token, client, RotationTrigger::PrivilegeChange, now)
            .await
    }

    async fn rotate_presented(
        &self,
        token: &SessionToken,
        client: &ClientInfo,
        trigger: RotationTrigger,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        let now = now.trunc_subsecs(3);
        let head = self.resolve(token, now).await?;
        self.check_active(&head.session, client, now).await?;
        let changes = self.binding_events(&head, client, now).await?;
        if head.switched && matches!(trigger, RotationTrigger::Refresh) {
            // Another request rotated this token moments ago: its successor is the answer.
            return Ok(Current {
                session: head.session,
                new_token: Some(head.token),
            });
        }
        self.rotate(head, client, trigger, changes, now).await
    }

    async fn rotate(
        &self,
        mut head: Head,
        client: &ClientInfo,
        trigger: RotationTrigger,
        changes: Vec<AuditEvent>,
        now: DateTime<Utc>,
    ) -> Result<Current, SessionError> {
        tracing::Span::current().record("session_id", tracing::field::display(head.session.id));
        let presented = head.token.clone();
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            let new_token = SessionToken::generate().map_err(SealError::Random)?;
            let next = head.session.rotated(&self.policy.lifetimes, client, now);
            let sealed = SealedSuccessor::seal(&head.token, &new_token, head.session.id)?;
            let mut events = changes.clone();
            events.push(
                AuditEvent::of(EventKind::Rotated, &next, client, now)
                    .with("trigger", trigger.as_str()),
            );
            let ttl = next.ttl_epoch_seconds(self.policy.ttl_margin);
            let written = self
                .store
                .rotate(
                    &head.token.hash(),
                    &head.session,
                    &new_token.hash(),
                    &next,
                    &sealed,
                    ttl,
                    now,
                    &events,
                )
                .await?;
            if let Write::Done = written {
                events.iter().for_each(AuditEvent::log);
                return Ok(Current {
                    session: next,
                    new_token: Some(new_token),
                });
            }
            if let Write::Contended = written {
                // Let the transaction in flight finish before reading again.
                backoff(attempt).await;
            }
            // Lost a race: read again. If someone else rotated, their successor is ours too.
            let fresh = self.resolve(&presented, now).await?;
            self.check_active(&fresh.session, client, now).await?;
            if fresh.token != head.token {
                return Ok(Current {
                    session: fresh.session,
                    new_token: Some(fresh.token),
                });
            }
            head = fresh;
        }
        Err(StoreError::Contended {
            operation: "rotate",
        }
        .into())
    }

    /// Deletes the session server-side. Idempotent: `None` when there was nothing to delete.
    /// A retired token within its grace window signs out its successor; after it, it is a
    /// replay and revokes the lineage.
    #[instrument(skip_all, fields(session_id))]
    pub async fn logout(
        &self,
        token: &SessionToken,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionId>, StoreError> {
        let now = now.trunc_subsecs(3);
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let head = match self.resolve(token, now).await {
                Ok(head) => head,
                Err(SessionError::Store(e)) => return Err(e),
                Err(_) => return Ok(None),
            };
            let session = &head.session;
            tracing::Span::current().record("session_id", tracing::field::display(session.id));
            let event =
                AuditEvent::of(EventKind::Revoked, session, client, now).with("reason", "logout");
            match self
                .store
                .delete(&head.token.hash(), session, std::slice::from_ref(&event))
                .await?
            {
                Write::Done => {
                    event.log();
                    return Ok(Some(session.id));
                }
                Write::Stale(None) => return Ok(None),
                Write::Stale(Some(_)) | Write::Contended => continue,
            }
        }
        Err(StoreError::Contended {
            operation: "logout",
        })
    }

    /// The user's usable sessions, most recently seen first (from the `by_user` index: a
    /// session created or changed a moment ago may lag behind).
    pub async fn list(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        let mut entries = self.store.all_listed(Owner::User(user)).await?;
        entries.retain(|e| e.is_active(now));
        entries.sort_by_key(|e| std::cmp::Reverse(e.last_seen_at));
        Ok(entries)
    }

    /// Revokes the user's session `session_id`. `false` when the user has no such usable
    /// session (another user's id looks exactly like an unknown one).
    #[instrument(skip_all, fields(session_id = %session_id))]
    pub async fn revoke_one(
        &self,
        user: &UserId,
        session_id: SessionId,
        by: &Revoker,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = now.trunc_subsecs(3);
        let Some(entry) = self
            .store
            .find_session(user, session_id)
            .await?
            .filter(|e| e.is_active(now))
        else {
            return Ok(false);
        };
        Ok(self.revoke_listed(vec![entry], by, client, now).await? > 0)
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
        let now = now.trunc_subsecs(3);
        let mut total = 0;
        for _ in 0..MAX_REVOKE_PASSES {
            let mut revoked = 0;
            let mut start: Option<PageKey> = None;
            loop {
                let (page, next) = self.store.listed(owner, start, Some(REVOKE_PAGE)).await?;
                let targets: Vec<SessionEntry> = page
                    .into_iter()
                    .filter(|e| e.is_active(now) && Some(e.session_id) != keep)
                    .collect();
                revoked += self.revoke_listed(targets, by, client, now).await?;
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
        by: &Revoker,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut queue: VecDeque<(Revocation, AuditEvent, usize)> = entries
            .iter()
            .map(|e| {
                let event = AuditEvent::new(
                    EventKind::Revoked,
                    &e.user_id,
                    e.tenant_id.as_ref(),
                    e.session_id,
                    client,
                    now,
                )
                .with("reason", RevocationReason::Revoked.as_str());
                (e.revocation(), by.describe(event), 0)
            })
            .collect();
        let mut revoked = 0;
        let mut stalled = 0;
        while !queue.is_empty() {
            let take = queue.len().min(MAX_BATCH);
            let chunk: Vec<(Revocation, AuditEvent, usize)> = queue.drain(..take).collect();
            let batch: Vec<(Revocation, AuditEvent)> =
                chunk.iter().map(|(r, e, _)| (*r, e.clone())).collect();
            let outcomes = self
                .store
                .revoke_batch(&batch, RevocationReason::Revoked, now)
                .await?;
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
                stalled = 0;
            } else {
                stalled += 1;
                if stalled > MAX_WRITE_ATTEMPTS {
                    return Err(StoreError::Contended {
                        operation: "revoke_batch",
                    });
                }
                backoff(stalled).await;
            }
        }
        Ok(revoked)
    }

    /// Applies a JSON merge patch to the data of the session `token` leads to. With
    /// `expected`, only if the data is still at that version (412 otherwise); without it, the
    /// patch is re-applied to the newest data when a concurrent write wins, so no update is
    /// lost either way.
    #[instrument(skip_all, fields(session_id))]
    pub async fn update_data(
        &self,
        token: &SessionToken,
        client: &ClientInfo,
        patch: &Value,
        expected: Option<u64>,
        max_bytes: usize,
        now: DateTime<Utc>,
    ) -> Result<Current, UpdateError> {
        let now = now.trunc_subsecs(3);
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            let head = self.resolve(token, now).await?;
            self.check_active(&head.session, client, now).await?;
            let current = head.session.data_version;
            if expected.is_some_and(|v| v != current) {
                return Err(UpdateError::VersionMismatch { current });
            }
            let data = head.session.data.merge_patched(patch, max_bytes)?;
            match self
                .store
                .update_data(&head.token.hash(), current, &data)
                .await?
            {
                Write::Done => {
                    info!(data_version = current + 1, "session data updated");
                    let session = Session {
                        data,
                        data_version: current + 1,
                        version: head.session.version + 1,
                        ..head.session
                    };
                    return Ok(Current {
                        session,
                        new_token: head.switched.then_some(head.token),
                    });
                }
                // Changed, rotated or ended meanwhile: judge again from a fresh read.
                Write::Stale(_) => {}
                Write::Contended => backoff(attempt).await,
            }
        }
        Err(StoreError::Contended {
            operation: "update_data",
        }
        .into())
    }

    /// Follows `token` to the head of its lineage: through retired tokens within their grace
    /// window (opening each sealed successor with the token before it). A retired token past
    /// its window is a replay: the lineage is revoked.
    async fn resolve(
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
                        self.revoke_lineage(&retired, now).await?;
                        return Err(SessionError::Revoked(RevocationReason::Replay));
                    }
                    current = retired
                        .sealed
                        .open(&current, retired.session_id)
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
        let detected = AuditEvent::new(
            EventKind::ReplayDetected,
            &retired.user_id,
            retired.tenant_id.as_ref(),
            retired.session_id,
            &ClientInfo::default(),
            now,
        )
        .with("retired_at", retired.retired_at.to_rfc3339());
        warn!(session_id = %retired.session_id, "retired token replayed after its grace window");
        detected.log();
        self.store.record(&detected).await?;
        let revoked = AuditEvent::new(
            EventKind::Revoked,
            &retired.user_id,
            retired.tenant_id.as_ref(),
            retired.session_id,
            &ClientInfo::default(),
            now,
        )
        .with("reason", RevocationReason::Replay.as_str());
        let mut hash = retired.successor;
        let mut contended = 0;
        for _ in 0..MAX_LINEAGE {
            match self
                .store
                .revoke(
                    &hash,
                    RevocationReason::Replay,
                    now,
                    std::slice::from_ref(&revoked),
                )
                .await?
            {
                Write::Done => {
                    revoked.log();
                    return Ok(());
                }
                Write::Stale(Some(TokenRecord::Retired(next))) => hash = next.successor,
                // Already revoked, signed out, or expired and gone: nothing left to revoke.
                Write::Stale(_) => return Ok(()),
                Write::Contended if contended < MAX_WRITE_ATTEMPTS => contended += 1,
                Write::Contended => {
                    return Err(StoreError::Contended {
                        operation: "revoke",
                    });
                }
            }
        }
        Ok(())
    }

    /// Fails with `Expired` (recording it once per session) unless the session is usable.
    async fn check_active(
        &self,
        session: &Session,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<(), SessionError> {
        let status = session.status(now);
        if status == SessionStatus::Active {
            return Ok(());
        }
        // One `expired` event per session: its id is the session id, its time the moment it
        // became unusable (whichever deadline came first), so every later sighting is the same
        // event.
        let deadline = session.expires_at.min(session.absolute_expires_at);
        let mut event = AuditEvent::of(EventKind::Expired, session, client, deadline).with(
            "deadline",
            if status == SessionStatus::AbsoluteExpired {
                "absolute"
            } else {
                "idle"
            },
        );
        event.id = session.id.as_uuid();
        event.log();
        if let Err(error) = self.store.record(&event).await {
            warn!(error = %error, "recording an expired session failed");
        }
        Err(SessionError::Expired)
    }

    /// Events for what changed about the client since the session was last seen; revokes the
    /// session when a change is configured as fatal.
    async fn binding_events(
        &self,
        head: &Head,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<Vec<AuditEvent>, SessionError> {
        let seen = &head.session.client;
        let mut events = Vec::new();
        let mut fatal = false;
        if let (Some(before), Some(after)) = (&seen.user_agent, &client.user_agent)
            && before != after
        {
            events.push(
                AuditEvent::of(EventKind::Anomaly, &head.session, client, now)
                    .with("signal", "user_agent_changed")
                    .with("previous_user_agent", before.as_str()),
            );
            fatal |= self.policy.user_agent_change == BindingPolicy::Reject;
        }
        if let (Some(before), Some(after)) = (&seen.ip, &client.ip)
            && before != after
        {
            events.push(
                AuditEvent::of(EventKind::IpChanged, &head.session, client, now)
                    .with("previous_ip", before.as_str()),
            );
            fatal |= self.policy.ip_change == BindingPolicy::Reject;
        }
        if !fatal {
            return Ok(events);
        }
        events.push(
            AuditEvent::of(EventKind::Revoked, &head.session, client, now)
                .with("reason", RevocationReason::Anomaly.as_str()),
        );
        match self
            .store
            .revoke(&head.token.hash(), RevocationReason::Anomaly, now, &events)
            .await?
        {
            Write::Done => events.iter().for_each(AuditEvent::log),
            other => warn!(outcome = ?other, "revoking an anomalous session lost a race"),
        }
        Err(SessionError::Revoked(RevocationReason::Anomaly))
    }
}

/// Waits a little longer on each attempt, with jitter so that retrying writers do not collide
/// again in lockstep.
async fn backoff(attempt: usize) {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    let millis = 5 * (attempt.min(10) as u64 + 1) + u64::from(byte[0] % 16);
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}
