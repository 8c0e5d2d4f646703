//! Everything a function needs, built once per cold start and lent to every invocation.

use crate::config::{Config, ConfigError};
use crate::identity::IdTokenVerifier;
use crate::service::SessionService;
use crate::store::{self, SessionStore};

pub struct App {
    pub config: Config,
    pub sessions: SessionService,
    pub verifier: IdTokenVerifier,
}

impl App {
    pub fn new(config: Config, store: SessionStore) -> Self {
        let store = store.with_audit_retention(config.audit_retention);
        let sessions = SessionService::new(store, config.policy);
        let verifier = IdTokenVerifier::new(&config.jwt);
        Self {
            config,
            sessions,
            verifier,
        }
    }

    /// Reads the configuration and builds the DynamoDB client from the environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let client = store::client_from_env(&config.store_timeouts);
        let store = SessionStore::new(client, config.table_name.clone());
        let app = Self::new(config, store);
        app.verifier.prefetch().await;
        Ok(app)
    }
}
