//! A stand-in identity provider: RS256 / ES256 keys from `tests/fixtures/keys`, a one-route HTTP
//! server publishing its JWKS (counting requests), and the tokens it signs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The provider's issuer.
pub const IDP: &str = "https://idp.example/";
/// RSA key A (DER).
pub const RSA_A: &[u8] = include_bytes!("../fixtures/keys/rsa-a.der");
/// RSA key B (DER).
pub const RSA_B: &[u8] = include_bytes!("../fixtures/keys/rsa-b.der");
/// EC P-256 key A (DER).
pub const EC_A: &[u8] = include_bytes!("../fixtures/keys/ec-a.der");

/// The signing key of `der` for `alg`.
pub fn key(der: &[u8], alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_der(der),
        _ => EncodingKey::from_ec_der(der),
    }
}

/// The public JWK of `der`, named `kid`.
pub fn jwk(der: &[u8], alg: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(&key(der, alg), alg).unwrap();
    jwk.common.key_id = Some(kid.into());
    jwk
}

/// A JWKS document of `keys`.
pub fn jwks(keys: Vec<Jwk>) -> String {
    serde_json::to_string(&JwkSet { keys }).unwrap()
}

/// `claims` signed with `der` under `header`.
pub fn signed(header: &Header, claims: &Value, der: &[u8]) -> String {
    jsonwebtoken::encode(header, claims, &key(der, header.alg)).unwrap()
}

/// A one-route HTTP server serving whatever JWKS it currently holds, counting requests.
pub struct FakeIdp {
    /// Where its JWKS is.
    pub url: String,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

impl FakeIdp {
    /// Serves `initial` on a free local port.
    pub async fn start(initial: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let body = Arc::new(Mutex::new(initial));
        let hits = Arc::new(AtomicUsize::new(0));
        let (served, counter) = (body.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                counter.fetch_add(1, Ordering::SeqCst);
                let body = served.lock().unwrap().clone();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        Self { url, body, hits }
    }

    /// Serves `jwks` from now on.
    pub fn serve(&self, jwks: String) {
        *self.body.lock().unwrap() = jwks;
    }

    /// How many requests it answered.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
