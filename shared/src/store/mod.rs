//! The DynamoDB store: the only module that talks to DynamoDB.
//!
//! Single-table design (see the README's "Data model"). A token item is keyed by the SHA-256 of
//! its token, `pk = "TOKEN#<hash>"`, `sk = "SESSION"`, so validate is one `GetItem`. Its `kind`
//! says what the token is now: `session` (the live head of a lineage, carrying the whole
//! session), `retired` (rotated away: successor hash and sealed successor), or `revoked`.
//! Only heads carry `gsi1pk/gsi1sk` (`USER#<user_id>` / `SESSION#<session_id>`) and
//! `gsi2pk/gsi2sk` (`TENANT#<tenant_id>` / ...), so the `by_user` and `by_tenant` indexes list
//! exactly the live sessions. Audit events live under `pk = "USER#<user_id>"`,
//! `sk = "EVENT#<epoch ms>#<event id>"`, with their own TTL.
//!
//! Every state change is a conditional write inside one `TransactWriteItems` together with the
//! audit events it produces, so there is no lost update and no event without its change.

mod table;

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Delete, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_smithy_http_client::tls;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

pub use table::{TABLE_DEFINITION_JSON, TableDefinition, Ttl, delete_table};

use crate::config::StoreTimeouts;
use crate::domain::{
    AuditEvent, ClientInfo, EventKind, RetiredToken, RevocationReason, RevokedToken,
    SealedSuccessor, Session, SessionData, SessionId, TenantId, TokenHash, TokenRecord, UserId,
};

const SESSION_SK: &str = "SESSION";
const TOKEN_PREFIX: &str = "TOKEN#";
const USER_PREFIX: &str = "USER#";
const EVENT_PREFIX: &str = "EVENT#";
const GUARD_SK: &str = "GUARD";
const BY_USER_INDEX: &str = "by_user";
const BY_TENANT_INDEX: &str = "by_tenant";

/// Item attribute names, in one place.
mod attr {
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
    pub const IP: &str = "ip";
    pub const USER_AGENT: &str = "user_agent";
    pub const TTL: &str = "ttl";
    pub const RETIRED_AT: &str = "retired_at";
    pub const SUCCESSOR: &str = "successor";
    pub const SEALED: &str = "sealed";
    pub const REVOKED_AT: &str = "revoked_at";
    pub const REVOKED_REASON: &str = "revoked_reason";
    pub const EVENT: &str = "event";
    pub const AT: &str = "at";
    pub const DETAIL: &str = "detail";
    pub const GSI1PK: &str = "gsi1pk";
    pub const GSI1SK: &str = "gsi1sk";
    pub const GSI2PK: &str = "gsi2pk";
    pub const GSI2SK: &str = "gsi2sk";
}

/// Values of the `kind` attribute.
/// Most sessions revoked in one transaction: each takes an update and an event put, well
/// inside DynamoDB's 100 actions per `TransactWriteItems` (and the classic batch size of 25).
pub const MAX_BATCH: usize = 25;

mod kind {
    pub const SESSION: &str = "session";
    pub const RETIRED: &str = "retired";
    pub const REVOKED: &str = "revoked";
    pub const EVENT: &str = "event";
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB could not be reached in time or throttled us: worth retrying later (503).
    #[error("dynamodb {operation} unavailable")]
    Unavailable {
        operation: &'static str,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    /// DynamoDB answered with an error that retrying will not fix (500).
    #[error("dynamodb {operation} failed")]
    Failed {
        operation: &'static str,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    /// A request could not be built (a bug, not a client mistake).
    #[error("dynamodb request could not be built")]
    Request(#[source] aws_sdk_dynamodb::error::BuildError),
    /// An item in the table does not have the shape this code writes.
    #[error("stored session item is corrupt: attribute {attribute}")]
    CorruptItem { attribute: &'static str },
    /// Writers kept colliding on the same items; the caller may retry later (503).
    #[error("dynamodb {operation} kept conflicting with concurrent writes")]
    Contended { operation: &'static str },
}

impl StoreError {
    fn request(e: aws_sdk_dynamodb::error::BuildError) -> Self {
        Self::Request(e)
    }

    fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata,
        aws_sdk_dynamodb::Error: From<SdkError<E, R>>,
    {
        let transient = match &err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(e) => matches!(
                e.err().code(),
                Some(
                    "ThrottlingException"
                        | "ProvisionedThroughputExceededException"
                        | "RequestLimitExceeded"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                        | "TransactionConflictException"
                        | "TransactionInProgressException"
                )
            ),
            _ => false,
        };
        let source = Box::new(aws_sdk_dynamodb::Error::from(err));
        if transient {
            Self::Unavailable { operation, source }
        } else {
            Self::Failed { operation, source }
        }
    }

    /// True when DynamoDB refused to create a table because it exists already.
    pub fn is_already_exists(&self) -> bool {
        matches!(
            self,
            Self::Failed { source, .. }
                if matches!(**source, aws_sdk_dynamodb::Error::ResourceInUseException(_))
        )
    }

    /// True when a retry later may succeed: the caller answers 503 with `Retry-After`.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Contended { .. })
    }
}

/// The outcome of a conditional write on a token item.
// A short-lived return value, matched at once: boxing the record would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Write {
    /// The write happened.
    Done,
    /// The token item was not in the state the write required; here is what it is now
    /// (`None`: it does not exist).
    Stale(Option<TokenRecord>),
    /// Another transaction on the same items was in flight: read again and retry.
    Contended,
}

/// A live session as the `by_user` / `by_tenant` indexes list it (eventually consistent).
#[derive(Debug, Clone)]
pub struct SessionEntry {
    pub token: TokenHash,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub tenant_id: Option<TenantId>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub client: ClientInfo,
}

impl SessionEntry {
    /// Usable at `now`: strictly before both deadlines (the index may still list expired
    /// sessions until TTL deletes them).
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now && self.absolute_expires_at > now
    }

    pub fn revocation(&self) -> Revocation {
        Revocation {
            token: self.token,
            session_id: self.session_id,
        }
    }
}

/// A session to revoke: the token item believed to be its head.
#[derive(Debug, Clone, Copy)]
pub struct Revocation {
    pub token: TokenHash,
    pub session_id: SessionId,
}

/// Whose sessions an index lists.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    User(&'a UserId),
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
pub struct PageKey(Item);

/// What became of one session of a [`SessionStore::revoke_batch`].
#[derive(Debug, Clone, Copy)]
pub enum BatchOutcome {
    /// Revoked, with its event.
    Revoked,
    /// The item was rotated meanwhile: its successor is the head to revoke.
    Rotated(TokenHash),
    /// Not a live head any more (signed out, revoked, or gone): nothing to do.
    Gone,
    /// Not written because another write in the batch failed or conflicted: try again.
    Retry,
}

/// The HTTPS client of every AWS SDK client: hyper + rustls with the `ring` provider and the
/// system's root certificates (the SDK's default pulls in aws-lc, a much larger binary).
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Builds the DynamoDB client once per cold start from the environment Lambda provides
/// (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`; and
/// `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local), with explicit timeouts and bounded, jittered
/// retries. Not `aws-config`: its provider chain (profiles, SSO, STS, IMDS) is never used in
/// Lambda, yet was a third of each binary and part of every cold start. Lambda's credentials
/// stay valid for the life of the execution environment. Missing credentials make every call
/// fail (503), never a panic.
pub fn client_from_env(timeouts: &StoreTimeouts) -> Client {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .region(
            var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .map(Region::new),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeouts.attempt.min(StdDuration::from_secs(1)))
                .operation_timeout(timeouts.operation)
                .operation_attempt_timeout(timeouts.attempt)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(timeouts.max_attempts));
    if let (Some(key), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        config = config.credentials_provider(Credentials::new(
            key,
            secret,
            var("AWS_SESSION_TOKEN"),
            None,
            "environment",
        ));
    }
    if let Some(endpoint) = var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| var("AWS_ENDPOINT_URL")) {
        config = config.endpoint_url(endpoint);
    }
    Client::from_conf(config.build())
}

#[derive(Clone)]
pub struct SessionStore {
    client: Client,
    table: String,
    /// How long audit events are kept (their TTL); `None`: events are only logged.
    audit_retention: Option<Duration>,
}

impl SessionStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            audit_retention: Some(Duration::days(90)),
        }
    }

    pub fn with_audit_retention(mut self, retention: Option<Duration>) -> Self {
        self.audit_retention = retention;
        self
    }

    fn key(hash: &TokenHash) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (attr::PK.to_owned(), s(token_pk(hash))),
            (attr::SK.to_owned(), s(SESSION_SK)),
        ])
    }

    fn guard_key(user: &UserId) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (attr::PK.to_owned(), s(user_pk(user))),
            (attr::SK.to_owned(), s(GUARD_SK)),
        ])
    }

    /// Writes a new session with its `created` event; never overwrites an existing item.
    /// `evict` revokes other sessions of the user in the same transaction (per-user cap);
    /// `guard` is the user's guard version read before choosing them, so two concurrent
    /// creates cannot both pass the cap.
    pub async fn create(
        &self,
        hash: &TokenHash,
        session: &Session,
        ttl_epoch_seconds: i64,
        events: &[AuditEvent],
        evict: &[Revocation],
        guard: Option<u64>,
    ) -> Result<Write, StoreError> {
        let mut item = Self::key(hash);
        item.extend(session_attributes(session));
        item.insert(attr::TTL.into(), n(ttl_epoch_seconds));
        let mut writes = vec![put(&self.table, item, Some("attribute_not_exists(pk)"))?];
        let now = session.created_at;
        for e in evict {
            writes.push(self.revoke_write(&e.token, RevocationReason::Evicted, now)?);
        }
        if let Some(version) = guard {
            writes.push(self.guard_write(&session.user_id, version, now)?);
        }
        self.commit("create", writes, events).await
    }

    /// The record stored under `hash`, read with strong consistency. Expired sessions are
    /// returned as they are: the caller judges expiry (TTL deletes lazily).
    pub async fn load(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(hash)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("get_item", e))?;
        output
            .item
            .map(|item| verified_record(hash, &item))
            .transpose()
    }

    /// Moves the idle deadline of the head stored under `hash` to `new_expires_at` and records
    /// `now` as last seen (and the client as seen now), only if the item is still `version` of
    /// the live session, unexpired at `now`, and the deadline really moves forward within the
    /// absolute deadline. A deleted, rotated or expired session is never resurrected.
    pub async fn extend(
        &self,
        hash: &TokenHash,
        version: u64,
        client: &ClientInfo,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        events: &[AuditEvent],
    ) -> Result<Write, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(hash)))
            .condition_expression(
                "#kind = :session AND #ver = :ver AND #exp > :now AND #abs > :now \
                 AND #exp < :new AND #abs >= :new",
            )
            .update_expression("SET #exp = :new, #seen = :now, #ver = :next")
            .expression_attribute_names("#kind", attr::KIND)
            .expression_attribute_names("#exp", attr::EXPIRES_AT)
            .expression_attribute_names("#abs", attr::ABSOLUTE_EXPIRES_AT)
            .expression_attribute_names("#seen", attr::LAST_SEEN_AT)
            .expression_attribute_names("#ver", attr::VERSION)
            .expression_attribute_values(":session", s(kind::SESSION))
            .expression_attribute_values(":ver", n(version))
            .expression_attribute_values(":next", n(version + 1))
            .expression_attribute_values(":now", millis(now))
            .expression_attribute_values(":new", millis(new_expires_at))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update = with_client_update(update, client);
        self.commit("extend", vec![update_write(update)?], events)
            .await
    }

    /// Records what changed about the client (IP, user agent) on the head stored under `hash`
    /// and `now` as last seen, with the events saying so. Only if the item is still `version`
    /// of the live session.
    pub async fn touch_client(
        &self,
        hash: &TokenHash,
        version: u64,
        client: &ClientInfo,
        now: DateTime<Utc>,
        events: &[AuditEvent],
    ) -> Result<Write, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(hash)))
            .condition_expression("#kind = :session AND #ver = :ver")
            .update_expression("SET #ver = :next, #seen = :now")
            .expression_attribute_names("#kind", attr::KIND)
            .expression_attribute_names("#ver", attr::VERSION)
            .expression_attribute_names("#seen", attr::LAST_SEEN_AT)
            .expression_attribute_values(":now", millis(now))
            .expression_attribute_values(":session", s(kind::SESSION))
            .expression_attribute_values(":ver", n(version))
            .expression_attribute_values(":next", n(version + 1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let update = with_client_update(update, client);
        self.commit("touch_client", vec![update_write(update)?], events)
            .await
    }

    /// Rotates the head `old` (stored under `old_hash`) to `next` under `new_hash`, in one
    /// transaction: the new head is written, the old item becomes `retired` (keeping the
    /// successor's hash and the sealed successor, losing its index keys and data), and the
    /// events are recorded. Only if the old item is still that exact version of the head.
    #[allow(clippy::too_many_arguments)]
    pub async fn rotate(
        &self,
        old_hash: &TokenHash,
        old: &Session,
        new_hash: &TokenHash,
        next: &Session,
        sealed: &SealedSuccessor,
        ttl_epoch_seconds: i64,
        now: DateTime<Utc>,
        events: &[AuditEvent],
    ) -> Result<Write, StoreError> {
        let mut item = Self::key(new_hash);
        item.extend(session_attributes(next));
        item.insert(attr::TTL.into(), n(ttl_epoch_seconds));
        let retire = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(old_hash)))
            .condition_expression("#kind = :session AND #ver = :ver")
            .update_expression(
                "SET #kind = :retired, #retired_at = :now, #successor = :successor, \
                 #sealed = :sealed REMOVE #data, #g1pk, #g1sk, #g2pk, #g2sk",
            )
            .expression_attribute_names("#kind", attr::KIND)
            .expression_attribute_names("#ver", attr::VERSION)
            .expression_attribute_names("#retired_at", attr::RETIRED_AT)
            .expression_attribute_names("#successor", attr::SUCCESSOR)
            .expression_attribute_names("#sealed", attr::SEALED)
            .expression_attribute_values(":session", s(kind::SESSION))
            .expression_attribute_values(":retired", s(kind::RETIRED))
            .expression_attribute_values(":ver", n(old.version))
            .expression_attribute_values(":now", millis(now))
            .expression_attribute_values(":successor", s(new_hash.encoded()))
            .expression_attribute_values(":sealed", AttributeValue::B(Blob::new(sealed.as_bytes())))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let retire = dropping_listing(retire)
            .build()
            .map_err(StoreError::request)?;
        // The old item first: its cancellation reason carries what it is now.
        self.commit(
            "rotate",
            vec![
                TransactWriteItem::builder().update(retire).build(),
                put(&self.table, item, Some("attribute_not_exists(pk)"))?,
            ],
            events,
        )
        .await
    }

    /// Deletes the head `session` stored under `hash` (sign-out), with its events, only if it
    /// is still that version of the live session.
    pub async fn delete(
        &self,
        hash: &TokenHash,
        session: &Session,
        events: &[AuditEvent],
    ) -> Result<Write, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(hash)))
            .condition_expression("#kind = :session AND #ver = :ver")
            .expression_attribute_names("#kind", attr::KIND)
            .expression_attribute_names("#ver", attr::VERSION)
            .expression_attribute_values(":session", s(kind::SESSION))
            .expression_attribute_values(":ver", n(session.version))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::request)?;
        self.commit(
            "delete",
            vec![TransactWriteItem::builder().delete(delete).build()],
            events,
        )
        .await
    }

    /// Turns the head stored under `hash` into a `revoked` tombstone (kept until its TTL so
    /// its holder learns why), with the events. Only if it is still a live head.
    pub async fn revoke(
        &self,
        hash: &TokenHash,
        reason: RevocationReason,
        now: DateTime<Utc>,
        events: &[AuditEvent],
    ) -> Result<Write, StoreError> {
        self.commit(
            "revoke",
            vec![self.revoke_write(hash, reason, now)?],
            events,
        )
        .await
    }

    /// Stores events on their own (no state change goes with them). An event whose id was
    /// stored already is skipped, so events with deterministic ids are recorded once.
    pub async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let Some(item) = self.event_item(event) else {
            return Ok(());
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(())
            }
            Err(e) => Err(StoreError::from_sdk("put_item", e)),
        }
    }

    /// The user's audit events, newest first, at most `limit`.
    pub async fn events_for_user(
        &self,
        user: &UserId,
        limit: i32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":prefix", s(EVENT_PREFIX))
            .scan_index_forward(false)
            .limit(limit)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("query", e))?;
        output.items().iter().map(event_of).collect()
    }

    /// The user's sessions as the `by_user` index lists them (eventually consistent), and
    /// the version of the user's guard item (0 when it does not exist yet).
    pub async fn sessions_of(&self, user: &UserId) -> Result<(Vec<SessionEntry>, u64), StoreError> {
        let guard = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::guard_key(user)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("get_item", e))?
            .item
            .map(|item| get_i64(&item, attr::VERSION))
            .transpose()?
            .map_or(0, |v| v.max(0).unsigned_abs());
        Ok((self.all_listed(Owner::User(user)).await?, guard))
    }

    /// Every session the index lists for `owner`, all pages.
    pub async fn all_listed(&self, owner: Owner<'_>) -> Result<Vec<SessionEntry>, StoreError> {
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self.listed(owner, start, None).await?;
            entries.extend(page);
            match next {
                Some(key) => start = Some(key),
                None => return Ok(entries),
            }
        }
    }

    /// One page of the sessions an index lists for `owner`, at most `limit` (DynamoDB's 1 MB
    /// page otherwise), and where the next page starts.
    pub async fn listed(
        &self,
        owner: Owner<'_>,
        start: Option<PageKey>,
        limit: Option<i32>,
    ) -> Result<(Vec<SessionEntry>, Option<PageKey>), StoreError> {
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
            .await
            .map_err(|e| StoreError::from_sdk("query", e))?;
        let entries = output
            .items()
            .iter()
            .map(entry_of)
            .collect::<Result<Vec<_>, _>>()?;
        let next = output
            .last_evaluated_key
            .filter(|key| !key.is_empty())
            .map(PageKey);
        Ok((entries, next))
    }

    /// The user's session `session_id` as `by_user` lists it; `None` for an unknown id or
    /// another user's session (they are under another partition key).
    pub async fn find_session(
        &self,
        user: &UserId,
        session_id: SessionId,
    ) -> Result<Option<SessionEntry>, StoreError> {
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
            .await
            .map_err(|e| StoreError::from_sdk("query", e))?;
        // After a rotation the index may list the old and the new token item for a moment;
        // the most recently seen one is the likelier head.
        let mut entries = output
            .items()
            .iter()
            .map(entry_of)
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|e| e.last_seen_at);
        Ok(entries.pop())
    }

    /// Revokes up to [`MAX_BATCH`] sessions in one transaction, each with its event. A write
    /// is conditional on the item still being a live head, so a session rotated meanwhile is
    /// reported with its successor (never silently missed) and a signed-out one is never
    /// turned into a tombstone. DynamoDB cancels the whole transaction when one condition
    /// fails: the others come back as [`BatchOutcome::Retry`].
    pub async fn revoke_batch(
        &self,
        batch: &[(Revocation, AuditEvent)],
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> Result<Vec<BatchOutcome>, StoreError> {
        debug_assert!(batch.len() <= MAX_BATCH);
        let mut writes = Vec::with_capacity(batch.len() * 2);
        for (target, _) in batch {
            writes.push(self.revoke_write(&target.token, reason, now)?);
        }
        for (_, event) in batch {
            if let Some(item) = self.event_item(event) {
                writes.push(put(&self.table, item, None)?);
            }
        }
        let reasons = match self.send_transaction("revoke_batch", writes).await? {
            Sent::Done => return Ok(vec![BatchOutcome::Revoked; batch.len()]),
            Sent::InProgress => return Ok(vec![BatchOutcome::Retry; batch.len()]),
            Sent::Cancelled(reasons) => reasons,
        };
        (0..batch.len())
            .map(|i| {
                let Some(reason) = reasons.get(i) else {
                    return Ok(BatchOutcome::Retry);
                };
                if reason.code() != Some("ConditionalCheckFailed") {
                    return Ok(BatchOutcome::Retry);
                }
                match reason.item().filter(|item| !item.is_empty()) {
                    None => Ok(BatchOutcome::Gone),
                    Some(item) => Ok(match record_of(item)? {
                        TokenRecord::Retired(retired) => BatchOutcome::Rotated(retired.successor),
                        _ => BatchOutcome::Gone,
                    }),
                }
            })
            .collect()
    }

    /// Replaces the data of the head stored under `hash`, only if its data is still
    /// `data_version` (the base the new data was computed from). Bumps both versions, so a
    /// rotation racing with it cannot carry the old data to the next token.
    pub async fn update_data(
        &self,
        hash: &TokenHash,
        data_version: u64,
        data: &SessionData,
    ) -> Result<Write, StoreError> {
        // Items written before `data_version` existed are at version 1.
        let condition = if data_version == 1 {
            "#kind = :session AND (attribute_not_exists(#dv) OR #dv = :dv)"
        } else {
            "#kind = :session AND #dv = :dv"
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(hash)))
            .condition_expression(condition)
            .update_expression("SET #data = :data, #dv = :next_dv, #ver = #ver + :one")
            .expression_attribute_names("#kind", attr::KIND)
            .expression_attribute_names("#dv", attr::DATA_VERSION)
            .expression_attribute_names("#data", attr::DATA)
            .expression_attribute_names("#ver", attr::VERSION)
            .expression_attribute_values(":session", s(kind::SESSION))
            .expression_attribute_values(":dv", n(data_version))
            .expression_attribute_values(":next_dv", n(data_version + 1))
            .expression_attribute_values(":data", s(data.to_json()))
            .expression_attribute_values(":one", n(1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        self.commit("update_data", vec![update_write(update)?], &[])
            .await
    }

    fn revoke_write(
        &self,
        hash: &TokenHash,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(hash)))
            .condition_expression("#kind = :session")
            .update_expression(
                "SET #kind = :revoked, #revoked_at = :now, #reason = :reason \
                 REMOVE #data, #g1pk, #g1sk, #g2pk, #g2sk",
            )
            .expression_attribute_names("#kind", attr::KIND)
            .expression_attribute_names("#revoked_at", attr::REVOKED_AT)
            .expression_attribute_names("#reason", attr::REVOKED_REASON)
            .expression_attribute_values(":session", s(kind::SESSION))
            .expression_attribute_values(":revoked", s(kind::REVOKED))
            .expression_attribute_values(":now", millis(now))
            .expression_attribute_values(":reason", s(reason.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update_write(dropping_listing(update))
    }

    /// Bumps the user's guard item from `version` (creating it at 0): concurrent creates for
    /// one user under a cap serialize on it.
    fn guard_write(
        &self,
        user: &UserId,
        version: u64,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::guard_key(user)))
            .condition_expression("attribute_not_exists(#ver) OR #ver = :ver")
            .update_expression("SET #ver = :next, #at = :now")
            .expression_attribute_names("#ver", attr::VERSION)
            .expression_attribute_names("#at", attr::AT)
            .expression_attribute_values(":ver", n(version))
            .expression_attribute_values(":next", n(version + 1))
            .expression_attribute_values(":now", millis(now))
            .build()
            .map_err(StoreError::request)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn event_item(&self, event: &AuditEvent) -> Option<Item> {
        let retention = self.audit_retention?;
        let mut item = HashMap::from([
            (attr::PK.to_owned(), s(user_pk(&event.user_id))),
            (
                attr::SK.to_owned(),
                s(format!(
                    "{EVENT_PREFIX}{:013}#{}",
                    event.at.timestamp_millis().max(0),
                    event.id
                )),
            ),
            (attr::KIND.to_owned(), s(kind::EVENT)),
            (attr::EVENT.to_owned(), s(event.kind.as_str())),
            (attr::AT.to_owned(), millis(event.at)),
            (attr::SESSION_ID.to_owned(), s(event.session_id.to_string())),
            (attr::USER_ID.to_owned(), s(event.user_id.as_str())),
            (
                attr::DETAIL.to_owned(),
                s(Value::Object(event.detail.clone()).to_string()),
            ),
            (attr::TTL.to_owned(), n((event.at + retention).timestamp())),
        ]);
        if let Some(tenant) = &event.tenant_id {
            item.insert(attr::TENANT_ID.into(), s(tenant.as_str()));
        }
        if let Some(ip) = &event.client.ip {
            item.insert(attr::IP.into(), s(ip));
        }
        if let Some(ua) = &event.client.user_agent {
            item.insert(attr::USER_AGENT.into(), s(ua));
        }
        Some(item)
    }

    /// Runs `writes` and the puts of `events` as one transaction.
    async fn commit(
        &self,
        operation: &'static str,
        mut writes: Vec<TransactWriteItem>,
        events: &[AuditEvent],
    ) -> Result<Write, StoreError> {
        for item in events.iter().filter_map(|e| self.event_item(e)) {
            writes.push(put(&self.table, item, None)?);
        }
        self.transact(operation, writes).await
    }

    /// Runs the writes as one transaction. A failed condition on the first write is reported
    /// with the item as it is now; any other cancellation as contention.
    async fn transact(
        &self,
        operation: &'static str,
        writes: Vec<TransactWriteItem>,
    ) -> Result<Write, StoreError> {
        let reasons = match self.send_transaction(operation, writes).await? {
            Sent::Done => return Ok(Write::Done),
            Sent::InProgress => return Ok(Write::Contended),
            Sent::Cancelled(reasons) => reasons,
        };
        let first = reasons.first();
        let failed_first = first.and_then(|r| r.code()) == Some("ConditionalCheckFailed");
        if !failed_first {
            // A later write failed (a taken key, a stale guard) or a conflict: retry from a
            // fresh read.
            return Ok(Write::Contended);
        }
        let current = match first.and_then(|r| r.item()) {
            Some(item) if !item.is_empty() => Some(record_of(item)?),
            _ => None,
        };
        Ok(Write::Stale(current))
    }

    /// Sends one `TransactWriteItems`; a cancellation comes back with its per-write reasons
    /// (in the order of `writes`), every other service error as a [`StoreError`].
    async fn send_transaction(
        &self,
        operation: &'static str,
        writes: Vec<TransactWriteItem>,
    ) -> Result<Sent, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Sent::Done),
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    TransactWriteItemsError::TransactionCanceledException(_)
                        | TransactWriteItemsError::TransactionInProgressException(_)
                ) =>
            {
                match e.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => {
                        Ok(Sent::Cancelled(c.cancellation_reasons.unwrap_or_default()))
                    }
                    _ => Ok(Sent::InProgress),
                }
            }
            Err(e) => Err(StoreError::from_sdk(operation, e)),
        }
    }
}

/// What became of a sent transaction.
enum Sent {
    Done,
    /// The same idempotency token is still being processed: retry later.
    InProgress,
    Cancelled(Vec<CancellationReason>),
}

/// Names for `REMOVE #data, #g1pk, #g1sk, #g2pk, #g2sk`: a token item that stops being a live
/// head loses its data and leaves the `by_user` / `by_tenant` indexes.
fn dropping_listing(
    update: aws_sdk_dynamodb::types::builders::UpdateBuilder,
) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    update
        .expression_attribute_names("#data", attr::DATA)
        .expression_attribute_names("#g1pk", attr::GSI1PK)
        .expression_attribute_names("#g1sk", attr::GSI1SK)
        .expression_attribute_names("#g2pk", attr::GSI2PK)
        .expression_attribute_names("#g2sk", attr::GSI2SK)
}

fn update_write(
    update: aws_sdk_dynamodb::types::builders::UpdateBuilder,
) -> Result<TransactWriteItem, StoreError> {
    let update = update.build().map_err(StoreError::request)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// Appends `SET ip = ..., user_agent = ...` for what the client info knows.
fn with_client_update(
    update: aws_sdk_dynamodb::types::builders::UpdateBuilder,
    client: &ClientInfo,
) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    let mut sets = Vec::new();
    let mut update = update;
    if let Some(ip) = &client.ip {
        sets.push("#ip = :ip");
        update = update
            .expression_attribute_names("#ip", attr::IP)
            .expression_attribute_values(":ip", s(ip));
    }
    if let Some(ua) = &client.user_agent {
        sets.push("#ua = :ua");
        update = update
            .expression_attribute_names("#ua", attr::USER_AGENT)
            .expression_attribute_values(":ua", s(ua));
    }
    if sets.is_empty() {
        return update;
    }
    let expression = update.get_update_expression().clone().unwrap_or_default();
    update.update_expression(format!("{expression}, {}", sets.join(", ")))
}

fn put(table: &str, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(StoreError::request)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn token_pk(hash: &TokenHash) -> String {
    format!("{TOKEN_PREFIX}{}", hash.encoded())
}

fn user_pk(user: &UserId) -> String {
    format!("{USER_PREFIX}{}", user.as_str())
}

fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{}", tenant.as_str())
}

fn session_sk(id: SessionId) -> String {
    format!("SESSION#{id}")
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn millis(t: DateTime<Utc>) -> AttributeValue {
    n(t.timestamp_millis())
}

fn session_attributes(session: &Session) -> HashMap<String, AttributeValue> {
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
        (attr::GSI1PK.to_owned(), s(user_pk(&session.user_id))),
        (attr::GSI1SK.to_owned(), s(session_sk(session.id))),
    ]);
    if let Some(tenant) = &session.tenant_id {
        item.insert(attr::TENANT_ID.into(), s(tenant.as_str()));
        item.insert(attr::GSI2PK.into(), s(tenant_pk(tenant)));
        item.insert(attr::GSI2SK.into(), s(session_sk(session.id)));
    }
    if let Some(ip) = &session.client.ip {
        item.insert(attr::IP.into(), s(ip));
    }
    if let Some(ua) = &session.client.user_agent {
        item.insert(attr::USER_AGENT.into(), s(ua));
    }
    item
}

type Item = HashMap<String, AttributeValue>;

fn get_s<'a>(item: &'a Item, attribute: &'static str) -> Result<&'a str, StoreError> {
    item.get(attribute)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or(StoreError::CorruptItem { attribute })
}

fn get_opt_s<'a>(item: &'a Item, attribute: &'static str) -> Option<&'a str> {
    item.get(attribute)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn get_i64(item: &Item, attribute: &'static str) -> Result<i64, StoreError> {
    item.get(attribute)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or(StoreError::CorruptItem { attribute })
}

fn get_time(item: &Item, attribute: &'static str) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(get_i64(item, attribute)?)
        .single()
        .ok_or(StoreError::CorruptItem { attribute })
}

fn parse_session_id(raw: &str) -> Result<SessionId, StoreError> {
    SessionId::parse(raw).map_err(|_| StoreError::CorruptItem {
        attribute: attr::SESSION_ID,
    })
}

fn get_opt_time(item: &Item, attribute: &'static str) -> Result<Option<DateTime<Utc>>, StoreError> {
    item.contains_key(attribute)
        .then(|| get_time(item, attribute))
        .transpose()
}

fn token_hash_of(item: &Item) -> Result<TokenHash, StoreError> {
    get_s(item, attr::PK)?
        .strip_prefix(TOKEN_PREFIX)
        .and_then(TokenHash::from_encoded)
        .ok_or(StoreError::CorruptItem {
            attribute: attr::PK,
        })
}

fn user_of(item: &Item) -> Result<UserId, StoreError> {
    UserId::parse(get_s(item, attr::USER_ID)?).map_err(|_| StoreError::CorruptItem {
        attribute: attr::USER_ID,
    })
}

fn tenant_of(item: &Item) -> Result<Option<TenantId>, StoreError> {
    get_opt_s(item, attr::TENANT_ID)
        .map(TenantId::parse)
        .transpose()
        .map_err(|_| StoreError::CorruptItem {
            attribute: attr::TENANT_ID,
        })
}

/// Maps an item back to a record after checking, in constant time, that the item's key is the
/// hash of the presented token (defence in depth against a mis-keyed or tampered item).
fn verified_record(hash: &TokenHash, item: &Item) -> Result<TokenRecord, StoreError> {
    if !token_hash_of(item)?.matches(hash) {
        return Err(StoreError::CorruptItem {
            attribute: attr::PK,
        });
    }
    record_of(item)
}

/// Maps a token item to what it says, by its `kind`.
fn record_of(item: &Item) -> Result<TokenRecord, StoreError> {
    match get_s(item, attr::KIND)? {
        kind::SESSION => session_of(item).map(TokenRecord::Active),
        kind::RETIRED => Ok(TokenRecord::Retired(RetiredToken {
            session_id: parse_session_id(get_s(item, attr::SESSION_ID)?)?,
            user_id: user_of(item)?,
            tenant_id: tenant_of(item)?,
            retired_at: get_time(item, attr::RETIRED_AT)?,
            successor: TokenHash::from_encoded(get_s(item, attr::SUCCESSOR)?).ok_or(
                StoreError::CorruptItem {
                    attribute: attr::SUCCESSOR,
                },
            )?,
            sealed: SealedSuccessor::from_bytes(
                item.get(attr::SEALED)
                    .and_then(|v| v.as_b().ok())
                    .map(|b| b.as_ref().to_vec())
                    .ok_or(StoreError::CorruptItem {
                        attribute: attr::SEALED,
                    })?,
            ),
            absolute_expires_at: get_time(item, attr::ABSOLUTE_EXPIRES_AT)?,
        })),
        kind::REVOKED => Ok(TokenRecord::Revoked(RevokedToken {
            session_id: parse_session_id(get_s(item, attr::SESSION_ID)?)?,
            user_id: user_of(item)?,
            tenant_id: tenant_of(item)?,
            reason: RevocationReason::parse(get_s(item, attr::REVOKED_REASON)?).ok_or(
                StoreError::CorruptItem {
                    attribute: attr::REVOKED_REASON,
                },
            )?,
            revoked_at: get_time(item, attr::REVOKED_AT)?,
        })),
        _ => Err(StoreError::CorruptItem {
            attribute: attr::KIND,
        }),
    }
}

fn session_of(item: &Item) -> Result<Session, StoreError> {
    let data: Map<String, Value> =
        serde_json::from_str(get_s(item, attr::DATA)?).map_err(|_| StoreError::CorruptItem {
            attribute: attr::DATA,
        })?;
    let created_at = get_time(item, attr::CREATED_AT)?;
    Ok(Session {
        id: parse_session_id(get_s(item, attr::SESSION_ID)?)?,
        user_id: user_of(item)?,
        tenant_id: tenant_of(item)?,
        data: SessionData::from_stored(data),
        created_at,
        last_seen_at: get_time(item, attr::LAST_SEEN_AT)?,
        expires_at: get_time(item, attr::EXPIRES_AT)?,
        absolute_expires_at: get_time(item, attr::ABSOLUTE_EXPIRES_AT)?,
        client: ClientInfo::new(get_opt_s(item, attr::IP), get_opt_s(item, attr::USER_AGENT)),
        version: u64::try_from(get_i64(item, attr::VERSION)?).map_err(|_| {
            StoreError::CorruptItem {
                attribute: attr::VERSION,
            }
        })?,
        data_version: match item.get(attr::DATA_VERSION) {
            None => 1,
            Some(_) => u64::try_from(get_i64(item, attr::DATA_VERSION)?).map_err(|_| {
                StoreError::CorruptItem {
                    attribute: attr::DATA_VERSION,
                }
            })?,
        },
        token_issued_at: get_opt_time(item, attr::TOKEN_ISSUED_AT)?.unwrap_or(created_at),
    })
}

/// A session as an index lists it (the projection in `infra/table.json`).
fn entry_of(item: &Item) -> Result<SessionEntry, StoreError> {
    Ok(SessionEntry {
        token: token_hash_of(item)?,
        session_id: parse_session_id(get_s(item, attr::SESSION_ID)?)?,
        user_id: user_of(item)?,
        tenant_id: tenant_of(item)?,
        created_at: get_time(item, attr::CREATED_AT)?,
        last_seen_at: get_time(item, attr::LAST_SEEN_AT)?,
        expires_at: get_time(item, attr::EXPIRES_AT)?,
        absolute_expires_at: get_time(item, attr::ABSOLUTE_EXPIRES_AT)?,
        client: ClientInfo::new(get_opt_s(item, attr::IP), get_opt_s(item, attr::USER_AGENT)),
    })
}

fn event_of(item: &Item) -> Result<AuditEvent, StoreError> {
    let detail = match serde_json::from_str(get_s(item, attr::DETAIL)?) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(StoreError::CorruptItem {
                attribute: attr::DETAIL,
            });
        }
    };
    let id = get_s(item, attr::SK)?
        .rsplit('#')
        .next()
        .and_then(|raw| Uuid::parse_str(raw).ok())
        .ok_or(StoreError::CorruptItem {
            attribute: attr::SK,
        })?;
    Ok(AuditEvent {
        id,
        kind: EventKind::parse(get_s(item, attr::EVENT)?).ok_or(StoreError::CorruptItem {
            attribute: attr::EVENT,
        })?,
        at: get_time(item, attr::AT)?,
        user_id: user_of(item)?,
        tenant_id: tenant_of(item)?,
        session_id: parse_session_id(get_s(item, attr::SESSION_ID)?)?,
        client: ClientInfo::new(get_opt_s(item, attr::IP), get_opt_s(item, attr::USER_AGENT)),
        detail,
    })
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
        let mut item = SessionStore::key(hash);
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
        let key = SessionStore::key(&token.hash());
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
    fn index_keys_name_the_user_and_tenant() {
        let (_, session) = sample();
        let item = session_attributes(&session);
        assert_eq!(item[attr::GSI1PK].as_s().unwrap(), "USER#alice");
        assert_eq!(item[attr::GSI2PK].as_s().unwrap(), "TENANT#acme");
        assert_eq!(
            item[attr::GSI1SK].as_s().unwrap(),
            &format!("SESSION#{}", session.id)
        );
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
