//! The DynamoDB store: the only module that talks to DynamoDB.
//!
//! Single-table design (see the README's "Data model"): a session item is keyed by the SHA-256
//! of its token, `pk = "TOKEN#<hash>"`, `sk = "SESSION"`, so validate is one `GetItem`.
//! `gsi1pk/gsi1sk` (`USER#<user_id>` / `SESSION#<session_id>`) and `gsi2pk/gsi2sk`
//! (`TENANT#<tenant_id>` / `SESSION#<session_id>`) feed the `by_user` and `by_tenant` indexes.

mod table;

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

pub use table::{TABLE_DEFINITION_JSON, TableDefinition, Ttl, delete_table};

use crate::config::StoreTimeouts;
use crate::domain::{ClientInfo, Session, SessionData, SessionId, TenantId, TokenHash, UserId};

const SESSION_SK: &str = "SESSION";
const TOKEN_PREFIX: &str = "TOKEN#";

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
    pub const CREATED_AT: &str = "created_at";
    pub const LAST_SEEN_AT: &str = "last_seen_at";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const ABSOLUTE_EXPIRES_AT: &str = "absolute_expires_at";
    pub const IP: &str = "ip";
    pub const USER_AGENT: &str = "user_agent";
    pub const TTL: &str = "ttl";
    pub const GSI1PK: &str = "gsi1pk";
    pub const GSI1SK: &str = "gsi1sk";
    pub const GSI2PK: &str = "gsi2pk";
    pub const GSI2SK: &str = "gsi2sk";
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
        matches!(self, Self::Unavailable { .. })
    }
}

/// What became of a conditional extension of the idle deadline.
#[derive(Debug)]
pub enum Extension {
    /// The deadline moved; the session as written.
    Extended(Session),
    /// The condition did not hold; the item as it is now (`None`: it no longer exists).
    Unchanged(Option<Session>),
}

/// Builds the DynamoDB client once per cold start from the standard AWS environment
/// (`AWS_REGION`, credentials, and `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local), with
/// explicit timeouts and bounded, jittered retries.
pub async fn client_from_env(timeouts: &StoreTimeouts) -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeouts.attempt.min(StdDuration::from_secs(1)))
                .operation_timeout(timeouts.operation)
                .operation_attempt_timeout(timeouts.attempt)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(timeouts.max_attempts))
        .load()
        .await;
    Client::new(&config)
}

#[derive(Clone)]
pub struct SessionStore {
    client: Client,
    table: String,
}

impl SessionStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(hash: &TokenHash) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                attr::PK.to_owned(),
                s(format!("{TOKEN_PREFIX}{}", hash.encoded())),
            ),
            (attr::SK.to_owned(), s(SESSION_SK)),
        ])
    }

    /// Writes a new session; never overwrites an existing item.
    pub async fn create(
        &self,
        hash: &TokenHash,
        session: &Session,
        ttl_epoch_seconds: i64,
    ) -> Result<(), StoreError> {
        let mut item = Self::key(hash);
        item.extend(session_attributes(session));
        item.insert(attr::TTL.into(), n(ttl_epoch_seconds));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("put_item", e))?;
        Ok(())
    }

    /// The session stored under `hash`, read with strong consistency. Expired items are
    /// returned as they are: the caller judges expiry (TTL deletes lazily).
    pub async fn load(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
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
            .map(|item| verified_session(hash, &item))
            .transpose()
    }

    /// Moves the idle deadline forward to `new_expires_at` and records `now` as last seen,
    /// only if the session exists, is unexpired at `now`, the deadline really moves forward
    /// and stays within the absolute deadline. A deleted or expired session can never be
    /// resurrected by this write; on a failed condition the current item comes back with the
    /// same round trip (`ReturnValuesOnConditionCheckFailure`).
    pub async fn extend(
        &self,
        hash: &TokenHash,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Extension, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(hash)))
            .condition_expression(
                "attribute_exists(pk) AND #exp > :now AND #abs > :now AND #exp < :new AND #abs >= :new",
            )
            .update_expression("SET #exp = :new, #seen = :now ADD #ver :one")
            .expression_attribute_names("#exp", attr::EXPIRES_AT)
            .expression_attribute_names("#abs", attr::ABSOLUTE_EXPIRES_AT)
            .expression_attribute_names("#seen", attr::LAST_SEEN_AT)
            .expression_attribute_names("#ver", attr::VERSION)
            .expression_attribute_values(":now", millis(now))
            .expression_attribute_values(":new", millis(new_expires_at))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.ok_or(StoreError::CorruptItem {
                    attribute: "attributes",
                })?;
                Ok(Extension::Extended(verified_session(hash, &item)?))
            }
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                let current = match e.err() {
                    UpdateItemError::ConditionalCheckFailedException(ex) => ex
                        .item()
                        .map(|item| verified_session(hash, item))
                        .transpose()?,
                    _ => None,
                };
                Ok(Extension::Unchanged(current))
            }
            Err(e) => Err(StoreError::from_sdk("update_item", e)),
        }
    }

    /// Deletes the session stored under `hash`; returns its id if there was one.
    pub async fn delete(&self, hash: &TokenHash) -> Result<Option<SessionId>, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(hash)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("delete_item", e))?;
        output
            .attributes
            .map(|item| get_s(&item, attr::SESSION_ID).and_then(parse_session_id))
            .transpose()
    }
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
        (attr::KIND.to_owned(), s("session")),
        (attr::SESSION_ID.to_owned(), s(&id)),
        (attr::USER_ID.to_owned(), s(session.user_id.as_str())),
        (attr::DATA.to_owned(), s(session.data.to_json())),
        (attr::VERSION.to_owned(), n(session.version)),
        (attr::CREATED_AT.to_owned(), millis(session.created_at)),
        (attr::LAST_SEEN_AT.to_owned(), millis(session.last_seen_at)),
        (attr::EXPIRES_AT.to_owned(), millis(session.expires_at)),
        (
            attr::ABSOLUTE_EXPIRES_AT.to_owned(),
            millis(session.absolute_expires_at),
        ),
        (
            attr::GSI1PK.to_owned(),
            s(format!("USER#{}", session.user_id.as_str())),
        ),
        (attr::GSI1SK.to_owned(), s(format!("SESSION#{id}"))),
    ]);
    if let Some(tenant) = &session.tenant_id {
        item.insert(attr::TENANT_ID.into(), s(tenant.as_str()));
        item.insert(
            attr::GSI2PK.into(),
            s(format!("TENANT#{}", tenant.as_str())),
        );
        item.insert(attr::GSI2SK.into(), s(format!("SESSION#{id}")));
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

/// Maps an item back to a session after checking, in constant time, that the item's key is the
/// hash of the presented token (defence in depth against a mis-keyed or tampered item).
fn verified_session(hash: &TokenHash, item: &Item) -> Result<Session, StoreError> {
    let stored = get_s(item, attr::PK)?
        .strip_prefix(TOKEN_PREFIX)
        .and_then(TokenHash::from_encoded)
        .ok_or(StoreError::CorruptItem {
            attribute: attr::PK,
        })?;
    if !stored.matches(hash) {
        return Err(StoreError::CorruptItem {
            attribute: attr::PK,
        });
    }
    let data: Map<String, Value> =
        serde_json::from_str(get_s(item, attr::DATA)?).map_err(|_| StoreError::CorruptItem {
            attribute: attr::DATA,
        })?;
    Ok(Session {
        id: parse_session_id(get_s(item, attr::SESSION_ID)?)?,
        user_id: UserId::parse(get_s(item, attr::USER_ID)?).map_err(|_| {
            StoreError::CorruptItem {
                attribute: attr::USER_ID,
            }
        })?,
        tenant_id: get_opt_s(item, attr::TENANT_ID)
            .map(TenantId::parse)
            .transpose()
            .map_err(|_| StoreError::CorruptItem {
                attribute: attr::TENANT_ID,
            })?,
        data: SessionData::from_stored(data),
        created_at: get_time(item, attr::CREATED_AT)?,
        last_seen_at: get_time(item, attr::LAST_SEEN_AT)?,
        expires_at: get_time(item, attr::EXPIRES_AT)?,
        absolute_expires_at: get_time(item, attr::ABSOLUTE_EXPIRES_AT)?,
        client: ClientInfo::new(get_opt_s(item, attr::IP), get_opt_s(item, attr::USER_AGENT)),
        version: u64::try_from(get_i64(item, attr::VERSION)?).map_err(|_| {
            StoreError::CorruptItem {
                attribute: attr::VERSION,
            }
        })?,
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
        let back = verified_session(&hash, &item_of(&hash, &session)).unwrap();
        assert_eq!(back, session);
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
        let err = verified_session(&other, &item_of(&hash, &session)).unwrap_err();
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
        let err = verified_session(&hash, &item).unwrap_err();
        assert!(matches!(
            err,
            StoreError::CorruptItem {
                attribute: "expires_at"
            }
        ));
    }
}
