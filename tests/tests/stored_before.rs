//! Items stored by earlier versions keep working after an upgrade, with nobody signed out: heads
//! without a rotation seed (and a tenant's, listed in `by_tenant` themselves), and tokens retired
//! with their successor sealed under them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, Utc};
use session_shared::domain::{
    ClientInfo, Lifetimes, SealedSuccessor, Session, SessionData, SessionToken, TenantId, UserId,
};
use session_tests::{
    Event, Function, ISSUER, Payload, TestTable, app, invoke, refresh_with_cookie,
};

fn alice_at_acme() -> Session {
    let lifetimes = Lifetimes::new(Duration::hours(8), Duration::days(7), 0.5).unwrap();
    let mut session = Session::start(
        UserId::parse("alice").unwrap(),
        Some(TenantId::parse("acme").unwrap()),
        SessionData::default(),
        ClientInfo::default(),
        &lifetimes,
        Utc::now() - Duration::minutes(1),
    );
    session.issuer = Some(ISSUER.to_owned());
    session
}

fn validate(token: &str) -> Event {
    Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(token)
}

fn revoke_tenant() -> Event {
    Event::new(Payload::V2, "DELETE", "/admin/tenants/acme/sessions")
        .iam_signed("arn:aws:iam::123456789012:role/support-console")
}

#[tokio::test]
async fn a_head_stored_before_seeds_rotates_and_stays_in_its_tenants_listing() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let old = table.put_session_as_stored_before(&alice_at_acme()).await;
    assert!(!table.item_of(&old).await.unwrap().contains_key("seed"));

    let refreshed = refresh_with_cookie(&app, old.expose_secret()).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let new = refreshed.cookie_token();
    let again = invoke(&app, Function::Validate, validate(old.expose_secret())).await;
    assert_eq!(
        again.cookie_token(),
        new,
        "the old token leads to the new one"
    );
    let retired = table.item_of(&old).await.unwrap();
    assert!(
        !retired.contains_key("gsi2pk"),
        "retired: out of by_tenant as out of sessions_by_user"
    );

    // The user is listed under the tenant now (their guard item): revoking the tenant's
    // sessions finds the new head, which is in by_tenant no more.
    let revoked = invoke(&app, Function::Admin, revoke_tenant()).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.body["revoked"], 1);
    let after = invoke(&app, Function::Validate, validate(&new)).await;
    assert_eq!(after.error_code(), "session_revoked");
    table.drop_table().await;
}

#[tokio::test]
async fn a_tenants_head_stored_before_is_revoked_with_the_tenant_without_being_rotated() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let old = table.put_session_as_stored_before(&alice_at_acme()).await;
    // A head of today beside it, of another user of the tenant.
    let mut bob = alice_at_acme();
    bob.user_id = UserId::parse("bob").unwrap();
    bob.id = session_shared::domain::SessionId::random();
    let today = table.put_session(&bob).await;

    let revoked = invoke(&app, Function::Admin, revoke_tenant()).await;

    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.body["revoked"], 2);
    for token in [&old, &today] {
        let reply = invoke(&app, Function::Validate, validate(token.expose_secret())).await;
        assert_eq!(reply.error_code(), "session_revoked");
    }
    table.drop_table().await;
}

#[tokio::test]
async fn a_token_retired_with_a_sealed_successor_still_leads_to_it_in_its_grace_window() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let session = alice_at_acme();
    let old = table.put_session_as_stored_before(&session).await;
    let new = table.put_session(&session).await;
    // The old head retired as rotations did before seeds: the successor sealed under it.
    let sealed = SealedSuccessor::seal(&old, &new, session.id).unwrap();
    table
        .client
        .update_item()
        .table_name(&table.name)
        .key(
            "pk",
            AttributeValue::S(format!("TOKEN#{}", old.hash().encoded())),
        )
        .key("sk", AttributeValue::S("SESSION".into()))
        .update_expression(
            "SET kind = :retired, retired_at = :now, successor = :next, sealed = :sealed \
             REMOVE #data, gsi1pk, gsi1sk, gsi2pk, gsi2sk",
        )
        .expression_attribute_names("#data", "data")
        .expression_attribute_values(":retired", AttributeValue::S("retired".into()))
        .expression_attribute_values(
            ":now",
            AttributeValue::N(Utc::now().timestamp_millis().to_string()),
        )
        .expression_attribute_values(":next", AttributeValue::S(new.hash().encoded()))
        .expression_attribute_values(":sealed", AttributeValue::B(Blob::new(sealed.as_bytes())))
        .send()
        .await
        .unwrap();

    let reply = invoke(&app, Function::Validate, validate(old.expose_secret())).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.cookie_token(), new.expose_secret());
    let forged = SessionToken::generate().unwrap();
    let other = invoke(&app, Function::Validate, validate(forged.expose_secret())).await;
    assert_eq!(other.status, 401);
    table.drop_table().await;
}

/// A tenant's user signed in while `SESSION_MAX_PER_USER` was off has a guard item that only
/// lists them under the tenant (no `version`): turning the cap on later counts from there, and
/// signs nobody out or in wrongly.
#[tokio::test]
async fn a_guard_stored_without_the_cap_is_counted_once_the_cap_is_on() {
    let table = TestTable::new().await;
    let uncapped = app(&table, &[("SESSION_MAX_PER_USER", "0")]);
    let first = session_tests::signed_in_as(&uncapped, "alice", Some("acme")).await;

    let capped = app(&table, &[("SESSION_MAX_PER_USER", "1")]);
    let second = session_tests::sign_in_reply(&capped, "alice", Some("acme"), |e| e).await;
    assert_eq!(second.status, 201, "{}", second.body);
    let second = second.cookie_token();
    assert_eq!(
        invoke(&capped, Function::Validate, validate(&first))
            .await
            .status,
        401,
        "the cap of one evicts the session from before the cap"
    );
    assert_eq!(
        invoke(&capped, Function::Validate, validate(&second))
            .await
            .status,
        200
    );
}
