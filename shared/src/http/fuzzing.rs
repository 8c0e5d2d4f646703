//! The request parsers exactly as the handlers call them, on raw bytes: the entry points of the
//! fuzz targets (`shared/fuzz`, `make fuzz`) and of their regression tests
//! (`tests/tests/fuzz_regressions.rs`). Each returns normally, with a value or a 4xx
//! [`ApiError`]; a panic, or a rejection that is not a 4xx, is a bug.
//! Not used by the functions. Panics are its way of reporting a broken invariant.
#![allow(clippy::expect_used)]

use lambda_http::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use lambda_http::http::{HeaderMap, HeaderValue};
use lambda_http::{Body, Request};

use super::ApiError;
use super::bodies::{CreateRequest, UpdateRequest};
use super::cookies::{CookiePolicy, SameSite};
use super::request::{Credential, Transport, check_unambiguous, credential_in, json_body};
use crate::domain::SessionData;
use crate::identity::{Hs256Config, IdTokenVerifier, JwtConfig};

/// The production cookie policy (`__Host-session`).
fn policy() -> CookiePolicy {
    CookiePolicy::new("session", SameSite::Lax, None, true).expect("the default policy is valid")
}

/// Headers holding `raw` (split at `\n` into several headers of `name`); `None` when a part is
/// not a valid header value (then API Gateway would not deliver the request at all).
fn headers(name: lambda_http::http::HeaderName, raw: &[u8]) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    for part in raw.split(|b| *b == b'\n') {
        map.append(name.clone(), HeaderValue::from_bytes(part).ok()?);
    }
    Some(map)
}

/// The session credential of a request with these headers, read as every entry point reads it:
/// the ambiguity check once, then the credential.
fn credential(map: &HeaderMap) -> Result<Credential, ApiError> {
    check_unambiguous(map, &policy())?;
    credential_in(map, &policy())
}

/// The session credential of a request whose `Cookie` header(s) are `raw`.
pub fn cookie_header(raw: &[u8]) -> Option<Result<Credential, ApiError>> {
    Some(credential(&headers(COOKIE, raw)?))
}

/// The session credential of a request whose `Authorization` header is `raw`. (Beside a
/// session cookie any `Authorization` is refused as ambiguous, whatever it holds: the
/// regression tests check that separately.)
pub fn authorization_header(raw: &[u8]) -> Option<Result<Credential, ApiError>> {
    let mut map = HeaderMap::new();
    map.insert(AUTHORIZATION, HeaderValue::from_bytes(raw).ok()?);
    Some(credential(&map))
}

/// [`authorization_header`] on a request that also carries a valid-looking session cookie.
pub fn authorization_beside_a_cookie(raw: &[u8]) -> Option<Result<Credential, ApiError>> {
    let mut map = HeaderMap::new();
    map.insert(AUTHORIZATION, HeaderValue::from_bytes(raw).ok()?);
    map.insert(
        COOKIE,
        HeaderValue::from_static("__Host-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    );
    Some(credential(&map))
}

/// What the two JSON routes make of a body: `POST /sessions` (the create request) and
/// `PATCH /sessions/current` (a merge patch applied to `current` within `max_bytes`).
#[derive(Debug)]
pub struct BodyOutcome {
    pub create: Result<Option<SessionData>, ApiError>,
    pub patch: Result<Option<SessionData>, ApiError>,
}

/// Parses `body` sent with `content_type` as both JSON routes do; the patch is applied to
/// `current` data (`{"theme": "dark", "cart": {"items": 2}}`) under a 1 KiB limit.
pub fn json_bodies(content_type: &[u8], body: &[u8]) -> Option<BodyOutcome> {
    const MAX_BODY: usize = 4096;
    const MAX_DATA: usize = 1024;
    let content_type = HeaderValue::from_bytes(content_type).ok()?;
    let request = || {
        let mut req = Request::new(Body::from(body.to_vec()));
        req.headers_mut().insert(CONTENT_TYPE, content_type.clone());
        req
    };
    let create = json_body::<CreateRequest>(&request(), MAX_BODY).and_then(|parsed| {
        parsed
            .and_then(|b| b.data)
            .map(|data| SessionData::parse(data, MAX_DATA).map_err(ApiError::from))
            .transpose()
    });
    let current = SessionData::parse(
        serde_json::json!({"theme": "dark", "cart": {"items": 2}}),
        MAX_DATA,
    )
    .expect("the sample data is valid");
    let patch = json_body::<UpdateRequest>(&request(), MAX_BODY).and_then(|parsed| {
        parsed
            .map(|update| {
                current
                    .merge_patched(&update.data, MAX_DATA)
                    .map_err(ApiError::from)
            })
            .transpose()
    });
    Some(BodyOutcome { create, patch })
}

/// The HS256 login-ticket secret of [`ticket_verifier`].
pub const TICKET_SECRET: &str = "fuzz-secret-that-is-long-enough-0123456789";

/// A verifier of HS256 login tickets (issuer `https://login.fuzz`, audience `fuzz`), as the
/// create handler runs it on `id_token` or a bearer ticket.
pub fn ticket_verifier() -> IdTokenVerifier {
    // The defaults of the AUTH_* settings (README), with the fuzz issuer's secret.
    IdTokenVerifier::new(&JwtConfig {
        hs256: Some(Hs256Config {
            secret: TICKET_SECRET.as_bytes().to_vec(),
            issuer: "https://login.fuzz".into(),
            audience: "fuzz".into(),
        }),
        issuers: Vec::new(),
        tenant_claim: "tenant_id".into(),
        leeway: std::time::Duration::from_secs(30),
        max_age: Some(std::time::Duration::from_secs(3600)),
        jwks_refresh_interval: std::time::Duration::from_secs(60),
        jwks_max_age: None,
        profile_claim: None,
    })
}

/// A rejection must be the client's fault: a 4xx with a stable code, never a 5xx.
fn assert_client_error(error: &ApiError, input: &[u8]) {
    assert!(
        error.status().is_client_error(),
        "{} ({}) for input {input:?}",
        error.status(),
        error.code()
    );
}

/// A credential is only ever a token that was in the input, with the transport it came by.
fn assert_credential(outcome: &Result<Credential, ApiError>, raw: &[u8], transport: Transport) {
    match outcome {
        Ok(credential) => {
            assert_eq!(credential.transport, transport, "input {raw:?}");
            let token = credential.token.expose_secret().as_bytes();
            assert!(
                raw.windows(token.len()).any(|w| w == token),
                "the token read is not in the input {raw:?}"
            );
        }
        Err(error) => assert_client_error(error, raw),
    }
}

/// Fuzz target `cookie_header`.
pub fn check_cookie_header(raw: &[u8]) {
    if let Some(outcome) = cookie_header(raw) {
        assert_credential(&outcome, raw, Transport::Cookie);
    }
}

/// Fuzz target `authorization_header`.
pub fn check_authorization_header(raw: &[u8]) {
    if let Some(outcome) = authorization_header(raw) {
        assert_credential(&outcome, raw, Transport::Bearer);
    }
}

/// Fuzz target `json_body`: the first line is the `Content-Type`, the rest the body.
pub fn check_json_body(input: &[u8]) {
    let (content_type, body) = match input.iter().position(|b| *b == b'\n') {
        Some(at) => (&input[..at], &input[at + 1..]),
        None => (&b"application/json"[..], input),
    };
    let Some(outcome) = json_bodies(content_type, body) else {
        return;
    };
    for result in [&outcome.create, &outcome.patch] {
        match result {
            Ok(Some(data)) => assert!(data.to_json().len() <= 1024, "data over the limit"),
            Ok(None) => {}
            Err(error) => assert_client_error(error, input),
        }
    }
}

/// Fuzz target `id_token`: no input verifies without the secret, and every refusal is a 4xx.
pub async fn check_id_token(verifier: &IdTokenVerifier, raw: &[u8]) {
    let Ok(token) = std::str::from_utf8(raw) else {
        return;
    };
    match verifier.verify(token).await {
        Ok(identity) => panic!("{token:?} verified as {identity:?} without the secret"),
        Err(error) => assert_client_error(&ApiError::from(error), raw),
    }
}
