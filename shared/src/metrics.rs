//! Business metrics an operator can watch, as CloudWatch Embedded Metric Format: each
//! invocation counts what it did ([`count`], [`observe`]) and ends with at most one JSON line on
//! stdout, which CloudWatch Logs turns into metrics. No network call, no agent.
//!
//! The metrics have no dimensions: their namespace (`SESSION_METRICS_NAMESPACE`, the template
//! gives `SessionService/<stack>`) tells one deployment from another, and their names tell
//! what happened (README "Operating it" says what each means and what to do).
//!
//! At the bottom of the library: any layer counts, none is imported here.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;

use serde_json::{Map, Value, json};

/// What is counted. One name per fact, as it appears in CloudWatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// A session started by a login ticket (or an identity token).
    SignInsTicket,
    /// A session started by an IAM-signed trusted caller.
    SignInsTrusted,
    /// A session started by exchanging a legacy session (a migration guard).
    SignInsLegacy,
    /// A session started by an administrator's impersonation ticket (support as the user).
    SignInsImpersonation,
    /// A sign-in refused: a bad or replayed ticket, a refused profile.
    SignInsRefused,
    /// A session presented and admitted.
    Validations,
    /// An expired session presented.
    ValidationsExpired,
    /// A revoked (or signed-out) session presented.
    ValidationsRevoked,
    /// A rotated token presented after its grace: the session was revoked.
    ReplaysDetected,
    /// A cookie-authenticated unsafe request from an origin that is not allowed.
    CsrfRefused,
    /// A new token replaced the old one (refresh, renewal, re-authentication).
    Rotations,
    /// A session ended by the per-user cap.
    Evictions,
    /// A session ended by its identity provider's back-channel logout.
    IdpLogouts,
    /// A 503: DynamoDB failed or answered too late.
    UnavailableStore,
    /// A 503: the identity provider's keys could not be fetched.
    UnavailableIdentityKeys,
    /// A 503: the token signing key in KMS could not be read or used.
    UnavailableSigning,
    /// Session tokens minted for other services.
    TokensMinted,
    /// Guest sessions started.
    GuestsCreated,
    /// Guest sessions carried over into a sign-in.
    GuestsUpgraded,
    /// Guest sessions refused by `SESSION_GUEST_LIMIT` (429).
    GuestsLimited,
    /// Lifecycle events published (trail, bus, webhook queue).
    EventsPublished,
    /// Stream records whose events did not all reach their destinations (retried by Lambda).
    EventsFailed,
    /// How long after it happened an event was published, in ms.
    EventLag,
    /// Webhooks a receiver accepted.
    WebhooksDelivered,
    /// Webhook attempts that failed (each is retried on the schedule).
    WebhooksFailed,
    /// Webhooks past their horizon, moved to the failure queue.
    WebhooksGivenUp,
    /// How long after its event a webhook was accepted, in ms.
    WebhookLag,
}

impl Metric {
    /// Every metric, in the order of their names.
    pub const ALL: [Self; 27] = [
        Self::SignInsTicket,
        Self::SignInsTrusted,
        Self::SignInsLegacy,
        Self::SignInsImpersonation,
        Self::SignInsRefused,
        Self::Validations,
        Self::ValidationsExpired,
        Self::ValidationsRevoked,
        Self::ReplaysDetected,
        Self::CsrfRefused,
        Self::Rotations,
        Self::Evictions,
        Self::IdpLogouts,
        Self::UnavailableStore,
        Self::UnavailableIdentityKeys,
        Self::UnavailableSigning,
        Self::TokensMinted,
        Self::GuestsCreated,
        Self::GuestsUpgraded,
        Self::GuestsLimited,
        Self::EventsPublished,
        Self::EventsFailed,
        Self::EventLag,
        Self::WebhooksDelivered,
        Self::WebhooksFailed,
        Self::WebhooksGivenUp,
        Self::WebhookLag,
    ];

    /// Its name in CloudWatch.
    pub fn name(self) -> &'static str {
        match self {
            Self::SignInsTicket => "SignInsTicket",
            Self::SignInsTrusted => "SignInsTrusted",
            Self::SignInsLegacy => "SignInsLegacy",
            Self::SignInsImpersonation => "SignInsImpersonation",
            Self::SignInsRefused => "SignInsRefused",
            Self::Validations => "Validations",
            Self::ValidationsExpired => "ValidationsExpired",
            Self::ValidationsRevoked => "ValidationsRevoked",
            Self::ReplaysDetected => "ReplaysDetected",
            Self::CsrfRefused => "CsrfRefused",
            Self::Rotations => "Rotations",
            Self::Evictions => "Evictions",
            Self::IdpLogouts => "IdpLogouts",
            Self::UnavailableStore => "UnavailableStore",
            Self::UnavailableIdentityKeys => "UnavailableIdentityKeys",
            Self::UnavailableSigning => "UnavailableSigning",
            Self::TokensMinted => "TokensMinted",
            Self::GuestsCreated => "GuestsCreated",
            Self::GuestsUpgraded => "GuestsUpgraded",
            Self::GuestsLimited => "GuestsLimited",
            Self::EventsPublished => "EventsPublished",
            Self::EventsFailed => "EventsFailed",
            Self::EventLag => "EventLag",
            Self::WebhooksDelivered => "WebhooksDelivered",
            Self::WebhooksFailed => "WebhooksFailed",
            Self::WebhooksGivenUp => "WebhooksGivenUp",
            Self::WebhookLag => "WebhookLag",
        }
    }

    /// Its CloudWatch unit.
    pub fn unit(self) -> &'static str {
        match self {
            Self::EventLag | Self::WebhookLag => "Milliseconds",
            _ => "Count",
        }
    }
}

/// What one invocation counted: a sum per counter, every observation of the others.
#[derive(Debug, Default)]
struct Counted(BTreeMap<Metric, Vec<f64>>);

tokio::task_local! {
    static CURRENT: RefCell<Counted>;
}

/// Adds `n` to `metric` for the current invocation (nothing outside one).
pub fn count(metric: Metric, n: u64) {
    let _ = CURRENT.try_with(|counted| {
        let mut counted = counted.borrow_mut();
        let values = counted.0.entry(metric).or_default();
        match values.first_mut() {
            Some(sum) => *sum += n as f64,
            None => values.push(n as f64),
        }
    });
}

/// Records one value of `metric` (a lag) for the current invocation.
pub fn observe(metric: Metric, value: f64) {
    let _ = CURRENT.try_with(|counted| {
        counted
            .borrow_mut()
            .0
            .entry(metric)
            .or_default()
            .push(value)
    });
}

/// Runs `invocation`, counting what it does; answers its output and the EMF line of what it
/// counted under `namespace` (`None` when it counted nothing).
pub async fn scope<F: Future>(namespace: &str, invocation: F) -> (F::Output, Option<String>) {
    let counted = RefCell::new(Counted::default());
    let (output, counted) = CURRENT
        .scope(counted, async move {
            let output = invocation.await;
            let counted = CURRENT.with(|c| std::mem::take(&mut *c.borrow_mut()));
            (output, counted)
        })
        .await;
    (
        output,
        emf_line(namespace, &counted, chrono::Utc::now().timestamp_millis()),
    )
}

/// [`scope`], printing the line on stdout (where Lambda sends it to CloudWatch Logs). The
/// invocation is boxed: wrapped around a handler inside the runtime's loop, its future would
/// otherwise nest too deep for the compiler's layout queries.
pub async fn emit<F: Future>(namespace: &str, invocation: F) -> F::Output {
    let (output, line) = scope(namespace, Box::pin(invocation)).await;
    if let Some(line) = line {
        println!("{line}");
    }
    output
}

fn emf_line(namespace: &str, counted: &Counted, timestamp_ms: i64) -> Option<String> {
    if counted.0.is_empty() {
        return None;
    }
    let mut root = Map::new();
    let mut definitions = Vec::new();
    for (metric, values) in &counted.0 {
        definitions.push(json!({"Name": metric.name(), "Unit": metric.unit()}));
        let value = match values.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        root.insert(metric.name().to_owned(), value);
    }
    root.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[]],
                "Metrics": definitions,
            }],
        }),
    );
    Some(Value::Object(root).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_invocation_counts_into_one_line_and_outside_one_nothing_is_kept() {
        count(Metric::Validations, 1);
        let ((), line) = scope("Test", async {
            count(Metric::Validations, 1);
            count(Metric::Validations, 2);
            observe(Metric::EventLag, 12.0);
            observe(Metric::EventLag, 30.0);
        })
        .await;
        let line: Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert_eq!(line["Validations"], 3.0);
        assert_eq!(line["EventLag"], json!([12.0, 30.0]));
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Test");
        assert_eq!(
            directive["Metrics"][0],
            json!({"Name": "Validations", "Unit": "Count"})
        );
        assert_eq!(directive["Metrics"][1]["Unit"], "Milliseconds");
        let ((), nothing) = scope("Test", async {}).await;
        assert!(nothing.is_none(), "no line without a count");
    }

    #[test]
    fn every_metric_has_its_own_name() {
        let names: std::collections::BTreeSet<&str> =
            Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), Metric::ALL.len());
    }
}
