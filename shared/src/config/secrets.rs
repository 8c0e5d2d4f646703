//! The HS256 login-ticket secret read from AWS Secrets Manager by its ARN, once, at the cold
//! start of the functions that verify tickets (the template's way; local runs give it in
//! plain).

use super::env::Env;
use super::error::{ConfigError, Rule, SecretError};
use super::identity_from_lookup;
use crate::identity::JwtConfig;

/// The identity settings read through `lookup`, with the HS256 secret fetched from AWS Secrets
/// Manager when `AUTH_JWT_HS256_SECRET_ARN` names it: once, at cold start, by the functions
/// that verify tickets. A secret that cannot be read fails start-up, naming the variable.
/// The Secrets Manager client is built from the same `lookup` (`AWS_REGION`, credentials,
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER` for a local endpoint).
pub async fn identity_resolving_secrets(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<JwtConfig, ConfigError> {
    const ARN: &str = "AUTH_JWT_HS256_SECRET_ARN";
    let env = Env(&lookup);
    let fetched = match (env.optional("AUTH_JWT_HS256_SECRET"), env.optional(ARN)) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                ARN,
                "<set>".into(),
                Rule::SecretTwice("AUTH_JWT_HS256_SECRET"),
            ));
        }
        (None, Some(arn)) => Some(
            secret_string(&lookup, &arn)
                .await
                .map_err(|reason| ConfigError::Secret { name: ARN, reason })?,
        ),
        _ => None,
    };
    identity_from_lookup(|name| match (name, &fetched) {
        ("AUTH_JWT_HS256_SECRET", Some(secret)) => Some(secret.clone()),
        _ => lookup(name),
    })
}

/// The string value of the secret `arn`.
pub(super) async fn secret_string(
    lookup: &impl Fn(&str) -> Option<String>,
    arn: &str,
) -> Result<String, SecretError> {
    use aws_sdk_secretsmanager::config::{BehaviorVersion, Region, SharedCredentialsProvider};
    let env = crate::store::AwsEnvironment::of(lookup, "SECRETS_MANAGER");
    let mut config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(crate::store::https_client())
        .region(env.region.map(Region::new));
    config.set_credentials_provider(env.credentials.map(SharedCredentialsProvider::new));
    config.set_endpoint_url(env.endpoint);
    let client = aws_sdk_secretsmanager::Client::from_conf(config.build());
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            let error = aws_sdk_secretsmanager::error::DisplayErrorContext(e);
            SecretError::Service(error.to_string())
        })?;
    output.secret_string.ok_or(SecretError::NotAString)
}
