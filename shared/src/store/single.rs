//! One conditional write on its own: a `TransactWriteItem` the expressions built, sent as the
//! plain `PutItem`, `UpdateItem` or `DeleteItem` it describes. Half the write units of a
//! one-item transaction, with the same condition and the same report of a failed one (the item
//! as it is now).

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::attribute::{Attributes, Item};
use super::codec::{TOKEN_PREFIX, attr, record_of};
use super::expressions::Attempt;
use super::{OnHeap, SessionStore, StoreError, Write};

/// What a failed single write says, whichever operation it was.
enum Failure {
    /// Its condition failed; the item as it is now, if it exists.
    Condition(Option<Item>),
    /// A transaction on the same item was in flight.
    Conflict,
}

impl SessionStore {
    /// Puts `item` as it is, without a condition: for items that only ever get written whole
    /// (a retry writes the same item again).
    pub(super) async fn put_whole(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .on_heap()
            .await
            .map_err(|e| StoreError::from_sdk("put_item", e))?;
        Ok(())
    }

    /// Sends `write` as a single conditional operation. When it is stamped with `attempt`, a
    /// failed condition on an item that `attempt` wrote is this write's own first attempt,
    /// landed before the SDK retried it: done.
    pub(super) async fn send_single(
        &self,
        operation: &'static str,
        write: TransactWriteItem,
        attempt: Option<Attempt>,
    ) -> Result<Write, StoreError> {
        let sent: Result<(), Result<Failure, StoreError>> = if let Some(put) = write.put {
            self.client
                .put_item()
                .table_name(put.table_name)
                .set_item(Some(put.item))
                .set_condition_expression(put.condition_expression)
                .set_expression_attribute_names(put.expression_attribute_names)
                .set_expression_attribute_values(put.expression_attribute_values)
                .set_return_values_on_condition_check_failure(
                    put.return_values_on_condition_check_failure,
                )
                .send()
                .on_heap()
                .await
                .map(drop)
                .map_err(|e| {
                    classify(operation, e, |e| match e {
                        PutItemError::ConditionalCheckFailedException(c) => c.item,
                        _ => None,
                    })
                })
        } else if let Some(update) = write.update {
            self.client
                .update_item()
                .table_name(update.table_name)
                .set_key(Some(update.key))
                .update_expression(update.update_expression)
                .set_condition_expression(update.condition_expression)
                .set_expression_attribute_names(update.expression_attribute_names)
                .set_expression_attribute_values(update.expression_attribute_values)
                .set_return_values_on_condition_check_failure(
                    update.return_values_on_condition_check_failure,
                )
                .send()
                .on_heap()
                .await
                .map(drop)
                .map_err(|e| {
                    classify(operation, e, |e| match e {
                        UpdateItemError::ConditionalCheckFailedException(c) => c.item,
                        _ => None,
                    })
                })
        } else if let Some(delete) = write.delete {
            self.client
                .delete_item()
                .table_name(delete.table_name)
                .set_key(Some(delete.key))
                .set_condition_expression(delete.condition_expression)
                .set_expression_attribute_names(delete.expression_attribute_names)
                .set_expression_attribute_values(delete.expression_attribute_values)
                .set_return_values_on_condition_check_failure(
                    delete.return_values_on_condition_check_failure,
                )
                .send()
                .on_heap()
                .await
                .map(drop)
                .map_err(|e| {
                    classify(operation, e, |e| match e {
                        DeleteItemError::ConditionalCheckFailedException(c) => c.item,
                        _ => None,
                    })
                })
        } else {
            return Err(StoreError::CorruptItem { attribute: "write" });
        };
        match sent {
            Ok(()) => Ok(Write::Done),
            Err(Ok(Failure::Conflict)) => Ok(Write::Contended),
            Err(Ok(Failure::Condition(None))) => Ok(Write::Stale(None)),
            Err(Ok(Failure::Condition(Some(item)))) if attempt.is_some_and(|a| a.wrote(&item)) => {
                Ok(Write::Done)
            }
            // Not a token item (a user's guard): moved, nothing more to say.
            Err(Ok(Failure::Condition(Some(item)))) if !is_token_item(&item) => {
                Ok(Write::Stale(None))
            }
            Err(Ok(Failure::Condition(Some(item)))) => Ok(Write::Stale(Some(record_of(&item)?))),
            Err(Err(error)) => Err(error),
        }
    }
}

/// What a failed single write means: a failed condition (with the item as it is now, taken from
/// the error by `item`), a conflict with a transaction in flight, or a [`StoreError`].
fn classify<E, R>(
    operation: &'static str,
    error: SdkError<E, R>,
    item: impl FnOnce(E) -> Option<Item>,
) -> Result<Failure, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    aws_sdk_dynamodb::Error: From<SdkError<E, R>>,
{
    match error {
        SdkError::ServiceError(e) if e.err().code() == Some("ConditionalCheckFailedException") => {
            Ok(Failure::Condition(condition_item(item(e.into_err()))))
        }
        SdkError::ServiceError(e) if e.err().code() == Some("TransactionConflictException") => {
            Ok(Failure::Conflict)
        }
        e => Err(StoreError::from_sdk(operation, e)),
    }
}

/// The item a failed condition returned (`ReturnValuesOnConditionCheckFailure::AllOld`);
/// nothing when it did not exist.
fn condition_item(item: Option<Item>) -> Option<Item> {
    item.filter(|i| !i.is_empty())
}

fn is_token_item(item: &Item) -> bool {
    item.text(attr::PK)
        .is_some_and(|pk| pk.starts_with(TOKEN_PREFIX))
}
