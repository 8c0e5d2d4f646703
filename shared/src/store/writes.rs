//! Writes: every state change of a session, each one conditional write, so there is no lost
//! update. Every write is a plain `PutItem`/`UpdateItem`/`DeleteItem` (half the units of the same
//! write in a transaction); only a batch of revocations is a transaction. The table's stream tells `session-events` of every change (lifecycle events and the
//! audit trail), so no event rides along here. Decides nothing about sessions: the caller
//! passes the version it read and judged.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::codec::{attr, claim_of, claimed_at, event_item, head_item, ticket_item, ticket_key};
use super::expressions::{self, Attempt, Guard, put_new};
use super::transact::{Sent, batch_outcomes};
use super::{BatchOutcome, MAX_BATCH, OnHeap, SessionStore, StoreError, Write};
use crate::domain::{
    GuestLimit, LifecycleEvent, RevocationCause, RevocationReason, RotationSeed, Session,
    SessionData, TicketClaim, TicketUse, TokenHash, TokenRecord, UPGRADED_GUEST_KEPT, Upgrade, Use,
};

/// A rotation the session layer decided: the head `old`, stored under `old_hash`, is replaced
/// by `next` under `new_hash` (the token derived from the old one and its seed). Two writes,
/// in the order the session layer gives them: [`SessionStore::put_successor`], then
/// [`SessionStore::retire`].
#[derive(Debug, Clone, Copy)]
pub struct Rotation<'a> {
    /// The hash of the token being retired.
    pub old_hash: &'a TokenHash,
    /// The session as read (its data version is the retirement's condition).
    pub old: &'a Session,
    /// The hash of the new token.
    pub new_hash: &'a TokenHash,
    /// The session under the new token.
    pub next: &'a Session,
    /// What rotated it (`refresh`, `renewal`, ...).
    pub trigger: &'a str,
    /// The new head's TTL.
    pub ttl_epoch_seconds: i64,
    /// When.
    pub now: DateTime<Utc>,
}

/// Where a new session is listed besides `sessions_by_user`: the user's guard item (the cap's
/// serialization point, and the user's entry in their tenant's listing).
#[derive(Debug, Clone, Copy)]
pub struct Listing {
    /// The guard's version read before the sessions to evict were chosen (`None`: no cap).
    pub guard: Option<u64>,
    /// Until when the guard lives: past the end of any session the user can have started by
    /// now (the longest absolute lifetime of any profile, plus the TTL margin).
    pub ttl_epoch_seconds: i64,
}

/// What became of a claim of a login ticket's use ([`SessionStore::claim_ticket`]).
#[derive(Debug)]
pub enum Claimed {
    /// Recorded: the ticket's first use, or its first since a failed sign-in gave it back.
    First,
    /// The ticket's use is recorded already, with this claim (`None`: a record from before
    /// claims were kept), made at `at`. The caller decides whether the claim is its own.
    Held {
        /// The claim held.
        claim: Option<TicketClaim>,
        /// When it was made (`None`: unreadable).
        at: Option<DateTime<Utc>>,
    },
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
                let item = match e.into_err() {
                    PutItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                Ok(Claimed::Held {
                    claim: item.as_ref().and_then(claim_of),
                    at: item.as_ref().and_then(claimed_at),
                })
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
    /// Writes a new session, never over an existing item, and its listing, concurrently (one
    /// round trip): the head (`PutItem`), and the user's guard item (`UpdateItem`) when there is
    /// a cap (bumped from the version read, so that two concurrent sign-ins cannot both pass it)
    /// or a tenant (which lists its users there). The head's outcome, and the guard's (`Done`
    /// when there was nothing to write).
    pub async fn create(
        &self,
        hash: &TokenHash,
        session: &Session,
        ttl_epoch_seconds: i64,
        listing: Listing,
    ) -> Result<(Write, Write), StoreError> {
        let (head, guard) = tokio::join!(
            self.put_head("create", hash, session, ttl_epoch_seconds),
            self.guard(session, listing)
        );
        Ok((head?, guard?))
    }

    /// Writes the guard of `session`'s user (see [`Self::create`]): bumped from the version
    /// read when there is a cap, else only listed under the tenant, if any (`Done` when there
    /// is nothing to write). Also for a [`Self::create`] whose guard had been moved by a
    /// concurrent sign-in, its head written already.
    pub async fn guard(&self, session: &Session, listing: Listing) -> Result<Write, StoreError> {
        let user = session.user_key();
        let guard = Guard {
            user: &user,
            tenant: session.tenant_id.as_ref(),
            now: session.created_at,
            ttl_epoch_seconds: listing.ttl_epoch_seconds,
        };
        match listing.guard {
            Some(version) => {
                let attempt = Attempt::new()?;
                let write = expressions::bump_guard(&self.table, &guard, version, attempt)?;
                self.send_single("guard", write, Some(attempt)).await
            }
            None if guard.tenant.is_some() => {
                let write = expressions::list_in_tenant(&self.table, &guard)?;
                self.send_single("guard", write, None).await
            }
            None => Ok(Write::Done),
        }
    }

    /// Writes a new guest session: its head alone (no user, so no guard and no listing),
    /// never over an existing item. One `PutItem`.
    pub async fn create_guest(
        &self,
        hash: &TokenHash,
        session: &Session,
        ttl_epoch_seconds: i64,
    ) -> Result<Write, StoreError> {
        self.put_head("create_guest", hash, session, ttl_epoch_seconds)
            .await
    }

    /// Puts a new head under `hash` (never over an existing item), stamped with a fresh
    /// attempt id, as `operation`.
    async fn put_head(
        &self,
        operation: &'static str,
        hash: &TokenHash,
        session: &Session,
        ttl_epoch_seconds: i64,
    ) -> Result<Write, StoreError> {
        let attempt = Attempt::new()?;
        let head = put_new(
            &self.table,
            head_item(hash, session, ttl_epoch_seconds),
            attempt,
        )?;
        self.send_single(operation, head, Some(attempt)).await
    }

    /// Counts a guest session started by `client` against `limit` in the window `[start,
    /// end)`: `true` when it is within the limit (and counted), `false` past it. One conditional
    /// `UpdateItem` on a counter that expires with its window; a retry of a count that landed
    /// and reached the limit knows it as its own.
    pub async fn count_guest(
        &self,
        client: &str,
        limit: &GuestLimit,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<bool, StoreError> {
        let attempt = Attempt::new()?;
        let write = expressions::count_guest(
            &self.table,
            client,
            start.timestamp(),
            limit.per_window,
            end.timestamp() + 1,
            attempt,
        )?;
        Ok(
            match self
                .send_single("count_guest", write, Some(attempt))
                .await?
            {
                Write::Done => true,
                Write::Stale(_) => false,
                // Single writes meet no transaction on a counter: count it as a refusal to retry.
                Write::Contended => false,
            },
        )
    }

    /// Ends the guest head under `hash` (read at data version `data_version`) for the sign-in
    /// it became (`upgrade`); the tombstone expires [`UPGRADED_GUEST_KEPT`] after `now`. The
    /// outcome as the guest's item says it: `Done` (also for a retry of this write that
    /// landed), else the item as it is now.
    pub async fn upgrade(
        &self,
        hash: &TokenHash,
        data_version: u64,
        upgrade: &Upgrade,
        now: DateTime<Utc>,
    ) -> Result<Write, StoreError> {
        let attempt = Attempt::new()?;
        let ttl = (now + UPGRADED_GUEST_KEPT).timestamp();
        let write = expressions::upgrade(
            &self.table,
            hash,
            (data_version, ttl),
            upgrade,
            now,
            attempt,
        )?;
        self.send_single("upgrade", write, Some(attempt)).await
    }

    /// Records `used` on the head stored under `hash` at `version` (see [`Use`]): only if
    /// the item is still that version of the live session, so a deleted, rotated or expired
    /// session is never resurrected.
    pub async fn touch(
        &self,
        hash: &TokenHash,
        version: u64,
        used: &Use<'_>,
    ) -> Result<Write, StoreError> {
        let write = expressions::touch(&self.table, hash, version, used)?;
        let operation = if used.extend_to.is_some() {
            "extend"
        } else {
            "touch_client"
        };
        // Not stamped: a retry that finds the item one version on reports it as it is
        // (`Stale`), which is what validate answers with either way.
        self.commit(operation, vec![write], None).await
    }

    /// The first write of a rotation: the new head, unless it exists (every request that
    /// rotates one head derives the same new token, so only the first of them writes it; the
    /// others are told what it is).
    pub async fn put_successor(&self, rotation: &Rotation<'_>) -> Result<Write, StoreError> {
        self.put_head(
            "put_successor",
            rotation.new_hash,
            rotation.next,
            rotation.ttl_epoch_seconds,
        )
        .await
    }

    /// The second write of a rotation: the old head becomes `retired`, pointing at the new one
    /// and keeping its seed (from which the new token is derived), leaving the indexes. Only
    /// while it is a live head with the data the new one was written with.
    pub async fn retire(&self, rotation: &Rotation<'_>) -> Result<Write, StoreError> {
        let attempt = Attempt::new()?;
        let write = expressions::retire(&self.table, rotation, attempt)?;
        self.send_single("retire", write, Some(attempt)).await
    }

    /// Gives the successor head under `hash` the data its predecessor `from` has now (changed
    /// after the successor was written), unless it has that data version already.
    pub async fn carry_data(&self, hash: &TokenHash, from: &Session) -> Result<Write, StoreError> {
        let attempt = Attempt::new()?;
        let write =
            expressions::carry_data(&self.table, hash, &from.data, from.data_version, attempt)?;
        self.send_single("carry_data", write, Some(attempt)).await
    }

    /// Makes a head stored before seeds existed rotatable: gives it `seed` unless it has one,
    /// and (a tenant's) lists its user under the tenant, where heads of that time were listed
    /// themselves until they are retired. Once per such session.
    pub async fn seed(
        &self,
        hash: &TokenHash,
        session: &Session,
        seed: &RotationSeed,
        listing_ttl_epoch_seconds: i64,
    ) -> Result<Write, StoreError> {
        let listing = Listing {
            guard: None,
            ttl_epoch_seconds: listing_ttl_epoch_seconds,
        };
        self.guard(session, listing).await?;
        let write = expressions::seed(&self.table, hash, seed)?;
        self.send_single("seed", write, None).await
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
        let write = expressions::revoke(&self.table, hash, &reason.into(), now, attempt)?;
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
        cause: &RevocationCause,
        now: DateTime<Utc>,
    ) -> Result<Vec<BatchOutcome>, StoreError> {
        debug_assert!(batch.len() <= MAX_BATCH);
        let attempt = Attempt::new()?;
        // One session (a device revoked): one plain conditional update, no transaction.
        if let [one] = batch {
            let write = expressions::revoke(&self.table, &one.token, cause, now, attempt)?;
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
                cause,
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
