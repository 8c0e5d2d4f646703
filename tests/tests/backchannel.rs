//! Sign-out that follows the identity provider (issue 25): OpenID Connect Back-Channel Logout
//! 1.0 against an RS256 provider whose keys a local JWKS endpoint serves. Sign-in keeps the ID
//! token's `sid`; a logout token naming it ends that provider session's sessions, one naming
//! only the user ends all of theirs; every invalid token is a 400 that ends nothing. Through the
//! real handlers on DynamoDB Local, one fresh table per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};
use session_shared::SignIn;
use session_shared::domain::{UserId, UserKey};
use session_tests::idp::{FakeIdp, IDP, RSA_A, RSA_B, jwk, jwks, signed};
use session_tests::{Event, Function, Payload, Reply, TestTable, app_with_store, invoke};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The app trusting the provider (audience `spa`), its keys fetched from the local endpoint.
async fn app_trusting(table: &TestTable, idp: &FakeIdp) -> SignIn {
    let issuers = json!([{ "issuer": IDP, "audience": "spa", "jwks_url": idp.url }]).to_string();
    let app = app_with_store(
        table.store(),
        &table.name,
        &[("AUTH_ISSUERS", issuers.as_str())],
    );
    app.verifier.prefetch().await;
    app
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn header(alg: Algorithm, kid: &str, typ: &str) -> Header {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    header.typ = Some(typ.into());
    header
}

/// Signs `sub` in with an ID token of provider session `sid`: the cookie's token.
async fn signed_in(app: &SignIn, sub: &str, sid: &str) -> String {
    let claims = json!({
        "sub": sub, "iss": IDP, "aud": "spa", "iat": now(), "exp": now() + 300, "sid": sid,
        "jti": uuid()
    });
    let id_token = signed(&header(Algorithm::RS256, "a", "JWT"), &claims, RSA_A);
    let reply = invoke(
        app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&id_token),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["idp_sid"], sid);
    reply.cookie_token()
}

/// A valid logout token's claims, with `edit` applied.
fn logout_claims(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut claims = json!({
        "iss": IDP, "aud": "spa", "iat": now(), "exp": now() + 120,
        "jti": uuid(), "events": { EVENT: {} }
    });
    edit(claims.as_object_mut().unwrap());
    claims
}

fn uuid() -> String {
    session_shared::domain::SessionId::random().to_string()
}

fn logout_token(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    signed(
        &header(Algorithm::RS256, "a", "logout+jwt"),
        &logout_claims(edit),
        RSA_A,
    )
}

/// The provider posts `body` as a form (`content_type`).
async fn post(app: &SignIn, body: &str, content_type: &str) -> Reply {
    invoke(
        app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/oidc/backchannel-logout")
            .without_header("origin")
            .raw_body(body, Some(content_type)),
    )
    .await
}

async fn logout(app: &SignIn, token: &str) -> Reply {
    post(
        app,
        &format!("logout_token={token}"),
        "application/x-www-form-urlencoded",
    )
    .await
}

async fn status_of(app: &SignIn, token: &str) -> u16 {
    invoke(
        app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(token),
    )
    .await
    .status
}

#[tokio::test]
async fn a_logout_token_ends_the_sessions_of_its_provider_session_and_a_sub_only_one_all() {
    let table = TestTable::new().await;
    let idp = FakeIdp::start(jwks(vec![jwk(RSA_A, Algorithm::RS256, "a")])).await;
    let app = app_trusting(&table, &idp).await;
    let laptop = signed_in(&app, "alice", "sid-a").await;
    let phone = signed_in(&app, "alice", "sid-a").await;
    let tablet = signed_in(&app, "alice", "sid-b").await;
    // Another user under the same provider session: a `sub` in the token spares them.
    let bob = signed_in(&app, "bob", "sid-a").await;

    let (ended, metrics) = session_shared::metrics::scope(
        "Sessions/test",
        logout(
            &app,
            &logout_token(|c| {
                c.insert("sub".into(), json!("alice"));
                c.insert("sid".into(), json!("sid-a"));
            }),
        ),
    )
    .await;
    let metrics: Value = serde_json::from_str(&metrics.expect("metrics printed")).unwrap();
    assert_eq!(metrics["IdpLogouts"], 2.0, "{metrics}");

    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(ended.header("cache-control"), Some("no-store"));
    let gone = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&laptop),
    )
    .await;
    assert_eq!(
        (gone.status, gone.error_code()),
        (401, "session_revoked"),
        "{}",
        gone.body
    );
    assert_eq!(status_of(&app, &phone).await, 401);
    assert_eq!(status_of(&app, &tablet).await, 200, "sid B goes on");
    assert_eq!(status_of(&app, &bob).await, 200, "another user goes on");

    let all = logout(
        &app,
        &logout_token(|c| {
            c.insert("sub".into(), json!("alice"));
        }),
    )
    .await;

    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(
        status_of(&app, &tablet).await,
        401,
        "sub alone: all of alice's"
    );
    assert_eq!(status_of(&app, &bob).await, 200);
    // A sid alone ends what it started, whoever's; nothing matching is still a 200.
    let by_sid = logout(
        &app,
        &logout_token(|c| {
            c.insert("sid".into(), json!("sid-a"));
        }),
    )
    .await;
    assert_eq!(by_sid.status, 200);
    assert_eq!(status_of(&app, &bob).await, 401);
    let nothing = logout(
        &app,
        &logout_token(|c| {
            c.insert("sid".into(), json!("never-seen"));
        }),
    )
    .await;
    assert_eq!(nothing.status, 200);
    // Each ended session's event says why and who.
    let alice = UserKey::of(Some(IDP), None, &UserId::parse("alice").unwrap());
    table.deliver_stream_to_audit_trail().await;
    let (trail, _) = table.store().history(&alice, 100, None).await.unwrap();
    let revoked: Vec<&Value> = trail
        .iter()
        .filter(|e| e["type"] == "session.revoked")
        .collect();
    assert_eq!(revoked.len(), 3);
    for event in revoked {
        assert_eq!(event["data"]["reason"], "idp_logout", "{event}");
        assert_eq!(event["data"]["detail"]["revoked_by"], IDP, "{event}");
    }
    table.drop_table().await;
}

#[tokio::test]
async fn every_invalid_logout_token_is_a_400_that_ends_nothing() {
    let table = TestTable::new().await;
    let idp = FakeIdp::start(jwks(vec![jwk(RSA_A, Algorithm::RS256, "a")])).await;
    let app = app_trusting(&table, &idp).await;
    let session = signed_in(&app, "alice", "sid-a").await;
    let names = |c: &mut serde_json::Map<String, Value>| {
        c.insert("sub".into(), json!("alice"));
        c.insert("sid".into(), json!("sid-a"));
    };
    let replayed = logout_token(|c| {
        names(c);
        c.insert("sid".into(), json!("sid-other"));
    });
    assert_eq!(logout(&app, &replayed).await.status, 200, "first use");
    let unsigned = {
        use base64::Engine as _;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "logout+jwt"})),
            b64(&logout_claims(names))
        )
    };
    // HS256 "signed" with the provider's public key (the algorithm confusion attack).
    let public_key_hmac = {
        let public = jwk(RSA_A, Algorithm::RS256, "a");
        let secret = serde_json::to_vec(&public).unwrap();
        jsonwebtoken::encode(
            &header(Algorithm::HS256, "a", "logout+jwt"),
            &logout_claims(names),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap()
    };
    let cases: Vec<(&str, String)> = vec![
        ("replayed jti", replayed),
        (
            "wrong aud",
            logout_token(|c| {
                names(c);
                c.insert("aud".into(), json!("another-app"));
            }),
        ),
        (
            "wrong iss",
            logout_token(|c| {
                names(c);
                c.insert("iss".into(), json!("https://evil.example/"));
            }),
        ),
        (
            "iat long ago",
            logout_token(|c| {
                names(c);
                c.insert("iat".into(), json!(now() - 3600));
                c.remove("exp");
            }),
        ),
        (
            "expired",
            logout_token(|c| {
                names(c);
                c.insert("exp".into(), json!(now() - 600));
            }),
        ),
        (
            "nonce",
            logout_token(|c| {
                names(c);
                c.insert("nonce".into(), json!("n-0S6_WzA2Mj"));
            }),
        ),
        (
            "no events",
            logout_token(|c| {
                names(c);
                c.remove("events");
            }),
        ),
        (
            "event member not an object",
            logout_token(|c| {
                names(c);
                c.insert("events".into(), json!({ EVENT: true }));
            }),
        ),
        (
            "other event",
            logout_token(|c| {
                names(c);
                c.insert("events".into(), json!({"https://other.example/event": {}}));
            }),
        ),
        (
            "no jti",
            logout_token(|c| {
                names(c);
                c.remove("jti");
            }),
        ),
        ("neither sub nor sid", logout_token(|_| {})),
        (
            "an ID token",
            signed(
                &header(Algorithm::RS256, "a", "JWT"),
                &json!({"sub": "alice", "iss": IDP, "aud": "spa", "iat": now(),
                        "exp": now() + 300, "sid": "sid-a", "nonce": "n"}),
                RSA_A,
            ),
        ),
        (
            "typ of an access token",
            signed(
                &header(Algorithm::RS256, "a", "at+jwt"),
                &logout_claims(names),
                RSA_A,
            ),
        ),
        ("alg none", unsigned),
        ("HS256 with the public key", public_key_hmac),
        (
            "unknown key",
            signed(
                &header(Algorithm::RS256, "b", "logout+jwt"),
                &logout_claims(names),
                RSA_B,
            ),
        ),
        (
            "a login ticket of the app's own issuer",
            session_tests::ticket("alice", None),
        ),
        ("not a JWT", "not-a-jwt".into()),
    ];
    for (case, token) in &cases {
        let reply = logout(&app, token).await;
        assert_eq!(reply.status, 400, "{case}: {}", reply.body);
        assert_eq!(reply.body["error"], "invalid_request", "{case}");
        assert!(reply.body["error_description"].is_string(), "{case}");
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{case}");
        assert_eq!(status_of(&app, &session).await, 200, "{case} ended nothing");
    }
    // The request itself: JSON instead of a form, no field, the field twice.
    let valid = logout_token(names);
    for (case, body, content_type) in [
        (
            "JSON",
            json!({ "logout_token": valid }).to_string(),
            "application/json",
        ),
        (
            "no field",
            "token=x".to_owned(),
            "application/x-www-form-urlencoded",
        ),
        (
            "twice",
            format!("logout_token={valid}&logout_token={valid}"),
            "application/x-www-form-urlencoded",
        ),
    ] {
        let reply = post(&app, &body, content_type).await;
        assert_eq!(
            (reply.status, &reply.body["error"]),
            (400, &json!("invalid_request")),
            "{case}: {}",
            reply.body
        );
        assert_eq!(status_of(&app, &session).await, 200, "{case} ended nothing");
    }
    // The same token, well sent, is still unused: it ends the session.
    assert_eq!(logout(&app, &valid).await.status, 200);
    assert_eq!(status_of(&app, &session).await, 401);
    assert_eq!(idp.hits(), 2, "the unknown kid refetched the JWKS once");
    table.drop_table().await;
}

#[tokio::test]
async fn a_browser_origin_does_not_matter_and_a_cookie_is_not_read() {
    let table = TestTable::new().await;
    let idp = FakeIdp::start(jwks(vec![jwk(RSA_A, Algorithm::RS256, "a")])).await;
    let app = app_trusting(&table, &idp).await;
    let session = signed_in(&app, "alice", "sid-a").await;
    let token = logout_token(|c| {
        c.insert("sid".into(), json!("sid-a"));
    });

    // A foreign origin and a (dead) cookie change nothing: the token is the authentication.
    let reply = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/oidc/backchannel-logout")
            .header("Origin", "https://evil.example")
            .cookie("__Host-session=garbage")
            .raw_body(
                &format!("logout_token={token}"),
                Some("application/x-www-form-urlencoded; charset=utf-8"),
            ),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.set_cookies.is_empty(), "no cookie is touched");
    assert_eq!(status_of(&app, &session).await, 401);
    table.drop_table().await;
}

#[tokio::test]
async fn a_logout_that_fails_midway_is_a_503_and_the_providers_retry_finishes_it() {
    let table = TestTable::new().await;
    let idp = FakeIdp::start(jwks(vec![jwk(RSA_A, Algorithm::RS256, "a")])).await;
    let lost = session_tests::LostAnswer::default();
    let store = session_shared::store::SessionStore::new(
        session_tests::losing_client(&session_tests::endpoint(), &lost, None),
        &table.name,
    );
    let issuers = json!([{ "issuer": IDP, "audience": "spa", "jwks_url": idp.url }]).to_string();
    let app = app_with_store(store, &table.name, &[("AUTH_ISSUERS", issuers.as_str())]);
    let laptop = signed_in(&app, "alice", "sid-a").await;
    let phone = signed_in(&app, "alice", "sid-a").await;
    let token = logout_token(|c| {
        c.insert("sid".into(), json!("sid-a"));
    });
    // DynamoDB answers the revocation of both (one transaction) too late, every time.
    lost.hold_every("TransactWriteItems", std::time::Duration::from_secs(5));

    let failed = logout(&app, &token).await;

    assert_eq!(failed.status, 503, "{}", failed.body);
    assert_eq!(failed.header("retry-after"), Some("1"));
    lost.held();
    // The token's use was given back: the provider's retry of the same token is no replay.
    let retried = logout(&app, &token).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(status_of(&app, &laptop).await, 401);
    assert_eq!(status_of(&app, &phone).await, 401);
    table.drop_table().await;
}

#[tokio::test]
async fn a_missing_table_is_a_500_without_internals() {
    let idp = FakeIdp::start(jwks(vec![jwk(RSA_A, Algorithm::RS256, "a")])).await;
    let missing = "no-such-table";
    let store = session_shared::store::SessionStore::new(
        session_tests::client_for(&session_tests::endpoint()),
        missing,
    );
    let issuers = json!([{ "issuer": IDP, "audience": "spa", "jwks_url": idp.url }]).to_string();
    let app = app_with_store(store, missing, &[("AUTH_ISSUERS", issuers.as_str())]);

    let reply = logout(
        &app,
        &logout_token(|c| {
            c.insert("sid".into(), json!("sid-a"));
        }),
    )
    .await;

    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(reply.error_code(), "internal_error");
    assert!(!reply.body.to_string().contains(missing));
}

/// The app's own login ticket (HS256, a shared secret) may carry a `sid`, but no provider can
/// end that session by a back-channel logout (the route trusts no shared-secret issuer): the
/// sign-in keeps and writes nothing for it.
#[tokio::test]
async fn a_sid_in_the_apps_own_login_ticket_is_not_kept() {
    let table = TestTable::new().await;
    let idp = FakeIdp::start(jwks(vec![jwk(RSA_A, Algorithm::RS256, "a")])).await;
    let app = app_trusting(&table, &idp).await;
    let ticket = session_tests::ticket_with("alice", None, |c| {
        c.extra.insert("sid".into(), json!("sid-a"));
    });
    let reply = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert!(reply.body.get("idp_sid").is_none(), "{}", reply.body);
    let provider_entries = table
        .items()
        .await
        .into_iter()
        .filter(|i| i["pk"].as_s().is_ok_and(|pk| pk.starts_with("IDPSID#")))
        .count();
    assert_eq!(provider_entries, 0);

    // A provider's ID token with the same sid is kept, and listed.
    let provider = signed_in(&app, "alice", "sid-a").await;
    assert_eq!(status_of(&app, &provider).await, 200);
    assert_eq!(
        table
            .items()
            .await
            .into_iter()
            .filter(|i| i["pk"].as_s().is_ok_and(|pk| pk.starts_with("IDPSID#")))
            .count(),
        1
    );
    table.drop_table().await;
}
