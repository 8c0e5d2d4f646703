//! Guest sessions: starting one (bounded per client), and carrying one over into the session a
//! sign-in starts while it is presented: exactly once, however many tabs sign in with it at
//! the same moment.

use chrono::{DateTime, Duration, Utc};
use tracing::instrument;

use super::retry::{MAX_WRITE_ATTEMPTS, Retries};
use super::{CreateError, SessionError, SessionService};
use crate::domain::{
    ClientInfo, GUEST_PROFILE, GuestDataRule, Restricted, RevokedToken, Session, SessionData,
    SessionId, SessionToken, TokenRecord, Transport, Upgrade, carried_data, client_bucket,
};
use crate::store::{StoreError, Write};

/// What a guest session starts with.
#[derive(Debug, Clone)]
pub struct GuestStart {
    /// Its initial data.
    pub data: SessionData,
    /// Where it starts from (its IP is what the creation limit counts).
    pub client: ClientInfo,
    /// How its tokens travel.
    pub transport: Transport,
}

/// Why a guest session was not started.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// The client started as many guest sessions as `SESSION_GUEST_LIMIT` allows in this
    /// window.
    #[error("too many guest sessions from this client; try again later")]
    Limited {
        /// Until the window ends.
        retry_after: Duration,
    },
    /// The operating system's random source failed.
    #[error("the operating system's random source failed")]
    Random(#[source] getrandom::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A guest session presented beside a sign-in: the token of its head, and what it is now.
#[derive(Debug, Clone)]
pub struct PresentedGuest {
    /// The guest head's token (the presented one, or its successor within the rotation grace).
    pub token: SessionToken,
    /// The guest session's id.
    pub id: SessionId,
    /// Live, or upgraded already (by another tab's sign-in, or an earlier attempt of this one).
    pub state: GuestState,
}

/// What a presented guest session is.
// One short-lived value per sign-in, nearly always `Live`: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum GuestState {
    /// A live guest session.
    Live(Session),
    /// Ended by a sign-in, which it became.
    Upgraded(Upgrade),
}

/// How a sign-in carries the guest session presented with it over.
#[derive(Debug, Clone)]
pub struct Carry {
    /// The guest session.
    pub guest: PresentedGuest,
    /// Whose keys win.
    pub rule: GuestDataRule,
    /// Server-only keys, which never come from a guest.
    pub protected: Vec<String>,
    /// The most bytes of the signed-in session's data.
    pub max_bytes: usize,
}

/// What became of a carry.
// Returned once per sign-in and matched at once.
#[allow(clippy::large_enum_variant)]
pub(super) enum Carried {
    /// The guest session ended and the new session holds its data (`session` was updated).
    Done,
    /// A parallel sign-in of the same user with the same guest session got there first: its
    /// session, which this sign-in answers with.
    Joined(SessionToken, Session),
    /// Nothing to carry: the guest expired, or became another user's session.
    Gone,
}

impl SessionService {
    /// Starts a guest session, unless the client started `SESSION_GUEST_LIMIT` of them in this
    /// window already (counted by IPv4 address or IPv6 /64). Two writes: the count
    /// (`UpdateItem`) and the head (`PutItem`).
    #[instrument(skip_all, fields(session_id))]
    pub async fn create_guest(
        &self,
        start: GuestStart,
        now: DateTime<Utc>,
    ) -> Result<(SessionToken, Session), GuestError> {
        let limit = self.policy.guest_limit;
        let window = limit.window_of(now);
        let client = client_bucket(start.client.ip.as_deref());
        if !self.store.count_guest(&client, &limit, window).await? {
            return Err(GuestError::Limited {
                retry_after: window.1 - now,
            });
        }
        let profile = self
            .policy
            .profiles
            .get(GUEST_PROFILE)
            .unwrap_or_else(|| self.policy.profiles.default_profile());
        let mut session = Session::start_guest(start.data, start.client, &profile.lifetimes, now);
        session.transport = Some(start.transport);
        tracing::Span::current().record("session_id", tracing::field::display(session.id));
        let token = SessionToken::generate().map_err(GuestError::Random)?;
        let ttl = session.ttl_epoch_seconds(self.policy.ttl_margin);
        match self
            .store
            .create_guest(&token.hash(), &session, ttl)
            .await?
        {
            Write::Done => Ok((token, session)),
            // A fresh token's hash is never stored already.
            _ => Err(GuestError::Store(StoreError::Contended {
                operation: "create_guest",
            })),
        }
    }

    /// What a sign-in finds presented beside it (the session cookie): the guest session to
    /// carry over, if it is one (live, or upgraded already by a parallel sign-in). An
    /// impersonation session is refused: it does not turn into another session. A token that
    /// leads nowhere usable is no obstacle. One `GetItem` (two for a token rotated a moment
    /// ago).
    pub async fn presented_beside(
        &self,
        token: &SessionToken,
        now: DateTime<Utc>,
    ) -> Result<Option<PresentedGuest>, SessionError> {
        let mut token = token.clone();
        // A token rotated within the grace leads to its head; one step, as for validate.
        for _ in 0..2 {
            match self.store.load(&token.hash()).await? {
                Some(TokenRecord::Active(session)) if session.is_active(now) => {
                    session.check_permits(Restricted::SignIn)?;
                    return Ok(session.guest.then_some(PresentedGuest {
                        token,
                        id: session.id,
                        state: GuestState::Live(session),
                    }));
                }
                Some(TokenRecord::Revoked(RevokedToken {
                    session_id,
                    upgrade: Some(upgrade),
                    ..
                })) => {
                    return Ok(Some(PresentedGuest {
                        token,
                        id: session_id,
                        state: GuestState::Upgraded(upgrade),
                    }));
                }
                Some(TokenRecord::Retired(retired))
                    if retired.is_in_grace(self.policy.rotation_grace, now) =>
                {
                    match retired
                        .key
                        .open(&token, retired.session_id, &retired.successor)
                    {
                        Some(next) => token = next,
                        None => return Ok(None),
                    }
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Ends the guest session `carry` names for the sign-in starting `session` under `token`,
    /// and gives `session` its data (merged under `carry.rule`): one conditional `UpdateItem`
    /// on the guest's head, which only one sign-in wins. A parallel sign-in of the same user
    /// that lost is handed the winner's session; one of another user carries nothing.
    pub(super) async fn carry_guest(
        &self,
        carry: &Carry,
        session: &mut Session,
        token: &SessionToken,
        now: DateTime<Utc>,
    ) -> Result<Carried, CreateError> {
        let guest = &carry.guest;
        let user = session.user_key();
        let own = session.data.clone();
        let merged = |guest_data: &SessionData| {
            carried_data(
                &own,
                guest_data,
                carry.rule,
                |key| carry.protected.iter().any(|p| p == key),
                carry.max_bytes,
            )
            .map_err(CreateError::GuestData)
        };
        let mut state = guest.state.clone();
        let mut retries = Retries::new("upgrade", MAX_WRITE_ATTEMPTS);
        loop {
            let next = match &state {
                GuestState::Live(live) if live.is_active(now) => {
                    let data = merged(&live.data)?;
                    let upgrade = Upgrade::seal(
                        &guest.token,
                        guest.id,
                        live.data.clone(),
                        token,
                        user.clone(),
                    )?;
                    match self
                        .store
                        .upgrade(&guest.token.hash(), live.data_version, &upgrade, now)
                        .await?
                    {
                        Write::Done => {
                            tracing::info!(guest_session_id = %guest.id, "guest session upgraded");
                            session.data = data;
                            session.upgraded_from = Some(guest.id);
                            return Ok(Carried::Done);
                        }
                        // Its data changed meanwhile: carry what it holds now.
                        Write::Stale(Some(TokenRecord::Active(changed))) => {
                            retries.again()?;
                            GuestState::Live(changed)
                        }
                        Write::Stale(Some(TokenRecord::Revoked(RevokedToken {
                            upgrade: Some(upgrade),
                            ..
                        }))) => GuestState::Upgraded(upgrade),
                        Write::Stale(_) => return Ok(Carried::Gone),
                        Write::Contended => {
                            retries.wait().await?;
                            state.clone()
                        }
                    }
                }
                GuestState::Live(_) => return Ok(Carried::Gone),
                // An earlier attempt of this very sign-in (the same token, after a 503)
                // upgraded it: finish with the data it carried then.
                GuestState::Upgraded(upgrade) if upgrade.successor.matches(&token.hash()) => {
                    session.data = merged(&upgrade.guest_data)?;
                    session.upgraded_from = Some(guest.id);
                    return Ok(Carried::Done);
                }
                GuestState::Upgraded(upgrade) => {
                    let Some(theirs) = upgrade.open_for(&guest.token, guest.id, &user) else {
                        return Ok(Carried::Gone);
                    };
                    return Ok(match self.joined(&theirs, now).await? {
                        Some(session) => Carried::Joined(theirs, session),
                        None => Carried::Gone,
                    });
                }
            };
            state = next;
        }
    }

    /// The session a parallel sign-in upgraded the guest into, under `token`: it is written
    /// right after the upgrade, so a moment's wait may be needed. `None` when it never
    /// appears (that sign-in failed) or has ended since.
    async fn joined(
        &self,
        token: &SessionToken,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let mut retries = Retries::new("join", MAX_WRITE_ATTEMPTS);
        loop {
            match self.store.load(&token.hash()).await? {
                Some(TokenRecord::Active(session)) if session.is_active(now) => {
                    tracing::info!(session_id = %session.id, "joined a parallel sign-in's session");
                    return Ok(Some(session));
                }
                None => {
                    if retries.wait().await.is_err() {
                        return Ok(None);
                    }
                }
                _ => return Ok(None),
            }
        }
    }
}
