//! The business metrics (`session_shared::metrics`): real requests through the real handlers
//! on DynamoDB Local, each invocation's Embedded Metric Format line validated against the EMF
//! specification's structure (with the `jsonschema` package) and its counts checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use session_shared::domain::{ClientInfo, Lifetimes, Session, SessionData, UserId};
use session_shared::metrics::{Metric, scope};
use session_tests::{
    ALLOWED_ORIGIN, Event, Function, Payload, Reply, TestTable, app, app_with_store, client_with,
    invoke, python, ticket,
};

const NAMESPACE: &str = "SessionService/test";

/// The Embedded Metric Format document structure (CloudWatch's specification), as JSON Schema.
const EMF_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["_aws"],
  "properties": {
    "_aws": {
      "type": "object",
      "required": ["Timestamp", "CloudWatchMetrics"],
      "properties": {
        "Timestamp": {"type": "integer", "minimum": 0},
        "CloudWatchMetrics": {
          "type": "array",
          "minItems": 1,
          "items": {
            "type": "object",
            "required": ["Namespace", "Dimensions", "Metrics"],
            "additionalProperties": false,
            "properties": {
              "Namespace": {"type": "string", "minLength": 1, "maxLength": 1024},
              "Dimensions": {
                "type": "array",
                "items": {"type": "array", "maxItems": 30, "items": {"type": "string", "minLength": 1}}
              },
              "Metrics": {
                "type": "array",
                "maxItems": 100,
                "items": {
                  "type": "object",
                  "required": ["Name"],
                  "additionalProperties": false,
                  "properties": {
                    "Name": {"type": "string", "minLength": 1, "maxLength": 1024},
                    "Unit": {"enum": ["Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes",
                      "Megabytes", "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits",
                      "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
                      "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
                      "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
                      "Count/Second", "None"]},
                    "StorageResolution": {"enum": [1, 60]}
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}"#;

/// Checks `line` against the EMF structure (jsonschema, PyPI) and that every metric it defines
/// has its value (a number, or up to 100 numbers) at the root; answers the line parsed.
fn emf(line: Option<String>) -> Value {
    let line = line.expect("the invocation printed its metrics");
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
given = json.load(sys.stdin)
Draft202012Validator(given["schema"]).validate(given["line"])
for directive in given["line"]["_aws"]["CloudWatchMetrics"]:
    for metric in directive["Metrics"]:
        value = given["line"][metric["Name"]]
        values = value if isinstance(value, list) else [value]
        assert 1 <= len(values) <= 100 and all(isinstance(v, (int, float)) for v in values), metric
"#;
    let parsed: Value = serde_json::from_str(&line).expect("one JSON object");
    let input =
        json!({"schema": serde_json::from_str::<Value>(EMF_SCHEMA).unwrap(), "line": parsed});
    let out = python(script, &input);
    assert!(
        out.status.success(),
        "not Embedded Metric Format (or jsonschema is missing): {line}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        parsed["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        NAMESPACE
    );
    parsed
}

/// What one invocation counted, by metric name (absent: zero).
async fn metered(app: &session_shared::SignIn, function: Function, event: Event) -> (Reply, Value) {
    let (reply, line) = scope(NAMESPACE, invoke(app, function, event)).await;
    (reply, emf(line))
}

fn counted(line: &Value, metric: Metric) -> f64 {
    line[metric.name()].as_f64().unwrap_or(0.0)
}

fn sign_in(user: &str) -> Event {
    Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket(user, None))
}

fn current(token: &str) -> Event {
    Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(token)
}

#[tokio::test]
async fn sign_ins_validations_rotations_and_replays_are_counted_once_each() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_ROTATION_GRACE", "1s")]);

    let ticket = ticket("alice", None);
    let (signed_in, line) = metered(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket),
    )
    .await;
    assert_eq!(signed_in.status, 201);
    assert_eq!(counted(&line, Metric::SignInsTicket), 1.0);
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let (replayed, line) = metered(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket),
    )
    .await;
    assert_eq!(replayed.status, 401);
    assert_eq!(counted(&line, Metric::SignInsRefused), 1.0);
    assert_eq!(counted(&line, Metric::SignInsTicket), 0.0);

    let token = signed_in.cookie_token();
    let (ok, line) = metered(&app, Function::Validate, current(&token)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(counted(&line, Metric::Validations), 1.0);

    let (refreshed, line) = metered(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh").session_cookie(&token),
    )
    .await;
    assert_eq!(refreshed.status, 200);
    assert_eq!(counted(&line, Metric::Rotations), 1.0);

    // The old token after its grace: a replay, the session revoked.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (replay, line) = metered(&app, Function::Validate, current(&token)).await;
    assert_eq!(replay.status, 401);
    assert_eq!(counted(&line, Metric::ReplaysDetected), 1.0);
    assert_eq!(counted(&line, Metric::ValidationsRevoked), 1.0);
    assert_eq!(counted(&line, Metric::Validations), 0.0);
    table.drop_table().await;
}

#[tokio::test]
async fn expiries_csrf_refusals_evictions_and_an_unavailable_store_are_counted() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_MAX_PER_USER", "1")]);

    let lifetimes = Lifetimes::new(Duration::minutes(1), Duration::minutes(2), 0.5).unwrap();
    let expired = Session::start(
        UserId::parse("bob").unwrap(),
        None,
        SessionData::default(),
        ClientInfo::default(),
        &lifetimes,
        Utc::now() - Duration::minutes(5),
    );
    let stale = table.put_session(&expired).await;
    let (reply, line) = metered(&app, Function::Validate, current(stale.expose_secret())).await;
    assert_eq!(reply.status, 401);
    assert_eq!(counted(&line, Metric::ValidationsExpired), 1.0);

    let (first, _) = metered(&app, Function::Create, sign_in("carol")).await;
    let (second, line) = metered(&app, Function::Create, sign_in("carol")).await;
    assert_eq!((first.status, second.status), (201, 201));
    assert_eq!(counted(&line, Metric::Evictions), 1.0, "over the cap of 1");

    let (forged, line) = metered(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh")
            .without_header("origin")
            .header("origin", "https://evil.example")
            .session_cookie(&second.cookie_token()),
    )
    .await;
    assert_eq!(forged.status, 403);
    assert_eq!(counted(&line, Metric::CsrfRefused), 1.0);
    let (allowed, line) = metered(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh")
            .without_header("origin")
            .header("origin", ALLOWED_ORIGIN)
            .session_cookie(&second.cookie_token()),
    )
    .await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(counted(&line, Metric::CsrfRefused), 0.0);

    // DynamoDB unreachable: 503, counted by its cause.
    let down = app_with_store(
        session_shared::store::SessionStore::new(
            client_with("http://127.0.0.1:9", None),
            table.name.clone(),
        ),
        &table.name,
        &[],
    );
    let (unavailable, line) =
        metered(&down, Function::Validate, current(&second.cookie_token())).await;
    assert_eq!(unavailable.status, 503);
    assert_eq!(counted(&line, Metric::UnavailableStore), 1.0);
    assert_eq!(
        counted(&line, Metric::ValidationsRevoked),
        0.0,
        "a 503 is not a sign-out"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn an_invocation_that_counts_nothing_prints_nothing() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let (reply, line) = scope(
        NAMESPACE,
        invoke(
            &app,
            Function::Echo,
            Event::new(Payload::V2, "GET", "/example/whoami"),
        ),
    )
    .await;
    assert_eq!(reply.status, 401);
    assert!(line.is_none(), "{line:?}");
    table.drop_table().await;
}
