//! The one retry helper for conditional writes that lost a race: a [`Retries`] budget that
//! every read-decide-write loop of the session layer spends, so the bound and the jittered
//! backoff are the same everywhere.

use crate::store::StoreError;

/// How many attempts in a row that make no progress a write gets before it gives up
/// (503 `Contended`).
pub(super) const MAX_WRITE_ATTEMPTS: usize = 8;

/// The retry budget of one operation: attempts in a row without progress, up to a bound.
pub(super) struct Retries {
    operation: &'static str,
    max: usize,
    stalls: usize,
}

impl Retries {
    /// A budget of `max` fruitless attempts for `operation`.
    pub(super) fn new(operation: &'static str, max: usize) -> Self {
        Self {
            operation,
            max,
            stalls: 0,
        }
    }

    /// The attempt lost a race: read again and retry at once, unless the budget is spent.
    pub(super) fn again(&mut self) -> Result<(), StoreError> {
        self.stalls += 1;
        if self.stalls >= self.max {
            return Err(StoreError::Contended {
                operation: self.operation,
            });
        }
        Ok(())
    }

    /// Another transaction is in flight on the same items: wait a little longer on each
    /// attempt, with jitter so that retrying writers do not collide again in lockstep; unless
    /// the budget is spent.
    pub(super) async fn wait(&mut self) -> Result<(), StoreError> {
        self.again()?;
        let mut byte = [0u8; 1];
        let _ = getrandom::fill(&mut byte);
        let millis = 5 * ((self.stalls - 1).min(10) as u64 + 1) + u64::from(byte[0] % 16);
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
        Ok(())
    }

    /// Something moved forward (a successor followed, part of a batch written): the count of
    /// fruitless attempts starts again.
    pub(super) fn progress(&mut self) {
        self.stalls = 0;
    }
}
