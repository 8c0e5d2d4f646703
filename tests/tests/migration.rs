//! Bringing signed-in users of an app's former session system over (issue 22): the service's
//! side of a migration guard's exchange. A guard that resolved a legacy cookie signs the user
//! in with a login ticket of `amr: ["legacy"]` whose `jti` names the legacy session, and a
//! resume key derived from it: every request carrying that cookie within the rotation grace
//! gets the one session it made; later, none. Real handlers, real API Gateway events,
//! DynamoDB Local.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use session_shared::domain::SessionToken;
use session_tests::{Event, Function, Payload, Reply, TestTable, app, invoke, ticket_with};

/// A ticket exchanging the legacy session named `legacy` for `user`, as a guard mints it.
fn exchange_ticket(user: &str, legacy: &str) -> String {
    ticket_with(user, None, |claims| {
        claims
            .extra
            .insert("jti".into(), json!(format!("legacy:{legacy}")));
        claims.extra.insert("amr".into(), json!(["pwd", "legacy"]));
        claims.extra.insert(
            "auth_time".into(),
            json!(chrono::Utc::now().timestamp() - 86_400),
        );
    })
}

fn exchange(ticket: &str, resume: &str) -> Event {
    Event::new(Payload::V2, "POST", "/sessions").json_body(&json!({
        "id_token": ticket,
        "resume": resume,
        "data": {"cart": 3, "locale": "fr"},
    }))
}

async fn devices(app: &session_shared::SignIn, token: &str) -> Vec<Value> {
    let reply = invoke(
        app,
        Function::Manage,
        Event::new(Payload::V2, "GET", "/sessions").session_cookie(token),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["sessions"].as_array().unwrap().clone()
}

#[tokio::test]
async fn ten_parallel_exchanges_of_one_legacy_session_end_in_one_session() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let resume = SessionToken::generate().unwrap();
    let resume = resume.expose_secret();

    // Ten tabs reloading together: ten tickets minted apart, one legacy session.
    let replies: Vec<Reply> = futures::future::join_all((0..10).map(|_| {
        let event = exchange(&exchange_ticket("alice", "h4sh-of-the-cookie"), resume);
        invoke(&app, Function::Create, event)
    }))
    .await;

    for reply in &replies {
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let ids: std::collections::BTreeSet<&str> = replies
        .iter()
        .map(|r| r.body["session_id"].as_str().unwrap())
        .collect();
    let tokens: std::collections::BTreeSet<String> =
        replies.iter().map(Reply::cookie_token).collect();
    assert_eq!(ids.len(), 1, "one session");
    assert_eq!(tokens.len(), 1, "one token, set on every request");
    let token = tokens.into_iter().next().unwrap();
    let listed = devices(&app, &token).await;
    assert_eq!(listed.len(), 1, "the device list shows one");
    assert_eq!(listed[0]["amr"], json!(["pwd", "legacy"]));
    let session = &replies[0].body;
    assert_eq!(session["data"], json!({"cart": 3, "locale": "fr"}));
    assert_eq!(session["amr"], json!(["pwd", "legacy"]));
    // The legacy session's own sign-in time, not the exchange's.
    let authenticated =
        chrono::DateTime::parse_from_rfc3339(session["authenticated_at"].as_str().unwrap())
            .unwrap();
    assert!(chrono::Utc::now() - authenticated.to_utc() > chrono::Duration::hours(23));

    // session.created says how: `legacy`.
    table.deliver_stream_to_audit_trail().await;
    let created: Vec<Value> = table
        .items()
        .await
        .into_iter()
        .filter(|i| i["sk"].as_s().is_ok_and(|sk| sk.starts_with("EVENT#")))
        .map(|i| serde_json::from_str::<Value>(i["detail"].as_s().unwrap()).unwrap())
        .filter(|e| e["type"] == "session.created")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0]["data"]["detail"]["amr"],
        json!(["pwd", "legacy"])
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_legacy_session_is_not_exchanged_again_after_the_window_nor_by_another_key() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_ROTATION_GRACE", "1s")]);
    let resume = SessionToken::generate().unwrap();
    let first = invoke(
        &app,
        Function::Create,
        exchange(&exchange_ticket("bob", "legacy-b"), resume.expose_secret()),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.body);

    // Within the window, but without the key derived from the legacy cookie: refused.
    let stranger = invoke(
        &app,
        Function::Create,
        exchange(
            &exchange_ticket("bob", "legacy-b"),
            SessionToken::generate().unwrap().expose_secret(),
        ),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let late = invoke(
        &app,
        Function::Create,
        exchange(&exchange_ticket("bob", "legacy-b"), resume.expose_secret()),
    )
    .await;

    for refused in [&stranger, &late] {
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert_eq!(refused.error_code(), "ticket_reused");
        assert!(refused.set_cookies.is_empty());
    }
    assert_eq!(devices(&app, &first.cookie_token()).await.len(), 1);
    table.drop_table().await;
}

#[tokio::test]
async fn a_legacy_exchange_needs_a_jti_even_when_tickets_are_not_single_use() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_SINGLE_USE_TICKETS", "false")]);
    let unnamed = ticket_with("carol", None, |claims| {
        claims.extra.insert("amr".into(), json!(["legacy"]));
        claims.extra.insert("jti".into(), Value::Null);
    });
    let reply = invoke(
        &app,
        Function::Create,
        exchange(&unnamed, SessionToken::generate().unwrap().expose_secret()),
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.error_code(), "invalid_token");

    // Single use anyway: a second exchange of one legacy session within the window is the
    // same session, after it refused (here: another key).
    let resume = SessionToken::generate().unwrap();
    let once = invoke(
        &app,
        Function::Create,
        exchange(
            &exchange_ticket("carol", "legacy-c"),
            resume.expose_secret(),
        ),
    )
    .await;
    let twice = invoke(
        &app,
        Function::Create,
        exchange(
            &exchange_ticket("carol", "legacy-c"),
            SessionToken::generate().unwrap().expose_secret(),
        ),
    )
    .await;
    assert_eq!(once.status, 201, "{}", once.body);
    assert_eq!(twice.status, 401, "{}", twice.body);
    table.drop_table().await;
}

/// An axum app behind the Rust guard with `migrate`: legacy cookie `old_sid` values resolve
/// through `known` (value -> user); `down` makes the former store fail; each migration is
/// counted.
struct LegacyApp {
    router: axum::Router,
    migrated: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn legacy_app(table: &TestTable, known: &[(&str, &str)], down: bool) -> LegacyApp {
    use axum::routing::get;
    use session_shared::guard::{LegacySession, Migration, Session, SessionGuard};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let known: std::collections::HashMap<String, String> = known
        .iter()
        .map(|(v, u)| ((*v).to_owned(), (*u).to_owned()))
        .collect();
    let migrated = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = migrated.clone();
    let migration = Migration::new(session_tests::ISSUER, &["old_sid"], move |headers| {
        let known = known.clone();
        Box::pin(async move {
            if down {
                return Err("the old store is down".into());
            }
            let cookie = headers
                .get("cookie")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            Ok(cookie
                .split(';')
                .filter_map(|pair| pair.trim().strip_prefix("old_sid="))
                .find_map(|value| known.get(value))
                .map(|user| LegacySession {
                    user_id: user.clone(),
                    data: Some(json!({"cart": ["book"]})),
                    amr: vec!["pwd".into()],
                    ..LegacySession::default()
                }))
        })
    })
    .on_migrated(move |_, _| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let guard = SessionGuard::from(session_shared::Api::new(
        session_tests::config(&table.name, &[]),
        table.store(),
    ));
    let router = axum::Router::new()
        .route(
            "/me",
            get(|session: Session| async move {
                axum::Json(json!({
                    "user": session.user_id.as_str(),
                    "data": session.data.as_map(),
                    "amr": session.authentication.methods,
                }))
            }),
        )
        .layer(guard.layer().migrate(migration));
    LegacyApp { router, migrated }
}

async fn get_me(router: &axum::Router, cookie: &str) -> (u16, Vec<String>, Value) {
    use tower::ServiceExt;
    let request = axum::http::Request::get("/me")
        .header("cookie", cookie)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let cookies = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        cookies,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_rust_guard_signs_a_legacy_user_in_on_the_request_once_for_ten_parallel_requests() {
    let table = TestTable::new().await;
    let app = legacy_app(&table, &[("v4lu3-of-ada", "ada")], false);

    let answers = futures::future::join_all(
        (0..10).map(|_| get_me(&app.router, "old_sid=v4lu3-of-ada; theme=dark")),
    )
    .await;

    let mut tokens = std::collections::BTreeSet::new();
    for (status, cookies, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["user"], "ada");
        assert_eq!(body["data"], json!({"cart": ["book"]}));
        assert_eq!(body["amr"], json!(["pwd", "legacy"]));
        let session = cookies
            .iter()
            .find(|c| c.starts_with("__Host-session="))
            .expect("the service's cookie");
        tokens.insert(session.split(';').next().unwrap().to_owned());
        let cleared = cookies.iter().find(|c| c.starts_with("old_sid=")).unwrap();
        assert!(
            cleared.contains("Max-Age=0") && cleared.contains("Path=/"),
            "{cleared}"
        );
    }
    assert_eq!(tokens.len(), 1, "one session for the ten");
    let token = tokens.into_iter().next().unwrap();
    let token = token.trim_start_matches("__Host-session=");
    let app_api = app_of(&table);
    assert_eq!(devices(&app_api, token).await.len(), 1);
    assert_eq!(
        app.migrated.load(std::sync::atomic::Ordering::SeqCst),
        10,
        "onMigrated for every request that was signed in"
    );

    // The new cookie alone is an ordinary session.
    let (status, cookies, _) = get_me(&app.router, &format!("__Host-session={token}")).await;
    assert_eq!((status, cookies.len()), (200, 0));
    table.drop_table().await;
}

fn app_of(table: &TestTable) -> session_shared::SignIn {
    app(table, &[])
}

#[tokio::test]
async fn the_rust_guard_leaves_unknown_legacy_cookies_alone_and_answers_503_when_the_old_store_is_down()
 {
    let table = TestTable::new().await;
    let app = legacy_app(&table, &[], false);
    let (status, cookies, body) = get_me(&app.router, "old_sid=forged").await;
    assert_eq!(status, 401, "{body}");
    assert!(
        cookies.iter().all(|c| !c.starts_with("old_sid=")),
        "{cookies:?}"
    );

    let down = legacy_app(&table, &[("v", "ada")], true);
    let (status, cookies, body) = get_me(&down.router, "old_sid=v").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "service_unavailable");
    assert!(cookies.is_empty());
    assert_eq!(table.token_items().await.len(), 0, "nothing written");
    table.drop_table().await;
}
