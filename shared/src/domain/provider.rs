//! The identity provider's session a sign-in came from (OpenID Connect `sid`): what a
//! back-channel logout names to end every session it started.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The most characters of a provider's `sid` kept.
pub const MAX_SID_CHARS: usize = 255;

/// One session at one identity provider: its issuer and its `sid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSession<'a> {
    /// The provider (`iss`).
    pub issuer: &'a str,
    /// Its session id (`sid`), opaque, unique at that issuer.
    pub sid: &'a str,
}

impl ProviderSession<'_> {
    /// The key its sessions are listed under: the SHA-256 of issuer and `sid` (base64url,
    /// unpadded), so neither is a key of the table as it came.
    pub fn key(&self) -> String {
        let mut digest = Sha256::new();
        digest.update(b"sid\0");
        digest.update(self.issuer.as_bytes());
        digest.update(b"\0");
        digest.update(self.sid.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_both_issuer_and_sid() {
        let a = ProviderSession {
            issuer: "https://a.example/",
            sid: "s1",
        };
        let b = ProviderSession {
            issuer: "https://b.example/",
            sid: "s1",
        };
        let joined = ProviderSession {
            issuer: "https://a.example/s",
            sid: "1",
        };
        assert_ne!(a.key(), b.key());
        assert_ne!(a.key(), joined.key());
        assert_eq!(a.key(), a.clone().key());
        assert_eq!(a.key().len(), 43);
    }
}
