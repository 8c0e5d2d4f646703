//! A session token for another service: the claims of the short-lived JWT a session is turned
//! into for one audience (`POST /sessions/current/token`), which that service verifies offline
//! against the published keys. One definition for the side that signs and the side that
//! verifies (the `token` feature's verifier reads the same struct).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Session;

/// A token's lifetime when its audience names none.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::minutes(5);
/// The longest lifetime an audience may give its tokens: a token outlives a revoked session by
/// at most its lifetime.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::hours(1);
/// The shortest (a token must live long enough to reach the service).
pub const MIN_TOKEN_LIFETIME: Duration = Duration::seconds(10);

/// What one audience gets (`SESSION_TOKEN_AUDIENCES`): how long its tokens live and which keys of
/// the session's data they carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAudience {
    /// Each token's lifetime, never past the session's own deadlines.
    pub lifetime: Duration,
    /// The data keys copied into the `data` claim (server-only keys too: only the service signs).
    pub data_keys: Vec<String>,
}

/// Who acts for the user (RFC 8693 `act`): set only in a token minted from an impersonation
/// session, so the receiving service sees that support, not the user, is calling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenActor {
    /// The actor's identity (the IAM principal that started the impersonation).
    pub sub: String,
    /// Why, as the administrator said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The claims of a session token for another service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceTokenClaims {
    /// The API's public origin.
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The one audience it was minted for.
    pub aud: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expiry (seconds since the epoch): the audience's lifetime, never past the session's
    /// idle or absolute deadline.
    pub exp: i64,
    /// This token's unique id.
    pub jti: String,
    /// The session it was minted from (stable across rotations): what `session.revoked`
    /// events name, for a receiver that deny-lists.
    pub sid: String,
    /// The session's tenant, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// When the user last proved who they are (seconds since the epoch).
    pub auth_time: i64,
    /// How, as the identity provider said.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The assurance level, if the identity provider gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The session's lifetime profile.
    pub profile: String,
    /// Who acts for the user: only from an impersonation session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<TokenActor>,
    /// The session data keys the audience is given (those the session has).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub data: Map<String, Value>,
}

impl ServiceTokenClaims {
    /// The claims of a token for `audience` (named `aud`) minted from `session` at `now`.
    pub fn of(
        session: &Session,
        aud: &str,
        audience: &TokenAudience,
        iss: &str,
        jti: String,
        now: DateTime<Utc>,
    ) -> Self {
        let expires = (now + audience.lifetime)
            .min(session.expires_at)
            .min(session.absolute_expires_at);
        let data = audience
            .data_keys
            .iter()
            .filter_map(|key| {
                let value = session.data.as_map().get(key)?;
                Some((key.clone(), value.clone()))
            })
            .collect();
        Self {
            iss: iss.to_owned(),
            sub: session.user_id.as_str().to_owned(),
            aud: aud.to_owned(),
            iat: now.timestamp(),
            exp: expires.timestamp(),
            jti,
            sid: session.id.to_string(),
            tenant_id: session.tenant_id.as_ref().map(|t| t.as_str().to_owned()),
            auth_time: session.authentication.at.timestamp(),
            amr: session.authentication.methods.clone(),
            acr: session.authentication.context_class.clone(),
            profile: session.profile.clone(),
            act: session.actor.as_ref().map(|actor| TokenActor {
                sub: actor.principal.clone(),
                reason: actor.reason.clone(),
            }),
            data,
        }
    }

    /// When the token expires.
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}
