//! Proof of identity at sign-in: a JWT from an identity provider or from the app's own backend.
//! Only the sign-in function builds a verifier; every other function starts without `AUTH_*`
//! settings and fetches no keys.
//!
//! Two kinds of issuers can be configured at once:
//! - an HS256 "login ticket" issuer with a shared secret (`AUTH_JWT_*`), for backends that
//!   authenticated the user themselves (and for local development);
//! - any number of asymmetric issuers (`AUTH_ISSUERS`): ID tokens signed RS256 or ES256 (Auth0,
//!   Cognito, Okta, ...) verified against a JWKS given inline, as a file, or as a URL fetched at
//!   cold start and refetched, rate-limited, when a token names an unknown `kid`.
//!
//! The issuer is chosen by the token's `iss`; its key by `kid`. The algorithm must belong to
//! that issuer (an HS256 token against an RSA issuer is refused: no algorithm confusion), and a
//! token older than the maximum age (`iat`) is refused even if it has not expired.

//!
//! Files: `settings` (its own settings types, assembled by `config`), `verifier` (the checks),
//! `jwks` (the key cache and its rate-limited refresh), `mint` (dev tickets, `dev` feature only).
//! Above `domain` (it yields a [`UserId`] and [`TenantId`]); must not touch the store or HTTP.

mod jwks;
mod logout;
#[cfg(any(test, feature = "dev"))]
mod mint;
#[cfg(feature = "token")]
mod service_token;
mod settings;
mod verifier;

use crate::domain::{Actor, Authentication, TenantId, TicketUse, UserId};

pub use logout::{BACKCHANNEL_LOGOUT_EVENT, LOGOUT_TOKEN_MAX_AGE, LogoutToken, LogoutTokenError};
#[cfg(any(test, feature = "dev"))]
pub use mint::{TicketClaims, mint_hs256};
#[cfg(feature = "token")]
pub use service_token::{
    DEFAULT_LEEWAY, KEY_SET_MAX_AGE, MAX_LEEWAY, REFETCH_INTERVAL, ServiceTokenVerifier,
    VerifierOptions,
};
pub use settings::{Hs256Config, IssuerConfig, IssuersError, JwksSource, JwtConfig, parse_issuers};
pub use verifier::IdTokenVerifier;

/// Who the caller proved to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The subject.
    pub user_id: UserId,
    /// The tenant, from the issuer's tenant claim.
    pub tenant_id: Option<TenantId>,
    /// The issuer that vouched for it (`iss`); `None` for trusted callers. With the tenant, it
    /// scopes the user: the same `sub` from two issuers is two users.
    pub issuer: Option<String>,
    /// When and how the user authenticated (`auth_time` or `iat`, `amr`, `acr`); `None` when
    /// the token says nothing (the sign-in time stands in).
    pub authentication: Option<Authentication>,
    /// The identity token's single use, when the identity came from one (`None` for
    /// trusted callers, who present no token).
    pub ticket: Option<TicketUse>,
    /// The lifetime profiles this identity may use, from the identity token's profile claim
    /// (`AUTH_PROFILE_CLAIM`); `None`: any (no claim configured, or a trusted caller).
    pub allowed_profiles: Option<Vec<String>>,
    /// Who acts for the user: an administrator's impersonation ticket (`None`: the user).
    pub actor: Option<Actor>,
    /// The identity provider's session the token came from (`sid`), for its back-channel
    /// logout.
    pub provider_sid: Option<String>,
}

/// Why an identity token was refused. Messages are safe to return to the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    /// Not a JWT.
    #[error("the identity token is not a well-formed JWT")]
    Malformed,
    /// The header or the payload names one member twice (which one counts would be a guess).
    #[error("the identity token names a member twice in its header or payload")]
    DuplicateMember,
    /// An algorithm the issuer does not use.
    #[error("the identity token's algorithm is not accepted for its issuer")]
    UnsupportedAlgorithm,
    /// The signature does not verify.
    #[error("the identity token signature is invalid")]
    BadSignature,
    /// Past `exp`.
    #[error("the identity token has expired")]
    Expired,
    /// Before `nbf` (or `iat` in the future).
    #[error("the identity token is not valid yet")]
    NotYetValid,
    /// Issued longer ago than the maximum age.
    #[error("the identity token is older than the accepted maximum age")]
    TooOld,
    /// No configured issuer has this `iss`.
    #[error("the identity token was issued by an unexpected issuer")]
    WrongIssuer,
    /// Not for this audience.
    #[error("the identity token is meant for another audience")]
    WrongAudience,
    /// A required claim is missing.
    #[error("the identity token lacks the required claim {0:?}")]
    MissingClaim(String),
    /// A claim has the wrong type or value.
    #[error("the identity token claim {0:?} is not valid")]
    InvalidClaim(String),
    /// No `kid`, and the issuer has several keys.
    #[error("the identity token has no key id (kid) and its issuer has several keys")]
    MissingKeyId,
    /// A key the issuer does not publish.
    #[error("the identity token is signed with a key its issuer does not publish")]
    UnknownKey,
    /// The header lists critical extensions (`crit`): this service understands none, and
    /// RFC 7515 §4.1.11 requires refusing a token whose critical extensions are not understood.
    #[error("the identity token requires header extensions (crit) this service does not support")]
    UnsupportedCriticalExtension,
    /// The issuer's keys could not be fetched: not the caller's fault (503).
    #[error("the identity provider's keys are unavailable")]
    KeysUnavailable,
}
