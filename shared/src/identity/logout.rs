//! OpenID Connect Back-Channel Logout 1.0, section 2.6: the checks a logout token must pass.
//! It is a JWT of a configured identity provider (`AUTH_ISSUERS`, never the app's own HS256
//! login tickets), signed by a key of its JWKS, for one of its audiences, issued within
//! [`LOGOUT_TOKEN_MAX_AGE`], named by a `jti` (its single use is recorded by the caller), with
//! the back-channel logout event as an object, a `sub` and/or a `sid`, and no `nonce` (so an ID
//! token can never pass for one).

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use serde::Deserialize;
use serde_json::Value;

use super::IdentityError;
use super::verifier::{IdTokenVerifier, IssuerKinds, check_issued_within, tenant_of};
use crate::domain::{MAX_SID_CHARS, TenantId, TicketUse, UserId};

/// The event a logout token carries (`events`).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long after its `iat` a logout token is accepted (the specification recommends
/// providers give them at most two minutes; `exp`, when present, is checked as well).
pub const LOGOUT_TOKEN_MAX_AGE: StdDuration = StdDuration::from_secs(300);

/// What a valid logout token asks: end the sessions of this provider session (`sid`), or of
/// this user (`sub`), at this issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutToken {
    /// The provider that signed it.
    pub issuer: String,
    /// The user, when the token names one.
    pub subject: Option<UserId>,
    /// The tenant, when the token carries the issuer's tenant claim.
    pub tenant_id: Option<TenantId>,
    /// The provider's session, when the token names one.
    pub sid: Option<String>,
    /// Its single use (by `jti`).
    pub ticket: TicketUse,
}

/// Why a logout token was refused: the answer's `error_description`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogoutTokenError {
    /// A check every token of the issuer passes.
    #[error(transparent)]
    Token(#[from] IdentityError),
    /// A rule of the logout token itself.
    #[error("{0}")]
    NotALogoutToken(&'static str),
}

#[derive(Deserialize)]
struct LogoutClaims {
    iat: i64,
    #[serde(flatten)]
    other: HashMap<String, Value>,
}

impl IdTokenVerifier {
    /// The logout a token asks for, or why it asks for none.
    pub async fn verify_logout(&self, token: &str) -> Result<LogoutToken, LogoutTokenError> {
        let (issuer, header, data) = self
            .decoded::<LogoutClaims>(token, &["iss", "aud", "iat"], IssuerKinds::Providers)
            .await?;
        let refused = |rule| Err(LogoutTokenError::NotALogoutToken(rule));
        // Explicit typing (RFC 8725 3.11): a logout token says `logout+jwt`, or nothing.
        if let Some(typ) = header.typ.as_deref()
            && !["logout+jwt", "application/logout+jwt", "JWT"]
                .iter()
                .any(|t| typ.eq_ignore_ascii_case(t))
        {
            return refused("typ is not logout+jwt");
        }
        check_issued_within(data.claims.iat, LOGOUT_TOKEN_MAX_AGE, self.leeway())?;
        let claims = &data.claims.other;
        let Some(Value::String(jti)) = claims.get("jti").filter(|j| j.as_str() != Some("")) else {
            return refused("the jti claim is required");
        };
        match claims.get("events") {
            Some(Value::Object(events)) => match events.get(BACKCHANNEL_LOGOUT_EVENT) {
                Some(Value::Object(_)) => {}
                Some(_) => return refused("the back-channel logout event must be a JSON object"),
                None => return refused("events lacks the back-channel logout event"),
            },
            Some(_) => return refused("events must be a JSON object"),
            None => return refused("the events claim is required"),
        }
        if claims.contains_key("nonce") {
            return refused("a logout token carries no nonce");
        }
        let subject = match claims.get("sub") {
            None => None,
            Some(Value::String(sub)) => {
                Some(UserId::parse(sub).map_err(|_| IdentityError::InvalidClaim("sub".into()))?)
            }
            Some(_) => return Err(IdentityError::InvalidClaim("sub".into()).into()),
        };
        let sid = sid_of(claims)?;
        if subject.is_none() && sid.is_none() {
            return refused("a logout token names a sub, a sid, or both");
        }
        // Remembered until no copy could verify any more.
        let window =
            i64::try_from((LOGOUT_TOKEN_MAX_AGE + self.leeway() * 2).as_secs()).unwrap_or(i64::MAX);
        let usable_until =
            chrono::DateTime::from_timestamp(data.claims.iat.saturating_add(window), 0)
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        Ok(LogoutToken {
            tenant_id: tenant_of(claims, &issuer.tenant_claim)?,
            ticket: TicketUse::of_jti(&issuer.issuer, jti, usable_until),
            issuer: issuer.issuer.clone(),
            subject,
            sid,
        })
    }
}

/// The provider's session id (`sid`): a string of 1 to [`MAX_SID_CHARS`] characters, if given.
pub(super) fn sid_of(claims: &HashMap<String, Value>) -> Result<Option<String>, IdentityError> {
    match claims.get("sid") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(sid)) if !sid.is_empty() && sid.chars().count() <= MAX_SID_CHARS => {
            Ok(Some(sid.clone()))
        }
        Some(_) => Err(IdentityError::InvalidClaim("sid".into())),
    }
}
