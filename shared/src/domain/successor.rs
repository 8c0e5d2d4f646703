//! The successor of a rotated token, sealed under the token it replaces; and the sealing itself,
//! which a sign-in's claim of its ticket uses too.
//!
//! When a token is rotated, its retired item keeps the new token for the grace window, encrypted
//! with a key derived from the *old* token (HKDF-SHA256, then ChaCha20-Poly1305). Concurrent
//! refreshes that lost the race recover the same successor instead of forking the lineage, and
//! the table alone still yields no usable token: opening the seal takes the old token itself,
//! which only its holder has (the table stores its SHA-256).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

use super::ids::SessionId;
use super::token::SessionToken;

const NONCE_BYTES: usize = 12;
/// Domain separation from the SHA-256 token hash and any future use of the token as a key.
const SALT: &[u8] = b"session-service/successor-seal/v1";

/// `nonce || ciphertext+tag` of the successor token. Safe to store: opaque without the old
/// token.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSuccessor(Vec<u8>);

/// Why a successor could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The operating system's random source failed.
    #[error("the operating system's random source failed")]
    Random(#[source] getrandom::Error),
    /// Encryption failed.
    #[error("the successor could not be encrypted")]
    Encrypt,
}

impl SealedSuccessor {
    /// Seals `successor` under `old`, bound to the session id (so a sealed value copied to
    /// another session's item does not open).
    pub fn seal(
        old: &SessionToken,
        successor: &SessionToken,
        session_id: SessionId,
    ) -> Result<Self, SealError> {
        seal(SALT, old, &session_id.to_string(), successor).map(Self)
    }

    /// The successor, if `old` is the token this was sealed under (and nothing was altered).
    pub fn open(&self, old: &SessionToken, session_id: SessionId) -> Option<SessionToken> {
        open(SALT, old, &session_id.to_string(), &self.0)
    }

    /// The sealed bytes, as stored.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Sealed bytes read back from the store.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl std::fmt::Debug for SealedSuccessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedSuccessor(<sealed>)")
    }
}

/// Seals the token `msg` under the secret `key` (a key derived by HKDF-SHA256 with `salt`, for
/// `context`, then ChaCha20-Poly1305 with `context` as associated data): `nonce || ciphertext+tag`.
/// Opening it takes `key` itself, which the table never stores. Also seals a sign-in's token
/// under its resume key ([`super::TicketClaim`]).
pub(super) fn seal(
    salt: &[u8],
    key: &SessionToken,
    context: &str,
    msg: &SessionToken,
) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce).map_err(SealError::Random)?;
    let ciphertext = cipher(salt, key, context)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: msg.expose_secret().as_bytes(),
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| SealError::Encrypt)?;
    let mut bytes = nonce.to_vec();
    bytes.extend_from_slice(&ciphertext);
    Ok(bytes)
}

/// The token [`seal`] sealed in `sealed`, if `key`, `salt` and `context` are the ones it was
/// sealed with and nothing was altered.
pub(super) fn open(
    salt: &[u8],
    key: &SessionToken,
    context: &str,
    sealed: &[u8],
) -> Option<SessionToken> {
    let (nonce, ciphertext) = sealed.split_at_checked(NONCE_BYTES)?;
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
    let plain = cipher(salt, key, context)
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: context.as_bytes(),
            },
        )
        .ok()?;
    SessionToken::parse(std::str::from_utf8(&plain).ok()?).ok()
}

fn cipher(salt: &[u8], key: &SessionToken, context: &str) -> ChaCha20Poly1305 {
    let hkdf = Hkdf::<Sha256>::new(Some(salt), key.expose_secret().as_bytes());
    let mut derived = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte output limit: expand cannot fail here.
    let _ = hkdf.expand(context.as_bytes(), &mut derived);
    ChaCha20Poly1305::new(&derived.into())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn tokens() -> (SessionToken, SessionToken) {
        (
            SessionToken::generate().unwrap(),
            SessionToken::generate().unwrap(),
        )
    }

    #[test]
    fn the_old_token_opens_the_sealed_successor() {
        let (old, new) = tokens();
        let id = SessionId::random();
        let sealed = SealedSuccessor::seal(&old, &new, id).unwrap();
        assert_eq!(sealed.open(&old, id), Some(new));
    }

    #[test]
    fn no_other_token_opens_it() {
        let (old, new) = tokens();
        let id = SessionId::random();
        let sealed = SealedSuccessor::seal(&old, &new, id).unwrap();
        assert_eq!(sealed.open(&new, id), None);
        assert_eq!(sealed.open(&SessionToken::generate().unwrap(), id), None);
    }

    #[test]
    fn a_seal_moved_to_another_session_does_not_open() {
        let (old, new) = tokens();
        let sealed = SealedSuccessor::seal(&old, &new, SessionId::random()).unwrap();
        assert_eq!(sealed.open(&old, SessionId::random()), None);
    }

    #[test]
    fn a_tampered_or_truncated_seal_does_not_open() {
        let (old, new) = tokens();
        let id = SessionId::random();
        let sealed = SealedSuccessor::seal(&old, &new, id).unwrap();
        let mut bytes = sealed.as_bytes().to_vec();
        bytes[NONCE_BYTES + 3] ^= 1;
        assert_eq!(SealedSuccessor::from_bytes(bytes).open(&old, id), None);
        assert_eq!(
            SealedSuccessor::from_bytes(sealed.as_bytes()[..5].to_vec()).open(&old, id),
            None
        );
    }

    #[test]
    fn the_sealed_bytes_do_not_contain_the_successor() {
        let (old, new) = tokens();
        let sealed = SealedSuccessor::seal(&old, &new, SessionId::random()).unwrap();
        let bytes = sealed.as_bytes();
        let raw = URL_SAFE_NO_PAD.decode(new.expose_secret()).unwrap();
        assert_eq!(raw.len(), 32);
        for secret in [new.expose_secret().as_bytes(), &raw[..]] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "the successor is in the seal in clear"
            );
        }
    }
}
