//! What reaches the logs during a full flow, with the functions' own subscriber at TRACE.
//! Its own test binary: `tracing` caches per-callsite interest process-wide, so capturing
//! with a thread-local subscriber is only reliable when no other test runs beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use session_shared::domain::SessionToken;
use session_tests::{Event, Function, Payload, TestTable, app, invoke, ticket};

/// Collects everything the tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_full_flow_never_logs_a_token_cookie_or_hash() {
    // The functions' own subscriber at the most verbose settings anyone could choose: everything
    // at TRACE, and TRACE aimed at the very SDK module that dumps response bodies.
    for spec in [
        "trace",
        "info,aws_smithy_runtime::client::orchestrator=trace",
    ] {
        full_flow_logs_no_secret(spec).await;
    }
}

async fn full_flow_logs_no_secret(spec: &str) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = session_shared::telemetry::subscriber(spec, false, move || writer.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let table = TestTable::new().await;
    // Slide on every validate, and no grace: the old token after a refresh is a replay.
    let app = app(
        &table,
        &[
            ("SESSION_SLIDING_THRESHOLD", "0"),
            ("SESSION_ROTATION_GRACE", "0s"),
        ],
    );

    let created = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket("alice", None)),
    )
    .await;
    let first = created.cookie_token();
    let validate =
        |token: &str| Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(token);
    invoke(&app, Function::Validate, validate(&first)).await;
    let refreshed = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V1, "POST", "/sessions/current/refresh").session_cookie(&first),
    )
    .await;
    let second = refreshed.cookie_token();
    invoke(&app, Function::Validate, validate(&second)).await;
    let replay = invoke(&app, Function::Validate, validate(&first)).await;
    assert_eq!(replay.error_code(), "session_revoked");
    invoke(
        &app,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current").session_cookie(&second),
    )
    .await;
    invoke(&app, Function::Validate, validate(&second)).await;
    // Support signs in as alice: the impersonation ticket is a credential too.
    let support_ticket = session_tests::impersonation_ticket(&app, "alice", None, "case 42").await;
    let support = session_tests::redeem(&app, &support_ticket, |body| body).await;
    assert_eq!(support.status, 201, "{}", support.body);
    let third = support.cookie_token();
    invoke(&app, Function::Validate, validate(&third)).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for event in [
        "created",
        "refreshed",
        "rotated",
        "replay_detected",
        "revoked",
    ] {
        assert!(
            logs.contains(&format!("event=\"{event}\"")),
            "{spec}: the {event} event was logged: {logs}"
        );
    }
    assert!(
        logs.contains(created.body["session_id"].as_str().unwrap()),
        "logs carry the session id"
    );
    assert!(
        logs.contains("impersonation ticket minted"),
        "{spec}: the minting was logged"
    );
    for token in [&first, &second, &support_ticket, &third] {
        assert!(
            !logs.contains(token.as_str()),
            "{spec}: a token reached the logs"
        );
        let hash = SessionToken::parse(token).unwrap().hash().encoded();
        let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(&hash)).collect();
        assert!(
            leaks.is_empty(),
            "{spec}: a token hash reached the logs: {leaks:#?}"
        );
    }
    table.drop_table().await;
}
