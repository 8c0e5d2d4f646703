//! The session functions' structured log of what they changed (`"session event"` lines). The
//! lifecycle events sent outside and the audit trail are derived from the table's stream
//! (`lifecycle`, `session-events`), not from these. They name the public session id, never a
//! token or a token hash. Logging one counts it in the invocation's metrics where it has one.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::client::ClientInfo;
use super::ids::{SessionId, TenantId, UserId, UserKey};
use super::session::Session;
use crate::metrics::Metric;

/// What happened to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Signed in.
    Created,
    /// The idle deadline moved (sliding validate).
    Refreshed,
    /// A new token replaced the old one (refresh, renewal interval, privilege change).
    Rotated,
    /// Ended by its holder (sign-out) or by an administrator.
    Revoked,
    /// An expired session was presented.
    Expired,
    /// A retired token came back after its grace window; the lineage was revoked.
    ReplayDetected,
    /// Evicted by the per-user session cap.
    Evicted,
    /// The user agent changed.
    Anomaly,
    /// The client IP changed (mobile networks do this; informational).
    IpChanged,
}

impl EventKind {
    /// Whether the event records a change of the client (user agent, IP).
    pub fn is_client_change(self) -> bool {
        matches!(self, Self::Anomaly | Self::IpChanged)
    }

    /// The stable name stored and logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Refreshed => "refreshed",
            Self::Rotated => "rotated",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::ReplayDetected => "replay_detected",
            Self::Evicted => "evicted",
            Self::Anomaly => "anomaly",
            Self::IpChanged => "ip_changed",
        }
    }

    /// The kind named `raw`, if any.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Created,
            Self::Refreshed,
            Self::Rotated,
            Self::Revoked,
            Self::Expired,
            Self::ReplayDetected,
            Self::Evicted,
            Self::Anomaly,
            Self::IpChanged,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// One lifecycle event of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Unique id.
    pub id: Uuid,
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: DateTime<Utc>,
    /// Whose session, scoped by issuer and tenant: the trail it is filed under.
    pub user_key: UserKey,
    /// Whose session.
    pub user_id: UserId,
    /// The session's tenant, if any.
    pub tenant_id: Option<TenantId>,
    /// The public session id.
    pub session_id: SessionId,
    /// The client the event came from, where known.
    pub client: ClientInfo,
    /// Small, non-secret facts: the trigger of a rotation, the old and new IP, ...
    pub detail: Map<String, Value>,
}

impl AuditEvent {
    /// An event of `kind` about a session known by its ids.
    pub fn new(
        kind: EventKind,
        user_key: &UserKey,
        user_id: &UserId,
        tenant_id: Option<&TenantId>,
        session_id: SessionId,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            kind,
            at: now,
            user_key: user_key.clone(),
            user_id: user_id.clone(),
            tenant_id: tenant_id.cloned(),
            session_id,
            client: client.clone(),
            detail: Map::new(),
        }
    }

    /// An event of `kind` about `session`, caused by `client` at `now`.
    /// An impersonation session's events name its actor.
    pub fn of(kind: EventKind, session: &Session, client: &ClientInfo, now: DateTime<Utc>) -> Self {
        let event = Self::new(
            kind,
            &session.user_key(),
            &session.user_id,
            session.tenant_id.as_ref(),
            session.id,
            client,
            now,
        );
        match &session.actor {
            Some(actor) => event.with("actor", actor.principal.clone()),
            None => event,
        }
    }

    /// This event with one more detail.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }

    /// The structured log line every event also becomes.
    pub fn log(&self) {
        let counted = match self.kind {
            EventKind::Rotated => Some(Metric::Rotations),
            EventKind::ReplayDetected => Some(Metric::ReplaysDetected),
            EventKind::Evicted => Some(Metric::Evictions),
            EventKind::Expired => Some(Metric::ValidationsExpired),
            _ => None,
        };
        if let Some(metric) = counted {
            crate::metrics::count(metric, 1);
        }
        tracing::info!(
            event = self.kind.as_str(),
            session_id = %self.session_id,
            user_id = self.user_id.as_str(),
            tenant_id = self.tenant_id.as_ref().map(TenantId::as_str),
            ip = self.client.ip.as_deref(),
            detail = %serde_json::Value::Object(self.detail.clone()),
            "session event"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_round_trip_through_their_names() {
        for name in [
            "created",
            "refreshed",
            "rotated",
            "revoked",
            "expired",
            "replay_detected",
            "evicted",
            "anomaly",
            "ip_changed",
        ] {
            assert_eq!(EventKind::parse(name).map(EventKind::as_str), Some(name));
        }
    }
}
