//! The settings of the lifecycle events (`SESSION_WEBHOOK_*`, `SESSION_EVENT_BUS`,
//! `SESSION_EVENTS_*`), read only by `session-events` (what to derive, where it goes) and
//! `session-webhooks` (how webhooks are signed, sent and retried).
//! The webhook secret comes in plain for local runs or, deployed, from AWS Secrets Manager by
//! its ARN, once at cold start, to `session-webhooks` alone.

use super::env::Env;
use super::error::{ConfigError, Rule};
use super::secrets::secret_string;
use crate::domain::Derivation;
use crate::events::{
    AuditSettings, DeliverySettings, EventSettings, WebhookSecret, WebhookSettings, WebhookTarget,
};

/// The settings of `session-events`, read through `lookup`: which events, and where they go.
/// It queues webhooks and never signs them, so it reads no secret.
pub fn events_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<EventSettings, ConfigError> {
    let env = Env(&lookup);
    let derivation = Derivation {
        extended: env.parsed("SESSION_EVENTS_EXTENDED")?,
    };
    let event_bus = env.optional("SESSION_EVENT_BUS");
    let audit = match env.optional_duration("SESSION_AUDIT_RETENTION")? {
        None => None,
        Some(retention) => Some(AuditSettings {
            table: env.string("SESSION_TABLE_NAME")?,
            retention,
            timeouts: crate::store::StoreTimeouts::read(&env)?,
        }),
    };
    let webhook = match env.optional("SESSION_WEBHOOK_URL") {
        None => None,
        Some(url) => {
            if reqwest::Url::parse(&url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
                return Err(ConfigError::invalid(
                    "SESSION_WEBHOOK_URL",
                    url,
                    Rule::HttpUrl,
                ));
            }
            let queue_url = env.optional(QUEUE).ok_or(ConfigError::Missing {
                name: "SESSION_WEBHOOK_QUEUE_URL (with SESSION_WEBHOOK_URL)",
            })?;
            Some(WebhookTarget { url, queue_url })
        }
    };
    Ok(EventSettings {
        derivation,
        webhook,
        event_bus,
        audit,
    })
}

/// The delivery queue, read by both sides.
const QUEUE: &str = "SESSION_WEBHOOK_QUEUE_URL";

/// The settings of `session-webhooks`, read through `lookup`, the signing secret fetched from
/// Secrets Manager when `SESSION_WEBHOOK_SECRET_ARN` names it.
pub async fn deliveries_resolving_secrets(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<DeliverySettings, ConfigError> {
    let env = Env(&lookup);
    let schedule = env.parsed("SESSION_WEBHOOK_RETRY_SCHEDULE")?;
    Ok(DeliverySettings {
        webhook: webhook_resolving_secrets(&lookup).await?,
        schedule,
        queue_url: env.string(QUEUE)?,
        failure_queue_url: env.string("SESSION_WEBHOOK_FAILURE_QUEUE_URL")?,
    })
}

/// How webhooks are signed and sent (`SESSION_WEBHOOK_SECRET` or its ARN,
/// `SESSION_WEBHOOK_TIMEOUT`): what `session-webhooks` and the replay command send with.
pub async fn webhook_resolving_secrets(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<WebhookSettings, ConfigError> {
    const SECRET: &str = "SESSION_WEBHOOK_SECRET";
    const ARN: &str = "SESSION_WEBHOOK_SECRET_ARN";
    let env = Env(lookup);
    let raw = match (env.optional(SECRET), env.optional(ARN)) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                ARN,
                "<set>".into(),
                Rule::SecretTwice(SECRET),
            ));
        }
        (Some(secret), None) => secret,
        (None, Some(arn)) => secret_string(lookup, &arn)
            .await
            .map_err(|reason| ConfigError::Secret { name: ARN, reason })?,
        (None, None) => {
            return Err(ConfigError::Missing {
                name: "SESSION_WEBHOOK_SECRET (or SESSION_WEBHOOK_SECRET_ARN)",
            });
        }
    };
    let secret =
        WebhookSecret::parse(&raw).map_err(|reason| ConfigError::invalid_secret(SECRET, reason))?;
    Ok(WebhookSettings {
        secret,
        timeout: env.std_duration("SESSION_WEBHOOK_TIMEOUT")?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const QUEUE_URL: &str = "https://sqs.us-east-1.amazonaws.com/1/webhooks.fifo";

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn nothing_set_means_no_destination() {
        let settings = events_from_lookup(lookup(&[])).unwrap();
        assert!(settings.webhook.is_none());
        assert!(!settings.derivation.extended);
    }

    #[test]
    fn a_webhook_needs_a_valid_url_and_its_queue() {
        let ok = events_from_lookup(lookup(&[
            ("SESSION_WEBHOOK_URL", "https://hooks.example.com/sessions"),
            ("SESSION_WEBHOOK_QUEUE_URL", QUEUE_URL),
        ]))
        .unwrap();
        let target = ok.webhook.unwrap();
        assert_eq!(target.queue_url, QUEUE_URL);
        for (vars, says) in [
            (
                vec![("SESSION_WEBHOOK_URL", "https://hooks.example.com")],
                "SESSION_WEBHOOK_QUEUE_URL",
            ),
            (
                vec![
                    ("SESSION_WEBHOOK_URL", "ftp://hooks.example.com"),
                    ("SESSION_WEBHOOK_QUEUE_URL", QUEUE_URL),
                ],
                "SESSION_WEBHOOK_URL",
            ),
        ] {
            let message = events_from_lookup(lookup(&vars)).unwrap_err().to_string();
            assert!(message.contains(says), "{message}");
        }
    }

    #[tokio::test]
    async fn the_sender_needs_a_secret_its_queues_and_a_schedule_it_can_keep() {
        let queues = [
            ("SESSION_WEBHOOK_QUEUE_URL", QUEUE_URL),
            (
                "SESSION_WEBHOOK_FAILURE_QUEUE_URL",
                "https://sqs/failed.fifo",
            ),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = queues.to_vec();
            vars.extend_from_slice(extra);
            vars
        };
        let ok = deliveries_resolving_secrets(lookup(&with(&[("SESSION_WEBHOOK_SECRET", SECRET)])))
            .await
            .unwrap();
        assert_eq!(ok.webhook.timeout, std::time::Duration::from_secs(5));
        assert_eq!(
            ok.schedule.horizon(),
            std::time::Duration::from_secs(5 + 300 + 1800 + 7200 + 18000 + 72000),
            "the default schedule: about 27 hours"
        );
        for (vars, says) in [
            (with(&[]), "SESSION_WEBHOOK_SECRET"),
            (with(&[("SESSION_WEBHOOK_SECRET", "hunter2")]), "whsec_"),
            (
                with(&[
                    ("SESSION_WEBHOOK_SECRET", SECRET),
                    ("SESSION_WEBHOOK_RETRY_SCHEDULE", "5s,1d"),
                ]),
                "SESSION_WEBHOOK_RETRY_SCHEDULE",
            ),
            (
                vec![("SESSION_WEBHOOK_SECRET", SECRET), queues[0]],
                "SESSION_WEBHOOK_FAILURE_QUEUE_URL",
            ),
        ] {
            let message = deliveries_resolving_secrets(lookup(&vars))
                .await
                .unwrap_err()
                .to_string();
            assert!(message.contains(says), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
