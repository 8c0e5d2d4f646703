//! The signing keys, held by AWS KMS: their private halves never leave it. Each instance reads
//! the public keys once (`GetPublicKey`, on first use, again after a failure) and signs each
//! token with `Sign` (ECDSA_SHA_256), turning KMS's DER signature into the
//! JOSE form (`r || s`, 64 bytes).

use aws_sdk_kms::Client;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{BehaviorVersion, Region};
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use p256::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::jwk::PublicJwk;
use crate::store::{AwsEnvironment, StoreTimeouts, https_client};

/// The largest message KMS `Sign` takes whole (`MessageType::Raw`).
const MAX_RAW_MESSAGE_BYTES: usize = 4096;

/// Why a key could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// KMS did not answer, or answered that it cannot now (throttling, an internal error): a
    /// retry may succeed (its error, with its context; never key material).
    #[error("AWS KMS: {0}")]
    Unavailable(String),
    /// KMS refused for good: the key does not exist, is disabled or pending deletion, is not
    /// for signing, or this role may not use it. A configuration to fix, not to retry.
    #[error("AWS KMS refused: {0}")]
    Refused(String),
    /// The key is not an ECC_NIST_P256 signing key.
    #[error("KMS key {0} is not an ECC_NIST_P256 key for SIGN_VERIFY")]
    WrongKind(String),
    /// No key is configured (`SESSION_TOKEN_KEYS` is required where tokens are minted).
    #[error("no signing key is configured")]
    NoKey,
    /// KMS answered with something that is not a P-256 public key or an ECDSA signature.
    #[error("AWS KMS answered with an unreadable {0}")]
    Unreadable(&'static str),
}

impl SigningError {
    /// A KMS call's failure, told apart by the service's error code.
    fn of<E, R>(error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        /// What no retry changes.
        const REFUSALS: [&str; 7] = [
            "NotFoundException",
            "DisabledException",
            "KMSInvalidStateException",
            "InvalidKeyUsageException",
            "AccessDeniedException",
            "IncorrectKeyException",
            "InvalidArnException",
        ];
        let refused = error.code().is_some_and(|code| REFUSALS.contains(&code));
        let text = DisplayErrorContext(error).to_string();
        if refused {
            Self::Refused(text)
        } else {
            Self::Unavailable(text)
        }
    }

    /// Whether a retry may succeed (503), rather than the configuration being wrong (500).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A published key: the id to sign with (KMS's key ARN, resolved once, so an alias moved to
/// another key never makes a signature disagree with its `kid`) and its JWK.
#[derive(Debug, Clone)]
pub struct PublishedKey {
    /// The key's ARN.
    pub arn: String,
    /// The public key as published.
    pub jwk: PublicJwk,
}

/// The configured keys (`SESSION_TOKEN_KEYS`: the first signs, all are published) and the KMS
/// client.
pub struct KmsKeys {
    client: Client,
    ids: Vec<String>,
    published: OnceCell<Vec<PublishedKey>>,
}

impl KmsKeys {
    /// The keys named by `ids` (key ids, ARNs or aliases), through `client`.
    pub fn new(client: Client, ids: Vec<String>) -> Self {
        Self {
            client,
            ids,
            published: OnceCell::new(),
        }
    }

    /// Every configured key, the signing key first: read from KMS on first use and kept for the
    /// life of the instance (a failed read is tried again by the next call).
    pub async fn published(&self) -> Result<&[PublishedKey], SigningError> {
        self.published
            .get_or_try_init(|| async {
                let mut keys = Vec::with_capacity(self.ids.len());
                for id in &self.ids {
                    keys.push(self.public_key(id).await?);
                }
                Ok(keys)
            })
            .await
            .map(Vec::as_slice)
    }

    async fn public_key(&self, id: &str) -> Result<PublishedKey, SigningError> {
        let output = self
            .client
            .get_public_key()
            .key_id(id)
            .send()
            .await
            .map_err(SigningError::of)?;
        // Some emulators leave `KeySpec` out (moto gives only its deprecated twin): then the
        // SPKI below must name P-256, which its parse checks.
        let wrong_spec = output
            .key_spec
            .as_ref()
            .is_some_and(|spec| *spec != KeySpec::EccNistP256);
        let signs_es256 = output
            .signing_algorithms
            .as_deref()
            .is_some_and(|algorithms| algorithms.contains(&SigningAlgorithmSpec::EcdsaSha256));
        if wrong_spec || !signs_es256 || output.key_usage != Some(KeyUsageType::SignVerify) {
            return Err(SigningError::WrongKind(id.to_owned()));
        }
        let der = output
            .public_key
            .ok_or(SigningError::Unreadable("public key"))?;
        let key = p256::PublicKey::from_public_key_der(der.as_ref())
            .map_err(|_| SigningError::Unreadable("public key"))?;
        let point = p256::EncodedPoint::from(key);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(SigningError::Unreadable("public key"));
        };
        Ok(PublishedKey {
            arn: output.key_id.unwrap_or_else(|| id.to_owned()),
            jwk: PublicJwk::es256(x, y),
        })
    }

    /// The JWS signature of `signing_input` (`header.payload`) by `key`: ES256, 64 bytes. KMS
    /// hashes the input itself (`RAW`) up to its 4096-byte limit, the only form the local
    /// emulator signs correctly (moto does not implement `DIGEST`); a larger input is sent as its
    /// SHA-256 digest, which signs the same bytes.
    pub async fn sign(
        &self,
        key: &PublishedKey,
        signing_input: &[u8],
    ) -> Result<[u8; 64], SigningError> {
        let (message, message_type) = if signing_input.len() <= MAX_RAW_MESSAGE_BYTES {
            (signing_input.to_vec(), MessageType::Raw)
        } else {
            (Sha256::digest(signing_input).to_vec(), MessageType::Digest)
        };
        let output = self
            .client
            .sign()
            .key_id(&key.arn)
            .message(Blob::new(message))
            .message_type(message_type)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(SigningError::of)?;
        let der = output
            .signature
            .ok_or(SigningError::Unreadable("signature"))?;
        let signature = p256::ecdsa::Signature::from_der(der.as_ref())
            .map_err(|_| SigningError::Unreadable("signature"))?;
        Ok(signature.to_bytes().into())
    }
}

/// The KMS client of the functions: the environment's region, credentials and endpoint
/// (`AWS_ENDPOINT_URL_KMS` for a local stand-in), the same HTTPS stack as every client, and the
/// store's call budgets (`STORE_*`): a slow KMS becomes a 503, like a slow table.
pub fn kms_client(lookup: &impl Fn(&str) -> Option<String>, timeouts: &StoreTimeouts) -> Client {
    let env = AwsEnvironment::of(lookup, "KMS");
    let mut config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .region(env.region.map(Region::new))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(timeouts.operation)
                .operation_attempt_timeout(timeouts.attempt)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(timeouts.max_attempts));
    if let Some(credentials) = env.credentials {
        config = config.credentials_provider(credentials);
    }
    config.set_endpoint_url(env.endpoint);
    Client::from_conf(config.build())
}
