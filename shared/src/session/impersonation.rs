//! Impersonation: an administrator mints a one-time ticket for one user; redeemed at sign-in,
//! it proves that user's identity with the administrator as the session's [`Actor`]. The
//! session it starts runs under the [`IMPERSONATION_PROFILE`], outside the per-user cap, and may
//! not do what only the user may ([`crate::domain::Restricted`]).

use chrono::{DateTime, Utc};

use super::{CreateError, SessionService};
use crate::domain::{
    Actor, Authentication, IMPERSONATION_METHOD, IMPERSONATION_PROFILE,
    IMPERSONATION_TICKET_LIFETIME, ImpersonationGrant, ImpersonationTicket, SessionEntry, TenantId,
    TicketUse, TokenRecord, UserId, at_storage_precision,
};
use crate::identity::Identity;
use crate::store::StoreError;

impl SessionService {
    /// A one-time ticket that signs in as `user_id` (of `tenant_id`, from `issuer`) with `actor`
    /// acting, redeemable for [`IMPERSONATION_TICKET_LIFETIME`]. One `PutItem`; only the
    /// ticket's hash is stored.
    pub async fn impersonate(
        &self,
        user_id: UserId,
        tenant_id: Option<TenantId>,
        issuer: Option<String>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(ImpersonationTicket, ImpersonationGrant), CreateError> {
        let ticket = ImpersonationTicket::generate().map_err(CreateError::Random)?;
        let grant = ImpersonationGrant {
            user_id,
            tenant_id,
            issuer,
            actor,
            expires_at: at_storage_precision(now) + IMPERSONATION_TICKET_LIFETIME,
        };
        self.store.put_grant(&ticket.hash(), &grant).await?;
        tracing::info!(
            user_id = grant.user_id.as_str(),
            actor = grant.actor.principal.as_str(),
            "impersonation ticket minted"
        );
        Ok((ticket, grant))
    }

    /// The identity an impersonation ticket proves: its user, with its actor, authenticated by
    /// `impersonation` now. The ticket's single use is recorded at sign-in, whatever
    /// `SESSION_SINGLE_USE_TICKETS` says. One strongly consistent `GetItem`.
    pub async fn redeem(&self, raw: &str, now: DateTime<Utc>) -> Result<Identity, CreateError> {
        let ticket =
            ImpersonationTicket::parse(raw).map_err(|_| CreateError::UnknownImpersonationTicket)?;
        let grant = self
            .store
            .grant(&ticket.hash())
            .await?
            .filter(|grant| grant.is_redeemable(now))
            .ok_or(CreateError::UnknownImpersonationTicket)?;
        Ok(Identity {
            user_id: grant.user_id,
            tenant_id: grant.tenant_id,
            issuer: grant.issuer,
            authentication: Some(Authentication {
                at: at_storage_precision(now),
                methods: vec![IMPERSONATION_METHOD.to_owned()],
                context_class: None,
            }),
            ticket: Some(TicketUse::of_token(raw, grant.expires_at)),
            allowed_profiles: Some(vec![IMPERSONATION_PROFILE.to_owned()]),
            actor: Some(grant.actor),
            provider_sid: None,
        })
    }

    /// `entries` with the actor of each impersonation session, read from its head (the index
    /// does not project it): one `GetItem` per impersonation session listed, none otherwise.
    pub(super) async fn with_actors(
        &self,
        mut entries: Vec<SessionEntry>,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        for entry in entries.iter_mut().filter(|e| e.is_impersonation()) {
            if let Some(TokenRecord::Active(session)) = self.store.load(&entry.token).await? {
                entry.actor = session.actor;
            }
        }
        Ok(entries)
    }
}
