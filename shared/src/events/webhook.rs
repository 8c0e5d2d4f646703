//! Webhook delivery, signed per the Standard Webhooks specification
//! (<https://www.standardwebhooks.com>): each request carries `webhook-id` (the event id, the
//! same on every retry, for deduplication), `webhook-timestamp` (Unix seconds) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed by the
//! `whsec_` secret's bytes. Within one invocation a transient failure (a timeout, a refused
//! connection, 408, 429 or a 5xx) is retried with jittered exponential backoff; any other
//! answer but a 2xx fails at once. A failure fails the stream record, which Lambda retries.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use sha2::Sha256;

use crate::domain::LifecycleEvent;

/// The prefix of Standard Webhooks secrets.
const SECRET_PREFIX: &str = "whsec_";
/// Fewest secret bytes accepted (the specification asks for 24 to 64).
const MIN_SECRET_BYTES: usize = 24;
/// The first retry's wait; each further one doubles it (full jitter).
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// The longest wait between two attempts.
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// A `whsec_` signing secret (its `Debug` redacts it).
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    /// `whsec_<base64>`, at least 24 bytes once decoded.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let encoded = raw
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| format!("expected {SECRET_PREFIX}<base64>"))?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| format!("the part after {SECRET_PREFIX} is not base64"))?;
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(format!("at least {MIN_SECRET_BYTES} bytes are needed"));
        }
        Ok(Self(bytes))
    }

    /// The `webhook-signature` value of a message: `v1,<base64 HMAC-SHA256>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("any key size"));
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// Where and how webhooks are sent.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The receiver.
    pub url: String,
    /// The signing secret.
    pub secret: WebhookSecret,
    /// Budget of one attempt.
    pub timeout: Duration,
    /// Attempts per event within one invocation.
    pub attempts: u32,
}

/// Why an event was not delivered. Never names the secret or the body.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The receiver answered with a status that retrying will not change.
    #[error("the webhook receiver answered {0}")]
    Rejected(StatusCode),
    /// Still failing after every attempt.
    #[error("the webhook receiver failed {attempts} times, last: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
}

/// Sends events to one receiver.
pub struct Webhook {
    settings: WebhookSettings,
    client: reqwest::Client,
}

impl Webhook {
    /// A sender for `settings`.
    pub fn new(settings: WebhookSettings) -> Self {
        // reqwest uses the process-wide rustls provider: ring, as the store's client does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .unwrap_or_default();
        Self { settings, client }
    }

    /// Delivers `event`, retrying transient failures.
    pub async fn deliver(&self, event: &LifecycleEvent) -> Result<(), DeliveryError> {
        let body = serde_json::to_string(event).unwrap_or_default();
        let attempts = self.settings.attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(backoff(attempt - 1)).await;
            }
            let timestamp = chrono::Utc::now().timestamp();
            let sent = self
                .client
                .post(&self.settings.url)
                .header("content-type", "application/json")
                .header("webhook-id", &event.id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    self.settings.secret.sign(&event.id, timestamp, &body),
                )
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(answer) if answer.status().is_success() => return Ok(()),
                Ok(answer) if is_transient(answer.status()) => {
                    last = format!("status {}", answer.status());
                }
                Ok(answer) => return Err(DeliveryError::Rejected(answer.status())),
                Err(error) => {
                    last = if error.is_timeout() {
                        "timed out".to_owned()
                    } else {
                        "could not connect or send".to_owned()
                    };
                }
            }
            tracing::warn!(event_id = %event.id, attempt, failure = %last, "webhook delivery failed");
        }
        Err(DeliveryError::GaveUp { attempts, last })
    }
}

/// Statuses worth another attempt soon.
fn is_transient(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// The wait before retry `n` (1-based): uniformly random up to `base * 2^(n-1)`, capped.
pub(super) fn backoff(n: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << (n - 1).min(16))
        .min(BACKOFF_CAP);
    let fraction = f64::from(getrandom::u32().unwrap_or(u32::MAX)) / f64::from(u32::MAX);
    ceiling.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_specifications_example() {
        // The example of the Standard Webhooks reference libraries' test suites.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_must_be_whsec_base64_of_enough_bytes() {
        assert!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(WebhookSecret::parse("whsec_not base64!").is_err());
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_err());
        assert!(
            format!(
                "{:?}",
                WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
            )
            .contains("redacted")
        );
    }

    #[test]
    fn backoff_stays_under_its_cap() {
        for n in 1..40 {
            assert!(backoff(n) <= BACKOFF_CAP);
        }
        assert!(backoff(1) <= BACKOFF_BASE);
    }
}
