//! A session as the per-user and per-tenant listings show it (the index projection): enough to
//! show a device and to revoke it, not the session's data.

use chrono::{DateTime, Utc};

use super::ids::{SessionId, TenantId, UserId};
use super::session::{ClientInfo, SessionStatus};
use super::token::TokenHash;

/// A live session as the `by_user` / `by_tenant` indexes list it (eventually consistent).
#[derive(Debug, Clone)]
pub struct SessionEntry {
    /// The hash of the token item listed (the head, unless it rotated since).
    pub token: TokenHash,
    /// The public session id.
    pub session_id: SessionId,
    /// Whose session it is.
    pub user_id: UserId,
    /// The tenant it belongs to, if any.
    pub tenant_id: Option<TenantId>,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last use.
    pub last_seen_at: DateTime<Utc>,
    /// The idle deadline.
    pub expires_at: DateTime<Utc>,
    /// The absolute deadline.
    pub absolute_expires_at: DateTime<Utc>,
    /// Where it was last used from.
    pub client: ClientInfo,
}

impl SessionEntry {
    /// Usable at `now` ([`SessionStatus::at`]: the index may still list expired sessions until
    /// TTL deletes them).
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        SessionStatus::at(self.expires_at, self.absolute_expires_at, now).is_active()
    }
}
