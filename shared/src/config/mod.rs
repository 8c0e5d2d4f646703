//! Every setting, read once per cold start from environment variables into the settings type
//! of the component it configures: [`Policy`] (session), [`HttpSettings`], [`StoreTimeouts`]
//! and the table (store), [`JwtConfig`] (identity).
//!
//! A bad value fails start-up with a message naming the variable. The same variable names are
//! the parameters of `template.yaml` and the configuration table of the README. The `AUTH_*`
//! settings are read only by [`identity_from_env`], which only the functions that verify
//! identity tokens call: every other function starts without them.
//!
//! Wiring: only `app` (and the tools) import this module; no component imports it back.

use std::time::Duration as StdDuration;

use chrono::Duration;

use crate::domain::{Lifetimes, LifetimesError, Profile};
use crate::http::HttpSettings;
use crate::http::cookies::{CookiePolicy, CookiePolicyError, SameSite};
use crate::http::origin::Origins;
use crate::identity::{Hs256Config, JwtConfig, parse_issuers};
use crate::session::Policy;
use crate::store::StoreTimeouts;

#[cfg(feature = "events")]
mod events;
mod profiles;
mod secrets;
mod settings;

#[cfg(feature = "events")]
pub use events::{deliveries_resolving_secrets, events_from_lookup, webhook_resolving_secrets};
pub use secrets::identity_resolving_secrets;
pub use settings::{SETTINGS, Setting};

/// Shortest HS256 secret accepted: 32 bytes, the size of the SHA-256 output it keys.
const MIN_HS256_SECRET_BYTES: usize = 32;

/// The settings of every function: the table, the store's budgets, the session policy and the
/// HTTP settings. No identity settings (see [`identity_from_env`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table holding sessions.
    pub table_name: String,
    /// DynamoDB call budgets.
    pub store_timeouts: StoreTimeouts,
    /// The session lifecycle.
    pub policy: Policy,
    /// Cookies, origins, limits.
    pub http: HttpSettings,
}

/// The CloudWatch namespace of the metrics every function prints
/// (`SESSION_METRICS_NAMESPACE`; its default is the settings table's).
pub fn metrics_namespace() -> String {
    let lookup = |name: &str| std::env::var(name).ok();
    Env(&lookup)
        .optional("SESSION_METRICS_NAMESPACE")
        .unwrap_or_default()
}

/// Why the configuration was refused; the message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{name} is required but not set")]
    Missing {
        /// The variable.
        name: &'static str,
    },
    /// A variable's value is not valid.
    #[error("{name}={value:?} is not valid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value (redacted for secrets).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The timeouts contradict each other.
    #[error("SESSION_IDLE_TIMEOUT / SESSION_ABSOLUTE_TIMEOUT / SESSION_SLIDING_THRESHOLD: {0}")]
    Lifetimes(#[from] LifetimesError),
    /// The cookie settings contradict each other.
    #[error("cookie settings (SESSION_COOKIE_*): {0}")]
    Cookie(#[from] CookiePolicyError),
    /// A secret named by its ARN could not be read.
    #[error("{name}: the secret could not be read from AWS Secrets Manager: {reason}")]
    Secret {
        /// The variable naming the secret.
        name: &'static str,
        /// Why (the service's error; never the secret).
        reason: String,
    },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can pass a map instead of mutating the
    /// process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let sliding_threshold = env.parsed("SESSION_SLIDING_THRESHOLD")?;
        let default_profile = Profile {
            lifetimes: Lifetimes::new(
                env.duration("SESSION_IDLE_TIMEOUT")?,
                env.duration("SESSION_ABSOLUTE_TIMEOUT")?,
                sliding_threshold,
            )?,
            rotate_after: env.optional_duration("SESSION_ROTATE_AFTER")?,
            persistent: true,
        };
        let profiles = profiles::parse_profiles(
            env.optional("SESSION_PROFILES").as_deref(),
            default_profile,
            sliding_threshold,
        )?;
        let same_site: SameSite = env.parsed("SESSION_COOKIE_SAMESITE")?;
        let cookie = CookiePolicy::new(
            &env.string("SESSION_COOKIE_NAME")?,
            same_site,
            env.optional("SESSION_COOKIE_DOMAIN"),
            env.parsed("SESSION_COOKIE_SECURE")?,
        )?;

        let store_timeouts = store_timeouts(&env)?;

        let max_per_user: u32 = env.parsed("SESSION_MAX_PER_USER")?;
        let policy = Policy {
            profiles,
            ttl_margin: env.duration("SESSION_TTL_MARGIN")?,
            rotation_grace: env.duration("SESSION_ROTATION_GRACE")?,
            user_agent_change: env.parsed("SESSION_USER_AGENT_CHANGE")?,
            ip_change: env.parsed("SESSION_IP_CHANGE")?,
            client_event_interval: env.duration("SESSION_CLIENT_EVENT_INTERVAL")?,
            max_per_user: (max_per_user > 0).then_some(max_per_user),
            single_use_tickets: env.parsed("SESSION_SINGLE_USE_TICKETS")?,
        };
        let origins = Origins {
            allowed: env
                .optional("SESSION_ALLOWED_ORIGINS")
                .map(|raw| parse_origins("SESSION_ALLOWED_ORIGINS", &raw))
                .transpose()?
                .unwrap_or_default(),
            public: env
                .optional("SESSION_PUBLIC_ORIGIN")
                .map(|raw| parse_origins("SESSION_PUBLIC_ORIGIN", &raw))
                .transpose()?
                .map(|mut one| match one.len() {
                    1 => Ok(one.remove(0)),
                    _ => Err(ConfigError::Invalid {
                        name: "SESSION_PUBLIC_ORIGIN",
                        value: one.join(","),
                        reason: "expected one origin".into(),
                    }),
                })
                .transpose()?,
        };

        let protected_data_keys: Vec<String> = env
            .optional("SESSION_PROTECTED_DATA_KEYS")
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let http = HttpSettings {
            cookie,
            origins,
            trusted_caller: env.parsed("SESSION_TRUSTED_CALLER")?,
            bearer_for_browsers: env.parsed("SESSION_BEARER_FOR_BROWSERS")?,
            protected_data_keys,
            fresh_routes: env
                .optional("SESSION_FRESH_ROUTES")
                .map(|raw| parse_fresh_routes(&raw))
                .transpose()?
                .unwrap_or_default(),
            cross_site_routes: env
                .optional("SESSION_CROSS_SITE_ROUTES")
                .map(|raw| {
                    raw.split(',')
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            authorizer_data_keys: env
                .optional("SESSION_AUTHORIZER_DATA_KEYS")
                .map(|raw| parse_data_keys(&raw))
                .transpose()?
                .unwrap_or_default(),
            max_body_bytes: env.parsed("SESSION_MAX_BODY_BYTES")?,
            max_data_bytes: env.parsed("SESSION_MAX_DATA_BYTES")?,
        };

        // What the authorizer forwards as facts about the caller must be server-only data:
        // otherwise a user could write their own roles.
        if let Some(key) = http
            .authorizer_data_keys
            .iter()
            .find(|k| !http.protected_data_keys.contains(k))
        {
            return Err(ConfigError::Invalid {
                name: "SESSION_AUTHORIZER_DATA_KEYS",
                value: key.clone(),
                reason: "every authorizer data key must also be in SESSION_PROTECTED_DATA_KEYS, \
                         or the session holder could set it"
                    .into(),
            });
        }
        Ok(Self {
            table_name: env.string("SESSION_TABLE_NAME")?,
            store_timeouts,
            policy,
            http,
        })
    }
}

/// Settings that are read from the environment of local runs but never set by the template:
/// the plain HS256 secret (deployed, it comes from Secrets Manager by its ARN).
pub const LOCAL_ONLY: &[&str] = &["AUTH_JWT_HS256_SECRET", "SESSION_WEBHOOK_SECRET"];

/// The identity settings (`AUTH_*`) from the process environment, the HS256 secret given in
/// plain (local runs, the dev tools). Deployed functions use [`identity_resolving_secrets`].
pub fn identity_from_env() -> Result<JwtConfig, ConfigError> {
    identity_from_lookup(|name| std::env::var(name).ok())
}

/// The identity settings read through `lookup`. At least one issuer is required: the HS256
/// login-ticket secret or `AUTH_ISSUERS`.
pub fn identity_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<JwtConfig, ConfigError> {
    let env = Env(&lookup);
    let hs256 = match env.optional("AUTH_JWT_HS256_SECRET") {
        None => None,
        Some(secret) => {
            if secret.len() < MIN_HS256_SECRET_BYTES {
                return Err(ConfigError::Invalid {
                    name: "AUTH_JWT_HS256_SECRET",
                    value: "<redacted>".into(),
                    reason: format!("must be at least {MIN_HS256_SECRET_BYTES} bytes"),
                });
            }
            Some(Hs256Config {
                secret: secret.into_bytes(),
                issuer: env.required("AUTH_JWT_ISSUER")?,
                audience: env.required("AUTH_JWT_AUDIENCE")?,
            })
        }
    };
    let issuers = env
        .optional("AUTH_ISSUERS")
        .map(|raw| {
            parse_issuers(&raw).map_err(|reason| ConfigError::Invalid {
                name: "AUTH_ISSUERS",
                value: raw.chars().take(80).collect(),
                reason,
            })
        })
        .transpose()?
        .unwrap_or_default();
    if hs256.is_none() && issuers.is_empty() {
        return Err(ConfigError::Missing {
            name: "AUTH_JWT_HS256_SECRET (or AUTH_ISSUERS)",
        });
    }
    Ok(JwtConfig {
        hs256,
        issuers,
        tenant_claim: env.string("AUTH_JWT_TENANT_CLAIM")?,
        leeway: env.std_duration("AUTH_JWT_LEEWAY")?,
        max_age: env
            .optional_duration("AUTH_MAX_TOKEN_AGE")?
            .and_then(|d| d.to_std().ok()),
        jwks_refresh_interval: env.std_duration("AUTH_JWKS_REFRESH_INTERVAL")?,
        profile_claim: env.optional("AUTH_PROFILE_CLAIM"),
    })
}

/// `https://app.example.com, http://localhost:9001` → normalised origins (scheme://host[:port],
/// lowercase, no path). A value that is not an origin fails start-up.
fn parse_origins(name: &'static str, raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            crate::http::origin::normalize(o).ok_or_else(|| ConfigError::Invalid {
                name,
                value: o.to_owned(),
                reason:
                    "expected an origin like https://app.example.com (scheme and host, no path)"
                        .into(),
            })
        })
        .collect()
}

/// `{"POST /payments": "5m"}` → `[("POST /payments", 5 minutes)]`.
fn parse_fresh_routes(raw: &str) -> Result<Vec<(String, Duration)>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "SESSION_FRESH_ROUTES",
        value: raw.to_owned(),
        reason,
    };
    let map: std::collections::BTreeMap<String, String> = serde_json::from_str(raw)
        .map_err(|_| invalid("expected a JSON object of routeKey to duration".into()))?;
    map.into_iter()
        .map(|(route, age)| {
            let age = parse_duration(&age).map_err(|e| invalid(format!("{route}: {e}")))?;
            Ok((route, age))
        })
        .collect()
}

/// `plan, roles` → `["plan", "roles"]`. Keys the authorizer context already uses are refused,
/// so session data can never pose as the identity.
fn parse_data_keys(raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| {
            if crate::http::authorizer::RESERVED_CONTEXT_KEYS.contains(&k) {
                return Err(ConfigError::Invalid {
                    name: "SESSION_AUTHORIZER_DATA_KEYS",
                    value: k.to_owned(),
                    reason: "this key is part of the authorizer's own context".into(),
                });
            }
            Ok(k.to_owned())
        })
        .collect()
}

/// The DynamoDB client's budgets (`STORE_*`).
fn store_timeouts(env: &Env<'_>) -> Result<StoreTimeouts, ConfigError> {
    let timeouts = StoreTimeouts {
        operation: env.std_duration("STORE_OPERATION_TIMEOUT")?,
        attempt: env.std_duration("STORE_ATTEMPT_TIMEOUT")?,
        max_attempts: env.parsed("STORE_MAX_ATTEMPTS")?,
    };
    if timeouts.max_attempts == 0 {
        return Err(ConfigError::Invalid {
            name: "STORE_MAX_ATTEMPTS",
            value: "0".into(),
            reason: "at least one attempt is needed".into(),
        });
    }
    Ok(timeouts)
}

/// Lookup with the documented defaults from [`SETTINGS`] applied.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn default_of(name: &str) -> Option<&'static str> {
        SETTINGS
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.default)
    }

    fn optional(&self, name: &'static str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .or_else(|| Self::default_of(name).map(str::to_owned))
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing { name })
    }

    fn string(&self, name: &'static str) -> Result<String, ConfigError> {
        self.required(name)
    }

    fn parsed<T>(&self, name: &'static str) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        let value = self.required(name)?;
        value.parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: e.to_string(),
            value,
        })
    }

    fn std_duration(&self, name: &'static str) -> Result<StdDuration, ConfigError> {
        let value = self.required(name)?;
        parse_duration(&value)
            .and_then(|d| d.to_std().map_err(|_| DurationError::OutOfRange))
            .map_err(|e| ConfigError::Invalid {
                name,
                reason: e.to_string(),
                value,
            })
    }

    /// A duration where `off` (or `0`) means "never".
    fn optional_duration(&self, name: &'static str) -> Result<Option<Duration>, ConfigError> {
        let value = self.required(name)?;
        parse_optional_duration(&value).map_err(|e| ConfigError::Invalid {
            name,
            reason: e.to_string(),
            value,
        })
    }

    fn duration(&self, name: &'static str) -> Result<Duration, ConfigError> {
        let value = self.required(name)?;
        parse_duration(&value).map_err(|e| ConfigError::Invalid {
            name,
            reason: e.to_string(),
            value,
        })
    }
}

/// Why a duration setting was refused.
#[derive(Debug, thiserror::Error)]
pub enum DurationError {
    /// Not in the duration syntax.
    #[error("{0} (use a duration like 30s, 8h, 7d)")]
    Syntax(#[source] humantime::DurationError),
    /// Longer than any duration can be here.
    #[error("the duration is too long")]
    OutOfRange,
}

/// `30s`, `15m`, `8h`, `7d`: the duration syntax of every setting, the one parser of them all.
fn parse_duration(value: &str) -> Result<Duration, DurationError> {
    let parsed = humantime::parse_duration(value).map_err(DurationError::Syntax)?;
    Duration::from_std(parsed).map_err(|_| DurationError::OutOfRange)
}

/// [`parse_duration`], or `None` for `off` (also `0`, `never`, `none`).
fn parse_optional_duration(value: &str) -> Result<Option<Duration>, DurationError> {
    match value.to_ascii_lowercase().as_str() {
        "off" | "0" | "never" | "none" => Ok(None),
        _ => parse_duration(value).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup_with(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut map: HashMap<String, String> = [
            ("AUTH_JWT_HS256_SECRET", "0123456789abcdef0123456789abcdef"),
            ("AUTH_JWT_ISSUER", "https://login.example"),
            ("AUTH_JWT_AUDIENCE", "sessions"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            map.insert(k.to_string(), v.to_string());
        }
        map
    }

    fn config_with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map = lookup_with(pairs);
        Config::from_lookup(|name| map.get(name).cloned())
    }

    fn identity_with(pairs: &[(&str, &str)]) -> Result<JwtConfig, ConfigError> {
        let map = lookup_with(pairs);
        identity_from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_only_the_required_settings_are_given() {
        let config = config_with(&[]).unwrap();
        assert_eq!(config.table_name, "sessions");
        let default = config.policy.profiles.default_profile();
        assert_eq!(default.lifetimes.idle(), Duration::hours(8));
        assert_eq!(default.lifetimes.absolute(), Duration::days(7));
        assert_eq!(default.rotate_after, Some(Duration::hours(1)));
        assert_eq!(config.http.cookie.name(), "__Host-session");
        assert_eq!(config.http.max_data_bytes, 8192);
        assert_eq!(identity_with(&[]).unwrap().tenant_claim, "tenant_id");
        assert_eq!(config.store_timeouts.max_attempts, 3);
    }

    #[test]
    fn the_functions_that_verify_no_identity_token_need_no_auth_setting() {
        let config = Config::from_lookup(|name| {
            assert!(!name.starts_with("AUTH_"), "{name} read without need");
            None
        })
        .unwrap();
        assert_eq!(config.table_name, "sessions");
    }

    #[test]
    fn missing_secret_names_the_variable() {
        let err = identity_from_lookup(|_| None).unwrap_err();
        assert!(err.to_string().contains("AUTH_JWT_HS256_SECRET"), "{err}");
    }

    #[test]
    fn short_secret_is_rejected_without_echoing_it() {
        let err = identity_with(&[("AUTH_JWT_HS256_SECRET", "tooshort")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("AUTH_JWT_HS256_SECRET"), "{text}");
        assert!(!text.contains("tooshort"), "{text}");
    }

    #[test]
    fn bad_duration_names_the_variable_and_value() {
        let err = config_with(&[("SESSION_IDLE_TIMEOUT", "soon")]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("SESSION_IDLE_TIMEOUT") && text.contains("soon"),
            "{text}"
        );
    }

    #[test]
    fn every_duration_setting_is_read_by_the_one_parser() {
        let reasons: Vec<String> = [
            "SESSION_IDLE_TIMEOUT",
            "SESSION_ROTATE_AFTER",
            "STORE_ATTEMPT_TIMEOUT",
        ]
        .into_iter()
        .map(|name| match config_with(&[(name, "soon")]).unwrap_err() {
            ConfigError::Invalid { reason, .. } => reason,
            other => panic!("{other:?}"),
        })
        .collect();
        assert!(reasons.iter().all(|r| r == &reasons[0]), "{reasons:?}");
        assert!(reasons[0].contains("use a duration like 30s, 8h, 7d"));
        assert!(config_with(&[("STORE_ATTEMPT_TIMEOUT", "800ms")]).is_ok());
    }

    #[test]
    fn samesite_none_without_secure_fails_start_up() {
        let err = config_with(&[
            ("SESSION_COOKIE_SAMESITE", "None"),
            ("SESSION_COOKIE_SECURE", "false"),
        ])
        .unwrap_err();
        assert!(matches!(err, ConfigError::Cookie(_)), "{err}");
    }

    #[test]
    fn unknown_samesite_value_is_rejected() {
        let err = config_with(&[("SESSION_COOKIE_SAMESITE", "Sometimes")]).unwrap_err();
        assert!(err.to_string().contains("SESSION_COOKIE_SAMESITE"), "{err}");
    }

    #[test]
    fn idle_longer_than_absolute_is_rejected() {
        let err = config_with(&[
            ("SESSION_IDLE_TIMEOUT", "2d"),
            ("SESSION_ABSOLUTE_TIMEOUT", "1d"),
        ])
        .unwrap_err();
        assert!(matches!(err, ConfigError::Lifetimes(_)), "{err}");
    }

    #[test]
    fn debug_output_redacts_the_jwt_secret() {
        let config = identity_with(&[]).unwrap();
        assert!(!format!("{config:?}").contains("0123456789abcdef"));
    }
}
