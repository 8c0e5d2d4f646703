//! Proof of identity at sign-in: a short-lived HS256 JWT ("login ticket") issued by a backend
//! that has already authenticated the user.

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::JwtConfig;
use crate::domain::{TenantId, UserId};

/// Who the caller proved to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: UserId,
    pub tenant_id: Option<TenantId>,
}

/// Why a login ticket was refused. Messages are safe to return to the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("the identity token is not a well-formed JWT")]
    Malformed,
    #[error("the identity token uses an algorithm other than HS256")]
    UnsupportedAlgorithm,
    #[error("the identity token signature is invalid")]
    BadSignature,
    #[error("the identity token has expired")]
    Expired,
    #[error("the identity token is not valid yet")]
    NotYetValid,
    #[error("the identity token was issued by an unexpected issuer")]
    WrongIssuer,
    #[error("the identity token is meant for another audience")]
    WrongAudience,
    #[error("the identity token lacks the required claim {0:?}")]
    MissingClaim(String),
    #[error("the identity token claim {0:?} is not valid")]
    InvalidClaim(String),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(flatten)]
    other: HashMap<String, Value>,
}

/// Verifies HS256 login tickets: signature, `exp`, `nbf`, `iss`, `aud`; nothing but HS256.
pub struct IdTokenVerifier {
    key: DecodingKey,
    validation: Validation,
    tenant_claim: String,
}

impl IdTokenVerifier {
    pub fn new(config: &JwtConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.validate_nbf = true;
        validation.leeway = config.leeway.as_secs();
        Self {
            key: DecodingKey::from_secret(&config.hs256_secret),
            validation,
            tenant_claim: config.tenant_claim.clone(),
        }
    }

    pub fn verify(&self, token: &str) -> Result<Identity, IdentityError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
                match classify(e.kind()) {
                    // jsonwebtoken cannot even parse a header naming an algorithm it lacks
                    // (`none`, `HS999`): say what is wrong rather than "malformed".
                    IdentityError::Malformed if names_foreign_algorithm(token) => {
                        IdentityError::UnsupportedAlgorithm
                    }
                    other => other,
                }
            })?;
        let user_id = UserId::parse(&data.claims.sub)
            .map_err(|_| IdentityError::InvalidClaim("sub".into()))?;
        let tenant_id = match data.claims.other.get(&self.tenant_claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(raw)) => Some(
                TenantId::parse(raw)
                    .map_err(|_| IdentityError::InvalidClaim(self.tenant_claim.clone()))?,
            ),
            Some(_) => return Err(IdentityError::InvalidClaim(self.tenant_claim.clone())),
        };
        Ok(Identity { user_id, tenant_id })
    }
}

/// Whether the JWT header is readable JSON naming an `alg` other than HS256.
fn names_foreign_algorithm(token: &str) -> bool {
    #[derive(Deserialize)]
    struct AlgOnly {
        alg: String,
    }
    use base64::Engine as _;
    let Some(header) = token.split('.').next() else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<AlgOnly>(&bytes).ok())
        .is_some_and(|h| h.alg != "HS256")
}

fn classify(kind: &ErrorKind) -> IdentityError {
    match kind {
        ErrorKind::InvalidSignature => IdentityError::BadSignature,
        ErrorKind::ExpiredSignature => IdentityError::Expired,
        ErrorKind::ImmatureSignature => IdentityError::NotYetValid,
        ErrorKind::InvalidIssuer => IdentityError::WrongIssuer,
        ErrorKind::InvalidAudience => IdentityError::WrongAudience,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::MissingAlgorithm => IdentityError::UnsupportedAlgorithm,
        ErrorKind::MissingRequiredClaim(claim) => IdentityError::MissingClaim(claim.clone()),
        ErrorKind::InvalidClaimFormat(claim) => IdentityError::InvalidClaim(claim.clone()),
        _ => IdentityError::Malformed,
    }
}

/// Claims of a login ticket minted by [`mint_hs256`].
#[derive(Debug, Serialize)]
pub struct TicketClaims<'a> {
    pub sub: &'a str,
    pub iss: &'a str,
    pub aud: &'a str,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(flatten)]
    pub extra: HashMap<String, Value>,
}

/// Signs a login ticket with HS256: what a backend that authenticated the user would do.
/// Used by the `dev-token` helper and by tests.
pub fn mint_hs256(claims: &TicketClaims<'_>, secret: &[u8]) -> Result<String, IdentityError> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|_| IdentityError::Malformed)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn config() -> JwtConfig {
        JwtConfig {
            hs256_secret: SECRET.to_vec(),
            issuer: "https://login.example".into(),
            audience: "sessions".into(),
            tenant_claim: "tenant_id".into(),
            leeway: Duration::from_secs(0),
        }
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn claims(sub: &str) -> TicketClaims<'_> {
        TicketClaims {
            sub,
            iss: "https://login.example",
            aud: "sessions",
            iat: now(),
            nbf: now() - 5,
            exp: now() + 300,
            extra: HashMap::new(),
        }
    }

    fn verify(token: &str) -> Result<Identity, IdentityError> {
        IdTokenVerifier::new(&config()).verify(token)
    }

    #[test]
    fn valid_ticket_yields_user_and_tenant() {
        let mut c = claims("alice");
        c.extra.insert("tenant_id".into(), "acme".into());
        let id = verify(&mint_hs256(&c, SECRET).unwrap()).unwrap();
        assert_eq!(id.user_id.as_str(), "alice");
        assert_eq!(
            id.tenant_id.map(|t| t.as_str().to_owned()),
            Some("acme".into())
        );
    }

    #[test]
    fn ticket_without_tenant_claim_has_no_tenant() {
        let id = verify(&mint_hs256(&claims("bob"), SECRET).unwrap()).unwrap();
        assert_eq!(id.tenant_id, None);
    }

    #[test]
    fn ticket_signed_with_another_secret_is_rejected() {
        let token = mint_hs256(&claims("alice"), b"another-secret-another-secret-xx").unwrap();
        assert_eq!(verify(&token), Err(IdentityError::BadSignature));
    }

    #[test]
    fn expired_ticket_is_rejected() {
        let mut c = claims("alice");
        c.exp = now() - 10;
        assert_eq!(
            verify(&mint_hs256(&c, SECRET).unwrap()),
            Err(IdentityError::Expired)
        );
    }

    #[test]
    fn ticket_used_before_nbf_is_rejected() {
        let mut c = claims("alice");
        c.nbf = now() + 120;
        assert_eq!(
            verify(&mint_hs256(&c, SECRET).unwrap()),
            Err(IdentityError::NotYetValid)
        );
    }

    #[test]
    fn ticket_for_another_audience_is_rejected() {
        let mut c = claims("alice");
        c.aud = "someone-else";
        assert_eq!(
            verify(&mint_hs256(&c, SECRET).unwrap()),
            Err(IdentityError::WrongAudience)
        );
    }

    #[test]
    fn ticket_from_another_issuer_is_rejected() {
        let mut c = claims("alice");
        c.iss = "https://evil.example";
        assert_eq!(
            verify(&mint_hs256(&c, SECRET).unwrap()),
            Err(IdentityError::WrongIssuer)
        );
    }

    #[test]
    fn alg_none_ticket_is_rejected() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(
            format!(
                r#"{{"sub":"alice","iss":"https://login.example","aud":"sessions","exp":{}}}"#,
                now() + 300
            )
            .as_bytes(),
        );
        let token = format!("{header}.{body}.");
        assert_eq!(verify(&token), Err(IdentityError::UnsupportedAlgorithm));
    }

    #[test]
    fn hs512_ticket_is_rejected_even_with_the_right_secret() {
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims("alice"),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(verify(&token), Err(IdentityError::UnsupportedAlgorithm));
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(verify("not-a-jwt"), Err(IdentityError::Malformed));
        assert_eq!(verify(""), Err(IdentityError::Malformed));
    }

    #[test]
    fn non_string_tenant_claim_is_rejected() {
        let mut c = claims("alice");
        c.extra.insert("tenant_id".into(), serde_json::json!(42));
        assert_eq!(
            verify(&mint_hs256(&c, SECRET).unwrap()),
            Err(IdentityError::InvalidClaim("tenant_id".into()))
        );
    }
}
