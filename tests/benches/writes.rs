//! Latency of the calls that write: a sign-in under the per-user cap (`POST /sessions`: the
//! ticket's claim beside the cap's two reads, then the head beside the guard) and a refresh
//! (`POST /sessions/current/refresh`: the head's read, the new head, the old one retired),
//! through the handlers as `lambda_http` calls them, on DynamoDB Local. Beside them, the two
//! shapes a rotation's writes can take, sent raw on items like a head: the former one
//! transaction (retire the old head out of both indexes, put the new one into both) and today's
//! two single writes (put the new head into one index, then retire the old one out of it).
//!
//! Prints p50/p99 per measure. Run: `make bench` (or `cargo bench -p session-tests --bench
//! writes` with DynamoDB Local and the AWS_* variables of `make test`). Under `cargo test` it is
//! a 20-iteration smoke run that checks every answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use session_tests::timing::{micros, percentile};
use session_tests::{Event, Function, Payload, TestTable, app, invoke, ticket};

const WARMUP: usize = 50;
const ITERATIONS: usize = 1_000;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// An item the size and shape of a session head: its key, both index keys when `tenant`, and
/// about 600 bytes of session attributes.
fn head(i: usize, tenant: bool) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("pk".to_owned(), s(format!("TOKEN#{i:043}"))),
        ("sk".to_owned(), s("SESSION")),
        ("kind".to_owned(), s("session")),
        ("gsi1pk".to_owned(), s("USER#bench")),
        ("gsi1sk".to_owned(), s(format!("SESSION#{i}"))),
        ("attributes".to_owned(), s("x".repeat(600))),
    ]);
    if tenant {
        item.insert("gsi2pk".into(), s("TENANT#acme"));
        item.insert("gsi2sk".into(), s(format!("SESSION#{i}#bench")));
    }
    item
}

fn retire(table: &str, i: usize, drop: &str) -> Update {
    Update::builder()
        .table_name(table)
        .key("pk", s(format!("TOKEN#{i:043}")))
        .key("sk", s("SESSION"))
        .condition_expression("kind = :session")
        .update_expression(format!(
            "SET kind = :retired, successor = :next REMOVE attributes, {drop}"
        ))
        .expression_attribute_values(":session", s("session"))
        .expression_attribute_values(":retired", s("retired"))
        .expression_attribute_values(":next", s(format!("{:043}", i + 1)))
        .build()
        .unwrap()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (warmup, iterations) = if full { (WARMUP, ITERATIONS) } else { (5, 20) };
    let table = TestTable::new().await;
    let app = app(&table, &[]);

    let mut sign_in = Vec::with_capacity(iterations);
    let mut refresh = Vec::with_capacity(iterations);
    let mut token = String::new();
    for i in 0..warmup + iterations {
        // A user of their own each time: under the cap (20), as most sign-ins are.
        let event =
            Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket(&format!("u{i}"), None));
        let t = Instant::now();
        let created = invoke(&app, Function::Create, event).await;
        let signing_in = t.elapsed();
        assert_eq!(created.status, 201, "{}", created.body);
        if token.is_empty() {
            token = created.cookie_token();
        }
        let event =
            Event::new(Payload::V2, "POST", "/sessions/current/refresh").session_cookie(&token);
        let t = Instant::now();
        let refreshed = invoke(&app, Function::Refresh, event).await;
        let refreshing = t.elapsed();
        assert_eq!(refreshed.status, 200, "{}", refreshed.body);
        token = refreshed.cookie_token();
        if i >= warmup {
            sign_in.push(signing_in);
            refresh.push(refreshing);
        }
    }

    // The two shapes of a rotation's writes, raw, on head-like items of their own.
    let mut transaction = Vec::with_capacity(iterations);
    let mut singles = Vec::with_capacity(iterations);
    let client = &table.client;
    let name = &table.name;
    let (mut former, mut now) = (1_000_000, 2_000_000);
    for (start, tenant) in [(former, true), (now, false)] {
        client
            .put_item()
            .table_name(name)
            .set_item(Some(head(start, tenant)))
            .send()
            .await
            .unwrap();
    }
    for i in 0..warmup + iterations {
        let t = Instant::now();
        client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .update(retire(name, former, "gsi1pk, gsi1sk, gsi2pk, gsi2sk"))
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(name)
                            .set_item(Some(head(former + 1, true)))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let one = t.elapsed();
        former += 1;
        let t = Instant::now();
        client
            .put_item()
            .table_name(name)
            .set_item(Some(head(now + 1, false)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .unwrap();
        let update = retire(name, now, "gsi1pk, gsi1sk");
        client
            .update_item()
            .table_name(name)
            .set_key(Some(update.key))
            .update_expression(update.update_expression)
            .set_condition_expression(update.condition_expression)
            .set_expression_attribute_values(update.expression_attribute_values)
            .send()
            .await
            .unwrap();
        let two = t.elapsed();
        now += 1;
        if i >= warmup {
            transaction.push(one);
            singles.push(two);
        }
    }

    println!("Write latency over {iterations} iterations (after {warmup} warm-up):");
    println!();
    println!("| measure | p50 (µs) | p99 (µs) |");
    println!("|---|---|---|");
    for (label, sorted) in [
        (
            "sign-in under the cap (handler, two round trips)",
            &mut sign_in,
        ),
        (
            "refresh (handler: the read, then two single writes)",
            &mut refresh,
        ),
        (
            "a rotation's writes as one transaction (the former shape, raw)",
            &mut transaction,
        ),
        (
            "a rotation's writes as two single writes in order (today's, raw)",
            &mut singles,
        ),
    ] {
        sorted.sort();
        println!(
            "| {label} | {:.0} | {:.0} |",
            micros(percentile(sorted, 0.5)),
            micros(percentile(sorted, 0.99))
        );
    }
    table.drop_table().await;
}
