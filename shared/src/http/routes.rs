use lambda_http::http::Method;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use super::ApiError;

/// The routes of the HTTP contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /sessions` (and `POST /internal/sessions` for IAM-signed trusted callers)
    Create,
    /// `GET /sessions/current`
    Validate,
    /// `POST /sessions/current/refresh`
    Refresh,
    /// `DELETE /sessions/current`
    Logout,
}

/// A path, the methods it accepts (for `Allow`), and each method's route.
type RouteEntry = (&'static str, &'static str, &'static [(Method, Route)]);

const TABLE: &[RouteEntry] = &[
    ("/sessions", "POST", &[(Method::POST, Route::Create)]),
    // Trusted-caller sign-in (IAM auth in the template).
    (
        "/internal/sessions",
        "POST",
        &[(Method::POST, Route::Create)],
    ),
    (
        "/sessions/current",
        "GET, DELETE",
        &[
            (Method::GET, Route::Validate),
            (Method::DELETE, Route::Logout),
        ],
    ),
    (
        "/sessions/current/refresh",
        "POST",
        &[(Method::POST, Route::Refresh)],
    ),
];

impl Route {
    /// Which route a request is for: 404 for an unknown path, 405 (with `Allow`) for a known
    /// path and a method it does not accept.
    pub fn of(req: &Request) -> Result<Route, ApiError> {
        let path = route_path(req);
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(&path);
        let (_, allow, methods) = TABLE
            .iter()
            .find(|(p, _, _)| *p == path)
            .ok_or_else(ApiError::not_found)?;
        methods
            .iter()
            .find(|(m, _)| m == req.method())
            .map(|(_, route)| *route)
            .ok_or_else(|| ApiError::method_not_allowed(allow))
    }
}

/// The request path without an API Gateway stage prefix (`/prod/sessions` → `/sessions`).
fn route_path(req: &Request) -> String {
    let raw = req.raw_http_path();
    let raw = if raw.is_empty() {
        req.uri().path()
    } else {
        raw
    };
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.clone(),
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    if let Some(stage) = stage.filter(|s| s != "$default") {
        let prefix = format!("/{stage}");
        if let Some(rest) = raw.strip_prefix(&prefix)
            && rest.starts_with('/')
        {
            return rest.to_owned();
        }
    }
    raw.to_owned()
}

#[cfg(test)]
mod tests {
    use lambda_http::http::StatusCode;

    use super::*;

    fn request(method: Method, path: &str) -> Request {
        let mut req = Request::default();
        *req.method_mut() = method;
        *req.uri_mut() = path.parse().unwrap();
        req
    }

    #[test]
    fn each_contract_route_is_recognised() {
        assert_eq!(
            Route::of(&request(Method::POST, "/sessions")).unwrap(),
            Route::Create
        );
        assert_eq!(
            Route::of(&request(Method::GET, "/sessions/current")).unwrap(),
            Route::Validate
        );
        assert_eq!(
            Route::of(&request(Method::POST, "/sessions/current/refresh/")).unwrap(),
            Route::Refresh
        );
        assert_eq!(
            Route::of(&request(Method::DELETE, "/sessions/current")).unwrap(),
            Route::Logout
        );
    }

    #[test]
    fn unknown_path_is_404() {
        let err = Route::of(&request(Method::GET, "/nope")).unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn wrong_method_is_405() {
        let err = Route::of(&request(Method::PUT, "/sessions/current")).unwrap_err();
        assert_eq!(err.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(err.code(), "method_not_allowed");
    }
}
