//! The session itself and the rules about it: its deadlines, the one expiry rule
//! ([`SessionStatus::at`]), sliding, renewal, and the storage precision of its timestamps. Its
//! parts live beside it: [`Lifetimes`], [`ClientInfo`], [`Authentication`], [`Transport`],
//! [`SessionData`]. Pure: takes `now`, performs no I/O.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::authentication::Authentication;
use super::client::ClientInfo;
use super::data::SessionData;
use super::ids::{SessionId, TenantId, UserId, UserKey};
use super::impersonation::{Actor, ImpersonationForbidden, Restricted};
use super::lifetimes::Lifetimes;
use super::successor::RotationSeed;
use super::transport::Transport;

/// `t` at the precision timestamps are stored with (milliseconds). Every operation takes its
/// `now` through this, so what it keeps in memory equals what it stores.
pub fn at_storage_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

/// Is the session usable at a given instant, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Usable.
    Active,
    /// Unused for longer than the idle timeout.
    IdleExpired,
    /// Past the absolute deadline.
    AbsoluteExpired,
}

impl SessionStatus {
    /// The one expiry rule: usable strictly before both deadlines; the absolute deadline wins
    /// when both have passed. Every other place asks this (or [`Session::status`]).
    pub fn at(
        expires_at: DateTime<Utc>,
        absolute_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        if now >= absolute_expires_at {
            SessionStatus::AbsoluteExpired
        } else if now >= expires_at {
            SessionStatus::IdleExpired
        } else {
            SessionStatus::Active
        }
    }

    /// Usable.
    pub fn is_active(self) -> bool {
        self == SessionStatus::Active
    }
}

/// A signed-in session, as its head token item carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The public session id (stable across rotations).
    pub id: SessionId,
    /// Whose session.
    pub user_id: UserId,
    /// The tenant it belongs to, if any.
    pub tenant_id: Option<TenantId>,
    /// Application data stored with the session.
    pub data: SessionData,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last use.
    pub last_seen_at: DateTime<Utc>,
    /// The idle deadline: moves forward on refresh and sliding validates.
    pub expires_at: DateTime<Utc>,
    /// The hard deadline set at creation: nothing extends a session past it.
    pub absolute_expires_at: DateTime<Utc>,
    /// Where it was last used from.
    pub client: ClientInfo,
    /// Bumped by every write to the session: the base for optimistic concurrency.
    pub version: u64,
    /// Bumped only when `data` changes: the session's `ETag` for `PATCH` (a sliding write or a
    /// rotation does not make a client's copy of the data stale).
    pub data_version: u64,
    /// When the token currently holding this session was issued (creation or last rotation).
    pub token_issued_at: DateTime<Utc>,
    /// When a change of its client (user agent or IP) was last recorded: the start of the
    /// interval within which further changes are not recorded again.
    pub client_event_at: Option<DateTime<Utc>>,
    /// How its tokens travel, fixed at sign-in (`None`: issued before tokens were bound).
    pub transport: Option<Transport>,
    /// The issuer of the identity token it was started with (`None`: a trusted caller's).
    pub issuer: Option<String>,
    /// When and how the user last proved who they are.
    pub authentication: Authentication,
    /// The lifetime profile it was started with ([`super::Profiles::of`] gives its rules).
    pub profile: String,
    /// What the successor of the head's token is derived from ([`super::successor_of`]); a
    /// fresh one with every head. `None` only for heads stored before seeds existed: they get
    /// one before their first rotation.
    pub rotation_seed: Option<RotationSeed>,
    /// Who acts for the user, in an impersonation session (`None`: the user themselves).
    pub actor: Option<Actor>,
    /// The identity provider's session it was started under (`sid`): its back-channel logout
    /// ends this one.
    pub provider_sid: Option<String>,
    /// A guest session: nobody has signed in ([`super::GUEST_PROFILE`]); its `user_id` is its
    /// own ([`super::guest_user_id`]) and it is listed under no user.
    pub guest: bool,
    /// The guest session this one was started from (its data carried over), if any.
    pub upgraded_from: Option<SessionId>,
}

/// Whether a session's last proof of identity is recent enough for a sensitive action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Recent enough.
    Fresh,
    /// Older than asked: the user proves who they are again (`reauthentication_required`).
    Stale,
    /// An impersonation session: no proof of the user's is ever recent
    /// (`impersonation_forbidden`).
    Impersonated,
    /// A guest session: nobody proved anything (`guest_forbidden`).
    Guest,
}

/// What one use of a head records (a validate that slides, or that sees a changed client):
/// the one definition of that write, as [`Use::changes`]. The store sets exactly those fields
/// (and bumps the version); [`Session::used`] applies the same changes in memory, so a
/// validate answers with the session as written without reading it again.
#[derive(Debug, Clone, Copy)]
pub struct Use<'a> {
    /// When: the new `last_seen_at`.
    pub at: DateTime<Utc>,
    /// The client as seen now: its known parts replace the stored ones.
    pub client: &'a ClientInfo,
    /// A later idle deadline (a slide), if any.
    pub extend_to: Option<DateTime<Utc>>,
    /// A client change is recorded: `at` becomes `client_event_at`.
    pub client_event: bool,
}

/// One field a [`Use`] sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseChange<'a> {
    /// `last_seen_at`.
    LastSeenAt(DateTime<Utc>),
    /// The idle deadline, slid.
    ExpiresAt(DateTime<Utc>),
    /// The client's address, seen now (an unknown one keeps the stored one).
    Ip(&'a str),
    /// The client's user agent, seen now (an unknown one keeps the stored one).
    UserAgent(&'a str),
    /// When the client last changed.
    ClientEventAt(DateTime<Utc>),
}

impl<'a> Use<'a> {
    /// The fields this use sets, each once.
    pub fn changes(&self) -> impl Iterator<Item = UseChange<'a>> {
        [
            Some(UseChange::LastSeenAt(self.at)),
            self.extend_to.map(UseChange::ExpiresAt),
            self.client.ip.as_deref().map(UseChange::Ip),
            self.client.user_agent.as_deref().map(UseChange::UserAgent),
            self.client_event
                .then_some(UseChange::ClientEventAt(self.at)),
        ]
        .into_iter()
        .flatten()
    }
}

impl Session {
    /// The session after `used` was written to it: its [`Use::changes`], the version bumped.
    pub fn used(&self, used: &Use<'_>) -> Self {
        let mut after = Self {
            version: self.version + 1,
            ..self.clone()
        };
        for change in used.changes() {
            match change {
                UseChange::LastSeenAt(at) => after.last_seen_at = at,
                UseChange::ExpiresAt(at) => after.expires_at = at,
                UseChange::Ip(ip) => after.client.ip = Some(ip.to_owned()),
                UseChange::UserAgent(ua) => after.client.user_agent = Some(ua.to_owned()),
                UseChange::ClientEventAt(at) => after.client_event_at = Some(at),
            }
        }
        after
    }

    /// Whose session it is, scoped by issuer and tenant: the key of every per-user listing.
    pub fn user_key(&self) -> UserKey {
        UserKey::of(
            self.issuer.as_deref(),
            self.tenant_id.as_ref(),
            &self.user_id,
        )
    }

    /// A new session signed in at `now`, with full idle and absolute windows.
    pub fn start(
        user_id: UserId,
        tenant_id: Option<TenantId>,
        data: SessionData,
        client: ClientInfo,
        lifetimes: &Lifetimes,
        now: DateTime<Utc>,
    ) -> Self {
        // Keep the in-memory session equal to what is stored.
        let now = at_storage_precision(now);
        Self {
            id: SessionId::random(),
            user_id,
            tenant_id,
            data,
            created_at: now,
            last_seen_at: now,
            expires_at: now + lifetimes.idle(),
            absolute_expires_at: now + lifetimes.absolute(),
            client,
            version: 1,
            data_version: 1,
            token_issued_at: now,
            client_event_at: None,
            transport: None,
            issuer: None,
            authentication: Authentication::at(now),
            profile: super::DEFAULT_PROFILE.to_owned(),
            rotation_seed: Some(RotationSeed::random()),
            actor: None,
            provider_sid: None,
            guest: false,
            upgraded_from: None,
        }
    }

    /// A new guest session started at `now` under the guest profile's `lifetimes`.
    pub fn start_guest(
        data: SessionData,
        client: ClientInfo,
        lifetimes: &Lifetimes,
        now: DateTime<Utc>,
    ) -> Self {
        let id = SessionId::random();
        let mut session = Self::start(super::guest_user_id(id), None, data, client, lifetimes, now);
        session.id = id;
        session.guest = true;
        session.profile = super::GUEST_PROFILE.to_owned();
        session
    }

    /// Whether the user's own proof of identity is at most `max_age` old at `now`. An
    /// impersonation session never passes: the user did not authenticate.
    pub fn freshness(&self, max_age: Duration, now: DateTime<Utc>) -> Freshness {
        if self.guest {
            Freshness::Guest
        } else if self.actor.is_some() {
            Freshness::Impersonated
        } else if self.authentication.is_older_than(max_age, now) {
            Freshness::Stale
        } else {
            Freshness::Fresh
        }
    }

    /// Refuses `action` to an impersonation session; the user's own session may.
    pub fn check_permits(&self, action: Restricted) -> Result<(), ImpersonationForbidden> {
        match self.actor {
            Some(_) => Err(ImpersonationForbidden(action)),
            None => Ok(()),
        }
    }

    /// The session as its next token carries it after a rotation at `now`: same identity,
    /// data and absolute deadline; a fresh idle window; the client as seen now.
    pub fn rotated(&self, lifetimes: &Lifetimes, client: &ClientInfo, now: DateTime<Utc>) -> Self {
        let now = at_storage_precision(now);
        Self {
            last_seen_at: now,
            expires_at: lifetimes.extended_deadline(self, now).max(self.expires_at),
            client: self.client.merged(client),
            version: self.version + 1,
            token_issued_at: now,
            rotation_seed: Some(RotationSeed::random()),
            ..self.clone()
        }
    }

    /// Whether the token has been in use for `rotate_after` or longer (OWASP renewal timeout).
    pub fn is_renewal_due(&self, rotate_after: Duration, now: DateTime<Utc>) -> bool {
        now - self.token_issued_at >= rotate_after
    }

    /// A session is usable strictly before both deadlines ([`SessionStatus::at`]).
    pub fn status(&self, now: DateTime<Utc>) -> SessionStatus {
        SessionStatus::at(self.expires_at, self.absolute_expires_at, now)
    }

    /// Usable at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.status(now).is_active()
    }

    /// Not usable at `now` any more.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        !self.is_active(now)
    }

    /// The moment the session stops being usable (unless extended): the earlier deadline.
    pub fn deadline(&self) -> DateTime<Utc> {
        self.expires_at.min(self.absolute_expires_at)
    }

    /// Whole seconds until the absolute deadline: the cookie's `Max-Age`. The cookie lives as
    /// long as the session could; the server enforces the idle deadline on every request.
    pub fn cookie_max_age(&self, now: DateTime<Utc>) -> i64 {
        (self.absolute_expires_at - now).num_seconds().max(0)
    }

    /// DynamoDB TTL (epoch seconds): the latest deadline plus a margin. Only clean-up: TTL
    /// deletes lazily, so every read checks [`Session::status`] itself.
    pub fn ttl_epoch_seconds(&self, margin: Duration) -> i64 {
        (self.absolute_expires_at.max(self.expires_at) + margin).timestamp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DataError, LifetimesError};
    use chrono::TimeZone;
    use serde_json::Value;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    fn lifetimes(threshold: f64) -> Lifetimes {
        Lifetimes::new(Duration::hours(8), Duration::days(7), threshold).unwrap()
    }

    fn session_started_at(now: DateTime<Utc>, lifetimes: &Lifetimes) -> Session {
        Session::start(
            UserId::parse("alice").unwrap(),
            None,
            SessionData::default(),
            ClientInfo::default(),
            lifetimes,
            now,
        )
    }

    fn data(value: Value) -> SessionData {
        SessionData::parse(value, 1024).unwrap()
    }

    #[test]
    fn merge_patch_sets_replaces_and_removes_keys() {
        let before =
            data(serde_json::json!({"theme": "light", "cart": {"a": 1, "b": 2}, "old": true}));
        let patch = serde_json::json!({"theme": "dark", "cart": {"b": null, "c": 3}, "old": null});
        let after = before.merge_patched(&patch, 1024).unwrap();
        assert_eq!(
            Value::Object(after.as_map().clone()),
            serde_json::json!({"theme": "dark", "cart": {"a": 1, "c": 3}})
        );
    }

    #[test]
    fn merge_patch_that_is_not_an_object_is_refused() {
        let before = data(serde_json::json!({"a": 1}));
        let err = before
            .merge_patched(&serde_json::json!([1, 2]), 1024)
            .unwrap_err();
        assert_eq!(err, DataError::NotAnObject);
    }

    #[test]
    fn merge_patch_that_grows_data_past_the_limit_is_refused() {
        let before = data(serde_json::json!({"a": 1}));
        let patch = serde_json::json!({"big": "x".repeat(100)});
        let err = before.merge_patched(&patch, 64).unwrap_err();
        assert!(matches!(err, DataError::TooLarge { limit: 64, .. }));
    }

    #[test]
    fn new_session_has_both_deadlines_from_now() {
        let l = lifetimes(0.5);
        let s = session_started_at(at(0), &l);
        assert_eq!(s.expires_at, at(8 * 3600));
        assert_eq!(s.absolute_expires_at, at(7 * 86400));
        assert_eq!(s.created_at, at(0));
        assert_eq!(s.version, 1);
    }

    #[test]
    fn start_time_is_kept_to_the_millisecond_like_the_store() {
        let l = lifetimes(0.5);
        let now = Utc.timestamp_nanos(1_700_000_000_123_456_789);
        let s = session_started_at(now, &l);
        assert_eq!(s.created_at.timestamp_subsec_nanos(), 123_000_000);
        assert_eq!(s.expires_at - s.created_at, Duration::hours(8));
    }

    #[test]
    fn session_is_active_until_just_before_the_idle_deadline() {
        let s = session_started_at(at(0), &lifetimes(0.5));
        assert_eq!(s.status(at(8 * 3600 - 1)), SessionStatus::Active);
        assert_eq!(s.status(at(8 * 3600)), SessionStatus::IdleExpired);
        assert!(s.is_expired(at(8 * 3600 + 1)));
    }

    #[test]
    fn absolute_deadline_wins_over_a_later_idle_deadline() {
        let mut s = session_started_at(at(0), &lifetimes(0.5));
        s.expires_at = at(8 * 86400);
        assert_eq!(s.status(at(7 * 86400)), SessionStatus::AbsoluteExpired);
    }

    #[test]
    fn validate_writes_nothing_before_the_threshold() {
        let l = lifetimes(0.5);
        let s = session_started_at(at(0), &l);
        assert_eq!(l.slide(&s, at(4 * 3600 - 1)), None);
    }

    #[test]
    fn validate_extends_once_half_the_idle_window_has_passed() {
        let l = lifetimes(0.5);
        let s = session_started_at(at(0), &l);
        assert_eq!(l.slide(&s, at(4 * 3600)), Some(at(12 * 3600)));
    }

    #[test]
    fn zero_threshold_extends_on_every_validate() {
        let l = lifetimes(0.0);
        let s = session_started_at(at(0), &l);
        assert_eq!(l.slide(&s, at(1)), Some(at(8 * 3600 + 1)));
    }

    #[test]
    fn threshold_of_one_never_extends() {
        let l = lifetimes(1.0);
        let s = session_started_at(at(0), &l);
        assert_eq!(l.slide(&s, at(8 * 3600 - 1)), None);
    }

    #[test]
    fn sliding_never_goes_past_the_absolute_deadline() {
        let l = lifetimes(0.5);
        let mut s = session_started_at(at(0), &l);
        s.expires_at = at(7 * 86400 - 3600);
        let now = at(7 * 86400 - 2 * 3600);
        assert_eq!(l.slide(&s, now), Some(at(7 * 86400)));
        s.expires_at = at(7 * 86400);
        assert_eq!(
            l.slide(&s, now),
            None,
            "already at the cap: nothing to write"
        );
    }

    #[test]
    fn expired_session_is_never_extended() {
        let l = lifetimes(0.0);
        let s = session_started_at(at(0), &l);
        assert_eq!(l.slide(&s, at(8 * 3600)), None);
    }

    #[test]
    fn cookie_max_age_counts_down_to_the_absolute_deadline() {
        let s = session_started_at(at(0), &lifetimes(0.5));
        assert_eq!(s.cookie_max_age(at(0)), 7 * 86400);
        assert_eq!(s.cookie_max_age(at(7 * 86400 + 5)), 0);
    }

    #[test]
    fn ttl_is_epoch_seconds_of_the_absolute_deadline_plus_margin() {
        let s = session_started_at(at(0), &lifetimes(0.5));
        assert_eq!(
            s.ttl_epoch_seconds(Duration::hours(1)),
            1_700_000_000 + 7 * 86400 + 3600
        );
    }

    #[test]
    fn absolute_shorter_than_idle_is_rejected() {
        assert_eq!(
            Lifetimes::new(Duration::hours(8), Duration::hours(1), 0.5),
            Err(LifetimesError::AbsoluteShorterThanIdle)
        );
        assert_eq!(
            Lifetimes::new(Duration::hours(8), Duration::days(1), 1.5),
            Err(LifetimesError::ThresholdOutOfRange(1.5))
        );
    }

    #[test]
    fn data_must_be_an_object_within_the_limit() {
        assert_eq!(
            SessionData::parse(serde_json::json!([1]), 100),
            Err(DataError::NotAnObject)
        );
        let big = serde_json::json!({ "k": "x".repeat(100) });
        assert!(matches!(
            SessionData::parse(big, 50),
            Err(DataError::TooLarge { limit: 50, .. })
        ));
        let ok = SessionData::parse(serde_json::json!({ "theme": "dark" }), 100).unwrap();
        assert_eq!(ok.to_json(), r#"{"theme":"dark"}"#);
    }
}
