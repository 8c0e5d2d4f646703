//! Pure session logic: identifiers, the secret token and its hash, the session with its
//! deadlines (the one expiry rule, [`SessionStatus::at`]), sliding and renewal decisions, the
//! storage precision of timestamps ([`at_storage_precision`]), token records, the listing
//! type, audit events.
//!
//! The bottom layer: imports nothing else of this crate. Nothing here performs I/O or reads
//! the clock: every time-dependent function takes `now`.

mod audit;
mod authentication;
mod client;
mod data;
mod device;
mod guest;
mod ids;
mod impersonation;
mod json;
mod lifecycle;
mod lifetimes;
mod listing;
mod presented;
mod profile;
mod provider;
mod record;
mod service_token;
mod session;
mod successor;
mod ticket;
mod token;
mod transport;

pub use audit::{AuditEvent, EventKind};
pub use authentication::{Authentication, LEGACY_EXCHANGE_MEMORY, LEGACY_METHOD};
pub use client::ClientInfo;
pub use data::{DataError, SessionData};
pub use device::Device;
pub use guest::{
    GUEST_PROFILE, GUEST_USER_PREFIX, GuestDataRule, GuestLimit, UPGRADED_GUEST_KEPT, Upgrade,
    carried_data, client_bucket, guest_user_id,
};
pub use ids::{IdError, SessionId, TenantId, UserId, UserKey};
pub use impersonation::{
    Actor, IMPERSONATION_METHOD, IMPERSONATION_PROFILE, IMPERSONATION_TICKET_LIFETIME,
    ImpersonationForbidden, ImpersonationGrant, ImpersonationTicket, Restricted,
};
pub use json::check_unique_members;
pub use lifecycle::{Change, Derivation, EventData, LifecycleEvent, LifecycleKind};
pub use lifetimes::{Lifetimes, LifetimesError};
pub use listing::{HistoryPosition, ListPosition, SessionEntry, page_of};
pub use presented::Presented;
pub use profile::{DEFAULT_PROFILE, Profile, Profiles, ProfilesError, is_profile_name};
pub use provider::{MAX_SID_CHARS, ProviderSession};
pub use record::{RetiredToken, RevocationCause, RevocationReason, RevokedToken, TokenRecord};
pub use service_token::{
    DEFAULT_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME, ServiceTokenClaims, TokenActor,
    TokenAudience,
};
pub use session::{Freshness, Session, SessionStatus, Use, UseChange, at_storage_precision};
pub use successor::{RotationSeed, SealError, SealedSuccessor, SuccessorKey, successor_of};
pub use ticket::{ResumeKey, TicketClaim, TicketUse};
pub use token::{SessionToken, TokenFormatError, TokenHash};
pub use transport::Transport;
