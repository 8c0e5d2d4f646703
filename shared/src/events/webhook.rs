//! Webhook delivery, signed per the Standard Webhooks specification
//! (<https://www.standardwebhooks.com>): each request carries `webhook-id` (the event id, the
//! same on every retry, for deduplication), `webhook-timestamp` (Unix seconds) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed by the
//! `whsec_` secret's bytes. One attempt per call, never a wait in between: a webhook that fails
//! is tried again by the delivery queue ([`super::queue`]) on the [`RetrySchedule`].

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

/// A `whsec_` signing secret (its `Debug` redacts it).
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Why a webhook secret was refused (it never says the secret).
#[derive(Debug, thiserror::Error)]
pub enum WebhookSecretError {
    /// Not `whsec_...`.
    #[error("expected {SECRET_PREFIX}<base64>")]
    Prefix,
    /// The key is not base64.
    #[error("the part after {SECRET_PREFIX} is not base64")]
    Base64,
    /// Too short a key.
    #[error("at least {MIN_SECRET_BYTES} bytes are needed")]
    Short,
}

impl WebhookSecret {
    /// `whsec_<base64>`, at least 24 bytes once decoded.
    pub fn parse(raw: &str) -> Result<Self, WebhookSecretError> {
        let encoded = raw
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(WebhookSecretError::Prefix)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| WebhookSecretError::Base64)?;
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(WebhookSecretError::Short);
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

/// How webhooks are sent: the secret they are signed with and the budget of one attempt.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The signing secret.
    pub secret: WebhookSecret,
    /// Budget of one attempt.
    pub timeout: Duration,
}

/// One webhook to send, as it waits in the delivery queue and, given up on, in the failure
/// queue: where it goes, its `webhook-id` (the event id) and the body that is signed. It holds
/// no signature: each attempt signs it anew, with the time of that attempt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    /// The receiver's URL.
    pub destination: String,
    /// The `webhook-id`: the event's id.
    pub id: String,
    /// The JSON body, exactly as signed and sent.
    pub body: String,
}

impl Delivery {
    /// The webhook of `event` to `destination`.
    pub fn of(event: &LifecycleEvent, destination: &str) -> Self {
        Self {
            destination: destination.to_owned(),
            id: event.id.clone(),
            body: serde_json::to_string(event).unwrap_or_default(),
        }
    }
}

impl Delivery {
    /// How long after its event `now` is, in ms (`None` when the body names no time).
    pub fn lag(&self, now: chrono::DateTime<chrono::Utc>) -> Option<f64> {
        let body: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        let at = chrono::DateTime::parse_from_rfc3339(body.get("timestamp")?.as_str()?).ok()?;
        Some((now - at.to_utc()).num_milliseconds().max(0) as f64)
    }
}

/// Why one attempt failed. Never names the secret or the body.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The receiver answered, but not with a 2xx.
    #[error("the webhook receiver answered {0}")]
    Status(StatusCode),
    /// No answer within the budget.
    #[error("the webhook receiver did not answer in time")]
    TimedOut,
    /// No connection, or the request could not be sent.
    #[error("could not connect to the webhook receiver or send to it")]
    Unreachable,
}

/// Sends signed webhooks, one attempt each: the delivery queue schedules the retries.
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

    /// One attempt at `delivery`, signed now. Any answer but a 2xx is a failure: receivers
    /// that refuse during a deploy or a secret rotation are retried like those that are down.
    pub async fn send(&self, delivery: &Delivery) -> Result<(), DeliveryError> {
        let timestamp = chrono::Utc::now().timestamp();
        let sent = self
            .client
            .post(&delivery.destination)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                self.settings
                    .secret
                    .sign(&delivery.id, timestamp, &delivery.body),
            )
            .body(delivery.body.clone())
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => Ok(()),
            Ok(answer) => Err(DeliveryError::Status(answer.status())),
            Err(error) if error.is_timeout() => Err(DeliveryError::TimedOut),
            Err(_) => Err(DeliveryError::Unreachable),
        }
    }
}

/// When a failed webhook is tried again: the waits between attempts
/// (`SESSION_WEBHOOK_RETRY_SCHEDULE`, `5s,5m,30m,2h,5h,10h,10h` by default: eight attempts over
/// about 27 hours, as Svix retries). Counted from when the event was queued, so a delivery
/// that waited behind an earlier event of its session, or was received without being tried,
/// still ends at the horizon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

/// Why a retry schedule was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    /// No wait, or a wait that is not a duration.
    #[error("expected waits like 5s,5m,30m,2h: {0}")]
    Syntax(String),
    /// A wait longer than SQS can hide a message for.
    #[error("each wait is at most 12h (the longest an SQS message can stay hidden)")]
    TooLong,
    /// More waits than the delivery queue's redrive policy allows for.
    #[error("at most {MAX_RETRIES} retries")]
    TooMany,
}

/// The longest an SQS message can be hidden (`ChangeMessageVisibility`'s limit).
pub const MAX_WAIT: Duration = Duration::from_secs(12 * 60 * 60);
/// The most retries a schedule may have: the delivery queue's redrive policy
/// (`maxReceiveCount`, in the template) moves a message after twice as many receipts.
pub const MAX_RETRIES: usize = 50;

impl std::str::FromStr for RetrySchedule {
    type Err = ScheduleError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let waits = value
            .split(',')
            .map(|wait| {
                humantime::parse_duration(wait.trim())
                    .map_err(|e| ScheduleError::Syntax(format!("{}: {e}", wait.trim())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if waits.iter().any(|wait| wait.is_zero()) {
            return Err(ScheduleError::Syntax("a wait of zero".into()));
        }
        if waits.iter().any(|wait| *wait > MAX_WAIT) {
            return Err(ScheduleError::TooLong);
        }
        if waits.len() > MAX_RETRIES {
            return Err(ScheduleError::TooMany);
        }
        Ok(Self(waits))
    }
}

impl RetrySchedule {
    /// How long after its event was queued a webhook is last tried.
    pub fn horizon(&self) -> Duration {
        self.0.iter().sum()
    }

    /// How long to wait before the next attempt at a webhook queued `age` ago whose attempt
    /// just failed: until the first point of the schedule still ahead (at least a second).
    /// `None` past the horizon: the webhook goes to the failure queue.
    pub fn next_wait(&self, age: Duration) -> Option<Duration> {
        let mut at = Duration::ZERO;
        for wait in &self.0 {
            at += *wait;
            if at > age {
                return Some((at - age).max(Duration::from_secs(1)).min(MAX_WAIT));
            }
        }
        None
    }
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
    fn the_schedule_waits_until_its_next_point_and_ends_at_its_horizon() {
        let schedule: RetrySchedule = "5s,5m,30m,2h,5h,10h,10h".parse().unwrap();
        let secs = Duration::from_secs;
        assert_eq!(
            schedule.horizon(),
            secs(5 + 300 + 1800 + 7200 + 18000 + 72000)
        );
        // A first attempt right after queueing: the first wait.
        assert_eq!(schedule.next_wait(Duration::ZERO), Some(secs(5)));
        // An attempt 6 s in: until 5 s + 5 m.
        assert_eq!(schedule.next_wait(secs(6)), Some(secs(299)));
        // A delivery that waited behind its session's earlier event for an hour: 2h35m05s.
        assert_eq!(schedule.next_wait(secs(3600)), Some(secs(9305 - 3600)));
        // Just short of a point: at least a second.
        assert_eq!(
            schedule.next_wait(secs(5) - Duration::from_millis(1)),
            Some(secs(1))
        );
        assert_eq!(schedule.next_wait(schedule.horizon()), None);
        assert_eq!(schedule.next_wait(secs(200_000)), None);
    }

    #[test]
    fn a_schedule_must_be_waits_sqs_can_keep() {
        assert!("1s".parse::<RetrySchedule>().is_ok());
        for (bad, says) in [
            ("", "expected waits"),
            ("5s,,1m", "expected waits"),
            ("5s,soon", "soon"),
            ("0s", "zero"),
            ("5s,13h", "12h"),
        ] {
            let error = bad.parse::<RetrySchedule>().unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
        let many = vec!["1s"; MAX_RETRIES + 1].join(",");
        assert_eq!(many.parse::<RetrySchedule>(), Err(ScheduleError::TooMany));
    }
}
