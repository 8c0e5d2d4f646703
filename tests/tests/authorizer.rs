//! The HTTP API Lambda authorizer: real payload-2.0 authorizer events (from `aws_lambda_events`'
//! fixtures) against DynamoDB Local. It admits a live session and denies everything else with
//! `isAuthorized: false`, never an error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use session_shared::SignIn;
use session_shared::domain::{
    ClientInfo, Lifetimes, Session, SessionData, SessionToken, TenantId, UserId,
};
use session_tests::{
    AuthorizerEvent, Event, Function, Payload, TestTable, app, app_with_store, authorize, config,
    invoke, ticket,
};

/// Signs alice in; `data` (server-only keys among it) is then set by an administrator, as
/// the authorizer's data keys must be.
async fn signed_in(app: &SignIn, data: Value) -> (String, Value) {
    let reply = session_tests::sign_in_reply(app, "alice", Some("acme"), |e| e).await;
    let token = reply.cookie_token();
    if data.as_object().is_none_or(|d| d.is_empty()) {
        return (token, reply.body);
    }
    let session_id = reply.body["session_id"].as_str().unwrap();
    let patched = invoke(
        app,
        Function::Admin,
        Event::new(
            Payload::V2,
            "PATCH",
            &format!("/admin/users/alice/sessions/{session_id}"),
        )
        .query("tenant_id", "acme")
        .query("issuer", session_tests::ISSUER)
        .iam_signed("arn:aws:iam::123456789012:role/backend")
        .json_body(&json!({ "data": data })),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    (token, patched.body)
}

fn denied() -> Value {
    json!({"isAuthorized": false, "context": {}})
}

#[tokio::test]
async fn a_live_session_cookie_is_authorized_with_its_identity_in_the_context() {
    let table = TestTable::new().await;
    let app = app(
        &table,
        &[
            ("SESSION_AUTHORIZER_DATA_KEYS", "plan, roles"),
            ("SESSION_PROTECTED_DATA_KEYS", "plan,roles"),
        ],
    );
    let (token, session) = signed_in(
        &app,
        json!({"plan": "pro", "roles": ["admin"], "private": 1}),
    )
    .await;

    let answer = authorize(&app, AuthorizerEvent::new().session_cookie(&token)).await;

    assert_eq!(answer["isAuthorized"], true, "{answer}");
    let context = &answer["context"];
    assert_eq!(context["user_id"], "alice");
    assert_eq!(context["tenant_id"], "acme");
    assert_eq!(context["session_id"], session["session_id"]);
    assert!(context["expires_at"].is_string());
    assert_eq!(context["plan"], "pro");
    assert_eq!(context["roles"], r#"["admin"]"#);
    assert!(context.get("private").is_none());
    table.drop_table().await;
}

#[tokio::test]
async fn the_session_cookie_is_found_among_other_cookies() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let (token, _) = signed_in(&app, json!({})).await;

    // The fixture's own request is a POST without an Origin: made a read here, since the
    // cookie parsing is what this test is about (unsafe methods: the origin test below).
    let event = AuthorizerEvent::fixture()
        .route("GET /example/whoami")
        .session_cookie(&token);
    let answer = authorize(&app, event).await;

    assert_eq!(answer["isAuthorized"], true, "{answer}");
    table.drop_table().await;
}

#[tokio::test]
async fn a_bearer_session_token_is_authorized() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let created = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .bearer(&ticket("alice", None))
            .without_header("origin") // a non-browser client
            .json_body(&json!({ "token_in_body": true })),
    )
    .await;
    let token = created.body["token"].as_str().unwrap();

    let answer = authorize(&app, AuthorizerEvent::new().bearer(token)).await;

    assert_eq!(answer["isAuthorized"], true, "{answer}");
    assert_eq!(answer["context"]["tenant_id"], "");
    table.drop_table().await;
}

#[tokio::test]
async fn a_request_without_a_credential_is_denied() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    assert_eq!(authorize(&app, AuthorizerEvent::new()).await, denied());
    // The fixture as it is: unrelated cookies only.
    assert_eq!(authorize(&app, AuthorizerEvent::fixture()).await, denied());
    table.drop_table().await;
}

#[tokio::test]
async fn garbled_credentials_are_denied_without_an_error() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let (token, _) = signed_in(&app, json!({})).await;
    let cases = [
        AuthorizerEvent::new().session_cookie("not-a-token"),
        AuthorizerEvent::new().session_cookie(&format!("{token}x")),
        AuthorizerEvent::new().session_cookie(&"A".repeat(10_000)),
        AuthorizerEvent::new()
            .session_cookie(&token)
            .session_cookie(SessionToken::generate().unwrap().expose_secret()),
        AuthorizerEvent::new().bearer("%%%"),
        AuthorizerEvent::new().header("authorization", "Basic YWxpY2U6cHc="),
        AuthorizerEvent::new().cookie("__Host-session"),
    ];
    for event in cases {
        assert_eq!(authorize(&app, event).await, denied());
    }
    table.drop_table().await;
}

#[tokio::test]
async fn an_expired_session_is_denied() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let lifetimes = Lifetimes::new(Duration::minutes(5), Duration::days(1), 0.5).unwrap();
    let session = Session::start(
        UserId::parse("alice").unwrap(),
        Some(TenantId::parse("acme").unwrap()),
        SessionData::default(),
        ClientInfo::default(),
        &lifetimes,
        Utc::now() - Duration::minutes(6),
    );
    let token = table.put_session(&session).await;

    let answer = authorize(
        &app,
        AuthorizerEvent::new().session_cookie(token.expose_secret()),
    )
    .await;

    assert_eq!(answer, denied());
    table.drop_table().await;
}

#[tokio::test]
async fn a_revoked_or_signed_out_session_is_denied_at_once() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let (revoked, _) = signed_in(&app, json!({})).await;
    let (signed_out, _) = signed_in(&app, json!({})).await;
    let (kept, _) = signed_in(&app, json!({})).await;
    assert_eq!(
        authorize(&app, AuthorizerEvent::new().session_cookie(&revoked)).await["isAuthorized"],
        true
    );

    let logout = invoke(
        &app,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current").session_cookie(&signed_out),
    )
    .await;
    assert_eq!(logout.status, 204);
    let everywhere = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "DELETE", "/sessions")
            .session_cookie(&kept)
            .query("keep_current", "true"),
    )
    .await;
    assert_eq!(everywhere.status, 200, "{}", everywhere.body);
    assert_eq!(everywhere.body["revoked"], 1);

    assert_eq!(
        authorize(&app, AuthorizerEvent::new().session_cookie(&revoked)).await,
        denied()
    );
    assert_eq!(
        authorize(&app, AuthorizerEvent::new().session_cookie(&signed_out)).await,
        denied()
    );
    assert_eq!(
        authorize(&app, AuthorizerEvent::new().session_cookie(&kept)).await["isAuthorized"],
        true
    );
    table.drop_table().await;
}

#[tokio::test]
async fn an_unreachable_store_denies_without_an_error() {
    let table = TestTable::new().await;
    let (token, _) = signed_in(&app(&table, &[]), json!({})).await;
    // Same table name, but a "DynamoDB" that accepts connections and never answers, with
    // short budgets (the defaults would take 3 s to give up).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let short = [
        ("STORE_OPERATION_TIMEOUT", "300ms"),
        ("STORE_ATTEMPT_TIMEOUT", "100ms"),
        ("STORE_MAX_ATTEMPTS", "1"),
    ];
    let budgets = config(&table.name, &short).store_timeouts;
    let store = session_shared::store::SessionStore::new(
        session_tests::client_with_budgets(&endpoint, &budgets, None),
        table.name.clone(),
    );
    let down = app_with_store(store, &table.name, &short);

    let started = std::time::Instant::now();
    let answer = authorize(&down, AuthorizerEvent::new().session_cookie(&token)).await;
    let took = started.elapsed();

    assert_eq!(answer, denied());
    assert!(
        took < std::time::Duration::from_secs(2),
        "denied after {took:?}: the short STORE_* budgets were not applied"
    );
    drop(silent);
    table.drop_table().await;
}

#[tokio::test]
async fn the_example_route_echoes_what_the_authorizer_passed_on() {
    let table = TestTable::new().await;
    let app = app(
        &table,
        &[
            ("SESSION_AUTHORIZER_DATA_KEYS", "plan"),
            ("SESSION_PROTECTED_DATA_KEYS", "plan"),
        ],
    );
    let (token, session) = signed_in(&app, json!({"plan": "pro"})).await;
    let answer = authorize(&app, AuthorizerEvent::new().session_cookie(&token)).await;

    let reply = invoke(
        &app,
        Function::Echo,
        Event::new(Payload::V2, "GET", "/example/whoami").authorizer_context(&answer["context"]),
    )
    .await;
    let unprotected = invoke(
        &app,
        Function::Echo,
        Event::new(Payload::V2, "GET", "/example/whoami"),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["authorizer"]["user_id"], "alice");
    assert_eq!(
        reply.body["authorizer"]["session_id"],
        session["session_id"]
    );
    assert_eq!(reply.body["authorizer"]["plan"], "pro");
    assert_eq!(
        (unprotected.status, unprotected.error_code()),
        (401, "unauthenticated")
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_session_cookie_with_an_authorization_header_is_denied() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let (token, _) = signed_in(&app, json!({})).await;
    // A genuine bearer-mode session beside the cookie: each credential valid on its own, so
    // only the ambiguity can deny (transport binding cannot).
    let bearer = session_tests::bearer_signed_in(&app, "bob").await;

    let both = AuthorizerEvent::new()
        .session_cookie(&token)
        .bearer(&bearer);
    let answer = authorize(&app, both).await;

    assert_eq!(answer["isAuthorized"], false, "{answer}");
    let cookie_only = authorize(&app, AuthorizerEvent::new().session_cookie(&token)).await;
    assert_eq!(
        cookie_only["isAuthorized"], true,
        "the same cookie alone passes"
    );
    let bearer_only = authorize(&app, AuthorizerEvent::new().bearer(&bearer)).await;
    assert_eq!(
        bearer_only["isAuthorized"], true,
        "the same bearer token alone passes"
    );
    assert_eq!(bearer_only["context"]["user_id"], "bob");
    table.drop_table().await;
}

#[tokio::test]
async fn a_fresh_route_denies_a_session_whose_last_authentication_is_too_old() {
    let table = TestTable::new().await;
    let ten_minutes_ago = Utc::now().timestamp() - 600;
    let ticket = session_tests::ticket_with("alice", None, |claims| {
        claims
            .extra
            .insert("auth_time".into(), json!(ten_minutes_ago));
        claims.extra.insert("amr".into(), json!(["pwd"]));
    });
    let with_limit = |limit: &str| {
        let routes = format!(r#"{{"GET /example/whoami": "{limit}"}}"#);
        app(&table, &[("SESSION_FRESH_ROUTES", routes.as_str())])
    };
    let strict = with_limit("5m");
    let lenient = with_limit("1h");
    let created = invoke(
        &strict,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket),
    )
    .await;
    let token = created.cookie_token();

    let denied_answer = authorize(&strict, AuthorizerEvent::new().session_cookie(&token)).await;
    let allowed = authorize(&lenient, AuthorizerEvent::new().session_cookie(&token)).await;
    let other_route = authorize(
        &strict,
        AuthorizerEvent::new()
            .session_cookie(&token)
            .route_key("GET /orders"),
    )
    .await;

    assert_eq!(denied_answer, denied());
    assert_eq!(allowed["isAuthorized"], true, "{allowed}");
    assert_eq!(allowed["context"]["amr"], r#"["pwd"]"#);
    assert_eq!(allowed["context"]["acr"], "");
    let at = chrono::DateTime::parse_from_rfc3339(
        allowed["context"]["authenticated_at"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(at.timestamp(), ten_minutes_ago);
    assert_eq!(
        other_route["isAuthorized"], true,
        "only the listed route asks"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_cookie_authenticated_unsafe_request_must_come_from_an_allowed_origin() {
    let table = TestTable::new().await;
    let app = app(
        &table,
        &[("SESSION_CROSS_SITE_ROUTES", "POST /webhooks/inbound")],
    );
    let (token, _) = signed_in(&app, json!({})).await;
    let request = |route: &str, origin: Option<(&str, &str)>| {
        let event = AuthorizerEvent::new().route(route).session_cookie(&token);
        match origin {
            Some((name, value)) => event.header(name, value),
            None => event,
        }
    };
    let allowed = |answer: &Value| answer["isAuthorized"] == true;

    for (route, origin) in [
        ("POST /orders", Some(("origin", "http://evil.example"))),
        // A sibling host of the same site: SameSite=Lax sends the cookie.
        (
            "DELETE /orders/1",
            Some(("origin", "https://evil.app.example.com")),
        ),
        ("PATCH /orders/1", Some(("origin", "null"))),
        ("PUT /orders/1", None),
        (
            "POST /orders",
            Some(("referer", "https://evil.example/page")),
        ),
    ] {
        let answer = authorize(&app, request(route, origin)).await;
        assert_eq!(answer, denied(), "{route} from {origin:?}");
    }
    for (route, origin) in [
        (
            "POST /orders",
            Some(("origin", session_tests::ALLOWED_ORIGIN)),
        ),
        // The API's own origin (API Gateway's domain name, over https).
        (
            "POST /orders",
            Some(("origin", "https://id.execute-api.us-east-1.amazonaws.com")),
        ),
        (
            "POST /orders",
            Some(("referer", "https://app.example.com/cart")),
        ),
        // Safe methods are not checked; the listed cross-site route is not either.
        ("GET /orders", Some(("origin", "http://evil.example"))),
        (
            "POST /webhooks/inbound",
            Some(("origin", "http://evil.example")),
        ),
        ("POST /webhooks/inbound", None),
    ] {
        let answer = authorize(&app, request(route, origin)).await;
        assert!(allowed(&answer), "{route} from {origin:?}: {answer}");
    }

    // A bearer request carries no ambient credential: not checked.
    let bearer = session_tests::bearer_signed_in(&app, "bob").await;
    let answer = authorize(
        &app,
        AuthorizerEvent::new()
            .route("POST /orders")
            .bearer(&bearer)
            .header("origin", "http://evil.example"),
    )
    .await;
    assert!(allowed(&answer), "{answer}");
    table.drop_table().await;
}
