//! The wiring: builds what a function uses, once per cold start, from the configuration. The
//! only module that imports `config`; each function's `main` calls one of these.
//!
//! [`Api`] is what every session route and the authorizer use (store, session operations,
//! HTTP settings: no identity settings, no JWKS fetch). [`SignIn`] adds the identity verifier,
//! for `POST /sessions` alone.

use crate::config::{self, Config, ConfigError};
use crate::handlers::{Api, SignIn};
use crate::identity::{IdTokenVerifier, JwtConfig};
use crate::session::SessionService;
use crate::store::{self, SessionStore};

impl Api {
    /// The API over `store`, configured by `config`.
    pub fn new(config: Config, store: SessionStore) -> Self {
        Self {
            sessions: SessionService::new(store, config.policy),
            http: config.http,
        }
    }

    /// Reads the configuration (no `AUTH_*` setting) and builds the DynamoDB client from the
    /// environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let client = store::client_from_env(&config.store_timeouts);
        let store = SessionStore::new(client, config.table_name.clone());
        Ok(Self::new(config, store))
    }
}

impl SignIn {
    /// The API plus a verifier of identity tokens from `identity`.
    pub fn new(api: Api, identity: &JwtConfig) -> Self {
        Self {
            api,
            verifier: IdTokenVerifier::new(identity),
        }
    }

    /// [`Api::from_env`] plus the identity settings: reads the HS256 secret from Secrets Manager
    /// when given by its ARN, and fetches every file and URL JWKS, once.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let identity = config::identity_resolving_secrets(|name| std::env::var(name).ok()).await?;
        let sign_in = Self::new(Api::from_env()?, &identity);
        sign_in.verifier.prefetch().await;
        Ok(sign_in)
    }
}

#[cfg(feature = "token-mint")]
impl crate::handlers::Tokens {
    /// [`Api::from_env`] plus the token settings (`SESSION_TOKEN_*`) and the KMS client. The
    /// keys are read from KMS on first use, not here: a cold start makes no KMS call.
    pub fn from_env() -> Result<Self, ConfigError> {
        let lookup = |name: &str| std::env::var(name).ok();
        let config = Config::from_env()?;
        let client = crate::tokens::kms_client(&lookup, &config.store_timeouts);
        let settings = config::tokens_from_lookup(lookup)?;
        let store = SessionStore::new(
            store::client_from_env(&config.store_timeouts),
            config.table_name.clone(),
        );
        Ok(Self {
            api: Api::new(config, store),
            tokens: crate::tokens::TokenService::new(settings, client),
        })
    }
}

#[cfg(feature = "guard")]
impl From<Api> for crate::guard::SessionGuard {
    /// A guard with the API's operations and HTTP settings.
    fn from(api: Api) -> Self {
        Self::new(api.sessions, api.http)
    }
}

#[cfg(feature = "guard")]
impl crate::guard::SessionGuard {
    /// Reads the same `SESSION_*` / `STORE_*` variables as the functions (no `AUTH_*`), and
    /// builds the DynamoDB client with `aws-config`'s default chain: outside Lambda,
    /// credentials come from profiles, SSO, web identity, the ECS task role or instance
    /// metadata, and are refreshed before they expire.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok()).await
    }

    /// [`Self::from_env`] with the session settings read through `lookup` (the AWS settings
    /// still come from the default chain).
    pub async fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let config = Config::from_lookup(lookup)?;
        let client = store::client_from_default_chain(&config.store_timeouts).await;
        let store = SessionStore::new(client, config.table_name.clone());
        Ok(Self::from(Api::new(config, store)))
    }
}

#[cfg(feature = "events")]
impl crate::events::Publisher {
    /// The destinations the environment configures (`SESSION_WEBHOOK_URL` and its queue,
    /// `SESSION_EVENT_BUS`, the audit trail).
    pub fn from_env() -> Result<Self, ConfigError> {
        let lookup = |name: &str| std::env::var(name).ok();
        let settings = config::events_from_lookup(lookup)?;
        Ok(Self::new(settings, &lookup))
    }
}

#[cfg(feature = "events")]
impl crate::events::Deliverer {
    /// The webhook sender the environment configures (`SESSION_WEBHOOK_*`), the secret read
    /// from Secrets Manager when given by its ARN.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let lookup = |name: &str| std::env::var(name).ok();
        let settings = config::deliveries_resolving_secrets(lookup).await?;
        Ok(Self::from_settings(
            settings,
            crate::events::sqs_client(&lookup),
        ))
    }
}
