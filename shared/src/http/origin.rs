//! Where a request comes from: CSRF defence for cookie-authenticated unsafe requests, and CORS
//! answers for the allowlisted origins.
//!
//! A browser attaches the session cookie to requests any site makes, so a POST/PATCH/DELETE
//! carrying the cookie is only accepted when its `Origin` (or, only when there is no `Origin`
//! header, its `Referer`) is the API's own origin or one of `SESSION_ALLOWED_ORIGINS`, compared
//! by scheme, host and port. The API's own origin comes from configuration
//! (`SESSION_PUBLIC_ORIGIN`) or API Gateway's request context, never from `Host`. `Origin: null`
//! is never allowed. Requests with `Authorization` carry no ambient credential and are exempt.

use lambda_http::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, COOKIE, ORIGIN, REFERER, VARY,
};
use lambda_http::http::{Extensions, HeaderMap, HeaderValue, Method};
use lambda_http::{Body, Request, Response};

use super::gateway::Gateway;

use super::ApiError;
use super::response::no_content;

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

/// Which origins may send cookie-authenticated unsafe requests, and get credentialed CORS
/// answers: the allowlist and the API's own origin. Never decided by the `Host` header, which
/// the client chooses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins {
    /// `SESSION_ALLOWED_ORIGINS`, normalized.
    pub allowed: Vec<String>,
    /// The API's own origin (`SESSION_PUBLIC_ORIGIN`). When unset: `https://` and the domain
    /// name in API Gateway's request context, where there is one.
    pub public: Option<String>,
}

impl Origins {
    /// The API's own origin for a request that came to API Gateway's `domain`: the configured
    /// one, else that domain over https. Never the client's `Host`.
    fn own(&self, domain: Option<&str>) -> Option<String> {
        if self.public.is_some() {
            return self.public.clone();
        }
        normalize(&format!("https://{}", domain?))
    }

    /// Whether `origin` (normalized: scheme, host and port) may act with the cookie on a
    /// request that came to `domain`.
    fn allow(&self, origin: &str, domain: Option<&str>) -> bool {
        self.allowed.iter().any(|a| a == origin) || self.own(domain).as_deref() == Some(origin)
    }
}

/// The API's own origin for `req`: `SESSION_PUBLIC_ORIGIN`, else `https://` and the domain name
/// API Gateway received it on; never the client's `Host`. The `iss` of the tokens it mints.
#[cfg(feature = "token-mint")]
pub(crate) fn own_origin(req: &Request, origins: &Origins) -> Option<String> {
    origins.own(domain_of(req.extensions()))
}

/// The API Gateway domain name a request came to, from its request context.
fn domain_of(extensions: &Extensions) -> Option<&str> {
    extensions.get::<Gateway>()?.domain_name.as_deref()
}

/// Where a browser says the request comes from.
enum Claimed {
    /// `Origin`, or the origin of `Referer` when there is no `Origin` header.
    Origin(String),
    /// An `Origin` that is no origin: `null` (sandboxed frames, some redirects) or garbage.
    /// It alone decides: a `Referer` beside it is not consulted.
    Opaque,
    /// Neither header.
    Nothing,
}

fn claimed_origin(headers: &HeaderMap) -> Claimed {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if headers.contains_key(ORIGIN) {
        return match header(ORIGIN).and_then(normalize) {
            Some(origin) => Claimed::Origin(origin),
            None => Claimed::Opaque,
        };
    }
    match header(REFERER).and_then(normalize) {
        Some(origin) => Claimed::Origin(origin),
        None => Claimed::Nothing,
    }
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Rejects a state-changing request that could carry the session cookie unless it comes from
/// an allowed origin. Bearer requests (no ambient credential) pass.
pub(crate) fn check_csrf(req: &Request, origins: &Origins) -> Result<(), ApiError> {
    check_csrf_in(req.method(), req.headers(), req.extensions(), origins)
}

/// [`check_csrf`] from a request's parts.
pub(crate) fn check_csrf_in(
    method: &Method,
    headers: &HeaderMap,
    extensions: &Extensions,
    origins: &Origins,
) -> Result<(), ApiError> {
    check_csrf_at(method, headers, domain_of(extensions), origins)
}

/// [`check_csrf`] for a request that came to API Gateway's `domain` (the authorizer's event
/// is not a `Request`).
pub(crate) fn check_csrf_at(
    method: &Method,
    headers: &HeaderMap,
    domain: Option<&str>,
    origins: &Origins,
) -> Result<(), ApiError> {
    if !is_unsafe(method) || headers.contains_key(AUTHORIZATION) {
        return Ok(());
    }
    match claimed_origin(headers) {
        Claimed::Origin(origin) if origins.allow(&origin, domain) => Ok(()),
        // A page of another origin (a forged form, or a login CSRF with the attacker's own
        // ticket): refused, cookies or not.
        Claimed::Origin(_) | Claimed::Opaque => Err(ApiError::csrf_rejected(
            "requests from this origin may not change anything here: it is neither the API's \
             own nor one of SESSION_ALLOWED_ORIGINS",
        )),
        // Browsers say where every unsafe request comes from; a request that says nothing and
        // carries no cookie is a server or a script (curl), with no ambient credential to abuse.
        Claimed::Nothing if !headers.contains_key(COOKIE) => Ok(()),
        Claimed::Nothing => Err(ApiError::csrf_rejected(
            "a request that carries cookies must say where it comes from: send an Origin (or \
             Referer) header",
        )),
    }
}

/// Answers a CORS preflight: 204 with the allowances for an allowed origin, 403 otherwise.
pub(crate) fn preflight(req: &Request, origins: &Origins) -> Result<Response<Body>, ApiError> {
    let requested = req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    match claimed_origin(req.headers()) {
        Claimed::Origin(origin)
            if requested && origins.allow(&origin, domain_of(req.extensions())) =>
        {
            let mut response = no_content();
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
pub(crate) fn apply_cors(req: &Request, origins: &Origins, response: &mut Response<Body>) {
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
    if !origins.allow(&origin, domain_of(req.extensions())) {
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
    use lambda_http::http::StatusCode;

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

    fn allowed() -> Origins {
        Origins {
            allowed: ALLOWED.iter().map(|s| s.to_string()).collect(),
            public: None,
        }
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
    fn unsafe_request_with_cookies_and_without_origin_or_referer_is_rejected() {
        let req = request(Method::POST, &[("cookie", "__Host-session=x")]);
        let err = check_csrf(&req, &allowed()).unwrap_err();
        assert_eq!(err.code(), "csrf_rejected");
        // A request without cookies that says nothing of its origin is no browser's: a
        // server or curl signing in with a ticket in the body.
        assert!(check_csrf(&request(Method::POST, &[]), &allowed()).is_ok());
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

    fn public(origin: &str) -> Origins {
        Origins {
            allowed: Vec::new(),
            public: Some(origin.to_owned()),
        }
    }

    #[test]
    fn the_apis_configured_own_origin_is_allowed() {
        let req = request(Method::POST, &[("origin", "http://localhost:9000")]);
        assert!(check_csrf(&req, &public("http://localhost:9000")).is_ok());
    }

    #[test]
    fn the_host_header_never_makes_an_origin_the_apis_own() {
        // Origin and Host agree, as an attacker's own request can make them, over https: a
        // Host-derived own origin would be exactly this origin.
        let req = request(
            Method::POST,
            &[("origin", "https://evil.example"), ("host", "evil.example")],
        );
        assert_eq!(
            check_csrf(&req, &Origins::default()).unwrap_err().code(),
            "csrf_rejected"
        );
        assert!(check_csrf(&req, &public("https://api.example.com")).is_err());
    }

    #[test]
    fn the_own_origin_is_compared_by_scheme_host_and_port() {
        let own = public("http://127.0.0.1:9300");
        for other in [
            "https://127.0.0.1:9300",
            "http://127.0.0.1:9301",
            "http://localhost:9300",
        ] {
            let req = request(Method::POST, &[("origin", other)]);
            assert!(check_csrf(&req, &own).is_err(), "{other}");
        }
    }

    #[test]
    fn without_configuration_the_own_origin_is_https_and_api_gateways_domain_name() {
        let mut req = request(
            Method::POST,
            &[(
                "origin",
                "https://abc123.execute-api.eu-west-1.amazonaws.com",
            )],
        );
        req.extensions_mut().insert(Gateway {
            domain_name: Some("abc123.execute-api.eu-west-1.amazonaws.com".into()),
            ..Gateway::default()
        });
        assert!(check_csrf(&req, &Origins::default()).is_ok());
        let mut plain = request(
            Method::POST,
            &[(
                "origin",
                "http://abc123.execute-api.eu-west-1.amazonaws.com",
            )],
        );
        *plain.extensions_mut() = req.extensions().clone();
        assert!(
            check_csrf(&plain, &Origins::default()).is_err(),
            "http is not the API's scheme"
        );
    }

    #[test]
    fn an_origin_header_alone_decides_even_beside_an_allowed_referer() {
        for origin in ["null", "https://evil.example", "not an origin"] {
            let req = request(
                Method::POST,
                &[
                    ("origin", origin),
                    ("referer", "https://app.example.com/account"),
                ],
            );
            assert_eq!(
                check_csrf(&req, &allowed()).unwrap_err().code(),
                "csrf_rejected",
                "{origin}"
            );
        }
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
