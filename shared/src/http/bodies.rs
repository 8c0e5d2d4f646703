//! The JSON bodies the session routes accept. Unknown fields are rejected, not ignored.

use serde::Deserialize;
use serde_json::Value;

/// Body of `POST /sessions`. Unknown fields are rejected, not ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRequest {
    pub(crate) id_token: Option<String>,
    pub(crate) data: Option<Value>,
    #[serde(default)]
    pub(crate) token_in_body: bool,
    /// Trusted-caller mode only: the identity an IAM-signed backend vouches for.
    pub(crate) user_id: Option<String>,
    pub(crate) tenant_id: Option<String>,
    /// The lifetime profile asked for (`SESSION_PROFILES`).
    pub(crate) profile: Option<String>,
    /// The `resume` key of a 503 this sign-in had, with the same ticket.
    pub(crate) resume: Option<String>,
    /// An administrator's one-time impersonation ticket, instead of a login ticket.
    pub(crate) impersonation_ticket: Option<String>,
    /// Whose keys win when a presented guest session's data is carried over
    /// (`guest_wins`, `sign_in_wins`, `discard`).
    pub(crate) guest_data: Option<String>,
    /// A bearer client's guest session token, to carry over (a browser's is its cookie).
    pub(crate) guest_token: Option<String>,
}

/// Body of `POST /sessions/guest` (optional). Unknown fields are rejected, not ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GuestRequest {
    pub(crate) data: Option<Value>,
    #[serde(default)]
    pub(crate) token_in_body: bool,
}

/// Body of `PATCH /sessions/current`: a JSON merge patch (RFC 7386) for `data`, and
/// optionally the version it was based on (or send `If-Match`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateRequest {
    pub(crate) data: Value,
    pub(crate) version: Option<u64>,
}

/// Body of `PATCH /admin/users/{user_id}/sessions/{session_id}`: a JSON merge patch for
/// `data`, applied to the data as it is (an administrator's write wins).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminDataRequest {
    pub(crate) data: Value,
}

/// Body of `POST /admin/users/{user_id}/impersonation`: why (a support case), required.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImpersonationRequest {
    pub(crate) reason: String,
}

/// Body of `POST /sessions/current/reauth`: the fresh identity token (never sent as
/// `Authorization`, which on these routes is a session token).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReauthRequest {
    pub(crate) id_token: String,
}
