//! Where a request comes from: CSRF defence for cookie-authenticated unsafe requests, and CORS
//! answers for the allowlisted origins.
//!
//! A browser attaches the session cookie to requests any site makes, so a POST/PATCH/DELETE
//! carrying the cookie is only accepted when its `Origin` (or, lacking one, its `Referer`) is the
//! API's own origin or one of `SESSION_ALLOWED_ORIGINS`. Requests with `Authorization: Bearer`
//! carry no ambient credential and are exempt.

use lambda_http::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, HOST, ORIGIN, REFERER, VARY,
};
use lambda_http::http::{HeaderMap, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};

use super::ApiError;

/// Methods the API serves, for CORS preflight answers.
pub const ALLOWED_METHODS: &str = "GET, POST, PATCH, DELETE";
/// Request headers a frontend may send cross-origin.
pub const ALLOWED_HEADERS: &str = "content-type, authorization, if-match";
/// Response headers a frontend may read cross-origin.
pub const EXPOSED_HEADERS: &str = "etag, location, retry-after, www-authenticate";
/// How long browsers may cache a preflight answer, in seconds.
pub const PREFLIGHT_MAX_AGE: u32 = 600;

/// `scheme://host[:port]` in lowercase, from an origin or a URL (path, query and a trailing
/// slash dropped). `None` for anything that is not an http(s) origin.
pub fn normalize(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let (scheme, rest) = raw.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    let valid = !authority.is_empty()
        && !authority.contains('@')
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    valid.then(|| format!("{scheme}://{authority}"))
}

/// The origin a browser says the request comes from: `Origin`, else the origin of `Referer`.
/// `Origin: null` (sandboxed frames, some redirects) counts as no origin.
fn request_origin(headers: &HeaderMap) -> Option<String> {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    match header(ORIGIN) {
        Some(origin) if origin != "null" => normalize(origin),
        _ => header(REFERER).and_then(normalize),
    }
}

/// Whether `origin` is the API's own (same host and port as the request's `Host`).
fn is_same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host.trim()))
}

fn is_allowed(origin: &str, headers: &HeaderMap, allowed: &[String]) -> bool {
    allowed.iter().any(|a| a == origin) || is_same_origin(origin, headers)
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Rejects a state-changing request that could carry the session cookie unless it comes from
/// an allowed origin. Bearer requests (no ambient credential) pass.
pub(crate) fn check_csrf(req: &Request, allowed: &[String]) -> Result<(), ApiError> {
    check_csrf_in(req.method(), req.headers(), allowed)
}

/// [`check_csrf`] from a request's method and headers.
pub(crate) fn check_csrf_in(
    method: &Method,
    headers: &HeaderMap,
    allowed: &[String],
) -> Result<(), ApiError> {
    if !is_unsafe(method) || headers.contains_key(AUTHORIZATION) {
        return Ok(());
    }
    match request_origin(headers) {
        Some(origin) if is_allowed(&origin, headers, allowed) => Ok(()),
        Some(_) => Err(ApiError::csrf_rejected(
            "this origin may not send cookie-authenticated requests to this API",
        )),
        None => Err(ApiError::csrf_rejected(
            "a cookie-authenticated request must carry an Origin (or Referer) header",
        )),
    }
}

/// Answers a CORS preflight: 204 with the allowances for an allowed origin, 403 otherwise.
pub(crate) fn preflight(req: &Request, allowed: &[String]) -> Result<Response<Body>, ApiError> {
    let origin = request_origin(req.headers());
    let requested = req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    match origin {
        Some(origin) if requested && is_allowed(&origin, req.headers(), allowed) => {
            let mut response = Response::builder()
                .status(StatusCode::NO_CONTENT)
                .body(Body::Empty)
                .unwrap_or_default();
            let headers = response.headers_mut();
            headers.insert(
                ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOWED_METHODS),
            );
            headers.insert(
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            );
            headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(PREFLIGHT_MAX_AGE));
            Ok(response)
        }
        _ if !requested => Err(ApiError::method_not_allowed(ALLOWED_METHODS)),
        _ => Err(ApiError::origin_not_allowed()),
    }
}

/// Adds the credentialed CORS headers to a response when the request's `Origin` is allowed.
/// Always `Vary: Origin`, so caches never hand one origin's answer to another.
pub(crate) fn apply_cors(req: &Request, allowed: &[String], response: &mut Response<Body>) {
    let headers = response.headers_mut();
    headers.append(VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = req
        .headers()
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .and_then(normalize)
    else {
        return;
    };
    if !is_allowed(&origin, req.headers(), allowed) {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&origin) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, headers: &[(&str, &str)]) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method(method)
            .uri("https://api.example.com/sessions/current");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(Body::Empty).unwrap()
    }

    const ALLOWED: &[&str] = &["https://app.example.com"];

    fn allowed() -> Vec<String> {
        ALLOWED.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn origins_are_normalised_and_non_origins_refused() {
        assert_eq!(
            normalize("HTTPS://App.Example.com/"),
            Some("https://app.example.com".into())
        );
        assert_eq!(
            normalize("http://localhost:9001/demo?x=1"),
            Some("http://localhost:9001".into())
        );
        for bad in [
            "app.example.com",
            "ftp://x",
            "https://",
            "https://user@evil.com",
            "null",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }

    #[test]
    fn unsafe_cookie_request_from_an_allowed_origin_passes() {
        let req = request(Method::POST, &[("origin", "https://app.example.com")]);
        assert!(check_csrf(&req, &allowed()).is_ok());
    }

    #[test]
    fn unsafe_cookie_request_from_another_origin_is_rejected() {
        let req = request(Method::DELETE, &[("origin", "https://evil.example")]);
        let err = check_csrf(&req, &allowed()).unwrap_err();
        assert_eq!(
            (err.status(), err.code()),
            (StatusCode::FORBIDDEN, "csrf_rejected")
        );
    }

    #[test]
    fn unsafe_request_without_origin_or_referer_is_rejected() {
        let req = request(Method::POST, &[]);
        assert_eq!(
            check_csrf(&req, &allowed()).unwrap_err().code(),
            "csrf_rejected"
        );
        let null = request(Method::POST, &[("origin", "null")]);
        assert_eq!(
            check_csrf(&null, &allowed()).unwrap_err().code(),
            "csrf_rejected"
        );
    }

    #[test]
    fn referer_stands_in_for_a_missing_origin() {
        let ok = request(
            Method::POST,
            &[("referer", "https://app.example.com/account")],
        );
        assert!(check_csrf(&ok, &allowed()).is_ok());
        let bad = request(Method::POST, &[("referer", "https://evil.example/x")]);
        assert!(check_csrf(&bad, &allowed()).is_err());
    }

    #[test]
    fn the_apis_own_origin_is_always_allowed() {
        let req = request(
            Method::POST,
            &[
                ("origin", "http://localhost:9000"),
                ("host", "localhost:9000"),
            ],
        );
        assert!(check_csrf(&req, &[]).is_ok());
    }

    #[test]
    fn bearer_requests_and_safe_methods_are_exempt() {
        let bearer = request(
            Method::POST,
            &[
                ("origin", "https://evil.example"),
                ("authorization", "Bearer x"),
            ],
        );
        assert!(check_csrf(&bearer, &allowed()).is_ok());
        let get = request(Method::GET, &[("origin", "https://evil.example")]);
        assert!(check_csrf(&get, &allowed()).is_ok());
    }

    #[test]
    fn cors_headers_name_only_an_allowed_origin_with_credentials() {
        let req = request(Method::GET, &[("origin", "https://app.example.com")]);
        let mut response = Response::new(Body::Empty);
        apply_cors(&req, &allowed(), &mut response);
        let h = response.headers();
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(h[VARY], "Origin");

        let other = request(Method::GET, &[("origin", "https://evil.example")]);
        let mut response = Response::new(Body::Empty);
        apply_cors(&other, &allowed(), &mut response);
        assert!(!response.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    }

    #[test]
    fn preflight_passes_for_an_allowed_origin_and_fails_for_another() {
        let ok = request(
            Method::OPTIONS,
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "DELETE"),
            ],
        );
        let response = preflight(&ok, &allowed()).unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            response.headers()[ACCESS_CONTROL_ALLOW_METHODS],
            "GET, POST, PATCH, DELETE"
        );

        let bad = request(
            Method::OPTIONS,
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "DELETE"),
            ],
        );
        assert_eq!(
            preflight(&bad, &allowed()).unwrap_err().status(),
            StatusCode::FORBIDDEN
        );
    }
}
