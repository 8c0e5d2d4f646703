//! Revoking many sessions: the IAM-only admin routes (`session-admin`) and the store's batched,
//! conditional revocation underneath them. DynamoDB Local, one fresh table per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use session_shared::domain::{
    ClientInfo, RevocationReason, Session, SessionToken, TokenRecord, UserId, UserKey,
};
use session_shared::session::Revoker;
use session_shared::store::{BatchOutcome, Revocation};
use session_tests::{Event, Function, Payload, TestTable, app, invoke, session_started};

const ADMIN: &str = "arn:aws:iam::123456789012:role/support-console";

/// Writes `n` live sessions for `user` (in `tenant`) straight into the store.
async fn seed(
    table: &TestTable,
    user: &str,
    tenant: Option<&str>,
    n: usize,
) -> Vec<(SessionToken, Session)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let session = session_started(
            user,
            tenant,
            Utc::now(),
            Duration::hours(8),
            Duration::days(7),
        );
        out.push((table.put_session(&session).await, session));
    }
    out
}

async fn live_sessions_of(table: &TestTable, user: &str) -> usize {
    table
        .items_of_kind("session")
        .await
        .iter()
        .filter(|i| i["user_id"].as_s().unwrap() == user)
        .count()
}

fn admin_delete(path: &str) -> Event {
    Event::new(Payload::V2, "DELETE", path)
        .without_header("origin")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/...",
        )
        .iam_caller(ADMIN)
}

#[tokio::test]
async fn a_user_with_500_sessions_is_revoked_completely() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    seed(&table, "alice", Some("acme"), 500).await;
    seed(&table, "bob", Some("acme"), 3).await;

    let reply = invoke(
        &app,
        Function::Admin,
        admin_delete("/admin/users/alice/sessions").query("tenant_id", "acme"),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["revoked"], 500);
    assert_eq!(live_sessions_of(&table, "alice").await, 0);
    assert_eq!(table.items_of_kind("revoked").await.len(), 500);
    assert_eq!(live_sessions_of(&table, "bob").await, 3, "bob is untouched");
    let events = table.event_names("alice").await;
    assert_eq!(events.iter().filter(|e| *e == "revoked").count(), 500);
    table.drop_table().await;
}

#[tokio::test]
async fn revoking_a_tenant_ends_every_user_of_it_and_no_one_else() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let acme_alice = seed(&table, "alice", Some("acme"), 2).await;
    seed(&table, "bob", Some("acme"), 30).await;
    seed(&table, "carol", Some("globex"), 2).await;
    seed(&table, "dave", None, 1).await;

    let reply = invoke(
        &app,
        Function::Admin,
        admin_delete("/admin/tenants/acme/sessions"),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["revoked"], 32);
    assert_eq!(live_sessions_of(&table, "alice").await, 0);
    assert_eq!(live_sessions_of(&table, "bob").await, 0);
    assert_eq!(live_sessions_of(&table, "carol").await, 2);
    assert_eq!(live_sessions_of(&table, "dave").await, 1);
    let validate = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current")
            .session_cookie(acme_alice[0].0.expose_secret()),
    )
    .await;
    assert_eq!(
        (validate.status, validate.error_code()),
        (401, "session_revoked")
    );
    table.drop_table().await;
}

#[tokio::test]
async fn the_admin_routes_refuse_a_request_without_an_iam_caller() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    seed(&table, "alice", None, 2).await;

    let reply = invoke(
        &app,
        Function::Admin,
        Event::new(Payload::V2, "DELETE", "/admin/users/alice/sessions"),
    )
    .await;

    assert_eq!((reply.status, reply.error_code()), (403, "forbidden"));
    assert_eq!(live_sessions_of(&table, "alice").await, 2);
    table.drop_table().await;
}

#[tokio::test]
async fn the_admin_routes_work_over_rest_v1_and_reject_a_bad_id() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    seed(&table, "alice@example.com", None, 2).await;

    let reply = invoke(
        &app,
        Function::Admin,
        Event::new(
            Payload::V1,
            "DELETE",
            "/admin/users/alice%40example.com/sessions",
        )
        .iam_caller(ADMIN)
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/...",
        ),
    )
    .await;
    let too_long = invoke(
        &app,
        Function::Admin,
        admin_delete(&format!("/admin/users/{}/sessions", "u".repeat(300))),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["revoked"], 2);
    assert_eq!(
        (too_long.status, too_long.error_code()),
        (400, "invalid_request")
    );
    table.drop_table().await;
}

#[tokio::test]
async fn revoking_nobody_is_zero_not_an_error() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let reply = invoke(
        &app,
        Function::Admin,
        admin_delete("/admin/users/ghost/sessions"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["revoked"], 0);
    table.drop_table().await;
}

// ---------- the batch underneath ----------

#[tokio::test]
async fn a_batch_reports_a_rotated_session_with_its_successor() {
    let table = TestTable::new().await;
    let store = table.store();
    let seeded = seed(&table, "alice", None, 1).await;
    let (old, session) = &seeded[0];
    // The session rotates after the index was read: the listed token is retired now.
    let app = app(&table, &[]);
    let refreshed = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh")
            .session_cookie(old.expose_secret()),
    )
    .await;
    let successor = SessionToken::parse(&refreshed.cookie_token()).unwrap();

    let outcomes = store
        .revoke_batch(
            &[Revocation {
                token: old.hash(),
                session_id: session.id,
            }],
            &RevocationReason::Revoked.into(),
            Utc::now(),
        )
        .await
        .unwrap();

    match outcomes[..] {
        [BatchOutcome::Rotated(next)] => assert!(next.matches(&successor.hash())),
        ref other => panic!("expected the successor, got {other:?}"),
    }
    assert!(matches!(
        store.load(&successor.hash()).await.unwrap(),
        Some(TokenRecord::Active(_))
    ));
    table.drop_table().await;
}

#[tokio::test]
async fn one_failed_condition_cancels_the_batch_and_the_others_are_retried() {
    let table = TestTable::new().await;
    let store = table.store();
    let seeded = seed(&table, "alice", None, 3).await;
    // The middle one signs out between the listing and the batch.
    let (gone_token, gone) = &seeded[1];
    store.delete(&gone_token.hash(), gone).await.unwrap();
    let batch: Vec<_> = seeded
        .iter()
        .map(|(token, session)| Revocation {
            token: token.hash(),
            session_id: session.id,
        })
        .collect();

    let outcomes = store
        .revoke_batch(&batch, &RevocationReason::Revoked.into(), Utc::now())
        .await
        .unwrap();

    assert!(
        matches!(
            outcomes[..],
            [BatchOutcome::Retry, BatchOutcome::Gone, BatchOutcome::Retry]
        ),
        "{outcomes:?}"
    );
    assert_eq!(
        table.items_of_kind("session").await.len(),
        2,
        "nothing written"
    );
    assert!(table.items_of_kind("revoked").await.is_empty());
    table.drop_table().await;
}

#[tokio::test]
async fn revoking_a_stale_listing_follows_rotations_and_skips_sign_outs() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let store = table.store();
    let seeded = seed(&table, "alice", None, 40).await;
    let user = UserKey::of(None, None, &UserId::parse("alice").unwrap());
    let (listing, _) = store.sessions_of(&user).await.unwrap();
    assert_eq!(listing.len(), 40);
    // After the listing: one session signs out, two rotate (refresh).
    store
        .delete(&seeded[3].0.hash(), &seeded[3].1)
        .await
        .unwrap();
    let mut successors = Vec::new();
    for (token, _) in &seeded[10..12] {
        let refreshed = invoke(
            &app,
            Function::Refresh,
            Event::new(Payload::V2, "POST", "/sessions/current/refresh")
                .session_cookie(token.expose_secret()),
        )
        .await;
        successors.push(refreshed.cookie_token());
    }

    let by = Revoker::Admin {
        caller: ADMIN.into(),
        note: None,
    };
    let revoked = app
        .api
        .sessions
        .revoke_listed(
            listing,
            RevocationReason::Revoked,
            &by,
            &ClientInfo::default(),
            Utc::now(),
        )
        .await
        .unwrap();

    assert_eq!(revoked, 39);
    assert_eq!(live_sessions_of(&table, "alice").await, 0);
    for successor in successors {
        let token = SessionToken::parse(&successor).unwrap();
        assert!(matches!(
            store.load(&token.hash()).await.unwrap(),
            Some(TokenRecord::Revoked(_))
        ));
    }
    table.drop_table().await;
}
