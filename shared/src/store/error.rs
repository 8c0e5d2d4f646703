//! What can go wrong talking to DynamoDB, classified once: transient (503 with `Retry-After`),
//! permanent (500), or an item this code did not write. Owns the SDK error classification; must
//! not decide HTTP statuses (that is `http::ApiError`).

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB could not be reached in time or throttled us: worth retrying later (503).
    #[error("dynamodb {operation} unavailable")]
    Unavailable {
        /// The DynamoDB operation.
        operation: &'static str,
        /// What the SDK said.
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    /// DynamoDB answered with an error that retrying will not fix (500).
    #[error("dynamodb {operation} failed")]
    Failed {
        /// The DynamoDB operation.
        operation: &'static str,
        /// What the SDK said.
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    /// A request could not be built (a bug, not a client mistake).
    #[error("dynamodb request could not be built")]
    Request(#[source] aws_sdk_dynamodb::error::BuildError),
    /// An item in the table does not have the shape this code writes.
    #[error("stored session item is corrupt: attribute {attribute}")]
    CorruptItem {
        /// The attribute that is missing or malformed.
        attribute: &'static str,
    },
    /// The operating system's random source failed (a write's attempt id).
    #[error("the operating system's random source failed")]
    Random(#[source] getrandom::Error),
    /// Writers kept colliding on the same items; the caller may retry later (503).
    #[error("dynamodb {operation} kept conflicting with concurrent writes")]
    Contended {
        /// The operation that kept losing races.
        operation: &'static str,
    },
}

impl StoreError {
    pub(super) fn request(e: aws_sdk_dynamodb::error::BuildError) -> Self {
        Self::Request(e)
    }

    pub(super) fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata,
        aws_sdk_dynamodb::Error: From<SdkError<E, R>>,
    {
        let transient = match &err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(e) => is_transient(e.err().code(), e.err().message()),
            _ => false,
        };
        let source = Box::new(aws_sdk_dynamodb::Error::from(err));
        if transient {
            Self::Unavailable { operation, source }
        } else {
            Self::Failed { operation, source }
        }
    }

    /// True when DynamoDB refused to create a table because it exists already.
    pub fn is_already_exists(&self) -> bool {
        matches!(
            self,
            Self::Failed { source, .. }
                if matches!(**source, aws_sdk_dynamodb::Error::ResourceInUseException(_))
        )
    }

    /// True when the call that failed was a write that may still have been applied: DynamoDB
    /// did not answer in time, could not be read, or failed on its side. A write refused by
    /// DynamoDB, or never sent, was not applied; a read changes nothing.
    pub fn may_have_landed(&self) -> bool {
        matches!(self, Self::Unavailable { operation, .. } if !READS.contains(operation))
    }

    /// True when a retry later may succeed: the caller answers 503 with `Retry-After`.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Contended { .. })
    }
}

/// The operations that only read: their failure leaves nothing behind.
const READS: [&str; 2] = ["get_item", "query"];

/// Whether a DynamoDB error code (and message) says a retry later may succeed: throttling,
/// DynamoDB's own failures, transaction conflicts, and a query on an index that is still being
/// built (the minutes after an index is added to a deployed table).
fn is_transient(code: Option<&str>, message: Option<&str>) -> bool {
    match code {
        Some(
            "ThrottlingException"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "TransactionConflictException"
            | "TransactionInProgressException",
        ) => true,
        Some("ValidationException") => {
            message.is_some_and(|m| m.contains("backfilling global secondary index"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_transient;

    #[test]
    fn a_query_on_an_index_still_being_built_is_retried_later_not_a_bug() {
        assert!(is_transient(
            Some("ValidationException"),
            Some("Cannot read from backfilling global secondary index: sessions_by_user"),
        ));
        assert!(!is_transient(
            Some("ValidationException"),
            Some("One or more parameter values were invalid"),
        ));
        assert!(is_transient(Some("ThrottlingException"), None));
        assert!(!is_transient(Some("ResourceNotFoundException"), None));
    }
}
