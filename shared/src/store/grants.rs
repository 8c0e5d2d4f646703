//! Impersonation grants: what a one-time impersonation ticket allows, stored under the
//! ticket's hash until it expires (TTL). One plain `PutItem` to mint (a retry rewrites the same
//! item), one strongly consistent `GetItem` to redeem; the ticket's single use is recorded like
//! a login ticket's ([`SessionStore::claim_ticket`]).

use std::collections::HashMap;

use super::codec::{
    GRANT_PREFIX, GRANT_SK, Item, actor_of, attr, get_opt_s, get_time, insert_actor, kind, millis,
    n, s, tenant_of, user_of,
};
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
    HashMap::from([
        (
            attr::PK.to_owned(),
            s(format!("{GRANT_PREFIX}{}", ticket.encoded())),
        ),
        (attr::SK.to_owned(), s(GRANT_SK)),
    ])
}

/// An impersonation ticket's grant, kept (TTL) until the ticket expires.
fn grant_item(ticket: &TokenHash, grant: &ImpersonationGrant) -> Item {
    let mut item = grant_key(ticket);
    item.insert(attr::KIND.into(), s(kind::IMPERSONATION));
    item.insert(attr::USER_ID.into(), s(grant.user_id.as_str()));
    if let Some(tenant) = &grant.tenant_id {
        item.insert(attr::TENANT_ID.into(), s(tenant.as_str()));
    }
    if let Some(issuer) = &grant.issuer {
        item.insert(attr::ISSUER.into(), s(issuer));
    }
    insert_actor(&mut item, &grant.actor);
    item.insert(attr::EXPIRES_AT.into(), millis(grant.expires_at));
    item.insert(attr::TTL.into(), n(grant.expires_at.timestamp() + 1));
    item
}

/// The grant an impersonation ticket's item holds.
fn grant_of(item: &Item) -> Result<ImpersonationGrant, StoreError> {
    Ok(ImpersonationGrant {
        user_id: user_of(item)?,
        tenant_id: tenant_of(item)?,
        issuer: get_opt_s(item, attr::ISSUER).map(str::to_owned),
        actor: actor_of(item).ok_or(StoreError::CorruptItem {
            attribute: attr::ACTOR,
        })?,
        expires_at: get_time(item, attr::EXPIRES_AT)?,
    })
}
