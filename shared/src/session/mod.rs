//! The session operations, on domain values and the store: sign-in with the per-user cap,
//! validate with sliding and renewal, rotation lineage and replay detection, revocation, and
//! session data. Time comes in as `now`; every decision about a session is asked of `domain`.
//!
//! Token lifecycle: a session is a *lineage* of tokens. Exactly one token (the head) carries the
//! session; rotation retires the head and writes a new one in one transaction, sealing the new
//! token under the old one for a grace window. A retired token presented within the window
//! resolves to its successor (parallel tabs, a retried request after a lost response); presented
//! after it, it is a replay: the whole lineage is revoked.
//!
//! Above `store` and `identity` (it takes a proven [`Identity`]); below `http`, which it must not
//! know: no status codes or headers here.

mod admission;
mod create;
mod data;
mod error;
mod guest;
mod impersonation;
mod policy;
mod provider_logout;
mod retry;
mod revoke;
mod rotation;
mod validate;

pub use create::Start;
pub use error::{CreateError, SessionError, UpdateError};
pub use guest::{Carry, GuestError, GuestStart, GuestState, PresentedGuest};
pub use policy::{BindingPolicy, Policy};
pub use provider_logout::ProviderLogoutError;
pub use revoke::Revoker;

use chrono::{DateTime, Utc};

use crate::domain::{Profiles, Session, SessionToken};
#[cfg(doc)]
use crate::identity::Identity;
use crate::store::SessionStore;

/// A usable session, and the token the client must hold from now on when that changed
/// (rotation, or a retired token resolved to its successor).
#[derive(Debug)]
pub struct Current {
    /// The session as it is now (as written, when this call wrote).
    pub session: Session,
    /// The token the client must use from now on, when it is not the one presented.
    pub new_token: Option<SessionToken>,
}

/// The head of the lineage a presented token leads to.
struct Head {
    token: SessionToken,
    session: Session,
    /// The presented token was retired: `token` is its successor.
    switched: bool,
}

impl Head {
    /// The session as it is, with the successor token when the presented one was retired.
    fn into_current(self) -> Current {
        Current {
            new_token: self.switched.then_some(self.token),
            session: self.session,
        }
    }
}

/// The session operations over one store, under one policy.
pub struct SessionService {
    store: SessionStore,
    policy: Policy,
}

impl SessionService {
    /// The operations on `store` under `policy`.
    pub fn new(store: SessionStore, policy: Policy) -> Self {
        Self { store, policy }
    }

    /// The lifetime profiles sessions are started with.
    pub fn profiles(&self) -> &Profiles {
        &self.policy.profiles
    }

    /// Until when a user's guard item (the cap's lock, the user's entry in their tenant's
    /// listing) lives: past the end of any session started by `now`. Sign-in and the first
    /// rotation of a head stored before seeds both write it.
    fn listing_ttl(&self, now: DateTime<Utc>) -> i64 {
        (now + self.policy.profiles.longest_absolute() + self.policy.ttl_margin).timestamp()
    }

    /// The `Max-Age` of a cookie carrying `session` at `now`: up to its absolute deadline,
    /// or `None` (a cookie the browser drops when it closes) under a non-persistent profile.
    /// The server enforces the idle deadline on every request either way.
    pub fn cookie_max_age(&self, session: &Session, now: DateTime<Utc>) -> Option<i64> {
        self.policy
            .profiles
            .of(session)
            .persistent
            .then(|| session.cookie_max_age(now))
    }
}
