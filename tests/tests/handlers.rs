//! Handler tests: real API Gateway events (HTTP API v2 and REST v1) through `lambda_http` into
//! each function's handler, against DynamoDB Local, one fresh table per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use session_shared::domain::{
    ClientInfo, Lifetimes, Session, SessionData, SessionToken, TokenRecord, UserId,
};
use session_tests::{
    Event, Function, OpCounter, Payload, TestTable, app, app_with_store, invoke, ticket,
    ticket_with,
};

const COOKIE_ATTRIBUTES: &str = "; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=";
const CLEARING_COOKIE: &str = "__Host-session=; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT";

fn create_event(payload: Payload) -> Event {
    Event::new(payload, "POST", "/sessions")
}

/// Writes a session directly, started at `started`, so tests can hold sessions of any age.
async fn stored_session(
    table: &TestTable,
    started: DateTime<Utc>,
    idle: Duration,
    absolute: Duration,
) -> (SessionToken, Session) {
    let lifetimes = Lifetimes::new(idle, absolute, 0.5).unwrap();
    let session = Session::start(
        UserId::parse("alice").unwrap(),
        None,
        SessionData::default(),
        ClientInfo::default(),
        &lifetimes,
        started,
    );
    let token = table.put_session(&session).await;
    (token, session)
}

// ---------- create ----------

#[tokio::test]
async fn create_over_http_api_v2_sets_the_host_cookie_in_the_cookies_array() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);

    let reply = invoke(
        &app,
        Function::Create,
        create_event(Payload::V2).bearer(&ticket("alice", None)),
    )
    .await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    let cookie = reply.only_cookie();
    let token = reply.cookie_token();
    assert_eq!(token.len(), 43);
    assert_eq!(
        cookie,
        format!("__Host-session={token}{COOKIE_ATTRIBUTES}604800")
    );
    assert_eq!(reply.raw["cookies"].as_array().unwrap().len(), 1);
    assert_eq!(reply.header("location"), Some("/sessions/current"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    table.drop_table().await;
}

#[tokio::test]
async fn create_over_rest_v1_returns_set_cookie_in_multi_value_headers() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);

    let reply = invoke(
        &app,
        Function::Create,
        create_event(Payload::V1).bearer(&ticket("alice", None)),
    )
    .await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(
        reply.raw["multiValueHeaders"]["set-cookie"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(reply.only_cookie().starts_with("__Host-session="));
    table.drop_table().await;
}

#[tokio::test]
async fn create_returns_the_session_json_without_the_token() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let body = json!({ "id_token": ticket("alice", Some("acme")), "data": { "theme": "dark" } });

    let reply = invoke(
        &app,
        Function::Create,
        create_event(Payload::V2).json_body(&body),
    )
    .await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    let b = &reply.body;
    assert_eq!(b["user_id"], "alice");
    assert_eq!(b["tenant_id"], "acme");
    assert_eq!(b["data"], json!({ "theme": "dark" }));
    for field in [
        "created_at",
        "last_seen_at",
        "expires_at",
        "absolute_expires_at",
    ] {
        DateTime::parse_from_rfc3339(b[field].as_str().unwrap()).expect(field);
    }
    let created = DateTime::parse_from_rfc3339(b["created_at"].as_str().unwrap()).unwrap();
    let expires = DateTime::parse_from_rfc3339(b["expires_at"].as_str().unwrap()).unwrap();
    let absolute =
        DateTime::parse_from_rfc3339(b["absolute_expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, Duration::hours(8));
    assert_eq!(absolute - created, Duration::days(7));
    assert_eq!(b["session_id"].as_str().unwrap().len(), 36);
    assert!(b.get("token").is_none());
    assert!(!b.to_string().contains(&reply.cookie_token()));
    table.drop_table().await;
}

#[tokio::test]
async fn create_stores_only_the_token_hash_with_client_details_and_a_ttl_in_seconds() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);

    let reply = invoke(
        &app,
        Function::Create,
        create_event(Payload::V2).bearer(&ticket("alice", None)),
    )
    .await;

    let token = SessionToken::parse(&reply.cookie_token()).unwrap();
    let item = table
        .item_of(&token)
        .await
        .expect("item keyed by the token hash");
    let everything = format!("{item:?}");
    assert!(
        !everything.contains(token.expose_secret()),
        "the token itself is never stored"
    );
    assert_eq!(item["ip"].as_s().unwrap(), "203.0.113.7");
    assert!(item["user_agent"].as_s().unwrap().contains("Firefox"));
    let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
    let absolute = Utc::now() + Duration::days(7) + Duration::days(1);
    assert!(
        (ttl - absolute.timestamp()).abs() < 60,
        "ttl is epoch seconds: {ttl}"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn create_in_bearer_mode_returns_the_token_in_the_body_and_sets_no_cookie() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let body = json!({ "token_in_body": true });

    let reply = invoke(
        &app,
        Function::Create,
        create_event(Payload::V2)
            .without_header("origin")
            .bearer(&ticket("cli", None))
            .json_body(&body),
    )
    .await;

    assert_eq!(reply.status, 201);
    assert!(reply.set_cookies.is_empty());
    assert_eq!(reply.body["token_type"], "Bearer");
    let token = reply.body["token"].as_str().unwrap();
    let validated = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").bearer(token),
    )
    .await;
    assert_eq!(validated.status, 200);
    assert_eq!(validated.body["user_id"], "cli");
    table.drop_table().await;
}

/// Each bad sign-in gets its 4xx JSON error and writes nothing.
async fn rejected_create(event: Event) -> (u16, String) {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let reply = invoke(&app, Function::Create, event).await;
    assert!(
        reply.set_cookies.is_empty(),
        "no cookie on a failed sign-in"
    );
    assert!(
        table.items().await.is_empty(),
        "a failed sign-in writes nothing"
    );
    table.drop_table().await;
    (reply.status, reply.error_code().to_owned())
}

#[tokio::test]
async fn create_without_a_ticket_is_401_unauthenticated() {
    let reply = rejected_create(create_event(Payload::V2)).await;
    assert_eq!(reply, (401, "unauthenticated".into()));
}

#[tokio::test]
async fn create_with_a_badly_signed_ticket_is_401_invalid_token() {
    // Change one character inside the signature (not the last one, whose low bits are padding).
    let mut forged: Vec<char> = ticket("alice", None).chars().collect();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let reply = rejected_create(create_event(Payload::V2).bearer(&forged)).await;
    assert_eq!(reply, (401, "invalid_token".into()));
}

#[tokio::test]
async fn create_with_an_expired_ticket_is_401_invalid_token() {
    let expired = ticket_with("alice", None, |c| {
        c.iat -= 600;
        c.nbf -= 600;
        c.exp = Utc::now().timestamp() - 1;
    });
    let reply = rejected_create(create_event(Payload::V1).bearer(&expired)).await;
    assert_eq!(reply, (401, "invalid_token".into()));
}

#[tokio::test]
async fn create_with_a_ticket_for_another_audience_is_401_invalid_token() {
    let foreign = ticket_with("alice", None, |c| c.aud = "another-app");
    let reply = rejected_create(create_event(Payload::V2).bearer(&foreign)).await;
    assert_eq!(reply, (401, "invalid_token".into()));
}

#[tokio::test]
async fn create_with_an_alg_none_ticket_is_401_invalid_token() {
    let real = ticket("alice", None);
    let claims = real.split('.').nth(1).unwrap();
    let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    let unsigned = format!("{header}.{claims}.");
    let reply = rejected_create(create_event(Payload::V2).bearer(&unsigned)).await;
    assert_eq!(reply, (401, "invalid_token".into()));
}

#[tokio::test]
async fn create_with_malformed_json_is_400_invalid_request() {
    let event = create_event(Payload::V2).raw_body("{\"id_token\": ", Some("application/json"));
    assert_eq!(
        rejected_create(event).await,
        (400, "invalid_request".into())
    );
}

#[tokio::test]
async fn create_with_an_unknown_field_is_400_invalid_request() {
    let event = create_event(Payload::V2)
        .json_body(&json!({ "id_token": ticket("alice", None), "user_id": "admin" }));
    assert_eq!(
        rejected_create(event).await,
        (400, "invalid_request".into())
    );
}

#[tokio::test]
async fn create_with_a_body_over_the_limit_is_413_payload_too_large() {
    let body = json!({ "id_token": ticket("alice", None), "data": { "x": "y".repeat(20_000) } });
    let event = create_event(Payload::V2).json_body(&body);
    assert_eq!(
        rejected_create(event).await,
        (413, "payload_too_large".into())
    );
}

#[tokio::test]
async fn create_with_data_over_the_data_limit_is_413_payload_too_large() {
    let body = json!({ "id_token": ticket("alice", None), "data": { "x": "y".repeat(9_000) } });
    let event = create_event(Payload::V2).json_body(&body);
    assert_eq!(
        rejected_create(event).await,
        (413, "payload_too_large".into())
    );
}

#[tokio::test]
async fn create_with_data_that_is_not_an_object_is_400_invalid_request() {
    let body = json!({ "id_token": ticket("alice", None), "data": [1, 2] });
    let event = create_event(Payload::V1).json_body(&body);
    assert_eq!(
        rejected_create(event).await,
        (400, "invalid_request".into())
    );
}

#[tokio::test]
async fn create_with_a_form_body_is_415_unsupported_media_type() {
    let event =
        create_event(Payload::V2).raw_body("id_token=x", Some("application/x-www-form-urlencoded"));
    assert_eq!(
        rejected_create(event).await,
        (415, "unsupported_media_type".into())
    );
}

/// Found by schemathesis: bytes that are not UTF-8 under `application/json`. `cargo lambda
/// watch` answers those itself (500); API Gateway base64-encodes them, and the handler says 400.
#[tokio::test]
async fn create_with_a_body_that_is_not_utf8_is_400_invalid_request() {
    for payload in [Payload::V2, Payload::V1] {
        let event = create_event(payload).binary_body(b"\xff#", "application/json");
        assert_eq!(
            rejected_create(event).await,
            (400, "invalid_request".into())
        );
    }
}

#[tokio::test]
async fn create_with_two_different_tickets_is_400_invalid_request() {
    let event = create_event(Payload::V2)
        .bearer(&ticket("alice", None))
        .json_body(&json!({ "id_token": ticket("mallory", None) }));
    assert_eq!(
        rejected_create(event).await,
        (400, "invalid_request".into())
    );
}

// ---------- validate ----------

async fn signed_in(app: &session_shared::SignIn, payload: Payload) -> String {
    invoke(
        app,
        Function::Create,
        create_event(payload).bearer(&ticket("alice", Some("acme"))),
    )
    .await
    .cookie_token()
}

#[tokio::test]
async fn validate_over_v2_reads_the_cookie_from_the_cookies_array() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = signed_in(&app, Payload::V2).await;

    let reply = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current")
            .cookie("theme=dark")
            .session_cookie(&token),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["user_id"], "alice");
    assert_eq!(reply.body["tenant_id"], "acme");
    assert!(
        reply.set_cookies.is_empty(),
        "a fresh session needs no new cookie"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn validate_over_rest_v1_reads_the_cookie_header() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = signed_in(&app, Payload::V1).await;

    let reply = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V1, "GET", "/sessions/current").session_cookie(&token),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["user_id"], "alice");
    table.drop_table().await;
}

/// Each bad credential gets a 4xx JSON error from validate.
async fn rejected_validate(event: Event) -> session_tests::Reply {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let reply = invoke(&app, Function::Validate, event).await;
    table.drop_table().await;
    reply
}

fn current(payload: Payload) -> Event {
    Event::new(payload, "GET", "/sessions/current")
}

#[tokio::test]
async fn validate_without_a_cookie_is_401_unauthenticated_and_sets_nothing() {
    let reply = rejected_validate(current(Payload::V2)).await;
    assert_eq!((reply.status, reply.error_code()), (401, "unauthenticated"));
    assert!(reply.set_cookies.is_empty());
}

#[tokio::test]
async fn validate_with_a_garbled_cookie_is_401_invalid_token_and_clears_it() {
    let reply = rejected_validate(current(Payload::V2).session_cookie("%%%garbage%%%")).await;
    assert_eq!((reply.status, reply.error_code()), (401, "invalid_token"));
    assert_eq!(reply.set_cookies, vec![CLEARING_COOKIE.to_owned()]);
}

#[tokio::test]
async fn validate_with_a_wrong_length_token_is_401_invalid_token() {
    let reply = rejected_validate(current(Payload::V1).session_cookie(&"A".repeat(42))).await;
    assert_eq!((reply.status, reply.error_code()), (401, "invalid_token"));
    assert_eq!(reply.set_cookies, vec![CLEARING_COOKIE.to_owned()]);
}

#[tokio::test]
async fn validate_with_an_oversized_cookie_header_is_431() {
    let reply =
        rejected_validate(current(Payload::V2).cookie(&format!("big={}", "x".repeat(9000)))).await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (431, "headers_too_large")
    );
}

#[tokio::test]
async fn validate_with_an_unknown_well_formed_token_is_401_and_clears_the_cookie() {
    let unknown = SessionToken::generate().unwrap();
    let reply =
        rejected_validate(current(Payload::V2).session_cookie(unknown.expose_secret())).await;
    assert_eq!((reply.status, reply.error_code()), (401, "invalid_token"));
    assert_eq!(reply.set_cookies, vec![CLEARING_COOKIE.to_owned()]);
}

#[tokio::test]
async fn validate_with_two_different_session_cookies_is_400() {
    let a = SessionToken::generate().unwrap();
    let b = SessionToken::generate().unwrap();
    let reply = rejected_validate(
        current(Payload::V2)
            .session_cookie(a.expose_secret())
            .session_cookie(b.expose_secret()),
    )
    .await;
    assert_eq!((reply.status, reply.error_code()), (400, "invalid_request"));
}

#[tokio::test]
async fn validate_with_a_garbled_bearer_token_is_401_with_a_bearer_challenge() {
    let reply = rejected_validate(current(Payload::V2).bearer("not-a-token")).await;
    assert_eq!((reply.status, reply.error_code()), (401, "invalid_token"));
    assert!(
        reply
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    assert!(
        reply.set_cookies.is_empty(),
        "bearer clients get no cookies"
    );
}

#[tokio::test]
async fn validate_with_a_basic_authorization_header_is_400() {
    let reply = rejected_validate(current(Payload::V1).header("Authorization", "Basic YTpi")).await;
    assert_eq!((reply.status, reply.error_code()), (400, "invalid_request"));
}

#[tokio::test]
async fn validate_of_an_idle_expired_session_still_in_the_table_is_401_session_expired() {
    let table = TestTable::without_ttl().await;
    let app = app(&table, &[]);
    let (token, _) = stored_session(
        &table,
        Utc::now() - Duration::hours(9),
        Duration::hours(8),
        Duration::days(7),
    )
    .await;

    let reply = invoke(
        &app,
        Function::Validate,
        current(Payload::V2).session_cookie(token.expose_secret()),
    )
    .await;

    assert_eq!((reply.status, reply.error_code()), (401, "session_expired"));
    assert_eq!(reply.set_cookies, vec![CLEARING_COOKIE.to_owned()]);
    assert!(
        table.item_of(&token).await.is_some(),
        "the item is still there: TTL lags"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn validate_of_an_absolutely_expired_session_is_401_session_expired() {
    let table = TestTable::without_ttl().await;
    let app = app(&table, &[]);
    let started = Utc::now() - Duration::hours(2);
    let (token, _) = stored_session(
        &table,
        started,
        Duration::minutes(90),
        Duration::minutes(90),
    )
    .await;

    let reply = invoke(
        &app,
        Function::Validate,
        current(Payload::V1).session_cookie(token.expose_secret()),
    )
    .await;

    assert_eq!((reply.status, reply.error_code()), (401, "session_expired"));
    table.drop_table().await;
}

#[tokio::test]
async fn unknown_route_is_a_json_404() {
    let reply = rejected_validate(Event::new(Payload::V2, "GET", "/nowhere")).await;
    assert_eq!((reply.status, reply.error_code()), (404, "not_found"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn wrong_method_on_a_known_route_is_a_json_405_with_allow() {
    let reply = rejected_validate(Event::new(Payload::V1, "PUT", "/sessions/current")).await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (405, "method_not_allowed")
    );
    assert_eq!(reply.header("allow"), Some("GET, PATCH, DELETE"));
}

// ---------- refresh ----------

#[tokio::test]
async fn refresh_extends_the_idle_deadline_and_sets_a_rotated_cookie() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let started = Utc::now() - Duration::hours(3);
    let (token, before) =
        stored_session(&table, started, Duration::hours(8), Duration::days(7)).await;

    let reply = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh")
            .session_cookie(token.expose_secret()),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let expires = DateTime::parse_from_rfc3339(reply.body["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires > before.expires_at + Duration::hours(2));
    assert!(expires <= Utc::now() + Duration::hours(8));
    let cookie = reply.only_cookie();
    let new = reply.cookie_token();
    assert_ne!(new, token.expose_secret(), "a new token");
    assert!(cookie.starts_with(&format!("__Host-session={new}{COOKIE_ATTRIBUTES}")));
    assert!(matches!(
        table.store().load(&token.hash()).await.unwrap(),
        Some(TokenRecord::Retired(_))
    ));
    let max_age: i64 = cookie.rsplit("Max-Age=").next().unwrap().parse().unwrap();
    let expected = (before.absolute_expires_at - Utc::now()).num_seconds();
    assert!(
        (max_age - expected).abs() <= 2,
        "Max-Age {max_age} tracks the absolute deadline"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn refresh_never_extends_past_the_absolute_deadline() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    // Idle deadline in an hour, absolute deadline in two: a refresh (idle 8h) must stop at two.
    let started = Utc::now() - Duration::hours(22);
    let (token, before) =
        stored_session(&table, started, Duration::hours(23), Duration::hours(24)).await;

    let reply = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V1, "POST", "/sessions/current/refresh")
            .session_cookie(token.expose_secret()),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let expires = DateTime::parse_from_rfc3339(reply.body["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        expires, before.absolute_expires_at,
        "capped at the absolute deadline"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn refresh_of_an_expired_session_is_401_and_does_not_revive_it() {
    let table = TestTable::without_ttl().await;
    let app = app(&table, &[]);
    let (token, before) = stored_session(
        &table,
        Utc::now() - Duration::hours(9),
        Duration::hours(8),
        Duration::days(7),
    )
    .await;

    let reply = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh")
            .session_cookie(token.expose_secret()),
    )
    .await;

    assert_eq!((reply.status, reply.error_code()), (401, "session_expired"));
    let Some(TokenRecord::Active(stored)) = table.store().load(&token.hash()).await.unwrap() else {
        panic!("still the stored session");
    };
    assert_eq!(
        stored.expires_at, before.expires_at,
        "the deadline did not move"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn refresh_of_an_unknown_token_is_401_and_creates_nothing() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let unknown = SessionToken::generate().unwrap();

    let reply = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh")
            .session_cookie(unknown.expose_secret()),
    )
    .await;

    assert_eq!((reply.status, reply.error_code()), (401, "invalid_token"));
    assert!(table.items().await.is_empty());
    table.drop_table().await;
}

#[tokio::test]
async fn refresh_with_a_bearer_token_sets_no_cookie() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let (token, _) =
        stored_session(&table, Utc::now(), Duration::hours(8), Duration::days(7)).await;

    let reply = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh").bearer(token.expose_secret()),
    )
    .await;

    assert_eq!(reply.status, 200);
    assert!(reply.set_cookies.is_empty());
    table.drop_table().await;
}

// ---------- logout ----------

#[tokio::test]
async fn logout_deletes_the_session_and_clears_the_cookie() {
    for payload in [Payload::V2, Payload::V1] {
        let table = TestTable::new().await;
        let app = app(&table, &[]);
        let token = signed_in(&app, payload).await;

        let reply = invoke(
            &app,
            Function::Logout,
            Event::new(payload, "DELETE", "/sessions/current").session_cookie(&token),
        )
        .await;

        assert_eq!(reply.status, 204, "{payload:?}");
        assert_eq!(reply.body, serde_json::Value::Null);
        assert_eq!(reply.set_cookies, vec![CLEARING_COOKIE.to_owned()]);
        assert!(
            table.token_items().await.is_empty(),
            "{payload:?}: deleted server-side"
        );
        let after = invoke(
            &app,
            Function::Validate,
            current(payload).session_cookie(&token),
        )
        .await;
        assert_eq!(after.status, 401);
        table.drop_table().await;
    }
}

#[tokio::test]
async fn logout_without_a_session_is_still_204_with_a_clearing_cookie() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    for event in [
        Event::new(Payload::V2, "DELETE", "/sessions/current"),
        Event::new(Payload::V2, "DELETE", "/sessions/current").session_cookie("garbage"),
        Event::new(Payload::V1, "DELETE", "/sessions/current")
            .session_cookie(SessionToken::generate().unwrap().expose_secret()),
    ] {
        let reply = invoke(&app, Function::Logout, event).await;
        assert_eq!(reply.status, 204);
        assert_eq!(reply.set_cookies, vec![CLEARING_COOKIE.to_owned()]);
    }
    table.drop_table().await;
}

#[tokio::test]
async fn logout_twice_is_idempotent() {
    let table = TestTable::new().await;
    let counter = OpCounter::default();
    let app = app_with_store(table.counted_store(&counter), &table.name, &[]);
    let token = signed_in(&app, Payload::V2).await;
    let logout = || Event::new(Payload::V2, "DELETE", "/sessions/current").session_cookie(&token);

    counter.take();
    let first = invoke(&app, Function::Logout, logout()).await;
    let mut first_ops = counter.take();
    first_ops.sort();
    let second = invoke(&app, Function::Logout, logout()).await;
    let second_ops = counter.take();

    assert_eq!((first.status, second.status), (204, 204));
    assert_eq!(first.only_cookie(), CLEARING_COOKIE);
    assert_eq!(second.only_cookie(), CLEARING_COOKIE);
    assert_eq!(
        first_ops,
        ["DeleteItem", "GetItem", "GetItem"],
        "the first deletes (beside a read of the successor a rotation that died may have left)"
    );
    assert_eq!(
        second_ops,
        ["GetItem"],
        "the second finds nothing and writes nothing"
    );
    table.drop_table().await;
}
