//! Guest sessions (`POST /sessions/guest`) through the real handlers on DynamoDB Local: a
//! visitor keeps a cart before signing in, signing in carries it over once (however many tabs
//! sign in at the same moment) and ends the guest session, the authorizer and the session
//! routes keep guests to what they may do, creation is bounded per client, and server-only
//! keys never come from a guest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use session_shared::SignIn;
use session_tests::{
    AuthorizerEvent, Event, Function, Payload, Reply, TestTable, app, authorize, invoke, ticket,
};

fn new_guest_event() -> Event {
    Event::new(Payload::V2, "POST", "/sessions/guest")
}

/// A new guest session from `ip` (201 checked): its cookie token and JSON.
async fn guest_from(app: &SignIn, ip: &str) -> (String, Value) {
    let reply = invoke(
        app,
        Function::Create,
        new_guest_event().client(ip, "shop/1"),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    (reply.cookie_token(), reply.body)
}

async fn guest(app: &SignIn) -> String {
    guest_from(app, "198.51.100.7").await.0
}

async fn patch(app: &SignIn, token: &str, data: Value) -> Reply {
    invoke(
        app,
        Function::Manage,
        Event::new(Payload::V2, "PATCH", "/sessions/current")
            .session_cookie(token)
            .json_body(&json!({ "data": data })),
    )
    .await
}

async fn current(app: &SignIn, token: &str) -> Reply {
    session_tests::current(app, token).await
}

async fn sign_out(app: &SignIn, token: &str) -> Reply {
    invoke(
        app,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current").session_cookie(token),
    )
    .await
}

/// Alice signs in with `body` (a login ticket added) while presenting the guest cookie.
async fn sign_in_beside(app: &SignIn, guest: &str, mut body: Value) -> Reply {
    body["id_token"] = json!(ticket("alice", None));
    invoke(
        app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .session_cookie(guest)
            .json_body(&body),
    )
    .await
}

/// The live heads in the table, as (user_id, data).
async fn live_sessions(table: &TestTable) -> Vec<(String, Value)> {
    table
        .items_of_kind("session")
        .await
        .iter()
        .map(|item| {
            let text = |name: &str| item[name].as_s().unwrap().clone();
            (
                text("user_id"),
                serde_json::from_str(&text("data")).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_guest_keeps_a_cart_and_signing_in_carries_it_over_while_the_guest_token_is_refused() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let (guest, body) = guest_from(&app, "198.51.100.7").await;
    assert_eq!(body["guest"], true);
    assert_eq!(body["profile"], "guest");
    let guest_id = body["session_id"].as_str().unwrap().to_owned();
    assert_eq!(body["user_id"], format!("guest:{guest_id}"));
    let patched = patch(&app, &guest, json!({"cart": [{"sku": "tea", "qty": 2}]})).await;
    assert_eq!(patched.status, 200, "{}", patched.body);

    let signed = sign_in_beside(&app, &guest, json!({"data": {"locale": "de"}})).await;

    assert_eq!(signed.status, 201, "{}", signed.body);
    assert_eq!(signed.body["guest"], false);
    assert_eq!(signed.body["user_id"], "alice");
    assert_eq!(
        signed.body["data"],
        json!({"cart": [{"sku": "tea", "qty": 2}], "locale": "de"})
    );
    assert_ne!(signed.body["session_id"], guest_id.as_str());
    let token = signed.cookie_token();
    assert_ne!(
        token, guest,
        "no fixation: the signed-in token is a new one"
    );
    let mine = current(&app, &token).await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.body["data"]["cart"][0]["sku"], "tea");
    let old = current(&app, &guest).await;
    assert_eq!(old.status, 401, "{}", old.body);
    assert_eq!(old.error_code(), "session_revoked");
    // Signing out of the signed-in session does not bring the guest session back.
    assert_eq!(sign_out(&app, &token).await.status, 204);
    assert_eq!(current(&app, &guest).await.status, 401);
    assert_eq!(current(&app, &token).await.status, 401);
    table.drop_table().await;
}

#[tokio::test]
async fn two_tabs_signing_in_at_once_with_one_guest_session_get_one_session_with_the_cart_once() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let guest = guest(&app).await;
    patch(&app, &guest, json!({"cart": ["tea"]})).await;

    // Each tab has its own login ticket (its own redirect), and the same guest cookie.
    let (one, two) = tokio::join!(
        sign_in_beside(&app, &guest, json!({})),
        sign_in_beside(&app, &guest, json!({}))
    );

    assert_eq!(one.status, 201, "{}", one.body);
    assert_eq!(two.status, 201, "{}", two.body);
    assert_eq!(one.body["session_id"], two.body["session_id"]);
    assert_eq!(
        one.cookie_token(),
        two.cookie_token(),
        "both tabs hold one session"
    );
    assert_eq!(
        live_sessions(&table).await,
        [("alice".to_owned(), json!({"cart": ["tea"]}))],
        "one signed-in session, the cart in it once, no guest left"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn another_user_signing_in_with_an_upgraded_guest_gets_a_session_without_its_data() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let guest = guest(&app).await;
    patch(&app, &guest, json!({"cart": ["tea"]})).await;
    assert_eq!(sign_in_beside(&app, &guest, json!({})).await.status, 201);

    let bob = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .session_cookie(&guest)
            .json_body(&json!({"id_token": ticket("bob", None)})),
    )
    .await;

    assert_eq!(bob.status, 201, "{}", bob.body);
    assert_eq!(bob.body["user_id"], "bob");
    assert_eq!(
        bob.body["data"],
        json!({}),
        "alice's cart never reaches bob"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn the_app_decides_whose_keys_win_and_server_only_keys_never_come_from_a_guest() {
    let table = TestTable::new().await;
    // The guest's `role` was written while `role` was not protected (an older configuration).
    let before = app(&table, &[]);
    let now = app(&table, &[("SESSION_PROTECTED_DATA_KEYS", "role")]);
    let guest_a = guest(&before).await;
    patch(
        &before,
        &guest_a,
        json!({"locale": "fr", "role": "admin", "cart": [1]}),
    )
    .await;
    let guest_b = guest(&before).await;
    patch(&before, &guest_b, json!({"locale": "fr", "cart": [2]})).await;
    let guest_c = guest(&before).await;
    patch(&before, &guest_c, json!({"cart": [3]})).await;

    let wins = sign_in_beside(&now, &guest_a, json!({"data": {"locale": "de"}})).await;
    let kept = sign_in_beside(
        &now,
        &guest_b,
        json!({"data": {"locale": "de"}, "guest_data": "sign_in_wins"}),
    )
    .await;
    let dropped = sign_in_beside(&now, &guest_c, json!({"guest_data": "discard"})).await;
    let bad = sign_in_beside(&now, &guest_c, json!({"guest_data": "mine"})).await;

    assert_eq!(wins.body["data"], json!({"locale": "fr", "cart": [1]}));
    assert_eq!(kept.body["data"], json!({"locale": "de", "cart": [2]}));
    assert_eq!(dropped.body["data"], json!({}));
    assert_eq!(
        current(&now, &guest_c).await.status,
        401,
        "it ended all the same"
    );
    assert_eq!(bad.status, 400);
    // Nor can a guest set one itself.
    let guest_d = guest(&now).await;
    let smuggled = patch(&now, &guest_d, json!({"role": "admin"})).await;
    assert_eq!(smuggled.status, 403);
    assert_eq!(smuggled.error_code(), "protected_data");
    let at_start = invoke(
        &now,
        Function::Create,
        new_guest_event().json_body(&json!({"data": {"role": "admin"}})),
    )
    .await;
    assert_eq!(at_start.status, 403);
    assert_eq!(at_start.error_code(), "protected_data");
    table.drop_table().await;
}

#[tokio::test]
async fn a_guest_is_refused_by_the_authorizer_on_a_normal_route_and_admitted_on_a_guest_route() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_GUEST_ROUTES", "GET /cart,PUT /cart")]);
    let guest = guest(&app).await;
    let alice = session_tests::signed_in(&app).await;

    let normal = authorize(&app, AuthorizerEvent::new().session_cookie(&guest)).await;
    let cart = authorize(
        &app,
        AuthorizerEvent::new()
            .route("GET /cart")
            .session_cookie(&guest),
    )
    .await;
    let alice_cart = authorize(
        &app,
        AuthorizerEvent::new()
            .route("GET /cart")
            .session_cookie(&alice),
    )
    .await;

    assert_eq!(normal["isAuthorized"], false);
    assert_eq!(cart["isAuthorized"], true);
    assert_eq!(cart["context"]["guest"], true);
    assert_eq!(alice_cart["isAuthorized"], true);
    assert_eq!(alice_cart["context"]["guest"], false);
    table.drop_table().await;
}

#[tokio::test]
async fn a_guest_may_use_and_end_itself_but_nothing_that_concerns_a_user() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let guest = guest(&app).await;
    let with_guest =
        |method: &str, path: &str| Event::new(Payload::V2, method, path).session_cookie(&guest);

    let devices = invoke(&app, Function::Manage, with_guest("GET", "/sessions")).await;
    let history = invoke(
        &app,
        Function::Manage,
        with_guest("GET", "/sessions/current/events"),
    )
    .await;
    let everywhere = invoke(&app, Function::Manage, with_guest("DELETE", "/sessions")).await;
    let fresh = invoke(
        &app,
        Function::Validate,
        with_guest("GET", "/sessions/current").query("max_auth_age", "3600"),
    )
    .await;
    let refreshed = invoke(
        &app,
        Function::Refresh,
        with_guest("POST", "/sessions/current/refresh"),
    )
    .await;

    for refused in [&devices, &history, &everywhere, &fresh] {
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert_eq!(refused.error_code(), "guest_forbidden");
    }
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_eq!(refreshed.body["guest"], true);
    let token = refreshed.cookie_token();
    assert_eq!(
        current(&app, &token).await.status,
        200,
        "the guest session stays"
    );
    assert_eq!(sign_out(&app, &token).await.status, 204);
    assert_eq!(current(&app, &token).await.status, 401);
    table.drop_table().await;
}

#[tokio::test]
async fn a_visitor_with_a_usable_session_keeps_it_instead_of_getting_a_second() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let (guest, body) = guest_from(&app, "198.51.100.7").await;
    let alice = session_tests::signed_in(&app).await;

    let again = invoke(
        &app,
        Function::Create,
        new_guest_event().session_cookie(&guest),
    )
    .await;
    let signed = invoke(
        &app,
        Function::Create,
        new_guest_event().session_cookie(&alice),
    )
    .await;

    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["session_id"], body["session_id"]);
    assert!(again.set_cookies.is_empty(), "the cookie stays as it is");
    assert_eq!(signed.status, 200);
    assert_eq!(signed.body["user_id"], "alice");
    assert_eq!(live_sessions(&table).await.len(), 2);
    table.drop_table().await;
}

#[tokio::test]
async fn guest_creation_answers_429_past_the_limit_per_client_and_window() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_GUEST_LIMIT", "2/1h")]);
    let from = |ip: &'static str| {
        let app = &app;
        async move { invoke(app, Function::Create, new_guest_event().client(ip, "bot/1")).await }
    };

    let first = from("203.0.113.9").await;
    let second = from("203.0.113.9").await;
    let third = from("203.0.113.9").await;
    let elsewhere = from("203.0.113.10").await;
    let v6_one = from("2001:db8:1:2::1").await;
    let v6_two = from("2001:db8:1:2:ffff::2").await;
    let v6_three = from("2001:db8:1:2:abcd::3").await;

    assert_eq!((first.status, second.status), (201, 201));
    assert_eq!(third.status, 429, "{}", third.body);
    assert_eq!(third.error_code(), "rate_limited");
    let retry_after: u32 = third.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert!(third.set_cookies.is_empty());
    assert_eq!(elsewhere.status, 201, "another client has its own count");
    assert_eq!((v6_one.status, v6_two.status), (201, 201));
    assert_eq!(v6_three.status, 429, "one IPv6 /64 is one client");
    assert_eq!(
        live_sessions(&table).await.len(),
        5,
        "nothing written past the limit"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_bearer_client_creates_a_guest_and_carries_it_over_with_guest_token() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let created = invoke(
        &app,
        Function::Create,
        new_guest_event()
            .without_header("origin")
            .json_body(&json!({"token_in_body": true, "data": {"cart": ["tea"]}})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.set_cookies.is_empty());
    let guest = created.body["token"].as_str().unwrap().to_owned();

    let signed = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .without_header("origin")
            .bearer(&ticket("alice", None))
            .json_body(&json!({"token_in_body": true, "guest_token": guest})),
    )
    .await;

    assert_eq!(signed.status, 201, "{}", signed.body);
    assert_eq!(signed.body["data"], json!({"cart": ["tea"]}));
    let old = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").bearer(&guest),
    )
    .await;
    assert_eq!(old.status, 401);
    table.drop_table().await;
}

#[tokio::test]
async fn guest_sessions_are_in_no_user_listing_and_their_events_say_guest() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let guest = guest(&app).await;
    patch(&app, &guest, json!({"cart": ["tea"]})).await;
    let signed = sign_in_beside(&app, &guest, json!({})).await;
    assert_eq!(signed.status, 201);

    let indexed = table
        .items()
        .await
        .into_iter()
        .filter(|item| item.contains_key("gsi1pk"))
        .count();
    assert_eq!(
        indexed, 1,
        "alice's head in sessions_by_user; never the guest's"
    );
    // The guest's data is kept a day after it was carried over, not until its 30-day deadline.
    let tombstone = &table.items_of_kind("revoked").await[0];
    let ttl: i64 = tombstone["ttl"].as_n().unwrap().parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now + 86_000..=now + 86_400).contains(&ttl),
        "{ttl} vs {now}"
    );
    table.deliver_stream_to_audit_trail().await;
    let trail = table.event_names("alice").await;
    assert_eq!(trail, ["created"], "the guest's own history is nobody's");
    let history = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "GET", "/sessions/current/events")
            .session_cookie(&signed.cookie_token()),
    )
    .await;
    let guest_id = &history.body["events"][0]["detail"]["upgraded_from"];
    assert!(guest_id.is_string(), "{}", history.body);
    assert_ne!(guest_id, &signed.body["session_id"]);
    table.drop_table().await;
}

#[tokio::test]
async fn bad_input_to_guest_creation_is_refused_and_writes_nothing() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_MAX_DATA_BYTES", "64")]);

    let unknown = invoke(
        &app,
        Function::Create,
        new_guest_event().json_body(&json!({"user_id": "alice"})),
    )
    .await;
    let large = invoke(
        &app,
        Function::Create,
        new_guest_event().json_body(&json!({"data": {"note": "x".repeat(100)}})),
    )
    .await;
    let text = invoke(
        &app,
        Function::Create,
        new_guest_event().raw_body("cart=tea", Some("text/plain")),
    )
    .await;
    let browser_bearer = invoke(
        &app,
        Function::Create,
        new_guest_event().json_body(&json!({"token_in_body": true})),
    )
    .await;

    assert_eq!(
        (unknown.status, unknown.error_code()),
        (400, "invalid_request")
    );
    assert_eq!(
        (large.status, large.error_code()),
        (413, "payload_too_large")
    );
    assert_eq!(
        (text.status, text.error_code()),
        (415, "unsupported_media_type")
    );
    assert_eq!(
        (browser_bearer.status, browser_bearer.error_code()),
        (403, "forbidden")
    );
    assert!(
        table.items().await.is_empty(),
        "nothing written, nothing counted"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_guest_presenting_a_token_rotated_a_moment_ago_gets_its_successor_back() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let guest = guest(&app).await;
    let refreshed = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh").session_cookie(&guest),
    )
    .await;
    let successor = refreshed.cookie_token();

    let again = invoke(
        &app,
        Function::Create,
        new_guest_event().session_cookie(&guest),
    )
    .await;

    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(
        again.cookie_token(),
        successor,
        "the other tab's cookie is handed over"
    );
    assert_eq!(again.body["guest"], true);
    assert_eq!(live_sessions(&table).await.len(), 1, "still one session");
    table.drop_table().await;
}

#[tokio::test]
async fn merged_data_too_large_is_413_and_leaves_the_guest_and_the_ticket_usable() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_MAX_DATA_BYTES", "64")]);
    let guest = guest(&app).await;
    let patched = patch(&app, &guest, json!({"cart": "x".repeat(30)})).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let ticket = ticket("alice", None);
    let sign_in = |body: Value| {
        invoke(
            &app,
            Function::Create,
            Event::new(Payload::V2, "POST", "/sessions")
                .session_cookie(&guest)
                .json_body(&body),
        )
    };

    let too_big = sign_in(json!({"id_token": ticket, "data": {"note": "y".repeat(30)}})).await;
    let kept = current(&app, &guest).await;
    let again = sign_in(json!({
        "id_token": ticket, "data": {"note": "y".repeat(30)}, "guest_data": "discard"
    }))
    .await;

    assert_eq!(
        (too_big.status, too_big.error_code()),
        (413, "payload_too_large")
    );
    assert_eq!(kept.status, 200, "the guest session is left as it was");
    assert_eq!(kept.body["data"]["cart"], "x".repeat(30));
    assert_eq!(
        again.status, 201,
        "the same ticket signs in: {}",
        again.body
    );
    assert_eq!(again.body["data"], json!({"note": "y".repeat(30)}));
    assert_eq!(current(&app, &guest).await.status, 401);
    table.drop_table().await;
}
