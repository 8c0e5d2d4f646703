//! Every setting, read once per cold start from environment variables into the settings type
//! of the component it configures: [`Policy`] (session), [`HttpSettings`], [`StoreTimeouts`]
//! and the table (store), [`JwtConfig`] (identity). Each settings type reads and checks itself
//! in the file of this module named after its component (`session.rs`, `http.rs`, `store.rs`,
//! `identity.rs`, `events.rs`), its rules beside it; this file only assembles them, and
//! `env.rs` is how one setting is read (its default, the one duration syntax).
//!
//! A bad value fails start-up with a message naming the variable. The same variable names are
//! the parameters of `template.yaml` and the configuration table of the README. The `AUTH_*`
//! settings are read only by [`identity_from_env`], which only the functions that verify
//! identity tokens call: every other function starts without them.
//!
//! Wiring: only `app` (and the tools) import this module; no component imports it back.

use crate::http::HttpSettings;
use crate::identity::JwtConfig;
use crate::session::Policy;
use crate::store::StoreTimeouts;

mod env;
mod error;
#[cfg(feature = "events")]
mod events;
mod http;
mod identity;
mod profiles;
mod secrets;
mod session;
mod settings;
mod store;
#[cfg(feature = "token-mint")]
mod tokens;

pub use env::DurationError;
use env::Env;
pub use error::{ConfigError, Reason, Rule, SecretError};
#[cfg(feature = "events")]
pub use events::{deliveries_resolving_secrets, events_from_lookup, webhook_resolving_secrets};
pub use secrets::identity_resolving_secrets;
pub use settings::{SETTINGS, Setting};
#[cfg(feature = "token-mint")]
pub use tokens::AudiencesError;

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

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can pass a map instead of mutating the
    /// process environment. Each component's settings read and check themselves.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        Ok(Self {
            table_name: env.string("SESSION_TABLE_NAME")?,
            store_timeouts: StoreTimeouts::read(&env)?,
            policy: Policy::read(&env)?,
            http: HttpSettings::read(&env)?,
        })
    }
}

/// The settings of session tokens for other services (`SESSION_TOKEN_*`), read through
/// `lookup`: only `session-token` reads them.
#[cfg(feature = "token-mint")]
pub fn tokens_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<crate::tokens::TokenSettings, ConfigError> {
    crate::tokens::TokenSettings::read(&Env(&lookup))
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
    JwtConfig::read(&Env(&lookup))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chrono::Duration;

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
            ConfigError::Invalid { reason, .. } => {
                assert!(reason.downcast_ref::<DurationError>().is_some(), "{name}");
                reason.to_string()
            }
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
