//! Creates the local signing key of session tokens for other services on the KMS the
//! environment points at (`AWS_ENDPOINT_URL_KMS`: moto, whose ECC keys really sign), as the
//! template's `TokenSigningKey` (ECC_NIST_P256, SIGN_VERIFY), under the alias given as the first
//! argument (`alias/session-tokens-dev` by default). Keeps the key the alias already names.
//! Prints it as a shell export: `eval "$(create-token-key)"`.

use std::process::ExitCode;

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use session_shared::store::StoreTimeouts;
use session_shared::tokens::kms_client;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let alias = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "alias/session-tokens-dev".to_owned());
    let timeouts = StoreTimeouts {
        operation: std::time::Duration::from_secs(10),
        attempt: std::time::Duration::from_secs(5),
        max_attempts: 3,
    };
    let kms = kms_client(&|name: &str| std::env::var(name).ok(), &timeouts);
    let existing = kms.describe_key().key_id(&alias).send().await;
    if existing.is_err() {
        let created = kms
            .create_key()
            .key_spec(KeySpec::EccNistP256)
            .key_usage(KeyUsageType::SignVerify)
            .description("session-service local token signing key (make dev)")
            .send()
            .await;
        let key_id = match created.map(|c| c.key_metadata.map(|m| m.key_id)) {
            Ok(Some(key_id)) => key_id,
            Ok(None) => {
                eprintln!("create-token-key: KMS created a key without metadata");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!(
                    "create-token-key: {}",
                    aws_sdk_kms::error::DisplayErrorContext(e)
                );
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = kms
            .create_alias()
            .alias_name(&alias)
            .target_key_id(key_id)
            .send()
            .await
        {
            eprintln!(
                "create-token-key: {}",
                aws_sdk_kms::error::DisplayErrorContext(e)
            );
            return ExitCode::FAILURE;
        }
    }
    println!("export SESSION_TOKEN_KEYS='{alias}'");
    ExitCode::SUCCESS
}
