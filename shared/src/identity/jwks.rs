//! The keys of one JWKS issuer: parsed inline, read from a file, or fetched from a URL at cold
//! start and refetched, rate-limited, when a token names an unknown `kid` (key rotation at
//! the provider). Forged `kid`s cannot make the service hammer the provider.

use std::sync::RwLock;
use std::time::{Duration as StdDuration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use tracing::{info, warn};

use super::{IdentityError, JwksSource};

/// Largest JWKS document accepted from a URL or file.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Budget for one JWKS fetch.
const JWKS_FETCH_TIMEOUT: StdDuration = StdDuration::from_secs(2);

/// The cached keys, by `kid`; when a fetch was last tried on demand, when they were loaded, and
/// when a fetch of keys past their max age was last tried.
#[derive(Default)]
struct KeySet {
    keys: Vec<(Option<String>, Algorithm, DecodingKey)>,
    last_attempt: Option<Instant>,
    loaded_at: Option<Instant>,
    stale_attempt: Option<Instant>,
}

/// One issuer's keys and where they come from.
pub(super) struct Jwks {
    source: JwksSource,
    cache: RwLock<KeySet>,
}

/// How keys are fetched: the HTTP client (only when some issuer's keys live at a URL: TLS
/// set-up costs cold-start time) and the least time between two on-demand fetches.
pub(super) struct Fetcher {
    http: Option<reqwest::Client>,
    refresh_interval: StdDuration,
    max_age: Option<StdDuration>,
}

impl Fetcher {
    pub(super) fn new(
        needs_http: bool,
        refresh_interval: StdDuration,
        max_age: Option<StdDuration>,
    ) -> Self {
        let http = needs_http.then(|| {
            // reqwest uses the process-wide rustls provider: ring, as the store's client does.
            // Fails only when one is installed already, which then serves.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .timeout(JWKS_FETCH_TIMEOUT)
                .build()
                .unwrap_or_default()
        });
        Self {
            http,
            refresh_interval,
            max_age,
        }
    }

    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        let http = self.http.as_ref().ok_or("no HTTP client")?;
        let response = http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?;
        if response
            .content_length()
            .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
        {
            return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
        }
        response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| e.to_string())
    }
}

impl Jwks {
    /// Inline keys are parsed now; files and URLs on [`Jwks::refresh`] or first use.
    pub(super) fn new(source: &JwksSource) -> Self {
        let cache = match source {
            JwksSource::Inline(set) => KeySet {
                keys: usable_keys(set),
                last_attempt: None,
                loaded_at: None,
                stale_attempt: None,
            },
            _ => KeySet::default(),
        };
        Self {
            source: source.clone(),
            cache: RwLock::new(cache),
        }
    }

    /// Whether the keys are loaded from outside (a file or a URL).
    pub(super) fn is_external(&self) -> bool {
        !matches!(self.source, JwksSource::Inline(_))
    }

    /// The key for the token's header; an unknown `kid` refetches external keys, at most
    /// once per refresh interval.
    pub(super) async fn key_for(
        &self,
        issuer: &str,
        header: &Header,
        fetcher: &Fetcher,
    ) -> Result<DecodingKey, IdentityError> {
        // Keys older than their max age are fetched again first (when the fetch fails, the keys
        // held stay in use, and the next try waits).
        if self.is_external()
            && let Some(max_age) = fetcher.max_age
            && self.stale(max_age, fetcher.refresh_interval.min(max_age))
        {
            self.refresh(issuer, fetcher, false).await;
        }
        match self.lookup(header) {
            Err(IdentityError::UnknownKey) if self.is_external() => {
                // Key rotation at the provider: fetch again, at most once per interval.
                if self.refresh(issuer, fetcher, true).await {
                    self.lookup(header)
                } else if self.cache.read().map(|c| c.keys.is_empty()).unwrap_or(true) {
                    Err(IdentityError::KeysUnavailable)
                } else {
                    Err(IdentityError::UnknownKey)
                }
            }
            other => other,
        }
    }

    /// Whether the keys were loaded `max_age` ago or more and no such refresh was tried in the
    /// last `retry_after`; if so, this try is recorded.
    fn stale(&self, max_age: StdDuration, retry_after: StdDuration) -> bool {
        let Ok(mut set) = self.cache.write() else {
            return false;
        };
        let stale = set.loaded_at.is_some_and(|at| at.elapsed() >= max_age);
        if !stale
            || set
                .stale_attempt
                .is_some_and(|at| at.elapsed() < retry_after)
        {
            return false;
        }
        set.stale_attempt = Some(Instant::now());
        true
    }

    /// Fetches the JWKS. On demand (a token named an unknown `kid`), at most once per
    /// refresh interval; the cold-start fetch does not count. True when keys were loaded.
    pub(super) async fn refresh(&self, issuer: &str, fetcher: &Fetcher, on_demand: bool) -> bool {
        if on_demand {
            let Ok(mut set) = self.cache.write() else {
                return false;
            };
            if set
                .last_attempt
                .is_some_and(|at| at.elapsed() < fetcher.refresh_interval)
            {
                return false;
            }
            set.last_attempt = Some(Instant::now());
        }
        let fetched = match &self.source {
            JwksSource::Inline(_) => return false,
            JwksSource::File(path) => std::fs::read(path).map_err(|e| e.to_string()),
            JwksSource::Url(url) => fetcher.fetch(url).await,
        };
        let parsed = fetched.and_then(|bytes| {
            if bytes.len() > MAX_JWKS_BYTES {
                return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
            }
            serde_json::from_slice::<JwkSet>(&bytes).map_err(|e| e.to_string())
        });
        match parsed {
            Ok(set) => {
                let keys = usable_keys(&set);
                info!(issuer, keys = keys.len(), "identity provider keys loaded");
                if let Ok(mut cached) = self.cache.write() {
                    cached.keys = keys;
                    cached.loaded_at = Some(Instant::now());
                }
                true
            }
            Err(error) => {
                warn!(issuer, error = %error, "identity provider keys could not be loaded");
                false
            }
        }
    }

    /// The cached key for the token's `kid` (or the only key, when the token names none).
    fn lookup(&self, header: &Header) -> Result<DecodingKey, IdentityError> {
        let set = self
            .cache
            .read()
            .map_err(|_| IdentityError::KeysUnavailable)?;
        let found = match &header.kid {
            Some(kid) => set
                .keys
                .iter()
                .find(|(k, _, _)| k.as_deref() == Some(kid.as_str())),
            None if set.keys.len() == 1 => set.keys.first(),
            None if set.keys.is_empty() => return Err(IdentityError::UnknownKey),
            None => return Err(IdentityError::MissingKeyId),
        };
        match found {
            // The key's own algorithm must be the token's: an RSA key never checks an ES256 token.
            Some((_, alg, key)) if *alg == header.alg => Ok(key.clone()),
            Some(_) => Err(IdentityError::UnsupportedAlgorithm),
            None => Err(IdentityError::UnknownKey),
        }
    }
}

/// The RS256 / ES256 (P-256) signing keys of a JWKS; anything else is skipped.
fn usable_keys(set: &JwkSet) -> Vec<(Option<String>, Algorithm, DecodingKey)> {
    set.keys
        .iter()
        .filter(|jwk| {
            !matches!(
                jwk.common.public_key_use,
                Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
            )
        })
        .filter_map(|jwk: &Jwk| {
            let alg = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                _ => return None,
            };
            let declared = jwk
                .common
                .key_algorithm
                .map(|a| a.to_string())
                .unwrap_or_else(|| format!("{alg:?}"));
            if declared != format!("{alg:?}") {
                return None;
            }
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((jwk.common.key_id.clone(), alg, key))
        })
        .collect()
}
