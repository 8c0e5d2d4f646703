use lambda_http::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, USER_AGENT};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::de::DeserializeOwned;

use super::ApiError;
use super::cookies::CookiePolicy;
use crate::domain::{ClientInfo, SessionToken};

/// Largest total size of the `Cookie` headers we read (browsers cap one cookie at 4 KiB).
const MAX_COOKIE_HEADER_BYTES: usize = 8 * 1024;
/// Largest `Authorization` header we read.
const MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

/// How the client sent its session token; decides whether answers carry cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Cookie,
    Bearer,
}

#[derive(Debug)]
pub struct Credential {
    pub token: SessionToken,
    pub transport: Transport,
}

/// The bearer value of `Authorization`, if the header is there. A header with another scheme,
/// or an oversized one, is an error: it is never silently ignored.
pub(crate) fn bearer(req: &Request) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
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
    Ok(Some(token))
}

/// The session token of a request: `Authorization: Bearer` if present, else the session
/// cookie. Every failure is a ready answer (401 or 4xx), clearing the cookie when the cookie
/// was at fault.
pub(crate) fn session_credential(
    req: &Request,
    cookies: &CookiePolicy,
) -> Result<Credential, ApiError> {
    if let Some(raw) = bearer(req).map_err(ApiError::with_bearer_challenge)? {
        let token =
            SessionToken::parse(raw).map_err(|e| ApiError::from(e).with_bearer_challenge())?;
        return Ok(Credential {
            token,
            transport: Transport::Bearer,
        });
    }
    let cookie_bytes: usize = req.headers().get_all(COOKIE).iter().map(|v| v.len()).sum();
    if cookie_bytes > MAX_COOKIE_HEADER_BYTES {
        return Err(ApiError::headers_too_large(format!(
            "the Cookie header is over {MAX_COOKIE_HEADER_BYTES} bytes"
        ))
        .clearing_cookie());
    }
    let raw = cookies
        .read(req.headers())
        .map_err(|e| ApiError::from(e).clearing_cookie())?
        .ok_or_else(ApiError::unauthenticated)?;
    let token = SessionToken::parse(&raw).map_err(|e| ApiError::from(e).clearing_cookie())?;
    Ok(Credential {
        token,
        transport: Transport::Cookie,
    })
}

/// Source IP and user agent from the API Gateway request context (v2 or v1).
pub(crate) fn client_info(req: &Request) -> ClientInfo {
    let header_ua = req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok());
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ClientInfo::new(
            ctx.http.source_ip.as_deref(),
            ctx.http.user_agent.as_deref().or(header_ua),
        ),
        Some(RequestContext::ApiGatewayV1(ctx)) => ClientInfo::new(
            ctx.identity.source_ip.as_deref(),
            ctx.identity.user_agent.as_deref().or(header_ua),
        ),
        _ => ClientInfo::new(None, header_ua),
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
    serde_json::from_slice(bytes).map(Some).map_err(|e| {
        ApiError::invalid_request(format!("the body is not valid JSON for this route: {e}"))
    })
}
