//! The session policy's settings (`SESSION_*` lifetimes, rotation, bindings, the per-user cap,
//! tickets), read and checked.

use super::env::Env;
use super::error::ConfigError;
use super::profiles::parse_profiles;
use crate::domain::{Lifetimes, Profile};
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
        })
    }
}
