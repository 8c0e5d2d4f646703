//! Why the configuration was refused: the variable, its value, and the typed reason.

use crate::domain::LifetimesError;
use crate::http::cookies::CookiePolicyError;

/// What was wrong with a value: the parser's or the rule's own error, kept as the source.
pub type Reason = Box<dyn std::error::Error + Send + Sync>;

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
        #[source]
        reason: Reason,
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
        #[source]
        reason: SecretError,
    },
}

impl ConfigError {
    pub(super) fn invalid(name: &'static str, value: String, reason: impl Into<Reason>) -> Self {
        Self::Invalid {
            name,
            value,
            reason: reason.into(),
        }
    }

    /// [`Self::invalid`] for a secret: its value never shows.
    pub(super) fn invalid_secret(name: &'static str, reason: impl Into<Reason>) -> Self {
        Self::invalid(name, "<redacted>".into(), reason)
    }
}

/// The rules a value must keep beyond its syntax, each checked where its setting is read.
#[derive(Debug, thiserror::Error)]
pub enum Rule {
    /// `SESSION_PUBLIC_ORIGIN` names one origin.
    #[error("expected one origin")]
    OneOrigin,
    /// An origin is a scheme and a host.
    #[error("{0:?}: expected an origin like https://app.example.com (scheme and host, no path)")]
    Origin(String),
    /// `SESSION_FRESH_ROUTES` is a JSON object.
    #[error("expected a JSON object of routeKey to duration")]
    FreshRoutes,
    /// A route's maximum authentication age.
    #[error("{route}: {source}")]
    FreshRoute {
        /// The route key.
        route: String,
        /// What is wrong with its duration.
        source: super::DurationError,
    },
    /// A key of the authorizer's own context.
    #[error("{0:?} is part of the authorizer's own context")]
    ReservedContextKey(String),
    /// An authorizer data key the session holder could write.
    #[error(
        "every authorizer data key must also be in SESSION_PROTECTED_DATA_KEYS, or the session \
         holder could set it"
    )]
    UnprotectedAuthorizerKey,
    /// `STORE_MAX_ATTEMPTS=0`.
    #[error("at least one attempt is needed")]
    NoAttempt,
    /// An HS256 key shorter than the hash it keys.
    #[error("must be at least {0} bytes")]
    ShortSecret(usize),
    /// A secret given both in plain and by its ARN.
    #[error("set {0} or its ARN, not both")]
    SecretTwice(&'static str),
    /// The webhook's destination.
    #[error("expected an http(s) URL")]
    HttpUrl,
}

/// Why a secret could not be read from AWS Secrets Manager.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The service refused or did not answer (its error, with its context).
    #[error("{0}")]
    Service(String),
    /// The secret holds binary data.
    #[error("the secret has no string value")]
    NotAString,
}
