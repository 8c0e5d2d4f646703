//! DynamoDB operations per API call, counted at the SDK by an interceptor, and the write units
//! each call costs by DynamoDB's rules, from what it really changed (which items, which index
//! entries: `session_tests::units`). These are the design's cost floor, and the README's Cost
//! section is computed from them: a validate in steady state is one read and no write; every
//! state change is one read (where the new state depends on the old) and plain conditional
//! writes (`PutItem`/`UpdateItem`/`DeleteItem`, half the write units of a transaction); only a
//! batch of revocations is a transaction. A rotation writes the new head, then retires the old
//! one: 4 units. Lifecycle events and the audit trail come from the table's stream
//! (`session-events`): no user-facing call writes them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use session_shared::SignIn;
use session_shared::domain::SessionToken;
use std::collections::BTreeMap;

use session_tests::units::Written;
use session_tests::{
    Event, Function, OpCounter, Payload, TestTable, app_with_store, invoke, ticket,
};

async fn counted_app(table: &TestTable, overrides: &[(&str, &str)]) -> (SignIn, OpCounter) {
    let counter = OpCounter::default();
    let app = app_with_store(table.counted_store(&counter), &table.name, overrides);
    (app, counter)
}

async fn signed_in(app: &SignIn, counter: &OpCounter) -> String {
    signed_in_as(app, counter, None).await
}

async fn signed_in_as(app: &SignIn, counter: &OpCounter, tenant: Option<&str>) -> String {
    let reply = invoke(
        app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket("alice", tenant)),
    )
    .await;
    assert_eq!(reply.status, 201);
    // Counted exactly by the create tests below; what follows counts from here.
    assert!(counter.take().contains(&"PutItem".to_owned()));
    counter.take_round_trips();
    reply.cookie_token()
}

/// The operations, sorted (concurrent calls come in any order).
fn sorted(mut ops: Vec<String>) -> Vec<String> {
    ops.sort();
    ops
}

/// Units per index, as `Written` gives them.
fn indexes(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(n, u)| (n.to_string(), *u)).collect()
}

/// A head's write (1 unit for an item under 1 KB) and its `sessions_by_user` entry (1).
const HEAD_UNITS: u32 = 2;

fn sign_in_event() -> Event {
    Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket("alice", None))
}

fn current(token: &str) -> Event {
    Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(token)
}

#[tokio::test]
async fn create_without_a_cap_is_one_put_of_the_session() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[("SESSION_MAX_PER_USER", "0")]).await;
    let before = table.snapshot().await;

    invoke(&app, Function::Create, sign_in_event()).await;

    assert_eq!(
        counter.take(),
        ["PutItem", "PutItem"],
        "create = the ticket's single use (one conditional put) + the session (one conditional \
         put): no transaction"
    );
    let written = Written::between(&before, &table.snapshot().await, false);
    assert_eq!(written.changes(), ["- -> session", "- -> ticket"]);
    assert_eq!(
        written.of("- -> session").indexes,
        indexes(&[("sessions_by_user", 1)])
    );
    assert_eq!(written.total(), 1 + HEAD_UNITS, "3 WRU");
    table.drop_table().await;
}

#[tokio::test]
async fn a_tenants_sign_in_without_a_cap_lists_the_user_under_the_tenant_once() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[("SESSION_MAX_PER_USER", "0")]).await;
    let sign_in = || {
        invoke(
            &app,
            Function::Create,
            Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket("alice", Some("acme"))),
        )
    };
    let before = table.snapshot().await;
    sign_in().await;
    let first = table.snapshot().await;
    sign_in().await;
    let second = Written::between(&first, &table.snapshot().await, false);
    let first = Written::between(&before, &first, false);

    assert_eq!(
        sorted(counter.take()),
        [
            "PutItem",
            "PutItem",
            "PutItem",
            "PutItem",
            "UpdateItem",
            "UpdateItem"
        ]
    );
    assert_eq!(
        first.changes(),
        ["- -> GUARD", "- -> session", "- -> ticket"]
    );
    assert_eq!(
        first.of("- -> GUARD").indexes,
        indexes(&[("by_tenant", 1)]),
        "the user's entry in the tenant's listing"
    );
    assert_eq!(
        first.of("- -> session").indexes,
        indexes(&[("sessions_by_user", 1)]),
        "a head is in one index only"
    );
    assert_eq!(first.total(), 5);
    assert_eq!(
        second.of("GUARD -> GUARD").indexes,
        indexes(&[]),
        "listed already: no index write"
    );
    assert_eq!(second.total(), 4);
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

    let before = table.snapshot().await;
    let reply = invoke(&app, Function::Validate, current(&token)).await;

    assert_eq!(reply.status, 200);
    assert_eq!(counter.take(), ["GetItem", "UpdateItem"]);
    let written = Written::between(&before, &table.snapshot().await, false);
    assert_eq!(written.changes(), ["session -> session"]);
    assert_eq!(
        written.total(),
        HEAD_UNITS,
        "the head, and its index entry (last_seen_at and expires_at are projected)"
    );
    table.drop_table().await;
}

/// What a rotation writes: the new head, then the old one retired (out of the index).
fn assert_rotation_units(written: &Written) {
    assert_eq!(written.changes(), ["- -> session", "session -> retired"]);
    for change in written.changes() {
        assert_eq!(
            written.of(change).indexes,
            indexes(&[("sessions_by_user", 1)]),
            "{change}: one index entry, put or removed"
        );
    }
    assert_eq!(
        written.total(),
        4,
        "4 WRU: two single writes, one index entry each"
    );
}

#[tokio::test]
async fn refresh_is_one_read_and_two_single_writes_of_four_units() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    // A tenant's session: a head is in one index all the same.
    let token = signed_in_as(&app, &counter, Some("acme")).await;
    let before = table.snapshot().await;

    let reply = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh").session_cookie(&token),
    )
    .await;

    assert_eq!(reply.status, 200);
    assert_eq!(counter.take(), ["GetItem", "PutItem", "UpdateItem"]);
    assert_eq!(
        counter.take_round_trips(),
        3,
        "the read, the new head, then the old one retired: in that order"
    );
    assert_rotation_units(&Written::between(&before, &table.snapshot().await, false));
    table.drop_table().await;
}

#[tokio::test]
async fn logout_is_one_read_and_one_delete() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = signed_in(&app, &counter).await;
    let before = table.snapshot().await;

    let reply = invoke(
        &app,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current").session_cookie(&token),
    )
    .await;

    assert_eq!(reply.status, 204);
    assert_eq!(
        sorted(counter.take()),
        ["DeleteItem", "GetItem", "GetItem"],
        "the head read, then its delete beside a read of the successor a rotation that died \
         may have left"
    );
    let written = Written::between(&before, &table.snapshot().await, false);
    assert_eq!(written.changes(), ["session -> -"]);
    assert_eq!(written.total(), HEAD_UNITS, "the head and its index entry");
    table.drop_table().await;
}

#[tokio::test]
async fn a_renewal_rotation_on_validate_is_one_read_and_two_single_writes() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[("SESSION_ROTATE_AFTER", "1ms")]).await;
    let token = signed_in(&app, &counter).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let before = table.snapshot().await;

    let reply = invoke(&app, Function::Validate, current(&token)).await;

    assert_eq!(reply.status, 200);
    assert_ne!(reply.cookie_token(), token, "rotated");
    assert_eq!(counter.take(), ["GetItem", "PutItem", "UpdateItem"]);
    assert_eq!(
        counter.take_round_trips(),
        3,
        "the read, the new head, then the old one retired: in that order"
    );
    assert_rotation_units(&Written::between(&before, &table.snapshot().await, false));
    table.drop_table().await;
}

#[tokio::test]
async fn create_under_the_default_per_user_cap_reads_beside_the_claim_and_writes_beside_the_guard()
{
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await; // SESSION_MAX_PER_USER: 20
    signed_in_as(&app, &counter, Some("acme")).await;
    let before = table.snapshot().await;

    invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket("alice", Some("acme"))),
    )
    .await;

    // Two round trips: the ticket's claim beside the guard's read and the index query, then
    // the head beside the guard's bump.
    assert_eq!(
        sorted(counter.take()),
        ["GetItem", "PutItem", "PutItem", "Query", "UpdateItem"]
    );
    assert_eq!(
        counter.take_round_trips(),
        2,
        "one after another: two round trips"
    );
    let written = Written::between(&before, &table.snapshot().await, false);
    assert_eq!(
        written.changes(),
        ["- -> session", "- -> ticket", "GUARD -> GUARD"]
    );
    assert_eq!(written.of("GUARD -> GUARD").indexes, indexes(&[]));
    assert_eq!(
        written.total(),
        4,
        "ticket 1, head 2, guard 1: at most 6 WRU"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn requests_rejected_on_their_face_never_reach_dynamodb() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let forged = ticket("alice", None).replace('.', ".x");

    for (function, event, status, code) in [
        (
            Function::Validate,
            Event::new(Payload::V2, "GET", "/sessions/current"),
            401,
            Some("unauthenticated"),
        ),
        (
            Function::Validate,
            current("garbage"),
            401,
            Some("invalid_token"),
        ),
        (
            Function::Refresh,
            Event::new(Payload::V2, "POST", "/sessions/current/refresh").session_cookie("short"),
            401,
            Some("invalid_token"),
        ),
        (
            Function::Logout,
            Event::new(Payload::V2, "DELETE", "/sessions/current"),
            204,
            None,
        ),
        (
            Function::Create,
            Event::new(Payload::V2, "POST", "/sessions").bearer(&forged),
            401,
            Some("invalid_token"),
        ),
        (
            Function::Validate,
            Event::new(Payload::V2, "GET", "/unknown"),
            404,
            Some("not_found"),
        ),
    ] {
        let reply = invoke(&app, function, event).await;
        assert_eq!(reply.status, status, "{:?}", reply.body);
        if let Some(code) = code {
            assert_eq!(reply.error_code(), code);
        }
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

#[tokio::test]
async fn listing_sessions_is_one_read_and_one_index_query() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = signed_in(&app, &counter).await;

    let reply = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "GET", "/sessions").session_cookie(&token),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(counter.take(), ["GetItem", "Query"]);
    table.drop_table().await;
}

#[tokio::test]
async fn the_own_security_history_is_one_read_and_one_query_per_page() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = signed_in(&app, &counter).await;

    let reply = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "GET", "/sessions/current/events").session_cookie(&token),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(counter.take(), ["GetItem", "Query"]);
    table.drop_table().await;
}

#[tokio::test]
async fn an_admins_session_list_and_history_are_one_query_each_and_write_nothing() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    signed_in(&app, &counter).await;

    for path in ["/admin/users/alice/sessions", "/admin/users/alice/events"] {
        let reply = invoke(
            &app,
            Function::Admin,
            Event::new(Payload::V2, "GET", path)
                .iam_signed("arn:aws:iam::123456789012:role/support")
                .query("issuer", session_tests::ISSUER),
        )
        .await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert_eq!(counter.take(), ["Query"], "{path}");
    }
    table.drop_table().await;
}

#[tokio::test]
async fn an_admins_read_of_one_session_is_a_query_and_a_read_and_ending_it_a_query_and_an_update() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = signed_in(&app, &counter).await;
    let me = invoke(&app, Function::Validate, current(&token)).await;
    counter.take();
    let path = format!(
        "/admin/users/alice/sessions/{}",
        me.body["session_id"].as_str().unwrap()
    );

    for (method, status, ops) in [
        ("GET", 200, ["Query", "GetItem"]),
        ("DELETE", 204, ["Query", "UpdateItem"]),
    ] {
        let reply = invoke(
            &app,
            Function::Admin,
            Event::new(Payload::V2, method, &path)
                .iam_signed("arn:aws:iam::123456789012:role/support")
                .query("issuer", session_tests::ISSUER),
        )
        .await;
        assert_eq!(reply.status, status, "{method}: {}", reply.body);
        assert_eq!(counter.take(), ops, "{method}");
    }
    table.drop_table().await;
}

#[tokio::test]
async fn revoking_a_device_is_one_read_one_query_and_one_update() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let here = signed_in(&app, &counter).await;
    let there = signed_in(&app, &counter).await;
    let id = invoke(&app, Function::Validate, current(&there)).await.body["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    counter.take();

    let reply = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "DELETE", &format!("/sessions/{id}")).session_cookie(&here),
    )
    .await;

    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(counter.take(), ["GetItem", "Query", "UpdateItem"]);
    table.drop_table().await;
}

#[tokio::test]
async fn a_data_patch_is_one_read_and_one_conditional_write_that_touches_no_index() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = signed_in(&app, &counter).await;
    let before = table.snapshot().await;

    let reply = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "PATCH", "/sessions/current")
            .session_cookie(&token)
            .json_body(&serde_json::json!({"data": {"a": 1}})),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(counter.take(), ["GetItem", "UpdateItem"]);
    let written = Written::between(&before, &table.snapshot().await, false);
    assert_eq!(written.changes(), ["session -> session"]);
    assert_eq!(written.total(), 1, "data is not projected into an index");
    table.drop_table().await;
}

#[tokio::test]
async fn the_authorizer_in_steady_state_is_one_read() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = signed_in(&app, &counter).await;
    let authorize = || {
        session_tests::authorize(
            &app,
            session_tests::AuthorizerEvent::new().session_cookie(&token),
        )
    };
    // The authorizer event comes from another IP and user agent than the sign-in: the first
    // request records that change once (ip_changed / anomaly events)...
    assert_eq!(authorize().await["isAuthorized"], true);
    assert_eq!(counter.take(), ["GetItem", "UpdateItem"]);

    // ...and from then on each request is one read.
    for _ in 0..5 {
        let answer = session_tests::authorize(
            &app,
            session_tests::AuthorizerEvent::new().session_cookie(&token),
        )
        .await;
        assert_eq!(answer["isAuthorized"], true);
    }

    assert_eq!(counter.take(), vec!["GetItem"; 5]);
    table.drop_table().await;
}

#[tokio::test]
async fn a_token_mint_is_one_read_and_one_signature_and_the_key_set_no_table_call() {
    use session_tests::tokens::{counted_tokens_app, invoke_tokens, signing_key};
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = signed_in(&app, &counter).await;
    let key = signing_key().await;
    let tokens = counted_tokens_app(&table, &[&key], &[], &counter);
    let mint = || {
        invoke_tokens(
            &tokens,
            Event::new(Payload::V2, "POST", "/sessions/current/token")
                .session_cookie(&token)
                .json_body(&serde_json::json!({"audience": "orders"})),
        )
    };
    // An instance reads the public key once, on its first use...
    assert_eq!(mint().await.status, 200);
    assert_eq!(counter.take(), ["GetItem", "GetPublicKey", "Sign"]);
    // ...then each token is the session's read and one signature, and writes nothing.
    let before = table.snapshot().await;
    for _ in 0..5 {
        assert_eq!(mint().await.status, 200);
    }
    assert_eq!(counter.take(), ["GetItem", "Sign"].repeat(5));
    assert_eq!(
        Written::between(&before, &table.snapshot().await, false).total(),
        0
    );
    // The key set: no DynamoDB call, no KMS call once the keys are read.
    for _ in 0..3 {
        let reply = invoke_tokens(
            &tokens,
            Event::new(Payload::V2, "GET", "/.well-known/jwks.json").without_header("origin"),
        )
        .await;
        assert_eq!(reply.status, 200);
    }
    assert!(counter.take().is_empty());
    table.drop_table().await;
}

#[tokio::test]
async fn revoking_60_sessions_is_three_transactions_of_at_most_25() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[("SESSION_MAX_PER_USER", "0")]).await;
    for _ in 0..60 {
        signed_in(&app, &counter).await;
    }
    let before = table.snapshot().await;

    let reply = invoke(
        &app,
        Function::Admin,
        Event::new(Payload::V2, "DELETE", "/admin/users/alice/sessions")
            .query("issuer", session_tests::ISSUER)
            .iam_caller("arn:aws:iam::123456789012:role/admin")
            .header("Authorization", "AWS4-HMAC-SHA256 Credential=x"),
    )
    .await;

    assert_eq!(reply.body["revoked"], 60);
    // One page (limit 100), three transactions, then a second pass that finds nothing.
    assert_eq!(
        counter.take(),
        [
            "Query",
            "TransactWriteItems",
            "TransactWriteItems",
            "TransactWriteItems",
            "Query"
        ]
    );
    let written = Written::between(&before, &table.snapshot().await, true);
    assert_eq!(written.changes(), vec!["session -> revoked"; 60]);
    assert_eq!(
        written.total(),
        60 * 2 * HEAD_UNITS,
        "each head and its index entry, doubled in a transaction"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn the_rust_guard_in_steady_state_is_one_read_per_request_and_no_write() {
    use session_shared::guard::{Session, SessionGuard};
    use tower::ServiceBuilder;

    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = signed_in(&app, &counter).await;
    let guard = SessionGuard::from(app.api);
    let service = ServiceBuilder::new()
        .layer(guard.layer())
        .service(lambda_http::service_fn(
            |req: lambda_http::Request| async move {
                let session = req.extensions().get::<Session>().map(Session::body);
                let body = serde_json::to_string(&session).unwrap();
                Ok::<_, lambda_http::Error>(lambda_http::Response::new(lambda_http::Body::from(
                    body,
                )))
            },
        ));

    for _ in 0..10 {
        let reply = session_tests::invoke_service(service.clone(), current(&token)).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["user_id"], "alice");
    }

    assert_eq!(counter.take(), vec!["GetItem"; 10]);
    table.drop_table().await;
}

#[tokio::test]
async fn a_flapping_user_agent_costs_one_write_per_interval_not_one_per_validate() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = signed_in(&app, &counter).await;
    let from = |ua: &str| current(&token).client("203.0.113.7", ua);

    for i in 0..10 {
        let ua = if i % 2 == 0 {
            "Chrome/131"
        } else {
            "Firefox/132"
        };
        let reply = invoke(&app, Function::Validate, from(ua)).await;
        assert_eq!(reply.status, 200);
    }

    let mut expected = vec!["GetItem", "UpdateItem"];
    expected.extend(["GetItem"; 9]);
    assert_eq!(
        counter.take(),
        expected,
        "one recorded change, then reads only"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_profile_costs_nothing_more_at_sign_in_or_in_steady_state() {
    let table = TestTable::new().await;
    let profiles = r#"{"remember": {"idle": "30d", "absolute": "90d"}}"#;
    let (app, counter) = counted_app(
        &table,
        &[
            ("SESSION_PROFILES", profiles),
            ("SESSION_MAX_PER_USER", "0"),
        ],
    )
    .await;

    let created = invoke(
        &app,
        Function::Create,
        sign_in_event().json_body(&serde_json::json!({"profile": "remember"})),
    )
    .await;
    assert_eq!(created.body["profile"], "remember");
    assert_eq!(counter.take(), ["PutItem", "PutItem"]);
    let token = created.cookie_token();
    for _ in 0..10 {
        let reply = invoke(&app, Function::Validate, current(&token)).await;
        assert_eq!(reply.status, 200);
    }
    // An unknown profile is refused before any call.
    let refused = invoke(
        &app,
        Function::Create,
        sign_in_event().json_body(&serde_json::json!({"profile": "forever"})),
    )
    .await;

    assert_eq!(counter.take(), vec!["GetItem"; 10]);
    assert_eq!(refused.status, 400);
    table.drop_table().await;
}

#[tokio::test]
async fn a_reauthentication_is_one_read_the_proofs_single_use_and_one_rotation() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = signed_in(&app, &counter).await;
    let before = table.snapshot().await;

    let reply = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions/current/reauth")
            .session_cookie(&token)
            .json_body(&serde_json::json!({"id_token": ticket("alice", None)})),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let ops = counter.take();
    assert_eq!(
        ops,
        ["GetItem", "PutItem", "PutItem", "UpdateItem"],
        "the session read, the proof's single use (one conditional put), the rotation's two writes"
    );
    let written = Written::between(&before, &table.snapshot().await, false);
    assert_eq!(
        written.changes(),
        ["- -> session", "- -> ticket", "session -> retired"]
    );
    assert_eq!(written.total(), 1 + 4, "the proof's use, then a rotation");
    table.drop_table().await;
}

#[tokio::test]
async fn an_administrators_data_patch_is_one_index_query_one_read_and_one_update() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = signed_in(&app, &counter).await;
    let me = invoke(&app, Function::Validate, current(&token)).await;
    counter.take();

    let reply = invoke(
        &app,
        Function::Admin,
        Event::new(
            Payload::V2,
            "PATCH",
            &format!(
                "/admin/users/alice/sessions/{}",
                me.body["session_id"].as_str().unwrap()
            ),
        )
        .query("issuer", session_tests::ISSUER)
        .iam_signed("arn:aws:iam::123456789012:role/backend")
        .json_body(&serde_json::json!({"data": {"plan": "pro"}})),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        counter.take(),
        ["Query", "GetItem", "UpdateItem"],
        "the session found by id in the user's index, its head read, one conditional update"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn exchanging_a_legacy_session_costs_a_sign_in_and_a_parallel_one_a_conditional_write_more() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[("SESSION_MAX_PER_USER", "0")]).await;
    let resume = SessionToken::generate().unwrap();
    let exchange = || {
        let ticket = session_tests::ticket_with("alice", None, |claims| {
            claims
                .extra
                .insert("jti".into(), serde_json::json!("legacy:cookie-hash"));
            claims
                .extra
                .insert("amr".into(), serde_json::json!(["legacy"]));
        });
        Event::new(Payload::V2, "POST", "/sessions")
            .json_body(&serde_json::json!({"id_token": ticket, "resume": resume.expose_secret()}))
    };
    let before = table.snapshot().await;

    let first = invoke(&app, Function::Create, exchange()).await;
    let exchanged = counter.take();
    let written = Written::between(&before, &table.snapshot().await, false);
    // A second tab within the window: the same session, nothing new stored.
    let between = table.snapshot().await;
    let second = invoke(&app, Function::Create, exchange()).await;
    let again = counter.take();

    assert_eq!((first.status, second.status), (201, 201));
    assert_eq!(first.cookie_token(), second.cookie_token());
    assert_eq!(
        exchanged,
        ["PutItem", "PutItem"],
        "the exchange's single-use record (the marker), then the session: a sign-in's writes"
    );
    assert_eq!(written.changes(), ["- -> session", "- -> ticket"]);
    assert_eq!(written.total(), 1 + HEAD_UNITS, "3 WRU");
    assert_eq!(
        again,
        ["PutItem", "PutItem"],
        "the marker's conditional put finds it held, the head's finds the session"
    );
    assert!(
        Written::between(&between, &table.snapshot().await, false)
            .changes()
            .is_empty()
    );
    table.drop_table().await;
}

#[tokio::test]
async fn an_impersonation_ticket_is_one_put_and_its_sign_in_a_read_and_two_puts_outside_the_cap() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await; // SESSION_MAX_PER_USER: 20
    signed_in(&app, &counter).await;
    let before = table.snapshot().await;
    let minted = invoke(
        &app,
        Function::Admin,
        Event::new(Payload::V2, "POST", "/admin/users/alice/impersonation")
            .iam_signed(session_tests::SUPPORT_PRINCIPAL)
            .query("issuer", session_tests::ISSUER)
            .json_body(&serde_json::json!({"reason": "case 42"})),
    )
    .await;
    assert_eq!(minted.status, 201, "{}", minted.body);
    assert_eq!(counter.take(), ["PutItem"], "minting: one put of the grant");
    let after_mint = table.snapshot().await;
    let written = Written::between(&before, &after_mint, false);
    assert_eq!(written.changes(), ["- -> impersonation"]);
    assert_eq!(written.total(), 1, "1 WRU, in no index");

    let support = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").json_body(&serde_json::json!({
            "impersonation_ticket": minted.body["impersonation_ticket"],
        })),
    )
    .await;

    assert_eq!(support.status, 201, "{}", support.body);
    // The grant's read, then the ticket's single use and the session: no cap's reads and no
    // guard (an impersonation counts toward no cap).
    assert_eq!(sorted(counter.take()), ["GetItem", "PutItem", "PutItem"]);
    let written = Written::between(&after_mint, &table.snapshot().await, false);
    assert_eq!(written.changes(), ["- -> session", "- -> ticket"]);
    assert_eq!(written.total(), 1 + HEAD_UNITS, "3 WRU");
    // Listing the user's sessions reads the head of each impersonation session listed (its
    // actor is not in the index): one more read for it, none for the user's own.
    let listed = invoke(
        &app,
        Function::Admin,
        Event::new(Payload::V2, "GET", "/admin/users/alice/sessions")
            .iam_signed(session_tests::SUPPORT_PRINCIPAL)
            .query("issuer", session_tests::ISSUER),
    )
    .await;
    assert_eq!(listed.status, 200);
    assert_eq!(sorted(counter.take()), ["GetItem", "Query"]);
    table.drop_table().await;
}

#[tokio::test]
async fn a_sign_in_that_presents_a_session_cookie_reads_it_once() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[("SESSION_MAX_PER_USER", "0")]).await;
    let token = signed_in(&app, &counter).await;

    let reply = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .session_cookie(&token)
            .json_body(&serde_json::json!({"id_token": ticket("alice", None)})),
    )
    .await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(
        sorted(counter.take()),
        ["GetItem", "PutItem", "PutItem"],
        "the presented session is read (is it an impersonation?), never written"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_back_channel_logout_is_a_put_a_query_per_kind_and_a_write_per_ended_session() {
    use jsonwebtoken::{Algorithm, Header};
    use session_tests::idp::{FakeIdp, IDP, RSA_A, jwk, jwks, signed};
    let table = TestTable::new().await;
    let idp = FakeIdp::start(jwks(vec![jwk(RSA_A, Algorithm::RS256, "a")])).await;
    let counter = OpCounter::default();
    let issuers =
        serde_json::json!([{ "issuer": IDP, "audience": "spa", "jwks_url": idp.url }]).to_string();
    let app = app_with_store(
        table.counted_store(&counter),
        &table.name,
        &[
            ("AUTH_ISSUERS", issuers.as_str()),
            ("SESSION_MAX_PER_USER", "0"),
        ],
    );
    let now = chrono::Utc::now().timestamp();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("a".into());
    let id_token = serde_json::json!({"sub": "alice", "iss": IDP, "aud": "spa", "iat": now,
                                      "exp": now + 300, "sid": "sid-a"});
    let mut before = table.snapshot().await;
    for jti in ["device-1", "device-2"] {
        let mut claims = id_token.clone();
        claims["jti"] = jti.into();
        let reply = invoke(
            &app,
            Function::Create,
            Event::new(Payload::V2, "POST", "/sessions").bearer(&signed(&header, &claims, RSA_A)),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(
            sorted(counter.take()),
            ["PutItem", "PutItem", "PutItem"],
            "a sign-in with a sid: the ticket, the session, and its entry under the sid"
        );
        let after = table.snapshot().await;
        let written = Written::between(&before, &after, false);
        assert_eq!(
            written.changes(),
            ["- -> provider_session", "- -> session", "- -> ticket"]
        );
        assert_eq!(
            written.total(),
            1 + 1 + HEAD_UNITS,
            "4 WRU: 1 more than without a sid"
        );
        before = after;
    }
    let logout = serde_json::json!({"iss": IDP, "aud": "spa", "iat": now, "jti": "j-1",
        "sid": "sid-a", "events": {"http://schemas.openid.net/event/backchannel-logout": {}}});

    let reply = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/oidc/backchannel-logout")
            .without_header("origin")
            .raw_body(
                &format!("logout_token={}", signed(&header, &logout, RSA_A)),
                Some("application/x-www-form-urlencoded"),
            ),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        sorted(counter.take()),
        ["PutItem", "Query", "Query", "TransactWriteItems"],
        "the jti's single use, the sid's sessions, the user's index entries, one revocation batch"
    );
    let written = Written::between(&before, &table.snapshot().await, false);
    assert_eq!(
        written.changes(),
        ["- -> ticket", "session -> revoked", "session -> revoked"]
    );
    // The jti 1 WRU; each ended session its head and its index entry, 2, twice that in the
    // one transaction of two: 1 + 8 = 9 WRU (one session alone: a plain update, 1 + 2).
    assert_eq!(written.total(), 1 + 2 * 2);
    table.drop_table().await;
}

fn new_guest() -> Event {
    Event::new(Payload::V2, "POST", "/sessions/guest")
}

/// A guest session of its own, created uncounted: its cookie token.
async fn guest(app: &SignIn, counter: &OpCounter) -> String {
    let reply = invoke(app, Function::Create, new_guest()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    counter.take();
    counter.take_round_trips();
    reply.cookie_token()
}

#[tokio::test]
async fn a_guest_session_is_one_count_and_one_put_of_a_head_in_no_index() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let before = table.snapshot().await;

    let reply = invoke(&app, Function::Create, new_guest()).await;

    assert_eq!(reply.status, 201);
    assert_eq!(
        counter.take(),
        ["UpdateItem", "PutItem"],
        "the client's count (one conditional update), then the head (one conditional put)"
    );
    let written = Written::between(&before, &table.snapshot().await, false);
    assert_eq!(written.changes(), ["- -> guest_count", "- -> session"]);
    assert_eq!(written.of("- -> session").indexes, indexes(&[]));
    assert_eq!(written.total(), 2, "2 WRU: no index entry, no guard");
    table.drop_table().await;
}

#[tokio::test]
async fn a_guests_validate_in_steady_state_is_one_read_and_no_write() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = guest(&app, &counter).await;
    // The same client as at creation: nothing to record.
    let first = invoke(&app, Function::Validate, current(&token)).await;
    assert_eq!(first.status, 200);
    counter.take();

    for _ in 0..10 {
        let reply = invoke(&app, Function::Validate, current(&token)).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["guest"], true);
    }

    assert_eq!(counter.take(), vec!["GetItem"; 10]);
    table.drop_table().await;
}

#[tokio::test]
async fn signing_in_with_a_guest_session_adds_one_read_and_one_update_to_the_sign_in() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[("SESSION_MAX_PER_USER", "0")]).await;
    let guest = guest(&app, &counter).await;
    let before = table.snapshot().await;

    let reply = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .session_cookie(&guest)
            .json_body(&serde_json::json!({"id_token": ticket("alice", None)})),
    )
    .await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(
        counter.take(),
        ["GetItem", "PutItem", "UpdateItem", "PutItem"],
        "the guest presented, the ticket's claim, the guest's upgrade, the head"
    );
    let written = Written::between(&before, &table.snapshot().await, false);
    assert_eq!(
        written.changes(),
        ["- -> session", "- -> ticket", "session -> revoked"]
    );
    assert_eq!(
        written.total(),
        1 + HEAD_UNITS + 1,
        "5 WRU: the sign-in's 3 and the guest's tombstone"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_guests_data_patch_is_one_read_and_one_write_unit() {
    let table = TestTable::new().await;
    let (app, counter) = counted_app(&table, &[]).await;
    let token = guest(&app, &counter).await;
    let before = table.snapshot().await;

    let reply = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "PATCH", "/sessions/current")
            .session_cookie(&token)
            .json_body(&serde_json::json!({"data": {"cart": ["tea"]}})),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(counter.take(), ["GetItem", "UpdateItem"]);
    let written = Written::between(&before, &table.snapshot().await, false);
    assert_eq!(written.changes(), ["session -> session"]);
    assert_eq!(written.total(), 1, "1 WRU: a guest's head is in no index");
    table.drop_table().await;
}
