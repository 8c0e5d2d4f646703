//! Sign-in: a new session for a proven identity, under the per-user cap (the least recently
//! used sessions beyond it are evicted as it is written). At most two round trips to DynamoDB:
//! the ticket's claim beside the cap's reads, then the head beside the guard and the evictions.

use chrono::{DateTime, Duration, Utc};
use tracing::instrument;

use super::guest::{Carried, Carry};
use super::retry::{MAX_WRITE_ATTEMPTS, Retries};
use super::{CreateError, SessionService};
use std::collections::{HashMap, HashSet};

use super::revoke::Revoker;
use crate::domain::{
    AuditEvent, Authentication, ClientInfo, DEFAULT_PROFILE, EventKind, GUEST_PROFILE,
    IMPERSONATION_PROFILE, LEGACY_EXCHANGE_MEMORY, ProviderSession, ResumeKey, RevocationReason,
    SealError, Session, SessionData, SessionEntry, SessionId, SessionToken, TicketClaim, TicketUse,
    TokenRecord, Transport,
};
use crate::identity::Identity;
use crate::store::{Claimed, Listing, StoreError, Write};

/// Why a ticket's use could not be claimed.
pub(super) enum Claim {
    /// The session token could not be sealed into the claim.
    Seal(SealError),
    /// The store failed (the claim may have landed).
    Store(StoreError),
}

/// What a sign-in asks for besides the identity.
#[derive(Debug, Clone)]
pub struct Start {
    /// The session's initial data.
    pub data: SessionData,
    /// Where it signs in from.
    pub client: ClientInfo,
    /// How its tokens travel.
    pub transport: Transport,
    /// The lifetime profile asked for (`None`: the default the identity gets).
    pub profile: Option<String>,
    /// The resume key of an earlier attempt of this sign-in that answered 503.
    pub resume: Option<ResumeKey>,
    /// The guest session presented with the sign-in, to carry over into the new session.
    pub guest: Option<Carry>,
}

impl SessionService {
    /// Starts a new session for a proven identity, under the lifetime profile asked for (or
    /// the one it gets by default). Always a fresh token: a token the client may already hold
    /// is never adopted. Under a per-user cap, the least recently used sessions beyond it are
    /// evicted in the same transaction.
    ///
    /// A login ticket signs in once. Its use is claimed first, with the session token this
    /// sign-in will carry sealed under a resume key (`start.resume`, the one a client brings
    /// back after a 503, else a fresh one): a replayed ticket writes nothing else, and a claim
    /// found held under the same resume key is this sign-in's own (the SDK's retry of a claim
    /// whose answer was lost, or the client's retry after a 503), finished with the same token.
    /// So a slow answer never burns a ticket, and one ticket yields at most one session.
    #[instrument(skip_all, fields(session_id))]
    pub async fn create(
        &self,
        identity: Identity,
        mut start: Start,
        now: DateTime<Utc>,
    ) -> Result<(SessionToken, Session), CreateError> {
        // Refused before the ticket is used: a bad request costs the user nothing.
        let profile = self.profile_for(&identity, start.profile.as_deref())?;
        let legacy = identity
            .authentication
            .as_ref()
            .is_some_and(Authentication::is_legacy_exchange);
        let ticket = if legacy {
            // The exchange of a legacy session is single use whatever the setting, keyed by
            // the legacy session (the guard names it by `jti`), and remembered long past the
            // ticket: a legacy cookie presented again is not exchanged again.
            let mut ticket = identity
                .ticket
                .clone()
                .filter(TicketUse::is_named)
                .ok_or(CreateError::LegacyWithoutJti)?;
            ticket.usable_until = now + LEGACY_EXCHANGE_MEMORY;
            Some(ticket)
        } else {
            // An impersonation ticket is single use whatever the setting.
            identity
                .ticket
                .clone()
                .filter(|_| self.policy.single_use_tickets || identity.actor.is_some())
        };
        // How long a claim found held may still be finished: a legacy exchange only within the
        // rotation grace (the parallel requests of a user's tabs, reloading together after a
        // deploy, all get its one session); any other ticket while it verifies.
        let window = legacy.then_some(self.policy.rotation_grace);
        let resume = start.resume.clone();
        // An impersonation carries nobody's guest session over.
        let carry = start.guest.take().filter(|_| identity.actor.is_none());
        let session = self.new_session(identity, start, profile, now);
        tracing::Span::current().record("session_id", tracing::field::display(session.id));
        let Some(ticket) = ticket else {
            let token = SessionToken::generate().map_err(CreateError::Random)?;
            let (listing, under_provider) = tokio::join!(
                self.evictions_for(&session, now),
                self.list_under_provider(&session)
            );
            under_provider?;
            return self
                .carry_and_start(session, token, listing, carry, now)
                .await;
        };
        let resume = match resume {
            Some(key) => key,
            None => ResumeKey::generate().map_err(CreateError::Random)?,
        };
        // The ticket's use is claimed while the cap's reads are made and the session is listed
        // under its provider session: one round trip.
        let (claimed, listing, under_provider) = tokio::join!(
            self.claim_use(&ticket, &resume, window, now),
            self.evictions_for(&session, now),
            self.list_under_provider(&session)
        );
        let token = match claimed {
            Ok(Some(token)) => token,
            Ok(None) => {
                tracing::warn!(user_id = session.user_id.as_str(), "login ticket replayed");
                return Err(CreateError::TicketReused);
            }
            // The claim may have landed: the client can finish the sign-in with the resume key.
            Err(Claim::Store(error)) if error.may_have_landed() => {
                return Err(CreateError::Interrupted { resume, error });
            }
            Err(Claim::Store(error)) => return Err(CreateError::Store(error)),
            Err(Claim::Seal(error)) => return Err(CreateError::Seal(error)),
        };
        let started = match under_provider {
            // Not listed where its provider's logout would find it: no session.
            Err(error) => Err(CreateError::Store(error)),
            Ok(()) => {
                self.carry_and_start(session, token, listing, carry, now)
                    .await
            }
        };
        match started {
            // Whether the session was written is unknown (a late answer): the ticket stays
            // claimed for the token it was written with, which the resume key finishes. Giving
            // the ticket back here could let a second sign-in start a second session.
            Err(CreateError::Store(error)) if error.may_have_landed() => {
                Err(CreateError::Interrupted { resume, error })
            }
            // The ticket's session was written and has ended since: its use is spent.
            Err(spent @ CreateError::TicketReused) => Err(spent),
            // Nothing of this sign-in was written: give the use back, so that the user can retry
            // with the same ticket, resume key or not.
            Err(error) => {
                if let Err(release) = self.store.release_ticket(&ticket).await {
                    tracing::warn!(error = %release, "giving back a login ticket's use failed");
                }
                Err(error)
            }
            created => created,
        }
    }

    /// Claims the use of `ticket` for a sign-in resumable with `resume`: the session token the
    /// sign-in carries (a fresh one sealed into the claim, or the one sealed in a claim of its
    /// own found held: an earlier attempt of the same sign-in), or `None` when another sign-in
    /// holds the ticket.
    /// A claim held longer than `window` (when given) is nobody's any more.
    pub(super) async fn claim_use(
        &self,
        ticket: &TicketUse,
        resume: &ResumeKey,
        window: Option<Duration>,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionToken>, Claim> {
        let fresh = SessionToken::generate().map_err(|e| Claim::Seal(SealError::Random(e)))?;
        let claim = TicketClaim::seal(ticket, resume, &fresh).map_err(Claim::Seal)?;
        Ok(
            match self
                .store
                .claim_ticket(ticket, &claim, now)
                .await
                .map_err(Claim::Store)?
            {
                Claimed::First => Some(fresh),
                Claimed::Held { claim, at } => {
                    let in_window = match (window, at) {
                        (None, _) => true,
                        (Some(window), Some(at)) => now - at <= window,
                        (Some(_), None) => false,
                    };
                    let own = claim
                        .filter(|_| in_window)
                        .and_then(|c| c.open(ticket, resume));
                    if own.is_some() {
                        tracing::info!(
                            "login ticket claimed earlier by this sign-in: finishing it"
                        );
                    }
                    own
                }
            },
        )
    }

    /// The profile a sign-in gets: the one it names, which must be configured and allowed to
    /// the identity; else `default` when allowed; else the first profile the identity's claim
    /// lists that is configured.
    /// An impersonation gets its own profile and names none; no other sign-in gets that one.
    fn profile_for(&self, identity: &Identity, asked: Option<&str>) -> Result<String, CreateError> {
        let profiles = &self.policy.profiles;
        match (&identity.actor, asked) {
            (Some(_), None) => return Ok(IMPERSONATION_PROFILE.to_owned()),
            (Some(_), Some(_)) => return Err(CreateError::ImpersonationProfile),
            (None, _) => {}
        }
        let allowed = |name: &str| {
            name != IMPERSONATION_PROFILE
                && name != GUEST_PROFILE
                && identity
                    .allowed_profiles
                    .as_ref()
                    .is_none_or(|list| list.iter().any(|p| p == name))
        };
        match asked {
            Some(name) if profiles.get(name).is_none() => {
                Err(CreateError::UnknownProfile(name.to_owned()))
            }
            Some(name) if !allowed(name) => Err(CreateError::ProfileNotAllowed(name.to_owned())),
            Some(name) => Ok(name.to_owned()),
            None if allowed(DEFAULT_PROFILE) => Ok(DEFAULT_PROFILE.to_owned()),
            None => identity
                .allowed_profiles
                .iter()
                .flatten()
                .find(|name| allowed(name) && profiles.get(name).is_some())
                .cloned()
                .ok_or_else(|| CreateError::ProfileNotAllowed(DEFAULT_PROFILE.to_owned())),
        }
    }

    /// The session a sign-in starts, under `profile`.
    fn new_session(
        &self,
        identity: Identity,
        start: Start,
        profile: String,
        now: DateTime<Utc>,
    ) -> Session {
        let lifetimes = &self
            .policy
            .profiles
            .get(&profile)
            .unwrap_or_else(|| self.policy.profiles.default_profile())
            .lifetimes;
        let mut session = Session::start(
            identity.user_id,
            identity.tenant_id,
            start.data,
            start.client,
            lifetimes,
            now,
        );
        session.profile = profile;
        session.transport = Some(start.transport);
        session.issuer = identity.issuer;
        session.actor = identity.actor;
        session.provider_sid = identity.provider_sid;
        if let Some(authentication) = identity.authentication {
            session.authentication = authentication;
        }
        session
    }

    /// [`Self::start`], after carrying the presented guest session over (`carry`): its data goes
    /// into `session`, or a parallel sign-in of the same user that carried it first is the
    /// answer.
    async fn carry_and_start(
        &self,
        mut session: Session,
        token: SessionToken,
        first: Result<(Vec<SessionEntry>, Option<u64>), StoreError>,
        carry: Option<Carry>,
        now: DateTime<Utc>,
    ) -> Result<(SessionToken, Session), CreateError> {
        if let Some(carry) = &carry {
            match self.carry_guest(carry, &mut session, &token, now).await? {
                Carried::Done | Carried::Gone => {}
                Carried::Joined(theirs, joined) => return Ok((theirs, joined)),
            }
        }
        self.start(session, token, first, now).await
    }

    /// [`Self::create`] once the ticket is accounted for: writes `session` under `token`, with
    /// `first` (the cap's reads, made beside the ticket's claim) for its first round. Over the
    /// cap, the least recently used sessions are evicted first; then the head and the guard are
    /// written at once (one round trip). A guard moved by a concurrent sign-in of the same user
    /// means another round from fresh reads (the head, written already, is not written again). A head already stored under `token`
    /// is this sign-in's own (an earlier attempt of it landed): it is the answer.
    async fn start(
        &self,
        session: Session,
        token: SessionToken,
        first: Result<(Vec<SessionEntry>, Option<u64>), StoreError>,
        now: DateTime<Utc>,
    ) -> Result<(SessionToken, Session), CreateError> {
        let created = AuditEvent::of(EventKind::Created, &session, &session.client, now);
        let ttl = session.ttl_epoch_seconds(self.policy.ttl_margin);
        let by = Revoker::User {
            session_id: session.id,
        };
        let hash = token.hash();
        let mut first = Some(first);
        // The session once its head is written (by an earlier round).
        let mut written: Option<Session> = None;
        // Creates for one user under a cap serialize on the user's guard item: allow one round
        // per concurrent create, with jittered backoff.
        let mut retries = Retries::new("create", MAX_WRITE_ATTEMPTS * 2);
        loop {
            let (evict, guard) = match first.take() {
                Some(read) => read?,
                None => self.evictions_for(&session, now).await?,
            };
            let listing = Listing {
                guard,
                ttl_epoch_seconds: self.listing_ttl(now),
            };
            // Over the cap, the evictions go first: a crash after them leaves the user under the
            // cap, never over it (a third round trip, over the cap only).
            if !evict.is_empty() {
                let client = ClientInfo::default();
                self.revoke_listed(evict, RevocationReason::Evicted, &by, &client, now)
                    .await?;
            }
            let (head, guard) = if written.is_some() {
                // Written in an earlier round: only the guard is still to move.
                (Write::Done, self.store.guard(&session, listing).await?)
            } else {
                self.store.create(&hash, &session, ttl, listing).await?
            };
            let session = match (head, &written) {
                (_, Some(session)) => session.clone(),
                (Write::Done, None) => session.clone(),
                // Only this sign-in knows the token: an earlier attempt of it (before a 503)
                // wrote the session, which is the one it gets.
                (Write::Stale(Some(TokenRecord::Active(earlier))), None) => earlier,
                // That session has ended since (evicted or revoked before its holder ever got
                // its token): the ticket's one session is spent.
                (Write::Stale(Some(_)), None) => return Err(CreateError::TicketReused),
                (Write::Stale(None) | Write::Contended, None) => {
                    retries.wait().await?;
                    continue;
                }
            };
            match guard {
                Write::Done => {
                    tracing::Span::current()
                        .record("session_id", tracing::field::display(session.id));
                    created.log();
                    return Ok((token, session));
                }
                // A concurrent sign-in of the same user moved the guard: choose again from a
                // fresh read, counting this session in. It is written, and listed: a concurrent
                // sign-in may evict it meanwhile, as it would once this one had answered.
                _ => {
                    written = Some(session);
                    retries.wait().await?;
                }
            }
        }
    }

    /// Lists `session` under the identity-provider session it was started in (`sid`), for
    /// that provider's back-channel logout; nothing for a session without one.
    async fn list_under_provider(&self, session: &Session) -> Result<(), StoreError> {
        let (Some(issuer), Some(sid)) = (&session.issuer, &session.provider_sid) else {
            return Ok(());
        };
        let ttl = session.ttl_epoch_seconds(self.policy.ttl_margin);
        self.store
            .list_under_provider(&ProviderSession { issuer, sid }, session, ttl)
            .await
    }

    /// The sessions to evict so that `session` fits under the per-user cap (all the heads of
    /// each, two during a rotation), and the guard version they were chosen under. Nothing
    /// when there is no cap. The least recently used go first, `session` itself among them
    /// (counted once, listed or not): concurrent sign-ins that read the same sessions choose
    /// the same ones, so together they never evict more than the cap asks.
    async fn evictions_for(
        &self,
        session: &Session,
        now: DateTime<Utc>,
    ) -> Result<(Vec<SessionEntry>, Option<u64>), StoreError> {
        // An impersonation session neither counts toward the cap nor evicts.
        let (Some(max), None) = (self.policy.max_per_user, &session.actor) else {
            return Ok((Vec::new(), None));
        };
        let (mut live, guard) = self.store.sessions_of(&session.user_key()).await?;
        live.retain(|e| e.is_active(now) && !e.is_impersonation());
        // One place per session, at its last use.
        let mut last_use: HashMap<SessionId, DateTime<Utc>> =
            HashMap::from([(session.id, session.last_seen_at)]);
        for entry in &live {
            let at = last_use
                .entry(entry.session_id)
                .or_insert(entry.last_seen_at);
            *at = (*at).max(entry.last_seen_at);
        }
        let mut order: Vec<(DateTime<Utc>, SessionId)> =
            last_use.into_iter().map(|(id, at)| (at, id)).collect();
        order.sort_by_key(|(at, id)| (*at, id.as_uuid()));
        let excess = order.len().saturating_sub(max as usize);
        let evicted: HashSet<SessionId> =
            order.into_iter().take(excess).map(|(_, id)| id).collect();
        live.retain(|e| evicted.contains(&e.session_id));
        Ok((live, Some(guard)))
    }
}
