//! Sending events to an AWS batch API that answers per entry (EventBridge `PutEvents`, SQS
//! `SendMessageBatch`): a chunk is sent, the entries refused are sent again with jittered
//! exponential backoff, up to [`ATTEMPTS`] calls, and what still fails names its first event.

use std::future::Future;
use std::time::Duration;

use crate::domain::LifecycleEvent;

/// Calls per chunk before its refused entries count as failed.
const ATTEMPTS: u32 = 3;
/// The first retry's wait; each further one doubles it (full jitter).
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// The longest wait between two calls.
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Which entries go again after a call refused some.
#[derive(Debug, Clone, Copy)]
pub(super) enum Resend {
    /// Only the refused ones (a bus: the others arrived, and order does not matter there).
    Refused,
    /// Every entry from the first refused one on (a FIFO queue: nothing may arrive ahead of a
    /// refused entry of its group; the deduplication id makes the ones already queued no-ops).
    FromFirstRefused,
}

/// The first event that did not arrive, and why.
pub(super) struct NotSent {
    /// Its id.
    pub event_id: String,
    /// What the service (or the call) said last.
    pub reason: String,
}

/// Sends `chunk` through `send`, which answers the refused entries (their positions in what it
/// was given, with the service's reason) or the failure of the whole call.
pub(super) async fn send_chunk<'e, F, Fut>(
    chunk: &[&'e LifecycleEvent],
    resend: Resend,
    service: &'static str,
    send: F,
) -> Result<(), NotSent>
where
    F: Fn(Vec<&'e LifecycleEvent>) -> Fut,
    Fut: Future<Output = Result<Vec<(usize, String)>, String>>,
{
    let mut pending: Vec<&LifecycleEvent> = chunk.to_vec();
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            tokio::time::sleep(backoff(attempt - 1)).await;
        }
        let refused = match send(pending.clone()).await {
            Ok(refused) if refused.is_empty() => return Ok(()),
            Ok(refused) => refused,
            Err(reason) => {
                last = reason;
                continue;
            }
        };
        tracing::warn!(service, refused = refused.len(), attempt, "entries refused");
        last = refused
            .first()
            .map(|(_, reason)| reason.clone())
            .unwrap_or_default();
        pending = match resend {
            Resend::Refused => refused
                .iter()
                .filter_map(|(position, _)| pending.get(*position).copied())
                .collect(),
            Resend::FromFirstRefused => {
                let first = refused.iter().map(|(p, _)| *p).min().unwrap_or(0);
                pending.split_off(first.min(pending.len()))
            }
        };
    }
    Err(NotSent {
        event_id: pending.first().map(|e| e.id.clone()).unwrap_or_default(),
        reason: last,
    })
}

/// The wait before retry `n` (1-based): uniformly random up to `base * 2^(n-1)`, capped.
fn backoff(n: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << (n - 1).min(16))
        .min(BACKOFF_CAP);
    let fraction = f64::from(getrandom::u32().unwrap_or(u32::MAX)) / f64::from(u32::MAX);
    ceiling.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_cap() {
        for n in 1..40 {
            assert!(backoff(n) <= BACKOFF_CAP);
        }
        assert!(backoff(1) <= BACKOFF_BASE);
    }
}
