//! Sign-in with RS256 / ES256 ID tokens whose keys come from a JWKS URL (a local HTTP server
//! standing in for the identity provider) or a file: cold-start fetch, key rotation picked up
//! on an unknown `kid`, rate-limited refetches, and an unreachable provider.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::{Algorithm, Header};
use serde_json::json;
use session_shared::SignIn;
use session_tests::idp::{EC_A, FakeIdp, IDP, RSA_A, RSA_B, jwk, jwks, signed};
use session_tests::{Event, Function, Payload, TestTable, app_with_store, invoke};

fn id_token(der: &[u8], alg: Algorithm, kid: &str, sub: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    let claims = json!({
        "sub": sub, "iss": IDP, "aud": "spa", "iat": now, "exp": now + 300, "org_id": "acme"
    });
    signed(&header, &claims, der)
}

fn issuers(source: serde_json::Value) -> String {
    let mut issuer = json!({ "issuer": IDP, "audience": "spa", "tenant_claim": "org_id" });
    issuer
        .as_object_mut()
        .unwrap()
        .extend(source.as_object().unwrap().clone());
    json!([issuer]).to_string()
}

async fn app_with_issuers(table: &TestTable, issuers: &str) -> SignIn {
    let app = app_with_store(
        table.store(),
        &table.name,
        &[
            ("AUTH_ISSUERS", issuers),
            ("AUTH_JWKS_REFRESH_INTERVAL", "60s"),
        ],
    );
    app.verifier.prefetch().await;
    app
}

async fn sign_in(app: &SignIn, id_token: &str) -> session_tests::Reply {
    invoke(
        app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(id_token),
    )
    .await
}

#[tokio::test]
async fn keys_from_a_jwks_url_are_fetched_at_cold_start_and_verify_rs256_and_es256() {
    let table = TestTable::new().await;
    let idp = FakeIdp::start(jwks(vec![
        jwk(RSA_A, Algorithm::RS256, "a"),
        jwk(EC_A, Algorithm::ES256, "ec"),
    ]))
    .await;
    let app = app_with_issuers(&table, &issuers(json!({ "jwks_url": idp.url }))).await;
    assert_eq!(idp.hits(), 1, "fetched once at cold start");

    let rsa = sign_in(&app, &id_token(RSA_A, Algorithm::RS256, "a", "auth0|1")).await;
    let ec = sign_in(&app, &id_token(EC_A, Algorithm::ES256, "ec", "auth0|2")).await;

    assert_eq!(rsa.status, 201, "{}", rsa.body);
    assert_eq!(rsa.body["tenant_id"], "acme");
    assert_eq!(ec.status, 201, "{}", ec.body);
    assert_eq!(idp.hits(), 1, "known keys need no fetch");
    table.drop_table().await;
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_on_its_first_token_and_refetches_are_rate_limited() {
    let table = TestTable::new().await;
    let idp = FakeIdp::start(jwks(vec![jwk(RSA_A, Algorithm::RS256, "a")])).await;
    let app = app_with_issuers(&table, &issuers(json!({ "jwks_url": idp.url }))).await;

    // The provider rotates: key b is published, tokens start naming it.
    idp.serve(jwks(vec![
        jwk(RSA_A, Algorithm::RS256, "a"),
        jwk(RSA_B, Algorithm::RS256, "b"),
    ]));
    let rotated = sign_in(&app, &id_token(RSA_B, Algorithm::RS256, "b", "user-b")).await;
    assert_eq!(rotated.status, 201, "{}", rotated.body);
    assert_eq!(idp.hits(), 2, "one refetch for the unknown kid");

    // A flood of tokens naming keys nobody publishes cannot make us hammer the provider.
    for i in 0..5 {
        let forged = sign_in(
            &app,
            &id_token(RSA_B, Algorithm::RS256, &format!("x{i}"), "eve"),
        )
        .await;
        assert_eq!((forged.status, forged.error_code()), (401, "invalid_token"));
    }
    assert_eq!(idp.hits(), 2, "no refetch within the refresh interval");
    table.drop_table().await;
}

#[tokio::test]
async fn keys_can_come_from_a_file() {
    let table = TestTable::new().await;
    let path = std::env::temp_dir().join(format!("jwks-{}.json", table.name));
    std::fs::write(&path, jwks(vec![jwk(EC_A, Algorithm::ES256, "file-key")])).unwrap();
    let app = app_with_issuers(
        &table,
        &issuers(json!({ "jwks_file": path.to_str().unwrap() })),
    )
    .await;

    let reply = sign_in(&app, &id_token(EC_A, Algorithm::ES256, "file-key", "u")).await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    std::fs::remove_file(path).unwrap();
    table.drop_table().await;
}

#[tokio::test]
async fn an_unreachable_identity_provider_is_a_503_not_a_client_error() {
    let table = TestTable::new().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", closed.local_addr().unwrap());
    drop(closed);
    let app = app_with_issuers(&table, &issuers(json!({ "jwks_url": url }))).await;

    let reply = sign_in(&app, &id_token(RSA_A, Algorithm::RS256, "a", "u")).await;

    assert_eq!(
        (reply.status, reply.error_code()),
        (503, "service_unavailable")
    );
    assert!(reply.set_cookies.is_empty());
    table.drop_table().await;
}
