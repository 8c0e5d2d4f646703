//! The DynamoDB client: built once per cold start from the environment Lambda provides, with
//! this module's own timeout settings. Owns the HTTPS stack (rustls on ring) and the retry
//! policy of every call; knows nothing of items or sessions.

use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_smithy_http_client::tls;

/// DynamoDB call budgets: well inside the Lambda timeout, so a slow database becomes a 503.
#[derive(Debug, Clone, Copy)]
pub struct StoreTimeouts {
    /// Budget for one call, retries included (`STORE_OPERATION_TIMEOUT`).
    pub operation: StdDuration,
    /// Budget for one attempt of a call (`STORE_ATTEMPT_TIMEOUT`).
    pub attempt: StdDuration,
    /// Attempts per call, retried with jittered backoff (`STORE_MAX_ATTEMPTS`).
    pub max_attempts: u32,
}

/// The HTTPS client of every AWS SDK client: hyper + rustls with the `ring` provider and the
/// system's root certificates (the SDK's default pulls in aws-lc, a much larger binary).
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Builds the DynamoDB client once per cold start from the environment Lambda provides
/// (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`; and
/// `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local), with explicit timeouts and bounded, jittered
/// retries. Not `aws-config`: its provider chain (profiles, SSO, STS, IMDS) is never used in
/// Lambda, yet was a third of each binary and part of every cold start. Lambda's credentials
/// stay valid for the life of the execution environment. Missing credentials make every call
/// fail (503), never a panic.
pub fn client_from_env(timeouts: &StoreTimeouts) -> Client {
    Client::from_conf(client_config(|name| std::env::var(name).ok(), timeouts).build())
}

/// Builds the DynamoDB client of a service outside Lambda (the `guard` feature) with
/// `aws-config`'s default chain: credentials from the environment, shared profiles and SSO,
/// web identity (EKS), the ECS task role or instance metadata, refreshed before they expire;
/// the region and `AWS_ENDPOINT_URL_DYNAMODB` likewise. Same HTTPS stack, timeouts and
/// retries as the functions' client.
#[cfg(feature = "guard")]
pub async fn client_from_default_chain(timeouts: &StoreTimeouts) -> Client {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(timeout_config(timeouts))
        .retry_config(RetryConfig::standard().with_max_attempts(timeouts.max_attempts))
        .load()
        .await;
    Client::new(&shared)
}

fn timeout_config(timeouts: &StoreTimeouts) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(timeouts.attempt.min(StdDuration::from_secs(1)))
        .operation_timeout(timeouts.operation)
        .operation_attempt_timeout(timeouts.attempt)
        .build()
}

/// What an AWS client of the library takes from the environment besides the HTTPS client: the
/// region (`AWS_REGION`, else `AWS_DEFAULT_REGION`), the credentials, and the endpoint
/// (`AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`: a local stand-in such as moto).
#[derive(Debug, Clone)]
pub struct AwsEnvironment {
    /// The region.
    pub region: Option<String>,
    /// The credentials ([`environment_credentials`]).
    pub credentials: Option<Credentials>,
    /// The endpoint, when overridden.
    pub endpoint: Option<String>,
}

impl AwsEnvironment {
    /// The environment of the client of `service` (`SECRETS_MANAGER`, `EVENTBRIDGE`, ...),
    /// read through `lookup`.
    pub fn of(lookup: &impl Fn(&str) -> Option<String>, service: &str) -> Self {
        let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
        Self {
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            credentials: environment_credentials(lookup),
            endpoint: var(&format!("AWS_ENDPOINT_URL_{service}"))
                .or_else(|| var("AWS_ENDPOINT_URL")),
        }
    }
}

/// The credentials Lambda puts in the environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), read through `lookup`; `None` when absent.
/// The same type serves every AWS SDK client of the functions.
pub fn environment_credentials(lookup: &impl Fn(&str) -> Option<String>) -> Option<Credentials> {
    let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
    Some(Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        var("AWS_SESSION_TOKEN"),
        None,
        "environment",
    ))
}

/// The configuration [`client_from_env`] builds, with the variables read through `lookup`:
/// what the tests build their clients from (adding only an operation counter), so the
/// budgets and retries they exercise are the functions' own.
pub fn client_config(
    lookup: impl Fn(&str) -> Option<String>,
    timeouts: &StoreTimeouts,
) -> aws_sdk_dynamodb::config::Builder {
    let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .region(
            var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .map(Region::new),
        )
        .timeout_config(timeout_config(timeouts))
        .retry_config(RetryConfig::standard().with_max_attempts(timeouts.max_attempts));
    if let Some(credentials) = environment_credentials(&lookup) {
        config = config.credentials_provider(credentials);
    }
    if let Some(endpoint) = var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| var("AWS_ENDPOINT_URL")) {
        config = config.endpoint_url(endpoint);
    }
    config
}
