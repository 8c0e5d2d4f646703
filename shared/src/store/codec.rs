//! The item codec: every key prefix and attribute name, and the mapping between domain values
//! and DynamoDB items in both directions. Pure: no client, no I/O; the only place that knows
//! how a session looks at rest.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Map, Value};

use super::StoreError;
use crate::domain::{
    Actor, Authentication, ClientInfo, DEFAULT_PROFILE, LifecycleEvent, RetiredToken,
    RevocationReason, RevokedToken, RotationSeed, SealedSuccessor, Session, SessionData,
    SessionEntry, SessionId, SuccessorKey, TenantId, TicketClaim, TicketUse, TokenHash,
    TokenRecord, Transport, UserId, UserKey,
};

pub(super) const SESSION_SK: &str = "SESSION";
pub(super) const TOKEN_PREFIX: &str = "TOKEN#";
pub(super) const USER_PREFIX: &str = "USER#";
pub(super) const EVENT_PREFIX: &str = "EVENT#";
pub(super) const GUARD_SK: &str = "GUARD";
pub(super) const TICKET_PREFIX: &str = "TICKET#";
pub(super) const TICKET_SK: &str = "USED";
pub(super) const GRANT_PREFIX: &str = "IMPERSONATION#";
pub(super) const GRANT_SK: &str = "GRANT";
pub(super) const PROVIDER_SESSION_PREFIX: &str = "IDPSID#";
pub(super) const TENANT_PREFIX: &str = "TENANT#";
pub(super) const SESSION_PREFIX: &str = "SESSION#";
pub(super) const BY_USER_INDEX: &str = "sessions_by_user";
pub(super) const BY_TENANT_INDEX: &str = "by_tenant";

/// Item attribute names, in one place.
pub(super) mod attr {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const KIND: &str = "kind";
    pub const SESSION_ID: &str = "session_id";
    pub const USER_ID: &str = "user_id";
    pub const TENANT_ID: &str = "tenant_id";
    pub const DATA: &str = "data";
    pub const VERSION: &str = "version";
    pub const DATA_VERSION: &str = "data_version";
    pub const CREATED_AT: &str = "created_at";
    pub const LAST_SEEN_AT: &str = "last_seen_at";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const ABSOLUTE_EXPIRES_AT: &str = "absolute_expires_at";
    pub const TOKEN_ISSUED_AT: &str = "token_issued_at";
    pub const CLIENT_EVENT_AT: &str = "client_event_at";
    pub const RELEASED: &str = "released";
    /// The id of the write that last changed the item (`expressions::Attempt`).
    pub const ATTEMPT: &str = "att";
    /// A ticket's use: the digest of the sign-in's resume key (its sealed token is `sealed`).
    pub const RESUME: &str = "resume";
    pub const TRANSPORT: &str = "transport";
    pub const ISSUER: &str = "issuer";
    pub const AUTHENTICATED_AT: &str = "authenticated_at";
    pub const AMR: &str = "amr";
    pub const ACR: &str = "acr";
    pub const PROFILE: &str = "profile";
    pub const ACTOR: &str = "actor";
    pub const ACTOR_REASON: &str = "actor_reason";
    pub const PROVIDER_SID: &str = "idp_sid";
    pub const TRIGGER: &str = "trigger";
    pub const IP: &str = "ip";
    pub const USER_AGENT: &str = "user_agent";
    pub const TTL: &str = "ttl";
    pub const RETIRED_AT: &str = "retired_at";
    pub const SUCCESSOR: &str = "successor";
    pub const SEALED: &str = "sealed";
    /// A head's rotation seed (kept by its retired item): what its successor is derived from.
    pub const SEED: &str = "seed";
    pub const REVOKED_AT: &str = "revoked_at";
    pub const REVOKED_REASON: &str = "revoked_reason";
    /// Who revoked a session (`user` or an IAM principal ARN) and the administrator's note.
    pub const REVOKED_BY: &str = "revoked_by";
    pub const REVOKED_NOTE: &str = "revoked_note";
    pub const EVENT: &str = "event";
    pub const AT: &str = "at";
    pub const DETAIL: &str = "detail";
    pub const GSI1PK: &str = "gsi1pk";
    pub const GSI1SK: &str = "gsi1sk";
    pub const GSI2PK: &str = "gsi2pk";
    pub const GSI2SK: &str = "gsi2sk";
}

/// Values of the `kind` attribute.
pub(super) mod kind {
    pub const SESSION: &str = "session";
    pub const RETIRED: &str = "retired";
    pub const REVOKED: &str = "revoked";
    pub const EVENT: &str = "event";
    pub const TICKET: &str = "ticket";
    pub const IMPERSONATION: &str = "impersonation";
    pub const PROVIDER_SESSION: &str = "provider_session";
}

/// The key of the token item stored under `hash`.
pub(super) fn token_key(hash: &TokenHash) -> Item {
    HashMap::from([
        (attr::PK.to_owned(), s(token_pk(hash))),
        (attr::SK.to_owned(), s(SESSION_SK)),
    ])
}

/// The key of the user's guard item (the per-user cap serializes on it).
pub(super) fn guard_key(user: &UserKey) -> Item {
    HashMap::from([
        (attr::PK.to_owned(), s(user_pk(user))),
        (attr::SK.to_owned(), s(GUARD_SK)),
    ])
}

/// The key under which the one use of a login ticket is recorded.
pub(super) fn ticket_key(ticket: &TicketUse) -> Item {
    HashMap::from([
        (
            attr::PK.to_owned(),
            s(format!("{TICKET_PREFIX}{}", ticket.encoded_key())),
        ),
        (attr::SK.to_owned(), s(TICKET_SK)),
    ])
}

/// The record of a ticket's use: its key, when, the sign-in's claim, and a TTL at the end of
/// its validity.
pub(super) fn ticket_item(ticket: &TicketUse, claim: &TicketClaim, now: DateTime<Utc>) -> Item {
    let mut item = ticket_key(ticket);
    item.insert(attr::KIND.into(), s(kind::TICKET));
    item.insert(attr::AT.into(), millis(now));
    item.insert(attr::TTL.into(), n(ticket.usable_until.timestamp() + 1));
    item.insert(attr::RESUME.into(), blob(claim.digest()));
    item.insert(attr::SEALED.into(), blob(claim.sealed()));
    item
}

/// The claim a ticket's record holds; `None` for records written before claims were kept.
pub(super) fn claim_of(item: &Item) -> Option<TicketClaim> {
    let digest = item.get(attr::RESUME)?.as_b().ok()?;
    let sealed = item.get(attr::SEALED)?.as_b().ok()?;
    TicketClaim::from_stored(digest.as_ref(), sealed.as_ref().to_vec())
}

/// When a ticket's record was claimed; `None` when unreadable.
pub(super) fn claimed_at(item: &Item) -> Option<DateTime<Utc>> {
    get_time(item, attr::AT).ok()
}

pub(super) fn blob(bytes: &[u8]) -> AttributeValue {
    AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(bytes))
}

/// A new head item: the key of `hash`, the session, and its TTL.
pub(super) fn head_item(hash: &TokenHash, session: &Session, ttl_epoch_seconds: i64) -> Item {
    let mut item = token_key(hash);
    item.extend(session_attributes(session));
    item.insert(attr::TTL.into(), n(ttl_epoch_seconds));
    item
}

pub(super) fn token_pk(hash: &TokenHash) -> String {
    format!("{TOKEN_PREFIX}{}", hash.encoded())
}

/// The partition of a user's per-user items (index entries, events, guard): their key, scoped
/// by issuer and tenant.
pub(super) fn user_pk(user: &UserKey) -> String {
    format!("{USER_PREFIX}{}", user.as_str())
}

/// The key of a token item's user: from its issuer, tenant and subject.
pub(super) fn user_key_of(item: &Item) -> Result<UserKey, StoreError> {
    Ok(UserKey::of(
        get_opt_s(item, attr::ISSUER),
        tenant_of(item)?.as_ref(),
        &user_of(item)?,
    ))
}

/// The sort key of a user in the `by_tenant` index (on the user's guard item).
pub(super) fn tenant_user_sk(user: &UserKey) -> String {
    user_pk(user)
}

pub(super) fn tenant_pk(tenant: &TenantId) -> String {
    format!("{TENANT_PREFIX}{}", tenant.as_str())
}

pub(super) fn session_sk(id: SessionId) -> String {
    format!("{SESSION_PREFIX}{id}")
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn millis(t: DateTime<Utc>) -> AttributeValue {
    n(t.timestamp_millis())
}

pub(super) fn session_attributes(session: &Session) -> HashMap<String, AttributeValue> {
    let user_key = session.user_key();
    let id = session.id.to_string();
    let mut item = HashMap::from([
        (attr::KIND.to_owned(), s(kind::SESSION)),
        (attr::SESSION_ID.to_owned(), s(&id)),
        (attr::USER_ID.to_owned(), s(session.user_id.as_str())),
        (attr::DATA.to_owned(), s(session.data.to_json())),
        (attr::VERSION.to_owned(), n(session.version)),
        (attr::DATA_VERSION.to_owned(), n(session.data_version)),
        (attr::CREATED_AT.to_owned(), millis(session.created_at)),
        (attr::LAST_SEEN_AT.to_owned(), millis(session.last_seen_at)),
        (attr::EXPIRES_AT.to_owned(), millis(session.expires_at)),
        (
            attr::ABSOLUTE_EXPIRES_AT.to_owned(),
            millis(session.absolute_expires_at),
        ),
        (
            attr::TOKEN_ISSUED_AT.to_owned(),
            millis(session.token_issued_at),
        ),
        (attr::GSI1PK.to_owned(), s(user_pk(&user_key))),
        (attr::GSI1SK.to_owned(), s(session_sk(session.id))),
    ]);
    // A head is in `sessions_by_user` only: a tenant lists its users (their guard items),
    // not their sessions, so that a rotation moves one index entry, not two.
    if let Some(tenant) = &session.tenant_id {
        item.insert(attr::TENANT_ID.into(), s(tenant.as_str()));
    }
    if let Some(seed) = &session.rotation_seed {
        item.insert(attr::SEED.into(), blob(seed.as_bytes()));
    }
    if let Some(ip) = &session.client.ip {
        item.insert(attr::IP.into(), s(ip));
    }
    if let Some(ua) = &session.client.user_agent {
        item.insert(attr::USER_AGENT.into(), s(ua));
    }
    if let Some(at) = session.client_event_at {
        item.insert(attr::CLIENT_EVENT_AT.into(), millis(at));
    }
    if let Some(transport) = session.transport {
        item.insert(attr::TRANSPORT.into(), s(transport.as_str()));
    }
    if let Some(issuer) = &session.issuer {
        item.insert(attr::ISSUER.into(), s(issuer));
    }
    let authentication = &session.authentication;
    item.insert(attr::AUTHENTICATED_AT.into(), millis(authentication.at));
    if !authentication.methods.is_empty() {
        item.insert(
            attr::AMR.into(),
            s(Value::from(authentication.methods.clone()).to_string()),
        );
    }
    if let Some(acr) = &authentication.context_class {
        item.insert(attr::ACR.into(), s(acr));
    }
    item.insert(attr::PROFILE.into(), s(&session.profile));
    if let Some(actor) = &session.actor {
        insert_actor(&mut item, actor);
    }
    if let Some(sid) = &session.provider_sid {
        item.insert(attr::PROVIDER_SID.into(), s(sid));
    }
    item
}

pub(super) fn insert_actor(item: &mut Item, actor: &Actor) {
    item.insert(attr::ACTOR.into(), s(&actor.principal));
    if let Some(reason) = &actor.reason {
        item.insert(attr::ACTOR_REASON.into(), s(reason));
    }
}

/// Who acts for the user (an impersonation session's or grant's); `None` for the user's own.
pub(super) fn actor_of(item: &Item) -> Option<Actor> {
    get_opt_s(item, attr::ACTOR).map(|principal| Actor {
        principal: principal.to_owned(),
        reason: get_opt_s(item, attr::ACTOR_REASON).map(str::to_owned),
    })
}

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn get_s<'a>(item: &'a Item, attribute: &'static str) -> Result<&'a str, StoreError> {
    item.get(attribute)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or(StoreError::CorruptItem { attribute })
}

pub(super) fn get_opt_s<'a>(item: &'a Item, attribute: &'static str) -> Option<&'a str> {
    item.get(attribute)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// The string attribute `attribute` read as a `T` by `parse`: the one way every typed value
/// comes out of an item. Missing or unreadable, it is [`StoreError::CorruptItem`] naming it.
pub(super) fn get_parsed<T>(
    item: &Item,
    attribute: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(get_s(item, attribute)?).ok_or(StoreError::CorruptItem { attribute })
}

/// [`get_parsed`] for an attribute that may be absent (`None`), never unreadable.
pub(super) fn get_opt_parsed<T>(
    item: &Item,
    attribute: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, StoreError> {
    item.contains_key(attribute)
        .then(|| get_parsed(item, attribute, parse))
        .transpose()
}

/// The binary attribute `attribute` read as a `T` by `parse`, if present.
fn get_opt_bytes<T>(
    item: &Item,
    attribute: &'static str,
    parse: impl FnOnce(&[u8]) -> Option<T>,
) -> Result<Option<T>, StoreError> {
    item.get(attribute)
        .map(|v| {
            v.as_b()
                .ok()
                .and_then(|b| parse(b.as_ref()))
                .ok_or(StoreError::CorruptItem { attribute })
        })
        .transpose()
}

/// A JSON text attribute as the `T` it holds.
fn json<T: serde::de::DeserializeOwned>(raw: &str) -> Option<T> {
    serde_json::from_str(raw).ok()
}

pub(super) fn get_i64(item: &Item, attribute: &'static str) -> Result<i64, StoreError> {
    item.get(attribute)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or(StoreError::CorruptItem { attribute })
}

/// A number attribute that must be a `u64` (a version).
fn get_u64(item: &Item, attribute: &'static str) -> Result<u64, StoreError> {
    u64::try_from(get_i64(item, attribute)?).map_err(|_| StoreError::CorruptItem { attribute })
}

pub(super) fn get_time(item: &Item, attribute: &'static str) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(get_i64(item, attribute)?)
        .single()
        .ok_or(StoreError::CorruptItem { attribute })
}

pub(super) fn session_id_of(item: &Item) -> Result<SessionId, StoreError> {
    get_parsed(item, attr::SESSION_ID, |raw| SessionId::parse(raw).ok())
}

pub(super) fn get_opt_time(
    item: &Item,
    attribute: &'static str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    item.contains_key(attribute)
        .then(|| get_time(item, attribute))
        .transpose()
}

pub(super) fn token_hash_of(item: &Item) -> Result<TokenHash, StoreError> {
    get_parsed(item, attr::PK, |pk| {
        pk.strip_prefix(TOKEN_PREFIX)
            .and_then(TokenHash::from_encoded)
    })
}

pub(super) fn user_of(item: &Item) -> Result<UserId, StoreError> {
    get_parsed(item, attr::USER_ID, |raw| UserId::parse(raw).ok())
}

pub(super) fn tenant_of(item: &Item) -> Result<Option<TenantId>, StoreError> {
    get_opt_parsed(item, attr::TENANT_ID, |raw| TenantId::parse(raw).ok())
}

/// Maps an item back to a record after checking, in constant time, that the item's key is the
/// hash of the presented token (defence in depth against a mis-keyed or tampered item).
pub(super) fn verified_record(hash: &TokenHash, item: &Item) -> Result<TokenRecord, StoreError> {
    if !token_hash_of(item)?.matches(hash) {
        return Err(StoreError::CorruptItem {
            attribute: attr::PK,
        });
    }
    record_of(item)
}

/// Maps a token item to what it says, by its `kind`.
pub(super) fn record_of(item: &Item) -> Result<TokenRecord, StoreError> {
    match get_s(item, attr::KIND)? {
        kind::SESSION => session_of(item).map(TokenRecord::Active),
        kind::RETIRED => Ok(TokenRecord::Retired(RetiredToken {
            session_id: session_id_of(item)?,
            user_key: user_key_of(item)?,
            user_id: user_of(item)?,
            tenant_id: tenant_of(item)?,
            retired_at: get_time(item, attr::RETIRED_AT)?,
            successor: get_parsed(item, attr::SUCCESSOR, TokenHash::from_encoded)?,
            key: successor_key_of(item)?,
            absolute_expires_at: get_time(item, attr::ABSOLUTE_EXPIRES_AT)?,
            trigger: get_opt_s(item, attr::TRIGGER).map(str::to_owned),
        })),
        kind::REVOKED => Ok(TokenRecord::Revoked(RevokedToken {
            session_id: session_id_of(item)?,
            user_id: user_of(item)?,
            tenant_id: tenant_of(item)?,
            reason: get_parsed(item, attr::REVOKED_REASON, RevocationReason::parse)?,
            by: get_opt_s(item, attr::REVOKED_BY).map(str::to_owned),
            note: get_opt_s(item, attr::REVOKED_NOTE).map(str::to_owned),
            revoked_at: get_time(item, attr::REVOKED_AT)?,
        })),
        _ => Err(StoreError::CorruptItem {
            attribute: attr::KIND,
        }),
    }
}

/// How a retired item leads to its successor: the seed its head had, or (retired before seeds
/// existed) the sealed successor.
fn successor_key_of(item: &Item) -> Result<SuccessorKey, StoreError> {
    if let Some(seed) = seed_of(item)? {
        return Ok(SuccessorKey::Derived(seed));
    }
    get_opt_bytes(item, attr::SEALED, |b| {
        Some(SuccessorKey::Sealed(SealedSuccessor::from_bytes(
            b.to_vec(),
        )))
    })?
    .ok_or(StoreError::CorruptItem {
        attribute: attr::SEALED,
    })
}

fn seed_of(item: &Item) -> Result<Option<RotationSeed>, StoreError> {
    get_opt_bytes(item, attr::SEED, RotationSeed::from_bytes)
}

pub(super) fn session_of(item: &Item) -> Result<Session, StoreError> {
    let data: Map<String, Value> = get_parsed(item, attr::DATA, json)?;
    let created_at = get_time(item, attr::CREATED_AT)?;
    Ok(Session {
        id: session_id_of(item)?,
        user_id: user_of(item)?,
        tenant_id: tenant_of(item)?,
        data: SessionData::from_stored(data),
        created_at,
        last_seen_at: get_time(item, attr::LAST_SEEN_AT)?,
        expires_at: get_time(item, attr::EXPIRES_AT)?,
        absolute_expires_at: get_time(item, attr::ABSOLUTE_EXPIRES_AT)?,
        client: ClientInfo::new(get_opt_s(item, attr::IP), get_opt_s(item, attr::USER_AGENT)),
        version: get_u64(item, attr::VERSION)?,
        // Sessions stored before `data_version` existed are at version 1.
        data_version: match item.get(attr::DATA_VERSION) {
            None => 1,
            Some(_) => get_u64(item, attr::DATA_VERSION)?,
        },
        token_issued_at: get_opt_time(item, attr::TOKEN_ISSUED_AT)?.unwrap_or(created_at),
        client_event_at: get_opt_time(item, attr::CLIENT_EVENT_AT)?,
        issuer: get_opt_s(item, attr::ISSUER).map(str::to_owned),
        authentication: authentication_of(item, created_at)?,
        profile: profile_of(item),
        transport: get_opt_parsed(item, attr::TRANSPORT, Transport::parse)?,
        rotation_seed: seed_of(item)?,
        actor: actor_of(item),
        provider_sid: get_opt_s(item, attr::PROVIDER_SID).map(str::to_owned),
    })
}

/// When and how the user last authenticated; sessions stored before this was kept have
/// their sign-in as the proof.
fn authentication_of(item: &Item, created_at: DateTime<Utc>) -> Result<Authentication, StoreError> {
    Ok(Authentication {
        at: get_opt_time(item, attr::AUTHENTICATED_AT)?.unwrap_or(created_at),
        methods: get_opt_parsed(item, attr::AMR, json)?.unwrap_or_default(),
        context_class: get_opt_s(item, attr::ACR).map(str::to_owned),
    })
}

/// The session's lifetime profile; sessions stored before profiles existed have `default`.
fn profile_of(item: &Item) -> String {
    get_opt_s(item, attr::PROFILE)
        .unwrap_or(DEFAULT_PROFILE)
        .to_owned()
}

/// What an index lists: a session, or (`by_tenant`) a user of the tenant.
// Read a page at a time and consumed at once: boxing the entry would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Listed {
    /// A session (a head).
    Session(SessionEntry),
    /// A user of the tenant, whose sessions `sessions_by_user` lists.
    User(UserKey),
}

/// An index entry as what it lists: a user's guard item in `by_tenant` is the user; any
/// other entry is a head (heads stored before tenants listed users are in `by_tenant` too).
pub(super) fn listed_of(item: &Item) -> Result<Listed, StoreError> {
    if get_opt_s(item, attr::SK) == Some(GUARD_SK) {
        return get_parsed(item, attr::PK, |pk| {
            pk.strip_prefix(USER_PREFIX)
                .map(|key| Listed::User(UserKey::from_stored(key)))
        });
    }
    entry_of(item).map(Listed::Session)
}

/// A session as an index lists it (the projection in `infra/table.json`).
pub(super) fn entry_of(item: &Item) -> Result<SessionEntry, StoreError> {
    // The index keys carry the user's key (`sessions_by_user`: the partition; `by_tenant`: after the
    // session id); an entry written before keys were scoped has neither and is filed under
    // its bare user id, as it was then.
    let user_key = match (get_opt_s(item, attr::GSI1PK), get_opt_s(item, attr::GSI2SK)) {
        (Some(pk), _) => pk.strip_prefix(USER_PREFIX).map(UserKey::from_stored),
        (None, Some(sk)) => sk
            .strip_prefix(SESSION_PREFIX)
            .and_then(|rest| rest.split_once('#'))
            .map(|(_, key)| UserKey::from_stored(key)),
        (None, None) => None,
    };
    let user_id = user_of(item)?;
    let created_at = get_time(item, attr::CREATED_AT)?;
    Ok(SessionEntry {
        token: token_hash_of(item)?,
        session_id: session_id_of(item)?,
        user_key: user_key.unwrap_or_else(|| UserKey::from_stored(user_id.as_str())),
        user_id,
        tenant_id: tenant_of(item)?,
        created_at,
        last_seen_at: get_time(item, attr::LAST_SEEN_AT)?,
        expires_at: get_time(item, attr::EXPIRES_AT)?,
        absolute_expires_at: get_time(item, attr::ABSOLUTE_EXPIRES_AT)?,
        client: ClientInfo::new(get_opt_s(item, attr::IP), get_opt_s(item, attr::USER_AGENT)),
        authentication: authentication_of(item, created_at)?,
        profile: profile_of(item),
        actor: None,
    })
}

/// A lifecycle event of the audit trail, as it was stored: the event's JSON.
pub(super) fn event_of(item: &Item) -> Result<Value, StoreError> {
    get_parsed(item, attr::DETAIL, json)
}

/// The audit-trail item of a lifecycle event, kept for `retention` (its TTL): filed under the
/// user, sorted by time and the session's sequence, keyed by the event id (a redelivered event
/// lands on the same key).
pub(super) fn event_item(event: &LifecycleEvent, retention: Duration) -> Item {
    let data = &event.data;
    let mut item = HashMap::from([
        (attr::PK.to_owned(), s(user_pk(&data.user_key))),
        (
            attr::SK.to_owned(),
            // Time, then the session's sequence (one change's events share a millisecond),
            // then the id: the same event always lands on the same key.
            s(format!(
                "{EVENT_PREFIX}{:013}#{:010}#{}",
                event.timestamp.timestamp_millis().max(0),
                data.sequence,
                event.id
            )),
        ),
        (attr::KIND.to_owned(), s(kind::EVENT)),
        (attr::EVENT.to_owned(), s(event.kind.as_str())),
        (attr::AT.to_owned(), millis(event.timestamp)),
        (attr::SESSION_ID.to_owned(), s(data.session_id.to_string())),
        (attr::USER_ID.to_owned(), s(data.user_id.as_str())),
        (
            attr::DETAIL.to_owned(),
            s(serde_json::to_string(event).unwrap_or_default()),
        ),
        (
            attr::TTL.to_owned(),
            n((event.timestamp + retention).timestamp()),
        ),
    ]);
    if let Some(tenant) = &data.tenant_id {
        item.insert(attr::TENANT_ID.into(), s(tenant.as_str()));
    }
    if let Some(ip) = &data.ip {
        item.insert(attr::IP.into(), s(ip));
    }
    item
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::domain::{Lifetimes, SessionToken};

    fn sample() -> (TokenHash, Session) {
        let lifetimes = Lifetimes::new(Duration::hours(8), Duration::days(7), 0.5).unwrap();
        let now = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        let session = Session::start(
            UserId::parse("alice").unwrap(),
            Some(TenantId::parse("acme").unwrap()),
            SessionData::parse(serde_json::json!({"plan": "pro", "n": 1.5}), 1024).unwrap(),
            ClientInfo::new(Some("203.0.113.9"), Some("curl/8")),
            &lifetimes,
            now,
        );
        (SessionToken::generate().unwrap().hash(), session)
    }

    fn item_of(hash: &TokenHash, session: &Session) -> Item {
        let mut item = token_key(hash);
        item.extend(session_attributes(session));
        item
    }

    #[test]
    fn a_session_survives_the_item_mapping_unchanged() {
        let (hash, session) = sample();
        let back = verified_record(&hash, &item_of(&hash, &session)).unwrap();
        assert!(matches!(back, TokenRecord::Active(s) if s == session));
    }

    #[test]
    fn item_key_is_the_token_hash_never_the_token() {
        let token = SessionToken::generate().unwrap();
        let key = token_key(&token.hash());
        let pk = key[attr::PK].as_s().unwrap();
        assert_eq!(pk, &format!("TOKEN#{}", token.hash().encoded()));
        assert!(!pk.contains(token.expose_secret()));
    }

    #[test]
    fn an_item_under_another_hash_is_refused() {
        let (hash, session) = sample();
        let other = SessionToken::generate().unwrap().hash();
        let err = verified_record(&other, &item_of(&hash, &session)).unwrap_err();
        assert!(matches!(err, StoreError::CorruptItem { attribute: "pk" }));
    }

    #[test]
    fn a_head_is_listed_under_its_user_only_and_its_guard_under_the_tenant() {
        let (_, session) = sample();
        let item = session_attributes(&session);
        let key = session.user_key();
        assert_eq!(
            item[attr::GSI1PK].as_s().unwrap(),
            &format!("USER#{}", key.as_str())
        );
        assert_eq!(
            item[attr::GSI1SK].as_s().unwrap(),
            &format!("SESSION#{}", session.id)
        );
        assert!(
            !item.contains_key(attr::GSI2PK) && !item.contains_key(attr::GSI2SK),
            "a head in two indexes makes every rotation move two entries"
        );
        let mut guard = guard_key(&key);
        guard.insert(attr::GSI2PK.into(), s("TENANT#acme"));
        guard.insert(attr::GSI2SK.into(), s(tenant_user_sk(&key)));
        assert!(matches!(listed_of(&guard).unwrap(), Listed::User(user) if user == key));
    }

    /// The `by_tenant` sort key of a head stored before tenants listed users.
    fn legacy_tenant_sk(session: &Session) -> String {
        format!("SESSION#{}#{}", session.id, session.user_key().as_str())
    }

    #[test]
    fn an_index_entry_knows_whose_it_is_from_either_index() {
        let (hash, session) = sample();
        let item = item_of(&hash, &session);
        let mut from_tenant_index = item.clone();
        from_tenant_index.remove(attr::GSI1PK);
        from_tenant_index.insert(attr::GSI2SK.into(), s(legacy_tenant_sk(&session)));
        let mut from_before_scoping = from_tenant_index.clone();
        from_before_scoping.remove(attr::GSI2SK);

        assert_eq!(entry_of(&item).unwrap().user_key, session.user_key());
        assert!(
            matches!(listed_of(&from_tenant_index).unwrap(), Listed::Session(e) if e.user_key == session.user_key()),
            "a head stored before tenants listed users, as by_tenant lists it"
        );
        assert_eq!(
            entry_of(&from_before_scoping).unwrap().user_key,
            UserKey::from_stored("alice"),
            "an entry written before keys were scoped is filed under its bare user id"
        );
    }

    #[test]
    fn a_head_keeps_its_rotation_seed_and_one_stored_before_seeds_has_none() {
        let (hash, session) = sample();
        assert!(session.rotation_seed.is_some());
        let mut item = item_of(&hash, &session);
        assert!(
            matches!(verified_record(&hash, &item).unwrap(), TokenRecord::Active(s) if s.rotation_seed == session.rotation_seed)
        );
        item.remove(attr::SEED);
        assert!(
            matches!(verified_record(&hash, &item).unwrap(), TokenRecord::Active(s) if s.rotation_seed.is_none())
        );
    }

    #[test]
    fn an_unreadable_value_is_reported_by_name() {
        let (hash, session) = sample();
        for (attribute, value) in [
            (attr::TRANSPORT, s("carrier-pigeon")),
            (attr::SEED, blob(b"short")),
            (attr::AMR, s("not json")),
            (attr::VERSION, n(-1)),
            (attr::TENANT_ID, s("")),
        ] {
            let mut item = item_of(&hash, &session);
            item.insert(attribute.to_owned(), value);
            let err = verified_record(&hash, &item).unwrap_err();
            assert!(
                matches!(err, StoreError::CorruptItem { attribute: a } if a == attribute),
                "{attribute}: {err:?}"
            );
        }
    }

    #[test]
    fn a_missing_attribute_is_reported_by_name() {
        let (hash, session) = sample();
        let mut item = item_of(&hash, &session);
        item.remove(attr::EXPIRES_AT);
        let err = verified_record(&hash, &item).unwrap_err();
        assert!(matches!(
            err,
            StoreError::CorruptItem {
                attribute: "expires_at"
            }
        ));
    }
}
