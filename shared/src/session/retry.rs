//! The one retry helper for conditional writes that lost a race: a [`Retries`] budget that
//! every read-decide-write loop of the session layer spends, so the bound and the jittered
//! backoff are the same everywhere.

use crate::store::StoreError;

/// How many attempts in a row that make no progress a write gets before it gives up
/// (503 `Contended`).
pub(super) const MAX_WRITE_ATTEMPTS: usize = 8;

/// A writer that waits between attempts keeps trying for at least this long before it gives
/// up, however many attempts that takes (up to [`MAX_WAITED_ATTEMPTS_FACTOR`] times its
/// budget): on a busy machine one round of ten writers can outlast eight short waits, and a
/// 503 for a write that only had to wait its turn is a failure the caller did not cause.
const MIN_PERSISTENCE: std::time::Duration = std::time::Duration::from_secs(1);

/// The hard bound of waited attempts, as a multiple of the budget.
const MAX_WAITED_ATTEMPTS_FACTOR: usize = 4;

/// The retry budget of one operation: attempts in a row without progress, up to a bound.
pub(super) struct Retries {
    operation: &'static str,
    max: usize,
    stalls: usize,
    /// When the current run of waited attempts began.
    waiting_since: Option<tokio::time::Instant>,
}

impl Retries {
    /// A budget of `max` fruitless attempts for `operation`.
    pub(super) fn new(operation: &'static str, max: usize) -> Self {
        Self {
            operation,
            max,
            stalls: 0,
            waiting_since: None,
        }
    }

    fn contended(&self) -> StoreError {
        StoreError::Contended {
            operation: self.operation,
        }
    }

    /// The attempt lost a race: read again and retry at once, unless the budget is spent.
    pub(super) fn again(&mut self) -> Result<(), StoreError> {
        self.stalls += 1;
        if self.stalls >= self.max {
            return Err(self.contended());
        }
        Ok(())
    }

    /// Another transaction is in flight on the same items: wait a little longer on each
    /// attempt, with jitter so that retrying writers do not collide again in lockstep; unless
    /// the budget is spent.
    /// The budget is `max` attempts or [`MIN_PERSISTENCE`], whichever lasts longer.
    pub(super) async fn wait(&mut self) -> Result<(), StoreError> {
        self.stalls += 1;
        let since = *self
            .waiting_since
            .get_or_insert_with(tokio::time::Instant::now);
        let persisted = since.elapsed() >= MIN_PERSISTENCE;
        if (self.stalls >= self.max && persisted)
            || self.stalls >= self.max * MAX_WAITED_ATTEMPTS_FACTOR
        {
            return Err(self.contended());
        }
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
        self.waiting_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_waiting_writer_keeps_its_turn_for_a_second_then_gives_up_within_its_bound() {
        let started = tokio::time::Instant::now();
        let mut retries = Retries::new("test", MAX_WRITE_ATTEMPTS);
        let mut waited = 0;
        while retries.wait().await.is_ok() {
            waited += 1;
        }
        assert!(waited > MAX_WRITE_ATTEMPTS, "{waited} attempts");
        assert!(waited < MAX_WRITE_ATTEMPTS * MAX_WAITED_ATTEMPTS_FACTOR);
        assert!(started.elapsed() >= MIN_PERSISTENCE);
    }

    #[tokio::test(start_paused = true)]
    async fn progress_starts_the_budget_again_and_an_immediate_retry_keeps_the_count_bound() {
        let mut retries = Retries::new("test", 3);
        retries.wait().await.unwrap();
        retries.wait().await.unwrap();
        retries.progress();
        assert_eq!(retries.stalls, 0);
        assert!(retries.waiting_since.is_none());
        // Retries at once (no wait) never outlast the count: they cost a read each.
        retries.again().unwrap();
        retries.again().unwrap();
        assert!(retries.again().is_err());
    }
}
