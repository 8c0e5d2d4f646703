//! The security features through the handlers, with real API Gateway events: CSRF and CORS,
//! trusted-caller sign-in, eviction and replay answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use session_tests::{ALLOWED_ORIGIN, Event, Function, Payload, TestTable, app, invoke, ticket};

async fn signed_in(app: &session_shared::SignIn) -> String {
    let reply = invoke(
        app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket("alice", None)),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.cookie_token()
}

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
async fn trusted_callers_sign_users_in_by_id_only_when_enabled_and_iam_signed() {
    let table = TestTable::new().await;
    let body = json!({ "user_id": "u-42", "tenant_id": "shop-7", "token_in_body": true });
    let trusted = |payload| {
        // A backend's SigV4-signed request: no Origin, an AWS4 Authorization header.
        Event::new(payload, "POST", "/internal/sessions")
            .without_header("origin")
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261122/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
            )
            .json_body(&body)
    };

    let off = app(&table, &[]);
    let refused = invoke(
        &off,
        Function::Create,
        trusted(Payload::V2).iam_caller("arn:aws:iam::123456789012:role/backend"),
    )
    .await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (400, "invalid_request")
    );
    // Like any unknown field: no word of the trusted-caller mode or its other field.
    let message = refused.body["error"]["message"].as_str().unwrap();
    for leak in ["trusted", "TRUSTED", "tenant_id", "IAM"] {
        assert!(!message.contains(leak), "{message}");
    }

    let on = app(&table, &[("SESSION_TRUSTED_CALLER", "true")]);
    let unsigned = invoke(&on, Function::Create, trusted(Payload::V2)).await;
    assert_eq!((unsigned.status, unsigned.error_code()), (403, "forbidden"));
    let message = unsigned.body["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("IAM") && !message.contains("trusted"),
        "{message}"
    );

    for payload in [Payload::V2, Payload::V1] {
        let reply = invoke(
            &on,
            Function::Create,
            trusted(payload).iam_caller("arn:aws:iam::123456789012:role/backend"),
        )
        .await;
        assert_eq!(reply.status, 201, "{payload:?}: {}", reply.body);
        assert_eq!(reply.body["user_id"], "u-42");
        assert_eq!(reply.body["tenant_id"], "shop-7");
    }
    // Without token_in_body the backend gets the cookie to hand to the browser.
    let cookie_mode = invoke(
        &on,
        Function::Create,
        Event::new(Payload::V2, "POST", "/internal/sessions")
            .without_header("origin")
            .header("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261122/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")
            .json_body(&json!({ "user_id": "u-43" }))
            .iam_caller("arn:aws:iam::123456789012:role/backend"),
    )
    .await;
    assert_eq!(cookie_mode.status, 201);
    assert!(cookie_mode.only_cookie().starts_with("__Host-session="));
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

#[tokio::test]
async fn a_body_error_names_no_rust_type_and_no_field_of_trusted_callers() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);

    for body in [
        r#"[1, 2, 3, 4, 5]"#,
        r#"{"surprise": 1}"#,
        r#"{"id_token": 7}"#,
    ] {
        let reply = invoke(
            &app,
            Function::Create,
            Event::new(Payload::V2, "POST", "/sessions").raw_body(body, Some("application/json")),
        )
        .await;
        assert_eq!((reply.status, reply.error_code()), (400, "invalid_request"));
        let message = reply.body["error"]["message"].as_str().unwrap();
        for leak in [
            "struct",
            "CreateRequest",
            "elements",
            "user_id",
            "tenant_id",
        ] {
            assert!(!message.contains(leak), "{body}: {message}");
        }
    }
    table.drop_table().await;
}

#[tokio::test]
async fn an_evicted_session_answers_session_evicted_and_clears_its_cookie() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_MAX_PER_USER", "1")]);
    let first = signed_in(&app).await;
    let second = signed_in(&app).await;

    let evicted = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&first),
    )
    .await;
    let current = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&second),
    )
    .await;

    assert_eq!(
        (evicted.status, evicted.error_code()),
        (401, "session_evicted")
    );
    assert!(evicted.only_cookie().contains("Max-Age=0"));
    assert_eq!(current.status, 200);
    table.drop_table().await;
}

#[tokio::test]
async fn a_replayed_token_answers_session_revoked() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_ROTATION_GRACE", "0s")]);
    let old = signed_in(&app).await;
    let refreshed = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh").session_cookie(&old),
    )
    .await;
    let new = refreshed.cookie_token();

    let replay = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&old),
    )
    .await;
    let after = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&new),
    )
    .await;

    assert_eq!(
        (replay.status, replay.error_code()),
        (401, "session_revoked")
    );
    assert_eq!((after.status, after.error_code()), (401, "session_revoked"));
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

#[tokio::test]
async fn a_login_ticket_with_a_critical_header_extension_is_refused() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": "alice", "iss": session_tests::ISSUER, "aud": session_tests::AUDIENCE,
        "iat": now, "exp": now + 300,
    });
    let mut header = Header::new(Algorithm::HS256);
    header.crit = Some(vec!["x-unknown".to_owned()]);
    let ticket = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(session_tests::SECRET.as_bytes()),
    )
    .unwrap();

    for payload in [Payload::V2, Payload::V1] {
        let reply = invoke(
            &app,
            Function::Create,
            Event::new(payload, "POST", "/sessions").bearer(&ticket),
        )
        .await;
        assert_eq!((reply.status, reply.error_code()), (401, "invalid_token"));
        assert!(reply.set_cookies.is_empty());
    }
    assert!(table.token_items().await.is_empty(), "no session was made");
    table.drop_table().await;
}

#[tokio::test]
async fn a_login_ticket_signs_in_once() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let ticket = ticket("alice", None);

    let first = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket),
    )
    .await;
    let again: Vec<_> = [Payload::V2, Payload::V1]
        .into_iter()
        .map(|payload| {
            Event::new(payload, "POST", "/sessions").json_body(&json!({"id_token": ticket}))
        })
        .collect();
    let mut replies = Vec::new();
    for event in again {
        replies.push(invoke(&app, Function::Create, event).await);
    }

    assert_eq!(first.status, 201);
    for reply in &replies {
        assert_eq!((reply.status, reply.error_code()), (401, "ticket_reused"));
        assert!(reply.set_cookies.is_empty());
    }
    assert_eq!(table.items_of_kind("session").await.len(), 1, "one session");
    let at_rest = format!("{:?}", table.items().await);
    assert!(
        !at_rest.contains(&ticket),
        "the ticket itself is not stored"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_ticket_with_a_jti_signs_in_once_even_re_signed_with_another_iat() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let now = chrono::Utc::now().timestamp();
    let with_jti = |iat: i64| {
        session_tests::ticket_with("alice", None, |c| {
            c.iat = iat;
            c.extra.insert("jti".into(), json!("login-7f3a"));
        })
    };
    let first = with_jti(now);
    let re_signed = with_jti(now - 10);
    assert_ne!(first, re_signed, "two different tokens, one jti");
    let sign_in = |ticket: &str| {
        Event::new(Payload::V2, "POST", "/sessions").json_body(&json!({"id_token": ticket}))
    };

    let signed_in = invoke(&app, Function::Create, sign_in(&first)).await;
    let replayed = invoke(&app, Function::Create, sign_in(&first)).await;
    let other_iat = invoke(&app, Function::Create, sign_in(&re_signed)).await;

    assert_eq!(signed_in.status, 201, "{}", signed_in.body);
    for reply in [&replayed, &other_iat] {
        assert_eq!(
            (reply.status, reply.error_code()),
            (401, "ticket_reused"),
            "{}",
            reply.body
        );
        assert!(reply.set_cookies.is_empty());
    }
    assert_eq!(table.items_of_kind("session").await.len(), 1, "one session");
    // Another jti is another ticket.
    let other = session_tests::ticket_with("alice", None, |c| {
        c.extra.insert("jti".into(), json!("login-7f3b"));
    });
    assert_eq!(
        invoke(&app, Function::Create, sign_in(&other)).await.status,
        201
    );
    table.drop_table().await;
}

#[tokio::test]
async fn tickets_may_be_reused_when_single_use_is_off() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_SINGLE_USE_TICKETS", "false")]);
    let ticket = ticket("alice", None);

    for _ in 0..2 {
        let reply = invoke(
            &app,
            Function::Create,
            Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket),
        )
        .await;
        assert_eq!(reply.status, 201);
    }
    table.drop_table().await;
}

#[tokio::test]
async fn a_browser_request_may_not_take_the_token_in_the_body() {
    let table = TestTable::new().await;
    let strict = app(&table, &[]);
    let lenient = app(&table, &[("SESSION_BEARER_FOR_BROWSERS", "true")]);
    let bearer_sign_in = |origin: Option<&str>| {
        let event = Event::new(Payload::V2, "POST", "/sessions")
            .without_header("origin")
            .bearer(&ticket("cli", None))
            .json_body(&json!({"token_in_body": true}));
        match origin {
            Some(origin) => event.header("Origin", origin),
            None => event,
        }
    };

    let from_browser = invoke(
        &strict,
        Function::Create,
        bearer_sign_in(Some(ALLOWED_ORIGIN)),
    )
    .await;
    let from_cli = invoke(&strict, Function::Create, bearer_sign_in(None)).await;
    let allowed = invoke(
        &lenient,
        Function::Create,
        bearer_sign_in(Some(ALLOWED_ORIGIN)),
    )
    .await;

    assert_eq!(
        (from_browser.status, from_browser.error_code()),
        (403, "forbidden")
    );
    assert!(from_browser.body.get("token").is_none());
    assert_eq!(from_cli.status, 201);
    assert!(from_cli.body["token"].is_string());
    assert_eq!(allowed.status, 201);
    table.drop_table().await;
}

#[tokio::test]
async fn a_refused_browser_bearer_sign_in_leaves_the_ticket_usable() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let ticket = ticket("alice", None);

    let refused = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .json_body(&json!({"id_token": ticket, "token_in_body": true})),
    )
    .await;
    let cookie = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").json_body(&json!({"id_token": ticket})),
    )
    .await;

    assert_eq!(refused.status, 403);
    assert_eq!(cookie.status, 201, "{}", cookie.body);
    table.drop_table().await;
}

#[tokio::test]
async fn a_sign_in_that_fails_on_our_side_gives_the_tickets_use_back() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let table = TestTable::new().await;
    let app = app(&table, &[]); // under the default per-user cap: the guard item is read
    let ticket = ticket("alice", None);
    let alice = session_shared::domain::UserKey::of(
        Some(session_tests::ISSUER),
        None,
        &session_shared::domain::UserId::parse("alice").unwrap(),
    );
    let guard_key = |item: &mut std::collections::HashMap<String, AttributeValue>| {
        item.insert(
            "pk".into(),
            AttributeValue::S(format!("USER#{}", alice.as_str())),
        );
        item.insert("sk".into(), AttributeValue::S("GUARD".into()));
    };
    // A guard item the store cannot read: the sign-in fails after the ticket was claimed.
    let mut broken = std::collections::HashMap::new();
    guard_key(&mut broken);
    broken.insert("version".into(), AttributeValue::S("not a number".into()));
    table
        .client
        .put_item()
        .table_name(&table.name)
        .set_item(Some(broken))
        .send()
        .await
        .unwrap();
    let sign_in = || {
        invoke(
            &app,
            Function::Create,
            Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket),
        )
    };

    let failed = sign_in().await;
    let mut key = std::collections::HashMap::new();
    guard_key(&mut key);
    table
        .client
        .delete_item()
        .table_name(&table.name)
        .set_key(Some(key))
        .send()
        .await
        .unwrap();
    let retried = sign_in().await;
    let replayed = sign_in().await;

    assert_eq!(failed.status, 500, "{}", failed.body);
    assert_eq!(
        retried.status, 201,
        "the same ticket works again: {}",
        retried.body
    );
    assert_eq!(
        (replayed.status, replayed.error_code()),
        (401, "ticket_reused"),
        "and is used up by the sign-in that succeeded"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_token_is_accepted_only_the_way_it_was_issued() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let cookie_token = signed_in(&app).await;
    let bearer_token = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .without_header("origin")
            .bearer(&ticket("cli", None))
            .json_body(&json!({ "token_in_body": true })),
    )
    .await
    .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let current = |payload| Event::new(payload, "GET", "/sessions/current");

    for payload in [Payload::V2, Payload::V1] {
        let cookie_as_bearer = invoke(
            &app,
            Function::Validate,
            current(payload).bearer(&cookie_token),
        )
        .await;
        let bearer_as_cookie = invoke(
            &app,
            Function::Validate,
            current(payload).session_cookie(&bearer_token),
        )
        .await;
        assert_eq!(
            (cookie_as_bearer.status, cookie_as_bearer.error_code()),
            (401, "invalid_token")
        );
        assert!(cookie_as_bearer.header("www-authenticate").is_some());
        assert_eq!(
            (bearer_as_cookie.status, bearer_as_cookie.error_code()),
            (401, "invalid_token")
        );
    }
    // Each still works the way it was issued.
    let cookie_ok = invoke(
        &app,
        Function::Validate,
        current(Payload::V2).session_cookie(&cookie_token),
    )
    .await;
    let bearer_ok = invoke(
        &app,
        Function::Validate,
        current(Payload::V2).bearer(&bearer_token),
    )
    .await;
    assert_eq!((cookie_ok.status, bearer_ok.status), (200, 200));
    table.drop_table().await;
}

#[tokio::test]
async fn a_retired_cookie_token_used_as_bearer_never_yields_its_successor_in_a_body() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = signed_in(&app).await;
    let refreshed = refresh_with_cookie(&app, &token).await;
    assert_eq!(refreshed.status, 200);

    // Within the grace window, as a bearer token: refused, no token in the body.
    let as_bearer = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh")
            .without_header("origin")
            .bearer(&token),
    )
    .await;
    let sign_out = invoke(
        &app,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current")
            .without_header("origin")
            .bearer(&refreshed.cookie_token()),
    )
    .await;
    let still = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current")
            .session_cookie(&refreshed.cookie_token()),
    )
    .await;

    assert_eq!(
        (as_bearer.status, as_bearer.error_code()),
        (401, "invalid_token")
    );
    assert!(as_bearer.body.get("token").is_none(), "{}", as_bearer.body);
    // Refused like on every other route: a 204 would tell the client it signed out.
    assert_eq!(
        (sign_out.status, sign_out.error_code()),
        (401, "invalid_token"),
        "{}",
        sign_out.body
    );
    assert!(
        sign_out.set_cookies.is_empty(),
        "no clearing cookie that suggests success"
    );
    assert_eq!(
        still.status, 200,
        "a bearer sign-out of a cookie token ends nothing"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn the_authorizer_refuses_a_cookie_token_sent_as_bearer() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = signed_in(&app).await;

    let as_bearer =
        session_tests::authorize(&app, session_tests::AuthorizerEvent::new().bearer(&token)).await;
    let as_cookie = session_tests::authorize(
        &app,
        session_tests::AuthorizerEvent::new().session_cookie(&token),
    )
    .await;

    assert_eq!(as_bearer["isAuthorized"], false);
    assert_eq!(as_cookie["isAuthorized"], true);
    table.drop_table().await;
}

const PROTECTED: [(&str, &str); 2] = [
    ("SESSION_PROTECTED_DATA_KEYS", "roles,plan"),
    ("SESSION_AUTHORIZER_DATA_KEYS", "roles"),
];

fn admin_patch(user: &str, session_id: &str, data: serde_json::Value) -> Event {
    Event::new(
        Payload::V2,
        "PATCH",
        &format!("/admin/users/{user}/sessions/{session_id}"),
    )
    // The sessions of these tests come from login tickets of the test issuer, no tenant.
    .query("issuer", session_tests::ISSUER)
    .without_header("origin")
    .header("Authorization", session_tests::SIGV4_AUTHORIZATION)
    .iam_caller("arn:aws:iam::123456789012:role/backend")
    .json_body(&json!({ "data": data }))
}

#[tokio::test]
async fn the_session_holder_can_neither_set_nor_remove_protected_data() {
    let table = TestTable::new().await;
    let app = app(&table, &PROTECTED);

    for payload in [Payload::V2, Payload::V1] {
        let sign_in = invoke(
            &app,
            Function::Create,
            Event::new(payload, "POST", "/sessions")
                .bearer(&ticket("alice", None))
                .json_body(&json!({"data": {"roles": ["admin"], "theme": "dark"}})),
        )
        .await;
        assert_eq!(
            (sign_in.status, sign_in.error_code()),
            (403, "protected_data")
        );
        assert!(sign_in.set_cookies.is_empty(), "{:?}", sign_in.set_cookies);
    }
    // Refused before anything was written, the ticket's use included.
    assert!(table.token_items().await.is_empty(), "no session item");
    let alice = ticket("alice", None);
    let refused = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .bearer(&alice)
            .json_body(&json!({"data": {"roles": ["admin"]}})),
    )
    .await;
    assert_eq!(refused.status, 403);
    let same_ticket = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&alice),
    )
    .await;
    assert_eq!(
        same_ticket.status, 201,
        "the ticket is still usable: {}",
        same_ticket.body
    );
    let token = signed_in(&app).await;
    let patch = |data: serde_json::Value| {
        Event::new(Payload::V2, "PATCH", "/sessions/current")
            .session_cookie(&token)
            .json_body(&json!({ "data": data }))
    };
    let set = invoke(&app, Function::Manage, patch(json!({"roles": ["admin"]}))).await;
    let remove = invoke(&app, Function::Manage, patch(json!({"plan": null}))).await;
    let own = invoke(&app, Function::Manage, patch(json!({"theme": "dark"}))).await;

    assert_eq!((set.status, set.error_code()), (403, "protected_data"));
    assert_eq!(
        (remove.status, remove.error_code()),
        (403, "protected_data")
    );
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["data"], json!({"theme": "dark"}));
    table.drop_table().await;
}

#[tokio::test]
async fn only_iam_signed_callers_set_protected_data_and_the_authorizer_forwards_it() {
    let table = TestTable::new().await;
    let app = app(&table, &PROTECTED);
    let token = signed_in(&app).await;
    let me = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&token),
    )
    .await;
    let session_id = me.body["session_id"].as_str().unwrap().to_owned();

    let patched = invoke(
        &app,
        Function::Admin,
        admin_patch("alice", &session_id, json!({"roles": ["admin"]})),
    )
    .await;
    let unsigned = invoke(
        &app,
        Function::Admin,
        Event::new(
            Payload::V2,
            "PATCH",
            &format!("/admin/users/alice/sessions/{session_id}"),
        )
        .json_body(&json!({"data": {"roles": ["root"]}})),
    )
    .await;
    let other_user = invoke(
        &app,
        Function::Admin,
        admin_patch("mallory", &session_id, json!({"roles": ["root"]})),
    )
    .await;
    let answer = session_tests::authorize(
        &app,
        session_tests::AuthorizerEvent::new().session_cookie(&token),
    )
    .await;

    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["data"]["roles"], json!(["admin"]));
    assert_eq!((unsigned.status, unsigned.error_code()), (403, "forbidden"));
    assert_eq!(
        (other_user.status, other_user.error_code()),
        (404, "session_not_found")
    );
    assert_eq!(answer["context"]["roles"], r#"["admin"]"#);
    table.drop_table().await;
}

#[tokio::test]
async fn the_trusted_caller_sign_in_may_set_protected_data() {
    let table = TestTable::new().await;
    let mut overrides = PROTECTED.to_vec();
    overrides.push(("SESSION_TRUSTED_CALLER", "true"));
    let app = app(&table, &overrides);

    let reply = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/internal/sessions")
            .without_header("origin")
            .header("Authorization", session_tests::SIGV4_AUTHORIZATION)
            .iam_caller("arn:aws:iam::123456789012:role/backend")
            .json_body(&json!({"user_id": "u-1", "data": {"plan": "pro"}})),
    )
    .await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["data"]["plan"], "pro");
    table.drop_table().await;
}

#[test]
fn start_up_fails_when_the_authorizer_would_forward_an_unprotected_key() {
    let vars = [
        ("SESSION_TABLE_NAME", "t"),
        ("SESSION_AUTHORIZER_DATA_KEYS", "roles,plan"),
        ("SESSION_PROTECTED_DATA_KEYS", "roles"),
    ];
    let result = session_shared::config::Config::from_lookup(|name| {
        vars.iter()
            .find(|(var, _)| *var == name)
            .map(|(_, value)| (*value).to_owned())
    });
    let Err(error) = result else {
        panic!("start-up must fail")
    };
    let error = error.to_string();
    assert!(error.contains("SESSION_AUTHORIZER_DATA_KEYS"), "{error}");
    assert!(error.contains("plan"), "{error}");
}

#[tokio::test]
async fn the_admin_data_route_refuses_bad_input_clearly() {
    let table = TestTable::new().await;
    let app = app(&table, &PROTECTED);
    let path = "/admin/users/alice/sessions/6f1c0000-0000-4000-8000-000000000000";
    let signed = |event: Event| {
        event
            .without_header("origin")
            .header("Authorization", session_tests::SIGV4_AUTHORIZATION)
            .iam_caller("arn:aws:iam::123456789012:role/backend")
    };

    let bad_id = invoke(
        &app,
        Function::Admin,
        signed(Event::new(
            Payload::V2,
            "PATCH",
            "/admin/users/alice/sessions/not-a-uuid",
        ))
        .json_body(&json!({"data": {}})),
    )
    .await;
    let unknown_field = invoke(
        &app,
        Function::Admin,
        signed(Event::new(Payload::V2, "PATCH", path))
            .json_body(&json!({"data": {}, "version": 3})),
    )
    .await;
    let too_large = invoke(
        &app,
        Function::Admin,
        signed(Event::new(Payload::V2, "PATCH", path))
            .json_body(&json!({"data": {"blob": "x".repeat(64 * 1024)}})),
    )
    .await;
    let not_json = invoke(
        &app,
        Function::Admin,
        signed(Event::new(Payload::V2, "PATCH", path)).raw_body("roles=admin", Some("text/plain")),
    )
    .await;

    assert_eq!(
        (bad_id.status, bad_id.error_code()),
        (400, "invalid_request")
    );
    assert_eq!(
        (unknown_field.status, unknown_field.error_code()),
        (400, "invalid_request")
    );
    assert_eq!(
        (too_large.status, too_large.error_code()),
        (413, "payload_too_large")
    );
    assert_eq!(
        (not_json.status, not_json.error_code()),
        (415, "unsupported_media_type")
    );
    table.drop_table().await;
}

/// Signs `user` in under `tenant` through the real handler; the cookie's token.
async fn signed_in_to(app: &session_shared::SignIn, user: &str, tenant: &str) -> String {
    let reply = invoke(
        app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket(user, Some(tenant))),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.cookie_token()
}

#[tokio::test]
async fn one_subject_in_two_tenants_is_two_users() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_MAX_PER_USER", "1")]);
    let in_a = signed_in_to(&app, "alice", "tenant-a").await;
    // Under a cap of one: signing in to tenant B does not evict the tenant-A session.
    let in_b = signed_in_to(&app, "alice", "tenant-b").await;
    let current =
        |token: &str| Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(token);
    let a_id = invoke(&app, Function::Validate, current(&in_a)).await.body["session_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let listed = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "GET", "/sessions").session_cookie(&in_b),
    )
    .await;
    let revoke_other = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "DELETE", &format!("/sessions/{a_id}")).session_cookie(&in_b),
    )
    .await;
    let everywhere = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "DELETE", "/sessions").session_cookie(&in_b),
    )
    .await;
    let a_after = invoke(&app, Function::Validate, current(&in_a)).await;

    let ids: Vec<&str> = listed.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "only tenant B's own session: {ids:?}");
    assert!(!ids.contains(&a_id.as_str()));
    assert_eq!(
        (revoke_other.status, revoke_other.error_code()),
        (404, "session_not_found")
    );
    assert_eq!(
        everywhere.body["revoked"], 1,
        "sign-out everywhere is tenant B's"
    );
    assert_eq!(a_after.status, 200, "the tenant-A session is untouched");
    // Each tenant's audit trail holds its own events only.
    let key = |tenant: &str| {
        session_shared::domain::UserKey::of(
            Some(session_tests::ISSUER),
            Some(&session_shared::domain::TenantId::parse(tenant).unwrap()),
            &session_shared::domain::UserId::parse("alice").unwrap(),
        )
    };
    assert_eq!(table.event_names_of(&key("tenant-a")).await, ["created"]);
    assert_eq!(
        table.event_names_of(&key("tenant-b")).await,
        ["created", "revoked"]
    );
    table.drop_table().await;
}

#[tokio::test]
async fn the_admin_user_route_reaches_only_the_tenant_and_issuer_it_names() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let in_a = signed_in_to(&app, "alice", "tenant-a").await;
    let in_b = signed_in_to(&app, "alice", "tenant-b").await;
    let revoke = |query: &[(&str, &str)]| {
        let mut event = Event::new(Payload::V2, "DELETE", "/admin/users/alice/sessions")
            .without_header("origin")
            .header("Authorization", session_tests::SIGV4_AUTHORIZATION)
            .iam_caller("arn:aws:iam::123456789012:role/admin");
        for (name, value) in query {
            event = event.query(name, value);
        }
        event
    };

    let other_issuer = invoke(
        &app,
        Function::Admin,
        revoke(&[
            ("tenant_id", "tenant-a"),
            ("issuer", "https://elsewhere.example"),
        ]),
    )
    .await;
    let tenant_a = invoke(
        &app,
        Function::Admin,
        revoke(&[("tenant_id", "tenant-a"), ("issuer", session_tests::ISSUER)]),
    )
    .await;
    let status = |token: &str| {
        invoke(
            &app,
            Function::Validate,
            Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(token),
        )
    };

    assert_eq!(other_issuer.body["revoked"], 0);
    assert_eq!(tenant_a.body["revoked"], 1);
    assert_eq!(status(&in_a).await.status, 401);
    assert_eq!(
        status(&in_b).await.status,
        200,
        "tenant B's alice is another user"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn the_session_knows_when_and_how_the_user_authenticated_and_can_ask_for_a_fresh_proof() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let ten_minutes_ago = chrono::Utc::now().timestamp() - 600;
    let ticket = session_tests::ticket_with("alice", None, |claims| {
        claims
            .extra
            .insert("auth_time".into(), json!(ten_minutes_ago));
        claims.extra.insert("amr".into(), json!(["pwd", "otp"]));
        claims
            .extra
            .insert("acr".into(), json!("urn:example:loa:2"));
    });
    let created = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket),
    )
    .await;
    let token = created.cookie_token();
    let current = |max_age: Option<&str>| {
        let event = Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&token);
        match max_age {
            Some(seconds) => event.query("max_auth_age", seconds),
            None => event,
        }
    };

    let authenticated_at =
        chrono::DateTime::parse_from_rfc3339(created.body["authenticated_at"].as_str().unwrap())
            .unwrap();
    let stale = invoke(&app, Function::Validate, current(Some("300"))).await;
    let fresh_enough = invoke(&app, Function::Validate, current(Some("3600"))).await;
    let plain = invoke(&app, Function::Validate, current(None)).await;
    let bad = invoke(&app, Function::Validate, current(Some("soon"))).await;

    assert_eq!(authenticated_at.timestamp(), ten_minutes_ago);
    assert_eq!(created.body["amr"], json!(["pwd", "otp"]));
    assert_eq!(created.body["acr"], "urn:example:loa:2");
    assert_eq!(
        (stale.status, stale.error_code()),
        (401, "reauthentication_required")
    );
    assert!(
        stale.set_cookies.is_empty(),
        "the cookie stays: {:?}",
        stale.set_cookies
    );
    assert_eq!(fresh_enough.status, 200);
    assert_eq!(plain.status, 200, "the session itself is fine");
    assert_eq!(plain.body["amr"], json!(["pwd", "otp"]));
    assert_eq!((bad.status, bad.error_code()), (400, "invalid_request"));
    table.drop_table().await;
}

#[tokio::test]
async fn without_auth_time_the_tickets_iat_is_the_proof_and_rotations_keep_it() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    // Issued four minutes ago: not the sign-in time, which a wrong default would give.
    let iat = chrono::Utc::now().timestamp() - 240;
    let ticket = session_tests::ticket_with("alice", None, |c| c.iat = iat);
    let created = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let refreshed = refresh_with_cookie(&app, &created.cookie_token()).await;
    let token = refreshed.cookie_token();
    let me = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&token),
    )
    .await;

    let at = chrono::DateTime::parse_from_rfc3339(me.body["authenticated_at"].as_str().unwrap())
        .unwrap();
    assert_eq!(at.timestamp(), iat, "the ticket's iat is the proof");
    assert_eq!(me.body["amr"], json!([]));
    assert_eq!(me.body["acr"], serde_json::Value::Null);
    assert_eq!(
        me.body["authenticated_at"],
        refreshed.body["authenticated_at"]
    );
    // Four minutes old: too old for a one-minute freshness requirement, fine for five.
    let fresh = |age: &str| {
        Event::new(Payload::V2, "GET", "/sessions/current")
            .session_cookie(&token)
            .query("max_auth_age", age)
    };
    let stale = invoke(&app, Function::Validate, fresh("60")).await;
    assert_eq!(
        (stale.status, stale.error_code()),
        (401, "reauthentication_required")
    );
    assert_eq!(
        invoke(&app, Function::Validate, fresh("300")).await.status,
        200
    );
    table.drop_table().await;
}

/// A cookie refresh of `token` through the real handler.
async fn refresh_with_cookie(app: &session_shared::SignIn, token: &str) -> session_tests::Reply {
    invoke(
        app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh").session_cookie(token),
    )
    .await
}

fn reauth(token: &str, id_token: &str) -> Event {
    Event::new(Payload::V2, "POST", "/sessions/current/reauth")
        .session_cookie(token)
        .json_body(&json!({ "id_token": id_token }))
}

#[tokio::test]
async fn reauthentication_records_a_fresh_proof_rotates_and_keeps_the_session() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let an_hour_ago = chrono::Utc::now().timestamp() - 3600;
    let old_ticket = session_tests::ticket_with("alice", None, |claims| {
        claims.extra.insert("auth_time".into(), json!(an_hour_ago));
    });
    let created = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .bearer(&old_ticket)
            .json_body(&json!({"data": {"cart": 2}})),
    )
    .await;
    let token = created.cookie_token();
    let fresh = session_tests::ticket_with("alice", None, |claims| {
        claims.extra.insert("amr".into(), json!(["pwd", "mfa"]));
    });

    let answer = invoke(&app, Function::Create, reauth(&token, &fresh)).await;
    let new_token = answer.cookie_token();
    let now_fresh = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current")
            .session_cookie(&new_token)
            .query("max_auth_age", "60"),
    )
    .await;
    let replayed = invoke(&app, Function::Create, reauth(&new_token, &fresh)).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_ne!(new_token, token, "a privilege change rotates the token");
    assert_eq!(answer.body["session_id"], created.body["session_id"]);
    assert_eq!(answer.body["data"], json!({"cart": 2}));
    assert_eq!(
        answer.body["absolute_expires_at"],
        created.body["absolute_expires_at"]
    );
    assert_eq!(answer.body["amr"], json!(["pwd", "mfa"]));
    assert_eq!(
        now_fresh.status, 200,
        "fresh enough now: {}",
        now_fresh.body
    );
    assert_eq!(
        (replayed.status, replayed.error_code()),
        (401, "ticket_reused")
    );
    assert!(
        replayed.set_cookies.is_empty(),
        "a replayed proof keeps the cookie"
    );
    // The old token was retired, not left live beside the new one: within the grace window
    // it leads to the new token; the table holds one live head and one retired token.
    let with_old = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&token),
    )
    .await;
    assert_eq!(with_old.status, 200, "{}", with_old.body);
    assert_eq!(
        with_old.cookie_token(),
        new_token,
        "the old token hands over the new one"
    );
    assert_eq!(
        table.items_of_kind("session").await.len(),
        1,
        "one live head"
    );
    let old_item = table
        .item_of(&session_shared::domain::SessionToken::parse(&token).unwrap())
        .await
        .unwrap();
    assert_eq!(old_item["kind"].as_s().unwrap(), "retired");
    table.drop_table().await;
}

#[tokio::test]
async fn reauthentication_as_another_user_is_refused_and_changes_nothing() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = signed_in(&app).await;
    let before = table.items().await;

    let mallory = invoke(
        &app,
        Function::Create,
        reauth(&token, &ticket("mallory", None)),
    )
    .await;
    let other_tenant = invoke(
        &app,
        Function::Create,
        reauth(&token, &ticket("alice", Some("elsewhere"))),
    )
    .await;
    let still = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&token),
    )
    .await;

    for refused in [&mallory, &other_tenant] {
        assert_eq!(
            (refused.status, refused.error_code()),
            (403, "reauth_user_mismatch")
        );
        assert!(refused.set_cookies.is_empty());
    }
    assert_eq!(still.status, 200, "the session and its token are unchanged");
    // Item by item, attribute by attribute: an in-place overwrite would show here (the
    // validate above writes nothing in steady state).
    let sorted =
        |items: Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>| {
            let mut items: Vec<String> = items
                .into_iter()
                .map(|i| {
                    format!(
                        "{:?}",
                        i.into_iter().collect::<std::collections::BTreeMap<_, _>>()
                    )
                })
                .collect();
            items.sort();
            items
        };
    assert_eq!(
        sorted(table.items().await),
        sorted(before),
        "nothing written"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn reauthentication_refuses_bad_input_clearly() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = signed_in(&app).await;
    let post = |body: &str, content_type: &str| {
        Event::new(Payload::V2, "POST", "/sessions/current/reauth")
            .session_cookie(&token)
            .raw_body(body, Some(content_type))
    };

    let no_session = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions/current/reauth")
            .json_body(&json!({"id_token": ticket("alice", None)})),
    )
    .await;
    let unknown_field = invoke(
        &app,
        Function::Create,
        post(
            r#"{"id_token": "x", "user_id": "root"}"#,
            "application/json",
        ),
    )
    .await;
    let too_large = invoke(
        &app,
        Function::Create,
        post(
            &format!(r#"{{"id_token": "{}"}}"#, "x".repeat(64 * 1024)),
            "application/json",
        ),
    )
    .await;
    let not_json = invoke(&app, Function::Create, post("id_token=x", "text/plain")).await;

    assert_eq!(
        (no_session.status, no_session.error_code()),
        (401, "unauthenticated")
    );
    assert_eq!(
        (unknown_field.status, unknown_field.error_code()),
        (400, "invalid_request")
    );
    assert_eq!(
        (too_large.status, too_large.error_code()),
        (413, "payload_too_large")
    );
    assert_eq!(
        (not_json.status, not_json.error_code()),
        (415, "unsupported_media_type")
    );
    table.drop_table().await;
}
