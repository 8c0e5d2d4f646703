//! Session data: a JSON merge patch applied with optimistic concurrency, so no update is lost.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::{info, instrument};

use super::admission::MAX_LINEAGE;
use super::admission::bound_to;
use super::retry::{MAX_WRITE_ATTEMPTS, Retries};
use super::{Current, SessionService, UpdateError};
use crate::domain::{Presented, Session, SessionId, TokenRecord, UserKey, at_storage_precision};
use crate::store::{StoreError, Write};

impl SessionService {
    /// Applies a JSON merge patch to the data of the session `token` leads to. With
    /// `expected`, only if the data is still at that version (412 otherwise); without it, the
    /// patch is re-applied to the newest data when a concurrent write wins, so no update is
    /// lost either way.
    #[instrument(skip_all, fields(session_id))]
    pub async fn update_data(
        &self,
        presented: Presented<'_>,
        patch: &Value,
        expected: Option<u64>,
        max_bytes: usize,
        now: DateTime<Utc>,
    ) -> Result<Current, UpdateError> {
        let Presented {
            token,
            client,
            transport,
        } = presented;
        let now = at_storage_precision(now);
        let mut retries = Retries::new("update_data", MAX_WRITE_ATTEMPTS);
        loop {
            let head = self.resolve(token, now).await?;
            bound_to(&head.session, transport)?;
            self.check_usable(&head.session, client, now)?;
            let current = head.session.data_version;
            if expected.is_some_and(|v| v != current) {
                return Err(UpdateError::VersionMismatch { current });
            }
            let data = head.session.data.merge_patched(patch, max_bytes)?;
            match self
                .store
                .update_data(&head.token.hash(), current, &data)
                .await?
            {
                Write::Done => {
                    info!(data_version = current + 1, "session data updated");
                    let session = Session {
                        data,
                        data_version: current + 1,
                        version: head.session.version + 1,
                        ..head.session
                    };
                    return Ok(Current {
                        session,
                        new_token: head.switched.then_some(head.token),
                    });
                }
                // Changed, rotated or ended meanwhile: judge again from a fresh read, after a
                // jittered pause, so that writers patching one session at once spread out
                // instead of colliding again (each collision is another's success).
                Write::Stale(_) | Write::Contended => retries.wait().await?,
            }
        }
    }

    /// `user`'s session `session_id` as it is now, for an administrator: found through the
    /// `sessions_by_user` index and its head followed through rotations (one `Query`, then a
    /// `GetItem` per head read). `None` when the user has no such usable session.
    pub async fn session_of_user(
        &self,
        user: &UserKey,
        session_id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let now = at_storage_precision(now);
        let Some(entry) = self.usable_session_of(user, session_id, now).await? else {
            return Ok(None);
        };
        let mut hash = entry.token;
        for _ in 0..MAX_LINEAGE {
            match self.store.load(&hash).await? {
                Some(TokenRecord::Active(session)) if session.is_active(now) => {
                    return Ok(Some(session));
                }
                Some(TokenRecord::Retired(retired)) => hash = retired.successor,
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Merge-patches the data of `user`'s session `session_id` for an administrator (an
    /// IAM-signed caller): no token, so the session is found through the `sessions_by_user` index and
    /// its head followed through rotations. Protected keys included: this is how server-only
    /// data is set. `None` when the user has no such usable session.
    #[instrument(skip_all, fields(session_id = %session_id))]
    pub async fn update_data_of(
        &self,
        user: &UserKey,
        session_id: SessionId,
        patch: &Value,
        max_bytes: usize,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, UpdateError> {
        let now = at_storage_precision(now);
        let Some(entry) = self.usable_session_of(user, session_id, now).await? else {
            return Ok(None);
        };
        let mut hash = entry.token;
        let mut hops = 0;
        let mut retries = Retries::new("update_data_of", MAX_WRITE_ATTEMPTS);
        loop {
            let session = match self.store.load(&hash).await? {
                Some(TokenRecord::Active(session)) if session.is_active(now) => session,
                Some(TokenRecord::Retired(retired)) if hops < MAX_LINEAGE => {
                    hash = retired.successor;
                    hops += 1;
                    continue;
                }
                _ => return Ok(None),
            };
            let data = session.data.merge_patched(patch, max_bytes)?;
            let current = session.data_version;
            match self.store.update_data(&hash, current, &data).await? {
                Write::Done => {
                    info!(
                        data_version = current + 1,
                        "session data updated by an administrator"
                    );
                    return Ok(Some(Session {
                        data,
                        data_version: current + 1,
                        version: session.version + 1,
                        ..session
                    }));
                }
                Write::Stale(_) | Write::Contended => retries.wait().await?,
            }
        }
    }
}
