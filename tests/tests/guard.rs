//! The Rust guard (`session_shared::guard`, feature `guard`): a tower layer and an axum
//! extractor that validate sessions directly against DynamoDB Local with the rules of
//! `GET /sessions/current`. Driven as an axum app in process, as an axum server on a port (the
//! README's example, its client from `aws-config`'s default chain), and under `lambda_http`
//! with real API Gateway events (v2 and v1). Sessions are made by the real sign-in handler.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/guarded_app.rs"]
mod guarded_app;

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use session_shared::Api;
use session_shared::guard::{Session, SessionGuard};
use session_shared::store::SessionStore;
use session_tests::{
    ALLOWED_ORIGIN, Event, Function, Payload, TestTable, app, client_with, config, config_vars,
    invoke, invoke_service, ticket,
};
use tower::{ServiceBuilder, ServiceExt};

/// The sign-in handler (to make sessions) and a guard over the same table and settings.
fn stack(table: &TestTable, overrides: &[(&str, &str)]) -> (session_shared::SignIn, SessionGuard) {
    let guard = SessionGuard::from(Api::new(config(&table.name, overrides), table.store()));
    (app(table, overrides), guard)
}

/// Signs `user` in through the real handler; the cookie's token.
async fn signed_in(sign_in: &session_shared::SignIn, user: &str) -> String {
    session_tests::signed_in_as(sign_in, user, Some("acme")).await
}

/// What an axum app answered.
struct Answer {
    status: StatusCode,
    set_cookies: Vec<String>,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap().to_owned()
    }
}

async fn call(app: &axum::Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let set_cookies = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Answer {
        status,
        set_cookies,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(token) = cookie {
        builder = builder.header("cookie", format!("__Host-session={token}"));
    }
    builder.body(Body::empty()).unwrap()
}

fn token_of(set_cookie: &str) -> &str {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, value)| value)
        .unwrap()
}

async fn sign_out(sign_in: &session_shared::SignIn, token: &str) {
    let reply = invoke(
        sign_in,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current").session_cookie(token),
    )
    .await;
    assert_eq!(reply.status, 204);
}

#[tokio::test]
async fn a_signed_in_cookie_reaches_the_axum_handler_with_its_session() {
    let table = TestTable::new().await;
    let (sign_in, guard) = stack(&table, &[]);
    let token = signed_in(&sign_in, "alice").await;
    let app = guarded_app::app(guard);

    let answer = call(&app, get("/orders", Some(&token))).await;

    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.json(),
        json!({"user": "alice", "tenant": "acme", "orders": []})
    );
    assert!(answer.set_cookies.is_empty(), "{:?}", answer.set_cookies);
    table.drop_table().await;
}

#[tokio::test]
async fn a_guest_is_refused_unless_the_route_allows_guests_and_is_anonymous_where_optional() {
    let table = TestTable::new().await;
    let (sign_in, guard) = stack(&table, &[]);
    let created = invoke(
        &sign_in,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions/guest")
            .json_body(&json!({"data": {"cart": ["tea"]}})),
    )
    .await;
    let guest = created.cookie_token();
    let alice = signed_in(&sign_in, "alice").await;
    let app = guarded_app::app(guard);

    let orders = call(&app, get("/orders", Some(&guest))).await;
    let cart = call(&app, get("/cart", Some(&guest))).await;
    let home = call(&app, get("/", Some(&guest))).await;
    let alice_cart = call(&app, get("/cart", Some(&alice))).await;

    assert_eq!(orders.status, StatusCode::FORBIDDEN, "{}", orders.body);
    assert_eq!(orders.error_code(), "guest_forbidden");
    assert_eq!(cart.status, StatusCode::OK, "{}", cart.body);
    assert_eq!(cart.json(), json!({"guest": true, "cart": ["tea"]}));
    assert_eq!(
        (home.status, home.body.as_str()),
        (StatusCode::OK, "Hello, stranger")
    );
    assert!(
        home.set_cookies.is_empty(),
        "a guest's cookie is not a dead one"
    );
    assert_eq!(alice_cart.json(), json!({"guest": false, "cart": null}));
    table.drop_table().await;
}

#[tokio::test]
async fn without_a_session_the_guard_answers_the_session_apis_json_401() {
    let table = TestTable::new().await;
    let (_, guard) = stack(&table, &[]);
    let app = guarded_app::app(guard);

    let answer = call(&app, get("/orders", None)).await;

    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.error_code(), "unauthenticated");
    assert!(answer.set_cookies.is_empty(), "nothing to clear");
    table.drop_table().await;
}

#[tokio::test]
async fn a_signed_out_session_is_refused_on_the_next_request_and_its_cookie_cleared() {
    let table = TestTable::new().await;
    let (sign_in, guard) = stack(&table, &[]);
    let token = signed_in(&sign_in, "alice").await;
    let app = guarded_app::app(guard);
    assert_eq!(call(&app, get("/orders", Some(&token))).await.status, 200);

    sign_out(&sign_in, &token).await;
    let answer = call(&app, get("/orders", Some(&token))).await;

    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.set_cookies.len(), 1, "{:?}", answer.set_cookies);
    assert!(answer.set_cookies[0].starts_with("__Host-session=;"));
    assert!(answer.set_cookies[0].contains("Max-Age=0"));
    table.drop_table().await;
}

#[tokio::test]
async fn the_optional_layer_lets_anonymous_callers_through_and_still_clears_a_dead_cookie() {
    let table = TestTable::new().await;
    let (sign_in, guard) = stack(&table, &[]);
    let token = signed_in(&sign_in, "alice").await;
    let app = guarded_app::app(guard);

    let anonymous = call(&app, get("/", None)).await;
    let known = call(&app, get("/", Some(&token))).await;
    sign_out(&sign_in, &token).await;
    let dead = call(&app, get("/", Some(&token))).await;

    assert_eq!(
        (anonymous.status, anonymous.body.as_str()),
        (StatusCode::OK, "Hello, stranger")
    );
    assert_eq!(
        (known.status, known.body.as_str()),
        (StatusCode::OK, "Hello, alice")
    );
    assert_eq!(
        (dead.status, dead.body.as_str()),
        (StatusCode::OK, "Hello, stranger")
    );
    assert_eq!(dead.set_cookies.len(), 1);
    assert!(dead.set_cookies[0].starts_with("__Host-session=;"));
    table.drop_table().await;
}

#[tokio::test]
async fn a_renewal_rotation_reaches_the_caller_as_its_new_cookie() {
    let table = TestTable::new().await;
    let (sign_in, guard) = stack(&table, &[("SESSION_ROTATE_AFTER", "1s")]);
    let token = signed_in(&sign_in, "alice").await;
    let app = guarded_app::app(guard);
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let rotated = call(&app, get("/orders", Some(&token))).await;

    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(rotated.set_cookies.len(), 1, "{:?}", rotated.set_cookies);
    let successor = token_of(&rotated.set_cookies[0]).to_owned();
    assert_ne!(successor, token);
    let next = call(&app, get("/orders", Some(&successor))).await;
    assert_eq!(next.status, StatusCode::OK);
    assert!(next.set_cookies.is_empty(), "the successor is fresh");
    table.drop_table().await;
}

#[tokio::test]
async fn a_retired_cookie_within_its_grace_window_gets_its_successor() {
    let table = TestTable::new().await;
    let (sign_in, guard) = stack(&table, &[]);
    let token = signed_in(&sign_in, "alice").await;
    let app = guarded_app::app(guard);
    let refreshed = invoke(
        &sign_in,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh").session_cookie(&token),
    )
    .await;
    assert_eq!(refreshed.status, 200);

    let answer = call(&app, get("/orders", Some(&token))).await;

    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.set_cookies.len(), 1);
    assert_eq!(token_of(&answer.set_cookies[0]), refreshed.cookie_token());
    table.drop_table().await;
}

#[tokio::test]
async fn bearer_tokens_pass_and_a_bad_one_gets_a_bearer_challenge() {
    let table = TestTable::new().await;
    let (sign_in, guard) = stack(&table, &[]);
    let created = invoke(
        &sign_in,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .without_header("origin")
            .bearer(&ticket("cli", None))
            .json_body(&json!({"token_in_body": true})),
    )
    .await;
    let token = created.body["token"].as_str().unwrap().to_owned();
    let app = guarded_app::app(guard);
    let with_bearer = |value: &str| {
        Request::get("/orders")
            .header("authorization", format!("Bearer {value}"))
            .body(Body::empty())
            .unwrap()
    };

    let good = call(&app, with_bearer(&token)).await;
    let bad = call(&app, with_bearer("not-a-session-token")).await;

    assert_eq!(good.status, StatusCode::OK);
    assert_eq!(good.json()["user"], "cli");
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let challenge = bad.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer error=\"invalid_token\""));
    assert!(bad.set_cookies.is_empty(), "a bearer client has no cookie");
    table.drop_table().await;
}

#[tokio::test]
async fn a_session_cookie_with_an_authorization_header_is_400_and_keeps_the_cookie() {
    let table = TestTable::new().await;
    let (sign_in, guard) = stack(&table, &[]);
    let token = signed_in(&sign_in, "alice").await;
    let app = guarded_app::app(guard);
    let both = Request::get("/orders")
        .header("cookie", format!("__Host-session={token}"))
        .header("authorization", "Bearer junk")
        .body(Body::empty())
        .unwrap();

    let answer = call(&app, both).await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error_code(), "invalid_request");
    assert!(answer.set_cookies.is_empty());
    assert_eq!(call(&app, get("/orders", Some(&token))).await.status, 200);
    table.drop_table().await;
}

#[tokio::test]
async fn a_cookie_authenticated_post_must_come_from_an_allowed_origin() {
    let table = TestTable::new().await;
    let (sign_in, guard) = stack(&table, &[]);
    let token = signed_in(&sign_in, "alice").await;
    let app = guarded_app::app(guard);
    let post = |origin: Option<&str>| {
        let mut builder =
            Request::post("/orders").header("cookie", format!("__Host-session={token}"));
        if let Some(origin) = origin {
            builder = builder.header("origin", origin);
        }
        builder.body(Body::empty()).unwrap()
    };

    let without = call(&app, post(None)).await;
    let foreign = call(&app, post(Some("https://evil.example"))).await;
    let allowed = call(&app, post(Some(ALLOWED_ORIGIN))).await;

    assert_eq!(without.status, StatusCode::FORBIDDEN);
    assert_eq!(without.error_code(), "csrf_rejected");
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(allowed.json(), json!({"placed_for": "alice"}));
    table.drop_table().await;
}

#[tokio::test]
async fn a_store_failure_is_a_503_with_retry_after_and_never_clears_the_cookie() {
    let table = TestTable::new().await;
    let (sign_in, _) = stack(&table, &[]);
    let token = signed_in(&sign_in, "alice").await;
    // Nothing listens there: every call fails to connect.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let store = SessionStore::new(client_with(&endpoint, None), table.name.clone());
    let guard = SessionGuard::from(Api::new(config(&table.name, &[]), store));
    let app = guarded_app::app(guard);

    let answer = call(&app, get("/orders", Some(&token))).await;

    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers["retry-after"], "1");
    assert_eq!(answer.error_code(), "service_unavailable");
    assert!(answer.set_cookies.is_empty(), "{:?}", answer.set_cookies);
    table.drop_table().await;
}

#[tokio::test]
async fn on_sibling_hosts_the_parent_domain_cookie_is_the_one_the_guard_reads() {
    let table = TestTable::new().await;
    let overrides = [("SESSION_COOKIE_DOMAIN", "example.com")];
    let (sign_in, guard) = stack(&table, &overrides);
    let created = invoke(
        &sign_in,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket("alice", None)),
    )
    .await;
    let set_cookie = created.only_cookie().to_owned();
    let app = guarded_app::app(guard);
    let with_cookie = |pair: String| {
        Request::get("/orders")
            .header("cookie", pair)
            .body(Body::empty())
            .unwrap()
    };

    // What a browser sends to app.example.com for a cookie api.example.com set on example.com.
    let sibling = call(
        &app,
        with_cookie(format!("__Secure-session={}", token_of(&set_cookie))),
    )
    .await;
    let host_only = call(
        &app,
        with_cookie(format!("__Host-session={}", token_of(&set_cookie))),
    )
    .await;

    assert!(set_cookie.starts_with("__Secure-session="), "{set_cookie}");
    assert!(set_cookie.contains("; Domain=example.com"), "{set_cookie}");
    assert_eq!(sibling.status, StatusCode::OK);
    assert_eq!(
        host_only.status,
        StatusCode::UNAUTHORIZED,
        "not this API's cookie"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn under_lambda_http_the_guard_serves_v2_and_v1_events() {
    let table = TestTable::new().await;
    let (sign_in, guard) = stack(&table, &[("SESSION_ROTATE_AFTER", "1s")]);
    let token = signed_in(&sign_in, "alice").await;
    let service = ServiceBuilder::new()
        .layer(guard.layer())
        .service(lambda_http::service_fn(
            |req: lambda_http::Request| async move {
                let session = req
                    .extensions()
                    .get::<Session>()
                    .expect("the guard admitted it");
                let body = json!({ "user": session.user_id }).to_string();
                Ok::<_, lambda_http::Error>(lambda_http::Response::new(lambda_http::Body::from(
                    body,
                )))
            },
        ));

    for payload in [Payload::V2, Payload::V1] {
        let signed_in = invoke_service(
            service.clone(),
            Event::new(payload, "GET", "/orders").session_cookie(&token),
        )
        .await;
        let anonymous =
            invoke_service(service.clone(), Event::new(payload, "GET", "/orders")).await;

        assert_eq!(signed_in.status, 200, "{payload:?}");
        assert_eq!(signed_in.body, json!({"user": "alice"}));
        assert_eq!(anonymous.status, 401, "{payload:?}");
        assert_eq!(anonymous.error_code(), "unauthenticated");
    }
    // A rotation's cookie travels as each payload version carries cookies (`cookies` in v2,
    // `multiValueHeaders` in v1; Reply::parse checks v2 has no Set-Cookie header).
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let rotated = invoke_service(
        service.clone(),
        Event::new(Payload::V2, "GET", "/orders").session_cookie(&token),
    )
    .await;
    assert_eq!(rotated.status, 200);
    let successor = rotated.cookie_token();
    assert_ne!(successor, token);
    let v1 = invoke_service(
        service,
        Event::new(Payload::V1, "GET", "/orders").session_cookie(&successor),
    )
    .await;
    assert_eq!(v1.status, 200);
    table.drop_table().await;
}

#[tokio::test]
async fn the_readme_example_serves_on_a_port_with_the_default_aws_credential_chain() {
    let table = TestTable::new().await;
    let (sign_in, _) = stack(&table, &[]);
    let token = signed_in(&sign_in, "alice").await;
    // Session settings as the functions read them; the AWS side (endpoint, region,
    // credentials) from aws-config's default chain, here the environment make test exports.
    let vars = config_vars(&table.name);
    let guard = SessionGuard::from_lookup(|name| {
        vars.iter()
            .find(|(var, _)| *var == name)
            .map(|(_, value)| value.clone())
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, guarded_app::app(guard))
            .await
            .unwrap();
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();

    let orders = http
        .get(format!("{url}/orders"))
        .header("cookie", format!("__Host-session={token}"))
        .send()
        .await
        .unwrap();
    let anonymous = http.get(format!("{url}/orders")).send().await.unwrap();

    assert_eq!(orders.status(), 200);
    assert_eq!(orders.json::<Value>().await.unwrap()["user"], "alice");
    assert_eq!(anonymous.status(), 401);
    server.abort();
    table.drop_table().await;
}

#[test]
fn the_readme_shows_the_tested_example() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let example = include_str!("support/guarded_app.rs");
    let section = readme
        .split("## Protect a Rust service")
        .nth(1)
        .expect("README has a \"Protect a Rust service\" section");
    assert!(
        section.contains(example),
        "README's \"Protect a Rust service\" must show tests/tests/support/guarded_app.rs as it is"
    );
}

/// The functions do not enable the `guard` feature: their dependency trees have neither the
/// feature nor what it brings (aws-config, axum-core), so their binaries do not change.
#[test]
fn no_function_compiles_the_guard() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let functions = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../functions"))
        .unwrap()
        .map(|entry| format!("session-{}", entry.unwrap().file_name().to_string_lossy()))
        .collect::<Vec<_>>();
    assert!(functions.len() >= 7, "{functions:?}");
    for function in functions {
        let output = std::process::Command::new(&cargo)
            .args([
                "tree",
                "--offline",
                "-e",
                "normal,features",
                "-p",
                &function,
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let tree = String::from_utf8(output.stdout).unwrap();
        assert!(tree.contains("session-shared"), "{function}: {tree}");
        for absent in ["\"guard\"", "aws-config", "axum-core"] {
            assert!(!tree.contains(absent), "{function} compiles {absent}");
        }
    }
}

#[tokio::test]
async fn max_auth_age_asks_for_a_fresh_proof_and_keeps_the_session() {
    let table = TestTable::new().await;
    let (sign_in, _) = stack(&table, &[]);
    let ten_minutes_ago = chrono::Utc::now().timestamp() - 600;
    let ticket = session_tests::ticket_with("alice", None, |claims| {
        claims
            .extra
            .insert("auth_time".into(), json!(ten_minutes_ago));
    });
    let created = invoke(
        &sign_in,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket),
    )
    .await;
    let token = created.cookie_token();
    let guarded = |max_age: u64| {
        let guard = SessionGuard::from(Api::new(config(&table.name, &[]), table.store()));
        axum::Router::new()
            .route(
                "/payments",
                axum::routing::get(|session: Session| async move {
                    session.user_id.as_str().to_owned()
                }),
            )
            .route_layer(guard.layer().max_auth_age(Duration::from_secs(max_age)))
    };

    let strict = call(&guarded(300), get("/payments", Some(&token))).await;
    let lenient = call(&guarded(3600), get("/payments", Some(&token))).await;

    assert_eq!(strict.status, StatusCode::UNAUTHORIZED);
    assert_eq!(strict.error_code(), "reauthentication_required");
    assert!(strict.set_cookies.is_empty(), "the cookie stays");
    assert_eq!(
        (lenient.status, lenient.body.as_str()),
        (StatusCode::OK, "alice")
    );
    table.drop_table().await;
}

#[tokio::test]
async fn the_guard_names_the_actor_of_an_impersonation_and_refuses_it_a_fresh_proof() {
    let table = TestTable::new().await;
    let (sign_in, _) = stack(&table, &[]);
    let token = session_tests::impersonating(&sign_in, "alice", Some("acme")).await;
    let guarded = |max_age: Option<u64>| {
        let guard = SessionGuard::from(Api::new(config(&table.name, &[]), table.store()));
        let layer = match max_age {
            Some(age) => guard.layer().max_auth_age(Duration::from_secs(age)),
            None => guard.layer(),
        };
        axum::Router::new()
            .route(
                "/banner",
                axum::routing::get(|session: Session| async move {
                    session
                        .actor
                        .as_ref()
                        .map_or("the user".to_owned(), |a| a.principal.clone())
                }),
            )
            .route_layer(layer)
    };

    let banner = call(&guarded(None), get("/banner", Some(&token))).await;
    let sensitive = call(&guarded(Some(3600)), get("/banner", Some(&token))).await;

    assert_eq!(
        (banner.status, banner.body.as_str()),
        (StatusCode::OK, session_tests::SUPPORT_PRINCIPAL)
    );
    assert_eq!(sensitive.status, StatusCode::FORBIDDEN);
    assert_eq!(sensitive.error_code(), "impersonation_forbidden");
    assert!(sensitive.set_cookies.is_empty(), "the session stays");
    table.drop_table().await;
}
