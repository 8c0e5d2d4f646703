//! `session-events`: the handler of the table's stream. It derives the lifecycle events of each
//! record's change, in order, and publishes them. At the first record that fails (an item it
//! cannot read, a destination that keeps failing) it stops and reports that record
//! (`ReportBatchItemFailures`): Lambda retries from it, so events stay in order per shard and
//! nothing after a failure is published ahead of it.

use lambda_http::aws_lambda_events::event::dynamodb::Event;
use lambda_http::aws_lambda_events::event::streams::{
    DynamoDbBatchItemFailure, DynamoDbEventResponse,
};
use lambda_http::{Error, LambdaEvent};

use crate::domain::LifecycleEvent;
use crate::events::Publisher;
use crate::store::stream::change_of;

/// Publishes the events of a batch of stream records; answers the first failed record.
pub async fn session_events(
    publisher: &Publisher,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Error> {
    let records = &event.payload.records;
    let mut derived: Vec<(usize, Vec<LifecycleEvent>)> = Vec::with_capacity(records.len());
    let mut failed = None;
    for (position, record) in records.iter().enumerate() {
        match change_of(record) {
            Ok(change) => derived.push((
                position,
                change
                    .map(|change| {
                        publisher.derivation().events(
                            &change,
                            &record.event_id,
                            record.change.approximate_creation_date_time,
                        )
                    })
                    .unwrap_or_default(),
            )),
            Err(error) => {
                failed = Some((position, error.to_string()));
                break;
            }
        }
    }
    if let Err(stopped) = publisher.publish(&derived).await {
        failed = Some((stopped.record, stopped.reason));
    }
    let mut response = DynamoDbEventResponse::default();
    if let Some((position, reason)) = failed {
        let record = &records[position];
        tracing::error!(
            event_id = %record.event_id,
            sequence_number = record.change.sequence_number.as_deref().unwrap_or(""),
            reason = %reason,
            "stream record failed: Lambda retries from it"
        );
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = record.change.sequence_number.clone();
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}
