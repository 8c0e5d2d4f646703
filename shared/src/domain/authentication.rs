//! When and how the user last proved who they are.

use chrono::{DateTime, Duration, Utc};

use super::session::at_storage_precision;

/// When and how the user last proved who they are: from the identity token's `auth_time`
/// (else `iat`), `amr` and `acr`. Routes that need a recent proof ask for a maximum age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    /// When the user authenticated.
    pub at: DateTime<Utc>,
    /// How (`amr`: `pwd`, `mfa`, `hwk`, ...), as the identity provider said.
    pub methods: Vec<String>,
    /// The assurance level (`acr`), if the identity provider gave one.
    pub context_class: Option<String>,
}

impl Authentication {
    /// A proof at `at`, with nothing said about how (a trusted caller's sign-in).
    pub fn at(at: DateTime<Utc>) -> Self {
        Self {
            at: at_storage_precision(at),
            methods: Vec::new(),
            context_class: None,
        }
    }

    /// Whether the proof is older than `max_age` at `now`.
    pub fn is_older_than(&self, max_age: Duration, now: DateTime<Utc>) -> bool {
        now - self.at > max_age
    }
}
