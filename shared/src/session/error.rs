//! Why a session operation did not give what was asked: the caller's token leads nowhere
//! usable, the data did not fit, or the store failed. `http::ApiError` maps these to statuses.

use crate::domain::{DataError, ImpersonationForbidden, ResumeKey, RevocationReason, SealError};
use crate::store::StoreError;

/// Why a presented token does not give a usable session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No session for this token.
    #[error("no session for this token")]
    NotFound,
    /// The session has expired.
    #[error("the session has expired")]
    Expired,
    /// A re-authentication proved another user than the session's.
    #[error("the identity token is for another user than this session's")]
    OtherUser,
    /// The identity token of a re-authentication was used before.
    #[error("this identity token was already used; get a new one")]
    TicketReused,
    /// The token came the other way than it was issued (a cookie's token as a bearer token,
    /// or the reverse).
    #[error("this session token was issued for the other transport (cookie or bearer)")]
    WrongTransport,
    /// An impersonation session asked for what only the user may do.
    #[error(transparent)]
    Forbidden(#[from] ImpersonationForbidden),
    /// The session was revoked, for this reason.
    #[error("the session was revoked ({})", .0.as_str())]
    Revoked(RevocationReason),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing the successor token failed.
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// Why `PATCH /sessions/current` did not apply.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// No usable session.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The client's copy of the data is stale (`If-Match` / `version`).
    #[error("the session data is at version {current}, not the one the patch was based on")]
    VersionMismatch {
        /// The data version now stored.
        current: u64,
    },
    /// The patched data is not acceptable.
    #[error(transparent)]
    Data(#[from] DataError),
}

impl From<StoreError> for UpdateError {
    fn from(e: StoreError) -> Self {
        Self::Session(SessionError::Store(e))
    }
}

/// Why a session could not be started.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The sign-in named a lifetime profile that is not configured.
    #[error("there is no lifetime profile {0:?}")]
    UnknownProfile(String),
    /// The identity token does not allow the profile (its profile claim does not list it).
    #[error("this identity may not use the lifetime profile {0:?}")]
    ProfileNotAllowed(String),
    /// A ticket exchanging a legacy session (`amr` has `legacy`) without the `jti` naming it.
    #[error("a ticket exchanging a legacy session needs a jti naming that session")]
    LegacyWithoutJti,
    /// An impersonation ticket that was never minted, or has expired.
    #[error("the impersonation ticket is unknown or has expired; ask for a new one")]
    UnknownImpersonationTicket,
    /// An impersonation sign-in asked for a lifetime profile: its own is fixed.
    #[error("an impersonation session has its own lifetime profile; do not name one")]
    ImpersonationProfile,
    /// The login ticket was used before: tickets are single-use.
    #[error("this login ticket was already used to sign in; get a new one")]
    TicketReused,
    /// The guest session's data and the sign-in's together do not fit in a session.
    #[error("the guest session's data with the sign-in's: {0}")]
    GuestData(#[source] crate::domain::DataError),
    /// The operating system's random source failed.
    #[error("the operating system's random source failed")]
    Random(#[source] getrandom::Error),
    /// Sealing the session token into the ticket's claim failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store failed after the ticket's use may have been recorded (an answer that did not
    /// come in time): the same ticket with `resume` finishes this sign-in.
    #[error("the sign-in was interrupted")]
    Interrupted {
        /// The key that finishes it (a secret: never logged).
        resume: ResumeKey,
        /// What failed.
        #[source]
        error: StoreError,
    },
}
