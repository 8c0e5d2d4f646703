//! `session-events`: the handler of the table's stream. For each record, in order, it derives
//! the lifecycle events of the change and publishes them. At the first record that fails
//! (an item it cannot read, a destination that keeps failing) it stops and reports that record
//! (`ReportBatchItemFailures`): Lambda retries from it, so events stay in order per shard and
//! nothing after a failure is published ahead of it.

use lambda_http::aws_lambda_events::event::dynamodb::Event;
use lambda_http::aws_lambda_events::event::streams::{
    DynamoDbBatchItemFailure, DynamoDbEventResponse,
};
use lambda_http::{Error, LambdaEvent};

use crate::events::Publisher;
use crate::store::stream::change_of;

/// Publishes the events of a batch of stream records; answers the first failed record.
pub async fn session_events(
    publisher: &Publisher,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Error> {
    let mut response = DynamoDbEventResponse::default();
    for record in &event.payload.records {
        let failed = match change_of(record) {
            Ok(None) => None,
            Ok(Some(change)) => {
                let events = publisher.derivation().events(
                    &change,
                    &record.event_id,
                    record.change.approximate_creation_date_time,
                );
                publisher
                    .publish(&events)
                    .await
                    .err()
                    .map(|e| e.to_string())
            }
            Err(error) => Some(error.to_string()),
        };
        if let Some(reason) = failed {
            tracing::error!(
                event_id = %record.event_id,
                sequence_number = record.change.sequence_number.as_deref().unwrap_or(""),
                reason = %reason,
                "stream record failed: Lambda retries from it"
            );
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
            break;
        }
    }
    Ok(response)
}
