//! Server-only session data (`SESSION_PROTECTED_DATA_KEYS`) through the handlers: the holder can
//! neither set nor remove it; IAM-signed callers can, and the authorizer forwards it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use session_tests::{Event, Function, Payload, TestTable, app, invoke, signed_in, ticket};

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
    .iam_signed("arn:aws:iam::123456789012:role/backend")
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
            .iam_signed("arn:aws:iam::123456789012:role/backend")
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
    let signed = |event: Event| event.iam_signed("arn:aws:iam::123456789012:role/backend");

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
