//! A login ticket's one use: the key its use is recorded under, and until when recording it
//! matters (after that the ticket fails verification anyway). The key is a SHA-256: of the
//! issuer and `jti` when the ticket has one, else of the whole token; never the token itself.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Where and until when the single use of one identity token is recorded.
#[derive(Clone, PartialEq, Eq)]
pub struct TicketUse {
    key: [u8; 32],
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
            usable_until,
        }
    }

    /// A ticket without a `jti`: named by the hash of the whole token.
    pub fn of_token(token: &str, usable_until: DateTime<Utc>) -> Self {
        let mut digest = Sha256::new();
        digest.update(b"token\0");
        digest.update(token.as_bytes());
        Self {
            key: digest.finalize().into(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
