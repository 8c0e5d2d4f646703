//! Impersonation grants: what a one-time impersonation ticket allows, stored under the
//! ticket's hash until it expires (TTL). One plain `PutItem` to mint (a retry rewrites the same
//! item), one strongly consistent `GetItem` to redeem; the ticket's single use is recorded like
//! a login ticket's ([`SessionStore::claim_ticket`]).

use super::codec::{grant_item, grant_key, grant_of};
use super::{OnHeap, SessionStore, StoreError};
use crate::domain::{ImpersonationGrant, TokenHash};

impl SessionStore {
    /// Stores `grant` under the hash of its ticket.
    pub async fn put_grant(
        &self,
        ticket: &TokenHash,
        grant: &ImpersonationGrant,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(grant_item(ticket, grant)))
            .send()
            .on_heap()
            .await
            .map_err(|e| StoreError::from_sdk("put_item", e))?;
        Ok(())
    }

    /// The grant of the ticket whose hash is `ticket`, if one was minted (and TTL has not
    /// deleted it yet: the caller judges expiry).
    pub async fn grant(
        &self,
        ticket: &TokenHash,
    ) -> Result<Option<ImpersonationGrant>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(grant_key(ticket)))
            .consistent_read(true)
            .send()
            .on_heap()
            .await
            .map_err(|e| StoreError::from_sdk("get_item", e))?;
        output.item.as_ref().map(grant_of).transpose()
    }
}
