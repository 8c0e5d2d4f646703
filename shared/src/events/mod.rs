//! Delivering lifecycle events: the consumer side of the table's stream (`session-events`).
//! `domain` says which events a change of a token item means; this sends them to the
//! configured destinations, each optional: a webhook signed per Standard Webhooks
//! ([`webhook`]). Delivery is at least once: an event whose delivery failed fails its stream
//! record, and Lambda retries the record (and, with `BisectBatchOnFunctionError`, splits the
//! batch) until it ends in the on-failure destination. Receivers deduplicate by the event id.
//!
//! Above `domain` and `store`; the HTTP API never uses it.

pub mod webhook;

use crate::domain::{Derivation, LifecycleEvent};
pub use webhook::{DeliveryError, Webhook, WebhookSecret, WebhookSettings};

/// What `session-events` is configured to do (`SESSION_WEBHOOK_*`, `SESSION_EVENTS_*`).
#[derive(Debug, Clone, Default)]
pub struct EventSettings {
    /// Which events to derive.
    pub derivation: Derivation,
    /// Where webhooks go, if anywhere.
    pub webhook: Option<WebhookSettings>,
}

/// The destinations, built once per cold start.
pub struct Publisher {
    derivation: Derivation,
    webhook: Option<Webhook>,
}

impl Publisher {
    /// The destinations `settings` configure.
    pub fn new(settings: EventSettings) -> Self {
        Self {
            derivation: settings.derivation,
            webhook: settings.webhook.map(Webhook::new),
        }
    }

    /// Which events to derive from changes.
    pub fn derivation(&self) -> &Derivation {
        &self.derivation
    }

    /// Delivers `events` in order to every destination; the first failure stops.
    pub async fn publish(&self, events: &[LifecycleEvent]) -> Result<(), DeliveryError> {
        for event in events {
            tracing::info!(
                event_id = %event.id,
                event = event.kind.as_str(),
                session_id = %event.data.session_id,
                "lifecycle event"
            );
            if let Some(webhook) = &self.webhook {
                webhook.deliver(event).await?;
            }
        }
        Ok(())
    }
}
