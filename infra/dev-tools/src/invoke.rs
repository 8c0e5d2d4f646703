//! One invocation of a function through the Lambda Invoke API that `cargo lambda watch` serves
//! (`POST /2015-03-31/functions/<name>/invocations`), as the event source mappings' stand-ins
//! (`stream-pump`, `queue-pump`) make it.

use serde_json::Value;

/// Invokes the function at `url` with `event`. Answers each `batchItemFailures` entry's
/// `itemIdentifier` (`None` when null or absent), or why the function itself failed (an error,
/// a crash, a timeout).
pub async fn invoke(
    http: &reqwest::Client,
    url: &str,
    event: Value,
) -> Result<Vec<Option<String>>, String> {
    let answer = http
        .post(url)
        .json(&event)
        .send()
        .await
        .map_err(|error| format!("invoke: {error}"))?;
    let function_error = answer.headers().contains_key("x-amz-function-error");
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    if function_error || !status.is_success() || body.get("errorType").is_some() {
        return Err(format!("status {status}: {body}"));
    }
    Ok(body["batchItemFailures"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}
