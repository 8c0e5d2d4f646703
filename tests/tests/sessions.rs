//! Integration tests of the session operations against DynamoDB Local: sliding expiry,
//! concurrency, races, TTL, faults, and what reaches the logs. Time is passed in as `now`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use futures::future::join_all;
use session_shared::App;
use session_shared::domain::{ClientInfo, SessionData, SessionToken, TenantId, UserId};
use session_shared::identity::Identity;
use session_shared::service::{SessionError, SessionService};
use session_shared::store::{Extension, SessionStore};
use session_tests::{Event, Function, Payload, TestTable, client_for, config, invoke, ticket};

fn service(table: &TestTable) -> SessionService {
    let config = config(&table.name, &[]);
    SessionService::new(table.store(), config.lifetimes, config.ttl_margin)
}

fn alice() -> Identity {
    Identity {
        user_id: UserId::parse("alice").unwrap(),
        tenant_id: Some(TenantId::parse("acme").unwrap()),
    }
}

async fn started(service: &SessionService, now: chrono::DateTime<Utc>) -> SessionToken {
    let (token, _) = service
        .create(alice(), SessionData::default(), ClientInfo::default(), now)
        .await
        .unwrap();
    token
}

#[tokio::test]
async fn validate_before_half_the_idle_window_writes_nothing() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;

    let seen = sessions
        .validate(&token, t0 + Duration::hours(3))
        .await
        .unwrap();

    assert_eq!(seen.version, 1, "no write happened");
    assert_eq!(seen.expires_at, seen.created_at + Duration::hours(8));
    let stored = table.store().load(&token.hash()).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    table.drop_table().await;
}

#[tokio::test]
async fn validate_past_half_the_idle_window_extends_it_once() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;
    let later = t0 + Duration::hours(5);

    let extended = sessions.validate(&token, later).await.unwrap();

    assert_eq!(extended.version, 2);
    assert_eq!(
        extended.expires_at.timestamp_millis(),
        (later + Duration::hours(8)).timestamp_millis()
    );
    assert_eq!(
        extended.last_seen_at.timestamp_millis(),
        later.timestamp_millis()
    );
    let again = sessions
        .validate(&token, later + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(again.version, 2, "the next validate has nothing to write");
    table.drop_table().await;
}

#[tokio::test]
async fn an_expired_item_that_ttl_has_not_removed_is_rejected() {
    let table = TestTable::without_ttl().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;

    let idle = sessions.validate(&token, t0 + Duration::hours(8)).await;
    let absolute = sessions.validate(&token, t0 + Duration::days(8)).await;

    assert!(matches!(idle, Err(SessionError::Expired)));
    assert!(matches!(absolute, Err(SessionError::Expired)));
    assert!(
        table.store().load(&token.hash()).await.unwrap().is_some(),
        "still stored"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn fifty_parallel_validates_past_the_threshold_all_succeed_with_one_write() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;
    let later = t0 + Duration::hours(6);

    let results = join_all((0..50).map(|_| sessions.validate(&token, later))).await;

    for result in &results {
        assert!(result.is_ok(), "{result:?}");
    }
    let stored = table.store().load(&token.hash()).await.unwrap().unwrap();
    assert_eq!(stored.version, 2, "exactly one conditional write won");
    assert_eq!(
        stored.expires_at.timestamp_millis(),
        (later + Duration::hours(8)).timestamp_millis()
    );
    table.drop_table().await;
}

#[tokio::test]
async fn fifty_parallel_refreshes_all_succeed_and_leave_one_valid_session() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;

    let results = join_all((0..50).map(|i| {
        sessions.refresh(
            &token,
            t0 + Duration::minutes(10) + Duration::milliseconds(i),
        )
    }))
    .await;

    let ids: std::collections::HashSet<_> =
        results.iter().map(|r| r.as_ref().unwrap().id).collect();
    assert_eq!(ids.len(), 1, "one session, never forked");
    assert_eq!(table.items().await.len(), 1);
    assert!(
        sessions
            .validate(&token, t0 + Duration::minutes(11))
            .await
            .is_ok()
    );
    table.drop_table().await;
}

#[tokio::test]
async fn refreshes_racing_a_logout_never_resurrect_the_session() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;
    let now = t0 + Duration::hours(1);

    let refreshes = join_all((0..20).map(|_| sessions.refresh(&token, now)));
    let (results, logout) = tokio::join!(refreshes, sessions.logout(&token));

    assert!(logout.unwrap().is_some());
    for result in results {
        assert!(
            matches!(result, Ok(_) | Err(SessionError::NotFound)),
            "{result:?}"
        );
    }
    assert!(table.items().await.is_empty(), "gone for good");
    assert!(matches!(
        sessions.validate(&token, now).await,
        Err(SessionError::NotFound)
    ));
    table.drop_table().await;
}

#[tokio::test]
async fn extending_a_missing_session_creates_nothing() {
    let table = TestTable::new().await;
    let store = table.store();
    let hash = SessionToken::generate().unwrap().hash();

    let outcome = store
        .extend(&hash, Utc::now() + Duration::hours(1), Utc::now())
        .await
        .unwrap();

    assert!(matches!(outcome, Extension::Unchanged(None)));
    assert!(table.items().await.is_empty());
    table.drop_table().await;
}

#[tokio::test]
async fn dynamodb_ttl_removes_items_whose_ttl_seconds_have_passed() {
    let table = TestTable::new().await; // TTL on, as defined
    let sessions = SessionService::new(
        table.store(),
        config(&table.name, &[]).lifetimes,
        Duration::zero(),
    );
    // Started long enough ago that the absolute deadline (and so the ttl) is in the past.
    let token = started(&sessions, Utc::now() - Duration::days(8)).await;
    let item = table.item_of(&token).await.unwrap();
    let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
    assert!(
        ttl < Utc::now().timestamp() && ttl > 1_000_000_000,
        "epoch seconds: {ttl}"
    );

    let mut gone = false;
    for _ in 0..100 {
        if table.item_of(&token).await.is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }

    assert!(
        gone,
        "DynamoDB Local's TTL deletes the expired item (ttl is in seconds)"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_with_retry_after_and_no_internals() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let store = SessionStore::new(client_for(&endpoint), "sessions");
    let app = App::new(config("sessions", &[]), store);
    let token = SessionToken::generate().unwrap();

    let validate = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(token.expose_secret()),
    )
    .await;
    let create = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V1, "POST", "/sessions").bearer(&ticket("alice", None)),
    )
    .await;

    for reply in [&validate, &create] {
        assert_eq!(
            (reply.status, reply.error_code()),
            (503, "service_unavailable")
        );
        assert_eq!(reply.header("retry-after"), Some("1"));
        let body = reply.body.to_string().to_lowercase();
        assert!(
            !body.contains("dynamo") && !body.contains("127.0.0.1"),
            "{body}"
        );
    }
    assert!(
        create.set_cookies.is_empty(),
        "no cookie for a session that was not stored"
    );
}
