//! Delivering lifecycle events: the consumer side of the table's stream (`session-events`).
//! `domain` says which events a change of a token item means; this sends them to the
//! configured destinations, each optional: the audit trail in the table (one item per event,
//! filed under the user, kept `SESSION_AUDIT_RETENTION`), an EventBridge bus ([`eventbridge`],
//! batched) and a webhook signed per Standard Webhooks ([`webhook`]). Delivery is at least once: an event
//! whose delivery failed fails its stream record, and Lambda retries from that record (and,
//! with `BisectBatchOnFunctionError`, splits the batch) until it ends in the on-failure
//! destination. Receivers deduplicate by the event id.
//!
//! Above `domain` and `store`; the HTTP API never uses it.

pub mod eventbridge;
pub mod webhook;

use chrono::Duration;

use crate::domain::{Derivation, LifecycleEvent};
use crate::store::{SessionStore, StoreTimeouts};
pub use eventbridge::{BusError, EventBus};
pub use webhook::{DeliveryError, Webhook, WebhookSecret, WebhookSettings};

/// What `session-events` is configured to do (`SESSION_WEBHOOK_*`, `SESSION_EVENT_BUS`,
/// `SESSION_EVENTS_*`).
#[derive(Debug, Clone, Default)]
pub struct EventSettings {
    /// Which events to derive.
    pub derivation: Derivation,
    /// Where webhooks go, if anywhere.
    pub webhook: Option<WebhookSettings>,
    /// The EventBridge bus (name or ARN), if any.
    pub event_bus: Option<String>,
    /// The audit trail, if kept.
    pub audit: Option<AuditSettings>,
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
    webhook: Option<Webhook>,
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
            webhook: settings.webhook.map(Webhook::new),
            bus: settings.event_bus.map(|bus| EventBus::new(bus, lookup)),
        }
    }

    /// Which events to derive from changes.
    pub fn derivation(&self) -> &Derivation {
        &self.derivation
    }

    /// Delivers the events of a batch's records (`(position, events)`, in stream order) to
    /// every destination: the audit trail first, then the bus, batched, then the webhook, event
    /// by event, each for the records whose events all reached the ones before. Stops at the
    /// first record that failed.
    pub async fn publish(&self, batch: &[(usize, Vec<LifecycleEvent>)]) -> Result<(), Stopped> {
        if let Some((store, retention)) = &self.audit {
            for (record, events) in batch {
                for event in events {
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
        let mut upto = batch.len();
        let mut stopped = None;
        if let Some(bus) = &self.bus {
            let all: Vec<&LifecycleEvent> = batch.iter().flat_map(|(_, events)| events).collect();
            if let Err(error) = bus.put(&all).await {
                upto = batch
                    .iter()
                    .position(|(_, events)| events.iter().any(|e| e.id == error.event_id))
                    .unwrap_or(0);
                stopped = Some(error.to_string());
            }
        }
        for (record, events) in &batch[..upto] {
            for event in events {
                tracing::info!(
                    event_id = %event.id,
                    event = event.kind.as_str(),
                    session_id = %event.data.session_id,
                    "lifecycle event"
                );
                if let Some(webhook) = &self.webhook
                    && let Err(error) = webhook.deliver(event).await
                {
                    return Err(Stopped {
                        record: *record,
                        reason: error.to_string(),
                    });
                }
            }
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
