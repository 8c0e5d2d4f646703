//! The identity settings types: which issuers are trusted and how their tokens are checked.
//! Parsed from the environment by `config` (only for the functions that verify identity
//! tokens); `AUTH_ISSUERS` is parsed here, where its shape is defined.

use std::time::Duration as StdDuration;

/// How identity tokens are verified at sign-in (see [`crate::identity`]).
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The HS256 login-ticket issuer, when `AUTH_JWT_HS256_SECRET` is set.
    pub hs256: Option<Hs256Config>,
    /// Asymmetric issuers from `AUTH_ISSUERS`.
    pub issuers: Vec<IssuerConfig>,
    /// The claim whose value becomes the tenant id (issuers may override it).
    pub tenant_claim: String,
    /// Clock skew allowed on `exp` / `nbf` / `iat`.
    pub leeway: StdDuration,
    /// Tokens whose `iat` is older than this are refused (`None`: no limit).
    pub max_age: Option<StdDuration>,
    /// Least time between two fetches of one issuer's JWKS.
    pub jwks_refresh_interval: StdDuration,
    /// Keys loaded from a URL or file longer ago than this are fetched again before the next
    /// token is checked (a withdrawn key stops verifying); `None`: only an unknown `kid` does.
    pub jwks_max_age: Option<StdDuration>,
    /// The claim listing the lifetime profiles a user may use (`None`: any).
    pub profile_claim: Option<String>,
}

/// The HS256 login-ticket issuer (a shared secret; `Debug` redacts it).
#[derive(Clone)]
pub struct Hs256Config {
    /// The shared secret (at least 32 bytes).
    pub secret: Vec<u8>,
    /// The expected `iss`.
    pub issuer: String,
    /// The expected `aud`.
    pub audience: String,
}

impl std::fmt::Debug for Hs256Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hs256Config")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// One asymmetric issuer: who it is, who its tokens are for, where its keys are.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// The expected `iss`.
    pub issuer: String,
    /// Accepted `aud` values.
    pub audiences: Vec<String>,
    /// Accepted algorithms (RS256, ES256).
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    /// This issuer's tenant claim, if not the default one.
    pub tenant_claim: Option<String>,
    /// Where its keys are.
    pub source: JwksSource,
}

/// Where an issuer's JWKS comes from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// Given in the configuration.
    Inline(jsonwebtoken::jwk::JwkSet),
    /// A file, read at cold start.
    File(std::path::PathBuf),
    /// A URL (https, or http on loopback), fetched at cold start and on unknown `kid`s.
    Url(String),
}

/// Why `AUTH_ISSUERS` was refused.
#[derive(Debug, thiserror::Error)]
pub enum IssuersError {
    /// Not a JSON array of issuer objects.
    #[error("expected a JSON array of issuers: {0}")]
    Json(#[source] serde_json::Error),
    /// A JWKS fetched over plain HTTP from anywhere but this machine.
    #[error("{0}: jwks_url must be https")]
    InsecureJwksUrl(String),
    /// None or several of the key sources.
    #[error("{0}: give exactly one of jwks_url, jwks_file, jwks")]
    KeySource(String),
    /// An algorithm other than RS256 and ES256.
    #[error("{issuer}: algorithm {algorithm} is not accepted (RS256, ES256)")]
    Algorithm {
        /// The issuer.
        issuer: String,
        /// The algorithm named.
        algorithm: String,
    },
    /// An empty issuer or audience.
    #[error("issuer and audience must not be empty")]
    Empty,
}

/// `AUTH_ISSUERS` as written: a JSON array of these.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerEntry {
    issuer: String,
    audience: OneOrMany,
    jwks_url: Option<String>,
    jwks_file: Option<String>,
    jwks: Option<jsonwebtoken::jwk::JwkSet>,
    algorithms: Option<Vec<String>>,
    tenant_claim: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// `AUTH_ISSUERS` as written: a JSON array of issuers, each with its audience(s) and exactly one
/// of `jwks_url` (https, or http on loopback), `jwks_file`, `jwks`. The error says what is wrong.
pub fn parse_issuers(raw: &str) -> Result<Vec<IssuerConfig>, IssuersError> {
    let entries: Vec<IssuerEntry> = serde_json::from_str(raw).map_err(IssuersError::Json)?;
    entries
        .into_iter()
        .map(|e| {
            let source = match (e.jwks_url, e.jwks_file, e.jwks) {
                (Some(url), None, None) => {
                    let local = ["http://localhost", "http://127.0.0.1", "http://[::1]"]
                        .iter()
                        .any(|p| url.starts_with(p));
                    if !url.starts_with("https://") && !local {
                        return Err(IssuersError::InsecureJwksUrl(e.issuer));
                    }
                    JwksSource::Url(url)
                }
                (None, Some(file), None) => JwksSource::File(file.into()),
                (None, None, Some(set)) => JwksSource::Inline(set),
                _ => {
                    return Err(IssuersError::KeySource(e.issuer));
                }
            };
            let algorithms = e
                .algorithms
                .unwrap_or_else(|| vec!["RS256".into(), "ES256".into()])
                .iter()
                .map(|a| match a.as_str() {
                    "RS256" => Ok(jsonwebtoken::Algorithm::RS256),
                    "ES256" => Ok(jsonwebtoken::Algorithm::ES256),
                    other => Err(IssuersError::Algorithm {
                        issuer: e.issuer.clone(),
                        algorithm: other.to_owned(),
                    }),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let audiences = match e.audience {
                OneOrMany::One(a) => vec![a],
                OneOrMany::Many(a) => a,
            };
            if e.issuer.is_empty() || audiences.is_empty() {
                return Err(IssuersError::Empty);
            }
            Ok(IssuerConfig {
                issuer: e.issuer,
                audiences,
                algorithms,
                tenant_claim: e.tenant_claim,
                source,
            })
        })
        .collect()
}
