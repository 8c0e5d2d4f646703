//! Sign-in: a new session for a proven identity, under the per-user cap (the least recently
//! used sessions beyond it are evicted in the same transaction).

use chrono::{DateTime, Utc};
use tracing::instrument;

use super::retry::{MAX_WRITE_ATTEMPTS, Retries};
use super::{CreateError, SessionService};
use crate::domain::{
    AuditEvent, ClientInfo, DEFAULT_PROFILE, EventKind, ResumeKey, SealError, Session, SessionData,
    SessionToken, TicketClaim, TicketUse, TokenRecord, Transport,
};
use crate::identity::Identity;
use crate::store::{Claimed, Revocation, StoreError, Write};

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
        start: Start,
        now: DateTime<Utc>,
    ) -> Result<(SessionToken, Session), CreateError> {
        // Refused before the ticket is used: a bad request costs the user nothing.
        let profile = self.profile_for(&identity, start.profile.as_deref())?;
        let ticket = identity
            .ticket
            .clone()
            .filter(|_| self.policy.single_use_tickets);
        let Some(ticket) = ticket else {
            let token = SessionToken::generate().map_err(CreateError::Random)?;
            return self.start(identity, start, profile, token, now).await;
        };
        let resume = match &start.resume {
            Some(key) => key.clone(),
            None => ResumeKey::generate().map_err(CreateError::Random)?,
        };
        let token = match self.claim_use(&ticket, &resume, now).await {
            Ok(Some(token)) => token,
            Ok(None) => {
                tracing::warn!(user_id = identity.user_id.as_str(), "login ticket replayed");
                return Err(CreateError::TicketReused);
            }
            // The claim may have landed: the client can finish the sign-in with the resume key.
            Err(Claim::Store(error)) if error.may_have_landed() => {
                return Err(CreateError::Interrupted { resume, error });
            }
            Err(Claim::Store(error)) => return Err(CreateError::Store(error)),
            Err(Claim::Seal(error)) => return Err(CreateError::Seal(error)),
        };
        match self.start(identity, start, profile, token, now).await {
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
    pub(super) async fn claim_use(
        &self,
        ticket: &TicketUse,
        resume: &ResumeKey,
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
                Claimed::Held(held) => {
                    let own = held.and_then(|c| c.open(ticket, resume));
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
    fn profile_for(&self, identity: &Identity, asked: Option<&str>) -> Result<String, CreateError> {
        let profiles = &self.policy.profiles;
        let allowed = |name: &str| {
            identity
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
                .find(|name| profiles.get(name).is_some())
                .cloned()
                .ok_or_else(|| CreateError::ProfileNotAllowed(DEFAULT_PROFILE.to_owned())),
        }
    }

    /// [`Self::create`] once the ticket is accounted for: the session that `token` carries.
    /// A head already stored under `token` is this sign-in's own (an earlier attempt of it
    /// landed): it is the answer.
    async fn start(
        &self,
        identity: Identity,
        start: Start,
        profile: String,
        token: SessionToken,
        now: DateTime<Utc>,
    ) -> Result<(SessionToken, Session), CreateError> {
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
        if let Some(authentication) = identity.authentication {
            session.authentication = authentication;
        }
        tracing::Span::current().record("session_id", tracing::field::display(session.id));
        let created = AuditEvent::of(EventKind::Created, &session, &session.client, now);
        let ttl = session.ttl_epoch_seconds(self.policy.ttl_margin);
        // Creates for one user under a cap serialize on the user's guard item: allow one round
        // per concurrent create, with jittered backoff.
        let mut retries = Retries::new("create", MAX_WRITE_ATTEMPTS * 2);
        loop {
            let (evict, guard) = self.evictions_for(&session, now).await?;
            let mut events = vec![created.clone()];
            events.extend(evict.iter().map(|e| {
                AuditEvent::new(
                    EventKind::Evicted,
                    &session.user_key(),
                    &session.user_id,
                    session.tenant_id.as_ref(),
                    e.session_id,
                    &ClientInfo::default(),
                    now,
                )
                .with("by_session_id", session.id.to_string())
            }));
            match self
                .store
                .create(&token.hash(), &session, ttl, &evict, guard)
                .await?
            {
                Write::Done => {
                    events.iter().for_each(AuditEvent::log);
                    return Ok((token, session));
                }
                // Only this sign-in knows the token: an earlier attempt of it (before a 503)
                // wrote the session, which is the one it gets.
                Write::Stale(Some(TokenRecord::Active(earlier))) => {
                    tracing::Span::current()
                        .record("session_id", tracing::field::display(earlier.id));
                    return Ok((token, earlier));
                }
                // That session has ended since (evicted or revoked before its holder ever got
                // its token): the ticket's one session is spent.
                Write::Stale(Some(_)) => return Err(CreateError::TicketReused),
                // A concurrent create for the same user, or an evicted session that rotated
                // meanwhile: choose again from a fresh read.
                Write::Stale(None) | Write::Contended => retries.wait().await?,
            }
        }
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
        let (mut live, guard) = self.store.sessions_of(&session.user_key()).await?;
        live.retain(|e| e.is_active(now));
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
}
