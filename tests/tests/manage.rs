//! The caller's own sessions (`session-manage`): list, revoke one, sign out everywhere, and
//! patch the session data. Real API Gateway events through `lambda_http`, DynamoDB Local, one
//! fresh table per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use session_shared::SignIn;
use session_tests::{Event, Function, Payload, TestTable, app, invoke, session_started, ticket};

const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) \
    AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";

/// Signs `user` in from a device; returns its cookie token.
async fn sign_in(app: &SignIn, user: &str, ip: &str, user_agent: &str) -> String {
    session_tests::sign_in_reply(app, user, Some("acme"), |e| e.client(ip, user_agent))
        .await
        .cookie_token()
}

fn from_device(method: &str, path: &str, token: &str, ip: &str, user_agent: &str) -> Event {
    Event::new(Payload::V2, method, path)
        .client(ip, user_agent)
        .session_cookie(token)
}

fn laptop(method: &str, path: &str, token: &str) -> Event {
    from_device(method, path, token, "198.51.100.1", CHROME_WINDOWS)
}

fn phone(method: &str, path: &str, token: &str) -> Event {
    from_device(method, path, token, "198.51.100.2", SAFARI_IPHONE)
}

async fn status_of_validate(app: &SignIn, event: Event) -> (u16, String) {
    let reply = invoke(app, Function::Validate, event).await;
    (reply.status, reply.error_code().to_owned())
}

// ---------- GET /sessions ----------

#[tokio::test]
async fn list_shows_each_device_with_its_label_and_marks_the_current_one() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let on_laptop = sign_in(&app, "alice", "198.51.100.1", CHROME_WINDOWS).await;
    let on_phone = sign_in(&app, "alice", "198.51.100.2", SAFARI_IPHONE).await;
    sign_in(&app, "bob", "198.51.100.3", CHROME_WINDOWS).await;

    let reply = invoke(
        &app,
        Function::Manage,
        laptop("GET", "/sessions", &on_laptop),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let sessions = reply.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "only alice's sessions: {sessions:?}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["device"]["label"], "Chrome on Windows 10");
    assert_eq!(current[0]["ip"], "198.51.100.1");
    let other = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(other["device"]["browser"], "Safari");
    assert_eq!(other["device"]["category"], "smartphone");
    assert_eq!(other["user_agent"], SAFARI_IPHONE);
    for field in ["session_id", "created_at", "last_seen_at", "expires_at"] {
        assert!(other[field].is_string(), "{field} in {other}");
    }
    assert!(other.get("token").is_none() && other.get("data").is_none());

    let from_phone = invoke(&app, Function::Manage, phone("GET", "/sessions", &on_phone)).await;
    let phone_current = from_phone.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(phone_current["session_id"], other["session_id"]);
    table.drop_table().await;
}

#[tokio::test]
async fn list_pages_walk_every_device_once_with_the_caller_first() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let mut tokens = Vec::new();
    for i in 0..7 {
        tokens.push(sign_in(&app, "pager", &format!("198.51.100.{i}"), CHROME_WINDOWS).await);
    }
    let me = tokens.last().unwrap();

    let mut seen: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut event = laptop("GET", "/sessions", me).query("limit", "3");
        if let Some(cursor) = &cursor {
            event = event.query("cursor", cursor);
        }
        let reply = invoke(&app, Function::Manage, event).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let page = reply.body["sessions"].as_array().unwrap().clone();
        assert!(page.len() <= 3);
        seen.extend(page);
        pages += 1;
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }

    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7);
    assert_eq!(seen[0]["current"], true, "the caller first");
    let ids: std::collections::BTreeSet<&str> = seen
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 7, "no device twice");
    let others: Vec<&str> = seen[1..]
        .iter()
        .map(|s| s["last_seen_at"].as_str().unwrap())
        .collect();
    assert!(
        others.windows(2).all(|w| w[0] >= w[1]),
        "most recent first: {others:?}"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn list_refuses_a_limit_out_of_range_and_a_cursor_it_did_not_give() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = sign_in(&app, "pager", "198.51.100.1", CHROME_WINDOWS).await;

    for (name, value) in [
        ("limit", "0"),
        ("limit", "101"),
        ("limit", "ten"),
        ("cursor", "bm90LWEtY3Vyc29y"),
    ] {
        let reply = invoke(
            &app,
            Function::Manage,
            laptop("GET", "/sessions", &token).query(name, value),
        )
        .await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (400, "invalid_request"),
            "{name}={value}"
        );
    }
    let default = invoke(&app, Function::Manage, laptop("GET", "/sessions", &token)).await;
    assert_eq!(default.body["next_cursor"], Value::Null);
    table.drop_table().await;
}

#[tokio::test]
async fn by_default_a_user_keeps_at_most_20_sessions() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let first = sign_in(&app, "busy", "198.51.100.1", CHROME_WINDOWS).await;
    let mut last = String::new();
    for _ in 0..20 {
        last = sign_in(&app, "busy", "198.51.100.1", CHROME_WINDOWS).await;
    }

    let listed = invoke(
        &app,
        Function::Manage,
        laptop("GET", "/sessions", &last).query("limit", "100"),
    )
    .await;
    let evicted = status_of_validate(&app, laptop("GET", "/sessions/current", &first)).await;

    assert_eq!(listed.body["sessions"].as_array().unwrap().len(), 20);
    assert_eq!(evicted, (401, "session_evicted".to_owned()));
    table.drop_table().await;
}

#[tokio::test]
async fn list_never_shows_an_expired_session() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = sign_in(&app, "alice", "198.51.100.1", CHROME_WINDOWS).await;
    // An idle-expired session of alice's, still in the table (TTL deletes lazily).
    let started = Utc::now() - Duration::hours(1);
    let stale = session_started(
        "alice",
        None,
        started,
        Duration::minutes(5),
        Duration::days(1),
    );
    table.put_session(&stale).await;

    let reply = invoke(&app, Function::Manage, laptop("GET", "/sessions", &token)).await;

    let ids: Vec<&str> = reply.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_ne!(ids[0], stale.id.to_string());
    table.drop_table().await;
}

#[tokio::test]
async fn list_over_rest_v1_with_a_bearer_token() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let created = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V1, "POST", "/sessions")
            .bearer(&ticket("alice", None))
            .without_header("origin") // a non-browser client
            .json_body(&json!({ "token_in_body": true })),
    )
    .await;
    let token = created.body["token"].as_str().unwrap().to_owned();

    let reply = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V1, "GET", "/sessions").bearer(&token),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["sessions"][0]["current"], true);
    assert!(reply.set_cookies.is_empty());
    table.drop_table().await;
}

#[tokio::test]
async fn list_without_a_session_is_401() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let reply = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "GET", "/sessions"),
    )
    .await;
    assert_eq!((reply.status, reply.error_code()), (401, "unauthenticated"));
    table.drop_table().await;
}

// ---------- DELETE /sessions/{id} ----------

async fn session_id_of(app: &SignIn, token: &str) -> String {
    let reply = invoke(
        app,
        Function::Validate,
        laptop("GET", "/sessions/current", token),
    )
    .await;
    reply.body["session_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn revoking_another_device_ends_it_and_keeps_this_one() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let on_laptop = sign_in(&app, "alice", "198.51.100.1", CHROME_WINDOWS).await;
    let on_phone = sign_in(&app, "alice", "198.51.100.2", SAFARI_IPHONE).await;
    let phone_id = session_id_of(&app, &on_phone).await;

    let reply = invoke(
        &app,
        Function::Manage,
        laptop("DELETE", &format!("/sessions/{phone_id}"), &on_laptop),
    )
    .await;

    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(reply.set_cookies.is_empty(), "the laptop keeps its cookie");
    assert_eq!(
        status_of_validate(&app, phone("GET", "/sessions/current", &on_phone)).await,
        (401, "session_revoked".to_owned())
    );
    assert_eq!(
        status_of_validate(&app, laptop("GET", "/sessions/current", &on_laptop))
            .await
            .0,
        200
    );
    let events = table.event_names("alice").await;
    assert_eq!(events.iter().filter(|e| *e == "revoked").count(), 1);
    table.drop_table().await;
}

#[tokio::test]
async fn revoking_another_users_session_is_404_and_it_lives_on() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let alice = sign_in(&app, "alice", "198.51.100.1", CHROME_WINDOWS).await;
    let bob = sign_in(&app, "bob", "198.51.100.2", SAFARI_IPHONE).await;
    let bob_id = session_id_of(&app, &bob).await;

    let reply = invoke(
        &app,
        Function::Manage,
        laptop("DELETE", &format!("/sessions/{bob_id}"), &alice),
    )
    .await;
    let unknown = invoke(
        &app,
        Function::Manage,
        laptop(
            "DELETE",
            "/sessions/00000000-0000-4000-8000-000000000000",
            &alice,
        ),
    )
    .await;

    assert_eq!(
        (reply.status, reply.error_code()),
        (404, "session_not_found")
    );
    assert_eq!(reply.body, unknown.body, "no difference to an unknown id");
    assert_eq!(
        status_of_validate(&app, phone("GET", "/sessions/current", &bob))
            .await
            .0,
        200
    );
    table.drop_table().await;
}

#[tokio::test]
async fn revoking_a_garbled_session_id_is_404() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let alice = sign_in(&app, "alice", "198.51.100.1", CHROME_WINDOWS).await;
    let reply = invoke(
        &app,
        Function::Manage,
        laptop("DELETE", "/sessions/not-a-session%20id", &alice),
    )
    .await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (404, "session_not_found")
    );
    table.drop_table().await;
}

#[tokio::test]
async fn revoking_one_without_an_allowed_origin_is_refused_as_csrf() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let on_laptop = sign_in(&app, "alice", "198.51.100.1", CHROME_WINDOWS).await;
    let on_phone = sign_in(&app, "alice", "198.51.100.2", SAFARI_IPHONE).await;
    let phone_id = session_id_of(&app, &on_phone).await;

    let reply = invoke(
        &app,
        Function::Manage,
        laptop("DELETE", &format!("/sessions/{phone_id}"), &on_laptop)
            .without_header("origin")
            .header("Origin", "https://evil.example"),
    )
    .await;

    assert_eq!((reply.status, reply.error_code()), (403, "csrf_rejected"));
    assert_eq!(
        status_of_validate(&app, phone("GET", "/sessions/current", &on_phone))
            .await
            .0,
        200
    );
    table.drop_table().await;
}

// ---------- DELETE /sessions ----------

#[tokio::test]
async fn sign_out_other_devices_keeps_only_the_current_session() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let keep = sign_in(&app, "alice", "198.51.100.1", CHROME_WINDOWS).await;
    let others = [
        sign_in(&app, "alice", "198.51.100.2", SAFARI_IPHONE).await,
        sign_in(&app, "alice", "198.51.100.2", SAFARI_IPHONE).await,
    ];
    let bob = sign_in(&app, "bob", "198.51.100.3", CHROME_WINDOWS).await;

    let reply = invoke(
        &app,
        Function::Manage,
        laptop("DELETE", "/sessions", &keep).query("keep_current", "true"),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["revoked"], 2);
    assert!(reply.set_cookies.is_empty());
    assert_eq!(
        status_of_validate(&app, laptop("GET", "/sessions/current", &keep))
            .await
            .0,
        200
    );
    for token in &others {
        assert_eq!(
            status_of_validate(&app, phone("GET", "/sessions/current", token)).await,
            (401, "session_revoked".to_owned())
        );
    }
    assert_eq!(
        status_of_validate(&app, phone("GET", "/sessions/current", &bob))
            .await
            .0,
        200
    );
    table.drop_table().await;
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_and_clears_the_cookie() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let here = sign_in(&app, "alice", "198.51.100.1", CHROME_WINDOWS).await;
    let there = sign_in(&app, "alice", "198.51.100.2", SAFARI_IPHONE).await;

    let reply = invoke(&app, Function::Manage, laptop("DELETE", "/sessions", &here)).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["revoked"], 2);
    assert!(reply.only_cookie().contains("Max-Age=0"));
    for (token, event) in [
        (&here, laptop("GET", "/sessions/current", &here)),
        (&there, phone("GET", "/sessions/current", &there)),
    ] {
        let (status, _) = status_of_validate(&app, event).await;
        assert_eq!(status, 401, "{token} still works");
    }
    assert!(table.items_of_kind("session").await.is_empty());
    table.drop_table().await;
}

#[tokio::test]
async fn keep_current_must_be_true_or_false() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let here = sign_in(&app, "alice", "198.51.100.1", CHROME_WINDOWS).await;
    let reply = invoke(
        &app,
        Function::Manage,
        laptop("DELETE", "/sessions", &here).query("keep_current", "yes"),
    )
    .await;
    assert_eq!((reply.status, reply.error_code()), (400, "invalid_request"));
    assert_eq!(table.items_of_kind("session").await.len(), 1);
    table.drop_table().await;
}

// ---------- PATCH /sessions/current ----------

async fn signed_in_with_data(app: &SignIn, data: Value) -> String {
    let reply = session_tests::sign_in_reply(app, "alice", None, |e| {
        e.client("198.51.100.1", CHROME_WINDOWS)
            .json_body(&json!({ "data": data }))
    })
    .await;
    assert_eq!(reply.body["version"], 1);
    reply.cookie_token()
}

fn patch(token: &str, body: Value) -> Event {
    laptop("PATCH", "/sessions/current", token).json_body(&body)
}

async fn data_of(app: &SignIn, token: &str) -> (Value, Value) {
    let reply = invoke(
        app,
        Function::Validate,
        laptop("GET", "/sessions/current", token),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    (reply.body["data"].clone(), reply.body["version"].clone())
}

#[tokio::test]
async fn patch_merges_the_data_and_moves_the_version_and_etag() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token =
        signed_in_with_data(&app, json!({"theme": "light", "cart": {"a": 1}, "x": 1})).await;

    let reply = invoke(
        &app,
        Function::Manage,
        patch(
            &token,
            json!({"data": {"theme": "dark", "cart": {"b": 2}, "x": null}}),
        )
        .header("If-Match", "\"1\""),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let expected = json!({"theme": "dark", "cart": {"a": 1, "b": 2}});
    assert_eq!(reply.body["data"], expected);
    assert_eq!(reply.body["version"], 2);
    assert_eq!(reply.header("etag"), Some("\"2\""));
    assert_eq!(data_of(&app, &token).await, (expected, json!(2)));
    table.drop_table().await;
}

#[tokio::test]
async fn patch_on_a_stale_version_is_412_and_changes_nothing() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = signed_in_with_data(&app, json!({"theme": "light"})).await;
    let first = invoke(
        &app,
        Function::Manage,
        patch(&token, json!({"data": {"theme": "dark"}, "version": 1})),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);

    // A second tab still holds version 1.
    let by_header = invoke(
        &app,
        Function::Manage,
        patch(&token, json!({"data": {"theme": "blue"}})).header("If-Match", "\"1\""),
    )
    .await;
    let by_field = invoke(
        &app,
        Function::Manage,
        patch(&token, json!({"data": {"theme": "blue"}, "version": 1})),
    )
    .await;

    for reply in [&by_header, &by_field] {
        assert_eq!(
            (reply.status, reply.error_code()),
            (412, "precondition_failed")
        );
    }
    assert_eq!(
        data_of(&app, &token).await,
        (json!({"theme": "dark"}), json!(2))
    );
    table.drop_table().await;
}

#[tokio::test]
async fn concurrent_patches_without_a_version_lose_no_update() {
    let table = TestTable::new().await;
    let app = session_tests::app_with_store(table.patient_store(), &table.name, &[]);
    let token = signed_in_with_data(&app, json!({})).await;

    let replies = patch_concurrently(&app, &token, 10).await;

    assert!(replies.iter().all(|s| *s == 200), "{replies:?}");
    let (data, version) = data_of(&app, &token).await;
    for i in 0..10 {
        assert_eq!(data[format!("k{i}")], i, "{data}");
    }
    assert_eq!(version, 11);
    table.drop_table().await;
}

/// Sends `n` patches at once, each setting its own key.
async fn patch_concurrently(app: &SignIn, token: &str, n: usize) -> Vec<u16> {
    let patches = (0..n).map(|i| {
        invoke(
            app,
            Function::Manage,
            patch(token, json!({"data": {format!("k{i}"): i}})),
        )
    });
    futures::future::join_all(patches)
        .await
        .iter()
        .map(|reply| reply.status)
        .collect()
}

#[tokio::test]
async fn patch_past_the_size_limit_is_413_and_changes_nothing() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_MAX_DATA_BYTES", "128")]);
    let token = signed_in_with_data(&app, json!({"a": 1})).await;

    let reply = invoke(
        &app,
        Function::Manage,
        patch(&token, json!({"data": {"big": "x".repeat(200)}})),
    )
    .await;

    assert_eq!(
        (reply.status, reply.error_code()),
        (413, "payload_too_large")
    );
    assert_eq!(data_of(&app, &token).await, (json!({"a": 1}), json!(1)));
    table.drop_table().await;
}

#[tokio::test]
async fn patch_with_bad_input_is_a_clear_400() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = signed_in_with_data(&app, json!({"a": 1})).await;

    let cases = [
        patch(&token, json!({"data": [1, 2]})),
        patch(&token, json!({"data": {"a": 2}, "extra": true})),
        patch(&token, json!({"theme": "dark"})),
        patch(&token, json!({"data": {"a": 2}})).header("If-Match", "version-one"),
        patch(&token, json!({"data": {"a": 2}, "version": 2})).header("If-Match", "\"1\""),
    ];
    for event in cases {
        let reply = invoke(&app, Function::Manage, event).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (400, "invalid_request"),
            "{}",
            reply.body
        );
    }
    let not_json = invoke(
        &app,
        Function::Manage,
        laptop("PATCH", "/sessions/current", &token).raw_body("a=1", Some("text/plain")),
    )
    .await;
    assert_eq!(not_json.status, 415);
    assert_eq!(data_of(&app, &token).await, (json!({"a": 1}), json!(1)));
    table.drop_table().await;
}

#[tokio::test]
async fn patch_accepts_the_merge_patch_media_type_and_a_wildcard_if_match() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = signed_in_with_data(&app, json!({"a": 1})).await;
    let reply = invoke(
        &app,
        Function::Manage,
        laptop("PATCH", "/sessions/current", &token)
            .raw_body(
                r#"{"data": {"b": 2}}"#,
                Some("application/merge-patch+json"),
            )
            .header("If-Match", "*"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["data"], json!({"a": 1, "b": 2}));
    table.drop_table().await;
}

#[tokio::test]
async fn patched_data_survives_a_rotation() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = signed_in_with_data(&app, json!({})).await;
    invoke(
        &app,
        Function::Manage,
        patch(&token, json!({"data": {"step": 1}})),
    )
    .await;

    let refreshed = invoke(
        &app,
        Function::Refresh,
        laptop("POST", "/sessions/current/refresh", &token),
    )
    .await;

    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let next = refreshed.cookie_token();
    assert_eq!(data_of(&app, &next).await, (json!({"step": 1}), json!(2)));
    table.drop_table().await;
}
