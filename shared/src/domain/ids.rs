//! Identifiers: user and tenant ids (parsed, bounded, printable) and the public session id.

use std::fmt;

use serde::Serialize;
use uuid::Uuid;

/// The most characters a user or tenant id may have.
const MAX_ID_CHARS: usize = 256;

/// Why a raw id was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// The id is empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// The id is longer than allowed.
    #[error("{0} is longer than {MAX_ID_CHARS} characters")]
    TooLong(&'static str),
    /// The id contains control characters.
    #[error("{0} contains control characters")]
    ControlCharacters(&'static str),
    /// A session id must be a UUID.
    #[error("session id is not a UUID")]
    NotAUuid,
}

fn checked(kind: &'static str, raw: &str) -> Result<String, IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty(kind));
    }
    if raw.chars().count() > MAX_ID_CHARS {
        return Err(IdError::TooLong(kind));
    }
    if raw.chars().any(char::is_control) {
        return Err(IdError::ControlCharacters(kind));
    }
    Ok(raw.to_owned())
}

/// Who the session belongs to: the identity token's `sub`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// A user id: non-empty, bounded, no control characters.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        checked("user id", raw).map(Self)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user as the service keeps them apart: the subject scoped by the issuer that vouched for it
/// and the tenant it signed in to. The same `sub` from two identity providers, or in two
/// tenants, is two users: their sessions are listed, capped, revoked and audited apart. Stored
/// as a SHA-256 (base64url) of the three, so no separator in a `sub` can make two users one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct UserKey(String);

impl UserKey {
    /// The key of `user` in `tenant` as `issuer` (`None`: a trusted caller's session) vouches.
    pub fn of(issuer: Option<&str>, tenant: Option<&TenantId>, user: &UserId) -> Self {
        use base64::Engine as _;
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new();
        for part in [
            "user-key-v1",
            issuer.unwrap_or(""),
            tenant.map_or("", TenantId::as_str),
            user.as_str(),
        ] {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part.as_bytes());
        }
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.finalize()))
    }

    /// A key as stored (read back from an index key).
    pub fn from_stored(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The tenant (shop, organisation, ...) the user signed in to, when the identity token names one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// A tenant id: non-empty, bounded, no control characters.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        checked("tenant id", raw).map(Self)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Public handle of a session: safe to log and to show the user. Never a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SessionId(Uuid);

impl SessionId {
    /// A new random session id (UUID v4).
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The id of a UUID (no check: any UUID names a session).
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// A session id in its UUID form.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        Uuid::parse_str(raw)
            .map(Self)
            .map_err(|_| IdError::NotAUuid)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sub_under_two_tenants_or_two_issuers_is_two_users() {
        let alice = UserId::parse("alice").unwrap();
        let (a, b) = (TenantId::parse("a").unwrap(), TenantId::parse("b").unwrap());
        let key = |iss, tenant| UserKey::of(iss, tenant, &alice);
        assert_eq!(
            key(Some("https://idp"), Some(&a)),
            key(Some("https://idp"), Some(&a))
        );
        assert_ne!(
            key(Some("https://idp"), Some(&a)),
            key(Some("https://idp"), Some(&b))
        );
        assert_ne!(
            key(Some("https://idp"), Some(&a)),
            key(Some("https://other"), Some(&a))
        );
        assert_ne!(key(None, None), key(Some(""), Some(&a)));
        // No separator games: ("a#b", "c") and ("a", "b#c") differ.
        let x = UserKey::of(Some("a#b"), None, &UserId::parse("c").unwrap());
        let y = UserKey::of(Some("a"), None, &UserId::parse("b#c").unwrap());
        assert_ne!(x, y);
    }

    #[test]
    fn empty_user_id_is_rejected() {
        assert_eq!(UserId::parse(""), Err(IdError::Empty("user id")));
    }

    #[test]
    fn user_id_with_control_characters_is_rejected() {
        assert_eq!(
            UserId::parse("alice\n"),
            Err(IdError::ControlCharacters("user id"))
        );
    }

    #[test]
    fn overlong_tenant_id_is_rejected() {
        assert_eq!(
            TenantId::parse(&"t".repeat(257)),
            Err(IdError::TooLong("tenant id"))
        );
        assert!(TenantId::parse(&"t".repeat(256)).is_ok());
    }

    #[test]
    fn session_id_prints_as_hyphenated_uuid_and_parses_back() {
        let id = SessionId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(SessionId::parse(&text), Ok(id));
        assert_eq!(SessionId::parse("nope"), Err(IdError::NotAUuid));
    }
}
