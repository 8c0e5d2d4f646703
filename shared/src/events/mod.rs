//! Delivering lifecycle events: the consumer side of the table's stream (`session-events`).
//! `domain` says which events a change of a token item means; this sends them to the
//! configured destinations, each optional: the audit trail in the table (one item per event,
//! filed under the user, kept `SESSION_AUDIT_RETENTION`), an EventBridge bus ([`eventbridge`],
//! batched) and a webhook signed per Standard Webhooks ([`webhook`]), which goes through an SQS
//! FIFO queue ([`queue`]): `session-events` queues it, `session-webhooks` sends it and retries
//! it for hours without holding up anything but that session's later webhooks. Publishing is
//! at least once: an event that did not reach the trail, the bus or the queue fails its stream
//! record, and Lambda retries from that record (and, with `BisectBatchOnFunctionError`, splits
//! the batch) until it ends in the on-failure destination. Receivers deduplicate by the event id.
//!
//! Above `domain` and `store`; the HTTP API never uses it.

mod batch;
pub mod eventbridge;
pub mod queue;
pub mod webhook;

use chrono::Duration;

use crate::domain::{Derivation, LifecycleEvent};
use crate::metrics::{self, Metric};
use crate::store::{SessionStore, StoreTimeouts};
pub use eventbridge::{BusError, EventBus};
pub use queue::{Deliverer, Outcome, QueueError, Replayed, WebhookQueue, replay, sqs_client};
pub use webhook::{
    Delivery, DeliveryError, RetrySchedule, ScheduleError, Webhook, WebhookSecret,
    WebhookSecretError, WebhookSettings,
};

/// What `session-events` is configured to do (`SESSION_WEBHOOK_*`, `SESSION_EVENT_BUS`,
/// `SESSION_EVENTS_*`).
#[derive(Debug, Clone, Default)]
pub struct EventSettings {
    /// Which events to derive.
    pub derivation: Derivation,
    /// Where webhooks go, if anywhere.
    pub webhook: Option<WebhookTarget>,
    /// The EventBridge bus (name or ARN), if any.
    pub event_bus: Option<String>,
    /// The audit trail, if kept.
    pub audit: Option<AuditSettings>,
}

/// Where `session-events` queues webhooks, and for which receiver.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    /// The receiver (`SESSION_WEBHOOK_URL`).
    pub url: String,
    /// The delivery queue (`SESSION_WEBHOOK_QUEUE_URL`, SQS FIFO).
    pub queue_url: String,
}

/// What `session-webhooks` is configured to do: sign and send, retry, give up.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// The secret and the budget of one attempt.
    pub webhook: WebhookSettings,
    /// When failed webhooks are tried again (`SESSION_WEBHOOK_RETRY_SCHEDULE`).
    pub schedule: RetrySchedule,
    /// The delivery queue (`SESSION_WEBHOOK_QUEUE_URL`).
    pub queue_url: String,
    /// Where webhooks past the horizon go (`SESSION_WEBHOOK_FAILURE_QUEUE_URL`).
    pub failure_queue_url: String,
}

/// Where the audit trail is kept: the sessions table, items living `retention`.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// The sessions table.
    pub table: String,
    /// How long each event is kept (its TTL).
    pub retention: Duration,
    /// The DynamoDB client's budgets.
    pub timeouts: StoreTimeouts,
}

/// The destinations, built once per cold start.
pub struct Publisher {
    derivation: Derivation,
    /// The audit trail's table, and how long its events are kept.
    audit: Option<(SessionStore, chrono::Duration)>,
    webhook: Option<WebhookQueue>,
    bus: Option<EventBus>,
}

/// Where publishing a batch stopped: the first record whose events did not all arrive.
#[derive(Debug)]
pub struct Stopped {
    /// Its position in the batch.
    pub record: usize,
    /// Why.
    pub reason: String,
}

impl Publisher {
    /// The destinations `settings` configure; AWS clients from `lookup` (the environment).
    pub fn new(settings: EventSettings, lookup: &impl Fn(&str) -> Option<String>) -> Self {
        let audit = settings.audit.map(|audit| {
            let client = crate::store::client_from_env(&audit.timeouts);
            (SessionStore::new(client, audit.table), audit.retention)
        });
        Self {
            derivation: settings.derivation,
            audit,
            webhook: settings
                .webhook
                .map(|target| WebhookQueue::new(sqs_client(lookup), target.queue_url, target.url)),
            bus: settings.event_bus.map(|bus| EventBus::new(bus, lookup)),
        }
    }

    /// Which events to derive from changes.
    pub fn derivation(&self) -> &Derivation {
        &self.derivation
    }

    /// The same, with the webhook queue's SQS client given (the tests count its calls).
    pub fn with_queue_client(mut self, client: aws_sdk_sqs::Client) -> Self {
        self.webhook = self.webhook.map(|queue| queue.with_client(client));
        self
    }

    /// Delivers the events of a batch's records (`(position, events)`, in stream order) to
    /// every destination: the audit trail first, then the bus, then the webhook queue (both
    /// batched), each for the records whose events all reached the ones before. Stops at the
    /// first record that failed. A guest session's events go to the bus and the webhooks, not
    /// to the audit trail (no user's history).
    pub async fn publish(&self, batch: &[(usize, Vec<LifecycleEvent>)]) -> Result<(), Stopped> {
        if let Some((store, retention)) = &self.audit {
            for (record, events) in batch {
                // A guest has no user whose security history it would belong to.
                for event in events.iter().filter(|e| !e.data.guest) {
                    store
                        .record(event, *retention)
                        .await
                        .map_err(|error| Stopped {
                            record: *record,
                            reason: error.to_string(),
                        })?;
                }
            }
        }
        // How many records' events reached every destination so far, and why not the next.
        let mut upto = batch.len();
        let mut stopped = None;
        let first_record_of = |event_id: &str| {
            batch
                .iter()
                .position(|(_, events)| events.iter().any(|e| e.id == event_id))
                .unwrap_or(0)
        };
        if let Some(bus) = &self.bus {
            let all: Vec<&LifecycleEvent> = batch.iter().flat_map(|(_, events)| events).collect();
            if let Err(error) = bus.put(&all).await {
                upto = first_record_of(&error.event_id);
                stopped = Some(error.to_string());
            }
        }
        let now = chrono::Utc::now();
        for (_, events) in &batch[..upto] {
            for event in events {
                metrics::count(Metric::EventsPublished, 1);
                metrics::observe(
                    Metric::EventLag,
                    (now - event.timestamp).num_milliseconds().max(0) as f64,
                );
                tracing::info!(
                    event_id = %event.id,
                    event = event.kind.as_str(),
                    session_id = %event.data.session_id,
                    "lifecycle event"
                );
            }
        }
        if let Some(queue) = &self.webhook {
            let all: Vec<&LifecycleEvent> = batch[..upto]
                .iter()
                .flat_map(|(_, events)| events)
                .collect();
            if let Err(error) = queue.enqueue(&all).await {
                upto = first_record_of(&error.event_id);
                stopped = Some(error.to_string());
            }
        }
        if stopped.is_some() {
            metrics::count(Metric::EventsFailed, 1);
        }
        match stopped {
            Some(reason) => Err(Stopped {
                record: batch[upto].0,
                reason,
            }),
            None => Ok(()),
        }
    }
}
