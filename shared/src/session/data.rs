//! Session data: a JSON merge patch applied with optimistic concurrency, so no update is lost.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::{info, instrument};

use super::retry::{MAX_WRITE_ATTEMPTS, Retries};
use super::validate::bound_to;
use super::{Current, SessionService, UpdateError};
use crate::domain::{ClientInfo, Session, SessionToken, Transport, at_storage_precision};
use crate::store::Write;

impl SessionService {
    /// Applies a JSON merge patch to the data of the session `token` leads to. With
    /// `expected`, only if the data is still at that version (412 otherwise); without it, the
    /// patch is re-applied to the newest data when a concurrent write wins, so no update is
    /// lost either way.
    #[instrument(skip_all, fields(session_id))]
    #[allow(clippy::too_many_arguments)] // the presented credential (2), the patch (3), the moment
    pub async fn update_data(
        &self,
        token: &SessionToken,
        client: &ClientInfo,
        transport: Transport,
        patch: &Value,
        expected: Option<u64>,
        max_bytes: usize,
        now: DateTime<Utc>,
    ) -> Result<Current, UpdateError> {
        let now = at_storage_precision(now);
        let mut retries = Retries::new("update_data", MAX_WRITE_ATTEMPTS);
        loop {
            let head = self.resolve(token, now).await?;
            bound_to(&head.session, transport)?;
            self.active_or_record_expiry(&head.session, client, now)
                .await?;
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
}
