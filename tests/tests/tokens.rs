//! Session tokens for other services (`POST /sessions/current/token`, `GET /.well-known/jwks.json`)
//! against DynamoDB Local and a local KMS that really signs: each token is verified with
//! `jsonwebtoken` against the published key set, and with the crate's own verifier (feature
//! `token`) fetching that key set over HTTP; expiry, audience, unknown `kid`, tampering,
//! `alg` confusion and a key rotation without a failed verification.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration as StdDuration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use session_shared::SignIn;
use session_shared::handlers::Tokens;
use session_shared::identity::{IdentityError, ServiceTokenVerifier, VerifierOptions};
use session_tests::tokens::{
    claims_of, header_of, invoke_tokens, kms_at, signing_key, tokens_app, tokens_on,
};
use session_tests::{
    Event, Function, Payload, TestTable, app, bearer_signed_in, current, impersonating, invoke,
    session_id_of, signed_in,
};

/// The backend that signs carol in by name (`POST /internal/sessions`).
const IAM_CALLER_ARN: &str = "arn:aws:iam::123456789012:role/backend";

/// The API's public origin in the tests: every token's `iss`.
const ORIGIN: &str = "https://sessions.example.com";

/// A test's table, an app and a token function on it (its own signing key, `overrides`), and a
/// cookie session of alice.
struct Signed {
    table: TestTable,
    app: SignIn,
    tokens: Tokens,
    session: String,
}

async fn signed(overrides: &[(&str, &str)]) -> Signed {
    let table = TestTable::new().await;
    let key = signing_key().await;
    let app = app(&table, overrides);
    let tokens = tokens_app(&table, &[&key], overrides);
    let session = signed_in(&app).await;
    Signed {
        table,
        app,
        tokens,
        session,
    }
}

fn jwks_event() -> Event {
    Event::new(Payload::V2, "GET", "/.well-known/jwks.json").without_header("origin")
}

fn mint_event(token: &str, body: Option<Value>) -> Event {
    let event = Event::new(Payload::V2, "POST", "/sessions/current/token").session_cookie(token);
    match body {
        Some(body) => event.json_body(&body),
        None => event,
    }
}

async fn mint(tokens: &Tokens, session: &str, audience: &str) -> String {
    let reply = invoke_tokens(
        tokens,
        mint_event(session, Some(json!({ "audience": audience }))),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["token"].as_str().unwrap().to_owned()
}

async fn key_set(tokens: &Tokens) -> JwkSet {
    let reply = invoke_tokens(tokens, jwks_event()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_value(reply.body).unwrap()
}

/// `jwt`'s claims when `jsonwebtoken` verifies it against `keys` for `audience`.
fn verified(
    jwt: &str,
    keys: &JwkSet,
    audience: &str,
) -> Result<Value, jsonwebtoken::errors::Error> {
    let kid = jsonwebtoken::decode_header(jwt)?.kid.unwrap_or_default();
    let jwk = keys.find(&kid).ok_or_else(|| {
        jsonwebtoken::errors::Error::from(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat)
    })?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[ORIGIN]);
    validation.leeway = 0;
    jsonwebtoken::decode::<Value>(jwt, &DecodingKey::from_jwk(jwk)?, &validation).map(|d| d.claims)
}

fn overrides() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SESSION_PUBLIC_ORIGIN", ORIGIN),
        ("SESSION_TRUSTED_CALLER", "true"),
        ("SESSION_PROTECTED_DATA_KEYS", "role"),
    ]
}

/// A session of carol in tenant t1 whose data holds `plan`, `theme` and the server-only `role`
/// (set by a trusted caller): its cookie token.
async fn carol(app: &SignIn) -> String {
    let reply = invoke(
        app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/internal/sessions")
            .iam_caller(IAM_CALLER_ARN)
            .json_body(&json!({
                "user_id": "carol",
                "tenant_id": "t1",
                "data": {"plan": "pro", "role": "admin", "theme": "dark"},
            })),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.cookie_token()
}

#[tokio::test]
async fn a_minted_token_verifies_against_the_published_keys_and_says_who_and_what() {
    let table = TestTable::new().await;
    let key = signing_key().await;
    let app = app(&table, &overrides());
    let tokens = tokens_app(&table, &[&key], &overrides());
    let session = carol(&app).await;

    let before = chrono::Utc::now().timestamp();
    let reply = invoke_tokens(
        &tokens,
        mint_event(&session, Some(json!({"audience": "orders"}))),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let jwt = reply.body["token"].as_str().unwrap();
    assert_eq!(reply.body["audience"], "orders");
    assert!(
        (118..=120).contains(&reply.body["expires_in"].as_i64().unwrap()),
        "{}",
        reply.body
    );

    let header = header_of(jwt);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "JWT");
    let keys = key_set(&tokens).await;
    assert_eq!(keys.keys.len(), 1);
    assert_eq!(header["kid"], keys.keys[0].common.key_id.clone().unwrap());

    let claims = verified(jwt, &keys, "orders").expect("jsonwebtoken verifies the token");
    assert_eq!(claims["iss"], ORIGIN);
    assert_eq!(claims["sub"], "carol");
    assert_eq!(claims["tenant_id"], "t1");
    assert_eq!(claims["aud"], "orders");
    assert_eq!(claims["sid"], session_id_of(&app, &session).await);
    assert_eq!(claims["profile"], "default");
    // The audience's data keys, the server-only one included, and no other key.
    assert_eq!(claims["data"], json!({"plan": "pro", "role": "admin"}));
    let iat = claims["iat"].as_i64().unwrap();
    assert!(iat >= before && iat <= before + 5);
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 120);
    assert!(claims["auth_time"].as_i64().unwrap() <= iat);
    assert!(claims.get("act").is_none());
    assert_eq!(claims["jti"].as_str().unwrap().len(), 36);

    // Another audience: its own lifetime, no data, a new jti; the token of one audience is
    // refused by another.
    let search = mint(&tokens, &session, "search").await;
    let other = verified(&search, &keys, "search").unwrap();
    assert_eq!(
        other["exp"].as_i64().unwrap() - other["iat"].as_i64().unwrap(),
        300
    );
    assert!(other.get("data").is_none());
    assert_ne!(other["jti"], claims["jti"]);
    assert!(verified(&search, &keys, "orders").is_err());
    table.drop_table().await;
}

#[tokio::test]
async fn a_token_never_outlives_its_sessions_deadline() {
    // Sessions idle out after a minute: the 5-minute audience gets a 1-minute token at most.
    let short = [
        ("SESSION_IDLE_TIMEOUT", "1m"),
        ("SESSION_ROTATE_AFTER", "off"),
    ];
    let Signed {
        table,
        app,
        tokens,
        session,
    } = signed(&short).await;
    let validated = current(&app, &session).await;
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(validated.body["expires_at"].as_str().unwrap())
            .unwrap()
            .timestamp();
    let claims = claims_of(&mint(&tokens, &session, "search").await);
    assert_eq!(claims["exp"].as_i64().unwrap(), expires_at);
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 60);
    table.drop_table().await;
}

#[tokio::test]
async fn the_audience_must_be_configured_and_a_session_live() {
    let Signed {
        table,
        app,
        tokens,
        session,
    } = signed(&[]).await;

    let unknown = invoke_tokens(
        &tokens,
        mint_event(&session, Some(json!({"audience": "billing"}))),
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (400, "unknown_audience")
    );
    // Two audiences are configured: one must be named.
    let unnamed = invoke_tokens(&tokens, mint_event(&session, None)).await;
    assert_eq!(
        (unnamed.status, unnamed.error_code()),
        (400, "unknown_audience")
    );
    let stray = invoke_tokens(
        &tokens,
        mint_event(&session, Some(json!({"aud": "orders"}))),
    )
    .await;
    assert_eq!(stray.status, 400, "{}", stray.body);

    // With one audience configured, it is the default.
    let key = signing_key().await;
    let one = tokens_app(
        &table,
        &[&key],
        &[("SESSION_TOKEN_AUDIENCES", r#"{"search": {}}"#)],
    );
    let reply = invoke_tokens(&one, mint_event(&session, None)).await;
    assert_eq!(
        (reply.status, reply.body["audience"].as_str()),
        (200, Some("search"))
    );

    // A body too large, or not JSON.
    let big = format!(r#"{{"audience": "{}"}}"#, "x".repeat(20_000));
    let reply = invoke_tokens(
        &tokens,
        Event::new(Payload::V2, "POST", "/sessions/current/token")
            .session_cookie(&session)
            .raw_body(&big, Some("application/json")),
    )
    .await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    let reply = invoke_tokens(
        &tokens,
        Event::new(Payload::V2, "POST", "/sessions/current/token")
            .session_cookie(&session)
            .raw_body("orders", Some("text/plain")),
    )
    .await;
    assert_eq!(reply.status, 415, "{}", reply.body);

    // No session, a signed-out one, an unknown bearer: 401 as on every session route.
    let unknown = invoke_tokens(
        &tokens,
        Event::new(Payload::V2, "POST", "/sessions/current/token")
            .without_header("origin")
            .bearer("not-a-session-token")
            .json_body(&json!({"audience": "orders"})),
    )
    .await;
    assert_eq!(unknown.status, 401);
    assert!(unknown.header("www-authenticate").is_some());
    let none = invoke_tokens(
        &tokens,
        Event::new(Payload::V2, "POST", "/sessions/current/token")
            .json_body(&json!({"audience": "orders"})),
    )
    .await;
    assert_eq!(none.status, 401);
    let logout = invoke(
        &app,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current").session_cookie(&session),
    )
    .await;
    assert_eq!(logout.status, 204);
    let gone = invoke_tokens(
        &tokens,
        mint_event(&session, Some(json!({"audience": "orders"}))),
    )
    .await;
    assert_eq!(gone.status, 401);
    table.drop_table().await;
}

#[tokio::test]
async fn a_rotation_made_while_minting_comes_with_the_token() {
    let renew = [("SESSION_ROTATE_AFTER", "1s")];
    let Signed {
        table,
        app,
        tokens,
        session,
    } = signed(&renew).await;
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    let reply = invoke_tokens(
        &tokens,
        mint_event(&session, Some(json!({"audience": "orders"}))),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let renewed = reply.cookie_token();
    assert_ne!(renewed, session);
    let claims = claims_of(reply.body["token"].as_str().unwrap());
    assert_eq!(claims["sid"], session_id_of(&app, &renewed).await);
    table.drop_table().await;
}

#[tokio::test]
async fn minting_keeps_the_csrf_rules_of_an_unsafe_route_and_takes_a_bearer_session() {
    let Signed {
        table,
        app,
        tokens,
        session,
    } = signed(&[]).await;
    let foreign = invoke_tokens(
        &tokens,
        mint_event(&session, Some(json!({"audience": "orders"})))
            .header("origin", "https://evil.example"),
    )
    .await;
    assert_eq!(foreign.status, 403, "{}", foreign.body);

    let bearer = bearer_signed_in(&app, "dave").await;
    let reply = invoke_tokens(
        &tokens,
        Event::new(Payload::V2, "POST", "/sessions/current/token")
            .without_header("origin")
            .bearer(&bearer)
            .json_body(&json!({"audience": "orders"})),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        claims_of(reply.body["token"].as_str().unwrap())["sub"],
        "dave"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_token_is_never_a_session_credential() {
    let Signed {
        table,
        app,
        tokens,
        session,
    } = signed(&[]).await;
    let jwt = mint(&tokens, &session, "orders").await;
    for event in [
        Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(&jwt),
        Event::new(Payload::V2, "GET", "/sessions/current")
            .without_header("origin")
            .bearer(&jwt),
    ] {
        let reply = invoke(&app, Function::Validate, event).await;
        assert_eq!(reply.status, 401, "{}", reply.body);
    }
    // Nor does a token mint another.
    let again = invoke_tokens(
        &tokens,
        mint_event(&jwt, Some(json!({"audience": "orders"}))),
    )
    .await;
    assert_eq!(again.status, 401);
    table.drop_table().await;
}

#[tokio::test]
async fn an_impersonation_session_gets_tokens_that_name_the_actor() {
    let table = TestTable::new().await;
    let key = signing_key().await;
    let app = app(&table, &[]);
    let tokens = tokens_app(&table, &[&key], &[]);
    let support = impersonating(&app, "erin", None).await;
    let claims = claims_of(&mint(&tokens, &support, "orders").await);
    assert_eq!(claims["sub"], "erin");
    assert_eq!(
        claims["act"],
        json!({"sub": session_tests::SUPPORT_PRINCIPAL, "reason": "support case 42"})
    );
    table.drop_table().await;
}

#[tokio::test]
async fn the_key_set_is_public_cacheable_and_refuses_what_is_not_a_get() {
    let table = TestTable::new().await;
    let key = signing_key().await;
    let tokens = tokens_app(&table, &[&key], &[]);
    let reply = invoke_tokens(
        &tokens,
        Event::new(Payload::V1, "GET", "/.well-known/jwks.json").without_header("origin"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("public, max-age=300"));
    let jwk = &reply.body["keys"][0];
    assert_eq!(
        (
            jwk["kty"].as_str(),
            jwk["crv"].as_str(),
            jwk["alg"].as_str(),
            jwk["use"].as_str()
        ),
        (Some("EC"), Some("P-256"), Some("ES256"), Some("sig"))
    );
    assert!(jwk.get("d").is_none(), "never a private part");
    let post = invoke_tokens(
        &tokens,
        Event::new(Payload::V2, "POST", "/.well-known/jwks.json").without_header("origin"),
    )
    .await;
    assert_eq!(post.status, 405);
    table.drop_table().await;
}

#[tokio::test]
async fn a_kms_that_does_not_answer_is_503_and_the_session_stays() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let tokens = tokens_on(
        table.store(),
        kms_at(Some("http://127.0.0.1:9")),
        &table.name,
        &["alias/anything"],
        &[],
    );
    let session = signed_in(&app).await;
    let reply = invoke_tokens(
        &tokens,
        mint_event(&session, Some(json!({"audience": "orders"}))),
    )
    .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert!(reply.set_cookies.is_empty(), "the cookie is kept");
    let jwks = invoke_tokens(&tokens, jwks_event()).await;
    assert_eq!(jwks.status, 503);
    assert_eq!(jwks.header("retry-after"), Some("1"));
    assert_eq!(
        current(&app, &session).await.status,
        200,
        "the session stays"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_key_kms_refuses_is_500_without_internals_and_the_session_stays() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let tokens = tokens_app(&table, &[missing], &[]);
    let session = signed_in(&app).await;
    let reply = invoke_tokens(
        &tokens,
        mint_event(&session, Some(json!({"audience": "orders"}))),
    )
    .await;
    let jwks = invoke_tokens(&tokens, jwks_event()).await;
    for reply in [&reply, &jwks] {
        assert_eq!(reply.status, 500, "{}", reply.body);
        assert_eq!(reply.error_code(), "internal_error");
        assert_eq!(reply.header("retry-after"), None, "not worth retrying");
        let text = reply.body.to_string();
        assert!(
            !text.contains("kms") && !text.contains("NotFound"),
            "{text}"
        );
    }
    assert!(reply.set_cookies.is_empty(), "the cookie is kept");
    assert_eq!(
        current(&app, &session).await.status,
        200,
        "the session stays"
    );
    table.drop_table().await;
}

/// A local HTTP server of a key set, as a receiver fetches it; what it serves can change (a
/// deployment of new settings).
struct KeyServer {
    serving: std::sync::Arc<std::sync::RwLock<std::sync::Arc<Tokens>>>,
    url: String,
}

impl KeyServer {
    /// Serves `tokens`' key set at `/.well-known/jwks.json` on a local port.
    async fn start(tokens: std::sync::Arc<Tokens>) -> Self {
        use axum::routing::get;
        let serving = std::sync::Arc::new(std::sync::RwLock::new(tokens));
        let current = serving.clone();
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            get(move || {
                let tokens = current.read().unwrap().clone();
                async move { axum::Json(serde_json::to_value(key_set(&tokens).await).unwrap()) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            serving,
            url: format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
        }
    }

    /// Serves `tokens`' key set from now on.
    fn serve(&self, tokens: std::sync::Arc<Tokens>) {
        *self.serving.write().unwrap() = tokens;
    }
}

fn verifier(url: &str, audience: &str) -> ServiceTokenVerifier {
    let mut options = VerifierOptions::new(url, audience);
    options.issuer = Some(ORIGIN.into());
    options.leeway = StdDuration::from_secs(0);
    ServiceTokenVerifier::with_options(options)
}

/// The same token with its payload replaced by `claims` (the signature left as it was).
fn with_claims(jwt: &str, claims: &Value) -> String {
    let parts: Vec<&str> = jwt.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

#[tokio::test]
async fn the_rust_verifier_accepts_a_good_token_and_refuses_the_rest() {
    let table = TestTable::new().await;
    let key = signing_key().await;
    let app = app(&table, &overrides());
    let tokens = std::sync::Arc::new(tokens_app(&table, &[&key], &overrides()));
    let url = KeyServer::start(tokens.clone()).await.url;
    let session = carol(&app).await;
    let jwt = mint(&tokens, &session, "orders").await;
    let orders = verifier(&url, "orders");

    let claims = orders.verify(&jwt).await.expect("a good token verifies");
    assert_eq!(
        (claims.sub.as_str(), claims.aud.as_str()),
        ("carol", "orders")
    );
    assert_eq!(claims.tenant_id.as_deref(), Some("t1"));
    assert_eq!(claims.data["role"], "admin");

    // Wrong audience, wrong issuer.
    assert_eq!(
        verifier(&url, "search").verify(&jwt).await,
        Err(IdentityError::WrongAudience)
    );
    let mut elsewhere = VerifierOptions::new(&url, "orders");
    elsewhere.issuer = Some("https://other.example.com".into());
    assert_eq!(
        ServiceTokenVerifier::with_options(elsewhere)
            .verify(&jwt)
            .await,
        Err(IdentityError::WrongIssuer)
    );
    // The default issuer is the key set's origin: here not the API's public one.
    assert_eq!(
        ServiceTokenVerifier::new(&url, "orders").verify(&jwt).await,
        Err(IdentityError::WrongIssuer)
    );
    // Tampered: a claim changed under the same signature.
    let mut forged = claims_of(&jwt);
    forged["sub"] = json!("mallory");
    assert_eq!(
        orders.verify(&with_claims(&jwt, &forged)).await,
        Err(IdentityError::BadSignature)
    );
    // Expired: signed by the real key (through KMS) with a past `exp`.
    let mut past = claims_of(&jwt);
    past["exp"] = json!(chrono::Utc::now().timestamp() - 10);
    past["iat"] = json!(chrono::Utc::now().timestamp() - 130);
    let expired = resigned(&tokens, &jwt, &past).await;
    assert_eq!(orders.verify(&expired).await, Err(IdentityError::Expired));
    // `alg` confusion: HS256 keyed with the public key's bytes.
    let keys = key_set(&tokens).await;
    let public = serde_json::to_vec(&keys.keys[0]).unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = keys.keys[0].common.key_id.clone();
    let confused = jsonwebtoken::encode(
        &header,
        &claims_of(&jwt),
        &EncodingKey::from_secret(&public),
    )
    .unwrap();
    assert_eq!(
        orders.verify(&confused).await,
        Err(IdentityError::UnsupportedAlgorithm)
    );
    // An unknown `kid`.
    let mut header = header_of(&jwt);
    header["kid"] = json!("not-a-published-key");
    let renamed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
        jwt.split_once('.').unwrap().1
    );
    assert_eq!(
        orders.verify(&renamed).await,
        Err(IdentityError::UnknownKey)
    );
    // A session's own token is no JWT.
    assert_eq!(orders.verify(&session).await, Err(IdentityError::Malformed));
    table.drop_table().await;
}

/// `claims` under `jwt`'s header, signed by the test's KMS key as the service signs.
async fn resigned(tokens: &Tokens, jwt: &str, claims: &Value) -> String {
    let header = jwt.split('.').next().unwrap();
    let input = format!(
        "{header}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    );
    let (_, signature) = tokens.tokens.sign(input.as_bytes()).await.unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[tokio::test]
async fn a_key_rotation_fails_no_verification() {
    let table = TestTable::new().await;
    let (old, new) = (signing_key().await, signing_key().await);
    let app = app(&table, &overrides());
    let session = signed_in(&app).await;
    let step = |keys: &[&str]| std::sync::Arc::new(tokens_app(&table, keys, &overrides()));

    // Before: the old key signs and is the only one published. A receiver starts and caches
    // that set.
    let before = step(&[&old]);
    let server = KeyServer::start(before.clone()).await;
    let receiver = verifier(&server.url, "orders");
    receiver.prefetch().await;
    let by_old = mint(&before, &session, "orders").await;
    receiver.verify(&by_old).await.unwrap();

    // 1. The new key is published, the old one still signs.
    let published = step(&[&old, &new]);
    server.serve(published.clone());
    assert_eq!(key_set(&published).await.keys.len(), 2);
    let first = mint(&published, &session, "orders").await;
    assert_eq!(header_of(&first)["kid"], header_of(&by_old)["kid"]);

    // 2. The new key signs; the old one stays published until its tokens expire.
    let switched = step(&[&new, &old]);
    server.serve(switched.clone());
    let by_new = mint(&switched, &session, "orders").await;
    assert_ne!(header_of(&by_new)["kid"], header_of(&by_old)["kid"]);
    // The receiver's cached set predates the new key: the unknown `kid` refetches it.
    for jwt in [&by_old, &first, &by_new] {
        receiver
            .verify(jwt)
            .await
            .expect("every token verifies during the rotation");
        verified(jwt, &key_set(&switched).await, "orders").unwrap();
    }

    // 3. Once the old key's tokens have expired, it is withdrawn: what it signed is refused,
    // by a receiver too once its key set has reached its max age.
    let mut options = VerifierOptions::new(&server.url, "orders");
    options.issuer = Some(ORIGIN.into());
    options.key_set_max_age = StdDuration::from_secs(1);
    let keeping = ServiceTokenVerifier::with_options(options);
    keeping.verify(&by_old).await.unwrap();
    server.serve(step(&[&new]));
    keeping
        .verify(&by_old)
        .await
        .expect("within the key set's max age");
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    assert_eq!(
        keeping.verify(&by_old).await,
        Err(IdentityError::UnknownKey)
    );
    keeping.verify(&by_new).await.unwrap();
    let after = step(&[&new]);
    assert_eq!(key_set(&after).await.keys.len(), 1);
    assert!(verified(&by_old, &key_set(&after).await, "orders").is_err());
    verified(&by_new, &key_set(&after).await, "orders").unwrap();
    table.drop_table().await;
}
