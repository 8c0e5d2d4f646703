//! Write expressions: each conditional write the store performs, built as one
//! `TransactWriteItem`. Owns the condition and update expressions (and so the rule that only a
//! live head, at the version the caller read, is ever changed); sends nothing.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};

use super::codec::{Item, attr, guard_key, kind, millis, n, s, token_key};
use super::{Rotation, StoreError};

/// The id of one write, stored with what it writes (`att`) and sent as the
/// `ClientRequestToken` of a transaction. The SDK retries a write whose answer came late with
/// the same request, so when the first attempt had landed, the retry's condition fails on an
/// item that carries this id: the store reads it back (`ReturnValuesOnConditionCheckFailure`)
/// and knows the write is its own ([`Attempt::wrote`]), at no cost in the normal path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Attempt(u64);

impl Attempt {
    /// A fresh id from the operating system's CSPRNG.
    pub(super) fn new() -> Result<Self, StoreError> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(StoreError::Random)?;
        Ok(Self(u64::from_le_bytes(bytes)))
    }

    fn value(self) -> AttributeValue {
        n(self.0)
    }

    /// The `ClientRequestToken` of a transaction (1 to 36 characters).
    pub(super) fn request_token(self) -> String {
        format!("{:016x}", self.0)
    }

    /// Whether `item` (as a failed condition returned it) was last written by this attempt.
    pub(super) fn wrote(self, item: &Item) -> bool {
        item.get(attr::ATTEMPT) == Some(&self.value())
    }
}
use crate::domain::{ClientInfo, RevocationReason, SessionData, TokenHash, UserKey};

/// Which state of the token item a write requires.
#[derive(Debug, Clone, Copy)]
pub(super) enum Expect {
    /// A live head, whatever its version.
    Head,
    /// A live head still at this version (the one the caller read and decided on).
    HeadAt(u64),
}

/// An update of the token item under `hash`, only if it is in the `expected` state. On a failed
/// condition DynamoDB returns the item as it is now.
fn head_update(table: &str, hash: &TokenHash, expected: Expect) -> UpdateBuilder {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(token_key(hash)))
        .expression_attribute_names("#kind", attr::KIND)
        .expression_attribute_values(":session", s(kind::SESSION))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    match expected {
        Expect::Head => update.condition_expression("#kind = :session"),
        Expect::HeadAt(version) => update
            .condition_expression("#kind = :session AND #ver = :ver")
            .expression_attribute_names("#ver", attr::VERSION)
            .expression_attribute_values(":ver", n(version)),
    }
}

/// Names for `REMOVE #data, #g1pk, #g1sk, #g2pk, #g2sk`: a token item that stops being a live
/// head loses its data and leaves the `sessions_by_user` / `by_tenant` indexes.
const DROP_LISTING: &str = "REMOVE #data, #g1pk, #g1sk, #g2pk, #g2sk";

fn dropping_listing(update: UpdateBuilder) -> UpdateBuilder {
    update
        .expression_attribute_names("#data", attr::DATA)
        .expression_attribute_names("#g1pk", attr::GSI1PK)
        .expression_attribute_names("#g1sk", attr::GSI1SK)
        .expression_attribute_names("#g2pk", attr::GSI2PK)
        .expression_attribute_names("#g2sk", attr::GSI2SK)
}

/// Names `#att = :att` (to be SET by the update's expression): the item remembers which write
/// changed it last.
fn stamped(update: UpdateBuilder, attempt: Attempt) -> UpdateBuilder {
    update
        .expression_attribute_names("#att", attr::ATTEMPT)
        .expression_attribute_values(":att", attempt.value())
}

fn update_write(update: UpdateBuilder) -> Result<TransactWriteItem, StoreError> {
    let update = update.build().map_err(StoreError::request)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// Puts `item`, under `condition` if given.
pub(super) fn put(
    table: &str,
    item: Item,
    condition: Option<&str>,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(StoreError::request)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Puts a new item that must not exist yet (a new head: token hashes never repeat), stamped
/// with `attempt`.
pub(super) fn put_new(
    table: &str,
    mut item: Item,
    attempt: Attempt,
) -> Result<TransactWriteItem, StoreError> {
    item.insert(attr::ATTEMPT.to_owned(), attempt.value());
    put(table, item, Some("attribute_not_exists(pk)"))
}

/// Records a use of the head at `version`: `now` as last seen, the client as seen now, the
/// version bumped; and with `extend_to`, the idle deadline moved there. The caller judged the
/// read version active and the new deadline within the absolute one (`domain`); the version
/// condition makes that judgement hold at write time, so an expired, rotated or deleted session
/// is never resurrected.
pub(super) fn touch(
    table: &str,
    hash: &TokenHash,
    version: u64,
    client: &ClientInfo,
    now: DateTime<Utc>,
    extend_to: Option<DateTime<Utc>>,
    client_event: bool,
) -> Result<TransactWriteItem, StoreError> {
    let mut sets = vec!["#ver = :next", "#seen = :now"];
    let mut update = head_update(table, hash, Expect::HeadAt(version))
        .expression_attribute_names("#seen", attr::LAST_SEEN_AT)
        .expression_attribute_values(":now", millis(now))
        .expression_attribute_values(":next", n(version + 1));
    if let Some(deadline) = extend_to {
        sets.push("#exp = :new");
        update = update
            .expression_attribute_names("#exp", attr::EXPIRES_AT)
            .expression_attribute_values(":new", millis(deadline));
    }
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
    if client_event {
        sets.push("#cev = :now");
        update = update.expression_attribute_names("#cev", attr::CLIENT_EVENT_AT);
    }
    update_write(update.update_expression(format!("SET {}", sets.join(", "))))
}

/// Turns the head `rotation` retires (at the version it was read) into a `retired` token
/// pointing at its successor.
pub(super) fn retire(
    table: &str,
    rotation: &Rotation<'_>,
    attempt: Attempt,
) -> Result<TransactWriteItem, StoreError> {
    let Rotation {
        old_hash,
        old,
        new_hash: successor,
        sealed,
        trigger,
        now,
        ..
    } = *rotation;
    let update = head_update(table, old_hash, Expect::HeadAt(old.version))
        .update_expression(format!(
            "SET #kind = :retired, #retired_at = :now, #successor = :successor, \
             #sealed = :sealed, #trigger = :trigger, #att = :att {DROP_LISTING}"
        ))
        .expression_attribute_names("#trigger", attr::TRIGGER)
        .expression_attribute_values(":trigger", s(trigger))
        .expression_attribute_names("#retired_at", attr::RETIRED_AT)
        .expression_attribute_names("#successor", attr::SUCCESSOR)
        .expression_attribute_names("#sealed", attr::SEALED)
        .expression_attribute_values(":retired", s(kind::RETIRED))
        .expression_attribute_values(":now", millis(now))
        .expression_attribute_values(":successor", s(successor.encoded()))
        .expression_attribute_values(":sealed", AttributeValue::B(Blob::new(sealed.as_bytes())));
    update_write(stamped(dropping_listing(update), attempt))
}

/// Turns the live head under `hash` into a `revoked` tombstone (kept until its TTL so its
/// holder learns why).
pub(super) fn revoke(
    table: &str,
    hash: &TokenHash,
    reason: RevocationReason,
    now: DateTime<Utc>,
    attempt: Attempt,
) -> Result<TransactWriteItem, StoreError> {
    let update = head_update(table, hash, Expect::Head)
        .update_expression(format!(
            "SET #kind = :revoked, #revoked_at = :now, #reason = :reason, #att = :att \
             {DROP_LISTING}"
        ))
        .expression_attribute_names("#revoked_at", attr::REVOKED_AT)
        .expression_attribute_names("#reason", attr::REVOKED_REASON)
        .expression_attribute_values(":revoked", s(kind::REVOKED))
        .expression_attribute_values(":now", millis(now))
        .expression_attribute_values(":reason", s(reason.as_str()));
    update_write(stamped(dropping_listing(update), attempt))
}

/// Replaces the head's data if its data is still `data_version`, bumping both versions (so a
/// rotation racing with it cannot carry the old data to the next token).
pub(super) fn replace_data(
    table: &str,
    hash: &TokenHash,
    data_version: u64,
    data: &SessionData,
    attempt: Attempt,
) -> Result<TransactWriteItem, StoreError> {
    // Items written before `data_version` existed are at version 1.
    let condition = if data_version == 1 {
        "#kind = :session AND (attribute_not_exists(#dv) OR #dv = :dv)"
    } else {
        "#kind = :session AND #dv = :dv"
    };
    let update = head_update(table, hash, Expect::Head)
        .condition_expression(condition)
        .update_expression("SET #data = :data, #dv = :next_dv, #ver = #ver + :one, #att = :att")
        .expression_attribute_names("#dv", attr::DATA_VERSION)
        .expression_attribute_names("#data", attr::DATA)
        .expression_attribute_names("#ver", attr::VERSION)
        .expression_attribute_values(":dv", n(data_version))
        .expression_attribute_values(":next_dv", n(data_version + 1))
        .expression_attribute_values(":data", s(data.to_json()))
        .expression_attribute_values(":one", n(1));
    update_write(stamped(update, attempt))
}

/// Deletes the head at `version` (sign-out).
pub(super) fn delete(
    table: &str,
    hash: &TokenHash,
    version: u64,
) -> Result<TransactWriteItem, StoreError> {
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(token_key(hash)))
        .condition_expression("#kind = :session AND #ver = :ver")
        .expression_attribute_names("#kind", attr::KIND)
        .expression_attribute_names("#ver", attr::VERSION)
        .expression_attribute_values(":session", s(kind::SESSION))
        .expression_attribute_values(":ver", n(version))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(StoreError::request)?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

/// Bumps the user's guard item from `version` (creating it at 0): concurrent creates for one
/// user under a cap serialize on it. It expires with the newest session (`ttl_epoch_seconds`
/// of the session being created, the latest of the user's): no item outlives the sessions.
pub(super) fn bump_guard(
    table: &str,
    user: &UserKey,
    version: u64,
    now: DateTime<Utc>,
    ttl_epoch_seconds: i64,
    attempt: Attempt,
) -> Result<TransactWriteItem, StoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(guard_key(user)))
        .condition_expression("attribute_not_exists(#ver) OR #ver = :ver")
        .update_expression("SET #ver = :next, #at = :now, #ttl = :ttl, #att = :att")
        .expression_attribute_names("#ver", attr::VERSION)
        .expression_attribute_names("#at", attr::AT)
        .expression_attribute_names("#ttl", attr::TTL)
        .expression_attribute_values(":ver", n(version))
        .expression_attribute_values(":next", n(version + 1))
        .expression_attribute_values(":now", millis(now))
        .expression_attribute_values(":ttl", n(ttl_epoch_seconds));
    update_write(stamped(update, attempt))
}
