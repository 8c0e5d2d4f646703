//! The successor of a token: which token a rotation replaces it with, and how a retired token
//! leads to it; and the sealing of one token under another, which a sign-in's claim of its
//! ticket uses too.
//!
//! A head keeps a random [`RotationSeed`]. Its successor is *derived* from its token and that
//! seed (HKDF-SHA256, [`successor_of`]), so every request that rotates the same head computes the
//! same successor: the rotation can write the new head first (a put that only the first of them
//! wins) and retire the old one second, without a transaction and without ever forking the
//! lineage. The table alone still yields no usable token: deriving takes the old token itself,
//! which only its holder has (the table stores its SHA-256), and a stolen token alone does not
//! give its successor without the seed, which never leaves the table.
//!
//! Tokens retired before seeds existed keep their successor sealed under them
//! ([`SealedSuccessor`], HKDF-SHA256 then ChaCha20-Poly1305) until they expire.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

use super::ids::SessionId;
use super::token::{SessionToken, TOKEN_BYTES, TokenHash};

const NONCE_BYTES: usize = 12;
/// Domain separation of a derived successor from the seal and the token hash.
const SUCCESSOR_SALT: &[u8] = b"session-service/successor/v2";

/// The random value a head keeps so that its token's successor can be derived
/// ([`successor_of`]). Stored with the head and its retired item, never sent to a client;
/// `Debug` is redacted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RotationSeed([u8; 16]);

impl RotationSeed {
    /// A fresh seed: the 122 random bits of a version-4 UUID, the source session ids use.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().into_bytes())
    }

    /// The seed's bytes, as stored.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A seed read back from the store; `None` if it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl std::fmt::Debug for RotationSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RotationSeed(<redacted>)")
    }
}

/// The token that replaces `token` when the head it holds (session `session_id`, seeded with
/// `seed`) is rotated: HKDF-SHA256 of the token, salted, for the session id and the seed. The
/// same for every request that rotates that head; unknowable without both the token and the
/// seed.
pub fn successor_of(
    token: &SessionToken,
    seed: &RotationSeed,
    session_id: SessionId,
) -> SessionToken {
    let hkdf = Hkdf::<Sha256>::new(Some(SUCCESSOR_SALT), token.expose_secret().as_bytes());
    let mut info = session_id.as_uuid().into_bytes().to_vec();
    info.extend_from_slice(seed.as_bytes());
    let mut bytes = [0u8; TOKEN_BYTES];
    // 32 bytes is far below HKDF-SHA256's 8160-byte output limit: expand cannot fail here.
    let _ = hkdf.expand(&info, &mut bytes);
    SessionToken::from_secret_bytes(bytes)
}

/// How a retired token leads to its successor.
#[derive(Debug, Clone)]
pub enum SuccessorKey {
    /// Derived from the retired token and the seed its head had ([`successor_of`]).
    Derived(RotationSeed),
    /// Sealed under the retired token (tokens retired before seeds existed).
    Sealed(SealedSuccessor),
}

impl SuccessorKey {
    /// The successor of `retired` (a token of session `session_id` whose successor's hash is
    /// `successor`), if `retired` is the token it was retired from.
    pub fn open(
        &self,
        retired: &SessionToken,
        session_id: SessionId,
        successor: &TokenHash,
    ) -> Option<SessionToken> {
        let token = match self {
            Self::Derived(seed) => successor_of(retired, seed, session_id),
            Self::Sealed(sealed) => sealed.open(retired, session_id)?,
        };
        token.hash().matches(successor).then_some(token)
    }
}
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
    fn a_successor_is_the_same_for_every_rotation_of_one_head_and_unlike_any_other() {
        let (old, other) = tokens();
        let (seed, id) = (RotationSeed::random(), SessionId::random());
        let next = successor_of(&old, &seed, id);
        assert_eq!(next, successor_of(&old, &seed, id));
        assert_ne!(next, old);
        assert_ne!(next, successor_of(&other, &seed, id), "another token");
        assert_ne!(
            next,
            successor_of(&old, &RotationSeed::random(), id),
            "another seed"
        );
        assert_ne!(
            next,
            successor_of(&old, &seed, SessionId::random()),
            "another session"
        );
        assert!(
            SessionToken::parse(next.expose_secret()).is_ok(),
            "a token like any other"
        );
    }

    #[test]
    fn a_retired_token_leads_to_its_successor_and_no_other_token_does() {
        let (old, other) = tokens();
        let (seed, id) = (RotationSeed::random(), SessionId::random());
        let next = successor_of(&old, &seed, id);
        let derived = SuccessorKey::Derived(seed);
        assert_eq!(derived.open(&old, id, &next.hash()), Some(next.clone()));
        assert_eq!(derived.open(&other, id, &next.hash()), None);
        let (legacy_old, legacy_next) = tokens();
        let sealed =
            SuccessorKey::Sealed(SealedSuccessor::seal(&legacy_old, &legacy_next, id).unwrap());
        assert_eq!(
            sealed.open(&legacy_old, id, &legacy_next.hash()),
            Some(legacy_next.clone())
        );
        assert_eq!(
            sealed.open(&legacy_old, id, &next.hash()),
            None,
            "a successor hash it does not match"
        );
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
