//! The settings of session tokens for other services (`SESSION_TOKEN_*`), read and checked:
//! at least one KMS key, and audiences whose lifetimes stay within the bounds the revocation
//! promise rests on.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::env::{DurationError, Env, parse_duration};
use super::error::ConfigError;
use crate::domain::{
    DEFAULT_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME, TokenAudience,
};
use crate::tokens::TokenSettings;

/// One audience as `SESSION_TOKEN_AUDIENCES` writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AudienceSetting {
    #[serde(default)]
    lifetime: Option<String>,
    #[serde(default)]
    data: Vec<String>,
}

impl TokenSettings {
    /// The token settings the environment sets.
    pub(super) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let keys = env.list("SESSION_TOKEN_KEYS");
        if keys.is_empty() {
            return Err(ConfigError::Missing {
                name: "SESSION_TOKEN_KEYS",
            });
        }
        let audiences = env
            .optional_with("SESSION_TOKEN_AUDIENCES", parse_audiences)?
            .unwrap_or_default();
        Ok(Self { audiences, keys })
    }
}

/// Why `SESSION_TOKEN_AUDIENCES` was refused.
#[derive(Debug, thiserror::Error)]
pub enum AudiencesError {
    /// Not a JSON object of audiences, or an audience with an unknown field.
    #[error("expected a JSON object of audience to {{\"lifetime\", \"data\"}}: {0}")]
    Json(#[source] serde_json::Error),
    /// An audience name that cannot be an `aud` claim.
    #[error("{0:?}: an audience is 1 to 256 characters, no control characters")]
    Name(String),
    /// A lifetime not in the duration syntax.
    #[error("{audience}: lifetime: {source}")]
    Duration {
        /// The audience.
        audience: String,
        /// What is wrong with its lifetime.
        source: DurationError,
    },
    /// A lifetime out of bounds.
    #[error("{0}: a token lives between 10s and 1h")]
    Lifetime(String),
}

/// `{"orders-api": {"lifetime": "5m", "data": ["plan"]}, ...}`.
fn parse_audiences(raw: &str) -> Result<BTreeMap<String, TokenAudience>, AudiencesError> {
    let parsed: BTreeMap<String, AudienceSetting> =
        serde_json::from_str(raw).map_err(AudiencesError::Json)?;
    parsed
        .into_iter()
        .map(|(name, setting)| {
            if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
                return Err(AudiencesError::Name(name));
            }
            let lifetime = match setting.lifetime {
                None => DEFAULT_TOKEN_LIFETIME,
                Some(raw) => parse_duration(&raw).map_err(|source| AudiencesError::Duration {
                    audience: name.clone(),
                    source,
                })?,
            };
            if lifetime < MIN_TOKEN_LIFETIME || lifetime > MAX_TOKEN_LIFETIME {
                return Err(AudiencesError::Lifetime(name));
            }
            Ok((
                name,
                TokenAudience {
                    lifetime,
                    data_keys: setting.data,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<TokenSettings, ConfigError> {
        let lookup = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        TokenSettings::read(&Env(&lookup))
    }

    #[test]
    fn audiences_get_their_lifetimes_and_data_keys() {
        let settings = read(&[
            ("SESSION_TOKEN_KEYS", "alias/a, alias/b"),
            (
                "SESSION_TOKEN_AUDIENCES",
                r#"{"orders": {"lifetime": "2m", "data": ["plan"]}, "search": {}}"#,
            ),
        ])
        .unwrap();
        assert_eq!(settings.keys, ["alias/a", "alias/b"]);
        assert_eq!(settings.audiences["orders"].lifetime, Duration::minutes(2));
        assert_eq!(settings.audiences["orders"].data_keys, ["plan"]);
        assert_eq!(
            settings.audiences["search"].lifetime,
            DEFAULT_TOKEN_LIFETIME
        );
    }

    #[test]
    fn a_key_is_required_and_lifetimes_are_bounded() {
        assert!(matches!(
            read(&[]),
            Err(ConfigError::Missing {
                name: "SESSION_TOKEN_KEYS"
            })
        ));
        for bad in [
            r#"{"orders": {"lifetime": "2h"}}"#,
            r#"{"orders": {"lifetime": "1s"}}"#,
            r#"{"orders": {"lifetime": "soon"}}"#,
            r#"{"orders": {"lifetme": "5m"}}"#,
            r#"{"": {}}"#,
            r#"["orders"]"#,
        ] {
            let err = read(&[
                ("SESSION_TOKEN_KEYS", "alias/a"),
                ("SESSION_TOKEN_AUDIENCES", bad),
            ])
            .unwrap_err();
            assert!(
                err.to_string().contains("SESSION_TOKEN_AUDIENCES"),
                "{bad}: {err}"
            );
        }
    }
}
