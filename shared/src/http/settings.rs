//! The HTTP layer's settings type, assembled by `config` from the `SESSION_*` variables.

use super::cookies::CookiePolicy;
use super::origin::Origins;

/// How requests are read and answered.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The session cookie: name, attributes.
    pub cookie: CookiePolicy,
    /// Origins whose cookie-authenticated unsafe requests are accepted (CSRF) and that get
    /// credentialed CORS answers: the allowlist and the API's own origin.
    pub origins: Origins,
    /// `POST /sessions` trusts `user_id` / `tenant_id` from the body of IAM-signed callers.
    pub trusted_caller: bool,
    /// `token_in_body` is allowed on requests that carry an `Origin` header (a browser's).
    pub bearer_for_browsers: bool,
    /// Top-level keys of the session data only IAM-signed callers may set or remove (the
    /// trusted-caller sign-in, the admin data route); the session holder gets 403.
    pub protected_data_keys: Vec<String>,
    /// The authorizer's routes that need a recent proof of identity: `routeKey` (`GET
    /// /orders`) to the largest age of the user's last authentication (`SESSION_FRESH_ROUTES`).
    pub fresh_routes: Vec<(String, chrono::Duration)>,
    /// The authorizer's routes that accept cookie-authenticated unsafe requests from any
    /// origin (webhooks, cross-site form posts): `routeKey`s (`SESSION_CROSS_SITE_ROUTES`).
    /// Every other unsafe route gets the service's own origin rule.
    pub cross_site_routes: Vec<String>,
    /// API Gateway routeKeys the authorizer lets guest sessions through
    /// (`SESSION_GUEST_ROUTES`); every other route is for signed-in users.
    pub guest_routes: Vec<String>,
    /// Keys of the session data the authorizer passes on in its context.
    pub authorizer_data_keys: Vec<String>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Largest session data object (as JSON).
    pub max_data_bytes: usize,
}
