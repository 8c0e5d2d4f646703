//! What a token's item can say: the live session, a retired (rotated) token, or a revoked one.

use chrono::{DateTime, Duration, Utc};

use super::guest::Upgrade;
use super::ids::{SessionId, TenantId, UserId, UserKey};
use super::session::Session;
use super::successor::SuccessorKey;
use super::token::TokenHash;

/// Why a session was ended by the service rather than by its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    /// A retired token was presented after its grace window: the lineage is presumed stolen.
    Replay,
    /// The user reached the per-user session cap and this was the least recently used one.
    Evicted,
    /// A binding check failed (user agent changed under the `reject` policy).
    Anomaly,
    /// Revoked on request (the user, or an administrator).
    Revoked,
    /// The user signed out at the identity provider, which said so (back-channel logout).
    IdpLogout,
    /// A guest session whose visitor signed in: its data went to the signed-in session.
    Upgraded,
}

impl RevocationReason {
    /// The stable name stored and returned to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replay => "replay",
            Self::Evicted => "evicted",
            Self::Anomaly => "anomaly",
            Self::Revoked => "revoked",
            Self::IdpLogout => "idp_logout",
            Self::Upgraded => "upgraded",
        }
    }

    /// The reason named `raw`, if any.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "replay" => Self::Replay,
            "evicted" => Self::Evicted,
            "anomaly" => Self::Anomaly,
            "revoked" => Self::Revoked,
            "idp_logout" => Self::IdpLogout,
            "upgraded" => Self::Upgraded,
            _ => return None,
        })
    }
}

/// Why and by whom a session was revoked: what its tombstone keeps and its `session.revoked`
/// event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationCause {
    /// Why.
    pub reason: RevocationReason,
    /// Who: `user` (from one of their sessions), an administrator's IAM principal ARN, or the
    /// identity provider's issuer (a back-channel logout);
    /// `None` when the service itself ended it (a replay, an eviction, an anomaly).
    pub by: Option<String>,
    /// What the administrator wrote (`?reason=` of the admin route), if anything.
    pub note: Option<String>,
}

impl From<RevocationReason> for RevocationCause {
    fn from(reason: RevocationReason) -> Self {
        Self {
            reason,
            by: None,
            note: None,
        }
    }
}

/// A token that was rotated away. Within the grace window it leads to its successor.
#[derive(Debug, Clone)]
pub struct RetiredToken {
    /// The session the token belonged to.
    pub session_id: SessionId,
    /// Whose session, scoped by issuer and tenant.
    pub user_key: UserKey,
    /// Whose session.
    pub user_id: UserId,
    /// The session's tenant, if any.
    pub tenant_id: Option<TenantId>,
    /// When it was rotated away.
    pub retired_at: DateTime<Utc>,
    /// The hash of the token that replaced it.
    pub successor: TokenHash,
    /// How this token leads to its successor.
    pub key: SuccessorKey,
    /// The session's absolute deadline.
    pub absolute_expires_at: DateTime<Utc>,
    /// What rotated it (`refresh`, `renewal`, ...); `None` for tokens retired before this
    /// was kept.
    pub trigger: Option<String>,
}

impl RetiredToken {
    /// Still inside the grace window: presenting it is a race (other tab, lost response), not
    /// a replay.
    pub fn is_in_grace(&self, grace: Duration, now: DateTime<Utc>) -> bool {
        now < self.retired_at + grace
    }
}

/// The head of a lineage that the service ended; kept until TTL so the holder learns why.
#[derive(Debug, Clone)]
pub struct RevokedToken {
    /// The session the token belonged to.
    pub session_id: SessionId,
    /// Whose session.
    pub user_id: UserId,
    /// The session's tenant, if any.
    pub tenant_id: Option<TenantId>,
    /// Why it was revoked.
    pub reason: RevocationReason,
    /// Who revoked it and what they noted (tombstones written before this was kept have
    /// neither).
    pub by: Option<String>,
    /// The administrator's note.
    pub note: Option<String>,
    /// When.
    pub revoked_at: DateTime<Utc>,
    /// A guest session's upgrade: the signed-in session it became.
    pub upgrade: Option<Upgrade>,
}

/// What the item stored under a token hash says about that token.
// Read one at a time and matched at once, nearly always `Active`: boxing the session would add
// an allocation to every validate for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum TokenRecord {
    /// The live head of its session.
    Active(Session),
    /// Rotated away: its successor is the head (within the grace window).
    Retired(RetiredToken),
    /// Ended by the service: presenting it says why.
    Revoked(RevokedToken),
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::SessionToken;

    #[test]
    fn a_retired_token_is_in_grace_strictly_before_the_window_ends() {
        let retired_at = Utc.timestamp_opt(1_000, 0).unwrap();
        let token = SessionToken::generate().unwrap();
        let retired = RetiredToken {
            session_id: SessionId::random(),
            user_key: UserKey::from_stored("u"),
            user_id: UserId::parse("u").unwrap(),
            tenant_id: None,
            retired_at,
            successor: token.hash(),
            key: crate::domain::SuccessorKey::Derived(crate::domain::RotationSeed::random()),
            absolute_expires_at: retired_at + Duration::days(1),
            trigger: None,
        };
        let grace = Duration::seconds(30);
        assert!(retired.is_in_grace(grace, retired_at + Duration::seconds(29)));
        assert!(!retired.is_in_grace(grace, retired_at + Duration::seconds(30)));
    }

    #[test]
    fn reasons_round_trip_through_their_stored_names() {
        for reason in [
            RevocationReason::Replay,
            RevocationReason::Evicted,
            RevocationReason::Anomaly,
            RevocationReason::Revoked,
            RevocationReason::IdpLogout,
            RevocationReason::Upgraded,
        ] {
            assert_eq!(RevocationReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(RevocationReason::parse("other"), None);
    }
}
