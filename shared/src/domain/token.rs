//! The session token (a secret: `Debug` and `Display` redacted) and its SHA-256 hash, the only
//! form in which a token is stored or compared (in constant time).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Number of random bytes in a session token.
pub(super) const TOKEN_BYTES: usize = 32;
/// Length of the base64url (unpadded) encoding of [`TOKEN_BYTES`] bytes.
const TOKEN_CHARS: usize = 43;

/// The bearer secret a client holds (in the cookie or an `Authorization: Bearer` header).
///
/// It never prints itself: `Debug` and `Display` are redacted. Only its [`TokenHash`] is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

/// Why a presented token was refused before any lookup.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenFormatError {
    /// Not the length of a token.
    #[error("the session token must be {TOKEN_CHARS} characters long, got {0}")]
    WrongLength(usize),
    /// Not base64url.
    #[error("the session token is not base64url")]
    NotBase64Url,
}

impl SessionToken {
    /// A fresh token: 32 bytes from the operating system's CSPRNG, base64url without padding.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The token whose secret bytes are `bytes` (a derived token: [`super::successor_of`]).
    pub(super) fn from_secret_bytes(bytes: [u8; TOKEN_BYTES]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts exactly the shape [`SessionToken::generate`] produces, nothing else.
    pub fn parse(raw: &str) -> Result<Self, TokenFormatError> {
        if raw.len() != TOKEN_CHARS {
            return Err(TokenFormatError::WrongLength(raw.len()));
        }
        let decoded = URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| TokenFormatError::NotBase64Url)?;
        if decoded.len() != TOKEN_BYTES {
            return Err(TokenFormatError::NotBase64Url);
        }
        // Reject non-canonical encodings (stray low bits in the last character), so one secret
        // has exactly one spelling and one hash.
        if URL_SAFE_NO_PAD.encode(&decoded) != raw {
            return Err(TokenFormatError::NotBase64Url);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The secret itself, for the one place that must send it: the `Set-Cookie` header or the
    /// bearer-mode response body.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The SHA-256 of the token: the only form stored.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

impl fmt::Display for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// SHA-256 of a session token: what the table stores and looks up. A leaked table yields no
/// usable token. Not printed either (logs carry the public session id instead).
#[derive(Clone, Copy)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The base64url (unpadded) form used inside the item key.
    pub fn encoded(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Reads back [`TokenHash::encoded`].
    pub fn from_encoded(raw: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// Constant-time equality: the comparison takes the same time wherever the hashes differ.
    pub fn matches(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_43_base64url_chars_and_parse_back() {
        let token = SessionToken::generate().unwrap();
        assert_eq!(token.expose_secret().len(), TOKEN_CHARS);
        assert!(
            token
                .expose_secret()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(SessionToken::parse(token.expose_secret()).unwrap(), token);
    }

    #[test]
    fn two_generated_tokens_differ() {
        assert_ne!(
            SessionToken::generate().unwrap(),
            SessionToken::generate().unwrap()
        );
    }

    #[test]
    fn wrong_length_token_is_rejected() {
        assert_eq!(
            SessionToken::parse("abc"),
            Err(TokenFormatError::WrongLength(3))
        );
        assert_eq!(
            SessionToken::parse(&"A".repeat(44)),
            Err(TokenFormatError::WrongLength(44))
        );
        assert_eq!(
            SessionToken::parse(""),
            Err(TokenFormatError::WrongLength(0))
        );
    }

    #[test]
    fn token_with_characters_outside_base64url_is_rejected() {
        let raw = format!("{}+", "A".repeat(42));
        assert_eq!(
            SessionToken::parse(&raw),
            Err(TokenFormatError::NotBase64Url)
        );
        let raw = format!("{}=", "A".repeat(42));
        assert_eq!(
            SessionToken::parse(&raw),
            Err(TokenFormatError::NotBase64Url)
        );
    }

    #[test]
    fn non_canonical_last_character_is_rejected() {
        // 'B' sets a low bit that 32 bytes cannot carry; the canonical spelling ends in 'A'.
        let canonical = format!("{}A", "A".repeat(42));
        assert!(SessionToken::parse(&canonical).is_ok());
        let sloppy = format!("{}B", "A".repeat(42));
        assert_eq!(
            SessionToken::parse(&sloppy),
            Err(TokenFormatError::NotBase64Url)
        );
    }

    #[test]
    fn token_never_prints_its_secret() {
        let token = SessionToken::generate().unwrap();
        let printed = format!("{token} {token:?} {:?}", token.hash());
        assert!(!printed.contains(token.expose_secret()));
        assert!(!printed.contains(&token.hash().encoded()));
    }

    #[test]
    fn hash_is_sha256_of_the_token_text() {
        let token = SessionToken::parse(&"A".repeat(43)).unwrap();
        // sha256("A" x 43) computed independently: printf %s AAA... | sha256sum, base64url.
        assert_eq!(
            token.hash().encoded(),
            "DwBzhbb51LfusnSGBa_hqYSgo7-j8BTQnip4TOnlzRo"
        );
    }

    #[test]
    fn hashes_of_different_tokens_do_not_match() {
        let a = SessionToken::generate().unwrap().hash();
        let b = SessionToken::generate().unwrap().hash();
        assert!(!a.matches(&b));
    }

    #[test]
    fn encoded_hash_round_trips() {
        let hash = SessionToken::generate().unwrap().hash();
        let back = TokenHash::from_encoded(&hash.encoded()).unwrap();
        assert!(back.matches(&hash));
        assert!(TokenHash::from_encoded("short").is_none());
    }
}
