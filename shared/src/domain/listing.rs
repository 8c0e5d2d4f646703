//! A session as the per-user and per-tenant listings show it (the index projection): enough to
//! show a device and to revoke it, not the session's data.

use chrono::{DateTime, Utc};

use super::authentication::Authentication;
use super::client::ClientInfo;
use super::ids::{SessionId, TenantId, UserId, UserKey};
use super::impersonation::{Actor, IMPERSONATION_PROFILE};
use super::session::{SessionStatus, at_storage_precision};
use super::token::TokenHash;

/// A live session as the `sessions_by_user` / `by_tenant` indexes list it (eventually consistent).
#[derive(Debug, Clone)]
pub struct SessionEntry {
    /// The hash of the token item listed (the head, unless it rotated since).
    pub token: TokenHash,
    /// The public session id.
    pub session_id: SessionId,
    /// Whose session it is, scoped by issuer and tenant.
    pub user_key: UserKey,
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
    /// When and how the user last proved who they are.
    pub authentication: Authentication,
    /// Its lifetime profile.
    pub profile: String,
    /// Who acts for the user, in an impersonation session: not in the index (its projection
    /// cannot change without replacing it), read from the session's head when listed.
    pub actor: Option<Actor>,
}

/// Where a page of a security history ended: the last entry's place in the user's audit
/// trail (newest first), opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPosition(String);

impl HistoryPosition {
    /// Longest position accepted.
    const MAX_LEN: usize = 200;

    /// A position as the store hands it out: `<13-digit epoch ms>#<10-digit sequence>#<event
    /// id>`; `None` for anything else (a cursor this API did not return).
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.splitn(3, '#');
        let (time, sequence, id) = (parts.next()?, parts.next()?, parts.next()?);
        let digits =
            |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
        let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic());
        (raw.len() <= Self::MAX_LEN && digits(time, 13) && digits(sequence, 10) && id_ok)
            .then(|| Self(raw.to_owned()))
    }

    /// The position as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a page of a device listing ended: its last entry, in the listing's order (most
/// recently seen first, ties by session id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListPosition {
    /// The last entry's last use.
    pub last_seen_at: DateTime<Utc>,
    /// The last entry's session id.
    pub session_id: SessionId,
}

impl ListPosition {
    /// Before every entry: where a walk starts when its first page showed none of them.
    pub fn start() -> Self {
        Self {
            last_seen_at: at_storage_precision(DateTime::<Utc>::MAX_UTC),
            session_id: SessionId::from_uuid(uuid::Uuid::nil()),
        }
    }

    fn of(entry: &SessionEntry) -> Self {
        Self {
            last_seen_at: entry.last_seen_at,
            session_id: entry.session_id,
        }
    }

    /// The sort key: most recent first, then by id, so that every entry has one place.
    fn key(&self) -> (std::cmp::Reverse<DateTime<Utc>>, uuid::Uuid) {
        (
            std::cmp::Reverse(self.last_seen_at),
            self.session_id.as_uuid(),
        )
    }
}

/// One page of a listing: the entries after `after` in the listing's order, at most `limit`,
/// and the position to continue from when more follow. Keyset paging: an entry that moves
/// (used meanwhile) may show twice or not at all across pages, never breaking the walk.
pub fn page_of(
    mut entries: Vec<SessionEntry>,
    after: Option<ListPosition>,
    limit: usize,
) -> (Vec<SessionEntry>, Option<ListPosition>) {
    entries.sort_by_key(|e| ListPosition::of(e).key());
    if let Some(after) = after {
        entries.retain(|e| ListPosition::of(e).key() > after.key());
    }
    if limit == 0 {
        let next = (!entries.is_empty()).then(|| after.unwrap_or_else(ListPosition::start));
        return (Vec::new(), next);
    }
    let next = (entries.len() > limit)
        .then(|| entries.get(limit.saturating_sub(1)).map(ListPosition::of))
        .flatten();
    entries.truncate(limit);
    (entries, next)
}

impl SessionEntry {
    /// Usable at `now` ([`SessionStatus::at`]: the index may still list expired sessions until
    /// TTL deletes them).
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        SessionStatus::at(self.expires_at, self.absolute_expires_at, now).is_active()
    }

    /// An impersonation session (its profile, which the index projects, says so): counted
    /// toward no per-user cap, never evicted by one.
    pub fn is_impersonation(&self) -> bool {
        self.profile == IMPERSONATION_PROFILE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TokenHash;
    use chrono::Duration;

    fn entry(minutes_ago: i64, now: DateTime<Utc>) -> SessionEntry {
        SessionEntry {
            token: TokenHash::from_encoded(&"A".repeat(43)).unwrap(),
            session_id: SessionId::random(),
            user_key: UserKey::from_stored("alice"),
            user_id: UserId::parse("alice").unwrap(),
            tenant_id: None,
            created_at: now - Duration::days(1),
            last_seen_at: now - Duration::minutes(minutes_ago),
            expires_at: now + Duration::hours(1),
            absolute_expires_at: now + Duration::days(1),
            client: ClientInfo::default(),
            authentication: Authentication::at(now - Duration::days(1)),
            profile: crate::domain::DEFAULT_PROFILE.to_owned(),
            actor: None,
        }
    }

    #[test]
    fn pages_walk_every_entry_once_most_recent_first() {
        let now = Utc::now();
        // Two entries share a last use: the id breaks the tie.
        let entries: Vec<_> = [5, 1, 9, 3, 3, 7, 2]
            .iter()
            .map(|m| entry(*m, now))
            .collect();
        let mut seen = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let (page, next) = page_of(entries.clone(), after, 3);
            assert!(page.len() <= 3);
            seen.extend(page);
            pages += 1;
            match next {
                Some(position) => after = Some(position),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen.len(), entries.len());
        let ages: Vec<i64> = seen
            .iter()
            .map(|e| (now - e.last_seen_at).num_minutes())
            .collect();
        assert_eq!(ages, [1, 2, 3, 3, 5, 7, 9]);
    }

    #[test]
    fn an_empty_page_continues_from_where_it_was() {
        let now = Utc::now();
        let entries: Vec<_> = (0..2).map(|m| entry(m, now)).collect();
        let (none, next) = page_of(entries.clone(), None, 0);
        assert!(none.is_empty());
        assert_eq!(page_of(entries, next, 5).0.len(), 2, "nothing skipped");
    }

    #[test]
    fn an_exact_last_page_has_no_next_position() {
        let now = Utc::now();
        let entries: Vec<_> = (0..4).map(|m| entry(m, now)).collect();
        assert!(page_of(entries.clone(), None, 4).1.is_none());
        assert!(page_of(entries, None, 3).1.is_some());
    }
}
