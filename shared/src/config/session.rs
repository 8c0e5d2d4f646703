//! The session policy's settings (`SESSION_*` lifetimes, rotation, bindings, the per-user cap,
//! tickets), read and checked.

use super::env::Env;
use super::env::{DurationError, parse_duration};
use super::error::ConfigError;
use super::profiles::parse_profiles;
use crate::domain::{GuestLimit, Lifetimes, Profile};
use crate::session::Policy;

impl Policy {
    /// The policy the environment sets; the lifetimes must agree with each other.
    pub(super) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let sliding_threshold = env.parsed("SESSION_SLIDING_THRESHOLD")?;
        let default_profile = Profile {
            lifetimes: Lifetimes::new(
                env.duration("SESSION_IDLE_TIMEOUT")?,
                env.duration("SESSION_ABSOLUTE_TIMEOUT")?,
                sliding_threshold,
            )?,
            rotate_after: env.optional_duration("SESSION_ROTATE_AFTER")?,
            persistent: true,
        };
        let profiles = parse_profiles(
            env.optional("SESSION_PROFILES").as_deref(),
            default_profile,
            sliding_threshold,
        )?;
        let max_per_user: u32 = env.parsed("SESSION_MAX_PER_USER")?;
        Ok(Self {
            profiles,
            ttl_margin: env.duration("SESSION_TTL_MARGIN")?,
            rotation_grace: env.duration("SESSION_ROTATION_GRACE")?,
            user_agent_change: env.parsed("SESSION_USER_AGENT_CHANGE")?,
            ip_change: env.parsed("SESSION_IP_CHANGE")?,
            client_event_interval: env.duration("SESSION_CLIENT_EVENT_INTERVAL")?,
            max_per_user: (max_per_user > 0).then_some(max_per_user),
            single_use_tickets: env.parsed("SESSION_SINGLE_USE_TICKETS")?,
            guest_limit: env.with("SESSION_GUEST_LIMIT", parse_guest_limit)?,
        })
    }
}

/// Why `SESSION_GUEST_LIMIT` was refused.
#[derive(Debug, thiserror::Error)]
pub enum GuestLimitError {
    /// Not `<count>/<window>`.
    #[error("expected <count>/<window>, e.g. 100/1h")]
    Syntax,
    /// The window is no duration.
    #[error(transparent)]
    Window(#[from] DurationError),
    /// A window of less than a second.
    #[error("the window must be at least 1s")]
    Short,
}

/// `100/1h`: at most 100 guest sessions per client per hour.
fn parse_guest_limit(value: &str) -> Result<GuestLimit, GuestLimitError> {
    let (count, window) = value.split_once('/').ok_or(GuestLimitError::Syntax)?;
    let per_window = count.trim().parse().map_err(|_| GuestLimitError::Syntax)?;
    let window = parse_duration(window.trim())?;
    if window < chrono::Duration::seconds(1) {
        return Err(GuestLimitError::Short);
    }
    Ok(GuestLimit { per_window, window })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_limit_is_a_count_per_window() {
        let limit = parse_guest_limit("100/1h").unwrap();
        assert_eq!(limit.per_window, 100);
        assert_eq!(limit.window, chrono::Duration::hours(1));
        assert!(matches!(
            parse_guest_limit("100"),
            Err(GuestLimitError::Syntax)
        ));
        assert!(matches!(
            parse_guest_limit("x/1h"),
            Err(GuestLimitError::Syntax)
        ));
        assert!(matches!(
            parse_guest_limit("5/0s"),
            Err(GuestLimitError::Short)
        ));
    }
}
