//! Reading one setting: its documented default ([`SETTINGS`]) when unset, the one duration
//! syntax of every duration setting, and a [`ConfigError`] naming the variable.

use std::time::Duration as StdDuration;

use chrono::Duration;

use super::error::{ConfigError, Reason};
use super::settings::SETTINGS;

/// Lookup with the documented defaults from [`SETTINGS`] applied.
pub(super) struct Env<'a>(pub(super) &'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn default_of(name: &str) -> Option<&'static str> {
        SETTINGS
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.default)
    }

    /// The value (trimmed), its default when unset or blank, or `None`.
    pub(super) fn optional(&self, name: &'static str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .or_else(|| Self::default_of(name).map(str::to_owned))
    }

    pub(super) fn string(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing { name })
    }

    /// A comma-separated list, blanks dropped (empty when unset).
    pub(super) fn list(&self, name: &'static str) -> Vec<String> {
        self.optional(name)
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The value parsed with `parse`, its error kept as the reason.
    pub(super) fn with<T, E: Into<Reason>>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, ConfigError> {
        let value = self.string(name)?;
        parse(&value).map_err(|reason| ConfigError::invalid(name, value, reason))
    }

    /// [`Self::with`] for a value that may be unset (and has no default).
    pub(super) fn optional_with<T, E: Into<Reason>>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ConfigError> {
        match self.optional(name) {
            None => Ok(None),
            Some(_) => self.with(name, parse).map(Some),
        }
    }

    pub(super) fn parsed<T>(&self, name: &'static str) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        self.with(name, str::parse::<T>)
    }

    pub(super) fn duration(&self, name: &'static str) -> Result<Duration, ConfigError> {
        self.with(name, parse_duration)
    }

    pub(super) fn std_duration(&self, name: &'static str) -> Result<StdDuration, ConfigError> {
        self.with(name, |value| {
            parse_duration(value).and_then(|d| d.to_std().map_err(|_| DurationError::OutOfRange))
        })
    }

    /// A duration where `off` (or `0`) means "never".
    pub(super) fn optional_duration(
        &self,
        name: &'static str,
    ) -> Result<Option<Duration>, ConfigError> {
        self.with(name, parse_optional_duration)
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
pub(super) fn parse_duration(value: &str) -> Result<Duration, DurationError> {
    let parsed = humantime::parse_duration(value).map_err(DurationError::Syntax)?;
    Duration::from_std(parsed).map_err(|_| DurationError::OutOfRange)
}

/// [`parse_duration`], or `None` for `off` (also `0`, `never`, `none`).
pub(super) fn parse_optional_duration(value: &str) -> Result<Option<Duration>, DurationError> {
    match value.to_ascii_lowercase().as_str() {
        "off" | "0" | "never" | "none" => Ok(None),
        _ => parse_duration(value).map(Some),
    }
}
