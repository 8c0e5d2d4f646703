//! Session tokens for other services in the tests: a signing key of the test's own on the local
//! KMS (moto, `AWS_ENDPOINT_URL_KMS`), which really signs (ECDSA P-256), and `session-token`'s
//! handler built on the test's table.

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use lambda_http::service_fn;
use serde_json::Value;
use session_shared::Api;
use session_shared::config::tokens_from_lookup;
use session_shared::handlers::{self, Tokens};
use session_shared::store::{SessionStore, StoreTimeouts};
use session_shared::tokens::{TokenService, kms_client};

use crate::{Event, OpCounter, Reply, TestTable, config, recorded, vars};

/// The audiences of the tests' token function: `orders` (2 minutes, the `plan` and `role` data
/// keys) and `search` (the default lifetime, no data).
pub const AUDIENCES: &str =
    r#"{"orders": {"lifetime": "2m", "data": ["plan", "role"]}, "search": {}}"#;

/// The KMS client of the tests (the functions' own, on the local endpoint).
pub fn kms() -> aws_sdk_kms::Client {
    kms_at(None)
}

/// The functions' KMS client on `endpoint` (the local one when `None`).
pub fn kms_at(endpoint: Option<&str>) -> aws_sdk_kms::Client {
    kms_client(
        &|name: &str| match (name, endpoint) {
            ("AWS_ENDPOINT_URL_KMS", Some(endpoint)) => Some(endpoint.to_owned()),
            _ => std::env::var(name).ok(),
        },
        &StoreTimeouts {
            operation: std::time::Duration::from_secs(5),
            attempt: std::time::Duration::from_secs(2),
            max_attempts: 2,
        },
    )
}

/// A new ECC_NIST_P256 signing key on the local KMS: its ARN.
pub async fn signing_key() -> String {
    let created = kms()
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .description("session-tests token signing key")
        .send()
        .await
        .expect("the local KMS (moto) creates keys: is AWS_ENDPOINT_URL_KMS set?");
    created.key_metadata.unwrap().arn.unwrap()
}

/// `session-token`'s handle on the test's table, signing with `keys` (the first signs), for
/// [`AUDIENCES`] unless `overrides` says otherwise.
pub fn tokens_app(table: &TestTable, keys: &[&str], overrides: &[(&str, &str)]) -> Tokens {
    tokens_on(table.store(), kms(), &table.name, keys, overrides)
}

/// [`tokens_app`] whose DynamoDB and KMS operations `counter` records.
pub fn counted_tokens_app(
    table: &TestTable,
    keys: &[&str],
    overrides: &[(&str, &str)],
    counter: &OpCounter,
) -> Tokens {
    let kms = aws_sdk_kms::Client::from_conf(
        kms()
            .config()
            .to_builder()
            .interceptor(counter.clone())
            .build(),
    );
    tokens_on(
        table.counted_store(counter),
        kms,
        &table.name,
        keys,
        overrides,
    )
}

/// `session-token`'s handle on `store` (of the table named `table`) and `kms`.
pub fn tokens_on(
    store: SessionStore,
    kms: aws_sdk_kms::Client,
    table: &str,
    keys: &[&str],
    overrides: &[(&str, &str)],
) -> Tokens {
    let keys = keys.join(",");
    let mut all = vec![
        ("SESSION_TOKEN_KEYS", keys.as_str()),
        ("SESSION_TOKEN_AUDIENCES", AUDIENCES),
    ];
    all.extend_from_slice(overrides);
    let vars = vars(table, &all);
    let settings = tokens_from_lookup(|name| vars.get(name).cloned()).expect("token settings");
    Tokens {
        api: Api::new(config(table, &all), store),
        tokens: TokenService::new(settings, kms),
    }
}

/// Runs `session-token`'s handler on one event, as the function does.
pub async fn invoke_tokens(tokens: &Tokens, event: Event) -> Reply {
    recorded(service_fn(|req| handlers::token(tokens, req)), event).await
}

/// The claims of a compact JWS, read without verifying it (to look, never to trust).
pub fn claims_of(jwt: &str) -> Value {
    segment(jwt, 1)
}

/// The header of a compact JWS, read without verifying it.
pub fn header_of(jwt: &str) -> Value {
    segment(jwt, 0)
}

fn segment(jwt: &str, index: usize) -> Value {
    use base64::Engine as _;
    let part = jwt.split('.').nth(index).expect("a compact JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}
