//! Lifetime profiles: named sets of timeouts ("remember me", a kiosk, admins) chosen at
//! sign-in. A session keeps its profile's name; sliding, refresh, renewal and the cookie's
//! lifetime follow that profile. `default` always exists, and so does the built-in
//! `impersonation` profile of support sessions (idle 30 minutes, absolute one hour, a cookie
//! that ends with the browser), which `SESSION_PROFILES` may redefine but never make persistent,
//! and the built-in `guest` profile of guest sessions (idle one day, absolute 30 days).

use std::collections::BTreeMap;

use chrono::Duration;

use super::guest::GUEST_PROFILE;
use super::impersonation::IMPERSONATION_PROFILE;
use super::lifetimes::Lifetimes;
use super::session::Session;

/// The profile every session gets unless it asks for (and may use) another.
pub const DEFAULT_PROFILE: &str = "default";

/// The most characters of a profile name.
const MAX_NAME_CHARS: usize = 32;

/// How long sessions of one profile live.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Idle and absolute timeouts, sliding threshold.
    pub lifetimes: Lifetimes,
    /// Rotate a cookie session's token once it has been in use this long (`None`: only on
    /// refresh).
    pub rotate_after: Option<Duration>,
    /// Whether the cookie outlives the browser session (`Max-Age` up to the absolute
    /// deadline); `false` gives a cookie the browser drops when it closes.
    pub persistent: bool,
}

/// A set of profiles that contradicts itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfilesError {
    /// A name outside `[a-z0-9_-]{1,32}`.
    #[error("profile name {0:?} is not 1 to 32 of a-z, 0-9, '_' and '-'")]
    BadName(String),
    /// The impersonation profile made persistent: a support session must end with the
    /// browser ("remember me" is the user's choice, not support's).
    #[error("the impersonation profile cannot be persistent")]
    PersistentImpersonation,
}

/// The configured profiles, `default` among them.
#[derive(Debug, Clone, PartialEq)]
pub struct Profiles {
    by_name: BTreeMap<String, Profile>,
}

/// Whether `name` can name a profile: 1 to 32 of `a-z`, `0-9`, `_`, `-`.
pub fn is_profile_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Profiles {
    /// Only `default` (and the built-in `impersonation` and `guest`).
    pub fn single(default: Profile) -> Self {
        let guest = Profile {
            lifetimes: default
                .lifetimes
                .with_timeouts(Duration::days(1), Duration::days(30))
                .unwrap_or(default.lifetimes),
            rotate_after: default.rotate_after,
            persistent: true,
        };
        let impersonation = Profile {
            lifetimes: default
                .lifetimes
                .with_timeouts(Duration::minutes(30), Duration::hours(1))
                .unwrap_or(default.lifetimes),
            rotate_after: default.rotate_after,
            persistent: false,
        };
        Self {
            by_name: BTreeMap::from([
                (DEFAULT_PROFILE.to_owned(), default),
                (IMPERSONATION_PROFILE.to_owned(), impersonation),
                (GUEST_PROFILE.to_owned(), guest),
            ]),
        }
    }

    /// `default` plus `others` (an entry named `default` among them replaces it).
    pub fn new(
        default: Profile,
        others: impl IntoIterator<Item = (String, Profile)>,
    ) -> Result<Self, ProfilesError> {
        let mut profiles = Self::single(default);
        for (name, profile) in others {
            if !is_profile_name(&name) {
                return Err(ProfilesError::BadName(name));
            }
            if name == IMPERSONATION_PROFILE && profile.persistent {
                return Err(ProfilesError::PersistentImpersonation);
            }
            profiles.by_name.insert(name, profile);
        }
        Ok(profiles)
    }

    /// The profile named `name`, if configured.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.by_name.get(name)
    }

    /// The `default` profile.
    pub fn default_profile(&self) -> &Profile {
        self.by_name
            .get(DEFAULT_PROFILE)
            .unwrap_or_else(|| unreachable!("`default` is always configured"))
    }

    /// The rules a session lives by: its profile's, or `default`'s when its profile is no
    /// longer configured (a session outlives a configuration change).
    pub fn of(&self, session: &Session) -> &Profile {
        self.get(&session.profile)
            .unwrap_or_else(|| self.default_profile())
    }

    /// The longest absolute lifetime of any profile: no session started now outlives
    /// `now` plus this.
    pub fn longest_absolute(&self) -> chrono::Duration {
        self.by_name
            .values()
            .map(|p| p.lifetimes.absolute())
            .max()
            .unwrap_or_default()
    }

    /// The configured names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(idle_hours: i64) -> Profile {
        Profile {
            lifetimes: Lifetimes::new(
                Duration::hours(idle_hours),
                Duration::hours(idle_hours * 10),
                0.5,
            )
            .unwrap(),
            rotate_after: None,
            persistent: true,
        }
    }

    #[test]
    fn default_is_always_there_and_can_be_replaced() {
        let only = Profiles::single(profile(1));
        assert_eq!(
            only.names().collect::<Vec<_>>(),
            vec!["default", "guest", "impersonation"]
        );
        let support = only.get("impersonation").unwrap();
        assert_eq!(support.lifetimes.absolute(), Duration::hours(1));
        assert!(!support.persistent);
        let guest = only.get("guest").unwrap();
        assert_eq!(guest.lifetimes.idle(), Duration::days(1));
        assert_eq!(guest.lifetimes.absolute(), Duration::days(30));
        assert!(guest.persistent);
        let replaced = Profiles::new(
            profile(1),
            [
                ("default".to_owned(), profile(2)),
                ("kiosk".to_owned(), profile(3)),
            ],
        )
        .unwrap();
        assert_eq!(
            replaced.default_profile().lifetimes.idle(),
            Duration::hours(2)
        );
        assert_eq!(
            replaced.get("kiosk").unwrap().lifetimes.idle(),
            Duration::hours(3)
        );
        assert!(replaced.get("remember").is_none());
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "Kiosk", "a b", "é", &"x".repeat(33)] {
            assert_eq!(
                Profiles::new(profile(1), [(bad.to_owned(), profile(2))]),
                Err(ProfilesError::BadName(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert!(Profiles::new(profile(1), [("remember-me_2".to_owned(), profile(2))]).is_ok());
    }
}
