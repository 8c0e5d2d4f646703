//! Pure session logic: identifiers, the secret token, deadlines and sliding decisions.
//!
//! Nothing here performs I/O or reads the clock: every time-dependent function takes `now`.

mod audit;
mod device;
mod ids;
mod record;
mod session;
mod successor;
mod token;

pub use audit::{AuditEvent, EventKind};
pub use device::Device;
pub use ids::{IdError, SessionId, TenantId, UserId};
pub use record::{RetiredToken, RevocationReason, RevokedToken, TokenRecord};
pub use session::{
    ClientInfo, DataError, Lifetimes, LifetimesError, Session, SessionData, SessionStatus,
};
pub use successor::{SealError, SealedSuccessor};
pub use token::{SessionToken, TokenFormatError, TokenHash};
