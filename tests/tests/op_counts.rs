//! DynamoDB operations per API call, counted at the SDK by an interceptor. These counts are
//! the design's cost floor: a validate in steady state is one read and no write.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use session_shared::App;
use session_shared::domain::SessionToken;
use session_tests::{Event, Function, OpCounter, Payload, TestTable, config, invoke, ticket};

async fn counted_app(table: &TestTable, overrides: &[(&str, &str)]) -> (App, OpCounter) {
    let counter = OpCounter::default();
    let app = App::new(
        config(&table.name, overrides),
        table.counted_store(&counter),
    );
    (app, counter)
}

async fn signed_in(app: &App, counter: &OpCounter) -> String {
    let reply = invoke(
        app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket("alice", None)),
    )
    .await;
    assert_eq!(counter.take(), ["PutItem"], "create = one PutItem");
    reply.cookie_token()
}

fn current(token: &str) -> Event {
    Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(token)
}

#[tokio::test]
async fn create_is_one_put_item() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    signed_in(&app, &counter).await;
    table.drop_table().await;
}

#[tokio::test]
async fn validate_in_steady_state_is_one_read_and_no_write() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = signed_in(&app, &counter).await;

    for _ in 0..10 {
        let reply = invoke(&app, Function::Validate, current(&token)).await;
        assert_eq!(reply.status, 200);
    }

    assert_eq!(counter.take(), vec!["GetItem"; 10]);
    table.drop_table().await;
}

#[tokio::test]
async fn a_sliding_validate_adds_exactly_one_conditional_update() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[("SESSION_SLIDING_THRESHOLD", "0")]).await;
    let token = signed_in(&app, &counter).await;

    let reply = invoke(&app, Function::Validate, current(&token)).await;

    assert_eq!(reply.status, 200);
    assert_eq!(counter.take(), ["GetItem", "UpdateItem"]);
    table.drop_table().await;
}

#[tokio::test]
async fn refresh_is_one_update_item() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = signed_in(&app, &counter).await;

    let reply = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V1, "POST", "/sessions/current/refresh").session_cookie(&token),
    )
    .await;

    assert_eq!(reply.status, 200);
    assert_eq!(counter.take(), ["UpdateItem"]);
    table.drop_table().await;
}

#[tokio::test]
async fn logout_is_one_delete_item() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = signed_in(&app, &counter).await;

    let reply = invoke(
        &app,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current").session_cookie(&token),
    )
    .await;

    assert_eq!(reply.status, 204);
    assert_eq!(counter.take(), ["DeleteItem"]);
    table.drop_table().await;
}

#[tokio::test]
async fn requests_rejected_on_their_face_never_reach_dynamodb() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let forged = ticket("alice", None).replace('.', ".x");

    for (function, event) in [
        (
            Function::Validate,
            Event::new(Payload::V2, "GET", "/sessions/current"),
        ),
        (Function::Validate, current("garbage")),
        (
            Function::Refresh,
            Event::new(Payload::V2, "POST", "/sessions/current/refresh").session_cookie("short"),
        ),
        (
            Function::Logout,
            Event::new(Payload::V2, "DELETE", "/sessions/current"),
        ),
        (
            Function::Create,
            Event::new(Payload::V2, "POST", "/sessions").bearer(&forged),
        ),
        (
            Function::Validate,
            Event::new(Payload::V2, "GET", "/unknown"),
        ),
    ] {
        let reply = invoke(&app, function, event).await;
        assert!(reply.status >= 400 || reply.status == 204);
    }

    assert!(
        counter.take().is_empty(),
        "no DynamoDB call for a request that cannot succeed"
    );
    let unknown = SessionToken::generate().unwrap();
    invoke(&app, Function::Validate, current(unknown.expose_secret())).await;
    assert_eq!(
        counter.take(),
        ["GetItem"],
        "a well-formed unknown token costs one read"
    );
    table.drop_table().await;
}
