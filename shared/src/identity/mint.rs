//! Minting HS256 login tickets: what a backend that authenticated the user does. Compiled for
//! the `dev` feature (the `dev-token` helper, the tests) and unit tests only, never into the
//! functions.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::Value;

use super::IdentityError;

/// Claims of a login ticket minted by [`mint_hs256`].
#[derive(Debug, Serialize)]
pub struct TicketClaims<'a> {
    /// The subject: the user id.
    pub sub: &'a str,
    /// The issuer.
    pub iss: &'a str,
    /// The audience.
    pub aud: &'a str,
    /// Issued at (epoch seconds).
    pub iat: i64,
    /// Not before (epoch seconds).
    pub nbf: i64,
    /// Expires at (epoch seconds).
    pub exp: i64,
    /// Further claims, e.g. the tenant.
    #[serde(flatten)]
    pub extra: HashMap<String, Value>,
}

/// Signs a login ticket with HS256: what a backend that authenticated the user would do.
/// Used by the `dev-token` helper and by tests. Each ticket gets a random `jti` unless the
/// claims name one: tickets are single-use, and two minted in the same second must differ.
pub fn mint_hs256(claims: &TicketClaims<'_>, secret: &[u8]) -> Result<String, IdentityError> {
    let mut value = serde_json::to_value(claims).map_err(|_| IdentityError::Malformed)?;
    if let Some(object) = value.as_object_mut() {
        object
            .entry("jti")
            .or_insert_with(|| Value::String(uuid::Uuid::new_v4().to_string()));
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &value,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|_| IdentityError::Malformed)
}
