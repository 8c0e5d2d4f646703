//! The checks an identity token must pass: issuer chosen by `iss`, key by `kid`, algorithm
//! bound to the issuer (an HS256 token against an RSA issuer is refused: no algorithm
//! confusion), signature, `exp`/`nbf` with leeway, audience, maximum age (`iat`), and the
//! subject and tenant claims as domain ids.

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, TokenData, Validation};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::jwks::{Fetcher, Jwks};
use super::{Identity, IdentityError, JwksSource, JwtConfig};
use crate::domain::{Authentication, TenantId, TicketUse, UserId, check_unique_members};

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(flatten)]
    other: HashMap<String, Value>,
}

enum Keys {
    Secret(DecodingKey),
    Jwks(Jwks),
}

pub(super) struct Issuer {
    pub(super) issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    pub(super) tenant_claim: String,
    keys: Keys,
}

/// Which issuers a kind of token may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IssuerKinds {
    /// Any configured issuer (sign-in).
    Any,
    /// The identity providers of `AUTH_ISSUERS` only, not the app's own HS256 login tickets
    /// (logout tokens).
    Providers,
}

/// Verifies identity tokens against every configured issuer.
pub struct IdTokenVerifier {
    issuers: Vec<Issuer>,
    leeway: StdDuration,
    max_age: Option<StdDuration>,
    profile_claim: Option<String>,
    fetcher: Fetcher,
}

impl IdTokenVerifier {
    /// Builds the verifier; inline and file JWKS are parsed now, URLs on [`Self::prefetch`] or
    /// on first use.
    pub fn new(config: &JwtConfig) -> Self {
        let mut issuers = Vec::new();
        if let Some(hs) = &config.hs256 {
            issuers.push(Issuer {
                issuer: hs.issuer.clone(),
                audiences: vec![hs.audience.clone()],
                algorithms: vec![Algorithm::HS256],
                tenant_claim: config.tenant_claim.clone(),
                keys: Keys::Secret(DecodingKey::from_secret(&hs.secret)),
            });
        }
        for issuer in &config.issuers {
            issuers.push(Issuer {
                issuer: issuer.issuer.clone(),
                audiences: issuer.audiences.clone(),
                algorithms: issuer.algorithms.clone(),
                tenant_claim: issuer
                    .tenant_claim
                    .clone()
                    .unwrap_or_else(|| config.tenant_claim.clone()),
                keys: Keys::Jwks(Jwks::new(&issuer.source)),
            });
        }
        let needs_http = config
            .issuers
            .iter()
            .any(|i| matches!(i.source, JwksSource::Url(_)));
        Self {
            issuers,
            leeway: config.leeway,
            max_age: config.max_age,
            profile_claim: config.profile_claim.clone(),
            fetcher: Fetcher::new(
                needs_http,
                config.jwks_refresh_interval,
                config.jwks_max_age,
            ),
        }
    }

    /// Loads every file and URL JWKS once (at cold start). A failure is logged, not fatal:
    /// the next token for that issuer tries again.
    pub async fn prefetch(&self) {
        for issuer in &self.issuers {
            if let Keys::Jwks(jwks) = &issuer.keys
                && jwks.is_external()
            {
                jwks.refresh(&issuer.issuer, &self.fetcher, false).await;
            }
        }
    }

    /// The identity a token proves, or why it proves none.
    pub async fn verify(&self, token: &str) -> Result<Identity, IdentityError> {
        let mut required = vec!["exp", "sub", "iss", "aud"];
        if self.max_age.is_some() {
            required.push("iat");
        }
        let (issuer, _, data) = self
            .decoded::<Claims>(token, &required, IssuerKinds::Any)
            .await?;

        if let Some(max_age) = self.max_age {
            let iat = data
                .claims
                .iat
                .ok_or_else(|| IdentityError::MissingClaim("iat".into()))?;
            check_issued_within(iat, max_age, self.leeway)?;
        }
        let user_id = UserId::parse(&data.claims.sub)
            .map_err(|_| IdentityError::InvalidClaim("sub".into()))?;
        let tenant_id = tenant_of(&data.claims.other, &issuer.tenant_claim)?;
        let usable_until = chrono::DateTime::from_timestamp(
            data.claims
                .exp
                .saturating_add(i64::try_from(self.leeway.as_secs()).unwrap_or(0)),
            0,
        )
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        let ticket = match data.claims.other.get("jti") {
            Some(Value::String(jti)) if !jti.is_empty() => {
                TicketUse::of_jti(&issuer.issuer, jti, usable_until)
            }
            _ => TicketUse::of_token(token, usable_until),
        };
        let authentication = authentication_of(&data.claims, self.leeway)?;
        let allowed_profiles = self
            .profile_claim
            .as_ref()
            .map(|claim| profiles_of(&data.claims, claim))
            .transpose()?;
        // Only a provider's sessions can be ended by its back-channel logout (the route trusts
        // no shared-secret issuer): a `sid` in the app's own login ticket would be kept, and
        // written, for nothing.
        let provider_sid = match issuer.keys {
            Keys::Secret(_) => None,
            _ => super::logout::sid_of(&data.claims.other)?,
        };
        Ok(Identity {
            user_id,
            tenant_id,
            issuer: Some(issuer.issuer.clone()),
            authentication,
            ticket: Some(ticket),
            allowed_profiles,
            actor: None,
            provider_sid,
        })
    }

    /// The checks every token of an issuer passes, whatever it is for: one member per name,
    /// an algorithm the token's issuer uses (never `none`), no critical extensions, the
    /// signature by a key of that issuer, `iss`, `aud`, `exp` and `nbf` (with leeway) when
    /// present, and the `required` claims. The issuer, the header and the claims.
    pub(super) async fn decoded<C: DeserializeOwned>(
        &self,
        token: &str,
        required: &[&str],
        kinds: IssuerKinds,
    ) -> Result<(&Issuer, Header, TokenData<C>), IdentityError> {
        check_unique_members_of(token)?;
        let header = jsonwebtoken::decode_header(token).map_err(|e| match classify(e.kind()) {
            // jsonwebtoken cannot even parse a header naming an algorithm it lacks (`none`,
            // `HS999`): say what is wrong rather than "malformed".
            IdentityError::Malformed if names_foreign_algorithm(token) => {
                IdentityError::UnsupportedAlgorithm
            }
            other => other,
        })?;
        if header.crit.is_some() {
            return Err(IdentityError::UnsupportedCriticalExtension);
        }
        let issuer = self.issuer_of(token)?;
        if kinds == IssuerKinds::Providers && matches!(issuer.keys, Keys::Secret(_)) {
            return Err(IdentityError::WrongIssuer);
        }
        if !issuer.algorithms.contains(&header.alg) {
            return Err(IdentityError::UnsupportedAlgorithm);
        }
        let key = self.key_for(issuer, &header).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_required_spec_claims(required);
        validation.set_issuer(&[&issuer.issuer]);
        validation.set_audience(&issuer.audiences);
        validation.validate_nbf = true;
        validation.leeway = self.leeway.as_secs();
        let data =
            jsonwebtoken::decode::<C>(token, &key, &validation).map_err(|e| classify(e.kind()))?;
        Ok((issuer, header, data))
    }

    /// The clock leeway.
    pub(super) fn leeway(&self) -> StdDuration {
        self.leeway
    }

    /// The configured issuer named by the token's (not yet verified) `iss`: only used to pick
    /// the keys; the signature check then proves it.
    fn issuer_of(&self, token: &str) -> Result<&Issuer, IdentityError> {
        #[derive(Deserialize)]
        struct IssOnly {
            iss: Option<String>,
        }
        use base64::Engine as _;
        let payload = token.split('.').nth(1).ok_or(IdentityError::Malformed)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| IdentityError::Malformed)?;
        let claims: IssOnly =
            serde_json::from_slice(&bytes).map_err(|_| IdentityError::Malformed)?;
        let iss = claims
            .iss
            .ok_or_else(|| IdentityError::MissingClaim("iss".into()))?;
        self.issuers
            .iter()
            .find(|i| i.issuer == iss)
            .ok_or(IdentityError::WrongIssuer)
    }

    async fn key_for(
        &self,
        issuer: &Issuer,
        header: &Header,
    ) -> Result<DecodingKey, IdentityError> {
        match &issuer.keys {
            Keys::Secret(key) => Ok(key.clone()),
            Keys::Jwks(jwks) => jwks.key_for(&issuer.issuer, header, &self.fetcher).await,
        }
    }
}

/// The tenant the token's `claim` names, if it names one.
pub(super) fn tenant_of(
    claims: &HashMap<String, Value>,
    claim: &str,
) -> Result<Option<TenantId>, IdentityError> {
    let invalid = || IdentityError::InvalidClaim(claim.to_owned());
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) => TenantId::parse(raw).map(Some).map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

/// Refuses an `iat` more than `max_age` ago or later than now, both beyond `leeway`.
pub(super) fn check_issued_within(
    iat: i64,
    max_age: StdDuration,
    leeway: StdDuration,
) -> Result<(), IdentityError> {
    // Saturating: an `iat` of i64::MIN is a refusal, not an overflow.
    let age = chrono::Utc::now().timestamp().saturating_sub(iat);
    let leeway = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
    let max = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    if age > max.saturating_add(leeway) {
        return Err(IdentityError::TooOld);
    }
    if age < -leeway {
        return Err(IdentityError::NotYetValid);
    }
    Ok(())
}

/// When and how the user authenticated, as the token says: `auth_time` (OpenID Connect), else
/// `iat`; `amr` (strings only); `acr`. `None` when it gives no time.
///
/// A token cannot say it was issued, or that its user authenticated, later than now (or an
/// authentication later than the token's own `iat`) beyond the clock `leeway`: such a time would
/// make every freshness check (`max_auth_age`) pass for years. `auth_time` must be a whole
/// number of seconds (a float or milliseconds would be silently misread).
fn authentication_of(
    claims: &Claims,
    leeway: StdDuration,
) -> Result<Option<Authentication>, IdentityError> {
    let leeway = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
    let latest = chrono::Utc::now().timestamp().saturating_add(leeway);
    if claims.iat.is_some_and(|iat| iat > latest) {
        return Err(IdentityError::NotYetValid);
    }
    let invalid = || IdentityError::InvalidClaim("auth_time".into());
    let at = match claims.other.get("auth_time") {
        None | Some(Value::Null) => claims.iat,
        Some(Value::Number(n)) => {
            let at = n.as_i64().ok_or_else(invalid)?;
            let issued = claims.iat.map_or(latest, |iat| iat.saturating_add(leeway));
            if at > latest.min(issued) {
                return Err(invalid());
            }
            Some(at)
        }
        Some(_) => return Err(invalid()),
    };
    let Some(at) = at else {
        return Ok(None);
    };
    let Some(at) = chrono::DateTime::from_timestamp(at, 0) else {
        let claim = if claims.other.contains_key("auth_time") {
            "auth_time"
        } else {
            "iat"
        };
        return Err(IdentityError::InvalidClaim(claim.into()));
    };
    let mut authentication = Authentication::at(at);
    if let Some(Value::Array(methods)) = claims.other.get("amr") {
        authentication.methods = methods
            .iter()
            .filter_map(|m| m.as_str().map(str::to_owned))
            .take(16)
            .collect();
    }
    if let Some(Value::String(acr)) = claims.other.get("acr") {
        authentication.context_class = Some(acr.clone());
    }
    Ok(Some(authentication))
}

/// Refuses a token whose header or payload names a member twice (`check_unique_members`).
/// Segments that are not base64url JSON are left to the JWT parser, which refuses them.
fn check_unique_members_of(token: &str) -> Result<(), IdentityError> {
    use base64::Engine as _;
    for segment in token.split('.').take(2) {
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment) else {
            continue;
        };
        if let Err(e) = check_unique_members(&bytes)
            && e.to_string().contains("duplicate member")
        {
            return Err(IdentityError::DuplicateMember);
        }
    }
    Ok(())
}

/// The lifetime profiles the token's `claim` allows: a JSON array of names or a
/// space-separated string (as OAuth scopes are); an absent claim allows `default` alone.
fn profiles_of(claims: &Claims, claim: &str) -> Result<Vec<String>, IdentityError> {
    let invalid = || IdentityError::InvalidClaim(claim.to_owned());
    match claims.other.get(claim) {
        None => Ok(vec![crate::domain::DEFAULT_PROFILE.to_owned()]),
        Some(Value::String(names)) => Ok(names.split_whitespace().map(str::to_owned).collect()),
        Some(Value::Array(names)) => names
            .iter()
            .map(|n| n.as_str().map(str::to_owned).ok_or_else(invalid))
            .collect(),
        Some(_) => Err(invalid()),
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
        .is_some_and(|h| !matches!(h.alg.as_str(), "HS256" | "RS256" | "ES256"))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::EncodingKey;
    use jsonwebtoken::jwk::{Jwk, JwkSet};

    use super::*;
    use crate::identity::{TicketClaims, mint_hs256};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn config() -> JwtConfig {
        JwtConfig {
            hs256: Some(crate::identity::Hs256Config {
                secret: SECRET.to_vec(),
                issuer: "https://login.example".into(),
                audience: "sessions".into(),
            }),
            issuers: vec![rsa_and_ec_issuer()],
            tenant_claim: "tenant_id".into(),
            leeway: Duration::from_secs(0),
            max_age: Some(Duration::from_secs(3600)),
            jwks_refresh_interval: Duration::from_secs(60),
            jwks_max_age: None,
            profile_claim: None,
        }
    }

    const RSA_DER: &[u8] = include_bytes!("../../../tests/fixtures/keys/rsa-a.der");
    const EC_DER: &[u8] = include_bytes!("../../../tests/fixtures/keys/ec-a.der");
    const IDP: &str = "https://idp.example/";

    fn jwk(der: &[u8], alg: Algorithm, kid: &str) -> Jwk {
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_der(der),
            _ => EncodingKey::from_ec_der(der),
        };
        let mut jwk = Jwk::from_encoding_key(&key, alg).unwrap();
        jwk.common.key_id = Some(kid.into());
        jwk
    }

    fn rsa_and_ec_issuer() -> crate::identity::IssuerConfig {
        crate::identity::IssuerConfig {
            issuer: IDP.into(),
            audiences: vec!["spa-client".into()],
            algorithms: vec![Algorithm::RS256, Algorithm::ES256],
            tenant_claim: Some("org_id".into()),
            source: JwksSource::Inline(JwkSet {
                keys: vec![
                    jwk(RSA_DER, Algorithm::RS256, "rsa-1"),
                    jwk(EC_DER, Algorithm::ES256, "ec-1"),
                ],
            }),
        }
    }

    fn id_token(alg: Algorithm, kid: Option<&str>, edit: impl FnOnce(&mut Value)) -> String {
        let mut claims = serde_json::json!({
            "sub": "auth0|42", "iss": IDP, "aud": "spa-client",
            "iat": now(), "exp": now() + 300, "org_id": "acme"
        });
        edit(&mut claims);
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_der(RSA_DER),
            Algorithm::ES256 => EncodingKey::from_ec_der(EC_DER),
            _ => EncodingKey::from_secret(SECRET),
        };
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    #[test]
    fn rs256_and_es256_id_tokens_verify_against_the_jwks() {
        for (alg, kid) in [(Algorithm::RS256, "rsa-1"), (Algorithm::ES256, "ec-1")] {
            let identity = verify(&id_token(alg, Some(kid), |_| {})).unwrap();
            assert_eq!(identity.user_id.as_str(), "auth0|42");
            assert_eq!(
                identity.tenant_id.unwrap().as_str(),
                "acme",
                "issuer's tenant claim"
            );
        }
    }

    #[test]
    fn an_hs256_token_against_an_asymmetric_issuer_is_algorithm_confusion() {
        // Signed with HS256 under the issuer of the RSA keys: never accepted.
        let token = id_token(Algorithm::HS256, Some("rsa-1"), |_| {});
        assert_eq!(verify(&token), Err(IdentityError::UnsupportedAlgorithm));
    }

    #[test]
    fn a_token_naming_the_wrong_kind_of_key_is_refused() {
        // ES256 header pointing at the RSA key's kid.
        let token = id_token(Algorithm::ES256, Some("rsa-1"), |_| {});
        assert_eq!(verify(&token), Err(IdentityError::UnsupportedAlgorithm));
    }

    #[test]
    fn a_missing_kid_is_refused_when_the_issuer_has_several_keys() {
        let token = id_token(Algorithm::RS256, None, |_| {});
        assert_eq!(verify(&token), Err(IdentityError::MissingKeyId));
    }

    #[test]
    fn an_unknown_kid_of_an_inline_jwks_is_refused() {
        let token = id_token(Algorithm::RS256, Some("rotated-away"), |_| {});
        assert_eq!(verify(&token), Err(IdentityError::UnknownKey));
    }

    #[test]
    fn a_token_older_than_the_max_age_is_refused_even_if_unexpired() {
        let token = id_token(Algorithm::RS256, Some("rsa-1"), |c| {
            c["iat"] = (now() - 7200).into();
            c["exp"] = (now() + 3600).into();
        });
        assert_eq!(verify(&token), Err(IdentityError::TooOld));
        let without_iat = id_token(Algorithm::RS256, Some("rsa-1"), |c| {
            c.as_object_mut().unwrap().remove("iat");
        });
        assert_eq!(
            verify(&without_iat),
            Err(IdentityError::MissingClaim("iat".into()))
        );
    }

    #[test]
    fn a_token_for_another_client_of_the_idp_is_refused() {
        let token = id_token(Algorithm::RS256, Some("rsa-1"), |c| {
            c["aud"] = "other-client".into();
        });
        assert_eq!(verify(&token), Err(IdentityError::WrongAudience));
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
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(IdTokenVerifier::new(&config()).verify(token))
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
    fn a_ticket_with_critical_header_extensions_is_rejected() {
        for crit in [vec!["x-unknown".to_owned()], vec!["b64".to_owned()], vec![]] {
            let mut header = Header::new(Algorithm::HS256);
            header.crit = Some(crit.clone());
            let token =
                jsonwebtoken::encode(&header, &claims("alice"), &EncodingKey::from_secret(SECRET))
                    .unwrap();
            assert_eq!(
                verify(&token),
                Err(IdentityError::UnsupportedCriticalExtension),
                "{crit:?}"
            );
        }
        // The same ticket without `crit` passes: the check is what refuses it.
        let plain = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims("alice"),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(verify(&plain).is_ok());
    }

    fn with_extra(edit: impl FnOnce(&mut HashMap<String, Value>)) -> String {
        let mut c = claims("alice");
        edit(&mut c.extra);
        mint_hs256(&c, SECRET).unwrap()
    }

    #[test]
    fn an_auth_time_later_than_the_tickets_issue_is_refused() {
        assert_auth_times_refused([
            Value::from(now() + 10 * 365 * 86_400),
            Value::from(now() + 60),
            // Milliseconds, not seconds: year 58891.
            Value::from(now() * 1000),
        ]);
        // A past auth_time (the user authenticated, then got this ticket) is the proof.
        let past = now() - 240;
        let token = with_extra(|extra| {
            extra.insert("auth_time".into(), past.into());
        });
        let proof = verify(&token).unwrap().authentication.unwrap();
        assert_eq!(proof.at.timestamp(), past);
    }

    #[test]
    fn an_auth_time_that_is_not_whole_seconds_is_refused() {
        assert_auth_times_refused([
            serde_json::json!(1_700_000_000.5),
            serde_json::json!("1700000000"),
            serde_json::json!(true),
        ]);
    }

    fn assert_auth_times_refused(auth_times: impl IntoIterator<Item = Value>) {
        for auth_time in auth_times {
            let token = with_extra(|extra| {
                extra.insert("auth_time".into(), auth_time.clone());
            });
            assert_eq!(
                verify(&token).map(|_| ()),
                Err(IdentityError::InvalidClaim("auth_time".into())),
                "{auth_time}"
            );
        }
    }

    #[test]
    fn a_ticket_issued_in_the_future_is_not_valid_yet() {
        let mut c = claims("alice");
        c.iat = now() + 3600;
        assert_eq!(
            verify(&mint_hs256(&c, SECRET).unwrap()).map(|_| ()),
            Err(IdentityError::NotYetValid)
        );
    }

    #[test]
    fn extreme_iat_values_are_refused_without_overflow() {
        for iat in [i64::MIN, i64::MIN + 1, i64::MAX] {
            let mut c = claims("alice");
            c.iat = iat;
            let verdict = verify(&mint_hs256(&c, SECRET).unwrap()).map(|_| ());
            assert!(verdict.is_err(), "iat {iat}: {verdict:?}");
            // With a maximum age, the age computation itself.
            let mut config = config();
            config.max_age = Some(Duration::from_secs(600));
            let verdict = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(IdTokenVerifier::new(&config).verify(&mint_hs256(&c, SECRET).unwrap()))
                .map(|_| ());
            assert!(verdict.is_err(), "iat {iat} with max age: {verdict:?}");
        }
    }

    #[test]
    fn a_claim_or_header_member_named_twice_is_refused() {
        let payload = format!(
            r#"{{"sub":"alice","iss":"https://login.example","aud":"sessions","iat":{n},"exp":{e},"tenant_id":"acme","tenant_id":"evil"}}"#,
            n = now(),
            e = now() + 300
        );
        let raw = serde_json::value::RawValue::from_string(payload).unwrap();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &raw,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(
            verify(&token).map(|_| ()),
            Err(IdentityError::DuplicateMember)
        );

        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let claims = serde_json::to_string(&claims("alice")).unwrap();
        let signed = |header: &str| {
            let message = format!("{}.{}", b64(header), b64(&claims));
            let signature = jsonwebtoken::crypto::sign(
                message.as_bytes(),
                &EncodingKey::from_secret(SECRET),
                Algorithm::HS256,
            )
            .unwrap();
            format!("{message}.{signature}")
        };
        assert_eq!(
            verify(&signed(r#"{"alg":"HS256","typ":"JWT","typ":"JWT"}"#)).map(|_| ()),
            Err(IdentityError::DuplicateMember)
        );
        // The same ticket, each member once, passes: the duplicate is what refuses it.
        assert!(verify(&signed(r#"{"alg":"HS256","typ":"JWT"}"#)).is_ok());
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

/// Property tests: no identity token, however mangled, panics the verifier; every refusal is
/// an [`IdentityError`] a client gets as 401 (never the 503 reserved for an unreachable IdP,
/// since these keys are inline).
#[cfg(test)]
mod properties {
    use std::time::Duration;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

    use super::*;
    use crate::identity::Hs256Config;

    fn verifier() -> IdTokenVerifier {
        IdTokenVerifier::new(&JwtConfig {
            hs256: Some(Hs256Config {
                secret: b"0123456789abcdef0123456789abcdef".to_vec(),
                issuer: "https://login.example".into(),
                audience: "sessions".into(),
            }),
            issuers: Vec::new(),
            tenant_claim: "tenant_id".into(),
            leeway: Duration::ZERO,
            max_age: Some(Duration::from_secs(3600)),
            jwks_refresh_interval: Duration::from_secs(60),
            jwks_max_age: None,
            profile_claim: None,
        })
    }

    /// `header.payload.signature` with JSON-ish or arbitrary segments.
    fn jwt_like() -> impl Strategy<Value = String> {
        let json = prop_oneof![
            Just(r#"{"alg":"HS256","typ":"JWT"}"#.to_owned()),
            Just(r#"{"alg":"none"}"#.to_owned()),
            Just(r#"{"alg":"RS256","kid":"x"}"#.to_owned()),
            Just(
                r#"{"sub":"a","iss":"https://login.example","aud":"sessions","exp":1}"#.to_owned()
            ),
            "\\{[ -~]{0,60}\\}",
        ];
        let segment = prop_oneof![
            json.prop_map(|j| URL_SAFE_NO_PAD.encode(j)),
            "[A-Za-z0-9_\\-]{0,60}",
            "[ -~]{0,20}",
        ];
        prop_oneof![
            (segment.clone(), segment.clone(), segment)
                .prop_map(|(h, p, s)| format!("{h}.{p}.{s}")),
            "[ -~]{0,120}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn no_token_panics_and_every_refusal_is_a_client_error(token in jwt_like()) {
            static VERIFIER: std::sync::LazyLock<IdTokenVerifier> =
                std::sync::LazyLock::new(verifier);
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let result = runtime.block_on(VERIFIER.verify(&token));
            prop_assert!(result.is_err(), "a random token was accepted");
            prop_assert_ne!(result.unwrap_err(), IdentityError::KeysUnavailable);
        }
    }
}
