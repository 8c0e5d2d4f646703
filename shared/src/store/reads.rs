//! Reads: the token item behind a presented token (one strongly consistent `GetItem`), a user's
//! audit events, and the sessions the `sessions_by_user` / `by_tenant` indexes list, page by page.
//! Judges nothing: expired items are returned as they are, for the caller to ask the domain.

use super::attribute::{Attributes, Item, s};
use super::codec::{
    BY_TENANT_INDEX, BY_USER_INDEX, EVENT_PREFIX, Listed, attr, entry_of, event_of, guard_key,
    listed_of, session_sk, tenant_pk, token_key, user_pk, verified_record,
};
use super::{OnHeap, SessionStore, StoreError};
use crate::domain::{
    HistoryPosition, SessionEntry, SessionId, TenantId, TokenHash, TokenRecord, UserKey,
};

/// Whose sessions an index lists.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    /// A user's sessions (`sessions_by_user`), the user scoped by issuer and tenant.
    User(&'a UserKey),
    /// A tenant's sessions (`by_tenant`).
    Tenant(&'a TenantId),
}

impl Owner<'_> {
    fn index(&self) -> (&'static str, &'static str, String) {
        match self {
            Owner::User(user) => (BY_USER_INDEX, attr::GSI1PK, user_pk(user)),
            Owner::Tenant(tenant) => (BY_TENANT_INDEX, attr::GSI2PK, tenant_pk(tenant)),
        }
    }
}

/// Where the next page of a listing starts (opaque outside the store).
#[derive(Debug, Clone)]
pub struct PageKey(pub(super) Item);

impl SessionStore {
    /// The record stored under `hash`, read with strong consistency. Expired sessions are
    /// returned as they are: the caller judges expiry (TTL deletes lazily).
    pub async fn load(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(token_key(hash)))
            .consistent_read(true)
            .send()
            .on_heap()
            .await
            .map_err(|e| StoreError::from_sdk("get_item", e))?;
        output
            .item
            .map(|item| verified_record(hash, &item))
            .transpose()
    }

    /// One page of the user's audit trail, newest first: at most `limit` events after `after`,
    /// and where the next page starts (`None`: this was the last). One eventually consistent
    /// `Query` on the user's partition (half the read units of a consistent one: a history a
    /// moment behind is still the history) for one event more than the page, so that the last
    /// page says it is the last.
    pub async fn history(
        &self,
        user: &UserKey,
        limit: usize,
        after: Option<&HistoryPosition>,
    ) -> Result<(Vec<serde_json::Value>, Option<HistoryPosition>), StoreError> {
        let pk = user_pk(user);
        let start = after.map(|position| {
            std::collections::HashMap::from([
                (attr::PK.to_owned(), s(&pk)),
                (
                    attr::SK.to_owned(),
                    s(format!("{EVENT_PREFIX}{}", position.as_str())),
                ),
            ])
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":prefix", s(EVENT_PREFIX))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .on_heap()
            .await
            .map_err(|e| StoreError::from_sdk("query", e))?;
        let items = output.items();
        let shown = &items[..items.len().min(limit)];
        let next = if items.len() > limit {
            shown
                .last()
                .and_then(|item| item.text(attr::SK))
                .and_then(|sk| sk.strip_prefix(EVENT_PREFIX))
                .and_then(HistoryPosition::parse)
        } else {
            None
        };
        let events = shown.iter().map(event_of).collect::<Result<_, _>>()?;
        Ok((events, next))
    }

    /// The user's sessions as the `sessions_by_user` index lists them (eventually consistent), and
    /// the version of the user's guard item (0 when it does not exist yet): both read at once.
    pub async fn sessions_of(
        &self,
        user: &UserKey,
    ) -> Result<(Vec<SessionEntry>, u64), StoreError> {
        let (entries, guard) = tokio::join!(self.all_listed(user), self.guard_version(user));
        Ok((entries?, guard?))
    }

    /// The version of the user's guard item (0 when it does not exist yet).
    async fn guard_version(&self, user: &UserKey) -> Result<u64, StoreError> {
        Ok(self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(guard_key(user)))
            .consistent_read(true)
            .send()
            .on_heap()
            .await
            .map_err(|e| StoreError::from_sdk("get_item", e))?
            .item
            .map(|item| item.read_opt(attr::VERSION))
            .transpose()?
            .flatten()
            // No item, or no `version` (a guard that only lists its user under a tenant):
            // never bumped.
            .unwrap_or(0))
    }

    /// Every session `sessions_by_user` lists for `user`, all pages.
    pub async fn all_listed(&self, user: &UserKey) -> Result<Vec<SessionEntry>, StoreError> {
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self.listed(Owner::User(user), start, None).await?;
            entries.extend(page.into_iter().filter_map(|listed| match listed {
                Listed::Session(entry) => Some(entry),
                Listed::User(_) => None,
            }));
            match next {
                Some(key) => start = Some(key),
                None => return Ok(entries),
            }
        }
    }

    /// One page of what an index lists for `owner` (a user's sessions; a tenant's users, and
    /// its sessions stored before tenants listed users), at most `limit` (DynamoDB's 1 MB page
    /// otherwise), and where the next page starts.
    pub async fn listed(
        &self,
        owner: Owner<'_>,
        start: Option<PageKey>,
        limit: Option<i32>,
    ) -> Result<(Vec<Listed>, Option<PageKey>), StoreError> {
        let (index, key_attr, value) = owner.index();
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", key_attr)
            .expression_attribute_values(":pk", s(value))
            .set_exclusive_start_key(start.map(|k| k.0))
            .set_limit(limit)
            .send()
            .on_heap()
            .await
            .map_err(|e| StoreError::from_sdk("query", e))?;
        let entries = output
            .items()
            .iter()
            .map(listed_of)
            .collect::<Result<Vec<_>, _>>()?;
        let next = output
            .last_evaluated_key
            .filter(|key| !key.is_empty())
            .map(PageKey);
        Ok((entries, next))
    }

    /// The user's session `session_id` as `sessions_by_user` lists it: its head, and during a
    /// rotation its new head too; nothing for an unknown id or another user's session (they are
    /// under another partition key).
    pub async fn find_session(
        &self,
        user: &UserKey,
        session_id: SessionId,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_USER_INDEX)
            .key_condition_expression("#pk = :pk AND #sk = :sk")
            .expression_attribute_names("#pk", attr::GSI1PK)
            .expression_attribute_names("#sk", attr::GSI1SK)
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":sk", s(session_sk(session_id)))
            .send()
            .on_heap()
            .await
            .map_err(|e| StoreError::from_sdk("query", e))?;
        output.items().iter().map(entry_of).collect()
    }
}
