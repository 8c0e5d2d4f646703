//! Request parsing: the session credential (cookie or bearer, never both silently), the client
//! info API Gateway saw, and JSON bodies under a size limit. Every rejection is a 4xx
//! [`ApiError`]; nothing here touches a session.

use lambda_http::Request;
use lambda_http::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, USER_AGENT};
use lambda_http::http::{Extensions, HeaderMap};

use super::gateway::Gateway;
use serde::de::DeserializeOwned;

use super::ApiError;
use super::cookies::CookiePolicy;
use crate::domain::{ClientInfo, Presented, SessionToken, check_unique_members};

/// Largest total size of the `Cookie` headers we read (browsers cap one cookie at 4 KiB).
const MAX_COOKIE_HEADER_BYTES: usize = 8 * 1024;
/// Largest `Authorization` header we read.
const MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

pub use crate::domain::Transport;

/// A session token and how it came.
#[derive(Debug)]
pub struct Credential {
    /// The token.
    pub token: SessionToken,
    /// Cookie or bearer.
    pub transport: Transport,
}

impl Credential {
    /// The token as the session operations take it: with how it came and who sent it.
    pub fn presented<'a>(&'a self, client: &'a ClientInfo) -> Presented<'a> {
        Presented::new(&self.token, client, self.transport)
    }
}

/// The bearer value of `Authorization`, if the header is there. A header with another scheme,
/// or an oversized one, is an error: it is never silently ignored.
pub(crate) fn bearer(req: &Request) -> Result<Option<&str>, ApiError> {
    bearer_in(req.headers())
}

fn bearer_in(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    // Two header lines (REST API events keep both): which one speaks would be a guess.
    if values.next().is_some() {
        return Err(one_authorization());
    }
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(ApiError::headers_too_large(
            "the Authorization header is too large",
        ));
    }
    let text = value
        .to_str()
        .map_err(|_| ApiError::invalid_request("the Authorization header is not ASCII"))?;
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::invalid_request(
            "the Authorization header must use the Bearer scheme",
        ));
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(ApiError::invalid_request("the Bearer token is empty"));
    }
    // Two lines joined by a comma (HTTP API events join repeated headers; a bearer token,
    // RFC 6750's token68, never contains one).
    if token.contains(',') {
        return Err(one_authorization());
    }
    Ok(Some(token))
}

fn one_authorization() -> ApiError {
    ApiError::invalid_request("send one Authorization header, with one credential")
}

/// The session token of a request: `Authorization: Bearer` if present, else the session
/// cookie. Every failure is a ready answer (401 or 4xx), clearing the cookie when the cookie
/// was at fault.
pub(crate) fn session_credential(
    req: &Request,
    cookies: &CookiePolicy,
) -> Result<Credential, ApiError> {
    credential_in(req.headers(), cookies)
}

/// [`session_credential`] from bare headers (the authorizer's event is not a `Request`).
pub(crate) fn credential_in(
    headers: &HeaderMap,
    cookies: &CookiePolicy,
) -> Result<Credential, ApiError> {
    optional_credential_in(headers, cookies)?.ok_or_else(ApiError::unauthenticated)
}

/// Refuses a request that carries both the session cookie and an `Authorization` header: which
/// one speaks for the caller would be a guess, and a guess lets one credential act while the
/// other is answered (a sign-out that clears the cookie while ending the bearer's session).
pub(crate) fn check_unambiguous(
    headers: &HeaderMap,
    cookies: &CookiePolicy,
) -> Result<(), ApiError> {
    // Every request passes here once: parse the cookies only in
    // the rare case that both headers came.
    if !headers.contains_key(AUTHORIZATION) || !headers.contains_key(COOKIE) {
        return Ok(());
    }
    let has_session_cookie = !matches!(cookies.read(headers), Ok(None));
    if has_session_cookie {
        return Err(ApiError::invalid_request(
            "ambiguous credentials: send the session cookie or an Authorization header, not both",
        ));
    }
    Ok(())
}

/// The session token of a request, `None` when it carries neither `Authorization` nor the
/// session cookie (an anonymous caller, where anonymous callers are allowed). Reads only: the
/// entry point checked [`check_unambiguous`] once for the whole request (the handlers' `serve`,
/// the authorizer, the guard).
pub(crate) fn optional_credential_in(
    headers: &HeaderMap,
    cookies: &CookiePolicy,
) -> Result<Option<Credential>, ApiError> {
    if let Some(raw) = bearer_in(headers).map_err(ApiError::with_bearer_challenge)? {
        let token =
            SessionToken::parse(raw).map_err(|e| ApiError::from(e).with_bearer_challenge())?;
        return Ok(Some(Credential {
            token,
            transport: Transport::Bearer,
        }));
    }
    let cookie_bytes: usize = headers.get_all(COOKIE).iter().map(|v| v.len()).sum();
    if cookie_bytes > MAX_COOKIE_HEADER_BYTES {
        return Err(ApiError::headers_too_large(format!(
            "the Cookie header is over {MAX_COOKIE_HEADER_BYTES} bytes"
        ))
        .clearing_cookie());
    }
    let Some(raw) = cookies
        .read(headers)
        .map_err(|e| ApiError::from(e).clearing_cookie())?
    else {
        return Ok(None);
    };
    let token = SessionToken::parse(&raw).map_err(|e| ApiError::from(e).clearing_cookie())?;
    Ok(Some(Credential {
        token,
        transport: Transport::Cookie,
    }))
}

/// Source IP from the API Gateway request context (v2 or v1), and the user agent. API Gateway
/// copies the `User-Agent` header into the context; the header is read first because local
/// runtimes (`cargo lambda watch`) fill the context with their own.
pub(crate) fn client_info(req: &Request) -> ClientInfo {
    client_info_in(req.headers(), req.extensions())
}

/// [`client_info`] from a request's parts: outside Lambda (no request context) only the user
/// agent is known.
pub(crate) fn client_info_in(headers: &HeaderMap, extensions: &Extensions) -> ClientInfo {
    let header_ua = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    match extensions.get::<Gateway>() {
        Some(gateway) => ClientInfo::new(
            gateway.source_ip.as_deref(),
            header_ua.or(gateway.user_agent.as_deref()),
        ),
        None => ClientInfo::new(None, header_ua),
    }
}

/// Refuses `data` (a session's data, or a merge patch of it) that sets or removes one of the
/// `protected` top-level keys: 403 `protected_data`, naming the key.
pub(crate) fn protected_key_in(
    data: &serde_json::Value,
    protected: &[String],
) -> Result<(), ApiError> {
    let Some(object) = data.as_object() else {
        return Ok(());
    };
    match protected
        .iter()
        .find(|key| object.contains_key(key.as_str()))
    {
        Some(key) => Err(ApiError::protected_data(key)),
        None => Ok(()),
    }
}

/// The JSON body, if any: size-limited, `application/json` only, parsed into `T`.
pub(crate) fn json_body<T: DeserializeOwned>(
    req: &Request,
    max_bytes: usize,
) -> Result<Option<T>, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if bytes.len() > max_bytes {
        return Err(ApiError::payload_too_large(format!(
            "the body is {} bytes, more than the {max_bytes} allowed",
            bytes.len()
        )));
    }
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::unsupported_media_type());
    }
    // A field named twice says two things at once: refused, never resolved by the parser.
    check_unique_members(bytes).map_err(|e| ApiError::invalid_request(describe_json_error(&e)))?;
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| ApiError::invalid_request(describe_json_error(&e)))
}

/// What is wrong with a body, in the client's terms: where the JSON breaks, or which value is
/// of the wrong kind. Never serde's internals (Rust type names, "struct X with 5 elements"),
/// and never the list of accepted fields (some are for trusted callers only).
fn describe_json_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("(line {}, column {})", error.line(), error.column());
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            format!("the body is not valid JSON {at}")
        }
        Category::Data => {
            let text = error.to_string();
            // serde appends " at line L column C"; we say it our way.
            let text = text.split(" at line ").next().unwrap_or(&text);
            let (what, expected) = text.split_once(", expected ").unwrap_or((text, ""));
            let internal = [
                "struct ",
                "enum ",
                "variant",
                "elements",
                "one of",
                "field identifier",
            ]
            .iter()
            .any(|word| expected.contains(word));
            let expected = match expected {
                // Rust's names for numbers, in the client's terms.
                "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative whole number",
                "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
                "f32" | "f64" => "a number",
                other => other,
            };
            if expected.is_empty() || internal {
                format!("the body does not fit this route: {what} {at}")
            } else {
                format!("the body does not fit this route: {what}, expected {expected} {at}")
            }
        }
    }
}

/// Property tests: whatever a client sends in the cookie, `Authorization`, or body, the parsers
/// never panic, and every rejection is a 4xx with a stable code (the JSON error body).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::bodies::CreateRequest;

    fn message(body: &str) -> String {
        let error = serde_json::from_str::<CreateRequest>(body).unwrap_err();
        describe_json_error(&error)
    }

    #[test]
    fn body_errors_name_no_rust_type_and_no_accepted_field() {
        for body in [
            r#"[1, 2]"#,
            r#""text""#,
            r#"{"id_token": 5}"#,
            r#"{"surprise": true}"#,
            r#"{"token_in_body": "yes"}"#,
            r#"{"id_token": "#,
        ] {
            let message = message(body);
            for leak in [
                "struct",
                "CreateRequest",
                "elements",
                "user_id",
                "tenant_id",
                "one of",
            ] {
                assert!(!message.contains(leak), "{body} -> {message}");
            }
            assert!(message.contains("line 1, column"), "{body} -> {message}");
        }
    }

    #[test]
    fn body_errors_name_no_rust_number_type() {
        let error = serde_json::from_str::<crate::http::bodies::UpdateRequest>(
            r#"{"data": {}, "version": "18"}"#,
        )
        .unwrap_err();
        let message = describe_json_error(&error);
        assert!(!message.contains("u64"), "{message}");
        assert!(
            message.contains("expected a non-negative whole number"),
            "{message}"
        );
    }

    #[test]
    fn a_field_named_twice_is_refused_and_named() {
        let error = check_unique_members(br#"{"data": {}, "data": {"a": 1}}"#).unwrap_err();
        let message = describe_json_error(&error);
        assert!(message.contains("duplicate member `data`"), "{message}");
        assert!(message.contains("line 1, column"), "{message}");
    }

    #[test]
    fn body_errors_still_say_what_is_wrong() {
        assert!(message(r#"{"surprise": true}"#).contains("unknown field `surprise`"));
        assert!(message(r#"{"id_token": 5}"#).contains("expected a string"));
        assert!(message(r#"{"id_token": "#).starts_with("the body is not valid JSON"));
    }
}

#[cfg(test)]
mod properties {
    use lambda_http::Body;
    use proptest::prelude::*;

    use super::*;
    use crate::http::cookies::SameSite;

    fn policy() -> CookiePolicy {
        CookiePolicy::new("session", SameSite::Lax, None, true).unwrap()
    }

    /// A request with these headers. The strategies only make valid header values (what API
    /// Gateway can deliver), so no generated case is skipped.
    fn request(headers: &[(&str, &[u8])], body: &[u8]) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method("POST")
            .uri("https://api.example.com/sessions");
        for (name, value) in headers {
            let value = lambda_http::http::HeaderValue::from_bytes(value)
                .unwrap_or_else(|e| panic!("{value:?} is not a header value: {e}"));
            builder = builder.header(*name, value);
        }
        builder.body(Body::from(body.to_vec())).unwrap()
    }

    /// Any byte a header value may hold: visible ASCII, space, tab and obs-text (0x80-0xFF).
    fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![8 => 0x20u8..=0x7e, 1 => Just(b'\t'), 1 => 0x80u8..=0xff];
        prop::collection::vec(byte, 0..max)
    }

    fn assert_client_error(error: &ApiError) {
        assert!(
            error.status().is_client_error(),
            "{} for a client's input",
            error.status()
        );
        assert!(!error.code().is_empty());
    }

    /// Cookie headers built from pieces that parsers trip over: separators, quotes, prefixes,
    /// the session cookie's own name, valid-looking tokens, and arbitrary bytes.
    fn cookie_header() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just("__Host-session=".to_owned()),
            Just("session=".to_owned()),
            Just("; ".to_owned()),
            Just(";".to_owned()),
            Just("=".to_owned()),
            Just("\"".to_owned()),
            Just("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned()),
            "[ -~]{0,50}",
        ];
        prop_oneof![
            prop::collection::vec(piece, 0..12).prop_map(|p| p.concat().into_bytes()),
            header_bytes(200),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_cookie_header_gives_a_token_or_a_4xx(header in cookie_header()) {
            let req = request(&[("cookie", &header)], b"");
            match session_credential(&req, &policy()) {
                Ok(credential) => prop_assert_eq!(credential.transport, Transport::Cookie),
                Err(error) => assert_client_error(&error),
            }
        }

        #[test]
        fn any_authorization_header_gives_a_token_or_a_4xx(
            header in prop_oneof![
                "(Bearer|bearer|Basic|) ?[ -~]{0,80}".prop_map(String::into_bytes),
                header_bytes(120),
            ]
        ) {
            let req = request(&[("authorization", &header)], b"");
            if let Err(error) = bearer(&req) {
                assert_client_error(&error);
            }
            match session_credential(&req, &policy()) {
                Ok(credential) => prop_assert_eq!(credential.transport, Transport::Bearer),
                Err(error) => assert_client_error(&error),
            }
        }

        #[test]
        fn any_body_gives_a_value_or_a_4xx(
            body in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..300),
                "\\{[ -~]{0,120}\\}".prop_map(String::into_bytes),
            ],
            content_type in prop_oneof![
                Just("application/json".to_owned()),
                Just("text/plain".to_owned()),
                "[ -~]{0,30}",
            ],
        ) {
            let req = request(&[("content-type", content_type.as_bytes())], &body);
            if let Err(error) = json_body::<serde_json::Value>(&req, 256) {
                assert_client_error(&error);
            }
        }
    }
}
