//! Integration tests of the session operations against DynamoDB Local: sliding expiry,
//! rotation with its grace window, replay detection, the per-user cap, client binding, audit
//! events, concurrency, races, TTL and faults. Time is passed in as `now`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use session_shared::domain::{
    ClientInfo, Presented, RevocationReason, Session, SessionData, SessionToken, TenantId,
    TokenRecord, Transport, Use, UserId,
};
use session_shared::identity::Identity;
use session_shared::session::{Current, Policy, SessionError, SessionService, Start};
use session_shared::store::{SessionStore, Write};
use session_tests::{
    Event, Function, Payload, TestTable, app_with_store, client_for, config, invoke, ticket,
};

fn service(table: &TestTable) -> SessionService {
    service_with(table, &[])
}

fn service_with(table: &TestTable, overrides: &[(&str, &str)]) -> SessionService {
    SessionService::new(table.store(), config(&table.name, overrides).policy)
}

fn alice() -> Identity {
    Identity {
        user_id: UserId::parse("alice").unwrap(),
        tenant_id: Some(TenantId::parse("acme").unwrap()),
        // As from a trusted caller: these tests are about sessions, not tickets.
        issuer: None,
        authentication: None,
        ticket: None,
        allowed_profiles: None,
        actor: None,
        provider_sid: None,
    }
}

/// A cookie sign-in from `client` with no data, under the default profile.
fn start(client: ClientInfo) -> Start {
    Start {
        data: SessionData::default(),
        client,
        transport: Transport::Cookie,
        profile: None,
        resume: None,
        guest: None,
    }
}

fn nobody() -> ClientInfo {
    ClientInfo::default()
}

async fn started(service: &SessionService, now: DateTime<Utc>) -> SessionToken {
    started_from(service, &nobody(), now).await
}

async fn started_from(
    service: &SessionService,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> SessionToken {
    let (token, _) = service
        .create(alice(), start(client.clone()), now)
        .await
        .unwrap();
    token
}

async fn stored(table: &TestTable, token: &SessionToken) -> Option<TokenRecord> {
    table.store().load(&token.hash()).await.unwrap()
}

async fn stored_session(table: &TestTable, token: &SessionToken) -> Session {
    match stored(table, token).await {
        Some(TokenRecord::Active(session)) => session,
        other => panic!("expected a live session, got {other:?}"),
    }
}

fn successor(current: &Result<Current, SessionError>) -> SessionToken {
    current
        .as_ref()
        .unwrap()
        .new_token
        .clone()
        .expect("a new token")
}

#[tokio::test]
async fn validate_before_half_the_idle_window_writes_nothing() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;

    let seen = sessions
        .validate(
            Presented::new(&token, &nobody(), Transport::Cookie),
            t0 + Duration::minutes(30),
        )
        .await
        .unwrap();

    assert_eq!(seen.session.version, 1, "no write happened");
    assert!(seen.new_token.is_none());
    assert_eq!(
        seen.session.expires_at,
        seen.session.created_at + Duration::hours(8)
    );
    assert_eq!(stored_session(&table, &token).await.version, 1);
    table.drop_table().await;
}

#[tokio::test]
async fn validate_past_half_the_idle_window_extends_it_once() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;
    let later = t0 + Duration::hours(5);

    let extended = sessions
        .validate_without_rotation(Presented::new(&token, &nobody(), Transport::Cookie), later)
        .await
        .unwrap()
        .session;

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
        .validate_without_rotation(
            Presented::new(&token, &nobody(), Transport::Cookie),
            later + Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(
        again.session.version, 2,
        "the next validate has nothing to write"
    );
    assert_eq!(stored_session(&table, &token).await, extended);
    assert_eq!(table.event_names("alice").await, ["created", "extended"]);
    table.drop_table().await;
}

#[tokio::test]
async fn an_expired_item_that_ttl_has_not_removed_is_rejected_without_a_write() {
    let table = TestTable::without_ttl().await;
    let t0 = Utc::now();
    let token = started(&service(&table), t0).await;
    // Every DynamoDB operation of the refusals below, counted.
    let counter = session_tests::OpCounter::default();
    let sessions = SessionService::new(
        table.counted_store(&counter),
        config(&table.name, &[]).policy,
    );

    let idle = sessions
        .validate(
            Presented::new(&token, &nobody(), Transport::Cookie),
            t0 + Duration::hours(8),
        )
        .await;
    let again = sessions
        .validate(
            Presented::new(&token, &nobody(), Transport::Cookie),
            t0 + Duration::hours(9),
        )
        .await;
    let absolute = sessions
        .refresh(
            Presented::new(&token, &nobody(), Transport::Cookie),
            t0 + Duration::days(8),
        )
        .await;

    assert!(matches!(idle, Err(SessionError::Expired)));
    assert!(matches!(again, Err(SessionError::Expired)));
    assert!(matches!(absolute, Err(SessionError::Expired)));
    // Refusing it writes nothing, not even a `last_seen_at` or `version` bump: one read per
    // refusal. `session.expired` comes from the stream when TTL deletes it.
    assert_eq!(counter.take(), ["GetItem", "GetItem", "GetItem"]);
    assert!(stored(&table, &token).await.is_some(), "still stored");
    assert_eq!(table.event_names("alice").await, ["created"]);
    table.drop_table().await;
}

#[tokio::test]
async fn fifty_parallel_validates_past_the_threshold_all_succeed_with_one_write() {
    let table = TestTable::new().await;
    let t0 = Utc::now();
    let sessions = SessionService::new(
        table.patient_store(),
        config(&table.name, &[("SESSION_IDLE_TIMEOUT", "1h")]).policy,
    );
    let token = started(&sessions, t0).await;
    let later = t0 + Duration::minutes(45);

    let client = nobody();
    let results = join_all((0..50).map(|_| {
        sessions
            .validate_without_rotation(Presented::new(&token, &client, Transport::Cookie), later)
    }))
    .await;

    for result in &results {
        assert!(result.is_ok(), "{result:?}");
    }
    let stored = stored_session(&table, &token).await;
    assert_eq!(stored.version, 2, "exactly one conditional write won");
    assert_eq!(
        stored.expires_at.timestamp_millis(),
        (later + Duration::hours(1)).timestamp_millis()
    );
    table.drop_table().await;
}

#[tokio::test]
async fn refresh_rotates_the_token_and_retires_the_old_one() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;
    let t1 = t0 + Duration::minutes(10);

    let refreshed = sessions
        .refresh(Presented::new(&token, &nobody(), Transport::Cookie), t1)
        .await;
    let new = successor(&refreshed);

    assert_ne!(new, token);
    let session = stored_session(&table, &new).await;
    assert_eq!(session.id, refreshed.unwrap().session.id);
    assert_eq!(
        session.token_issued_at.timestamp_millis(),
        t1.timestamp_millis()
    );
    assert_eq!(
        session.expires_at.timestamp_millis(),
        (t1 + Duration::hours(8)).timestamp_millis()
    );
    let Some(TokenRecord::Retired(retired)) = stored(&table, &token).await else {
        panic!("the old token is retired");
    };
    assert!(retired.successor.matches(&new.hash()));
    let old_item = table.item_of(&token).await.unwrap();
    for gone in ["data", "gsi1pk", "gsi2pk"] {
        assert!(
            !old_item.contains_key(gone),
            "a retired item keeps no {gone}"
        );
    }
    assert_eq!(table.event_names("alice").await, ["created", "rotated"]);
    table.drop_table().await;
}

#[tokio::test]
async fn fifty_parallel_refreshes_of_one_token_all_get_the_same_successor() {
    let table = TestTable::new().await;
    let sessions = SessionService::new(table.patient_store(), config(&table.name, &[]).policy);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;
    let t1 = t0 + Duration::minutes(10);

    let client = nobody();
    let results = join_all((0..50).map(|i| {
        sessions.refresh(
            Presented::new(&token, &client, Transport::Cookie),
            t1 + Duration::milliseconds(i),
        )
    }))
    .await;

    for result in &results {
        assert!(result.is_ok(), "every refresh succeeds: {result:?}");
    }
    let successors: HashSet<String> = results
        .iter()
        .map(|r| successor(r).expose_secret().to_owned())
        .collect();
    assert_eq!(successors.len(), 1, "one successor, no lineage fork");
    let ids: HashSet<_> = results
        .iter()
        .map(|r| r.as_ref().unwrap().session.id)
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        table.items_of_kind("session").await.len(),
        1,
        "one live head"
    );
    assert_eq!(table.items_of_kind("retired").await.len(), 1);
    let new = successor(&results[0]);
    assert!(
        sessions
            .validate_without_rotation(
                Presented::new(&new, &nobody(), Transport::Cookie),
                t1 + Duration::minutes(1)
            )
            .await
            .is_ok()
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_retired_token_within_the_grace_window_resolves_to_its_successor() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;
    let t1 = t0 + Duration::minutes(10);
    let new = successor(
        &sessions
            .refresh(Presented::new(&token, &nobody(), Transport::Cookie), t1)
            .await,
    );

    let late_tab = sessions
        .validate(
            Presented::new(&token, &nobody(), Transport::Cookie),
            t1 + Duration::seconds(20),
        )
        .await
        .unwrap();
    let late_refresh = sessions
        .refresh(
            Presented::new(&token, &nobody(), Transport::Cookie),
            t1 + Duration::seconds(25),
        )
        .await;

    assert_eq!(
        late_tab.new_token.as_ref(),
        Some(&new),
        "switched to the successor"
    );
    assert_eq!(
        successor(&late_refresh),
        new,
        "a retried refresh gets the same token"
    );
    assert_eq!(table.items_of_kind("session").await.len(), 1);
    table.drop_table().await;
}

#[tokio::test]
async fn a_retired_token_after_the_grace_window_revokes_the_whole_lineage() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let t0_token = started(&sessions, t0).await;
    let t1 = t0 + Duration::minutes(10);
    let t1_token = successor(
        &sessions
            .refresh(Presented::new(&t0_token, &nobody(), Transport::Cookie), t1)
            .await,
    );
    let t2 = t1 + Duration::minutes(10);
    let t2_token = successor(
        &sessions
            .refresh(Presented::new(&t1_token, &nobody(), Transport::Cookie), t2)
            .await,
    );

    // The first token comes back long after its grace window: a stolen copy.
    let replay = sessions
        .validate(
            Presented::new(&t0_token, &nobody(), Transport::Cookie),
            t2 + Duration::minutes(1),
        )
        .await;

    assert!(
        matches!(replay, Err(SessionError::Revoked(RevocationReason::Replay))),
        "{replay:?}"
    );
    let legit = sessions
        .validate(
            Presented::new(&t2_token, &nobody(), Transport::Cookie),
            t2 + Duration::minutes(2),
        )
        .await;
    assert!(
        matches!(legit, Err(SessionError::Revoked(RevocationReason::Replay))),
        "the current token of the lineage is revoked too: {legit:?}"
    );
    assert!(table.items_of_kind("session").await.is_empty());
    let events = table.event_names("alice").await;
    assert_eq!(events.len(), 5, "{events:?}");
    assert_eq!(events[..3], ["created", "rotated", "rotated"]);
    assert!(
        events.contains(&"replay_detected".to_string()),
        "{events:?}"
    );
    assert!(events.contains(&"revoked".to_string()), "{events:?}");
    table.drop_table().await;
}

#[tokio::test]
async fn validate_rotates_a_cookie_session_once_the_renewal_interval_passed() {
    let table = TestTable::new().await;
    let sessions = service_with(&table, &[("SESSION_ROTATE_AFTER", "15m")]);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;
    let t1 = t0 + Duration::minutes(16);

    let bearer = sessions
        .validate_without_rotation(Presented::new(&token, &nobody(), Transport::Cookie), t1)
        .await
        .unwrap();
    let cookie = sessions
        .validate(Presented::new(&token, &nobody(), Transport::Cookie), t1)
        .await;

    assert!(
        bearer.new_token.is_none(),
        "bearer clients rotate only on refresh"
    );
    let new = successor(&cookie);
    assert_eq!(stored_session(&table, &new).await.id, bearer.session.id);
    assert_eq!(table.event_names("alice").await, ["created", "rotated"]);
    table.drop_table().await;
}

#[tokio::test]
async fn refreshes_racing_a_logout_never_resurrect_the_session() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;
    let now = t0 + Duration::hours(1);
    let client = nobody();

    let refreshes = join_all(
        (0..20).map(|_| sessions.refresh(Presented::new(&token, &client, Transport::Cookie), now)),
    );
    let (results, logout) = tokio::join!(
        refreshes,
        sessions.logout(Presented::new(&token, &client, Transport::Cookie), now)
    );

    assert!(logout.unwrap().is_some());
    for result in results {
        assert!(
            matches!(result, Ok(_) | Err(SessionError::NotFound)),
            "{result:?}"
        );
    }
    assert!(
        table.items_of_kind("session").await.is_empty(),
        "gone for good"
    );
    assert!(matches!(
        sessions
            .validate(Presented::new(&token, &client, Transport::Cookie), now)
            .await,
        Err(SessionError::NotFound)
    ));
    table.drop_table().await;
}

#[tokio::test]
async fn logout_with_a_just_retired_token_signs_out_its_successor() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;
    let t1 = t0 + Duration::minutes(5);
    let new = successor(
        &sessions
            .refresh(Presented::new(&token, &nobody(), Transport::Cookie), t1)
            .await,
    );

    let out = sessions
        .logout(
            Presented::new(&token, &nobody(), Transport::Cookie),
            t1 + Duration::seconds(2),
        )
        .await
        .unwrap();

    assert!(out.is_some());
    assert!(matches!(
        sessions
            .validate(
                Presented::new(&new, &nobody(), Transport::Cookie),
                t1 + Duration::seconds(3)
            )
            .await,
        Err(SessionError::NotFound)
    ));
    table.drop_table().await;
}

#[tokio::test]
async fn creating_one_session_over_the_cap_evicts_the_least_recently_used() {
    let table = TestTable::new().await;
    let sessions = service_with(
        &table,
        &[
            ("SESSION_IDLE_TIMEOUT", "20m"),
            ("SESSION_MAX_PER_USER", "2"),
        ],
    );
    let t0 = Utc::now();
    let laptop = started(&sessions, t0).await;
    let phone = started(&sessions, t0 + Duration::minutes(1)).await;
    // The laptop is used again (a sliding write), so the phone becomes the least recently used.
    sessions
        .validate_without_rotation(
            Presented::new(&laptop, &nobody(), Transport::Cookie),
            t0 + Duration::minutes(15),
        )
        .await
        .unwrap();

    let tablet = started(&sessions, t0 + Duration::minutes(16)).await;

    let now = t0 + Duration::minutes(17);
    assert!(matches!(
        sessions
            .validate(Presented::new(&phone, &nobody(), Transport::Cookie), now)
            .await,
        Err(SessionError::Revoked(RevocationReason::Evicted))
    ));
    assert!(
        sessions
            .validate(Presented::new(&laptop, &nobody(), Transport::Cookie), now)
            .await
            .is_ok()
    );
    assert!(
        sessions
            .validate(Presented::new(&tablet, &nobody(), Transport::Cookie), now)
            .await
            .is_ok()
    );
    assert!(
        table
            .event_names("alice")
            .await
            .contains(&"revoked".to_string()),
        "the evicted session's revocation (reason evicted)"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn parallel_creates_never_exceed_the_cap() {
    let table = TestTable::new().await;
    let sessions = service_with(&table, &[("SESSION_MAX_PER_USER", "3")]);
    let t0 = Utc::now();

    let created = join_all(
        (0..10).map(|i| sessions.create(alice(), start(nobody()), t0 + Duration::milliseconds(i))),
    )
    .await;

    assert!(created.iter().all(Result::is_ok), "{created:?}");
    assert_eq!(table.items_of_kind("session").await.len(), 3);
    assert_eq!(table.items_of_kind("revoked").await.len(), 7);
    table.drop_table().await;
}

#[tokio::test]
async fn a_changed_user_agent_is_recorded_and_tolerated_by_default() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let firefox = ClientInfo::new(Some("203.0.113.7"), Some("Firefox/132"));
    let chrome = ClientInfo::new(Some("203.0.113.7"), Some("Chrome/131"));
    let token = started_from(&sessions, &firefox, t0).await;

    let first = sessions
        .validate(
            Presented::new(&token, &chrome, Transport::Cookie),
            t0 + Duration::minutes(1),
        )
        .await;
    let second = sessions
        .validate(
            Presented::new(&token, &chrome, Transport::Cookie),
            t0 + Duration::minutes(2),
        )
        .await;

    assert!(first.is_ok() && second.is_ok());
    assert_eq!(
        stored_session(&table, &token)
            .await
            .client
            .user_agent
            .as_deref(),
        Some("Chrome/131")
    );
    assert_eq!(
        table.event_names("alice").await,
        ["created", "anomaly"],
        "recorded once"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_flapping_user_agent_is_recorded_once_per_interval() {
    let table = TestTable::new().await;
    let sessions = service(&table); // SESSION_CLIENT_EVENT_INTERVAL: 1h
    let t0 = Utc::now();
    let firefox = ClientInfo::new(Some("203.0.113.7"), Some("Firefox/132"));
    let chrome = ClientInfo::new(Some("203.0.113.7"), Some("Chrome/131"));
    let token = started_from(&sessions, &firefox, t0).await;

    // Alternating every minute for 50 minutes: one anomaly.
    for minute in 1..=50 {
        let client = if minute % 2 == 1 { &chrome } else { &firefox };
        let validated = sessions
            .validate(
                Presented::new(&token, client, Transport::Cookie),
                t0 + Duration::minutes(minute),
            )
            .await;
        assert!(validated.is_ok(), "minute {minute}");
    }
    assert_eq!(table.event_names("alice").await, ["created", "anomaly"]);

    // An hour after the recorded one, a change is recorded again (no renewal rotation here:
    // `may_rotate` is off, as for a bearer client).
    sessions
        .validate_without_rotation(
            Presented::new(&token, &firefox, Transport::Cookie),
            t0 + Duration::minutes(62),
        )
        .await
        .unwrap();
    assert_eq!(
        table.event_names("alice").await,
        ["created", "anomaly", "anomaly"]
    );
    table.drop_table().await;
}

#[tokio::test]
async fn within_the_interval_a_reject_policy_still_acts_on_every_change() {
    let table = TestTable::new().await;
    let sessions = service_with(&table, &[("SESSION_IP_CHANGE", "reject")]);
    let t0 = Utc::now();
    let home = ClientInfo::new(Some("203.0.113.7"), Some("Firefox/132"));
    let new_ua = ClientInfo::new(Some("203.0.113.7"), Some("Firefox/133"));
    let elsewhere = ClientInfo::new(Some("198.51.100.9"), Some("Firefox/133"));
    let token = started_from(&sessions, &home, t0).await;

    // A logged user-agent change starts the interval...
    sessions
        .validate(
            Presented::new(&token, &new_ua, Transport::Cookie),
            t0 + Duration::minutes(1),
        )
        .await
        .unwrap();
    // ...which does not make an IP change under `reject` pass.
    let moved = sessions
        .validate(
            Presented::new(&token, &elsewhere, Transport::Cookie),
            t0 + Duration::minutes(2),
        )
        .await;

    assert!(matches!(
        moved,
        Err(SessionError::Revoked(RevocationReason::Anomaly))
    ));
    table.drop_table().await;
}

#[tokio::test]
async fn a_changed_user_agent_revokes_the_session_under_the_reject_policy() {
    let table = TestTable::new().await;
    let sessions = service_with(&table, &[("SESSION_USER_AGENT_CHANGE", "reject")]);
    let t0 = Utc::now();
    let firefox = ClientInfo::new(Some("203.0.113.7"), Some("Firefox/132"));
    let curl = ClientInfo::new(Some("198.51.100.9"), Some("curl/8.5"));
    let token = started_from(&sessions, &firefox, t0).await;

    let stolen = sessions
        .validate(
            Presented::new(&token, &curl, Transport::Cookie),
            t0 + Duration::minutes(1),
        )
        .await;
    let owner = sessions
        .validate(
            Presented::new(&token, &firefox, Transport::Cookie),
            t0 + Duration::minutes(2),
        )
        .await;

    assert!(matches!(
        stolen,
        Err(SessionError::Revoked(RevocationReason::Anomaly))
    ));
    assert!(matches!(
        owner,
        Err(SessionError::Revoked(RevocationReason::Anomaly))
    ));
    // The revocation says why (reason anomaly): nothing was recorded before it.
    assert_eq!(table.event_names("alice").await, ["created", "revoked"]);
    table.drop_table().await;
}

#[tokio::test]
async fn a_changed_ip_is_an_event_never_a_rejection_by_default() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let wifi = ClientInfo::new(Some("203.0.113.7"), Some("Firefox/132"));
    let mobile = ClientInfo::new(Some("198.51.100.20"), Some("Firefox/132"));
    let token = started_from(&sessions, &wifi, t0).await;

    let seen = sessions
        .validate(
            Presented::new(&token, &mobile, Transport::Cookie),
            t0 + Duration::minutes(1),
        )
        .await
        .unwrap();

    assert_eq!(seen.session.client.ip.as_deref(), Some("198.51.100.20"));
    assert_eq!(table.event_names("alice").await, ["created", "anomaly"]);
    table.drop_table().await;
}

#[tokio::test]
async fn a_changed_ip_revokes_the_session_when_configured() {
    let table = TestTable::new().await;
    let sessions = service_with(&table, &[("SESSION_IP_CHANGE", "reject")]);
    let t0 = Utc::now();
    let wifi = ClientInfo::new(Some("203.0.113.7"), Some("Firefox/132"));
    let other = ClientInfo::new(Some("198.51.100.20"), Some("Firefox/132"));
    let token = started_from(&sessions, &wifi, t0).await;

    let result = sessions
        .validate(
            Presented::new(&token, &other, Transport::Cookie),
            t0 + Duration::minutes(1),
        )
        .await;

    assert!(matches!(
        result,
        Err(SessionError::Revoked(RevocationReason::Anomaly))
    ));
    table.drop_table().await;
}

#[tokio::test]
async fn audit_events_are_queryable_per_user_and_hold_no_token_or_hash() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let token = started(&sessions, t0).await;
    let new = successor(
        &sessions
            .refresh(
                Presented::new(&token, &nobody(), Transport::Cookie),
                t0 + Duration::minutes(1),
            )
            .await,
    );
    sessions
        .logout(
            Presented::new(&new, &nobody(), Transport::Cookie),
            t0 + Duration::minutes(2),
        )
        .await
        .unwrap();

    let events = table.event_names("alice").await;

    assert_eq!(events, ["created", "rotated", "revoked"]);
    let at_rest = format!("{:?}", table.items().await);
    for secret in [&token, &new] {
        assert!(!at_rest.contains(secret.expose_secret()), "a token at rest");
    }
    let event_items: Vec<_> = table
        .items()
        .await
        .into_iter()
        .filter(|i| i["sk"].as_s().unwrap().starts_with("EVENT#"))
        .collect();
    assert_eq!(event_items.len(), 3);
    let events_text = format!("{event_items:?}");
    for secret in [&token, &new] {
        assert!(
            !events_text.contains(&secret.hash().encoded()),
            "a hash in an event"
        );
    }
    for item in &event_items {
        let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
        let days = (ttl - t0.timestamp()) / 86_400;
        assert!((89..=90).contains(&days), "90-day retention, got {days}");
    }
    table.drop_table().await;
}

#[tokio::test]
async fn a_validate_that_slides_and_sees_a_new_client_answers_with_the_session_as_stored() {
    let table = TestTable::new().await;
    let sessions = service_with(&table, &[("SESSION_SLIDING_THRESHOLD", "0")]);
    let t0 = Utc::now();
    let laptop = ClientInfo::new(Some("203.0.113.9"), Some("Laptop/1"));
    let token = started_from(&sessions, &laptop, t0).await;
    let before = stored_session(&table, &token).await;
    let phone = ClientInfo::new(Some("198.51.100.4"), Some("Phone/2"));

    let answered = sessions
        .validate(
            Presented::new(&token, &phone, Transport::Cookie),
            t0 + Duration::minutes(5),
        )
        .await
        .unwrap()
        .session;

    let stored = stored_session(&table, &token).await;
    assert_eq!(answered, stored, "the in-memory change is the one written");
    assert_eq!(stored.client, phone);
    assert!(
        stored.client_event_at.is_some(),
        "the change of client recorded"
    );
    assert!(stored.expires_at > before.expires_at, "slid");
    table.drop_table().await;
}

#[tokio::test]
async fn extending_a_missing_session_creates_nothing() {
    let table = TestTable::new().await;
    let store = table.store();
    let hash = SessionToken::generate().unwrap().hash();
    let now = Utc::now();
    let session = Session::start(
        UserId::parse("ghost").unwrap(),
        None,
        SessionData::default(),
        nobody(),
        &config(&table.name, &[])
            .policy
            .profiles
            .default_profile()
            .lifetimes,
        now,
    );

    let used = Use {
        at: now,
        client: &session.client,
        extend_to: Some(now + Duration::hours(9)),
        client_event: false,
    };
    let outcome = store.touch(&hash, session.version, &used).await.unwrap();

    assert!(matches!(outcome, Write::Stale(None)));
    assert!(table.items().await.is_empty());
    table.drop_table().await;
}

#[tokio::test]
async fn every_item_carries_a_ttl_in_epoch_seconds_on_the_tables_ttl_attribute() {
    let table = TestTable::new().await; // TTL on, as defined
    let margin = Duration::hours(2);
    let absolute = Duration::days(3);
    let sessions = SessionService::new(
        table.store(),
        Policy {
            ttl_margin: margin,
            ..config(&table.name, &[("SESSION_ABSOLUTE_TIMEOUT", "3d")]).policy
        },
    );
    let t0 = Utc::now() - Duration::days(1);
    let token = started(&sessions, t0).await;
    let new = successor(
        &sessions
            .refresh(
                Presented::new(&token, &nobody(), Transport::Cookie),
                t0 + Duration::minutes(1),
            )
            .await,
    );

    let ttl_of = |item: &std::collections::HashMap<
        String,
        aws_sdk_dynamodb::types::AttributeValue,
    >|
     -> i64 { item["ttl"].as_n().unwrap().parse().unwrap() };
    // From the test's own clock and settings: signed in at t0, absolute deadline 3 days later.
    let expected = (t0 + absolute + margin).timestamp();

    let described = table
        .client
        .describe_time_to_live()
        .table_name(&table.name)
        .send()
        .await
        .unwrap();
    let ttl = described.time_to_live_description.unwrap();
    assert_eq!(ttl.attribute_name.as_deref(), Some("ttl"));
    assert_eq!(ttl.time_to_live_status.unwrap().as_str(), "ENABLED");
    // Seconds, not milliseconds: DynamoDB ignores TTL values it reads as far in the future.
    assert_eq!(ttl_of(&table.item_of(&new).await.unwrap()), expected);
    assert_eq!(
        ttl_of(&table.item_of(&token).await.unwrap()),
        expected,
        "a retired token lives as long as its lineage (replay detection)"
    );
    for item in table.items().await {
        let ttl = ttl_of(&item);
        assert!(
            (1_000_000_000..10_000_000_000).contains(&ttl),
            "epoch seconds: {ttl}"
        );
    }
    table.drop_table().await;
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_with_retry_after_and_no_internals() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let store = SessionStore::new(client_for(&endpoint), "sessions");
    let app = app_with_store(store, "sessions", &[]);
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

#[tokio::test]
async fn a_test_table_is_deleted_even_when_its_test_ends_before_dropping_it() {
    let table = TestTable::new().await;
    let (client, name) = (table.client.clone(), table.name.clone());
    assert!(
        client
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .is_ok()
    );

    // As when an assertion fails and the test unwinds past `drop_table`.
    drop(table);

    let gone = client.describe_table().table_name(&name).send().await;
    assert!(gone.is_err(), "the table was left behind");
}
