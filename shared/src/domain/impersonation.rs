//! Impersonation: a support engineer signed in as a user, every step attributed. An
//! administrator's IAM principal gets a one-time [`ImpersonationTicket`] for one user
//! ([`ImpersonationGrant`]); signing in with it starts a session that carries its [`Actor`],
//! runs under the [`IMPERSONATION_PROFILE`], and may not do what only the user may do
//! ([`Restricted`]).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::ids::{TenantId, UserId, UserKey};
use super::token::{SessionToken, TokenFormatError, TokenHash};

/// The lifetime profile of every impersonation session: built in (absolute one hour, idle 30
/// minutes, a cookie that ends with the browser), reconfigurable in `SESSION_PROFILES`, and
/// never given to an ordinary sign-in.
pub const IMPERSONATION_PROFILE: &str = "impersonation";

/// How long an impersonation ticket may be redeemed after it was minted.
pub const IMPERSONATION_TICKET_LIFETIME: Duration = Duration::minutes(5);

/// The method an impersonation session's proof of identity names (`amr`).
pub const IMPERSONATION_METHOD: &str = "impersonation";

/// Who acts for the user in an impersonation session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The IAM principal (ARN) that minted the ticket.
    pub principal: String,
    /// Why, as the administrator said (a support case, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What an impersonation session may not do: each is 403 `impersonation_forbidden`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restricted {
    /// List the user's sessions (`GET /sessions`).
    ListSessions,
    /// End the user's other sessions (`DELETE /sessions`, `DELETE /sessions/{other}`).
    RevokeOthers,
    /// Prove the user's identity again (`POST /sessions/current/reauth`).
    Reauthenticate,
    /// Pass a recent-authentication check (`max_auth_age`, `SESSION_FRESH_ROUTES`, the guards'
    /// `max_auth_age`): the routes an app keeps for the user's own sensitive changes.
    FreshAuthentication,
    /// Start another session while presenting this one (`POST /sessions`).
    SignIn,
}

impl Restricted {
    /// What the refusal says.
    pub fn message(self) -> &'static str {
        match self {
            Self::ListSessions => "an impersonation session may not list the user's sessions",
            Self::RevokeOthers => "an impersonation session may not end the user's other sessions",
            Self::Reauthenticate => "an impersonation session may not re-authenticate",
            Self::FreshAuthentication => {
                "an impersonation session never counts as a recent authentication by the user"
            }
            Self::SignIn => {
                "an impersonation session may not start another session: sign out of it first"
            }
        }
    }
}

/// A refused action of an impersonation session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.message())]
pub struct ImpersonationForbidden(pub Restricted);

/// The one-time secret an administrator hands to the support engineer: redeemed at sign-in
/// (`{"impersonation_ticket": ...}`), stored only as its hash. The same form as a session
/// token, never accepted as one (a session is looked up under another key).
#[derive(Debug)]
pub struct ImpersonationTicket(SessionToken);

impl ImpersonationTicket {
    /// A fresh ticket from the OS's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        SessionToken::generate().map(Self)
    }

    /// A ticket as the client sent it.
    pub fn parse(raw: &str) -> Result<Self, TokenFormatError> {
        SessionToken::parse(raw).map(Self)
    }

    /// Its hash: the key of its grant.
    pub fn hash(&self) -> TokenHash {
        self.0.hash()
    }

    /// The secret itself: only for the one response that hands it out.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

/// What a ticket grants: a session as this user, acted by this principal, until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpersonationGrant {
    /// The user impersonated.
    pub user_id: UserId,
    /// Their tenant.
    pub tenant_id: Option<TenantId>,
    /// Their issuer (`None`: users of trusted callers).
    pub issuer: Option<String>,
    /// Who acts.
    pub actor: Actor,
    /// The last moment the ticket may be redeemed.
    pub expires_at: DateTime<Utc>,
}

impl ImpersonationGrant {
    /// The user's key, scoped as their sessions are.
    pub fn user_key(&self) -> UserKey {
        UserKey::of(
            self.issuer.as_deref(),
            self.tenant_id.as_ref(),
            &self.user_id,
        )
    }

    /// Whether the ticket may still be redeemed at `now`.
    pub fn is_redeemable(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}
