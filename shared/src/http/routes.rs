//! The routes of the HTTP contract and how a request maps to one (404 / 405 otherwise), for
//! both API Gateway payload formats.

use lambda_http::Request;
use lambda_http::http::Method;

use super::gateway::gateway;

use super::ApiError;

/// The routes of the HTTP contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /sessions`
    Create,
    /// `POST /internal/sessions`: IAM-signed trusted callers name the user
    CreateTrusted,
    /// `GET /sessions/current`
    Validate,
    /// `POST /sessions/current/refresh`
    Refresh,
    /// `POST /sessions/current/reauth`: a fresh proof of identity for the same user
    Reauth,
    /// `DELETE /sessions/current`
    Logout,
    /// `GET /sessions`
    List,
    /// `DELETE /sessions` (`?keep_current=true`: all but this one)
    RevokeAll,
    /// `DELETE /sessions/{session_id}`
    RevokeOne,
    /// `PATCH /sessions/current`
    UpdateData,
    /// `GET /sessions/current/events`: the caller's own security history
    OwnEvents,
    /// `GET /admin/users/{user_id}/sessions`: a user's live sessions
    AdminListUser,
    /// `GET /admin/users/{user_id}/events`: a user's security history
    AdminUserEvents,
    /// `GET /admin/users/{user_id}/sessions/{session_id}`: one session of a user
    AdminGetSession,
    /// `DELETE /admin/users/{user_id}/sessions/{session_id}`: end one session of a user
    AdminRevokeSession,
    /// `DELETE /admin/users/{user_id}/sessions`
    AdminRevokeUser,
    /// `DELETE /admin/tenants/{tenant_id}/sessions`
    AdminRevokeTenant,
    /// `PATCH /admin/users/{user_id}/sessions/{session_id}`: a session's data, protected keys
    /// included
    AdminUpdateData,
    /// `POST /admin/users/{user_id}/impersonation`: a one-time ticket to sign in as the user
    AdminImpersonate,
    /// `POST /oidc/backchannel-logout`: an identity provider's logout token (OpenID Connect
    /// Back-Channel Logout); called by the provider, never by a browser
    BackchannelLogout,
    /// `POST /sessions/current/token`: the caller's session as a short-lived JWT for another
    /// service
    MintToken,
    /// `GET /.well-known/jwks.json`: the keys that verify those JWTs; public
    Jwks,
    /// `POST /sessions/guest`: a session for a visitor who has not signed in
    CreateGuest,
}

/// A route and the values of its `{...}` path segments, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The route.
    pub route: Route,
    /// Every path parameter, in order.
    pub params: Vec<String>,
}

/// A path pattern (`{}` matches one segment), the methods it accepts (for `Allow`), and each
/// method's route. Literal paths are listed before patterns that could also match them.
type RouteEntry = (&'static str, &'static str, &'static [(Method, Route)]);

const TABLE: &[RouteEntry] = &[
    (
        "/sessions",
        "POST, GET, DELETE",
        &[
            (Method::POST, Route::Create),
            (Method::GET, Route::List),
            (Method::DELETE, Route::RevokeAll),
        ],
    ),
    (
        "/sessions/guest",
        "POST",
        &[(Method::POST, Route::CreateGuest)],
    ),
    // Trusted-caller sign-in (IAM auth in the template).
    (
        "/internal/sessions",
        "POST",
        &[(Method::POST, Route::CreateTrusted)],
    ),
    (
        "/sessions/current",
        "GET, PATCH, DELETE",
        &[
            (Method::GET, Route::Validate),
            (Method::PATCH, Route::UpdateData),
            (Method::DELETE, Route::Logout),
        ],
    ),
    (
        "/sessions/current/refresh",
        "POST",
        &[(Method::POST, Route::Refresh)],
    ),
    (
        "/sessions/current/reauth",
        "POST",
        &[(Method::POST, Route::Reauth)],
    ),
    (
        "/sessions/current/token",
        "POST",
        &[(Method::POST, Route::MintToken)],
    ),
    (
        "/.well-known/jwks.json",
        "GET",
        &[(Method::GET, Route::Jwks)],
    ),
    (
        "/sessions/current/events",
        "GET",
        &[(Method::GET, Route::OwnEvents)],
    ),
    (
        "/sessions/{}",
        "DELETE",
        &[(Method::DELETE, Route::RevokeOne)],
    ),
    (
        "/admin/users/{}/sessions",
        "GET, DELETE",
        &[
            (Method::GET, Route::AdminListUser),
            (Method::DELETE, Route::AdminRevokeUser),
        ],
    ),
    (
        "/admin/users/{}/events",
        "GET",
        &[(Method::GET, Route::AdminUserEvents)],
    ),
    (
        "/oidc/backchannel-logout",
        "POST",
        &[(Method::POST, Route::BackchannelLogout)],
    ),
    (
        "/admin/users/{}/impersonation",
        "POST",
        &[(Method::POST, Route::AdminImpersonate)],
    ),
    (
        "/admin/tenants/{}/sessions",
        "DELETE",
        &[(Method::DELETE, Route::AdminRevokeTenant)],
    ),
    (
        "/admin/users/{}/sessions/{}",
        "GET, PATCH, DELETE",
        &[
            (Method::GET, Route::AdminGetSession),
            (Method::PATCH, Route::AdminUpdateData),
            (Method::DELETE, Route::AdminRevokeSession),
        ],
    ),
];

/// The values of the `{}` segments when `path` matches `pattern` (none for a literal match),
/// `None` when it does not match.
fn match_pattern(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut params = Vec::new();
    let mut pattern_segments = pattern.split('/');
    let mut path_segments = path.split('/');
    loop {
        match (pattern_segments.next(), path_segments.next()) {
            (None, None) => return Some(params),
            (Some("{}"), Some(value)) if !value.is_empty() => {
                params.push(percent_decoded(value)?);
            }
            (Some(p), Some(v)) if p == v => {}
            _ => return None,
        }
    }
}

/// `%XX` escapes decoded (API Gateway passes the raw path); `None` for a malformed escape or
/// a result that is not UTF-8.
fn percent_decoded(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Route {
    /// Every route of the contract: what the template serves (besides the example route) and
    /// what docs/openapi.yaml documents, each checked against this list by the tests.
    pub const ALL: [Route; 23] = [
        Route::Create,
        Route::CreateTrusted,
        Route::Validate,
        Route::Refresh,
        Route::Reauth,
        Route::Logout,
        Route::List,
        Route::RevokeAll,
        Route::RevokeOne,
        Route::UpdateData,
        Route::OwnEvents,
        Route::AdminListUser,
        Route::AdminUserEvents,
        Route::AdminGetSession,
        Route::AdminRevokeSession,
        Route::AdminRevokeUser,
        Route::AdminRevokeTenant,
        Route::AdminUpdateData,
        Route::AdminImpersonate,
        Route::BackchannelLogout,
        Route::MintToken,
        Route::Jwks,
        Route::CreateGuest,
    ];

    /// The route as API Gateway names it (`routeKey`: method and path pattern).
    pub fn key(self) -> &'static str {
        match self {
            Route::Create => "POST /sessions",
            Route::CreateTrusted => "POST /internal/sessions",
            Route::Validate => "GET /sessions/current",
            Route::Refresh => "POST /sessions/current/refresh",
            Route::Reauth => "POST /sessions/current/reauth",
            Route::Logout => "DELETE /sessions/current",
            Route::List => "GET /sessions",
            Route::RevokeAll => "DELETE /sessions",
            Route::RevokeOne => "DELETE /sessions/{session_id}",
            Route::UpdateData => "PATCH /sessions/current",
            Route::OwnEvents => "GET /sessions/current/events",
            Route::AdminListUser => "GET /admin/users/{user_id}/sessions",
            Route::AdminUserEvents => "GET /admin/users/{user_id}/events",
            Route::AdminGetSession => "GET /admin/users/{user_id}/sessions/{session_id}",
            Route::AdminRevokeSession => "DELETE /admin/users/{user_id}/sessions/{session_id}",
            Route::AdminRevokeUser => "DELETE /admin/users/{user_id}/sessions",
            Route::AdminRevokeTenant => "DELETE /admin/tenants/{tenant_id}/sessions",
            Route::AdminUpdateData => "PATCH /admin/users/{user_id}/sessions/{session_id}",
            Route::AdminImpersonate => "POST /admin/users/{user_id}/impersonation",
            Route::BackchannelLogout => "POST /oidc/backchannel-logout",
            Route::MintToken => "POST /sessions/current/token",
            Route::Jwks => "GET /.well-known/jwks.json",
            Route::CreateGuest => "POST /sessions/guest",
        }
    }

    /// The function that serves the route (its binary, in the template and the local router).
    pub fn function(self) -> &'static str {
        match self {
            Route::Create
            | Route::CreateTrusted
            | Route::CreateGuest
            | Route::Reauth
            | Route::BackchannelLogout => "session-create",
            Route::Validate => "session-validate",
            Route::Refresh => "session-refresh",
            Route::Logout => "session-logout",
            Route::List
            | Route::RevokeAll
            | Route::RevokeOne
            | Route::UpdateData
            | Route::OwnEvents => "session-manage",
            Route::AdminRevokeUser
            | Route::AdminRevokeTenant
            | Route::AdminUpdateData
            | Route::AdminListUser
            | Route::AdminUserEvents
            | Route::AdminGetSession
            | Route::AdminRevokeSession
            | Route::AdminImpersonate => "session-admin",
            Route::MintToken | Route::Jwks => "session-token",
        }
    }

    /// Whether a guest session may call the route: it may use and end itself, keep its data,
    /// and sign in; what concerns a user (their devices, history, identity, tokens for other
    /// services) is 403 `guest_forbidden`.
    pub fn admits_guests(self) -> bool {
        matches!(
            self,
            Route::Create
                | Route::CreateGuest
                | Route::Validate
                | Route::Refresh
                | Route::Logout
                | Route::UpdateData
        )
    }

    /// Whether browsers call the route, so that the CSRF origin rule applies: not the identity
    /// provider's back-channel logout (a server's form post, authenticated by its signed
    /// token, carrying no cookie).
    pub fn is_called_by_browsers(self) -> bool {
        self != Route::BackchannelLogout
    }

    /// Which route a request is for: 404 for an unknown path, 405 (with `Allow`) for a known
    /// path and a method it does not accept.
    pub fn of(req: &Request) -> Result<Route, ApiError> {
        Self::matched(req).map(|m| m.route)
    }

    /// Like [`Route::of`], with the value of the route's path parameter.
    pub fn matched(req: &Request) -> Result<Matched, ApiError> {
        let path = route_path(req);
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        let (params, allow, methods) = TABLE
            .iter()
            .find_map(|(pattern, allow, methods)| {
                match_pattern(pattern, path).map(|params| (params, *allow, *methods))
            })
            .ok_or_else(ApiError::not_found)?;
        methods
            .iter()
            .find(|(m, _)| m == req.method())
            .map(|(_, route)| Matched {
                route: *route,
                params,
            })
            .ok_or_else(|| ApiError::method_not_allowed(allow))
    }
}

/// The request path without an API Gateway stage prefix (`/prod/sessions` → `/sessions`).
fn route_path(req: &Request) -> &str {
    let gateway = gateway(req);
    let raw = if gateway.raw_path.is_empty() {
        req.uri().path()
    } else {
        &gateway.raw_path
    };
    if let Some(stage) = gateway.stage.as_deref().filter(|s| *s != "$default")
        && let Some(rest) = raw
            .strip_prefix('/')
            .and_then(|r| r.strip_prefix(stage))
            .filter(|rest| rest.starts_with('/'))
    {
        return rest;
    }
    raw
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
    fn every_route_key_leads_back_to_its_route() {
        for route in Route::ALL {
            let (method, pattern) = route.key().split_once(' ').unwrap();
            let path = pattern
                .split('/')
                .map(|s| if s.starts_with('{') { "x1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            assert_eq!(
                Route::of(&request(method, &path)).unwrap(),
                route,
                "{}",
                route.key()
            );
        }
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
    fn a_path_parameter_is_captured_and_decoded() {
        let m = Route::matched(&request(
            Method::DELETE,
            "/admin/users/alice%40example.com/sessions",
        ))
        .unwrap();
        assert_eq!(m.route, Route::AdminRevokeUser);
        assert_eq!(
            m.params.last().map(String::as_str),
            Some("alice@example.com")
        );
        let m = Route::matched(&request(Method::DELETE, "/sessions/abc")).unwrap();
        assert_eq!(
            (m.route, m.params.last().map(String::as_str)),
            (Route::RevokeOne, Some("abc"))
        );
    }

    #[test]
    fn the_literal_current_path_wins_over_the_session_id_pattern() {
        let m = Route::matched(&request(Method::DELETE, "/sessions/current")).unwrap();
        assert_eq!((m.route, m.params.last()), (Route::Logout, None));
        let err = Route::of(&request(Method::GET, "/sessions/abc")).unwrap_err();
        assert_eq!(err.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn a_malformed_escape_or_an_extra_segment_is_404() {
        let err = Route::of(&request(Method::DELETE, "/admin/users/%zz/sessions")).unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        let err = Route::of(&request(Method::DELETE, "/sessions/a/b")).unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
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
