//! Sign-out that follows the identity provider (OpenID Connect Back-Channel Logout 1.0): a
//! verified logout token ends every session its provider session (`sid`) started, or, naming
//! only the user (`sub`), every session of that user at that issuer. Each ends as `idp_logout`,
//! named after the issuer. The token's `jti` is used once.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use tracing::{info, instrument};

use super::create::Claim;
use super::{Revoker, SessionService};
use crate::domain::{
    ClientInfo, ProviderSession, ResumeKey, SealError, UserKey, at_storage_precision,
};
use crate::identity::LogoutToken;
use crate::store::{Owner, StoreError};

/// Why a logout token ended nothing.
#[derive(Debug, thiserror::Error)]
pub enum ProviderLogoutError {
    /// Its `jti` was used before: a replayed logout token.
    #[error("this logout token was used before")]
    Replayed,
    /// The operating system's random source failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The store failed; the token's use was given back, so the provider's retry counts.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SessionService {
    /// Ends the sessions `logout` names; how many were live. Its single use is recorded first
    /// (one conditional put) and given back when ending them fails, so that the provider's
    /// retry of the same token is not taken for a replay.
    #[instrument(skip_all, fields(issuer = logout.issuer.as_str()))]
    pub async fn provider_logout(
        &self,
        logout: &LogoutToken,
        now: DateTime<Utc>,
    ) -> Result<usize, ProviderLogoutError> {
        let now = at_storage_precision(now);
        let resume = ResumeKey::generate().map_err(SealError::Random)?;
        match self.claim_use(&logout.ticket, &resume, None, now).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(ProviderLogoutError::Replayed),
            Err(Claim::Seal(e)) => return Err(e.into()),
            Err(Claim::Store(e)) => return Err(e.into()),
        }
        let ended = self.end_provider_sessions(logout, now).await;
        if ended.is_err()
            && let Err(error) = self.store.release_ticket(&logout.ticket).await
        {
            tracing::warn!(error = %error, "giving back a back-channel logout's use failed");
        }
        let ended = ended?;
        info!(ended, "back-channel logout");
        Ok(ended)
    }

    async fn end_provider_sessions(
        &self,
        logout: &LogoutToken,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let by = Revoker::IdentityProvider {
            issuer: logout.issuer.clone(),
        };
        let client = ClientInfo::default();
        let Some(sid) = &logout.sid else {
            // The user alone: all of their sessions at this issuer (in the tenant the token
            // names, as users are keyed).
            let Some(subject) = &logout.subject else {
                return Ok(0);
            };
            let user = UserKey::of(Some(&logout.issuer), logout.tenant_id.as_ref(), subject);
            return self
                .revoke_all(Owner::User(&user), None, &by, &client, now)
                .await;
        };
        let provider = ProviderSession {
            issuer: &logout.issuer,
            sid,
        };
        // Its sessions, by user (a `sub` in the token narrows them to that user's).
        let mut by_user: HashMap<UserKey, HashSet<_>> = HashMap::new();
        for (user, user_id, session_id) in self.store.sessions_of_provider(&provider).await? {
            if logout.subject.as_ref().is_none_or(|s| *s == user_id) {
                by_user.entry(user).or_default().insert(session_id);
            }
        }
        let mut ended = 0;
        for (user, ids) in by_user {
            let mut heads = self.store.all_listed(&user).await?;
            heads.retain(|e| e.is_active(now) && ids.contains(&e.session_id));
            ended += self
                .revoke_listed(heads, by.reason(), &by, &client, now)
                .await?;
        }
        Ok(ended)
    }
}
