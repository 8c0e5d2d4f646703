//! `make replay-webhooks`: sends every webhook of the failure queue again
//! (`session_shared::events::replay`), signed with the webhook secret, each with its own
//! `webhook-id`, in order per session. Delivered ones leave the queue; the others stay for a
//! later replay.
//!
//! Arguments: `--queue <url>` (else `SESSION_WEBHOOK_FAILURE_QUEUE_URL`: the stack's
//! `WebhookFailureQueueUrl` output), `--to <url>` (send there instead of each webhook's own
//! destination, e.g. a receiver that moved). The secret: `SESSION_WEBHOOK_SECRET`, or
//! `SESSION_WEBHOOK_SECRET_ARN` read from Secrets Manager.

use aws_sdk_sqs::Client;
use session_shared::events::{Webhook, replay};

/// What the command was asked to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// The failure queue.
    pub queue: Option<String>,
    /// Where to send instead of each webhook's destination.
    pub to: Option<String>,
}

impl Args {
    /// `--queue <url>`, `--to <url>`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut parsed = Self::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let slot = match flag.as_str() {
                "--queue" => &mut parsed.queue,
                "--to" => &mut parsed.to,
                other => {
                    return Err(format!(
                        "unknown argument {other} (expected --queue <url>, --to <url>)"
                    ));
                }
            };
            *slot = Some(
                args.next()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("{flag} needs a URL"))?,
            );
        }
        Ok(parsed)
    }
}

/// Replays the failure queue `args` name through `client`, the secret and timeout read through
/// `lookup`. Answers the summary line.
pub async fn run(
    args: Args,
    lookup: impl Fn(&str) -> Option<String>,
    client: &Client,
) -> Result<String, String> {
    let queue = args
        .queue
        .or_else(|| lookup("SESSION_WEBHOOK_FAILURE_QUEUE_URL").filter(|v| !v.is_empty()))
        .ok_or("no failure queue: pass --queue <url> or set SESSION_WEBHOOK_FAILURE_QUEUE_URL")?;
    let settings = session_shared::config::webhook_resolving_secrets(&lookup)
        .await
        .map_err(|e| e.to_string())?;
    let webhook = Webhook::new(settings);
    let done = replay(client, &queue, &webhook, args.to.as_deref()).await?;
    let left = crate::queue::depth(client, &queue).await?;
    Ok(format!(
        "replayed {} webhooks; {} failed again, {} held behind them; {left} left in {queue}",
        done.delivered, done.failed, done.held_back
    ))
}
