//! Webhooks through an SQS FIFO queue: the retry schedule, the order per session and the
//! failure queue.
//!
//! - `session-events` puts each event's [`Delivery`] on the delivery queue
//!   ([`WebhookQueue::enqueue`]), ten per `SendMessageBatch`: message group = the session id
//!   (one session's webhooks go one at a time, in order), deduplication id = the event id (a
//!   stream record retried within five minutes is not queued twice).
//! - `session-webhooks` receives them (the queue's event source mapping,
//!   `ReportBatchItemFailures`) and sends each once ([`Deliverer::deliver`]). A webhook that
//!   fails stays in the queue, hidden until the next point of the [`RetrySchedule`]
//!   (`ChangeMessageVisibility`), and keeps its session's later webhooks behind it: SQS hands
//!   out nothing of a message group while one of its messages is hidden. Other sessions'
//!   webhooks go on. No Lambda waits.
//! - Past the schedule's horizon it moves, whole, to the failure queue, and its session's next
//!   webhook goes. [`replay`] sends what is there again, with the same `webhook-id`.

use std::collections::HashSet;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::timeout::TimeoutConfig;
use aws_sdk_sqs::config::{BehaviorVersion, Region, SharedCredentialsProvider};
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, SendMessageBatchRequestEntry};
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};

use super::DeliverySettings;
use super::batch::{Resend, send_chunk};
use super::webhook::{Delivery, RetrySchedule, Webhook};
use crate::domain::LifecycleEvent;
use crate::metrics::{self, Metric};

/// `SendMessageBatch` takes at most this many entries.
const MAX_ENTRIES: usize = 10;
/// The delivery queue's visibility timeout, in seconds (the template's `VisibilityTimeout`):
/// how long a message handed to `session-webhooks` stays hidden unless the function says
/// otherwise. Six times the function's timeout, as AWS advises for an event source mapping.
pub const VISIBILITY_TIMEOUT: u32 = 360;
/// Receipts of one message before SQS itself moves it to the failure queue (the redrive
/// policy's `maxReceiveCount`): a backstop for a function that keeps crashing, twice the most
/// attempts a schedule can make.
pub const MAX_RECEIVE_COUNT: usize = 2 * super::webhook::MAX_RETRIES;

/// An SQS client from `lookup`: `AWS_REGION`, the credentials, `AWS_ENDPOINT_URL_SQS` for a
/// local endpoint (moto).
pub fn sqs_client(lookup: &impl Fn(&str) -> Option<String>) -> Client {
    Client::from_conf(sqs_config(lookup).build())
}

/// The configuration [`sqs_client`] builds (the tests add an operation counter to it).
pub fn sqs_config(lookup: &impl Fn(&str) -> Option<String>) -> aws_sdk_sqs::config::Builder {
    let env = crate::store::AwsEnvironment::of(lookup, "SQS");
    let mut config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(crate::store::https_client())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(3))
                .build(),
        )
        .region(env.region.map(Region::new));
    config.set_credentials_provider(env.credentials.map(SharedCredentialsProvider::new));
    config.set_endpoint_url(env.endpoint);
    config
}

/// Why webhooks were not queued.
#[derive(Debug, thiserror::Error)]
#[error("the webhook queue refused event {event_id}: {reason}")]
pub struct QueueError {
    /// The first event that was not queued (events are sent in order).
    pub event_id: String,
    /// What SQS (or the call) said.
    pub reason: String,
}

/// The sending side: where `session-events` queues webhooks.
pub struct WebhookQueue {
    client: Client,
    queue_url: String,
    destination: String,
}

impl WebhookQueue {
    /// Webhooks to `destination`, queued on `queue_url`.
    pub fn new(client: Client, queue_url: String, destination: String) -> Self {
        Self {
            client,
            queue_url,
            destination,
        }
    }

    /// The same queue, through `client`.
    pub fn with_client(self, client: Client) -> Self {
        Self { client, ..self }
    }

    /// Queues the webhooks of `events`, in order, ten per call. Entries SQS refuses are sent
    /// again (jittered backoff, 3 calls); what still fails names the first such event.
    pub async fn enqueue(&self, events: &[&LifecycleEvent]) -> Result<(), QueueError> {
        for chunk in events.chunks(MAX_ENTRIES) {
            self.enqueue_chunk(chunk).await?;
        }
        Ok(())
    }

    async fn enqueue_chunk(&self, chunk: &[&LifecycleEvent]) -> Result<(), QueueError> {
        send_chunk(
            chunk,
            Resend::FromFirstRefused,
            "SQS",
            |pending| async move {
                let entries = pending
                    .iter()
                    .enumerate()
                    .map(|(position, event)| self.entry(position, event))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|error| error.to_string())?;
                let output = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
                // Entries are named by their position in the request.
                Ok(output
                    .failed()
                    .iter()
                    .map(|failed| {
                        (
                            failed.id().parse().unwrap_or(0),
                            format!(
                                "{}: {}",
                                failed.code(),
                                failed.message().unwrap_or_default()
                            ),
                        )
                    })
                    .collect())
            },
        )
        .await
        .map_err(|not_sent| QueueError {
            event_id: not_sent.event_id,
            reason: not_sent.reason,
        })
    }

    fn entry(
        &self,
        position: usize,
        event: &LifecycleEvent,
    ) -> Result<SendMessageBatchRequestEntry, aws_sdk_sqs::error::BuildError> {
        let delivery = Delivery::of(event, &self.destination);
        SendMessageBatchRequestEntry::builder()
            .id(position.to_string())
            .message_body(serde_json::to_string(&delivery).unwrap_or_default())
            .message_group_id(event.data.session_id.to_string())
            .message_deduplication_id(&event.id)
            .build()
    }
}

/// The receiving side (`session-webhooks`): sends what the delivery queue hands out and
/// schedules what failed.
pub struct Deliverer {
    webhook: Webhook,
    schedule: RetrySchedule,
    client: Client,
    queue_url: String,
    failure_queue_url: String,
}

/// What happened to one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered (a 2xx).
    Delivered,
    /// Failed; hidden until its next attempt.
    Retrying(Duration),
    /// Not tried: an earlier webhook of its session failed in this batch.
    Waiting,
    /// Past its horizon (or unreadable): moved to the failure queue.
    GaveUp,
    /// Failed, and could not be scheduled or moved: SQS hands it out again after the queue's
    /// visibility timeout.
    Kept,
}

impl Outcome {
    /// Whether the message leaves the delivery queue (the event source mapping deletes it).
    fn is_done(&self) -> bool {
        matches!(self, Self::Delivered | Self::GaveUp)
    }
}

impl Deliverer {
    /// The sender `settings` configure, calling SQS through `client`.
    pub fn from_settings(settings: DeliverySettings, client: Client) -> Self {
        Self {
            webhook: Webhook::new(settings.webhook),
            schedule: settings.schedule,
            client,
            queue_url: settings.queue_url,
            failure_queue_url: settings.failure_queue_url,
        }
    }

    /// Delivers a batch of the delivery queue's messages, in order, and answers the ones that
    /// stay (`batchItemFailures`): those that failed and those behind them in their session.
    /// The ones behind are made visible again at once: the failed one, hidden, is what holds
    /// its session back, and it is handed out first when its retry is due.
    pub async fn deliver(&self, messages: &[SqsMessage]) -> (SqsBatchResponse, Vec<Outcome>) {
        let mut stopped: HashSet<&str> = HashSet::new();
        let mut response = SqsBatchResponse::default();
        let mut outcomes = Vec::with_capacity(messages.len());
        let mut waiting = Vec::new();
        for message in messages {
            let group = message
                .attributes
                .get("MessageGroupId")
                .map(String::as_str)
                .unwrap_or_default();
            let outcome = if stopped.contains(group) {
                Outcome::Waiting
            } else {
                self.deliver_one(message).await
            };
            if outcome == Outcome::Waiting {
                waiting.push(message.receipt_handle.clone().unwrap_or_default());
            }
            if !outcome.is_done() {
                stopped.insert(group);
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
            outcomes.push(outcome);
        }
        self.release(waiting).await;
        (response, outcomes)
    }

    /// Makes the messages of `receipts` visible again (they were not tried).
    async fn release(&self, receipts: Vec<String>) {
        if receipts.is_empty() {
            return;
        }
        let entries = receipts
            .into_iter()
            .enumerate()
            .filter_map(|(position, receipt)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(position.to_string())
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .build()
                    .ok()
            })
            .collect();
        let released = self
            .client
            .change_message_visibility_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        if let Err(error) = released {
            // They show again after the queue's visibility timeout instead.
            tracing::warn!(
                error = %aws_sdk_sqs::error::DisplayErrorContext(error),
                "could not release the webhooks behind a failed one"
            );
        }
    }

    async fn deliver_one(&self, message: &SqsMessage) -> Outcome {
        let body = message.body.as_deref().unwrap_or_default();
        let receipt = message.receipt_handle.as_deref().unwrap_or_default();
        let attempts = message
            .attributes
            .get("ApproximateReceiveCount")
            .cloned()
            .unwrap_or_default();
        let Ok(delivery) = serde_json::from_str::<Delivery>(body) else {
            tracing::error!(message_id = ?message.message_id, "unreadable webhook message");
            return self
                .give_up(message, "the message is not a webhook", &attempts)
                .await;
        };
        let failure = match self.webhook.send(&delivery).await {
            Ok(()) => {
                tracing::info!(webhook_id = %delivery.id, attempts = %attempts, "webhook delivered");
                metrics::count(Metric::WebhooksDelivered, 1);
                if let Some(lag) = delivery.lag(chrono::Utc::now()) {
                    metrics::observe(Metric::WebhookLag, lag);
                }
                return Outcome::Delivered;
            }
            Err(error) => {
                metrics::count(Metric::WebhooksFailed, 1);
                error.to_string()
            }
        };
        let age = queued_for(message);
        match self.schedule.next_wait(age) {
            Some(wait) => {
                tracing::warn!(
                    webhook_id = %delivery.id,
                    attempts = %attempts,
                    failure = %failure,
                    retry_in_s = wait.as_secs(),
                    "webhook failed: retried later"
                );
                let hidden = self
                    .client
                    .change_message_visibility()
                    .queue_url(&self.queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(i32::try_from(wait.as_secs()).unwrap_or(i32::MAX))
                    .send()
                    .await;
                match hidden {
                    Ok(_) => Outcome::Retrying(wait),
                    Err(error) => {
                        tracing::error!(
                            webhook_id = %delivery.id,
                            error = %aws_sdk_sqs::error::DisplayErrorContext(error),
                            "could not schedule the webhook's retry"
                        );
                        Outcome::Kept
                    }
                }
            }
            None => {
                tracing::error!(
                    webhook_id = %delivery.id,
                    attempts = %attempts,
                    failure = %failure,
                    horizon_s = self.schedule.horizon().as_secs(),
                    "webhook failed past its horizon: moved to the failure queue"
                );
                self.give_up(message, &failure, &attempts).await
            }
        }
    }

    /// Moves `message` to the failure queue as it is, with why and after how many receipts.
    async fn give_up(&self, message: &SqsMessage, reason: &str, attempts: &str) -> Outcome {
        let attribute = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
        };
        let (Ok(reason), Ok(attempts)) = (attribute(reason), attribute(attempts)) else {
            return Outcome::Kept;
        };
        let group = message.attributes.get("MessageGroupId").cloned();
        let dedup = message
            .attributes
            .get("MessageDeduplicationId")
            .cloned()
            .or_else(|| message.message_id.clone());
        let moved = self
            .client
            .send_message()
            .queue_url(&self.failure_queue_url)
            .message_body(message.body.clone().unwrap_or_default())
            .set_message_group_id(group)
            .set_message_deduplication_id(dedup)
            .message_attributes("failure", reason)
            .message_attributes("attempts", attempts)
            .send()
            .await;
        match moved {
            Ok(_) => {
                metrics::count(Metric::WebhooksGivenUp, 1);
                Outcome::GaveUp
            }
            Err(error) => {
                tracing::error!(
                    error = %aws_sdk_sqs::error::DisplayErrorContext(error),
                    "could not move a webhook to the failure queue"
                );
                Outcome::Kept
            }
        }
    }
}

/// How long ago the message was queued (its `SentTimestamp`, Unix milliseconds).
fn queued_for(message: &SqsMessage) -> Duration {
    let sent = message
        .attributes
        .get("SentTimestamp")
        .and_then(|ms| ms.parse::<i64>().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
    let age = chrono::Utc::now().timestamp_millis().saturating_sub(sent);
    Duration::from_millis(u64::try_from(age).unwrap_or(0))
}

/// What a [`replay`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Webhooks delivered and removed from the failure queue.
    pub delivered: usize,
    /// Webhooks that failed again: they stay.
    pub failed: usize,
    /// Webhooks not tried because an earlier one of their session failed: they stay.
    pub held_back: usize,
}

/// Sends every webhook of the failure queue again, in order per session, each with its own
/// `webhook-id` (receivers deduplicate), to its destination or to `to`. A delivered one leaves
/// the queue; one that fails stays, and so do its session's later ones, visible again at once
/// for a later replay. Ends when the queue has nothing more to hand out.
pub async fn replay(
    client: &Client,
    failure_queue_url: &str,
    webhook: &Webhook,
    to: Option<&str>,
) -> Result<Replayed, String> {
    let mut done = Replayed::default();
    let mut kept: Vec<String> = Vec::new();
    let outcome = replay_into(client, failure_queue_url, webhook, to, &mut done, &mut kept).await;
    // What stays is handed out again at once, not after the visibility timeout.
    for receipt in kept {
        let released = client
            .change_message_visibility()
            .queue_url(failure_queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await;
        if let Err(error) = released {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(error), "could not release a webhook");
        }
    }
    outcome.map(|()| done)
}

async fn replay_into(
    client: &Client,
    failure_queue_url: &str,
    webhook: &Webhook,
    to: Option<&str>,
    done: &mut Replayed,
    kept: &mut Vec<String>,
) -> Result<(), String> {
    let sqs_error = |e: &dyn std::fmt::Display| e.to_string();
    let mut seen: HashSet<String> = HashSet::new();
    let mut stopped: HashSet<String> = HashSet::new();
    loop {
        let received = client
            .receive_message()
            .queue_url(failure_queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            // Long enough to deliver the batch.
            .visibility_timeout(60)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| sqs_error(&aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let fresh: Vec<_> = received
            .messages()
            .iter()
            .filter(|m| seen.insert(m.message_id().unwrap_or_default().to_owned()))
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        for message in fresh {
            let receipt = message.receipt_handle().unwrap_or_default().to_owned();
            let group = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                .cloned()
                .unwrap_or_default();
            if stopped.contains(&group) {
                done.held_back += 1;
                kept.push(receipt);
                continue;
            }
            let Ok(mut delivery) =
                serde_json::from_str::<Delivery>(message.body().unwrap_or_default())
            else {
                tracing::error!(message_id = ?message.message_id(), "not a webhook: left in the queue");
                done.failed += 1;
                stopped.insert(group);
                kept.push(receipt);
                continue;
            };
            if let Some(to) = to {
                to.clone_into(&mut delivery.destination);
            }
            match webhook.send(&delivery).await {
                Ok(()) => {
                    client
                        .delete_message()
                        .queue_url(failure_queue_url)
                        .receipt_handle(receipt)
                        .send()
                        .await
                        .map_err(|e| sqs_error(&aws_sdk_sqs::error::DisplayErrorContext(e)))?;
                    tracing::info!(webhook_id = %delivery.id, "webhook replayed");
                    done.delivered += 1;
                }
                Err(error) => {
                    tracing::warn!(webhook_id = %delivery.id, failure = %error, "replay failed: left in the queue");
                    done.failed += 1;
                    stopped.insert(group);
                    kept.push(receipt);
                }
            }
        }
    }
}
