//! Every knob of the session lifecycle in one settings type, [`Policy`], assembled by `config`.

use chrono::Duration;

use crate::domain::{GuestLimit, Profiles};

/// What to do when a session is used from a different user agent than it was last seen with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingPolicy {
    /// Record an `anomaly` event and carry on (the default: browsers update their UA string).
    Log,
    /// Revoke the session and answer 401.
    Reject,
}

/// A binding policy that is neither `log` nor `reject`.
#[derive(Debug, thiserror::Error)]
#[error("expected log or reject")]
pub struct UnknownBindingPolicy;

impl std::str::FromStr for BindingPolicy {
    type Err = UnknownBindingPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "log" => Ok(Self::Log),
            "reject" => Ok(Self::Reject),
            _ => Err(UnknownBindingPolicy),
        }
    }
}

/// Every knob of the session lifecycle (`SESSION_*` settings).
#[derive(Debug, Clone)]
pub struct Policy {
    /// The lifetime profiles: timeouts, sliding threshold, renewal interval and cookie
    /// persistence, per profile (`default` among them).
    pub profiles: Profiles,
    /// Kept past the last deadline before DynamoDB TTL may delete an item.
    pub ttl_margin: Duration,
    /// How long a rotated token still resolves to its successor.
    pub rotation_grace: Duration,
    /// What a changed user agent does.
    pub user_agent_change: BindingPolicy,
    /// What a changed client IP does.
    pub ip_change: BindingPolicy,
    /// A session's client changes (`anomaly`, `ip_changed`) are recorded at most once per
    /// this interval: a client flapping between two user agents or IPs does not turn every
    /// validate into a write. A `reject` policy acts on every change.
    pub client_event_interval: Duration,
    /// Most concurrent sessions per user; one more evicts the least recently used.
    pub max_per_user: Option<u32>,
    /// An identity token signs in once: its use is recorded until it expires.
    pub single_use_tickets: bool,
    /// How many guest sessions one client may start per window.
    pub guest_limit: GuestLimit,
}
