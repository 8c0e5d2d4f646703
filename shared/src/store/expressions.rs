//! Write expressions: each conditional write the store performs, built as one
//! `TransactWriteItem`. Owns the condition and update expressions (and so the rule that only a
//! live head, at the version the caller read, is ever changed); sends nothing.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};

use super::attribute::{Item, ToAttribute, n, s};
use super::codec::{attr, guard_key, guest_count_key, kind, tenant_pk, tenant_user_sk, token_key};
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
use crate::domain::{
    RevocationCause, RevocationReason, RotationSeed, SessionData, TenantId, TokenHash, Upgrade,
    Use, UseChange, UserKey,
};

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

/// Records `used` on the head at `version` (exactly the fields [`Use`] names; `Session::used`
/// is the same change in memory), the version bumped. The caller judged the read version
/// active and any new deadline within the absolute one (`domain`); the version condition makes
/// that judgement hold at write time, so an expired, rotated or deleted session is never
/// resurrected.
pub(super) fn touch(
    table: &str,
    hash: &TokenHash,
    version: u64,
    used: &Use<'_>,
) -> Result<TransactWriteItem, StoreError> {
    let mut sets = vec![String::from("#ver = :next")];
    let mut update = head_update(table, hash, Expect::HeadAt(version))
        .expression_attribute_values(":next", n(version + 1));
    for (i, change) in used.changes().enumerate() {
        let (attribute, value) = match change {
            UseChange::LastSeenAt(at) => (attr::LAST_SEEN_AT, at.to_attribute()),
            UseChange::ExpiresAt(at) => (attr::EXPIRES_AT, at.to_attribute()),
            UseChange::Ip(ip) => (attr::IP, ip.to_attribute()),
            UseChange::UserAgent(ua) => (attr::USER_AGENT, ua.to_attribute()),
            UseChange::ClientEventAt(at) => (attr::CLIENT_EVENT_AT, at.to_attribute()),
        };
        sets.push(format!("#u{i} = :u{i}"));
        update = update
            .expression_attribute_names(format!("#u{i}"), attribute)
            .expression_attribute_values(format!(":u{i}"), value);
    }
    update_write(update.update_expression(format!("SET {}", sets.join(", "))))
}

/// The condition that the head's data is still at `data_version` (items written before
/// `data_version` existed are at version 1).
fn data_at(data_version: u64) -> &'static str {
    if data_version == 1 {
        "#kind = :session AND (attribute_not_exists(#dv) OR #dv = :dv)"
    } else {
        "#kind = :session AND #dv = :dv"
    }
}

/// Turns the head `rotation` retires into a `retired` token pointing at its successor, only
/// while it is a live head whose data is what the successor was written with (a sliding write
/// since does not matter: the successor has a fresh idle window). The item keeps its seed,
/// from which the successor is derived, and loses its data and its index entries.
pub(super) fn retire(
    table: &str,
    rotation: &Rotation<'_>,
    attempt: Attempt,
) -> Result<TransactWriteItem, StoreError> {
    let Rotation {
        old_hash,
        old,
        new_hash: successor,
        trigger,
        now,
        ..
    } = *rotation;
    let update = head_update(table, old_hash, Expect::Head)
        .condition_expression(data_at(old.data_version))
        .update_expression(format!(
            "SET #kind = :retired, #retired_at = :now, #successor = :successor, \
             #trigger = :trigger, #att = :att {DROP_LISTING}"
        ))
        .expression_attribute_names("#dv", attr::DATA_VERSION)
        .expression_attribute_values(":dv", n(old.data_version))
        .expression_attribute_names("#trigger", attr::TRIGGER)
        .expression_attribute_values(":trigger", s(trigger))
        .expression_attribute_names("#retired_at", attr::RETIRED_AT)
        .expression_attribute_names("#successor", attr::SUCCESSOR)
        .expression_attribute_values(":retired", s(kind::RETIRED))
        .expression_attribute_values(":now", now.to_attribute())
        .expression_attribute_values(":successor", s(successor.encoded()));
    update_write(stamped(dropping_listing(update), attempt))
}

/// Gives the successor head under `hash` the data of its predecessor (`data` at
/// `data_version`), written there after the successor was: only while the successor's data is
/// older. The successor is not handed out before its predecessor is retired, so nothing else
/// writes its data meanwhile.
pub(super) fn carry_data(
    table: &str,
    hash: &TokenHash,
    data: &SessionData,
    data_version: u64,
    attempt: Attempt,
) -> Result<TransactWriteItem, StoreError> {
    let update = head_update(table, hash, Expect::Head)
        .condition_expression("#kind = :session AND (attribute_not_exists(#dv) OR #dv < :dv)")
        .update_expression("SET #data = :data, #dv = :dv, #ver = #ver + :one, #att = :att")
        .expression_attribute_names("#dv", attr::DATA_VERSION)
        .expression_attribute_names("#data", attr::DATA)
        .expression_attribute_names("#ver", attr::VERSION)
        .expression_attribute_values(":dv", n(data_version))
        .expression_attribute_values(":data", s(data.to_json()))
        .expression_attribute_values(":one", n(1));
    update_write(stamped(update, attempt))
}

/// Gives a head stored before seeds existed its rotation seed, unless it has one.
pub(super) fn seed(
    table: &str,
    hash: &TokenHash,
    seed: &RotationSeed,
) -> Result<TransactWriteItem, StoreError> {
    let update = head_update(table, hash, Expect::Head)
        .condition_expression("#kind = :session AND attribute_not_exists(#seed)")
        .update_expression("SET #seed = :seed")
        .expression_attribute_names("#seed", attr::SEED)
        .expression_attribute_values(":seed", AttributeValue::B(Blob::new(seed.as_bytes())));
    update_write(update)
}

/// Turns the live head under `hash` into a `revoked` tombstone (kept until its TTL so its
/// holder learns why).
pub(super) fn revoke(
    table: &str,
    hash: &TokenHash,
    cause: &RevocationCause,
    now: DateTime<Utc>,
    attempt: Attempt,
) -> Result<TransactWriteItem, StoreError> {
    // Who and the note, when known, beside the reason.
    let mut set =
        String::from("#kind = :revoked, #revoked_at = :now, #reason = :reason, #att = :att");
    let mut update = head_update(table, hash, Expect::Head)
        .expression_attribute_names("#revoked_at", attr::REVOKED_AT)
        .expression_attribute_names("#reason", attr::REVOKED_REASON)
        .expression_attribute_values(":revoked", s(kind::REVOKED))
        .expression_attribute_values(":now", now.to_attribute())
        .expression_attribute_values(":reason", s(cause.reason.as_str()));
    if let Some(by) = &cause.by {
        set.push_str(", #by = :by");
        update = update
            .expression_attribute_names("#by", attr::REVOKED_BY)
            .expression_attribute_values(":by", s(by));
    }
    if let Some(note) = &cause.note {
        set.push_str(", #note = :note");
        update = update
            .expression_attribute_names("#note", attr::REVOKED_NOTE)
            .expression_attribute_values(":note", s(note));
    }
    let update = update.update_expression(format!("SET {set} {DROP_LISTING}"));
    update_write(stamped(dropping_listing(update), attempt))
}

/// Ends the guest head under `hash` for the sign-in it became (`upgrade`): a `revoked`
/// tombstone (reason `upgraded`) naming the signed-in session's token by hash, with that token
/// sealed under the guest's and the user it went to. Only while it is a live head whose data is
/// still `data_version` (the data the sign-in carried over). The data stays until the new TTL
/// (`ttl_epoch_seconds`): a retry of the sign-in that wrote this finishes from it.
pub(super) fn upgrade(
    table: &str,
    hash: &TokenHash,
    (data_version, ttl_epoch_seconds): (u64, i64),
    upgrade: &Upgrade,
    now: DateTime<Utc>,
    attempt: Attempt,
) -> Result<TransactWriteItem, StoreError> {
    let update = head_update(table, hash, Expect::Head)
        .condition_expression(data_at(data_version))
        .update_expression(
            "SET #kind = :revoked, #revoked_at = :now, #reason = :reason, \
             #successor = :successor, #sealed = :sealed, #user = :user, #ttl = :ttl, \
             #att = :att",
        )
        .expression_attribute_names("#ttl", attr::TTL)
        .expression_attribute_values(":ttl", n(ttl_epoch_seconds))
        .expression_attribute_names("#dv", attr::DATA_VERSION)
        .expression_attribute_values(":dv", n(data_version))
        .expression_attribute_names("#revoked_at", attr::REVOKED_AT)
        .expression_attribute_names("#reason", attr::REVOKED_REASON)
        .expression_attribute_names("#successor", attr::SUCCESSOR)
        .expression_attribute_names("#sealed", attr::SEALED)
        .expression_attribute_names("#user", attr::UPGRADED_USER)
        .expression_attribute_values(":revoked", s(kind::REVOKED))
        .expression_attribute_values(":now", now.to_attribute())
        .expression_attribute_values(":reason", s(RevocationReason::Upgraded.as_str()))
        .expression_attribute_values(":successor", s(upgrade.successor.encoded()))
        .expression_attribute_values(
            ":sealed",
            AttributeValue::B(Blob::new(upgrade.sealed.as_bytes())),
        )
        .expression_attribute_values(":user", s(upgrade.user_key.as_str()));
    update_write(stamped(update, attempt))
}

/// Counts one guest session started by `client` in the window starting at `window_start`,
/// unless `limit` are counted there already. The counter expires with the window (`ttl`).
pub(super) fn count_guest(
    table: &str,
    client: &str,
    window_start: i64,
    limit: u32,
    ttl_epoch_seconds: i64,
    attempt: Attempt,
) -> Result<TransactWriteItem, StoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(guest_count_key(client, window_start)))
        // Under the limit, and not counted by this very write already (the SDK's retry of a
        // count whose answer was late finds its own attempt id: `send_single` takes that as
        // done, so one creation counts once).
        .condition_expression(
            "(attribute_not_exists(#n) OR #n < :limit) AND \
             (attribute_not_exists(#att) OR #att <> :att)",
        )
        .update_expression("SET #kind = :kind, #ttl = :ttl, #att = :att ADD #n :one")
        .expression_attribute_names("#n", attr::COUNT)
        .expression_attribute_names("#kind", attr::KIND)
        .expression_attribute_names("#ttl", attr::TTL)
        .expression_attribute_values(":limit", n(limit))
        .expression_attribute_values(":kind", s(kind::GUEST_COUNT))
        .expression_attribute_values(":ttl", n(ttl_epoch_seconds))
        .expression_attribute_values(":one", n(1))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    update_write(stamped(update, attempt))
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
    let update = head_update(table, hash, Expect::Head)
        .condition_expression(data_at(data_version))
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

/// The user's guard item: where concurrent sign-ins of one user under a cap serialize (its
/// version), and where a tenant lists its users (`by_tenant`: the only index entry a tenant's
/// sessions have besides each session's own in `sessions_by_user`). It expires at
/// `ttl_epoch_seconds`, past the end of any session the user can have started by now.
#[derive(Debug, Clone, Copy)]
pub(super) struct Guard<'a> {
    pub user: &'a UserKey,
    pub tenant: Option<&'a TenantId>,
    pub now: DateTime<Utc>,
    pub ttl_epoch_seconds: i64,
}

impl Guard<'_> {
    /// `SET` clauses and their names and values: when, until when, and the tenant's listing
    /// (the same keys every time: an index entry written once).
    fn update(&self, table: &str) -> (Vec<&'static str>, UpdateBuilder) {
        let mut sets = vec!["#at = :now", "#ttl = :ttl"];
        let mut update = Update::builder()
            .table_name(table)
            .set_key(Some(guard_key(self.user)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .expression_attribute_names("#at", attr::AT)
            .expression_attribute_names("#ttl", attr::TTL)
            .expression_attribute_values(":now", self.now.to_attribute())
            .expression_attribute_values(":ttl", n(self.ttl_epoch_seconds));
        if let Some(tenant) = self.tenant {
            sets.extend(["#g2pk = :g2pk", "#g2sk = :g2sk"]);
            update = update
                .expression_attribute_names("#g2pk", attr::GSI2PK)
                .expression_attribute_names("#g2sk", attr::GSI2SK)
                .expression_attribute_values(":g2pk", s(tenant_pk(tenant)))
                .expression_attribute_values(":g2sk", s(tenant_user_sk(self.user)));
        }
        (sets, update)
    }
}

/// Bumps the user's guard item from `version` (creating it at 0): concurrent creates for one
/// user under a cap serialize on it.
pub(super) fn bump_guard(
    table: &str,
    guard: &Guard<'_>,
    version: u64,
    attempt: Attempt,
) -> Result<TransactWriteItem, StoreError> {
    let (mut sets, update) = guard.update(table);
    sets.extend(["#ver = :next", "#att = :att"]);
    let update = update
        .condition_expression("attribute_not_exists(#ver) OR #ver = :ver")
        .update_expression(format!("SET {}", sets.join(", ")))
        .expression_attribute_names("#ver", attr::VERSION)
        .expression_attribute_values(":ver", n(version))
        .expression_attribute_values(":next", n(version + 1));
    update_write(stamped(update, attempt))
}

/// Lists the user under their tenant (no cap: the guard's version is not used), unconditionally.
pub(super) fn list_in_tenant(
    table: &str,
    guard: &Guard<'_>,
) -> Result<TransactWriteItem, StoreError> {
    let (sets, update) = guard.update(table);
    update_write(update.update_expression(format!("SET {}", sets.join(", "))))
}
