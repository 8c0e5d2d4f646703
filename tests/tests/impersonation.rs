//! Impersonation (issue 24 item 4): an IAM caller mints a one-time ticket for a user; support
//! signs in with it as the user, named as the session's actor everywhere (the session JSON, the
//! device lists, the authorizer context, every event, the user's own history), on a short
//! lifetime of its own, outside the per-user cap, and refused each action only the user may
//! take. Through the real handlers on DynamoDB Local, one fresh table per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use session_shared::domain::{
    Actor, ImpersonationGrant, ImpersonationTicket, TenantId, UserId, UserKey,
};
use session_tests::{
    AuthorizerEvent, Event, Function, ISSUER, Payload, Reply, SUPPORT_PRINCIPAL, TestTable, app,
    authorize, current, impersonating, impersonation_ticket, invoke, redeem, session_id_of,
    signed_in_as, ticket,
};

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

async fn call(app: &session_shared::SignIn, function: Function, event: Event) -> Reply {
    invoke(app, function, event).await
}

/// `method path` with the session cookie `token`.
async fn as_holder(
    app: &session_shared::SignIn,
    function: Function,
    method: &str,
    path: &str,
    token: &str,
) -> Reply {
    call(
        app,
        function,
        Event::new(Payload::V2, method, path).session_cookie(token),
    )
    .await
}

/// `POST path` (a sign-in or a re-authentication) with the session cookie `token` and `body`.
async fn signing_in(app: &session_shared::SignIn, path: &str, token: &str, body: &Value) -> Reply {
    call(
        app,
        Function::Create,
        Event::new(Payload::V2, "POST", path)
            .session_cookie(token)
            .json_body(body),
    )
    .await
}

fn forbidden(reply: &Reply) -> bool {
    (reply.status, reply.error_code()) == (403, "impersonation_forbidden")
}

fn acme_alice() -> UserKey {
    UserKey::of(
        Some(ISSUER),
        Some(&TenantId::parse("acme").unwrap()),
        &UserId::parse("alice").unwrap(),
    )
}

#[tokio::test]
async fn support_signs_in_as_the_user_with_a_ticket_and_is_named_as_actor_everywhere() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let alice = signed_in_as(&app, "alice", Some("acme")).await;
    let minted = call(
        &app,
        Function::Admin,
        Event::new(Payload::V2, "POST", "/admin/users/alice/impersonation")
            .iam_signed(SUPPORT_PRINCIPAL)
            .query("tenant_id", "acme")
            .query("issuer", ISSUER)
            .json_body(&json!({"reason": "  case 42: cart is empty  "})),
    )
    .await;
    assert_eq!(minted.status, 201, "{}", minted.body);
    assert_eq!(minted.header("cache-control"), Some("no-store"));
    let actor = json!({"principal": SUPPORT_PRINCIPAL, "reason": "case 42: cart is empty"});
    assert_eq!(minted.body["actor"], actor);
    assert_eq!(
        (&minted.body["user_id"], &minted.body["tenant_id"]),
        (&json!("alice"), &json!("acme"))
    );
    let lifetime = time(&minted.body["expires_at"]) - Utc::now();
    assert!(
        lifetime <= Duration::minutes(5) && lifetime > Duration::minutes(4),
        "{lifetime}"
    );
    let ticket = minted.body["impersonation_ticket"].as_str().unwrap();
    assert!(
        table
            .items()
            .await
            .iter()
            .all(|item| !format!("{item:?}").contains(ticket)),
        "only the ticket's hash is stored"
    );

    let support = redeem(&app, ticket, |body| body).await;

    assert_eq!(support.status, 201, "{}", support.body);
    let session = &support.body;
    assert_eq!(session["user_id"], "alice");
    assert_eq!(session["tenant_id"], "acme");
    assert_eq!(session["actor"], actor);
    assert_eq!(session["profile"], "impersonation");
    assert_eq!(session["amr"], json!(["impersonation"]));
    assert_eq!(
        time(&session["absolute_expires_at"]) - time(&session["created_at"]),
        Duration::hours(1),
        "the built-in short lifetime"
    );
    let cookie = support.only_cookie().to_owned();
    assert!(
        !cookie.contains("Max-Age"),
        "a cookie that ends with the browser: {cookie}"
    );
    let token = support.cookie_token();
    assert_eq!(current(&app, &token).await.body["actor"], actor);
    let own = current(&app, &alice).await;
    assert!(own.body.get("actor").is_none(), "{}", own.body);
    // The authorizer tells the app who acts (and nothing for the user's own session).
    let context = authorize(&app, AuthorizerEvent::new().session_cookie(&token)).await;
    assert_eq!(context["isAuthorized"], true, "{context}");
    assert_eq!(context["context"]["actor"], SUPPORT_PRINCIPAL);
    assert_eq!(context["context"]["user_id"], "alice");
    let users = authorize(&app, AuthorizerEvent::new().session_cookie(&alice)).await;
    assert_eq!(users["context"]["actor"], "");
    // The user sees support among their devices, and so does the administrator.
    let devices = as_holder(&app, Function::Manage, "GET", "/sessions", &alice).await;
    let listed: Vec<&Value> = devices.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.get("actor").is_some())
        .collect();
    assert_eq!(listed.len(), 1, "{}", devices.body);
    assert_eq!(listed[0]["actor"], actor);
    assert_eq!(listed[0]["session_id"], session["session_id"]);
    let admin = call(
        &app,
        Function::Admin,
        Event::new(Payload::V2, "GET", "/admin/users/alice/sessions")
            .iam_signed(SUPPORT_PRINCIPAL)
            .query("tenant_id", "acme")
            .query("issuer", ISSUER),
    )
    .await;
    let actors: Vec<&Value> = admin.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["actor"])
        .collect();
    assert_eq!(actors.len(), 2, "{}", admin.body);
    assert!(actors.contains(&&actor) && actors.contains(&&Value::Null));
    // Every event of the support session names the actor; the user's own history shows it.
    let signed_out = as_holder(
        &app,
        Function::Logout,
        "DELETE",
        "/sessions/current",
        &token,
    )
    .await;
    assert_eq!(signed_out.status, 204);
    table.deliver_stream_to_audit_trail().await;
    let history = as_holder(
        &app,
        Function::Manage,
        "GET",
        "/sessions/current/events",
        &alice,
    )
    .await;
    let of_support: Vec<&Value> = history.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["session_id"] == session["session_id"])
        .collect();
    let kinds: Vec<&str> = of_support
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    // (The authorizer's request came with another user agent: an anomaly between the two.)
    assert_eq!(
        kinds.first(),
        Some(&"session.revoked"),
        "newest first: {kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"session.created"), "{kinds:?}");
    assert!(
        of_support.iter().all(|e| e["actor"] == actor),
        "{of_support:?}"
    );
    let (trail, _) = table
        .store()
        .history(&acme_alice(), 100, None)
        .await
        .unwrap();
    let users_own = trail
        .iter()
        .find(|e| e["data"]["session_id"] != session["session_id"])
        .unwrap();
    assert!(users_own["data"].get("actor").is_none(), "{users_own}");
    table.drop_table().await;
}

#[tokio::test]
async fn an_impersonation_ticket_signs_in_once_and_never_after_it_expires() {
    let table = TestTable::new().await;
    // Login tickets may be reused here: an impersonation ticket still may not.
    let app = app(&table, &[("SESSION_SINGLE_USE_TICKETS", "false")]);
    let ticket = impersonation_ticket(&app, "alice", None, "case 7").await;
    assert_eq!(redeem(&app, &ticket, |b| b).await.status, 201);

    let again = redeem(&app, &ticket, |b| b).await;

    assert_eq!((again.status, again.error_code()), (401, "ticket_reused"));
    // A ticket past its five minutes, one never minted, one of the wrong shape: all refused.
    let expired = ImpersonationTicket::generate().unwrap();
    let grant = ImpersonationGrant {
        user_id: UserId::parse("alice").unwrap(),
        tenant_id: None,
        issuer: Some(ISSUER.to_owned()),
        actor: Actor {
            principal: SUPPORT_PRINCIPAL.to_owned(),
            reason: None,
        },
        expires_at: Utc::now() - Duration::seconds(1),
    };
    table
        .store()
        .put_grant(&expired.hash(), &grant)
        .await
        .unwrap();
    let never = ImpersonationTicket::generate().unwrap();
    for ticket in [
        expired.expose_secret(),
        never.expose_secret(),
        "not-a-ticket",
    ] {
        let reply = redeem(&app, ticket, |b| b).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (401, "invalid_token"),
            "{}",
            reply.body
        );
    }
    // An impersonation ticket is not a session token, and goes alone.
    let fresh = impersonation_ticket(&app, "alice", None, "case 7").await;
    let as_cookie = current(&app, &fresh).await;
    assert_eq!(as_cookie.status, 401);
    let with_login_ticket = redeem(&app, &fresh, |mut b| {
        b["id_token"] = json!(ticket_for("alice"));
        b
    })
    .await;
    assert_eq!(
        (with_login_ticket.status, with_login_ticket.error_code()),
        (400, "invalid_request")
    );
    assert_eq!(redeem(&app, &fresh, |b| b).await.status, 201, "unused");
    table.drop_table().await;
}

fn ticket_for(user: &str) -> String {
    ticket(user, None)
}

#[tokio::test]
async fn only_an_iam_caller_mints_a_ticket_and_only_with_a_reason() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let alice = signed_in_as(&app, "alice", None).await;
    let path = "/admin/users/alice/impersonation";
    let body = json!({"reason": "case 9"});
    for event in [
        Event::new(Payload::V2, "POST", path).json_body(&body),
        Event::new(Payload::V2, "POST", path)
            .session_cookie(&alice)
            .json_body(&body),
        Event::new(Payload::V1, "POST", path).json_body(&body),
    ] {
        let reply = call(&app, Function::Admin, event).await;
        assert_eq!((reply.status, reply.error_code()), (403, "forbidden"));
    }
    let signed = || Event::new(Payload::V2, "POST", path).iam_signed(SUPPORT_PRINCIPAL);
    for (event, status) in [
        (signed(), 400),
        (signed().json_body(&json!({})), 400),
        (signed().json_body(&json!({"reason": "   "})), 400),
        (signed().json_body(&json!({"reason": "x".repeat(201)})), 400),
        (signed().json_body(&json!({"reason": "a\u{7}b"})), 400),
        (
            signed().json_body(&json!({"reason": "ok", "ttl": 3600})),
            400,
        ),
        (signed().raw_body("reason=case", Some("text/plain")), 415),
        (
            signed().json_body(&json!({"reason": "x".repeat(100_000)})),
            413,
        ),
    ] {
        let reply = call(&app, Function::Admin, event).await;
        assert_eq!(reply.status, status, "{}", reply.body);
    }
    assert!(
        table.items_of_kind("impersonation").await.is_empty(),
        "nothing minted"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn an_impersonation_session_may_not_list_the_users_sessions() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    signed_in_as(&app, "alice", None).await;
    let support = impersonating(&app, "alice", None).await;

    let listed = as_holder(&app, Function::Manage, "GET", "/sessions", &support).await;

    assert!(forbidden(&listed), "{}", listed.body);
    assert!(listed.set_cookies.is_empty(), "the session stays");
    assert_eq!(current(&app, &support).await.status, 200);
    table.drop_table().await;
}

#[tokio::test]
async fn an_impersonation_session_may_not_end_the_users_other_sessions() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let alice = signed_in_as(&app, "alice", None).await;
    let alices_id = session_id_of(&app, &alice).await;
    let support = impersonating(&app, "alice", None).await;

    let one = as_holder(
        &app,
        Function::Manage,
        "DELETE",
        &format!("/sessions/{alices_id}"),
        &support,
    )
    .await;
    let others = call(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "DELETE", "/sessions")
            .session_cookie(&support)
            .query("keep_current", "true"),
    )
    .await;
    let all = as_holder(&app, Function::Manage, "DELETE", "/sessions", &support).await;

    for reply in [&one, &others, &all] {
        assert!(forbidden(reply), "{}", reply.body);
    }
    assert_eq!(current(&app, &alice).await.status, 200, "alice goes on");
    assert_eq!(current(&app, &support).await.status, 200);
    // Support may end its own session by id; the user may end support's.
    let support_id = session_id_of(&app, &support).await;
    let second = impersonating(&app, "alice", None).await;
    let ended_by_alice = as_holder(
        &app,
        Function::Manage,
        "DELETE",
        &format!("/sessions/{support_id}"),
        &alice,
    )
    .await;
    assert_eq!(ended_by_alice.status, 204, "{}", ended_by_alice.body);
    assert_eq!(current(&app, &support).await.status, 401);
    let second_id = session_id_of(&app, &second).await;
    let own = as_holder(
        &app,
        Function::Manage,
        "DELETE",
        &format!("/sessions/{second_id}"),
        &second,
    )
    .await;
    assert_eq!(own.status, 204, "{}", own.body);
    assert_eq!(current(&app, &alice).await.status, 200);
    table.drop_table().await;
}

#[tokio::test]
async fn an_impersonation_session_may_not_reauthenticate() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let support = impersonating(&app, "alice", None).await;
    let before = current(&app, &support).await.body;
    let alices_ticket = ticket_for("alice");

    let reauth = signing_in(
        &app,
        "/sessions/current/reauth",
        &support,
        &json!({"id_token": alices_ticket}),
    )
    .await;

    assert!(forbidden(&reauth), "{}", reauth.body);
    let after = current(&app, &support).await.body;
    assert_eq!(after["authenticated_at"], before["authenticated_at"]);
    assert_eq!(after["amr"], json!(["impersonation"]));
    // The user's ticket was not spent on it.
    let users = call(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&alices_ticket),
    )
    .await;
    assert_eq!(users.status, 201, "{}", users.body);
    table.drop_table().await;
}

#[tokio::test]
async fn an_impersonation_session_never_passes_a_recent_authentication_check() {
    let table = TestTable::new().await;
    let fresh = r#"{"POST /account/email": "1h"}"#;
    let app = app(&table, &[("SESSION_FRESH_ROUTES", fresh)]);
    let alice = signed_in_as(&app, "alice", None).await;
    // Signed in a moment ago, yet not by the user.
    let support = impersonating(&app, "alice", None).await;

    let checked = call(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current")
            .session_cookie(&support)
            .query("max_auth_age", "3600"),
    )
    .await;
    let sensitive = |token: &str| {
        AuthorizerEvent::new()
            .session_cookie(token)
            .route_key("POST /account/email")
    };
    let by_support = authorize(&app, sensitive(&support)).await;
    let by_alice = authorize(&app, sensitive(&alice)).await;
    let elsewhere = authorize(
        &app,
        AuthorizerEvent::new()
            .session_cookie(&support)
            .route_key("GET /orders"),
    )
    .await;

    assert!(forbidden(&checked), "{}", checked.body);
    assert!(checked.set_cookies.is_empty(), "the session stays");
    assert_eq!(by_support["isAuthorized"], false, "{by_support}");
    assert_eq!(by_alice["isAuthorized"], true, "{by_alice}");
    assert_eq!(elsewhere["isAuthorized"], true, "{elsewhere}");
    table.drop_table().await;
}

#[tokio::test]
async fn an_impersonation_session_may_not_start_another_session() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let support = impersonating(&app, "alice", None).await;
    let next = impersonation_ticket(&app, "bob", None, "case 8").await;
    let alices_ticket = ticket_for("alice");

    let with_login_ticket = signing_in(
        &app,
        "/sessions",
        &support,
        &json!({"id_token": alices_ticket}),
    )
    .await;
    let with_impersonation = signing_in(
        &app,
        "/sessions",
        &support,
        &json!({"impersonation_ticket": next}),
    )
    .await;

    assert!(forbidden(&with_login_ticket), "{}", with_login_ticket.body);
    assert!(
        forbidden(&with_impersonation),
        "{}",
        with_impersonation.body
    );
    assert_eq!(current(&app, &support).await.status, 200, "it stays");
    // Neither ticket was spent; without the impersonation cookie both sign in.
    let users = call(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&alices_ticket),
    )
    .await;
    assert_eq!(users.status, 201, "{}", users.body);
    // A user's own cookie beside a sign-in is no obstacle.
    let alice = users.cookie_token();
    let bobs = signing_in(
        &app,
        "/sessions",
        &alice,
        &json!({"impersonation_ticket": next}),
    )
    .await;
    assert_eq!(bobs.status, 201, "{}", bobs.body);
    table.drop_table().await;
}

#[tokio::test]
async fn an_impersonation_names_no_profile_and_no_sign_in_gets_its_profile() {
    let table = TestTable::new().await;
    let profiles = r#"{"remember": {"idle": "30d", "absolute": "90d"}}"#;
    let app = app(&table, &[("SESSION_PROFILES", profiles)]);
    let ticket = impersonation_ticket(&app, "alice", None, "case 3").await;

    let remembered = redeem(&app, &ticket, |mut body| {
        body["profile"] = json!("remember");
        body
    })
    .await;
    let posing = call(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .bearer(&ticket_for("alice"))
            .json_body(&json!({"profile": "impersonation"})),
    )
    .await;

    assert_eq!(
        (remembered.status, remembered.error_code()),
        (403, "profile_not_allowed")
    );
    assert_eq!(
        (posing.status, posing.error_code()),
        (403, "profile_not_allowed")
    );
    assert_eq!(redeem(&app, &ticket, |b| b).await.status, 201, "unused");
    table.drop_table().await;
}

#[tokio::test]
async fn an_impersonation_session_neither_counts_toward_the_cap_nor_evicts() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_MAX_PER_USER", "2")]);
    let first = signed_in_as(&app, "alice", None).await;
    let second = signed_in_as(&app, "alice", None).await;

    let support = impersonating(&app, "alice", None).await;

    for token in [&first, &second, &support] {
        assert_eq!(current(&app, token).await.status, 200, "nobody evicted");
    }
    // The user's third sign-in evicts the user's oldest session, not support's.
    let third = signed_in_as(&app, "alice", None).await;
    let evicted = current(&app, &first).await;
    assert_eq!(
        (evicted.status, evicted.error_code()),
        (401, "session_evicted")
    );
    for token in [&second, &third, &support] {
        assert_eq!(current(&app, token).await.status, 200);
    }
    table.drop_table().await;
}

#[tokio::test]
async fn an_impersonation_sign_in_is_counted_as_one_not_as_a_ticket_sign_in() {
    use session_shared::metrics::{Metric, scope};
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let ticket = impersonation_ticket(&app, "alice", None, "case 5").await;

    let (reply, line) = scope("Sessions/test", redeem(&app, &ticket, |b| b)).await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    let line: Value = serde_json::from_str(&line.expect("metrics printed")).unwrap();
    assert_eq!(line[Metric::SignInsImpersonation.name()], 1.0);
    assert!(line.get(Metric::SignInsTicket.name()).is_none(), "{line}");
    table.drop_table().await;
}
