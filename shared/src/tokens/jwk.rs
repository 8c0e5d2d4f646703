//! The published form of a signing key: an EC P-256 JSON Web Key (RFC 7517/7518) named by its
//! RFC 7638 thumbprint, and the key set `GET /.well-known/jwks.json` serves.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// An ES256 public key as a JWK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicJwk {
    /// `EC`.
    pub kty: &'static str,
    /// `P-256`.
    pub crv: &'static str,
    /// The point's x coordinate, base64url.
    pub x: String,
    /// The point's y coordinate, base64url.
    pub y: String,
    /// The key's id: its thumbprint (RFC 7638), so it names the key itself, never an account's
    /// key ARN, and a verifier can recompute it.
    pub kid: String,
    /// `ES256`: the one algorithm this key verifies.
    pub alg: &'static str,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
}

impl PublicJwk {
    /// The JWK of the P-256 point (`x`, `y`: 32 bytes each, big-endian).
    pub fn es256(x: &[u8], y: &[u8]) -> Self {
        let x = URL_SAFE_NO_PAD.encode(x);
        let y = URL_SAFE_NO_PAD.encode(y);
        // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Self {
            kty: "EC",
            crv: "P-256",
            x,
            y,
            kid,
            alg: "ES256",
            use_: "sig",
        }
    }
}

/// The published key set (`{"keys": [...]}`): the signing key first.
#[derive(Debug, Clone, Serialize)]
pub struct KeySet<'a> {
    /// Every published key.
    pub keys: Vec<&'a PublicJwk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        // RFC 7638 gives an RSA example only: this is RFC 7515 A.3's P-256 key, its thumbprint
        // as `jose`'s `calculateJwkThumbprint` computes it.
        let x = URL_SAFE_NO_PAD
            .decode("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU")
            .unwrap();
        let y = URL_SAFE_NO_PAD
            .decode("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0")
            .unwrap();
        let jwk = PublicJwk::es256(&x, &y);
        assert_eq!(jwk.kid, "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U");
        assert_eq!(
            serde_json::to_value(&jwk).unwrap()["use"],
            serde_json::json!("sig")
        );
    }
}
