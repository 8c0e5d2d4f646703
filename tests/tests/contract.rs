//! The documented failure statuses of every route (docs/openapi.yaml), each produced once
//! through the real handler: the store unreachable (503 with `Retry-After`, cookie kept), the
//! store failing for good (500 with a generic message, no `Retry-After`, cookie kept), no
//! credential (401), a cookie request from a foreign origin (403 `csrf_rejected`), and the admin
//! routes' own refusals. `make test` then checks no documented status went unproduced.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use session_shared::SignIn;
use session_shared::store::SessionStore;
use session_tests::{
    Event, Function, Payload, TestTable, app, app_with_store, client_for, endpoint, invoke, ticket,
};

/// A token of the right shape that no store knows.
const UNKNOWN_TOKEN: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const IAM_CALLER: &str = "arn:aws:iam::123456789012:role/support";

/// An app whose DynamoDB endpoint is a closed port.
fn unreachable_app() -> SignIn {
    let store = SessionStore::new(client_for("http://127.0.0.1:9"), "sessions");
    app_with_store(store, "sessions", &[("SESSION_TRUSTED_CALLER", "true")])
}

/// One request to every documented operation, with a credential of the right shape that no
/// store knows (and an IAM caller where the route needs one).
fn every_operation() -> Vec<(Function, Event)> {
    let cookie = |e: Event| e.session_cookie(UNKNOWN_TOKEN);
    vec![
        (
            Function::Create,
            Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket("alice", None)),
        ),
        (
            Function::Create,
            Event::new(Payload::V2, "POST", "/internal/sessions")
                .iam_caller(IAM_CALLER)
                .json_body(&serde_json::json!({"user_id": "alice"})),
        ),
        (
            Function::Validate,
            cookie(Event::new(Payload::V2, "GET", "/sessions/current")),
        ),
        (
            Function::Refresh,
            cookie(Event::new(Payload::V2, "POST", "/sessions/current/refresh")),
        ),
        (
            Function::Create,
            cookie(Event::new(Payload::V2, "POST", "/sessions/current/reauth"))
                .json_body(&serde_json::json!({"id_token": ticket("alice", None)})),
        ),
        (
            Function::Logout,
            cookie(Event::new(Payload::V2, "DELETE", "/sessions/current")),
        ),
        (
            Function::Manage,
            cookie(Event::new(Payload::V2, "GET", "/sessions")),
        ),
        (
            Function::Manage,
            cookie(Event::new(Payload::V2, "DELETE", "/sessions")),
        ),
        (
            Function::Manage,
            cookie(Event::new(
                Payload::V2,
                "DELETE",
                "/sessions/6f1c0000-0000-4000-8000-000000000000",
            )),
        ),
        (
            Function::Manage,
            cookie(Event::new(Payload::V2, "PATCH", "/sessions/current"))
                .json_body(&serde_json::json!({"data": {"theme": "dark"}})),
        ),
        (
            Function::Manage,
            cookie(Event::new(Payload::V2, "GET", "/sessions/current/events")),
        ),
        (
            Function::Admin,
            Event::new(Payload::V2, "GET", "/admin/users/alice/sessions").iam_caller(IAM_CALLER),
        ),
        (
            Function::Admin,
            Event::new(Payload::V2, "GET", "/admin/users/alice/events").iam_caller(IAM_CALLER),
        ),
        (
            Function::Admin,
            Event::new(
                Payload::V2,
                "GET",
                "/admin/users/alice/sessions/6f1c0000-0000-4000-8000-000000000000",
            )
            .iam_caller(IAM_CALLER),
        ),
        (
            Function::Admin,
            Event::new(
                Payload::V2,
                "DELETE",
                "/admin/users/alice/sessions/6f1c0000-0000-4000-8000-000000000000",
            )
            .iam_caller(IAM_CALLER),
        ),
        (
            Function::Admin,
            Event::new(Payload::V2, "DELETE", "/admin/users/alice/sessions").iam_caller(IAM_CALLER),
        ),
        (
            Function::Admin,
            Event::new(Payload::V2, "DELETE", "/admin/tenants/acme/sessions")
                .iam_caller(IAM_CALLER),
        ),
        (
            Function::Admin,
            Event::new(
                Payload::V2,
                "PATCH",
                "/admin/users/alice/sessions/6f1c0000-0000-4000-8000-000000000000",
            )
            .iam_caller(IAM_CALLER)
            .json_body(&serde_json::json!({"data": {"roles": ["admin"]}})),
        ),
        (
            Function::Admin,
            Event::new(Payload::V2, "POST", "/admin/users/alice/impersonation")
                .iam_caller(IAM_CALLER)
                .json_body(&serde_json::json!({"reason": "case 42"})),
        ),
        // A visitor's guest session: the client's count fails first.
        (
            Function::Create,
            Event::new(Payload::V2, "POST", "/sessions/guest"),
        ),
        // Support's sign-in: the grant's read fails first.
        (
            Function::Create,
            Event::new(Payload::V2, "POST", "/sessions")
                .json_body(&serde_json::json!({"impersonation_ticket": "A".repeat(43)})),
        ),
    ]
}

/// A token's mint with a credential of the right shape that no store knows.
fn mint_event() -> Event {
    Event::new(Payload::V2, "POST", "/sessions/current/token")
        .session_cookie(UNKNOWN_TOKEN)
        .json_body(&serde_json::json!({"audience": "orders"}))
}

#[tokio::test]
async fn every_route_answers_503_with_retry_after_when_the_store_is_unreachable() {
    let app = unreachable_app();
    let cases = every_operation();
    // In parallel: each waits out its retries.
    let replies = futures::future::join_all(
        cases
            .iter()
            .map(|(function, event)| invoke(&app, *function, event.clone())),
    )
    .await;
    // A token's mint reads the caller's session first.
    let tokens = session_tests::tokens::tokens_on(
        SessionStore::new(client_for("http://127.0.0.1:9"), "sessions"),
        session_tests::tokens::kms(),
        "sessions",
        &["alias/never-used"],
        &[],
    );
    let mint = mint_event();
    let minted = session_tests::tokens::invoke_tokens(&tokens, mint.clone()).await;
    let cases = cases
        .into_iter()
        .chain([(Function::Validate, mint)])
        .collect::<Vec<_>>();
    let replies = replies.into_iter().chain([minted]);
    for ((_, event), reply) in cases.iter().zip(replies) {
        assert_eq!(reply.status, 503, "{event:?}: {:?}", reply.body);
        assert_eq!(reply.error_code(), "service_unavailable");
        assert_eq!(reply.header("retry-after"), Some("1"));
        assert!(reply.set_cookies.is_empty(), "a 503 keeps the cookie");
    }
}

#[tokio::test]
async fn every_route_answers_500_without_internals_when_the_table_is_missing() {
    // DynamoDB answers, but with an error no retry fixes (ResourceNotFoundException).
    let missing = "no-such-table";
    let store = SessionStore::new(client_for(&endpoint()), missing);
    let app = app_with_store(store, missing, &[("SESSION_TRUSTED_CALLER", "true")]);

    let tokens = session_tests::tokens::tokens_on(
        SessionStore::new(client_for(&endpoint()), missing),
        session_tests::tokens::kms(),
        missing,
        &["alias/never-used"],
        &[],
    );
    let mut replies = Vec::new();
    for (function, event) in every_operation() {
        replies.push((event.clone(), invoke(&app, function, event).await));
    }
    replies.push((
        mint_event(),
        session_tests::tokens::invoke_tokens(&tokens, mint_event()).await,
    ));
    for (event, reply) in replies {
        assert_eq!(reply.status, 500, "{event:?}: {:?}", reply.body);
        assert_eq!(reply.error_code(), "internal_error");
        assert_eq!(reply.body["error"]["message"], "an internal error occurred");
        let text = reply.body.to_string();
        assert!(
            !text.contains(missing) && !text.contains("ResourceNotFound"),
            "{text}"
        );
        assert_eq!(reply.header("retry-after"), None, "not worth retrying");
        assert!(reply.set_cookies.is_empty(), "a 500 keeps the cookie");
    }
}

#[tokio::test]
async fn routes_that_need_a_session_answer_401_without_one() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let cases = [
        (
            Function::Manage,
            Event::new(Payload::V2, "DELETE", "/sessions"),
        ),
        (
            Function::Manage,
            Event::new(
                Payload::V2,
                "DELETE",
                "/sessions/6f1c0000-0000-4000-8000-000000000000",
            ),
        ),
        (
            Function::Manage,
            Event::new(Payload::V2, "PATCH", "/sessions/current")
                .json_body(&serde_json::json!({"data": {"theme": "dark"}})),
        ),
    ];
    for (function, event) in cases {
        let reply = invoke(&app, function, event.clone()).await;
        assert_eq!(reply.status, 401, "{event:?}: {:?}", reply.body);
        assert_eq!(reply.error_code(), "unauthenticated");
    }
    table.drop_table().await;
}

/// Every route that reads the caller's session answers a dead credential as documented: a 401
/// that clears a cookie, or challenges a bearer token (`WWW-Authenticate`).
#[tokio::test]
async fn every_session_route_clears_a_dead_cookie_and_challenges_a_dead_bearer_token() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    // A well-formed token of no session.
    let dead = session_shared::domain::SessionToken::generate().unwrap();
    let dead = dead.expose_secret();
    let routes = [
        (Function::Validate, "GET", "/sessions/current"),
        (Function::Refresh, "POST", "/sessions/current/refresh"),
        (Function::Manage, "GET", "/sessions"),
        (Function::Manage, "DELETE", "/sessions"),
        (
            Function::Manage,
            "DELETE",
            "/sessions/6f1c0000-0000-4000-8000-000000000000",
        ),
        (Function::Manage, "PATCH", "/sessions/current"),
        (Function::Manage, "GET", "/sessions/current/events"),
        (Function::Create, "POST", "/sessions/current/reauth"),
    ];
    for (function, method, path) in routes {
        let event = || {
            let event = Event::new(Payload::V2, method, path);
            if method == "PATCH" {
                event.json_body(&serde_json::json!({"data": {"theme": "dark"}}))
            } else if path.ends_with("/reauth") {
                event.json_body(&serde_json::json!({"id_token": ticket("alice", None)}))
            } else {
                event
            }
        };
        let cookie = invoke(&app, function, event().session_cookie(dead)).await;
        let bearer = invoke(
            &app,
            function,
            event().without_header("origin").bearer(dead),
        )
        .await;

        assert_eq!(cookie.status, 401, "{method} {path}: {:?}", cookie.body);
        assert_eq!(
            cookie.set_cookies.len(),
            1,
            "{method} {path} clears the cookie"
        );
        assert!(cookie.set_cookies[0].contains("Max-Age=0"));
        assert_eq!(bearer.status, 401, "{method} {path}: {:?}", bearer.body);
        assert!(
            bearer
                .header("www-authenticate")
                .is_some_and(|c| c.starts_with("Bearer ")),
            "{method} {path} challenges"
        );
        assert!(
            bearer.set_cookies.is_empty(),
            "{method} {path}: no cookie to clear"
        );
    }
    table.drop_table().await;
}

/// The function that serves `method path` in the template (and `cargo lambda watch`'s router):
/// `None` for `session-token`, whose handler takes its own handle.
fn function_of(method: &str, path: &str) -> Option<Function> {
    let mut request = lambda_http::Request::new(lambda_http::Body::Empty);
    *request.method_mut() = lambda_http::http::Method::from_bytes(method.as_bytes()).unwrap();
    *request.uri_mut() = path.parse().unwrap();
    match session_shared::http::Route::of(&request)
        .unwrap()
        .function()
    {
        "session-create" => Some(Function::Create),
        "session-validate" => Some(Function::Validate),
        "session-refresh" => Some(Function::Refresh),
        "session-logout" => Some(Function::Logout),
        "session-manage" => Some(Function::Manage),
        "session-admin" => Some(Function::Admin),
        "session-token" => None,
        other => panic!("no handler for {other}"),
    }
}

#[tokio::test]
async fn cookie_requests_from_a_foreign_origin_are_refused_on_every_unsafe_route() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let created = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket("alice", None)),
    )
    .await;
    assert_eq!(created.status, 201);
    let token = created.cookie_token();
    let foreign = |e: Event| {
        e.without_header("Origin")
            .header("Origin", "https://evil.example")
            .session_cookie(&token)
    };
    // Every unsafe operation of docs/openapi.yaml a browser may reach (the IAM-only ones are
    // behind a signature), so a route added later is covered without touching this test.
    let spec: serde_norway::Value =
        serde_norway::from_str(include_str!("../../docs/openapi.yaml")).unwrap();
    let mut cases = Vec::new();
    for (path, operations) in spec["paths"].as_mapping().unwrap() {
        let path = path.as_str().unwrap();
        for (method, operation) in operations.as_mapping().unwrap() {
            let method = method.as_str().unwrap().to_ascii_uppercase();
            let iam_only = operation["security"]
                .as_sequence()
                .is_some_and(|s| s.len() == 1 && s[0].get("awsIam").is_some());
            // No credential at all (`security: []`): the identity provider's back-channel
            // logout, authenticated by its signed token, never by a cookie.
            let no_credential = operation["security"]
                .as_sequence()
                .is_some_and(|s| s.is_empty());
            if method == "GET" || iam_only || no_credential {
                continue;
            }
            let concrete = path.replace("{session_id}", "6f1c0000-0000-4000-8000-000000000000");
            let event = foreign(Event::new(Payload::V2, &method, &concrete))
                .json_body(&serde_json::json!({"data": {"theme": "dark"}}));
            cases.push((function_of(&method, &concrete), event));
        }
    }
    assert!(cases.len() >= 6, "{} unsafe routes", cases.len());
    // The CSRF check comes before any use of the signing key: none is needed.
    let tokens = session_tests::tokens::tokens_app(&table, &["alias/never-used"], &[]);
    for (function, event) in cases {
        let reply = match function {
            Some(function) => invoke(&app, function, event.clone()).await,
            None => session_tests::tokens::invoke_tokens(&tokens, event.clone()).await,
        };
        assert_eq!(reply.status, 403, "{event:?}: {:?}", reply.body);
        assert_eq!(reply.error_code(), "csrf_rejected");
    }
    // Nothing changed: the session still validates, with its data untouched.
    let current = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&token),
    )
    .await;
    assert_eq!(current.status, 200);
    assert_eq!(current.body["data"], serde_json::json!({}));
    table.drop_table().await;
}

#[tokio::test]
async fn tenant_revocation_needs_an_iam_caller_and_a_valid_tenant_id() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let unsigned = invoke(
        &app,
        Function::Admin,
        Event::new(Payload::V2, "DELETE", "/admin/tenants/acme/sessions"),
    )
    .await;
    assert_eq!(unsigned.status, 403);
    assert_eq!(unsigned.error_code(), "forbidden");
    let long = "t".repeat(300);
    let invalid = invoke(
        &app,
        Function::Admin,
        Event::new(
            Payload::V2,
            "DELETE",
            &format!("/admin/tenants/{long}/sessions"),
        )
        .iam_caller(IAM_CALLER),
    )
    .await;
    assert_eq!(invalid.status, 400, "{:?}", invalid.body);
    assert_eq!(invalid.error_code(), "invalid_request");
    table.drop_table().await;
}

#[tokio::test]
async fn routes_that_read_the_credential_answer_400_to_a_malformed_authorization_header() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let basic = |e: Event| e.header("Authorization", "Basic YWxpY2U6c2VjcmV0");
    let cases = [
        (
            Function::Refresh,
            basic(Event::new(Payload::V2, "POST", "/sessions/current/refresh")),
        ),
        (
            Function::Manage,
            basic(Event::new(Payload::V2, "GET", "/sessions")),
        ),
        (
            Function::Manage,
            basic(Event::new(
                Payload::V2,
                "DELETE",
                "/sessions/6f1c0000-0000-4000-8000-000000000000",
            )),
        ),
    ];
    for (function, event) in cases {
        let reply = invoke(&app, function, event.clone()).await;

        assert_eq!(reply.status, 400, "{event:?}: {:?}", reply.body);
        assert_eq!(reply.error_code(), "invalid_request");
    }
    table.drop_table().await;
}

#[tokio::test]
async fn the_trusted_route_refuses_every_caller_without_an_iam_signature() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_TRUSTED_CALLER", "true")]);
    let alice = ticket("alice", None);
    for event in [
        // A valid login ticket: the trusted route is not a second sign-in route.
        Event::new(Payload::V2, "POST", "/internal/sessions").bearer(&alice),
        Event::new(Payload::V2, "POST", "/internal/sessions").bearer("not-a-ticket"),
        Event::new(Payload::V2, "POST", "/internal/sessions")
            .json_body(&serde_json::json!({"user_id": "alice"})),
    ] {
        let reply = invoke(&app, Function::Create, event).await;

        assert_eq!(reply.status, 403, "{:?}", reply.body);
        assert_eq!(reply.error_code(), "forbidden");
    }
    // Signed, but naming no user: the trusted route is not a second ticket sign-in.
    let signed = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/internal/sessions")
            .iam_signed("arn:aws:iam::123456789012:role/backend")
            .json_body(&serde_json::json!({"id_token": alice})),
    )
    .await;
    assert_eq!(
        (signed.status, signed.error_code()),
        (400, "invalid_request"),
        "{:?}",
        signed.body
    );
    assert!(
        table.token_items().await.is_empty(),
        "no session was created"
    );
    // The ticket was not used.
    let signed_in = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&alice),
    )
    .await;
    assert_eq!(signed_in.status, 201, "{:?}", signed_in.body);
    table.drop_table().await;
}

/// A live session cookie plus any `Authorization` header is ambiguous: 400 on every route, no
/// cookie cleared, nothing ended (the session still works afterwards).
#[tokio::test]
async fn a_session_cookie_with_an_authorization_header_is_400_on_every_route_and_ends_nothing() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_TRUSTED_CALLER", "true")]);
    let created = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket("alice", None)),
    )
    .await;
    let token = created.cookie_token();

    for (function, event) in every_operation() {
        for authorization in ["Bearer junk", "Bearer", "Basic YWxpY2U6cHc="] {
            let event = event
                .clone()
                .without_header("authorization")
                .without_cookies()
                .session_cookie(&token)
                .header("Authorization", authorization);
            let reply = invoke(&app, function, event.clone()).await;
            assert_eq!(
                (reply.status, reply.error_code()),
                (400, "invalid_request"),
                "{authorization}: {event:?}"
            );
            assert!(
                reply.set_cookies.is_empty(),
                "{event:?}: {:?}",
                reply.set_cookies
            );
        }
    }
    let still = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&token),
    )
    .await;
    assert_eq!(still.status, 200, "the cookie's session was not ended");
    table.drop_table().await;
}

#[tokio::test]
async fn a_bearer_sign_out_ends_the_bearer_session_and_clears_no_cookie() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let created = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .without_header("origin")
            .bearer(&ticket("cli", None))
            .json_body(&serde_json::json!({"token_in_body": true})),
    )
    .await;
    let token = created.body["token"].as_str().unwrap().to_owned();

    let out = invoke(
        &app,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current").bearer(&token),
    )
    .await;
    let after = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").bearer(&token),
    )
    .await;

    assert_eq!(out.status, 204);
    assert!(out.set_cookies.is_empty(), "{:?}", out.set_cookies);
    assert_eq!(after.status, 401);
    table.drop_table().await;
}
