//! The sessions each identity-provider session started (`sid`), for its back-channel logout:
//! one item per such sign-in (`IDPSID#<hash of issuer and sid>` / `SESSION#<id>`, in no index,
//! kept as long as the session could live), and one strongly consistent `Query` to list them.

use super::attribute::{Attributes, EpochSeconds, Item, s};
use super::codec::{
    PROVIDER_SESSION_PREFIX, attr, key, kind, put_session, session_sk, user_key_of,
};
use super::{OnHeap, SessionStore, StoreError};
use crate::domain::{ProviderSession, Session, SessionId, UserId, UserKey};

impl SessionStore {
    /// Lists `session` under the provider session it was started in (a retry rewrites the same
    /// item).
    pub async fn list_under_provider(
        &self,
        provider: &ProviderSession<'_>,
        session: &Session,
        ttl_epoch_seconds: i64,
    ) -> Result<(), StoreError> {
        self.put_whole(provider_session_item(provider, session, ttl_epoch_seconds))
            .await
    }

    /// Every session the provider session started (ended ones too: the caller revokes what is
    /// still live), whose it is and its id.
    pub async fn sessions_of_provider(
        &self,
        provider: &ProviderSession<'_>,
    ) -> Result<Vec<(UserKey, UserId, SessionId)>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", attr::PK)
                .expression_attribute_values(":pk", s(provider_session_pk(provider)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .on_heap()
                .await
                .map_err(|e| StoreError::from_sdk("query", e))?;
            for item in output.items() {
                found.push(provider_listed_of(item)?);
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(found),
            }
        }
    }
}

/// The partition listing the sessions a provider session started.
fn provider_session_pk(provider: &ProviderSession<'_>) -> String {
    format!("{PROVIDER_SESSION_PREFIX}{}", provider.key())
}

/// The entry of `session` under its provider session, kept (TTL `ttl_epoch_seconds`) as long
/// as the session could live: whose it is and its id (rotations keep both).
fn provider_session_item(
    provider: &ProviderSession<'_>,
    session: &Session,
    ttl_epoch_seconds: i64,
) -> Item {
    let mut item = key(provider_session_pk(provider), session_sk(session.id));
    item.put(attr::KIND, kind::PROVIDER_SESSION);
    put_session(&mut item, session);
    item.put(attr::TTL, &EpochSeconds(ttl_epoch_seconds));
    item
}

/// A session a provider session started: whose (user key and id), and its id.
fn provider_listed_of(item: &Item) -> Result<(UserKey, UserId, SessionId), StoreError> {
    Ok((
        user_key_of(item)?,
        item.read(attr::USER_ID)?,
        item.read(attr::SESSION_ID)?,
    ))
}
