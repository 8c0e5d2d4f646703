//! `SESSION_PROFILES`: named lifetime profiles, as a JSON object of profile name to its
//! timeouts in the duration syntax of the other settings, e.g. `{"remember": {"idle": "30d",
//! "absolute": "90d"}, "kiosk": {"idle": "15m", "absolute": "1h", "persistent": false}}`.
//! `default` is built from `SESSION_IDLE_TIMEOUT` / `SESSION_ABSOLUTE_TIMEOUT` /
//! `SESSION_ROTATE_AFTER` unless the object names it too.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::env::{DurationError, parse_duration, parse_optional_duration};
use super::error::ConfigError;
use crate::domain::{
    IMPERSONATION_PROFILE, Lifetimes, LifetimesError, Profile, Profiles, ProfilesError,
};

const NAME: &str = "SESSION_PROFILES";

/// One profile as written in the setting; what it leaves out comes from `default`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    idle: String,
    absolute: String,
    rotate_after: Option<String>,
    persistent: Option<bool>,
}

/// The profiles `raw` (the setting's value, if set) describes around `default`; the sliding
/// threshold is the same for all.
pub(super) fn parse_profiles(
    raw: Option<&str>,
    default: Profile,
    sliding_threshold: f64,
) -> Result<Profiles, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Profiles::single(default));
    };
    let invalid =
        |reason: ProfileError| ConfigError::invalid(NAME, raw.chars().take(200).collect(), reason);
    let written: BTreeMap<String, Written> =
        serde_json::from_str(raw).map_err(|e| invalid(ProfileError::Json(e)))?;
    let mut profiles = Vec::new();
    for (name, profile) in written {
        let duration = |field: &'static str, value: &str| {
            parse_duration(value).map_err(|source| {
                invalid(ProfileError::Duration {
                    profile: name.clone(),
                    field,
                    source,
                })
            })
        };
        let lifetimes = Lifetimes::new(
            duration("idle", &profile.idle)?,
            duration("absolute", &profile.absolute)?,
            sliding_threshold,
        )
        .map_err(|source| {
            invalid(ProfileError::Lifetimes {
                profile: name.clone(),
                source,
            })
        })?;
        let rotate_after = match profile.rotate_after.as_deref() {
            None => default.rotate_after,
            Some(value) => parse_optional_duration(value).map_err(|source| {
                invalid(ProfileError::Duration {
                    profile: name.clone(),
                    field: "rotate_after",
                    source,
                })
            })?,
        };
        // The impersonation profile never inherits a persistent cookie.
        let persistent = profile
            .persistent
            .unwrap_or(default.persistent && name != IMPERSONATION_PROFILE);
        profiles.push((
            name,
            Profile {
                lifetimes,
                rotate_after,
                persistent,
            },
        ));
    }
    Profiles::new(default, profiles).map_err(|e| invalid(ProfileError::Profiles(e)))
}

/// Why `SESSION_PROFILES` was refused, naming the profile and its field.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Not the JSON shape of the setting.
    #[error(
        "expected a JSON object of profile name to {{\"idle\", \"absolute\", \"rotate_after\"?, \
         \"persistent\"?}}: {0}"
    )]
    Json(#[source] serde_json::Error),
    /// A duration of one profile.
    #[error("{profile}.{field}: {source}")]
    Duration {
        /// The profile.
        profile: String,
        /// `idle`, `absolute` or `rotate_after`.
        field: &'static str,
        /// What is wrong with it.
        source: DurationError,
    },
    /// A profile's timeouts contradict each other.
    #[error("{profile}: {source}")]
    Lifetimes {
        /// The profile.
        profile: String,
        /// How.
        source: LifetimesError,
    },
    /// The profiles together (a name, a missing default).
    #[error(transparent)]
    Profiles(ProfilesError),
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn default() -> Profile {
        Profile {
            lifetimes: Lifetimes::new(Duration::hours(8), Duration::days(7), 0.5).unwrap(),
            rotate_after: Some(Duration::hours(1)),
            persistent: true,
        }
    }

    #[test]
    fn the_impersonation_profile_can_be_shortened_but_never_made_persistent() {
        let raw = r#"{"impersonation": {"idle": "10m", "absolute": "20m"}}"#;
        let profiles = parse_profiles(Some(raw), default(), 0.5).unwrap();
        let support = profiles.get("impersonation").unwrap();
        assert_eq!(support.lifetimes.absolute(), Duration::minutes(20));
        assert!(!support.persistent, "not inherited from default");
        let raw = r#"{"impersonation": {"idle": "10m", "absolute": "20m", "persistent": true}}"#;
        let error = parse_profiles(Some(raw), default(), 0.5).unwrap_err();
        assert!(
            error.to_string().contains("cannot be persistent"),
            "{error}"
        );
    }

    #[test]
    fn unset_gives_the_default_and_the_built_in_impersonation_and_guest_profiles() {
        let profiles = parse_profiles(None, default(), 0.5).unwrap();
        assert_eq!(
            profiles.names().collect::<Vec<_>>(),
            vec!["default", "guest", "impersonation"]
        );
        assert_eq!(*profiles.default_profile(), default());
    }

    #[test]
    fn profiles_take_their_own_timeouts_and_the_rest_from_default() {
        let raw = r#"{"remember": {"idle": "30d", "absolute": "90d"},
                      "kiosk": {"idle": "15m", "absolute": "1h", "rotate_after": "off",
                                "persistent": false}}"#;
        let profiles = parse_profiles(Some(raw), default(), 0.25).unwrap();
        assert_eq!(
            profiles.names().collect::<Vec<_>>(),
            vec!["default", "guest", "impersonation", "kiosk", "remember"]
        );
        let remember = profiles.get("remember").unwrap();
        assert_eq!(remember.lifetimes.idle(), Duration::days(30));
        assert_eq!(remember.lifetimes.absolute(), Duration::days(90));
        assert_eq!(remember.rotate_after, Some(Duration::hours(1)));
        assert!(remember.persistent);
        let kiosk = profiles.get("kiosk").unwrap();
        assert_eq!(kiosk.lifetimes.idle(), Duration::minutes(15));
        assert_eq!(kiosk.rotate_after, None);
        assert!(!kiosk.persistent);
        assert_eq!(*profiles.default_profile(), default());
    }

    #[test]
    fn the_setting_may_redefine_default() {
        let raw = r#"{"default": {"idle": "1h", "absolute": "1d", "rotate_after": "10m"}}"#;
        let profiles = parse_profiles(Some(raw), default(), 0.5).unwrap();
        let redefined = profiles.default_profile();
        assert_eq!(redefined.lifetimes.idle(), Duration::hours(1));
        assert_eq!(redefined.rotate_after, Some(Duration::minutes(10)));
    }

    #[test]
    fn mistakes_fail_start_up_naming_the_setting_and_the_profile() {
        for (raw, says) in [
            ("not json", "expected a JSON object"),
            (r#"["kiosk"]"#, "expected a JSON object"),
            (r#"{"kiosk": {"idle": "15m"}}"#, "absolute"),
            (
                r#"{"kiosk": {"idle": "15m", "absolute": "1h", "idel": "1m"}}"#,
                "idel",
            ),
            (
                r#"{"kiosk": {"idle": "soon", "absolute": "1h"}}"#,
                "kiosk.idle",
            ),
            (
                r#"{"kiosk": {"idle": "2h", "absolute": "1h"}}"#,
                "kiosk: the absolute",
            ),
            (
                r#"{"Kiosk": {"idle": "15m", "absolute": "1h"}}"#,
                "\"Kiosk\"",
            ),
            (
                r#"{"kiosk": {"idle": "15m", "absolute": "1h", "rotate_after": "x"}}"#,
                "kiosk.rotate_after",
            ),
        ] {
            let err = parse_profiles(Some(raw), default(), 0.5).unwrap_err();
            let message = err.to_string();
            assert!(message.starts_with("SESSION_PROFILES="), "{message}");
            assert!(message.contains(says), "{raw}: {message}");
        }
    }
}
