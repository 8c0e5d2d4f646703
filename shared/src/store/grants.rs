//! Impersonation grants: what a one-time impersonation ticket allows, stored under the
//! ticket's hash until it expires (TTL). One plain `PutItem` to mint (a retry rewrites the same
//! item), one strongly consistent `GetItem` to redeem; the ticket's single use is recorded like
//! a login ticket's ([`SessionStore::claim_ticket`]).

use super::attribute::{Attributes, EpochSeconds, Item};
use super::codec::{GRANT_PREFIX, GRANT_SK, acting, attr, key, kind, put_actor, put_owner};
use super::{OnHeap, SessionStore, StoreError};
use crate::domain::{ImpersonationGrant, TokenHash};

impl SessionStore {
    /// Stores `grant` under the hash of its ticket.
    pub async fn put_grant(
        &self,
        ticket: &TokenHash,
        grant: &ImpersonationGrant,
    ) -> Result<(), StoreError> {
        self.put_whole(grant_item(ticket, grant)).await
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

/// The key of an impersonation ticket's grant.
fn grant_key(ticket: &TokenHash) -> Item {
    key(format!("{GRANT_PREFIX}{}", ticket.encoded()), GRANT_SK)
}

/// An impersonation ticket's grant, kept (TTL) until the ticket expires.
fn grant_item(ticket: &TokenHash, grant: &ImpersonationGrant) -> Item {
    let mut item = grant_key(ticket);
    item.put(attr::KIND, kind::IMPERSONATION);
    put_owner(
        &mut item,
        &grant.user_id,
        grant.tenant_id.as_ref(),
        grant.issuer.as_ref(),
    );
    put_actor(&mut item, &grant.actor);
    item.put(attr::EXPIRES_AT, &grant.expires_at);
    item.put(attr::TTL, &EpochSeconds(grant.expires_at.timestamp() + 1));
    item
}

/// The grant an impersonation ticket's item holds.
fn grant_of(item: &Item) -> Result<ImpersonationGrant, StoreError> {
    Ok(ImpersonationGrant {
        user_id: item.read(attr::USER_ID)?,
        tenant_id: item.read_opt(attr::TENANT_ID)?,
        issuer: item.text(attr::ISSUER).map(str::to_owned),
        actor: acting(item)?,
        expires_at: item.read(attr::EXPIRES_AT)?,
    })
}
