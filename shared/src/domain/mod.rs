//! Pure session logic: identifiers, the secret token, deadlines and sliding decisions.
//!
//! Nothing here performs I/O or reads the clock: every time-dependent function takes `now`.

mod ids;
mod session;
mod token;

pub use ids::{IdError, SessionId, TenantId, UserId};
pub use session::{
    ClientInfo, DataError, Lifetimes, LifetimesError, Session, SessionData, SessionStatus,
};
pub use token::{SessionToken, TokenFormatError, TokenHash};
