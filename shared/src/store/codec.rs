//! The item codec: every key prefix and attribute name, and which attributes each domain value
//! is stored as, in both directions (each attribute's type through `attribute`'s typed
//! mapping). Pure: no client, no I/O; the only place that knows how a session looks at rest.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use aws_sdk_dynamodb::types::AttributeValue;

use super::StoreError;
use super::attribute::{Attributes, EpochSeconds, FromAttribute, Item, Json, s};
use crate::domain::{
    Actor, Authentication, ClientInfo, DEFAULT_PROFILE, LifecycleEvent, RetiredToken, RevokedToken,
    SealedSuccessor, Session, SessionData, SessionEntry, SessionId, SuccessorKey, TenantId,
    TicketClaim, TicketUse, TokenHash, TokenRecord, Upgrade, UserId, UserKey,
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
pub(super) const GUEST_COUNT_PREFIX: &str = "GUESTS#";
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
    /// A guest session (`true`; absent otherwise).
    pub const GUEST: &str = "guest";
    /// The guest session a signed-in session was started from.
    pub const UPGRADED_FROM: &str = "upgraded_from";
    /// An upgraded guest's tombstone: whose session it became (its user key).
    pub const UPGRADED_USER: &str = "upgraded_user";
    /// How many guest sessions a client started in a window.
    pub const COUNT: &str = "n";
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
    pub const GUEST_COUNT: &str = "guest_count";
}

/// The key of the counter of guest sessions `client` started in the window starting at
/// `window_start` (epoch seconds).
pub(super) fn guest_count_key(client: &str, window_start: i64) -> Item {
    key(
        format!("{GUEST_COUNT_PREFIX}{client}"),
        window_start.to_string(),
    )
}

/// The key of the token item stored under `hash`.
pub(super) fn token_key(hash: &TokenHash) -> Item {
    key(token_pk(hash), SESSION_SK)
}

/// The key of the user's guard item (the per-user cap serializes on it).
pub(super) fn guard_key(user: &UserKey) -> Item {
    key(user_pk(user), GUARD_SK)
}

/// An item's key: its partition and sort keys.
pub(super) fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([(attr::PK.to_owned(), s(pk)), (attr::SK.to_owned(), s(sk))])
}

/// The key under which the one use of a login ticket is recorded.
pub(super) fn ticket_key(ticket: &TicketUse) -> Item {
    key(
        format!("{TICKET_PREFIX}{}", ticket.encoded_key()),
        TICKET_SK,
    )
}

/// The record of a ticket's use: its key, when, the sign-in's claim, and a TTL at the end of
/// its validity.
pub(super) fn ticket_item(ticket: &TicketUse, claim: &TicketClaim, now: DateTime<Utc>) -> Item {
    let mut item = ticket_key(ticket);
    item.put(attr::KIND, kind::TICKET);
    item.put(attr::AT, &now);
    item.put(
        attr::TTL,
        &EpochSeconds(ticket.usable_until.timestamp() + 1),
    );
    item.put(attr::RESUME, claim.digest());
    item.put(attr::SEALED, claim.sealed());
    item
}

/// The claim a ticket's record holds; `None` for records written before claims were kept.
pub(super) fn claim_of(item: &Item) -> Option<TicketClaim> {
    let digest: Vec<u8> = item.read(attr::RESUME).ok()?;
    let sealed: Vec<u8> = item.read(attr::SEALED).ok()?;
    TicketClaim::from_stored(&digest, sealed)
}

/// When a ticket's record was claimed; `None` when unreadable.
pub(super) fn claimed_at(item: &Item) -> Option<DateTime<Utc>> {
    item.read(attr::AT).ok()
}

/// A new head item: the key of `hash`, the session, and its TTL.
pub(super) fn head_item(hash: &TokenHash, session: &Session, ttl_epoch_seconds: i64) -> Item {
    let mut item = token_key(hash);
    item.extend(session_attributes(session));
    item.put(attr::TTL, &EpochSeconds(ttl_epoch_seconds));
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

/// The key of an item's user: from its issuer, tenant and subject.
pub(super) fn user_key_of(item: &Item) -> Result<UserKey, StoreError> {
    Ok(UserKey::of(
        item.text(attr::ISSUER),
        item.read_opt(attr::TENANT_ID)?.as_ref(),
        &item.read(attr::USER_ID)?,
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

/// Whose, and which user's, session an item names: what every item about one session
/// (a head, a provider-session entry, a grant) stores the same way.
pub(super) fn put_owner(
    item: &mut Item,
    user_id: &UserId,
    tenant: Option<&TenantId>,
    issuer: Option<&String>,
) {
    item.put(attr::USER_ID, user_id);
    item.put_opt(attr::TENANT_ID, tenant);
    item.put_opt(attr::ISSUER, issuer);
}

/// Which session an item is about: its id, and whose it is.
pub(super) fn put_session(item: &mut Item, session: &Session) {
    item.put(attr::SESSION_ID, &session.id);
    put_owner(
        item,
        &session.user_id,
        session.tenant_id.as_ref(),
        session.issuer.as_ref(),
    );
}

pub(super) fn session_attributes(session: &Session) -> Item {
    let mut item = Item::new();
    item.put(attr::KIND, kind::SESSION);
    put_session(&mut item, session);
    item.put(attr::DATA, &session.data.to_json());
    item.put(attr::VERSION, &session.version);
    item.put(attr::DATA_VERSION, &session.data_version);
    item.put(attr::CREATED_AT, &session.created_at);
    item.put(attr::LAST_SEEN_AT, &session.last_seen_at);
    item.put(attr::EXPIRES_AT, &session.expires_at);
    item.put(attr::ABSOLUTE_EXPIRES_AT, &session.absolute_expires_at);
    item.put(attr::TOKEN_ISSUED_AT, &session.token_issued_at);
    // A head is in `sessions_by_user` only: a tenant lists its users (their guard items),
    // not their sessions, so that a rotation moves one index entry, not two. A guest session
    // has no user to be listed under.
    if session.guest {
        item.put(attr::GUEST, &true);
    } else {
        item.put(attr::GSI1PK, user_pk(&session.user_key()).as_str());
        item.put(attr::GSI1SK, session_sk(session.id).as_str());
    }
    item.put_opt(attr::UPGRADED_FROM, session.upgraded_from.as_ref());
    item.put_opt(attr::SEED, session.rotation_seed.as_ref());
    item.put_opt(attr::IP, session.client.ip.as_ref());
    item.put_opt(attr::USER_AGENT, session.client.user_agent.as_ref());
    item.put_opt(attr::CLIENT_EVENT_AT, session.client_event_at.as_ref());
    item.put_opt(attr::TRANSPORT, session.transport.as_ref());
    let authentication = &session.authentication;
    item.put(attr::AUTHENTICATED_AT, &authentication.at);
    if !authentication.methods.is_empty() {
        item.put(attr::AMR, &Json(&authentication.methods));
    }
    item.put_opt(attr::ACR, authentication.context_class.as_ref());
    item.put(attr::PROFILE, &session.profile);
    if let Some(actor) = &session.actor {
        put_actor(&mut item, actor);
    }
    item.put_opt(attr::PROVIDER_SID, session.provider_sid.as_ref());
    item
}

pub(super) fn put_actor(item: &mut Item, actor: &Actor) {
    item.put(attr::ACTOR, &actor.principal);
    item.put_opt(attr::ACTOR_REASON, actor.reason.as_ref());
}

/// Who acts for the user: an impersonation grant always names them.
pub(super) fn acting(item: &Item) -> Result<Actor, StoreError> {
    Ok(Actor {
        principal: item.read(attr::ACTOR)?,
        reason: item.text(attr::ACTOR_REASON).map(str::to_owned),
    })
}

/// Who acts for the user in a session: `None` for the user's own.
fn actor_of(item: &Item) -> Result<Option<Actor>, StoreError> {
    item.contains_key(attr::ACTOR)
        .then(|| acting(item))
        .transpose()
}

pub(super) fn token_hash_of(item: &Item) -> Result<TokenHash, StoreError> {
    item.read_with(attr::PK, |pk| {
        pk.strip_prefix(TOKEN_PREFIX)
            .and_then(TokenHash::from_encoded)
    })
}

/// Maps an item back to a record after checking, in constant time, that the item's key is the
/// hash of the presented token (defence in depth against a mis-keyed or tampered item).
pub(super) fn verified_record(hash: &TokenHash, item: &Item) -> Result<TokenRecord, StoreError> {
    item.read_with(attr::PK, |pk| {
        pk.strip_prefix(TOKEN_PREFIX)
            .and_then(TokenHash::from_encoded)
            .filter(|stored| stored.matches(hash))
    })?;
    record_of(item)
}

/// What a token item is now: its `kind`.
enum TokenKind {
    Session,
    Retired,
    Revoked,
}

impl FromAttribute for TokenKind {
    fn from_attribute(attribute: &AttributeValue) -> Option<Self> {
        match attribute.as_s().ok()?.as_str() {
            kind::SESSION => Some(Self::Session),
            kind::RETIRED => Some(Self::Retired),
            kind::REVOKED => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// Maps a token item to what it says, by its `kind`.
pub(super) fn record_of(item: &Item) -> Result<TokenRecord, StoreError> {
    Ok(match item.read(attr::KIND)? {
        TokenKind::Session => TokenRecord::Active(session_of(item)?),
        TokenKind::Retired => TokenRecord::Retired(RetiredToken {
            session_id: item.read(attr::SESSION_ID)?,
            user_key: user_key_of(item)?,
            user_id: item.read(attr::USER_ID)?,
            tenant_id: item.read_opt(attr::TENANT_ID)?,
            retired_at: item.read(attr::RETIRED_AT)?,
            successor: item.read_with(attr::SUCCESSOR, TokenHash::from_encoded)?,
            key: successor_key_of(item)?,
            absolute_expires_at: item.read(attr::ABSOLUTE_EXPIRES_AT)?,
            trigger: item.text(attr::TRIGGER).map(str::to_owned),
        }),
        TokenKind::Revoked => TokenRecord::Revoked(RevokedToken {
            session_id: item.read(attr::SESSION_ID)?,
            user_id: item.read(attr::USER_ID)?,
            tenant_id: item.read_opt(attr::TENANT_ID)?,
            reason: item.read(attr::REVOKED_REASON)?,
            by: item.text(attr::REVOKED_BY).map(str::to_owned),
            note: item.text(attr::REVOKED_NOTE).map(str::to_owned),
            revoked_at: item.read(attr::REVOKED_AT)?,
            upgrade: upgrade_of(item)?,
        }),
    })
}

/// How a retired item leads to its successor: the seed its head had, or (retired before seeds
/// existed) the sealed successor.
fn successor_key_of(item: &Item) -> Result<SuccessorKey, StoreError> {
    Ok(match item.read_opt(attr::SEED)? {
        Some(seed) => SuccessorKey::Derived(seed),
        None => SuccessorKey::Sealed(SealedSuccessor::from_bytes(item.read(attr::SEALED)?)),
    })
}

pub(super) fn session_of(item: &Item) -> Result<Session, StoreError> {
    let Json(data): Json<Map<String, Value>> = item.read(attr::DATA)?;
    let created_at = item.read(attr::CREATED_AT)?;
    Ok(Session {
        id: item.read(attr::SESSION_ID)?,
        user_id: item.read(attr::USER_ID)?,
        tenant_id: item.read_opt(attr::TENANT_ID)?,
        data: SessionData::from_stored(data),
        created_at,
        last_seen_at: item.read(attr::LAST_SEEN_AT)?,
        expires_at: item.read(attr::EXPIRES_AT)?,
        absolute_expires_at: item.read(attr::ABSOLUTE_EXPIRES_AT)?,
        client: client_of(item),
        version: item.read(attr::VERSION)?,
        // Sessions stored before `data_version` existed are at version 1.
        data_version: item.read_opt(attr::DATA_VERSION)?.unwrap_or(1),
        token_issued_at: item.read_opt(attr::TOKEN_ISSUED_AT)?.unwrap_or(created_at),
        client_event_at: item.read_opt(attr::CLIENT_EVENT_AT)?,
        issuer: item.text(attr::ISSUER).map(str::to_owned),
        authentication: authentication_of(item, created_at)?,
        profile: profile_of(item),
        transport: item.read_opt(attr::TRANSPORT)?,
        rotation_seed: item.read_opt(attr::SEED)?,
        actor: actor_of(item)?,
        provider_sid: item.text(attr::PROVIDER_SID).map(str::to_owned),
        guest: item.read_opt(attr::GUEST)?.unwrap_or(false),
        upgraded_from: item.read_opt(attr::UPGRADED_FROM)?,
    })
}

/// An upgraded guest's tombstone: the signed-in session it became; `None` for any other.
fn upgrade_of(item: &Item) -> Result<Option<Upgrade>, StoreError> {
    if !item.contains_key(attr::UPGRADED_USER) {
        return Ok(None);
    }
    let sealed: Vec<u8> = item.read(attr::SEALED)?;
    Ok(Some(Upgrade {
        successor: item.read_with(attr::SUCCESSOR, TokenHash::from_encoded)?,
        sealed: SealedSuccessor::from_bytes(sealed),
        user_key: item.read_with(attr::UPGRADED_USER, |raw| Some(UserKey::from_stored(raw)))?,
        guest_data: SessionData::from_stored(
            item.read_opt::<Json<Map<String, Value>>>(attr::DATA)?
                .map(|Json(data)| data)
                .unwrap_or_default(),
        ),
    }))
}

fn client_of(item: &Item) -> ClientInfo {
    ClientInfo::new(item.text(attr::IP), item.text(attr::USER_AGENT))
}

/// When and how the user last authenticated; sessions stored before this was kept have
/// their sign-in as the proof.
fn authentication_of(item: &Item, created_at: DateTime<Utc>) -> Result<Authentication, StoreError> {
    Ok(Authentication {
        at: item.read_opt(attr::AUTHENTICATED_AT)?.unwrap_or(created_at),
        methods: item
            .read_opt(attr::AMR)?
            .map(|Json(methods)| methods)
            .unwrap_or_default(),
        context_class: item.text(attr::ACR).map(str::to_owned),
    })
}

/// The session's lifetime profile; sessions stored before profiles existed have `default`.
fn profile_of(item: &Item) -> String {
    item.text(attr::PROFILE)
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
    if item.text(attr::SK) == Some(GUARD_SK) {
        return item.read_with(attr::PK, |pk| {
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
    let user_key = match (item.text(attr::GSI1PK), item.text(attr::GSI2SK)) {
        (Some(pk), _) => pk.strip_prefix(USER_PREFIX).map(UserKey::from_stored),
        (None, Some(sk)) => sk
            .strip_prefix(SESSION_PREFIX)
            .and_then(|rest| rest.split_once('#'))
            .map(|(_, key)| UserKey::from_stored(key)),
        (None, None) => None,
    };
    let user_id: UserId = item.read(attr::USER_ID)?;
    let created_at = item.read(attr::CREATED_AT)?;
    Ok(SessionEntry {
        token: token_hash_of(item)?,
        session_id: item.read(attr::SESSION_ID)?,
        user_key: user_key.unwrap_or_else(|| UserKey::from_stored(user_id.as_str())),
        user_id,
        tenant_id: item.read_opt(attr::TENANT_ID)?,
        created_at,
        last_seen_at: item.read(attr::LAST_SEEN_AT)?,
        expires_at: item.read(attr::EXPIRES_AT)?,
        absolute_expires_at: item.read(attr::ABSOLUTE_EXPIRES_AT)?,
        client: client_of(item),
        authentication: authentication_of(item, created_at)?,
        profile: profile_of(item),
        actor: None,
    })
}

/// A lifecycle event of the audit trail, as it was stored: the event's JSON.
pub(super) fn event_of(item: &Item) -> Result<Value, StoreError> {
    item.read(attr::DETAIL).map(|Json(event)| event)
}

/// The audit-trail item of a lifecycle event, kept for `retention` (its TTL): filed under the
/// user, sorted by time and the session's sequence, keyed by the event id (a redelivered event
/// lands on the same key).
pub(super) fn event_item(event: &LifecycleEvent, retention: Duration) -> Item {
    let data = &event.data;
    let mut item = key(
        user_pk(&data.user_key),
        // Time, then the session's sequence (one change's events share a millisecond), then
        // the id: the same event always lands on the same key.
        format!(
            "{EVENT_PREFIX}{:013}#{:010}#{}",
            event.timestamp.timestamp_millis().max(0),
            data.sequence,
            event.id
        ),
    );
    item.put(attr::KIND, kind::EVENT);
    item.put(attr::EVENT, event.kind.as_str());
    item.put(attr::AT, &event.timestamp);
    item.put(attr::SESSION_ID, &data.session_id);
    item.put(attr::USER_ID, &data.user_id);
    item.put(attr::DETAIL, &Json(event));
    item.put(
        attr::TTL,
        &EpochSeconds((event.timestamp + retention).timestamp()),
    );
    item.put_opt(attr::TENANT_ID, data.tenant_id.as_ref());
    item.put_opt(attr::IP, data.ip.as_ref());
    item
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::domain::RevocationReason;
    use crate::domain::{Lifetimes, SessionToken};
    use crate::store::attribute::{ToAttribute, n};

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

    /// The stored shape, attribute by attribute and type by type: what every reader of the
    /// table (the indexes' projections, the stream consumer, old code during a deploy) expects.
    #[test]
    fn a_head_is_written_in_the_shape_it_always_had() {
        let (hash, mut session) = sample();
        session.transport = Some(crate::domain::Transport::Cookie);
        session.authentication.methods = vec!["pwd".into()];
        let item = head_item(&hash, &session, 1_700_604_800);
        let millis = |t: DateTime<Utc>| n(t.timestamp_millis());
        let expected = literal(vec![
            ("pk", s(format!("TOKEN#{}", hash.encoded()))),
            ("sk", s("SESSION")),
            ("kind", s("session")),
            ("session_id", s(session.id.to_string())),
            ("user_id", s("alice")),
            ("tenant_id", s("acme")),
            ("data", s(r#"{"n":1.5,"plan":"pro"}"#)),
            ("version", n(1)),
            ("data_version", n(1)),
            ("created_at", n(1_700_000_000_123_i64)),
            ("last_seen_at", n(1_700_000_000_123_i64)),
            ("expires_at", millis(session.expires_at)),
            ("absolute_expires_at", millis(session.absolute_expires_at)),
            ("token_issued_at", n(1_700_000_000_123_i64)),
            ("authenticated_at", n(1_700_000_000_123_i64)),
            ("amr", s(r#"["pwd"]"#)),
            ("profile", s("default")),
            ("transport", s("cookie")),
            ("gsi1pk", s(format!("USER#{}", session.user_key().as_str()))),
            ("gsi1sk", s(format!("SESSION#{}", session.id))),
            (
                "seed",
                session.rotation_seed.unwrap().as_bytes().to_attribute(),
            ),
            ("ip", s("203.0.113.9")),
            ("user_agent", s("curl/8")),
            ("ttl", n(1_700_604_800)),
        ]);
        assert_eq!(item, expected);
    }

    /// An item from literal `(name, value)` pairs.
    fn literal(pairs: Vec<(&str, AttributeValue)>) -> Item {
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// Items exactly as the code of 505d444 (the first release's shape) wrote them: its
    /// `session_attributes`, and its retire and revoke updates (which removed the data and
    /// every index key). Still read, with today's defaults for what was not kept then.
    #[test]
    fn items_of_505d444s_shape_still_read() {
        let hash = SessionToken::generate().unwrap().hash();
        let successor = SessionToken::generate().unwrap().hash();
        let id = "6f1c1a52-3c1e-4c1e-9d5e-1c6a1b2c3d4e";
        let head = literal(vec![
            ("pk", s(format!("TOKEN#{}", hash.encoded()))),
            ("sk", s("SESSION")),
            ("kind", s("session")),
            ("session_id", s(id)),
            ("user_id", s("alice")),
            ("tenant_id", s("acme")),
            ("data", s(r#"{"plan":"pro"}"#)),
            ("version", n(3)),
            ("data_version", n(2)),
            ("created_at", n(1_700_000_000_000_i64)),
            ("last_seen_at", n(1_700_000_100_000_i64)),
            ("expires_at", n(1_700_028_900_000_i64)),
            ("absolute_expires_at", n(1_700_604_800_000_i64)),
            ("token_issued_at", n(1_700_000_050_000_i64)),
            ("gsi1pk", s("USER#alice")),
            ("gsi1sk", s(format!("SESSION#{id}"))),
            ("gsi2pk", s("TENANT#acme")),
            ("gsi2sk", s(format!("SESSION#{id}"))),
            ("ip", s("203.0.113.9")),
            ("user_agent", s("curl/8")),
            ("ttl", n(1_700_604_800_i64)),
        ]);
        let at = |ms: i64| Utc.timestamp_millis_opt(ms).unwrap();
        let TokenRecord::Active(session) = verified_record(&hash, &head).unwrap() else {
            panic!("a head");
        };
        assert_eq!(session.id.to_string(), id);
        assert_eq!(session.user_id.as_str(), "alice");
        assert_eq!(
            session.tenant_id.as_ref().map(TenantId::as_str),
            Some("acme")
        );
        assert_eq!(session.data.to_json(), r#"{"plan":"pro"}"#);
        assert_eq!((session.version, session.data_version), (3, 2));
        assert_eq!(session.created_at, at(1_700_000_000_000));
        assert_eq!(session.last_seen_at, at(1_700_000_100_000));
        assert_eq!(session.expires_at, at(1_700_028_900_000));
        assert_eq!(session.absolute_expires_at, at(1_700_604_800_000));
        assert_eq!(session.token_issued_at, at(1_700_000_050_000));
        assert_eq!(session.client.ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(session.client.user_agent.as_deref(), Some("curl/8"));
        // What 505d444 did not keep: its sign-in is the proof, the default profile, no
        // issuer, transport, seed, actor or provider session.
        assert_eq!(session.authentication.at, session.created_at);
        assert!(session.authentication.methods.is_empty());
        assert_eq!(session.profile, DEFAULT_PROFILE);
        assert!(session.issuer.is_none() && session.transport.is_none());
        assert!(session.rotation_seed.is_none() && session.actor.is_none());
        assert!(session.provider_sid.is_none() && session.client_event_at.is_none());
        let entry = entry_of(&head).unwrap();
        assert_eq!(entry.user_key, UserKey::from_stored("alice"));
        assert_eq!(entry.session_id, session.id);

        let dropped = ["data", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"];
        let mut retired = head.clone();
        dropped.iter().for_each(|a| drop(retired.remove(*a)));
        retired.extend(literal(vec![
            ("kind", s("retired")),
            ("retired_at", n(1_700_000_200_000_i64)),
            ("successor", s(successor.encoded())),
            ("sealed", vec![7_u8; 60].to_attribute()),
        ]));
        let TokenRecord::Retired(retired) = verified_record(&hash, &retired).unwrap() else {
            panic!("a retired token");
        };
        assert!(retired.successor.matches(&successor));
        assert!(matches!(retired.key, SuccessorKey::Sealed(_)));
        assert_eq!(retired.retired_at, at(1_700_000_200_000));
        assert_eq!(retired.user_key, session.user_key());

        let mut revoked = head.clone();
        dropped.iter().for_each(|a| drop(revoked.remove(*a)));
        revoked.extend(literal(vec![
            ("kind", s("revoked")),
            ("revoked_at", n(1_700_000_300_000_i64)),
            ("revoked_reason", s("replay")),
        ]));
        let TokenRecord::Revoked(revoked) = verified_record(&hash, &revoked).unwrap() else {
            panic!("a revoked token");
        };
        assert_eq!(revoked.reason, RevocationReason::Replay);
        assert_eq!(revoked.revoked_at, at(1_700_000_300_000));
        assert!(revoked.by.is_none() && revoked.note.is_none());
    }

    #[test]
    fn an_unreadable_value_is_reported_by_name() {
        let (hash, session) = sample();
        for (attribute, value) in [
            (attr::TRANSPORT, s("carrier-pigeon")),
            (attr::SEED, b"short".as_slice().to_attribute()),
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
