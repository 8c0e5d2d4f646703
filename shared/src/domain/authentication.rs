//! When and how the user last proved who they are.

use chrono::{DateTime, Duration, Utc};

use super::session::at_storage_precision;

/// The authentication method (`amr`) of a session that replaced a signed-in session of the
/// app's former session system (a migration guard's exchange): the user proved who they are
/// to that system, at the time it says.
pub const LEGACY_METHOD: &str = "legacy";

/// How long the record of a legacy session's exchange is kept: a legacy cookie presented again
/// within it is never exchanged a second time (apps keep legacy cookies for less than this).
pub const LEGACY_EXCHANGE_MEMORY: Duration = Duration::days(400);

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

    /// Whether this proof is the exchange of a legacy session ([`LEGACY_METHOD`]).
    pub fn is_legacy_exchange(&self) -> bool {
        self.methods.iter().any(|m| m == LEGACY_METHOD)
    }

    /// Whether the proof is older than `max_age` at `now`.
    pub fn is_older_than(&self, max_age: Duration, now: DateTime<Utc>) -> bool {
        now - self.at > max_age
    }
}
