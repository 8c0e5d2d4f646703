//! The identity settings (`AUTH_*`), read and checked: at least one issuer, an HS256 key no
//! shorter than the hash it keys. Read only by the functions that verify identity tokens.

use super::env::Env;
use super::error::{ConfigError, Rule};
use crate::identity::{Hs256Config, JwtConfig, parse_issuers};

/// Shortest HS256 secret accepted: 32 bytes, the size of the SHA-256 output it keys.
const MIN_HS256_SECRET_BYTES: usize = 32;

impl JwtConfig {
    /// The identity settings the environment sets, the HS256 secret given in plain.
    pub(super) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let hs256 = match env.optional("AUTH_JWT_HS256_SECRET") {
            None => None,
            Some(secret) if secret.len() < MIN_HS256_SECRET_BYTES => {
                return Err(ConfigError::invalid_secret(
                    "AUTH_JWT_HS256_SECRET",
                    Rule::ShortSecret(MIN_HS256_SECRET_BYTES),
                ));
            }
            Some(secret) => Some(Hs256Config {
                secret: secret.into_bytes(),
                issuer: env.string("AUTH_JWT_ISSUER")?,
                audience: env.string("AUTH_JWT_AUDIENCE")?,
            }),
        };
        let issuers = match env.optional("AUTH_ISSUERS") {
            None => Vec::new(),
            Some(raw) => parse_issuers(&raw).map_err(|reason| {
                ConfigError::invalid("AUTH_ISSUERS", raw.chars().take(80).collect(), reason)
            })?,
        };
        if hs256.is_none() && issuers.is_empty() {
            return Err(ConfigError::Missing {
                name: "AUTH_JWT_HS256_SECRET (or AUTH_ISSUERS)",
            });
        }
        Ok(Self {
            hs256,
            issuers,
            tenant_claim: env.string("AUTH_JWT_TENANT_CLAIM")?,
            leeway: env.std_duration("AUTH_JWT_LEEWAY")?,
            max_age: env
                .optional_duration("AUTH_MAX_TOKEN_AGE")?
                .and_then(|d| d.to_std().ok()),
            jwks_refresh_interval: env.std_duration("AUTH_JWKS_REFRESH_INTERVAL")?,
            jwks_max_age: None,
            profile_claim: env.optional("AUTH_PROFILE_CLAIM"),
        })
    }
}
