//! `session-webhooks`: the handler of the webhook delivery queue (SQS FIFO, event source
//! mapping with `ReportBatchItemFailures`). It sends each message's webhook once and answers
//! the messages that stay in the queue: the ones that failed (hidden until their next attempt)
//! and, per session, every one behind them.

use lambda_http::aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Error, LambdaEvent};

use crate::events::Deliverer;

/// Delivers a batch of queued webhooks; answers the ones that stay.
pub async fn webhook_deliveries(
    deliverer: &Deliverer,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let (response, _) = deliverer.deliver(&event.payload.records).await;
    Ok(response)
}
