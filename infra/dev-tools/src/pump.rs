//! Delivering stream records to `session-events` the way Lambda's event source mapping does
//! with the template's settings: batches in stream order, `ReportBatchItemFailures` (a reported
//! record and the ones after it are retried, those before it are done),
//! `BisectBatchOnFunctionError` (a batch whose invocation fails is split in two), a bounded
//! number of retries (`MaximumRetryAttempts`), then the on-failure destination: a record that
//! still fails is described there (as the mapping's SQS destination describes a batch: stream,
//! shard position, no payload) and delivery goes on after it, so a poison record never blocks
//! the shard.

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};

/// What one invocation answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Invoked {
    /// The function ran; these records failed (each `batchItemFailures` entry's
    /// `itemIdentifier`, `None` when null or absent).
    Handled(Vec<Option<String>>),
    /// The function itself failed (an error, a crash, a timeout).
    FunctionError(String),
}

/// How records are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retries {
    /// Retries of a batch before its first record goes to the failure destination.
    pub maximum_retry_attempts: u32,
    /// The wait before a retry.
    pub backoff: Duration,
}

/// Where delivery of a set of records ended.
#[derive(Debug, Default)]
pub struct Delivered {
    /// Records the function handled.
    pub handled: usize,
    /// Invocations made.
    pub invocations: usize,
    /// What went to the failure destination, one entry per record given up on.
    pub failed: Vec<Value>,
}

/// Delivers `records` (stream order) through `invoke`, a batch being `{"Records": [...]}`.
pub async fn deliver<F, Fut>(records: Vec<Value>, retries: Retries, invoke: F) -> Delivered
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Invoked>,
{
    let mut out = Delivered::default();
    // Pending batches, in order: (records, retries spent).
    let mut pending: Vec<(Vec<Value>, u32)> = vec![(records, 0)];
    while let Some((batch, spent)) = pending.pop() {
        if batch.is_empty() {
            continue;
        }
        out.invocations += 1;
        let answer = match invoke(json!({ "Records": batch })).await {
            Invoked::Handled(failures) => match positions(&batch, &failures) {
                Some(positions) => Ok(positions.into_iter().min()),
                // As Lambda does: an identifier that is null, empty or not in the batch makes
                // the whole batch a failure, never a success.
                None => Err("batchItemFailures names a record that is not in the batch".to_owned()),
            },
            Invoked::FunctionError(reason) => Err(reason),
        };
        match answer {
            Ok(first_failed) => {
                let Some(at) = first_failed else {
                    out.handled += batch.len();
                    continue;
                };
                out.handled += at;
                let rest = batch[at..].to_vec();
                if spent < retries.maximum_retry_attempts {
                    tokio::time::sleep(retries.backoff).await;
                    pending.push((rest, spent + 1));
                } else {
                    out.failed
                        .push(failure_record(&rest[0], "retries exhausted"));
                    pending.push((rest[1..].to_vec(), 0));
                }
            }
            Err(reason) => {
                if batch.len() > 1 {
                    let (first, second) = batch.split_at(batch.len() / 2);
                    // Bisected halves keep the retries spent; the first half goes first.
                    pending.push((second.to_vec(), spent));
                    pending.push((first.to_vec(), spent));
                } else if spent < retries.maximum_retry_attempts {
                    tokio::time::sleep(retries.backoff).await;
                    pending.push((batch, spent + 1));
                } else {
                    out.failed.push(failure_record(&batch[0], &reason));
                }
            }
        }
    }
    out
}

/// Where each reported failure is in `batch`; `None` when one is null, empty or not in it.
fn positions(batch: &[Value], failures: &[Option<String>]) -> Option<Vec<usize>> {
    failures
        .iter()
        .map(|id| {
            let id = id.as_deref().filter(|id| !id.is_empty())?;
            batch
                .iter()
                .position(|r| sequence_of(r).map(String::as_str) == Some(id))
        })
        .collect()
}

/// The sequence number of a `DynamoDBEvent` record.
pub fn sequence_of(record: &Value) -> Option<&String> {
    match &record["dynamodb"]["SequenceNumber"] {
        Value::String(seq) => Some(seq),
        _ => None,
    }
}

/// What the failure destination gets for a record: where it is in the stream, not its payload
/// (the shape of the event source mapping's `DDBStreamBatchInfo`).
fn failure_record(record: &Value, reason: &str) -> Value {
    json!({
        "requestContext": { "condition": reason },
        "DDBStreamBatchInfo": {
            "streamArn": record["eventSourceARN"],
            "startSequenceNumber": record["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": record["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": record["dynamodb"]["ApproximateCreationDateTime"],
            "batchSize": 1,
        },
        "eventID": record["eventID"],
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn record(seq: u32) -> Value {
        json!({"eventID": format!("e{seq}"), "eventSourceARN": "arn:stream",
               "dynamodb": {"SequenceNumber": seq.to_string()}})
    }

    fn seqs(batch: &Value) -> Vec<String> {
        batch["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| sequence_of(r).unwrap().clone())
            .collect()
    }

    const RETRIES: Retries = Retries {
        maximum_retry_attempts: 2,
        backoff: Duration::ZERO,
    };

    #[tokio::test]
    async fn a_reported_record_is_retried_with_those_after_it_then_given_up_on() {
        let calls = Mutex::new(Vec::new());
        let out = deliver((1..=4).map(record).collect(), RETRIES, |batch| {
            calls.lock().unwrap().push(seqs(&batch));
            let fails = seqs(&batch).contains(&"2".to_owned());
            async move {
                Invoked::Handled(if fails {
                    vec![Some("2".into())]
                } else {
                    vec![]
                })
            }
        })
        .await;

        let calls = calls.into_inner().unwrap();
        assert_eq!(calls[0], ["1", "2", "3", "4"]);
        assert_eq!(calls[1], ["2", "3", "4"], "from the failed record on");
        assert_eq!(calls[2], ["2", "3", "4"]);
        assert_eq!(calls[3], ["3", "4"], "after giving up, delivery goes on");
        assert_eq!(out.handled, 3);
        assert_eq!(out.failed.len(), 1);
        assert_eq!(
            out.failed[0]["DDBStreamBatchInfo"]["startSequenceNumber"],
            "2"
        );
    }

    #[tokio::test]
    async fn a_failing_invocation_is_bisected_down_to_the_poison_record() {
        let calls = Mutex::new(Vec::new());
        let out = deliver((1..=4).map(record).collect(), RETRIES, |batch| {
            calls.lock().unwrap().push(seqs(&batch));
            let poisoned = seqs(&batch).contains(&"3".to_owned());
            async move {
                if poisoned {
                    Invoked::FunctionError("boom".into())
                } else {
                    Invoked::Handled(vec![])
                }
            }
        })
        .await;

        let calls = calls.into_inner().unwrap();
        assert_eq!(calls[1], ["1", "2"]);
        assert_eq!(calls[2], ["3", "4"]);
        assert_eq!(calls[3], ["3"]);
        assert_eq!(out.handled, 3, "1, 2 and 4 were delivered");
        assert_eq!(out.failed.len(), 1);
        assert_eq!(out.failed[0]["eventID"], "e3");
    }

    #[tokio::test]
    async fn a_failure_naming_no_record_of_the_batch_fails_the_whole_batch() {
        for bad in [None, Some(String::new()), Some("99".to_owned())] {
            let calls = Mutex::new(Vec::new());
            let out = deliver((1..=2).map(record).collect(), RETRIES, |batch| {
                calls.lock().unwrap().push(seqs(&batch));
                let bad = bad.clone();
                async move { Invoked::Handled(vec![bad]) }
            })
            .await;

            let calls = calls.into_inner().unwrap();
            assert_eq!(calls[0], ["1", "2"], "{bad:?}");
            assert_eq!(calls[1], ["1"], "{bad:?}: the whole batch failed, bisected");
            assert_eq!(out.handled, 0, "{bad:?}: nothing taken as delivered");
            assert_eq!(out.failed.len(), 2, "{bad:?}");
        }
    }
}
