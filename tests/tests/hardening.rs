//! Hardening, second round: what a black-box attack run found, each through the handlers with
//! real API Gateway events against DynamoDB Local. Every test here failed on the main it was
//! written against.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use session_shared::SignIn;
use session_shared::identity::mint_hs256;
use session_tests::{
    ALLOWED_ORIGIN, Event, Function, Payload, Reply, SECRET, TestTable, app, invoke, ticket,
    ticket_with,
};

async fn sign_in(app: &SignIn, body: Value) -> Reply {
    invoke(
        app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").json_body(&body),
    )
    .await
}

async fn validate(app: &SignIn, token: &str) -> Reply {
    invoke(
        app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(token),
    )
    .await
}

fn code(reply: &Reply) -> (u16, &str) {
    (reply.status, reply.error_code())
}

/// `reply` is a 400 `invalid_request` whose message says `says`.
fn assert_bad_request(reply: &Reply, says: &str, context: &str) {
    assert_eq!(
        code(reply),
        (400, "invalid_request"),
        "{context}: {}",
        reply.body
    );
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(says), "{context}: {message}");
}

#[tokio::test]
async fn an_auth_time_in_the_future_or_not_in_seconds_is_refused_at_sign_in_and_reauth() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let now = chrono::Utc::now().timestamp();
    let with_auth_time = |auth_time: Value| {
        ticket_with("alice", None, |c| {
            c.extra.insert("auth_time".into(), auth_time);
        })
    };
    let future = [
        json!(now + 10 * 365 * 86_400),
        json!(now * 1000),
        json!(now as f64 - 0.5),
    ];
    for auth_time in &future {
        let reply = sign_in(&app, json!({"id_token": with_auth_time(auth_time.clone())})).await;
        assert_eq!(
            code(&reply),
            (401, "invalid_token"),
            "{auth_time}: {}",
            reply.body
        );
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("auth_time")
        );
    }
    let signed_in = sign_in(&app, json!({"id_token": ticket("alice", None)})).await;
    assert_eq!(signed_in.status, 201, "{}", signed_in.body);
    let token = signed_in.cookie_token();
    for auth_time in &future {
        let reply = invoke(
            &app,
            Function::Create,
            Event::new(Payload::V2, "POST", "/sessions/current/reauth")
                .session_cookie(&token)
                .json_body(&json!({"id_token": with_auth_time(auth_time.clone())})),
        )
        .await;
        assert_eq!(
            code(&reply),
            (401, "invalid_token"),
            "{auth_time}: {}",
            reply.body
        );
    }
    // The session and its proof are untouched.
    let after = validate(&app, &token).await;
    assert_eq!(after.status, 200);
    assert_eq!(
        after.body["authenticated_at"],
        signed_in.body["authenticated_at"]
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_sign_out_with_a_token_of_the_other_transport_is_401_and_ends_nothing() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let bearer = session_tests::bearer_signed_in(&app, "cli").await;

    // A bearer session's token in the cookie.
    let out = invoke(
        &app,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current").session_cookie(&bearer),
    )
    .await;

    assert_eq!(code(&out), (401, "invalid_token"), "{}", out.body);
    assert!(out.set_cookies.is_empty(), "{:?}", out.set_cookies);
    let still = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current")
            .without_header("origin")
            .bearer(&bearer),
    )
    .await;
    assert_eq!(
        still.status, 200,
        "the session was not ended: {}",
        still.body
    );
    table.drop_table().await;
}

#[tokio::test]
async fn prototype_keys_in_session_data_are_refused_at_any_depth() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let alice = ticket("alice", None);
    for data in [
        json!({"__proto__": {"roles": ["admin"]}}),
        json!({"prefs": {"constructor": {"prototype": 1}}}),
        json!({"list": [{"prototype": true}]}),
    ] {
        let reply = sign_in(&app, json!({"id_token": alice, "data": data})).await;
        assert_eq!(
            code(&reply),
            (400, "invalid_request"),
            "{data}: {}",
            reply.body
        );
    }
    assert!(table.token_items().await.is_empty(), "no session written");
    // Refused before the ticket was used: it still signs in.
    let signed_in = sign_in(&app, json!({"id_token": alice, "data": {"cart": 1}})).await;
    assert_eq!(signed_in.status, 201, "{}", signed_in.body);
    let token = signed_in.cookie_token();
    for patch in [
        json!({"constructor": 1}),
        json!({"cart": {"__proto__": null}}),
    ] {
        let reply = invoke(
            &app,
            Function::Manage,
            Event::new(Payload::V2, "PATCH", "/sessions/current")
                .session_cookie(&token)
                .json_body(&json!({"data": patch})),
        )
        .await;
        assert_eq!(
            code(&reply),
            (400, "invalid_request"),
            "{patch}: {}",
            reply.body
        );
    }
    let after = validate(&app, &token).await;
    assert_eq!(after.body["data"], json!({"cart": 1}));
    assert_eq!(after.body["version"], 1);
    table.drop_table().await;
}

#[tokio::test]
async fn a_member_named_twice_in_a_body_or_a_ticket_is_refused() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let signed_in = sign_in(&app, json!({"id_token": ticket("alice", None)})).await;
    let token = signed_in.cookie_token();

    let patch = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "PATCH", "/sessions/current")
            .session_cookie(&token)
            .raw_body(
                r#"{"data": {"plan": "free"}, "data": {"plan": "pro"}}"#,
                Some("application/json"),
            ),
    )
    .await;
    assert_eq!(code(&patch), (400, "invalid_request"), "{}", patch.body);
    assert!(
        patch.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("duplicate member `data`")
    );

    // A ticket naming its tenant twice, signed: which tenant it speaks for would be a guess.
    let now = chrono::Utc::now().timestamp();
    let payload = format!(
        r#"{{"sub":"bob","iss":"{iss}","aud":"{aud}","iat":{now},"exp":{exp},"tenant_id":"acme","tenant_id":"evil"}}"#,
        iss = session_tests::ISSUER,
        aud = session_tests::AUDIENCE,
        exp = now + 300,
    );
    let raw = serde_json::value::RawValue::from_string(payload).unwrap();
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &raw,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let reply = sign_in(&app, json!({"id_token": forged})).await;
    assert_eq!(code(&reply), (401, "invalid_token"), "{}", reply.body);
    // The control: the same claims, each once, sign in.
    let mut claims = session_tests::ticket_claims("bob");
    claims.extra.insert("tenant_id".into(), "acme".into());
    let fine = sign_in(
        &app,
        json!({"id_token": mint_hs256(&claims, SECRET.as_bytes()).unwrap()}),
    )
    .await;
    assert_eq!(fine.status, 201, "{}", fine.body);
    table.drop_table().await;
}

#[tokio::test]
async fn two_authorization_headers_are_refused_in_either_payload_format() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let bearer = session_tests::bearer_signed_in(&app, "cli").await;
    let other = "A".repeat(43);

    for payload in [Payload::V1, Payload::V2] {
        for (first, second) in [(&bearer, &other), (&other, &bearer)] {
            let reply = invoke(
                &app,
                Function::Validate,
                Event::new(payload, "GET", "/sessions/current")
                    .bearer(first)
                    .bearer(second),
            )
            .await;
            assert_bad_request(&reply, "one Authorization", &format!("{payload:?}"));
        }
        // One header: fine.
        let one = invoke(
            &app,
            Function::Validate,
            Event::new(payload, "GET", "/sessions/current").bearer(&bearer),
        )
        .await;
        assert_eq!(one.status, 200, "{payload:?}: {}", one.body);
    }
    table.drop_table().await;
}

#[tokio::test]
async fn a_sign_in_with_the_ticket_in_the_body_and_no_cookie_needs_no_origin() {
    let table = TestTable::new().await;
    let app = app(
        &table,
        &[(
            "SESSION_PROFILES",
            r#"{"remember": {"idle": "30d", "absolute": "90d"}}"#,
        )],
    );
    // The README's "Lifetime profiles" example: curl, the ticket in the body, no cookie jar yet.
    let reply = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .without_header("origin")
            .json_body(&json!({"id_token": ticket("alice", None), "profile": "remember"})),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["profile"], "remember");

    // With a cookie, saying nothing of where it comes from is refused, and the message says
    // why: the cookies.
    let with_cookie = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .without_header("origin")
            .cookie("theme=dark")
            .json_body(&json!({"id_token": ticket("alice", None)})),
    )
    .await;
    assert_eq!(
        code(&with_cookie),
        (403, "csrf_rejected"),
        "{}",
        with_cookie.body
    );
    assert!(
        with_cookie.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("carries cookies"),
        "{}",
        with_cookie.body
    );
    // A foreign page is refused whatever it carries (login CSRF with the attacker's ticket).
    let foreign = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .without_header("origin")
            .header("Origin", "https://evil.example")
            .json_body(&json!({"id_token": ticket("mallory", None)})),
    )
    .await;
    assert_eq!(code(&foreign), (403, "csrf_rejected"), "{}", foreign.body);
    table.drop_table().await;
}

#[tokio::test]
async fn token_in_body_is_refused_when_a_referer_alone_says_a_page_sent_it() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let reply = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .without_header("origin")
            .header("Referer", &format!("{ALLOWED_ORIGIN}/login"))
            .json_body(&json!({"id_token": ticket("alice", None), "token_in_body": true})),
    )
    .await;
    assert_eq!(code(&reply), (403, "forbidden"), "{}", reply.body);
    assert!(reply.body.get("token").is_none());
    table.drop_table().await;
}

#[tokio::test]
async fn a_preflight_answer_is_not_cacheable() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let reply = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "OPTIONS", "/sessions/current")
            .header("Origin", ALLOWED_ORIGIN)
            .header("Access-Control-Request-Method", "DELETE"),
    )
    .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    table.drop_table().await;
}

#[tokio::test]
async fn a_header_with_control_characters_is_a_400_not_a_failed_invocation() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    for payload in [Payload::V2, Payload::V1] {
        let reply = invoke(
            &app,
            Function::Validate,
            Event::new(payload, "GET", "/sessions/current").header("X-Trace", "a\u{1}b"),
        )
        .await;
        assert_bad_request(&reply, "x-trace", &format!("{payload:?}"));
    }
    table.drop_table().await;
}

#[tokio::test]
async fn two_cookie_lines_with_two_session_cookies_are_refused_like_two_in_one_line() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let alice = sign_in(&app, json!({"id_token": ticket("alice", None)})).await;
    let bob = sign_in(&app, json!({"id_token": ticket("bob", None)})).await;
    let (alice, bob) = (alice.cookie_token(), bob.cookie_token());

    // A REST API event keeps both header lines (`multiValueHeaders`); before, one of them
    // replaced the other and the request was served as that session.
    let two_lines = Event::new(Payload::V1, "GET", "/sessions/current")
        .header("Cookie", &format!("__Host-session={alice}"))
        .header("Cookie", &format!("__Host-session={bob}"));
    let reply = invoke(&app, Function::Validate, two_lines).await;
    assert_bad_request(&reply, "cookie", "two Cookie lines");

    // HTTP/2 may split one Cookie header into several lines: other cookies beside the
    // session's are read as one header.
    let split = Event::new(Payload::V1, "GET", "/sessions/current")
        .header("Cookie", "theme=dark")
        .header("Cookie", &format!("__Host-session={alice}"));
    let reply = invoke(&app, Function::Validate, split).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["user_id"], "alice");
    table.drop_table().await;
}
