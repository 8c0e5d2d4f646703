//! The EventBridge destination: events go to one bus with `PutEvents`, up to 10 entries per call
//! (the API's limit), as `source = "session-service"`, `detail-type` = the event type, `detail` =
//! the event. Entries EventBridge refuses (throttling, an internal failure) are sent again with
//! jittered backoff, the rest not; what still fails names the first failed event.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::config::timeout::TimeoutConfig;
use aws_sdk_eventbridge::config::{BehaviorVersion, Region, SharedCredentialsProvider};
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::batch::{Resend, send_chunk};
use crate::domain::LifecycleEvent;

/// The `source` of every event on the bus: rules match on it.
pub const SOURCE: &str = "session-service";
/// `PutEvents` takes at most this many entries.
const MAX_ENTRIES: usize = 10;

/// Why events did not reach the bus.
#[derive(Debug, thiserror::Error)]
#[error("EventBridge refused event {event_id}: {reason}")]
pub struct BusError {
    /// The first event that did not arrive (events are sent in order).
    pub event_id: String,
    /// What EventBridge (or the call) said.
    pub reason: String,
}

/// One event bus.
pub struct EventBus {
    client: Client,
    bus: String,
}

impl EventBus {
    /// The bus `bus` (a name or an ARN), with a client from `lookup`: `AWS_REGION`, the
    /// credentials, `AWS_ENDPOINT_URL_EVENTBRIDGE` for a local endpoint.
    pub fn new(bus: String, lookup: &impl Fn(&str) -> Option<String>) -> Self {
        let env = crate::store::AwsEnvironment::of(lookup, "EVENTBRIDGE");
        let mut config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(crate::store::https_client())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(std::time::Duration::from_secs(10))
                    .operation_attempt_timeout(std::time::Duration::from_secs(3))
                    .build(),
            )
            .region(env.region.map(Region::new));
        config.set_credentials_provider(env.credentials.map(SharedCredentialsProvider::new));
        config.set_endpoint_url(env.endpoint);
        Self {
            client: Client::from_conf(config.build()),
            bus,
        }
    }

    /// Puts `events` on the bus, in order, ten per call.
    pub async fn put(&self, events: &[&LifecycleEvent]) -> Result<(), BusError> {
        for chunk in events.chunks(MAX_ENTRIES) {
            self.put_chunk(chunk).await?;
        }
        Ok(())
    }

    async fn put_chunk(&self, chunk: &[&LifecycleEvent]) -> Result<(), BusError> {
        send_chunk(
            chunk,
            Resend::Refused,
            "EventBridge",
            |pending| async move {
                let entries = pending.iter().map(|event| self.entry(event)).collect();
                let output = self
                    .client
                    .put_events()
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string())?;
                // Entries answer in request order; the refused ones carry an error code.
                Ok(output
                    .entries()
                    .iter()
                    .enumerate()
                    .filter_map(|(position, result)| {
                        let code = result.error_code()?;
                        Some((
                            position,
                            format!("{code}: {}", result.error_message().unwrap_or_default()),
                        ))
                    })
                    .collect())
            },
        )
        .await
        .map_err(|not_sent| BusError {
            event_id: not_sent.event_id,
            reason: not_sent.reason,
        })
    }

    fn entry(&self, event: &LifecycleEvent) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(event.kind.as_str())
            .detail(serde_json::to_string(event).unwrap_or_default())
            .time(DateTime::from_millis(event.timestamp.timestamp_millis()))
            .build()
    }
}
