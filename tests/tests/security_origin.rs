//! CSRF and CORS through the handlers, with real API Gateway events: where an unsafe
//! cookie-authenticated request may come from, the API's own origin (never the client's `Host`),
//! preflights, and the headers every answer carries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use session_tests::{
    ALLOWED_ORIGIN, Event, Function, Payload, TestTable, app, invoke, signed_in, ticket,
};

#[tokio::test]
async fn a_cookie_sign_out_without_an_allowed_origin_is_403_and_keeps_the_session() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = signed_in(&app).await;

    for event in [
        Event::new(Payload::V2, "DELETE", "/sessions/current").without_header("origin"),
        Event::new(Payload::V1, "DELETE", "/sessions/current")
            .without_header("origin")
            .header("Origin", "https://evil.example"),
    ] {
        let reply = invoke(&app, Function::Logout, event.session_cookie(&token)).await;
        assert_eq!((reply.status, reply.error_code()), (403, "csrf_rejected"));
        assert!(reply.set_cookies.is_empty(), "the cookie is not touched");
    }
    let still = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&token),
    )
    .await;
    assert_eq!(still.status, 200);
    table.drop_table().await;
}

#[tokio::test]
async fn bearer_requests_need_no_origin() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let created = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .without_header("origin")
            .bearer(&ticket("cli", None))
            .without_header("origin") // a non-browser client
            .json_body(&json!({ "token_in_body": true })),
    )
    .await;
    let token = created.body["token"].as_str().unwrap();

    let reply = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh")
            .without_header("origin")
            .bearer(token),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let rotated = reply.body["token"].as_str().unwrap();
    assert_ne!(
        rotated, token,
        "a bearer refresh returns the rotated token in the body"
    );
    assert!(reply.set_cookies.is_empty());
    table.drop_table().await;
}

#[tokio::test]
async fn preflight_and_cors_headers_are_given_to_allowed_origins_only() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let preflight = |origin: &str| {
        Event::new(Payload::V2, "OPTIONS", "/sessions/current")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "DELETE")
    };

    let allowed = invoke(&app, Function::Validate, preflight(ALLOWED_ORIGIN)).await;
    let other = invoke(&app, Function::Validate, preflight("https://evil.example")).await;
    let get = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V1, "GET", "/sessions/current").header("Origin", ALLOWED_ORIGIN),
    )
    .await;

    assert_eq!(allowed.status, 204);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some(ALLOWED_ORIGIN)
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );
    assert!(
        allowed
            .header("access-control-allow-methods")
            .unwrap()
            .contains("DELETE")
    );
    assert_eq!(
        (other.status, other.error_code()),
        (403, "origin_not_allowed")
    );
    assert_eq!(other.header("access-control-allow-origin"), None);
    assert_eq!(get.status, 401, "no session, but a readable error");
    assert_eq!(
        get.header("access-control-allow-origin"),
        Some(ALLOWED_ORIGIN)
    );
    table.drop_table().await;
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_hsts_only_over_https() {
    let table = TestTable::new().await;
    let secure = app(&table, &[]);
    let plain = app(&table, &[("SESSION_COOKIE_SECURE", "false")]);
    let token = signed_in(&secure).await;

    let cases = [
        (
            Function::Validate,
            Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&token),
        ),
        (
            Function::Validate,
            Event::new(Payload::V1, "GET", "/sessions/current"),
        ),
        (
            Function::Create,
            Event::new(Payload::V2, "POST", "/sessions").raw_body("{", Some("application/json")),
        ),
        (
            Function::Validate,
            Event::new(Payload::V2, "GET", "/no/such/route"),
        ),
        (
            Function::Echo,
            Event::new(Payload::V2, "GET", "/example/whoami"),
        ),
    ];
    for (function, event) in cases {
        let reply = invoke(&secure, function, event.clone()).await;
        assert_eq!(
            reply.header("x-content-type-options"),
            Some("nosniff"),
            "{event:?}"
        );
        assert_eq!(
            reply.header("content-security-policy"),
            Some("default-src 'none'; frame-ancestors 'none'")
        );
        assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(
            reply.header("strict-transport-security"),
            Some("max-age=31536000")
        );
    }
    let over_http = invoke(
        &plain,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current"),
    )
    .await;
    assert_eq!(over_http.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(over_http.header("strict-transport-security"), None);
    table.drop_table().await;
}

/// A cookie refresh from `origin` headers (after dropping the test frontend's `Origin`): its
/// status and error code.
async fn refresh_from(
    app: &session_shared::SignIn,
    payload: Payload,
    token: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut event = Event::new(payload, "POST", "/sessions/current/refresh")
        .without_header("origin")
        .session_cookie(token);
    for (name, value) in headers {
        event = event.header(name, value);
    }
    let reply = invoke(app, Function::Refresh, event).await;
    let code = if reply.status >= 400 {
        reply.error_code().to_owned()
    } else {
        String::new()
    };
    (reply.status, code)
}

#[tokio::test]
async fn origin_null_is_refused_even_beside_an_allowed_referer() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = signed_in(&app).await;

    for payload in [Payload::V2, Payload::V1] {
        let answer = refresh_from(
            &app,
            payload,
            &token,
            &[
                ("Origin", "null"),
                ("Referer", &format!("{ALLOWED_ORIGIN}/account")),
            ],
        )
        .await;
        assert_eq!(answer, (403, "csrf_rejected".to_owned()), "{payload:?}");
    }
    // The Referer still stands in when there is no Origin header at all.
    let referer_only = refresh_from(
        &app,
        Payload::V2,
        &token,
        &[("Referer", &format!("{ALLOWED_ORIGIN}/account"))],
    )
    .await;
    assert_eq!(referer_only.0, 200);
    table.drop_table().await;
}

#[tokio::test]
async fn a_host_header_chosen_by_the_client_never_makes_its_origin_the_apis_own() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = signed_in(&app).await;

    for payload in [Payload::V2, Payload::V1] {
        let answer = refresh_from(
            &app,
            payload,
            &token,
            // https: a Host-derived own origin would be exactly this one.
            &[("Origin", "https://evil.example"), ("Host", "evil.example")],
        )
        .await;
        assert_eq!(answer, (403, "csrf_rejected".to_owned()), "{payload:?}");
    }
    table.drop_table().await;
}

#[tokio::test]
async fn the_configured_own_origin_is_matched_by_scheme_host_and_port() {
    let table = TestTable::new().await;
    let app = app(
        &table,
        &[("SESSION_PUBLIC_ORIGIN", "http://127.0.0.1:9300")],
    );
    let token = signed_in(&app).await;

    let other_scheme = refresh_from(
        &app,
        Payload::V2,
        &token,
        &[("Origin", "https://127.0.0.1:9300")],
    )
    .await;
    let other_port = refresh_from(
        &app,
        Payload::V2,
        &token,
        &[("Origin", "http://127.0.0.1:9301")],
    )
    .await;
    let own = refresh_from(
        &app,
        Payload::V2,
        &token,
        &[("Origin", "http://127.0.0.1:9300")],
    )
    .await;

    assert_eq!(other_scheme, (403, "csrf_rejected".to_owned()));
    assert_eq!(other_port, (403, "csrf_rejected".to_owned()));
    assert_eq!(own.0, 200);
    table.drop_table().await;
}

#[tokio::test]
async fn unconfigured_the_own_origin_is_api_gateways_domain_name_over_https() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);

    // The fixtures' request contexts name these domains.
    for (payload, domain) in [
        (
            Payload::V2,
            "aaaaaaaaaa.execute-api.us-west-2.amazonaws.com",
        ),
        (
            Payload::V1,
            "gy415nuibc.execute-api.us-east-1.amazonaws.com",
        ),
    ] {
        let token = signed_in(&app).await;
        let https = refresh_from(
            &app,
            payload,
            &token,
            &[("Origin", &format!("https://{domain}"))],
        )
        .await;
        assert_eq!(https.0, 200, "{payload:?}");
        let token_now = signed_in(&app).await;
        let http = refresh_from(
            &app,
            payload,
            &token_now,
            &[("Origin", &format!("http://{domain}"))],
        )
        .await;
        assert_eq!(http, (403, "csrf_rejected".to_owned()), "{payload:?}");
    }
    table.drop_table().await;
}
