//! The settings of `session-events` (`SESSION_WEBHOOK_*`, `SESSION_EVENT_BUS`,
//! `SESSION_EVENTS_*`), read only by it.
//! The webhook secret comes in plain for local runs or, deployed, from AWS Secrets Manager by
//! its ARN, once at cold start.

use super::secrets::secret_string;
use super::{ConfigError, Env};
use crate::domain::Derivation;
use crate::events::{AuditSettings, EventSettings, WebhookSecret, WebhookSettings};

/// The event settings read through `lookup`, the webhook secret fetched from Secrets Manager
/// when `SESSION_WEBHOOK_SECRET_ARN` names it.
pub async fn events_resolving_secrets(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<EventSettings, ConfigError> {
    const SECRET: &str = "SESSION_WEBHOOK_SECRET";
    const ARN: &str = "SESSION_WEBHOOK_SECRET_ARN";
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
            timeouts: super::store_timeouts(&env)?,
        }),
    };
    let Some(url) = env.optional("SESSION_WEBHOOK_URL") else {
        return Ok(EventSettings {
            derivation,
            webhook: None,
            event_bus,
            audit,
        });
    };
    if reqwest::Url::parse(&url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
        return Err(ConfigError::Invalid {
            name: "SESSION_WEBHOOK_URL",
            value: url,
            reason: "expected an http(s) URL".into(),
        });
    }
    let raw = match (env.optional(SECRET), env.optional(ARN)) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Invalid {
                name: ARN,
                value: "<set>".into(),
                reason: format!("set {SECRET} or its ARN, not both"),
            });
        }
        (Some(secret), None) => secret,
        (None, Some(arn)) => secret_string(&lookup, &arn)
            .await
            .map_err(|reason| ConfigError::Secret { name: ARN, reason })?,
        (None, None) => {
            return Err(ConfigError::Missing {
                name: "SESSION_WEBHOOK_SECRET (or SESSION_WEBHOOK_SECRET_ARN), with SESSION_WEBHOOK_URL",
            });
        }
    };
    let secret = WebhookSecret::parse(&raw).map_err(|reason| ConfigError::Invalid {
        name: SECRET,
        value: "<redacted>".into(),
        reason,
    })?;
    Ok(EventSettings {
        derivation,
        event_bus,
        audit,
        webhook: Some(WebhookSettings {
            url,
            secret,
            timeout: env.std_duration("SESSION_WEBHOOK_TIMEOUT")?,
            attempts: env.parsed("SESSION_WEBHOOK_ATTEMPTS")?,
        }),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    async fn settings(vars: &[(&str, &str)]) -> Result<EventSettings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        events_resolving_secrets(|name| vars.get(name).cloned()).await
    }

    #[tokio::test]
    async fn nothing_set_means_no_destination() {
        let settings = settings(&[]).await.unwrap();
        assert!(settings.webhook.is_none());
        assert!(!settings.derivation.extended);
    }

    #[tokio::test]
    async fn a_webhook_needs_a_valid_url_and_secret() {
        let ok = settings(&[
            ("SESSION_WEBHOOK_URL", "https://hooks.example.com/sessions"),
            ("SESSION_WEBHOOK_SECRET", SECRET),
        ])
        .await
        .unwrap();
        let webhook = ok.webhook.unwrap();
        assert_eq!(webhook.attempts, 3);
        assert_eq!(webhook.timeout, std::time::Duration::from_secs(5));

        for (vars, says) in [
            (
                vec![("SESSION_WEBHOOK_URL", "https://hooks.example.com")],
                "SESSION_WEBHOOK_SECRET",
            ),
            (
                vec![
                    ("SESSION_WEBHOOK_URL", "ftp://hooks.example.com"),
                    ("SESSION_WEBHOOK_SECRET", SECRET),
                ],
                "SESSION_WEBHOOK_URL",
            ),
            (
                vec![
                    ("SESSION_WEBHOOK_URL", "https://hooks.example.com"),
                    ("SESSION_WEBHOOK_SECRET", "hunter2"),
                ],
                "whsec_",
            ),
        ] {
            let message = settings(&vars).await.unwrap_err().to_string();
            assert!(message.contains(says), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
