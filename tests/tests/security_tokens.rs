//! Session tokens through the handlers: eviction and replay answers, and tokens accepted only
//! the way they were issued (cookie or bearer).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use session_tests::{
    Event, Function, Payload, TestTable, app, invoke, refresh_with_cookie, signed_in, ticket,
};

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
