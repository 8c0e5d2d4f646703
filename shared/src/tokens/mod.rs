//! Session tokens for other services: a live session turned into a short-lived JWT (ES256) for
//! one configured audience, signed by a key that never leaves AWS KMS, and the key set that
//! services verify it against offline (`GET /.well-known/jwks.json`). Only `session-token`
//! builds this (feature `token-mint`); the claims are [`crate::domain::ServiceTokenClaims`].
//!
//! Key rotation without a failed verification: a key is published (listed after the signing
//! key) before it signs (listed first), and stays published until every token it signed has
//! expired. The README's runbook gives the steps.

mod jwk;
mod kms;

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

pub use jwk::{KeySet, PublicJwk};
pub use kms::{KmsKeys, PublishedKey, SigningError, kms_client};

use crate::domain::{ServiceTokenClaims, Session, TokenAudience};

/// How long services may cache the key set (`Cache-Control: max-age`): a key is published at
/// least this long before it signs (the rotation runbook).
pub const JWKS_MAX_AGE_SECONDS: u32 = 300;

/// The settings of minting (`SESSION_TOKEN_*`).
#[derive(Debug, Clone, Default)]
pub struct TokenSettings {
    /// The audiences a token may be minted for, by name (`SESSION_TOKEN_AUDIENCES`).
    pub audiences: BTreeMap<String, TokenAudience>,
    /// The KMS keys: the first signs, all are published (`SESSION_TOKEN_KEYS`).
    pub keys: Vec<String>,
}

/// Why no token was minted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The request names an audience that is not configured.
    #[error("unknown audience {0:?}: name one of the audiences in SESSION_TOKEN_AUDIENCES")]
    UnknownAudience(String),
    /// The request names no audience, and there is not exactly one to default to.
    #[error("name the audience: more than one (or none) is configured")]
    AudienceRequired,
    /// The keys could not be read or used (503).
    #[error(transparent)]
    Signing(#[from] SigningError),
}

/// A minted token.
#[derive(Debug, Clone)]
pub struct Minted {
    /// The compact JWS.
    pub token: String,
    /// Its claims.
    pub claims: ServiceTokenClaims,
}

/// Mints tokens and publishes the keys.
pub struct TokenService {
    settings: TokenSettings,
    keys: KmsKeys,
}

#[derive(Serialize)]
struct JwsHeader<'a> {
    alg: &'static str,
    kid: &'a str,
    typ: &'static str,
}

impl TokenService {
    /// Minting by `settings`, signing through `client`.
    pub fn new(settings: TokenSettings, client: aws_sdk_kms::Client) -> Self {
        let keys = KmsKeys::new(client, settings.keys.clone());
        Self { settings, keys }
    }

    /// The audience `requested` names, or the only one configured when it names none.
    pub fn audience<'a>(
        &'a self,
        requested: Option<&'a str>,
    ) -> Result<(&'a str, &'a TokenAudience), TokenError> {
        match requested {
            Some(name) => self
                .settings
                .audiences
                .get_key_value(name)
                .map(|(name, audience)| (name.as_str(), audience))
                .ok_or_else(|| TokenError::UnknownAudience(name.to_owned())),
            None if self.settings.audiences.len() == 1 => self
                .settings
                .audiences
                .iter()
                .next()
                .map(|(name, audience)| (name.as_str(), audience))
                .ok_or(TokenError::AudienceRequired),
            None => Err(TokenError::AudienceRequired),
        }
    }

    /// A token for `aud` from `session` (which the caller validated), issued by `iss` at `now`.
    pub async fn mint(
        &self,
        session: &Session,
        requested: Option<&str>,
        iss: &str,
        now: DateTime<Utc>,
    ) -> Result<Minted, TokenError> {
        let (aud, audience) = self.audience(requested)?;
        let published = self.keys.published().await?;
        let signer = published.first().ok_or(SigningError::NoKey)?;
        let claims =
            ServiceTokenClaims::of(session, aud, audience, iss, Uuid::new_v4().to_string(), now);
        let header = JwsHeader {
            alg: "ES256",
            kid: &signer.jwk.kid,
            typ: "JWT",
        };
        let mut token = encoded_json(&header);
        token.push('.');
        token.push_str(&encoded_json(&claims));
        let signature = self.keys.sign(signer, token.as_bytes()).await?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(Minted { token, claims })
    }

    /// The ES256 signature of a JWS signing input (`header.payload`) by the signing key, and
    /// that key's `kid`: what [`Self::mint`] signs with (the tests also sign claims of their own
    /// with it).
    pub async fn sign(&self, signing_input: &[u8]) -> Result<(String, [u8; 64]), TokenError> {
        let published = self.keys.published().await?;
        let signer = published.first().ok_or(SigningError::NoKey)?;
        let signature = self.keys.sign(signer, signing_input).await?;
        Ok((signer.jwk.kid.clone(), signature))
    }

    /// The published keys, the signing key first.
    pub async fn key_set(&self) -> Result<KeySet<'_>, TokenError> {
        let published = self.keys.published().await?;
        Ok(KeySet {
            keys: published.iter().map(|key| &key.jwk).collect(),
        })
    }
}

/// `value` as JSON, base64url without padding (a JWS segment).
fn encoded_json(value: &impl Serialize) -> String {
    // Serializing these plain structs cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}
