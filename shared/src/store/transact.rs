//! Committing writes: one write goes alone (`single`), several as one `TransactWriteItems`,
//! whose cancellation reasons become outcomes the session layer can act on ([`Write`],
//! [`BatchOutcome`]). Builds no expression itself. Lifecycle events are not written here: the
//! table's stream carries every change to `session-events`, which keeps the audit trail.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, TransactWriteItem};

use super::codec::record_of;
use super::expressions::Attempt;
use super::{OnHeap, SessionStore, StoreError};
use crate::domain::{TokenHash, TokenRecord};

/// The outcome of a conditional write on a token item.
// A short-lived return value, matched at once: boxing the record would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Write {
    /// The write happened.
    Done,
    /// The token item was not in the state the write required; here is what it is now
    /// (`None`: it does not exist).
    Stale(Option<TokenRecord>),
    /// Another transaction on the same items was in flight: read again and retry.
    Contended,
}

/// What became of one session of a [`SessionStore::revoke_batch`].
#[derive(Debug, Clone, Copy)]
pub enum BatchOutcome {
    /// Revoked.
    Revoked,
    /// The item was rotated meanwhile: its successor is the head to revoke.
    Rotated(TokenHash),
    /// Not a live head any more (signed out, revoked, or gone): nothing to do.
    Gone,
    /// Not written because another write in the batch failed or conflicted: try again.
    Retry,
}

/// What became of a sent transaction.
pub(super) enum Sent {
    Done,
    /// The same idempotency token is still being processed: retry later.
    InProgress,
    Cancelled(Vec<CancellationReason>),
}

/// The reason DynamoDB gives for a write whose condition failed.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";

impl SessionStore {
    /// Runs `writes`, stamped with `attempt` (`None`: a single write that is not stamped): one
    /// alone as a plain conditional write, several as one transaction. A failed condition on the first write is reported with the item as
    /// it is now, unless `attempt` wrote it (the SDK's retry of a transaction that landed);
    /// any other cancellation as contention.
    pub(super) async fn commit(
        &self,
        operation: &'static str,
        mut writes: Vec<TransactWriteItem>,
        attempt: Option<Attempt>,
    ) -> Result<Write, StoreError> {
        if writes.len() == 1
            && let Some(write) = writes.pop()
        {
            return self.send_single(operation, write, attempt).await;
        }
        let attempt = match attempt {
            Some(attempt) => attempt,
            None => Attempt::new()?,
        };
        let reasons = match self.send_transaction(operation, writes, attempt).await? {
            Sent::Done => return Ok(Write::Done),
            Sent::InProgress => return Ok(Write::Contended),
            Sent::Cancelled(reasons) => reasons,
        };
        let first = reasons.first();
        if first.and_then(|r| r.code()) != Some(CONDITION_FAILED) {
            // A later write failed (a taken key, a stale guard) or a conflict: retry from a
            // fresh read.
            return Ok(Write::Contended);
        }
        let current = match first.and_then(|r| r.item()) {
            Some(item) if attempt.wrote(item) => return Ok(Write::Done),
            Some(item) if !item.is_empty() => Some(record_of(item)?),
            _ => None,
        };
        Ok(Write::Stale(current))
    }

    /// Sends one `TransactWriteItems` with `attempt` as its `ClientRequestToken`, so that
    /// DynamoDB answers the SDK's retry of a transaction that landed with success instead of
    /// running it again; a cancellation comes back with its per-write reasons (in the order of
    /// `writes`), every other service error as a [`StoreError`].
    pub(super) async fn send_transaction(
        &self,
        operation: &'static str,
        writes: Vec<TransactWriteItem>,
        attempt: Attempt,
    ) -> Result<Sent, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .client_request_token(attempt.request_token())
            .send()
            .on_heap()
            .await;
        match result {
            Ok(_) => Ok(Sent::Done),
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    TransactWriteItemsError::TransactionCanceledException(_)
                        | TransactWriteItemsError::TransactionInProgressException(_)
                ) =>
            {
                match e.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => {
                        Ok(Sent::Cancelled(c.cancellation_reasons.unwrap_or_default()))
                    }
                    _ => Ok(Sent::InProgress),
                }
            }
            Err(e) => Err(StoreError::from_sdk(operation, e)),
        }
    }
}

/// What became of the first `count` writes of a cancelled batch of revocations stamped with
/// `attempt` (an item it wrote is revoked: the batch's own first attempt had landed).
pub(super) fn batch_outcomes(
    reasons: &[CancellationReason],
    count: usize,
    attempt: Attempt,
) -> Result<Vec<BatchOutcome>, StoreError> {
    (0..count)
        .map(|i| {
            let Some(reason) = reasons.get(i) else {
                return Ok(BatchOutcome::Retry);
            };
            if reason.code() != Some(CONDITION_FAILED) {
                return Ok(BatchOutcome::Retry);
            }
            match reason.item().filter(|item| !item.is_empty()) {
                Some(item) if attempt.wrote(item) => Ok(BatchOutcome::Revoked),
                None => Ok(BatchOutcome::Gone),
                Some(item) => Ok(match record_of(item)? {
                    TokenRecord::Retired(retired) => BatchOutcome::Rotated(retired.successor),
                    _ => BatchOutcome::Gone,
                }),
            }
        })
        .collect()
}
