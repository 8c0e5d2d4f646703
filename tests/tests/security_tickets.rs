//! Login tickets and trusted callers through the handlers: single use (with and without a
//! `jti`), refused header extensions, `token_in_body` kept from browsers, a failed sign-in
//! giving the use back, and the IAM-signed trusted-caller sign-in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use session_tests::{ALLOWED_ORIGIN, Event, Function, Payload, TestTable, app, invoke, ticket};

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
