//! Who a session belongs to and how fresh its proof is, through the handlers: users keyed by
//! issuer, tenant and subject; when and how the user authenticated; re-authentication.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use session_tests::{
    Event, Function, Payload, TestTable, app, invoke, refresh_with_cookie, signed_in, ticket,
};

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
            .iam_signed("arn:aws:iam::123456789012:role/admin");
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
