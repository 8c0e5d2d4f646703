//! The HS256 login-ticket secret read by its ARN from AWS Secrets Manager at cold start (what
//! the template does), against a local endpoint: moto in server mode, which `make test`
//! starts (`AWS_ENDPOINT_URL_SECRETS_MANAGER`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use session_shared::config::{ConfigError, identity_resolving_secrets};
use session_shared::{Api, SignIn};
use session_tests::{Event, Function, Payload, SECRET, TestTable, config, invoke, ticket};

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER").expect(
        "AWS_ENDPOINT_URL_SECRETS_MANAGER is not set: run the suite with `make test`, which starts moto",
    )
}

fn client() -> aws_sdk_secretsmanager::Client {
    use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(session_shared::store::https_client())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "test"))
        .endpoint_url(endpoint())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// The identity variables of the tests, with the secret given by `arn` instead of in plain.
fn lookup_with(arn: &str, plain: bool) -> impl Fn(&str) -> Option<String> {
    let mut vars: HashMap<String, String> = session_tests::config_vars("unused")
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    if !plain {
        vars.remove("AUTH_JWT_HS256_SECRET");
    }
    vars.insert("AUTH_JWT_HS256_SECRET_ARN".into(), arn.to_owned());
    vars.insert("AWS_ENDPOINT_URL_SECRETS_MANAGER".into(), endpoint());
    vars.insert("AWS_REGION".into(), "us-east-1".into());
    vars.insert("AWS_ACCESS_KEY_ID".into(), "local".into());
    vars.insert("AWS_SECRET_ACCESS_KEY".into(), "local".into());
    move |name| vars.get(name).cloned()
}

#[tokio::test]
async fn sign_in_verifies_tickets_with_the_secret_read_by_its_arn() {
    let table = TestTable::new().await;
    let name = format!("ticket-secret-{}", uuid_like());
    let created = client()
        .create_secret()
        .name(&name)
        .secret_string(SECRET)
        .send()
        .await
        .unwrap();
    let arn = created.arn.unwrap();

    let identity = identity_resolving_secrets(lookup_with(&arn, false))
        .await
        .unwrap();
    let app = SignIn::new(Api::new(config(&table.name, &[]), table.store()), &identity);
    let reply = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket("alice", None)),
    )
    .await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    assert!(!format!("{identity:?}").contains(SECRET), "never printed");
    table.drop_table().await;
}

#[tokio::test]
async fn a_missing_secret_fails_start_up_naming_the_variable() {
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret-AbCdEf";

    let error = identity_resolving_secrets(lookup_with(arn, false))
        .await
        .err()
        .map(|e| e.to_string())
        .expect("start-up fails");

    assert!(error.contains("AUTH_JWT_HS256_SECRET_ARN"), "{error}");
    assert!(error.contains("Secrets Manager"), "{error}");
}

#[tokio::test]
async fn the_secret_and_its_arn_together_are_refused() {
    let result = identity_resolving_secrets(lookup_with("arn:aws:secretsmanager:x", true)).await;

    assert!(matches!(
        result,
        Err(ConfigError::Invalid {
            name: "AUTH_JWT_HS256_SECRET_ARN",
            ..
        })
    ));
}

#[tokio::test]
async fn session_webhooks_signs_with_the_secret_read_by_its_arn() {
    use session_shared::config::deliveries_resolving_secrets;
    use session_shared::events::WebhookSecret;
    let raw = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let created = client()
        .create_secret()
        .name(format!("webhook-secret-{}", uuid_like()))
        .secret_string(raw)
        .send()
        .await
        .unwrap();
    let arn = created.arn.unwrap();
    let vars: HashMap<&str, String> = HashMap::from([
        (
            "SESSION_WEBHOOK_QUEUE_URL",
            "http://127.0.0.1:1/1/hooks.fifo".to_owned(),
        ),
        (
            "SESSION_WEBHOOK_FAILURE_QUEUE_URL",
            "http://127.0.0.1:1/1/hooks-failed.fifo".to_owned(),
        ),
        ("SESSION_WEBHOOK_SECRET_ARN", arn),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "local".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "local".to_owned()),
    ]);

    let settings = deliveries_resolving_secrets(|name| vars.get(name).cloned())
        .await
        .unwrap();

    // The secret read is the one stored: its signatures are those of the stored value.
    let webhook = settings.webhook;
    let expected = WebhookSecret::parse(raw).unwrap();
    assert_eq!(
        webhook.secret.sign("msg_1", 1_700_000_000, "{}"),
        expected.sign("msg_1", 1_700_000_000, "{}")
    );
    assert_ne!(
        webhook.secret.sign("msg_1", 1_700_000_000, "{}"),
        WebhookSecret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .unwrap()
            .sign("msg_1", 1_700_000_000, "{}")
    );
    // A missing secret fails start-up, naming the variable.
    let mut missing = vars.clone();
    missing.insert(
        "SESSION_WEBHOOK_SECRET_ARN",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-AbCdEf".to_owned(),
    );
    let error = deliveries_resolving_secrets(|name| missing.get(name).cloned())
        .await
        .err()
        .map(|e| e.to_string())
        .expect("start-up fails");
    assert!(error.contains("SESSION_WEBHOOK_SECRET_ARN"), "{error}");
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
