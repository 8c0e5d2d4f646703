//! The webhook queues on a local SQS (moto), and the stand-in for the delivery queue's event
//! source mapping: receive a batch (up to 10, every system attribute), invoke
//! `session-webhooks` with the `SQSEvent` payload Lambda sends, delete the messages it did not
//! report in `batchItemFailures`, leave the others as they are (hidden until their retry, or
//! until the visibility timeout). A failed invocation deletes nothing.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use serde_json::{Value, json};
use session_shared::events::queue::{MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT};

/// An SQS client from the environment (`AWS_ENDPOINT_URL_SQS` for moto).
pub fn client_from_env() -> Client {
    session_shared::events::sqs_client(&|name: &str| std::env::var(name).ok())
}

/// The delivery queue `<name>.fifo` and its failure queue `<name>-failed.fifo`, as the
/// template declares them (FIFO, the visibility timeout, the redrive policy). Existing queues
/// are reused. Answers their URLs.
pub async fn create_webhook_queues(
    client: &Client,
    name: &str,
) -> Result<(String, String), String> {
    let failed = client
        .create_queue()
        .queue_name(format!("{name}-failed.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .map_err(sqs_error("CreateQueue"))?
        .queue_url
        .unwrap_or_default();
    let failed_arn = queue_arn(client, &failed).await?;
    let redrive = json!({"deadLetterTargetArn": failed_arn, "maxReceiveCount": MAX_RECEIVE_COUNT});
    let queue = client
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            VISIBILITY_TIMEOUT.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .map_err(sqs_error("CreateQueue"))?
        .queue_url
        .unwrap_or_default();
    Ok((queue, failed))
}

async fn queue_arn(client: &Client, url: &str) -> Result<String, String> {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sqs_error("GetQueueAttributes"))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| format!("{url} has no ARN"))
}

/// How many messages `url` holds: visible and hidden (in flight or waiting for a retry).
pub async fn depth(client: &Client, url: &str) -> Result<usize, String> {
    let attributes = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(sqs_error("GetQueueAttributes"))?
        .attributes
        .unwrap_or_default();
    Ok(attributes
        .values()
        .filter_map(|count| count.parse::<usize>().ok())
        .sum())
}

fn sqs_error<E: std::error::Error + 'static>(
    operation: &'static str,
) -> impl Fn(aws_sdk_sqs::error::SdkError<E>) -> String {
    move |error| {
        format!(
            "{operation}: {}",
            aws_sdk_sqs::error::DisplayErrorContext(error)
        )
    }
}

/// What one invocation answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answered {
    /// The function ran; these message ids stay (`batchItemFailures`).
    Handled(Vec<String>),
    /// The function itself failed: nothing is deleted.
    FunctionError(String),
}

/// One delivery queue, pumped into a function.
pub struct QueuePump {
    client: Client,
    url: String,
    arn: String,
}

impl QueuePump {
    /// The pump of the queue at `url`.
    pub async fn open(client: Client, url: &str) -> Result<Self, String> {
        let arn = queue_arn(&client, url).await?;
        Ok(Self {
            client,
            url: url.to_owned(),
            arn,
        })
    }

    /// One receive (waiting up to `wait_seconds` for messages: keep it well under the SQS
    /// client's 3 s attempt budget, or 0) and, if it got any, one invocation. Answers how many
    /// messages it handed over.
    pub async fn poll<F, Fut>(&self, wait_seconds: i32, invoke: F) -> Result<usize, String>
    where
        F: FnOnce(Value) -> Fut,
        Fut: Future<Output = Answered>,
    {
        let received = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .map_err(sqs_error("ReceiveMessage"))?;
        let messages = received.messages();
        if messages.is_empty() {
            return Ok(0);
        }
        let records: Vec<Value> = messages.iter().map(|m| self.record(m)).collect();
        let kept = match invoke(json!({ "Records": records })).await {
            Answered::Handled(kept) => kept,
            Answered::FunctionError(reason) => {
                eprintln!("queue-pump: the function failed, nothing deleted: {reason}");
                return Ok(messages.len());
            }
        };
        for message in messages {
            if kept
                .iter()
                .any(|id| Some(id.as_str()) == message.message_id())
            {
                continue;
            }
            self.client
                .delete_message()
                .queue_url(&self.url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .map_err(sqs_error("DeleteMessage"))?;
        }
        Ok(messages.len())
    }

    /// Polls until the queue holds nothing, visible or hidden, or `within` has passed.
    /// Answers whether it emptied.
    pub async fn drain<F, Fut>(&self, within: Duration, invoke: F) -> Result<bool, String>
    where
        F: Fn(Value) -> Fut,
        Fut: Future<Output = Answered>,
    {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if depth(&self.client, &self.url).await? == 0 {
                return Ok(true);
            }
            // Short polls (see queue-pump): a long poll could outlast the client's budget.
            if self.poll(0, &invoke).await? == 0 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(depth(&self.client, &self.url).await? == 0)
    }

    /// A message as a record of Lambda's `SQSEvent`.
    fn record(&self, message: &Message) -> Value {
        let attributes: serde_json::Map<String, Value> = message
            .attributes()
            .map(|attributes| {
                attributes
                    .iter()
                    .map(|(name, value)| (name.as_str().to_owned(), Value::from(value.as_str())))
                    .collect()
            })
            .unwrap_or_default();
        let region = self.arn.split(':').nth(3).unwrap_or_default();
        json!({
            "messageId": message.message_id(),
            "receiptHandle": message.receipt_handle(),
            "body": message.body(),
            "attributes": attributes,
            "messageAttributes": {},
            "md5OfBody": message.md5_of_body(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": region,
        })
    }
}

/// One invocation of `session-webhooks` under `cargo lambda watch`.
pub async fn invoke_over_http(http: &reqwest::Client, url: &str, event: Value) -> Answered {
    match crate::invoke::invoke(http, url, event).await {
        Ok(kept) => Answered::Handled(kept.into_iter().flatten().collect()),
        Err(reason) => Answered::FunctionError(reason),
    }
}
