//! Writes: every state change of a session, each one conditional write (a plain one where a
//! single item changes, a transaction where several must change together), so there is no lost
//! update. The table's stream tells `session-events` of every change (lifecycle events and the
//! audit trail), so no event rides along here. Decides nothing about sessions: the caller
//! passes the version it read and judged.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::codec::{attr, claim_of, event_item, head_item, ticket_item, ticket_key};
use super::expressions::{self, Attempt, put_new};
use super::transact::{Sent, batch_outcomes};
use super::{BatchOutcome, MAX_BATCH, OnHeap, SessionStore, StoreError, Write};
use crate::domain::{
    ClientInfo, LifecycleEvent, RevocationReason, SealedSuccessor, Session, SessionData,
    TicketClaim, TicketUse, TokenHash, TokenRecord,
};

/// A rotation the session layer decided: the head `old`, stored under `old_hash`, is retired in
/// favour of `next` under `new_hash`, whose token is sealed under the old one.
#[derive(Debug, Clone, Copy)]
pub struct Rotation<'a> {
    /// The hash of the token being retired.
    pub old_hash: &'a TokenHash,
    /// The session as read (its version is the write's condition).
    pub old: &'a Session,
    /// The hash of the new token.
    pub new_hash: &'a TokenHash,
    /// The session under the new token.
    pub next: &'a Session,
    /// The new token, sealed under the old one.
    pub sealed: &'a SealedSuccessor,
    /// What rotated it (`refresh`, `renewal`, ...).
    pub trigger: &'a str,
    /// The new head's TTL.
    pub ttl_epoch_seconds: i64,
    /// When.
    pub now: DateTime<Utc>,
}

/// What became of a claim of a login ticket's use ([`SessionStore::claim_ticket`]).
#[derive(Debug)]
pub enum Claimed {
    /// Recorded: the ticket's first use, or its first since a failed sign-in gave it back.
    First,
    /// The ticket's use is recorded already, with this claim (`None`: a record from before
    /// claims were kept). The caller decides whether the claim is its own.
    Held(Option<TicketClaim>),
}

/// A session to revoke: the token item believed to be its head.
#[derive(Debug, Clone, Copy)]
pub struct Revocation {
    /// The token item.
    pub token: TokenHash,
    /// The session it carries (for the event).
    pub session_id: crate::domain::SessionId,
}

impl SessionStore {
    /// Records the one use of a login ticket with the sign-in's `claim`: [`Claimed::First`]
    /// when this is its first use (or the first since a failed sign-in gave it back), else the
    /// claim it is held with. One conditional `PutItem` (no transaction); the record expires
    /// with the ticket. The SDK's retry of a claim that landed finds its own claim held.
    pub async fn claim_ticket(
        &self,
        ticket: &TicketUse,
        claim: &TicketClaim,
        now: DateTime<Utc>,
    ) -> Result<Claimed, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(ticket_item(ticket, claim, now)))
            // Unused, or given back by a sign-in that failed.
            .condition_expression("attribute_not_exists(pk) OR #released = :yes")
            .expression_attribute_names("#released", attr::RELEASED)
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .on_heap()
            .await;
        match result {
            Ok(_) => Ok(Claimed::First),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let held = match e.into_err() {
                    PutItemError::ConditionalCheckFailedException(c) => {
                        c.item.as_ref().and_then(claim_of)
                    }
                    _ => None,
                };
                Ok(Claimed::Held(held))
            }
            Err(e) => Err(StoreError::from_sdk("put_item", e)),
        }
    }

    /// Undoes [`Self::claim_ticket`] when the sign-in it was for failed on our side, so the
    /// user may try again with the same ticket: marks the record released (an update, so
    /// sign-in needs no `DeleteItem` permission), which the next claim may overwrite.
    pub async fn release_ticket(&self, ticket: &TicketUse) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ticket_key(ticket)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET #released = :yes")
            .expression_attribute_names("#released", attr::RELEASED)
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .on_heap()
            .await
            .map_err(|e| StoreError::from_sdk("update_item", e))?;
        Ok(())
    }
    /// Writes a new session; never overwrites an existing item.
    /// `evict` revokes other sessions of the user in the same transaction (per-user cap);
    /// `guard` is the user's guard version read before choosing them, so two concurrent
    /// creates cannot both pass the cap.
    pub async fn create(
        &self,
        hash: &TokenHash,
        session: &Session,
        ttl_epoch_seconds: i64,
        evict: &[Revocation],
        guard: Option<u64>,
    ) -> Result<Write, StoreError> {
        let now = session.created_at;
        let attempt = Attempt::new()?;
        let mut writes = vec![put_new(
            &self.table,
            head_item(hash, session, ttl_epoch_seconds),
            attempt,
        )?];
        for e in evict {
            writes.push(expressions::revoke(
                &self.table,
                &e.token,
                RevocationReason::Evicted,
                now,
                attempt,
            )?);
        }
        if let Some(version) = guard {
            writes.push(expressions::bump_guard(
                &self.table,
                &session.user_key(),
                version,
                now,
                ttl_epoch_seconds,
                attempt,
            )?);
        }
        self.commit("create", writes, Some(attempt)).await
    }

    /// Records a use of the head stored under `hash` at `version`: `now` as last seen, the
    /// client as seen now, and with `extend_to` a later idle deadline (sliding); with
    /// `client_event`, `now` as the time a client change was last recorded. Only if the item is
    /// still that version of the live session, so a deleted, rotated or expired session is
    /// never resurrected.
    pub async fn touch(
        &self,
        hash: &TokenHash,
        version: u64,
        client: &ClientInfo,
        now: DateTime<Utc>,
        extend_to: Option<DateTime<Utc>>,
        client_event: bool,
    ) -> Result<Write, StoreError> {
        let write = expressions::touch(
            &self.table,
            hash,
            version,
            client,
            now,
            extend_to,
            client_event,
        )?;
        let operation = if extend_to.is_some() {
            "extend"
        } else {
            "touch_client"
        };
        // Not stamped: a retry that finds the item one version on reports it as it is
        // (`Stale`), which is what validate answers with either way.
        self.commit(operation, vec![write], None).await
    }

    /// Carries out `rotation` in one transaction: the new head is written, the old item
    /// becomes `retired` (keeping the successor's hash and the sealed successor, losing its
    /// index keys and data). Only if the old item is still that exact version of the head.
    pub async fn rotate(&self, rotation: &Rotation<'_>) -> Result<Write, StoreError> {
        let Rotation {
            new_hash,
            next,
            ttl_epoch_seconds,
            ..
        } = *rotation;
        // The old item first: its cancellation reason carries what it is now.
        let attempt = Attempt::new()?;
        let writes = vec![
            expressions::retire(&self.table, rotation, attempt)?,
            put_new(
                &self.table,
                head_item(new_hash, next, ttl_epoch_seconds),
                attempt,
            )?,
        ];
        self.commit("rotate", writes, Some(attempt)).await
    }

    /// Deletes the head `session` stored under `hash` (sign-out), only if it
    /// is still that version of the live session.
    pub async fn delete(&self, hash: &TokenHash, session: &Session) -> Result<Write, StoreError> {
        let write = expressions::delete(&self.table, hash, session.version)?;
        // A deleted item keeps no attempt id: a retry of a delete that landed finds nothing
        // (`Stale(None)`), and the caller knows the session it read is gone either way.
        self.commit("delete", vec![write], None).await
    }

    /// Turns the head stored under `hash` into a `revoked` tombstone (kept until its TTL so
    /// its holder learns why). Only if it is still a live head.
    pub async fn revoke(
        &self,
        hash: &TokenHash,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> Result<Write, StoreError> {
        let attempt = Attempt::new()?;
        let write = expressions::revoke(&self.table, hash, reason, now, attempt)?;
        self.commit("revoke", vec![write], Some(attempt)).await
    }

    /// Files a lifecycle event in the audit trail, kept for `retention`
    /// (`SESSION_AUDIT_RETENTION`). An event stored already (a redelivery) is left as it is:
    /// one conditional `PutItem`.
    pub async fn record(
        &self,
        event: &LifecycleEvent,
        retention: chrono::Duration,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(event_item(event, retention)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .on_heap()
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

    /// Revokes up to [`MAX_BATCH`] sessions in one transaction. A write
    /// is conditional on the item still being a live head, so a session rotated meanwhile is
    /// reported with its successor (never silently missed) and a signed-out one is never
    /// turned into a tombstone. DynamoDB cancels the whole transaction when one condition
    /// fails: the others come back as [`BatchOutcome::Retry`].
    pub async fn revoke_batch(
        &self,
        batch: &[Revocation],
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> Result<Vec<BatchOutcome>, StoreError> {
        debug_assert!(batch.len() <= MAX_BATCH);
        let attempt = Attempt::new()?;
        // One session (a device revoked): one plain conditional update, no transaction.
        if let [one] = batch {
            let write = expressions::revoke(&self.table, &one.token, reason, now, attempt)?;
            return Ok(vec![
                match self.commit("revoke", vec![write], Some(attempt)).await? {
                    Write::Done => BatchOutcome::Revoked,
                    Write::Stale(Some(TokenRecord::Retired(retired))) => {
                        BatchOutcome::Rotated(retired.successor)
                    }
                    Write::Stale(_) => BatchOutcome::Gone,
                    Write::Contended => BatchOutcome::Retry,
                },
            ]);
        }
        let mut writes = Vec::with_capacity(batch.len());
        for target in batch {
            writes.push(expressions::revoke(
                &self.table,
                &target.token,
                reason,
                now,
                attempt,
            )?);
        }
        match self
            .send_transaction("revoke_batch", writes, attempt)
            .await?
        {
            Sent::Done => Ok(vec![BatchOutcome::Revoked; batch.len()]),
            Sent::InProgress => Ok(vec![BatchOutcome::Retry; batch.len()]),
            Sent::Cancelled(reasons) => batch_outcomes(&reasons, batch.len(), attempt),
        }
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
        let attempt = Attempt::new()?;
        let write = expressions::replace_data(&self.table, hash, data_version, data, attempt)?;
        self.commit("update_data", vec![write], Some(attempt)).await
    }
}
