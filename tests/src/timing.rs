//! What the benches report: percentiles and medians of timings, in microseconds.

use std::time::Duration;

/// The `p` percentile (0 to 1) of `sorted`, by nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// `d` in microseconds.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The median of `values`.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// How long a raw `GetItem` of the head of the session whose token hashes to `hash` takes on
/// `table` (strongly consistent, as the store reads it): what the benches compare against.
pub async fn raw_head_read(
    table: &crate::TestTable,
    hash: &session_shared::domain::TokenHash,
) -> Duration {
    use aws_sdk_dynamodb::types::AttributeValue;
    let t = std::time::Instant::now();
    let output = table
        .client
        .get_item()
        .table_name(&table.name)
        .key("pk", AttributeValue::S(format!("TOKEN#{}", hash.encoded())))
        .key("sk", AttributeValue::S("SESSION".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("the raw GetItem");
    let elapsed = t.elapsed();
    assert!(output.item.is_some(), "the head exists");
    elapsed
}
