//! Sign-in: a new session for a proven identity, under the per-user cap (the least recently
//! used sessions beyond it are evicted in the same transaction).

use chrono::{DateTime, Utc};
use tracing::instrument;

use super::retry::{MAX_WRITE_ATTEMPTS, Retries};
use super::{CreateError, SessionService};
use crate::domain::{
    AuditEvent, ClientInfo, DEFAULT_PROFILE, EventKind, Session, SessionData, SessionToken,
    Transport,
};
use crate::identity::Identity;
use crate::store::{Revocation, StoreError, Write};

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
}

impl SessionService {
    /// Starts a new session for a proven identity, under the lifetime profile asked for (or
    /// the one it gets by default). Always a fresh token: a token the client may already hold
    /// is never adopted. Under a per-user cap, the least recently used sessions beyond it are
    /// evicted in the same transaction.
    #[instrument(skip_all, fields(session_id))]
    pub async fn create(
        &self,
        identity: Identity,
        start: Start,
        now: DateTime<Utc>,
    ) -> Result<(SessionToken, Session), CreateError> {
        // Refused before the ticket is used: a bad request costs the user nothing.
        let profile = self.profile_for(&identity, start.profile.as_deref())?;
        // The ticket's one use first: a replayed ticket writes nothing else. If the sign-in then
        // fails on our side, the use is given back so that the user can retry with it.
        let ticket = identity
            .ticket
            .clone()
            .filter(|_| self.policy.single_use_tickets);
        if let Some(ticket) = &ticket
            && !self.store.claim_ticket(ticket, now).await?
        {
            tracing::warn!(user_id = identity.user_id.as_str(), "login ticket replayed");
            return Err(CreateError::TicketReused);
        }
        let created = self.start(identity, start, profile, now).await;
        if let (Err(_), Some(ticket)) = (&created, &ticket)
            && let Err(error) = self.store.release_ticket(ticket).await
        {
            tracing::warn!(error = %error, "giving back a login ticket's use failed");
        }
        created
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

    /// [`Self::create`] once the ticket is accounted for.
    async fn start(
        &self,
        identity: Identity,
        start: Start,
        profile: String,
        now: DateTime<Utc>,
    ) -> Result<(SessionToken, Session), CreateError> {
        let token = SessionToken::generate().map_err(CreateError::Random)?;
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
                // A concurrent create for the same user, or an evicted session that rotated
                // meanwhile: choose again from a fresh read.
                Write::Stale(_) | Write::Contended => retries.wait().await?,
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
