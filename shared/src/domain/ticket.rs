//! A login ticket's one use: the key its use is recorded under, and until when recording it
//! matters (after that the ticket fails verification anyway). The key is a SHA-256: of the
//! issuer and `jti` when the ticket has one, else of the whole token; never the token itself.
//!
//! The use is recorded with the sign-in's [`TicketClaim`]: the session token that sign-in will
//! carry, sealed under a [`ResumeKey`]. A write of the claim whose answer was lost, retried by
//! the SDK, and a client that got a 503 and comes back with the same ticket and the resume key,
//! both find the claim theirs and finish the sign-in with the same token: one ticket yields at
//! most one session token, ever, and a slow answer never burns a ticket.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::successor::{SealError, open, seal};
use super::token::{SessionToken, TokenFormatError};

/// Domain separation of the claim's seal from the successor's.
const CLAIM_SALT: &[u8] = b"session-service/ticket-claim/v1";

/// Where and until when the single use of one identity token is recorded.
#[derive(Clone, PartialEq, Eq)]
pub struct TicketUse {
    key: [u8; 32],
    /// Named by its issuer's `jti` (else by the hash of the whole token).
    by_jti: bool,
    /// The last moment the ticket could verify (`exp` plus the leeway).
    pub usable_until: DateTime<Utc>,
}

impl TicketUse {
    /// A ticket named by its issuer's `jti`.
    pub fn of_jti(issuer: &str, jti: &str, usable_until: DateTime<Utc>) -> Self {
        let mut digest = Sha256::new();
        digest.update(b"jti\0");
        digest.update(issuer.as_bytes());
        digest.update(b"\0");
        digest.update(jti.as_bytes());
        Self {
            key: digest.finalize().into(),
            by_jti: true,
            usable_until,
        }
    }

    /// Whether the issuer named the ticket (`jti`): tokens minted apart with one `jti` are one
    /// ticket.
    pub fn is_named(&self) -> bool {
        self.by_jti
    }

    /// A ticket without a `jti`: named by the hash of the whole token.
    pub fn of_token(token: &str, usable_until: DateTime<Utc>) -> Self {
        let mut digest = Sha256::new();
        digest.update(b"token\0");
        digest.update(token.as_bytes());
        Self {
            key: digest.finalize().into(),
            by_jti: false,
            usable_until,
        }
    }

    /// The key as stored (base64url, unpadded).
    pub fn encoded_key(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.key)
    }
}

/// Never prints the key (it names a credential).
impl std::fmt::Debug for TicketUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketUse")
            .field("usable_until", &self.usable_until)
            .finish_non_exhaustive()
    }
}

/// The secret that lets the client of a sign-in that answered 503 finish it with the same
/// ticket. It is given in that answer only, never after a success, and the table keeps only its
/// digest. Shaped like a session token (32 random bytes, base64url); never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ResumeKey(SessionToken);

impl ResumeKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, getrandom::Error> {
        SessionToken::generate().map(Self)
    }

    /// A key sent back by a client: exactly the shape [`Self::generate`] produces.
    pub fn parse(raw: &str) -> Result<Self, TokenFormatError> {
        SessionToken::parse(raw).map(Self)
    }

    /// The secret itself, for the one place that sends it: the 503 of a sign-in.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    fn digest(&self) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update(b"resume\0");
        digest.update(self.0.expose_secret().as_bytes());
        digest.finalize().into()
    }
}

impl std::fmt::Debug for ResumeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResumeKey(<redacted>)")
    }
}

/// What a sign-in records with its ticket's use: the digest of its [`ResumeKey`] and the
/// session token it will carry, sealed under that key and bound to the ticket. Safe to store:
/// the table alone opens nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct TicketClaim {
    digest: [u8; 32],
    sealed: Vec<u8>,
}

impl TicketClaim {
    /// The claim of `ticket` by a sign-in that will carry `token`, resumable with `resume`.
    pub fn seal(
        ticket: &TicketUse,
        resume: &ResumeKey,
        token: &SessionToken,
    ) -> Result<Self, SealError> {
        Ok(Self {
            digest: resume.digest(),
            sealed: seal(CLAIM_SALT, &resume.0, &ticket.encoded_key(), token)?,
        })
    }

    /// The session token of this claim, if `resume` is its key (the digests compared in
    /// constant time) and it was made for `ticket`.
    pub fn open(&self, ticket: &TicketUse, resume: &ResumeKey) -> Option<SessionToken> {
        if !bool::from(self.digest.ct_eq(&resume.digest())) {
            return None;
        }
        open(CLAIM_SALT, &resume.0, &ticket.encoded_key(), &self.sealed)
    }

    /// The digest of the resume key, as stored.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// The sealed token, as stored.
    pub fn sealed(&self) -> &[u8] {
        &self.sealed
    }

    /// A claim read back from the store; `None` when the digest is not one.
    pub fn from_stored(digest: &[u8], sealed: Vec<u8>) -> Option<Self> {
        Some(Self {
            digest: digest.try_into().ok()?,
            sealed,
        })
    }
}

impl std::fmt::Debug for TicketClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketClaim(<sealed>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> (TicketUse, ResumeKey, SessionToken, TicketClaim) {
        let ticket = TicketUse::of_jti("https://a.example", "1", Utc::now());
        let resume = ResumeKey::generate().unwrap();
        let token = SessionToken::generate().unwrap();
        let claim = TicketClaim::seal(&ticket, &resume, &token).unwrap();
        (ticket, resume, token, claim)
    }

    #[test]
    fn the_resume_key_opens_the_claim_it_sealed() {
        let (ticket, resume, token, claim) = claim();
        let stored = TicketClaim::from_stored(claim.digest(), claim.sealed().to_vec()).unwrap();
        assert_eq!(stored.open(&ticket, &resume), Some(token));
    }

    #[test]
    fn another_resume_key_or_another_ticket_opens_nothing() {
        let (ticket, resume, _, claim) = claim();
        assert_eq!(claim.open(&ticket, &ResumeKey::generate().unwrap()), None);
        let other = TicketUse::of_jti("https://a.example", "2", Utc::now());
        assert_eq!(claim.open(&other, &resume), None);
    }

    #[test]
    fn a_claim_never_holds_or_prints_its_secrets() {
        let (_, resume, token, claim) = claim();
        let printed = format!("{resume:?} {claim:?}");
        assert!(!printed.contains(resume.expose_secret()));
        assert!(!printed.contains(token.expose_secret()));
        let stored = [claim.digest(), claim.sealed()].concat();
        for secret in [resume.expose_secret(), token.expose_secret()] {
            assert!(
                !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a secret is stored in clear"
            );
        }
        assert_eq!(ResumeKey::parse(resume.expose_secret()).unwrap(), resume);
        assert!(ResumeKey::parse("short").is_err());
    }

    #[test]
    fn one_jti_of_one_issuer_is_one_key_and_issuers_do_not_collide() {
        let at = Utc::now();
        let a = TicketUse::of_jti("https://a.example", "123", at);
        assert_eq!(a, TicketUse::of_jti("https://a.example", "123", at));
        assert_ne!(
            a.encoded_key(),
            TicketUse::of_jti("https://b.example", "123", at).encoded_key()
        );
        assert_ne!(
            a.encoded_key(),
            TicketUse::of_token("123", at).encoded_key()
        );
        assert!(!format!("{a:?}").contains(&a.encoded_key()));
    }
}
