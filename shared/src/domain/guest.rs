//! Guest sessions: a session for a visitor who has not signed in (a cart, a half-filled form, a
//! locale), and its upgrade when the visitor signs in. A guest session lives by the built-in
//! [`GUEST_PROFILE`], is listed under no user (no device list, no cap), and ends when a sign-in
//! carries its data over: its head becomes a tombstone that names the signed-in session's token
//! by hash and keeps that token sealed under the guest's ([`Upgrade`]), so that a parallel
//! sign-in of the same user from another tab presenting the same guest gets the same session,
//! and nobody else gets anything.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

use super::data::{DataError, SessionData};
use super::ids::{SessionId, UserId, UserKey};
use super::successor::{SealError, SealedSuccessor};
use super::token::{SessionToken, TokenHash};

/// The lifetime profile of every guest session: built in (idle one day, absolute 30 days),
/// reconfigurable in `SESSION_PROFILES`, and never given to a sign-in.
pub const GUEST_PROFILE: &str = "guest";

/// The prefix of a guest session's `user_id` (`guest:` and its session id): unique to it,
/// never listed under, capped with or confused with a signed-in user's.
pub const GUEST_USER_PREFIX: &str = "guest:";

/// How long an upgraded guest's tombstone (which keeps its data, and the signed-in token sealed)
/// is kept: far longer than a sign-in's retry (its ticket lives minutes) or a late tab needs,
/// and the guest's data is gone a day after it was carried over, not at its 30-day deadline.
pub const UPGRADED_GUEST_KEPT: Duration = Duration::days(1);

/// The `user_id` of the guest session `id`.
pub fn guest_user_id(id: SessionId) -> UserId {
    // A prefix and a UUID: non-empty, short, no control characters.
    UserId::parse(&format!("{GUEST_USER_PREFIX}{id}"))
        .unwrap_or_else(|_| unreachable!("a guest user id is always a valid user id"))
}

/// Whose keys win when a sign-in carries a guest session's data into the new session
/// (`guest_data` of `POST /sessions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GuestDataRule {
    /// The guest's keys replace the sign-in's (the default: what the visitor just did wins).
    #[default]
    GuestWins,
    /// The sign-in's keys stay; the guest's fill in the others.
    SignInWins,
    /// Nothing of the guest's is kept (the guest session still ends).
    Discard,
}

impl GuestDataRule {
    /// The rule named `raw` (`guest_wins`, `sign_in_wins`, `discard`).
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "guest_wins" => Self::GuestWins,
            "sign_in_wins" => Self::SignInWins,
            "discard" => Self::Discard,
            _ => return None,
        })
    }
}

/// The signed-in session's data: the sign-in's `own` data with the guest's top-level keys
/// merged in under `rule`. A key `is_protected` says is server-only never comes from a guest,
/// whatever the rule. The result must fit in `max_bytes`.
pub fn carried_data(
    own: &SessionData,
    guest: &SessionData,
    rule: GuestDataRule,
    is_protected: impl Fn(&str) -> bool,
    max_bytes: usize,
) -> Result<SessionData, DataError> {
    let mut merged = own.as_map().clone();
    let from_guest = guest.as_map().iter().filter(|(key, _)| !is_protected(key));
    match rule {
        GuestDataRule::GuestWins => {
            for (key, value) in from_guest {
                merged.insert(key.clone(), value.clone());
            }
        }
        GuestDataRule::SignInWins => {
            for (key, value) in from_guest {
                merged.entry(key.clone()).or_insert_with(|| value.clone());
            }
        }
        GuestDataRule::Discard => {}
    }
    SessionData::parse(serde_json::Value::Object(merged), max_bytes)
}

/// What an upgraded guest session's tombstone keeps: the signed-in session it became (its
/// token's hash, and the token sealed under the guest's), and whose it is. Only the holder of
/// the guest token can open it, and only a sign-in of the same user is given it.
#[derive(Debug, Clone)]
pub struct Upgrade {
    /// The hash of the signed-in session's token.
    pub successor: TokenHash,
    /// That token, sealed under the guest token.
    pub sealed: SealedSuccessor,
    /// Whose session the guest became.
    pub user_key: UserKey,
    /// The guest's data as it was carried over (kept by the tombstone until its TTL, so that
    /// a retry of the sign-in that carried it finishes with the same data).
    pub guest_data: SessionData,
}

impl Upgrade {
    /// The upgrade of guest session `guest` (held with `guest_token`, with `guest_data`) into
    /// `user`'s session carried by `token`.
    pub fn seal(
        guest_token: &SessionToken,
        guest: SessionId,
        guest_data: SessionData,
        token: &SessionToken,
        user_key: UserKey,
    ) -> Result<Self, SealError> {
        Ok(Self {
            successor: token.hash(),
            sealed: SealedSuccessor::seal(guest_token, token, guest)?,
            user_key,
            guest_data,
        })
    }

    /// The signed-in session's token, for the holder of `guest_token` (of guest session
    /// `guest`) signing in as `user`; `None` for anyone else.
    pub fn open_for(
        &self,
        guest_token: &SessionToken,
        guest: SessionId,
        user: &UserKey,
    ) -> Option<SessionToken> {
        if self.user_key != *user {
            return None;
        }
        let token = self.sealed.open(guest_token, guest)?;
        token.hash().matches(&self.successor).then_some(token)
    }
}

/// How many guest sessions one client may start in a window (`SESSION_GUEST_LIMIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestLimit {
    /// Guest sessions per client and window.
    pub per_window: u32,
    /// The window.
    pub window: Duration,
}

impl GuestLimit {
    /// The fixed window `now` falls in: `[start, end)`.
    pub fn window_of(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let seconds = self.window.num_seconds().max(1);
        let start = now.timestamp().div_euclid(seconds) * seconds;
        let start = DateTime::from_timestamp(start, 0).unwrap_or(now);
        (start, start + Duration::seconds(seconds))
    }
}

/// The client a guest creation is counted against: its IPv4 address, or the /64 network of its
/// IPv6 address (one host commonly holds a whole /64); `unknown` when the address is not known.
pub fn client_bucket(ip: Option<&str>) -> String {
    match ip.and_then(|raw| raw.parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn data(value: serde_json::Value) -> SessionData {
        SessionData::parse(value, 1024).unwrap()
    }

    #[test]
    fn the_guests_keys_win_by_default_and_protected_keys_never_come_from_a_guest() {
        let own = data(json!({"locale": "de", "role": "member"}));
        let guest = data(json!({"locale": "fr", "cart": [1], "role": "admin"}));
        let merged = carried_data(
            &own,
            &guest,
            GuestDataRule::default(),
            |k| k == "role",
            1024,
        )
        .unwrap();
        assert_eq!(
            serde_json::Value::Object(merged.as_map().clone()),
            json!({"locale": "fr", "cart": [1], "role": "member"})
        );
    }

    #[test]
    fn sign_in_wins_keeps_the_sign_ins_keys_and_discard_keeps_none() {
        let own = data(json!({"locale": "de"}));
        let guest = data(json!({"locale": "fr", "cart": [1]}));
        let kept = carried_data(&own, &guest, GuestDataRule::SignInWins, |_| false, 1024).unwrap();
        assert_eq!(
            serde_json::Value::Object(kept.as_map().clone()),
            json!({"locale": "de", "cart": [1]})
        );
        let none = carried_data(&own, &guest, GuestDataRule::Discard, |_| false, 1024).unwrap();
        assert_eq!(none, own);
    }

    #[test]
    fn carried_data_past_the_limit_is_refused() {
        let own = data(json!({"a": "x".repeat(40)}));
        let guest = data(json!({"b": "y".repeat(40)}));
        let err = carried_data(&own, &guest, GuestDataRule::GuestWins, |_| false, 64).unwrap_err();
        assert!(matches!(err, DataError::TooLarge { limit: 64, .. }));
    }

    #[test]
    fn an_upgrade_opens_only_for_the_guest_token_and_the_same_user() {
        let guest_token = SessionToken::generate().unwrap();
        let token = SessionToken::generate().unwrap();
        let guest = SessionId::random();
        let alice = UserKey::from_stored("alice");
        let upgrade = Upgrade::seal(
            &guest_token,
            guest,
            SessionData::default(),
            &token,
            alice.clone(),
        )
        .unwrap();
        let opened = upgrade.open_for(&guest_token, guest, &alice).unwrap();
        assert!(opened.hash().matches(&token.hash()));
        assert!(
            upgrade
                .open_for(&guest_token, guest, &UserKey::from_stored("bob"))
                .is_none()
        );
        let other = SessionToken::generate().unwrap();
        assert!(upgrade.open_for(&other, guest, &alice).is_none());
        assert!(
            upgrade
                .open_for(&guest_token, SessionId::random(), &alice)
                .is_none()
        );
    }

    #[test]
    fn clients_are_counted_by_ipv4_address_or_ipv6_network() {
        assert_eq!(client_bucket(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(
            client_bucket(Some("2001:db8:1:2:aaaa::1")),
            client_bucket(Some("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            client_bucket(Some("2001:db8:1:2::1")),
            client_bucket(Some("2001:db8:1:3::1"))
        );
        assert_eq!(client_bucket(Some("::ffff:203.0.113.7")), "203.0.113.7");
        assert_eq!(client_bucket(None), "unknown");
        assert_eq!(client_bucket(Some("not an ip")), "unknown");
    }

    #[test]
    fn a_window_is_fixed_and_ends_where_the_next_begins() {
        let limit = GuestLimit {
            per_window: 10,
            window: Duration::hours(1),
        };
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 10, 59, 59).unwrap();
        let (start, end) = limit.window_of(now);
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 12, 4, 11, 0, 0).unwrap());
        assert_eq!(limit.window_of(end).0, end);
    }

    #[test]
    fn a_guest_user_id_names_its_session() {
        let id = SessionId::random();
        assert_eq!(guest_user_id(id).as_str(), format!("guest:{id}"));
    }
}
