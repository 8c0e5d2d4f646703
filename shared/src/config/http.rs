//! The HTTP layer's settings (`SESSION_COOKIE_*`, origins, routes, data keys, body limits),
//! read and checked: the cookie's attributes agree, origins are origins, and what the
//! authorizer forwards as facts about the caller is data only the server may write.

use std::collections::BTreeMap;

use super::env::{Env, parse_duration};
use super::error::{ConfigError, Rule};
use crate::http::HttpSettings;
use crate::http::cookies::{CookiePolicy, SameSite};
use crate::http::origin::Origins;

impl HttpSettings {
    /// The HTTP settings the environment sets.
    pub(super) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let same_site: SameSite = env.parsed("SESSION_COOKIE_SAMESITE")?;
        let cookie = CookiePolicy::new(
            &env.string("SESSION_COOKIE_NAME")?,
            same_site,
            env.optional("SESSION_COOKIE_DOMAIN"),
            env.parsed("SESSION_COOKIE_SECURE")?,
        )?;
        let origins = Origins {
            allowed: env
                .optional_with("SESSION_ALLOWED_ORIGINS", parse_origins)?
                .unwrap_or_default(),
            public: env.optional_with("SESSION_PUBLIC_ORIGIN", |raw| {
                let mut one = parse_origins(raw)?;
                match one.len() {
                    1 => Ok(one.remove(0)),
                    _ => Err(Rule::OneOrigin),
                }
            })?,
        };
        let settings = Self {
            cookie,
            origins,
            trusted_caller: env.parsed("SESSION_TRUSTED_CALLER")?,
            bearer_for_browsers: env.parsed("SESSION_BEARER_FOR_BROWSERS")?,
            protected_data_keys: env.list("SESSION_PROTECTED_DATA_KEYS"),
            fresh_routes: env
                .optional_with("SESSION_FRESH_ROUTES", parse_fresh_routes)?
                .unwrap_or_default(),
            cross_site_routes: env.list("SESSION_CROSS_SITE_ROUTES"),
            guest_routes: env.list("SESSION_GUEST_ROUTES"),
            authorizer_data_keys: env
                .optional_with("SESSION_AUTHORIZER_DATA_KEYS", parse_data_keys)?
                .unwrap_or_default(),
            max_body_bytes: env.parsed("SESSION_MAX_BODY_BYTES")?,
            max_data_bytes: env.parsed("SESSION_MAX_DATA_BYTES")?,
        };
        // What the authorizer forwards as facts about the caller must be server-only data:
        // otherwise a user could write their own roles.
        if let Some(key) = settings
            .authorizer_data_keys
            .iter()
            .find(|k| !settings.protected_data_keys.contains(k))
        {
            return Err(ConfigError::invalid(
                "SESSION_AUTHORIZER_DATA_KEYS",
                key.clone(),
                Rule::UnprotectedAuthorizerKey,
            ));
        }
        Ok(settings)
    }
}

/// `https://app.example.com, http://localhost:9001` → normalised origins (scheme://host[:port],
/// lowercase, no path). A value that is not an origin fails start-up.
fn parse_origins(raw: &str) -> Result<Vec<String>, Rule> {
    raw.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| crate::http::origin::normalize(o).ok_or_else(|| Rule::Origin(o.to_owned())))
        .collect()
}

/// `{"POST /payments": "5m"}` → `[("POST /payments", 5 minutes)]`.
fn parse_fresh_routes(raw: &str) -> Result<Vec<(String, chrono::Duration)>, Rule> {
    let map: BTreeMap<String, String> = serde_json::from_str(raw).map_err(|_| Rule::FreshRoutes)?;
    map.into_iter()
        .map(|(route, age)| match parse_duration(&age) {
            Ok(age) => Ok((route, age)),
            Err(source) => Err(Rule::FreshRoute { route, source }),
        })
        .collect()
}

/// `plan, roles` → `["plan", "roles"]`. Keys the authorizer context already uses are refused,
/// so session data can never pose as the identity.
fn parse_data_keys(raw: &str) -> Result<Vec<String>, Rule> {
    raw.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| {
            if crate::http::authorizer::RESERVED_CONTEXT_KEYS.contains(&k) {
                return Err(Rule::ReservedContextKey(k.to_owned()));
            }
            Ok(k.to_owned())
        })
        .collect()
}
