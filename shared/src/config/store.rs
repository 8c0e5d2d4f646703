//! The store's settings (`STORE_*`): the DynamoDB call budgets, read and checked.

use super::env::Env;
use super::error::{ConfigError, Rule};
use crate::store::StoreTimeouts;

impl StoreTimeouts {
    /// The budgets the environment sets; at least one attempt.
    pub(super) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let max_attempts = env.with("STORE_MAX_ATTEMPTS", |value| match value.parse::<u32>() {
            Ok(0) => Err(Rule::NoAttempt.into()),
            parsed => parsed.map_err(super::error::Reason::from),
        })?;
        Ok(Self {
            operation: env.std_duration("STORE_OPERATION_TIMEOUT")?,
            attempt: env.std_duration("STORE_ATTEMPT_TIMEOUT")?,
            max_attempts,
        })
    }
}
