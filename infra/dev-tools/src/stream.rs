//! DynamoDB Local's stream, read through the DynamoDB Streams API (`DescribeStream`,
//! `GetShardIterator`, `GetRecords`) and turned into the records of the `DynamoDBEvent` payload
//! that Lambda's event source mapping delivers: the same `eventName`s, images in DynamoDB JSON,
//! `SequenceNumber`, `eventSourceARN`.
//!
//! One difference is smoothed over: DynamoDB Local reports a TTL deletion with an event name its
//! own SDK does not know (`UNKNOWN_TO_SDK_VERSION`), an old image and no user identity, where AWS
//! sends `REMOVE` with `userIdentity {type: Service, principalId: dynamodb.amazonaws.com}`. The
//! reader sends what AWS sends, so `session-events` only ever sees AWS's shape.

use std::collections::BTreeMap;

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::config::{BehaviorVersion, Region, SharedCredentialsProvider};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde_json::{Value, json};
use session_shared::store::AwsEnvironment;
use session_shared::store::stream::TTL_PRINCIPAL;

/// A DynamoDB Streams client from the environment: `AWS_REGION`, the credentials, and
/// `AWS_ENDPOINT_URL_DYNAMODB_STREAMS` (else `AWS_ENDPOINT_URL_DYNAMODB`: DynamoDB Local serves
/// both APIs on one port).
pub fn client_from_env() -> Client {
    let lookup = |name: &str| std::env::var(name).ok();
    let mut env = AwsEnvironment::of(&lookup, "DYNAMODB_STREAMS");
    if env.endpoint.is_none() {
        env.endpoint = lookup("AWS_ENDPOINT_URL_DYNAMODB").filter(|v| !v.is_empty());
    }
    let mut config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(session_shared::store::https_client())
        .region(env.region.map(Region::new));
    config.set_credentials_provider(env.credentials.map(SharedCredentialsProvider::new));
    config.set_endpoint_url(env.endpoint);
    Client::from_conf(config.build())
}

/// Reads one table's stream from its beginning, shard by shard.
pub struct StreamReader {
    client: Client,
    arn: String,
    region: String,
    /// The next iterator of every shard seen; `None` once a shard is closed and read.
    shards: BTreeMap<String, Option<String>>,
}

impl StreamReader {
    /// The reader of `table`'s latest stream, at its oldest record.
    pub async fn open(client: Client, table: &str) -> Result<Self, String> {
        let streams = client
            .list_streams()
            .table_name(table)
            .send()
            .await
            .map_err(failed("ListStreams"))?;
        let arn = streams
            .streams()
            .last()
            .and_then(|s| s.stream_arn())
            .ok_or_else(|| format!("table {table} has no stream"))?
            .to_owned();
        let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
        Ok(Self {
            client,
            arn,
            region,
            shards: BTreeMap::new(),
        })
    }

    /// The stream's ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// Every record written since the last call, as `DynamoDBEvent` records, shards in order.
    pub async fn poll(&mut self) -> Result<Vec<Value>, String> {
        self.discover_shards().await?;
        let mut records = Vec::new();
        let ids: Vec<String> = self.shards.keys().cloned().collect();
        for id in ids {
            let Some(Some(iterator)) = self.shards.get(&id).cloned() else {
                continue;
            };
            let page = self
                .client
                .get_records()
                .shard_iterator(iterator)
                .limit(1000)
                .send()
                .await
                .map_err(failed("GetRecords"))?;
            records.extend(
                page.records()
                    .iter()
                    .map(|r| lambda_record(r, &self.arn, &self.region)),
            );
            self.shards
                .insert(id, page.next_shard_iterator().map(str::to_owned));
        }
        Ok(records)
    }

    /// Starts reading every shard not seen yet at its oldest record.
    async fn discover_shards(&mut self) -> Result<(), String> {
        let description = self
            .client
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await
            .map_err(failed("DescribeStream"))?;
        let shards = description
            .stream_description()
            .map(|d| d.shards().to_vec())
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id() else { continue };
            if self.shards.contains_key(id) {
                continue;
            }
            let iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.arn)
                .shard_id(id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(failed("GetShardIterator"))?;
            self.shards
                .insert(id.to_owned(), iterator.shard_iterator().map(str::to_owned));
        }
        Ok(())
    }
}

/// How a failed Streams API call reads in the pump's log: the operation and the SDK's whole
/// error chain.
fn failed<E: std::error::Error>(operation: &'static str) -> impl FnOnce(E) -> String {
    move |error| {
        format!(
            "{operation}: {}",
            aws_sdk_dynamodbstreams::error::DisplayErrorContext(error)
        )
    }
}

/// One record as the event source mapping delivers it.
pub fn lambda_record(record: &Record, arn: &str, region: &str) -> Value {
    let change = record.dynamodb();
    let image = |image: Option<
        &std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
    >| {
        image.map(|item| {
            let item: serde_dynamo::Item = item.clone().into();
            serde_json::to_value(item).unwrap_or(Value::Null)
        })
    };
    let old_image = image(change.and_then(|c| c.old_image.as_ref()));
    let new_image = image(change.and_then(|c| c.new_image.as_ref()));
    let raw_name = record.event_name().map(|n| n.as_str()).unwrap_or_default();
    let said_by_ttl = record
        .user_identity()
        .is_some_and(|who| who.principal_id() == Some(TTL_PRINCIPAL));
    // DynamoDB Local's TTL deletion: an unknown event name, the old image only.
    let local_ttl = !matches!(raw_name, "INSERT" | "MODIFY" | "REMOVE")
        && old_image.is_some()
        && new_image.is_none();
    let event_name = if local_ttl { "REMOVE" } else { raw_name };
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": change
            .and_then(|c| c.approximate_creation_date_time())
            .map(|t| t.as_secs_f64())
            .unwrap_or_default(),
        "Keys": image(change.and_then(|c| c.keys.as_ref())).unwrap_or_else(|| json!({})),
        "SequenceNumber": change.and_then(|c| c.sequence_number()),
        "SizeBytes": change.and_then(|c| c.size_bytes()).unwrap_or_default(),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(old) = old_image {
        dynamodb["OldImage"] = old;
    }
    if let Some(new) = new_image {
        dynamodb["NewImage"] = new;
    }
    let mut out = json!({
        "eventID": record.event_id(),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": arn,
    });
    if local_ttl || said_by_ttl {
        out["userIdentity"] = json!({"type": "Service", "principalId": TTL_PRINCIPAL});
    }
    out
}
