//! The receiving side of session tokens for other services (feature `token`): a Rust service
//! verifies a token offline against the session service's published keys. The keys are cached
//! and fetched again, rate-limited, when a token names an unknown `kid` (a key rotation), by the
//! same JWKS cache the sign-in verifier uses for identity providers, which also fetches it again
//! once it is older than its `max-age` (KEY_SET_MAX_AGE); only ES256 is accepted (an
//! HS256 token "signed" with the public key is refused), and the clock skew is bounded.

use std::time::Duration as StdDuration;

use jsonwebtoken::Algorithm;

use super::verifier::IssuerKinds;
use super::{IdTokenVerifier, IdentityError, IssuerConfig, JwksSource, JwtConfig};
use crate::domain::ServiceTokenClaims;

/// Clock skew allowed on `exp`, `nbf` and `iat` unless told otherwise.
pub const DEFAULT_LEEWAY: StdDuration = StdDuration::from_secs(30);
/// The most clock skew a verifier allows.
pub const MAX_LEEWAY: StdDuration = StdDuration::from_secs(300);
/// How long a fetched key set is used before it is fetched again: the `max-age` the session
/// service gives it, so a withdrawn key stops verifying within it.
pub const KEY_SET_MAX_AGE: StdDuration = StdDuration::from_secs(300);
/// Least time between two fetches of the key set caused by unknown `kid`s.
pub const REFETCH_INTERVAL: StdDuration = StdDuration::from_secs(30);

/// What a verifier checks: where the keys are, the audience, the issuer, the clock skew.
#[derive(Debug, Clone)]
pub struct VerifierOptions {
    /// The key set: `https://<api>/.well-known/jwks.json`.
    pub jwks_url: String,
    /// The audience this service is (`aud`): one of `SESSION_TOKEN_AUDIENCES`.
    pub audience: String,
    /// The expected `iss`; `None`: the origin of `jwks_url` (the API's public origin).
    pub issuer: Option<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat` (at most five minutes).
    pub leeway: StdDuration,
    /// How long a fetched key set is used before it is fetched again (a withdrawn key stops
    /// verifying within it).
    pub key_set_max_age: StdDuration,
}

impl VerifierOptions {
    /// The options for `audience` with the keys at `jwks_url`, the default issuer and leeway.
    pub fn new(jwks_url: &str, audience: &str) -> Self {
        Self {
            jwks_url: jwks_url.to_owned(),
            audience: audience.to_owned(),
            issuer: None,
            leeway: DEFAULT_LEEWAY,
            key_set_max_age: KEY_SET_MAX_AGE,
        }
    }
}

/// Verifies session tokens minted for one audience.
pub struct ServiceTokenVerifier {
    inner: IdTokenVerifier,
}

impl ServiceTokenVerifier {
    /// A verifier of tokens for `audience`, whose keys are at `jwks_url`.
    pub fn new(jwks_url: &str, audience: &str) -> Self {
        Self::with_options(VerifierOptions::new(jwks_url, audience))
    }

    /// A verifier with every option given.
    pub fn with_options(options: VerifierOptions) -> Self {
        let issuer = options
            .issuer
            .or_else(|| origin_of(&options.jwks_url))
            .unwrap_or_default();
        let config = JwtConfig {
            hs256: None,
            issuers: vec![IssuerConfig {
                issuer,
                audiences: vec![options.audience],
                algorithms: vec![Algorithm::ES256],
                tenant_claim: None,
                source: JwksSource::Url(options.jwks_url),
            }],
            tenant_claim: "tenant_id".into(),
            leeway: options.leeway.min(MAX_LEEWAY),
            max_age: None,
            jwks_refresh_interval: REFETCH_INTERVAL,
            jwks_max_age: Some(options.key_set_max_age),
            profile_claim: None,
        };
        Self {
            inner: IdTokenVerifier::new(&config),
        }
    }

    /// Fetches the key set now (at start-up) rather than on the first token. A failure is
    /// logged; the first token tries again.
    pub async fn prefetch(&self) {
        self.inner.prefetch().await;
    }

    /// The claims of a valid token: ES256 by a published key, this audience and issuer, not
    /// expired. A session's own token (not a JWT) is refused as malformed.
    pub async fn verify(&self, token: &str) -> Result<ServiceTokenClaims, IdentityError> {
        let required = ["exp", "iat", "sub", "iss", "aud"];
        let (_, _, data) = self
            .inner
            .decoded::<ServiceTokenClaims>(token, &required, IssuerKinds::Providers)
            .await?;
        Ok(data.claims)
    }
}

/// `scheme://host[:port]` of `url`.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_defaults_to_the_key_sets_origin() {
        assert_eq!(
            origin_of("https://api.example.com/prod/.well-known/jwks.json").as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:9300/.well-known/jwks.json").as_deref(),
            Some("http://127.0.0.1:9300")
        );
        assert_eq!(origin_of("not a url"), None);
    }
}
