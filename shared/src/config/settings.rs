//! The table of every setting: its variable, its documented default and its meaning. The
//! README's configuration table and `template.yaml` list the same variables (tests check the
//! template and its parameter defaults against this).

/// One row of the configuration table: the variable, its default, what it means.
pub struct Setting {
    /// The environment variable.
    pub name: &'static str,
    /// Its documented default (`None`: unset unless given).
    pub default: Option<&'static str>,
    /// What it means, for the README.
    pub meaning: &'static str,
}

impl Setting {
    /// Read only by the functions that verify identity tokens (`AUTH_*`).
    pub fn is_identity(&self) -> bool {
        self.name.starts_with("AUTH_")
    }

    /// Read only by `session-token` (`SESSION_TOKEN_*`).
    pub fn is_tokens(&self) -> bool {
        self.name.starts_with("SESSION_TOKEN_")
    }

    /// Read only by `session-events` and `session-webhooks` (`SESSION_WEBHOOK_*`,
    /// `SESSION_EVENT_BUS`, `SESSION_EVENTS_*`).
    pub fn is_events(&self) -> bool {
        self.name.starts_with("SESSION_WEBHOOK_") || self.name.starts_with("SESSION_EVENT")
    }
}

/// Every variable the functions read. The README table and `template.yaml` list the same ones
/// (a test checks the template).
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "SESSION_TABLE_NAME",
        default: Some("sessions"),
        meaning: "DynamoDB table holding sessions",
    },
    Setting {
        name: "SESSION_IDLE_TIMEOUT",
        default: Some("8h"),
        meaning: "idle deadline: a session unused this long expires",
    },
    Setting {
        name: "SESSION_ABSOLUTE_TIMEOUT",
        default: Some("7d"),
        meaning: "absolute deadline from sign-in; nothing extends past it",
    },
    Setting {
        name: "SESSION_SLIDING_THRESHOLD",
        default: Some("0.5"),
        meaning: "share of the idle window that must pass before validate extends it",
    },
    Setting {
        name: "SESSION_TTL_MARGIN",
        default: Some("1d"),
        meaning: "kept past the last deadline before DynamoDB TTL may delete the item",
    },
    Setting {
        name: "SESSION_ROTATION_GRACE",
        default: Some("30s"),
        meaning: "how long a rotated token still resolves to its successor; after it, a replay",
    },
    Setting {
        name: "SESSION_ROTATE_AFTER",
        default: Some("1h"),
        meaning: "renewal interval: validate rotates a cookie session's token this old (off: never)",
    },
    Setting {
        name: "SESSION_PROFILES",
        default: None,
        meaning: "lifetime profiles a sign-in may name: JSON, e.g. {\"remember\": {\"idle\": \"30d\", \"absolute\": \"90d\"}} (also rotate_after, persistent); default = the settings above",
    },
    Setting {
        name: "SESSION_USER_AGENT_CHANGE",
        default: Some("log"),
        meaning: "log (record an anomaly event) or reject (revoke) when the user agent changes",
    },
    Setting {
        name: "SESSION_IP_CHANGE",
        default: Some("log"),
        meaning: "log (record an ip_changed event) or reject (revoke) when the client IP changes",
    },
    Setting {
        name: "SESSION_CLIENT_EVENT_INTERVAL",
        default: Some("1h"),
        meaning: "record a session's user-agent and IP changes at most once per interval (0s: every change)",
    },
    Setting {
        name: "SESSION_SINGLE_USE_TICKETS",
        default: Some("true"),
        meaning: "an identity token signs in once (its jti, or its hash, is recorded until it expires)",
    },
    Setting {
        name: "SESSION_BEARER_FOR_BROWSERS",
        default: Some("false"),
        meaning: "allow token_in_body on requests with an Origin header (browsers get the HttpOnly cookie)",
    },
    Setting {
        name: "SESSION_PROTECTED_DATA_KEYS",
        default: None,
        meaning: "comma-separated data keys only IAM-signed callers may set (every authorizer data key must be one)",
    },
    Setting {
        name: "SESSION_FRESH_ROUTES",
        default: None,
        meaning: "JSON map of API Gateway routeKey to the largest age of the last authentication the authorizer lets through, e.g. {\"POST /payments\": \"5m\"}",
    },
    Setting {
        name: "SESSION_CROSS_SITE_ROUTES",
        default: None,
        meaning: "comma-separated API Gateway routeKeys whose cookie-authenticated POST/PUT/PATCH/DELETE the authorizer lets through from any origin (webhooks); every other unsafe route must come from the API's origin or SESSION_ALLOWED_ORIGINS",
    },
    Setting {
        name: "SESSION_GUEST_ROUTES",
        default: None,
        meaning: "comma-separated API Gateway routeKeys the authorizer lets guest sessions through (a cart, a form); every other route it guards is for signed-in users only",
    },
    Setting {
        name: "SESSION_MAX_PER_USER",
        default: Some("20"),
        meaning: "most concurrent sessions per user, evicting the least recently used (0: no cap)",
    },
    Setting {
        name: "SESSION_GUEST_LIMIT",
        default: Some("100/1h"),
        meaning: "most guest sessions one client (IPv4 address, IPv6 /64) may start per window, as <count>/<window>; past it POST /sessions/guest answers 429 (0/1h: no guest sessions)",
    },
    Setting {
        name: "SESSION_AUDIT_RETENTION",
        default: Some("90d"),
        meaning: "how long lifecycle events are kept in the table (off: logged only)",
    },
    Setting {
        name: "SESSION_ALLOWED_ORIGINS",
        default: None,
        meaning: "comma-separated origins allowed to send cookie-authenticated POST/PATCH/DELETE, and CORS",
    },
    Setting {
        name: "SESSION_PUBLIC_ORIGIN",
        default: None,
        meaning: "the API's own origin (scheme, host, port); unset: https:// and API Gateway's domain name",
    },
    Setting {
        name: "SESSION_TRUSTED_CALLER",
        default: Some("false"),
        meaning: "create takes user_id/tenant_id from IAM-signed callers instead of an ID token",
    },
    Setting {
        name: "SESSION_AUTHORIZER_DATA_KEYS",
        default: None,
        meaning: "comma-separated session data keys the authorizer adds to its context",
    },
    Setting {
        name: "SESSION_COOKIE_NAME",
        default: Some("session"),
        meaning: "cookie base name; prefixed __Host- (or __Secure- with a domain)",
    },
    Setting {
        name: "SESSION_COOKIE_SAMESITE",
        default: Some("Lax"),
        meaning: "Strict, Lax or None",
    },
    Setting {
        name: "SESSION_COOKIE_DOMAIN",
        default: None,
        meaning: "optional cookie Domain; switches the prefix to __Secure-",
    },
    Setting {
        name: "SESSION_COOKIE_SECURE",
        default: Some("true"),
        meaning: "Secure attribute; false drops the prefix and forbids SameSite=None",
    },
    Setting {
        name: "SESSION_MAX_BODY_BYTES",
        default: Some("16384"),
        meaning: "largest request body accepted",
    },
    Setting {
        name: "SESSION_MAX_DATA_BYTES",
        default: Some("8192"),
        meaning: "largest session data object (as JSON)",
    },
    Setting {
        name: "AUTH_JWT_HS256_SECRET",
        default: None,
        meaning: "shared secret (>= 32 bytes) verifying HS256 login tickets; this or AUTH_ISSUERS",
    },
    Setting {
        name: "AUTH_JWT_HS256_SECRET_ARN",
        default: None,
        meaning: "AWS Secrets Manager secret holding the HS256 secret, read once at cold start (the template's way; AUTH_JWT_HS256_SECRET stays for local runs)",
    },
    Setting {
        name: "AUTH_JWT_ISSUER",
        default: None,
        meaning: "expected iss of HS256 login tickets (required with the secret)",
    },
    Setting {
        name: "AUTH_JWT_AUDIENCE",
        default: None,
        meaning: "expected aud of HS256 login tickets (required with the secret)",
    },
    Setting {
        name: "AUTH_ISSUERS",
        default: None,
        meaning: "JSON array of RS256/ES256 issuers: issuer, audience, one of jwks_url/jwks_file/jwks",
    },
    Setting {
        name: "AUTH_MAX_TOKEN_AGE",
        default: Some("1h"),
        meaning: "identity tokens issued (iat) longer ago are refused (off: no limit)",
    },
    Setting {
        name: "AUTH_JWKS_REFRESH_INTERVAL",
        default: Some("60s"),
        meaning: "least time between two JWKS fetches for an unknown kid",
    },
    Setting {
        name: "AUTH_PROFILE_CLAIM",
        default: None,
        meaning: "identity-token claim listing the lifetime profiles the user may use (unset: any)",
    },
    Setting {
        name: "AUTH_JWT_TENANT_CLAIM",
        default: Some("tenant_id"),
        meaning: "claim whose value becomes the session's tenant_id",
    },
    Setting {
        name: "AUTH_JWT_LEEWAY",
        default: Some("30s"),
        meaning: "clock skew allowed on exp / nbf",
    },
    Setting {
        name: "SESSION_WEBHOOK_URL",
        default: None,
        meaning: "where lifecycle events are posted, signed per Standard Webhooks (unset: no webhooks)",
    },
    Setting {
        name: "SESSION_WEBHOOK_QUEUE_URL",
        default: None,
        meaning: "the webhook delivery queue (SQS FIFO): session-events queues each webhook there, session-webhooks sends it (required with the URL; the template creates it)",
    },
    Setting {
        name: "SESSION_WEBHOOK_FAILURE_QUEUE_URL",
        default: None,
        meaning: "where webhooks still failing past the retry schedule go, whole, for make replay-webhooks (the template creates it)",
    },
    Setting {
        name: "SESSION_WEBHOOK_SECRET",
        default: None,
        meaning: "the webhooks' whsec_ signing secret, for local runs (the template reads it by its ARN)",
    },
    Setting {
        name: "SESSION_WEBHOOK_SECRET_ARN",
        default: None,
        meaning: "the same secret, read from AWS Secrets Manager once at cold start by session-webhooks alone",
    },
    Setting {
        name: "SESSION_WEBHOOK_TIMEOUT",
        default: Some("5s"),
        meaning: "budget of one webhook request",
    },
    Setting {
        name: "SESSION_WEBHOOK_RETRY_SCHEDULE",
        default: Some("5s,5m,30m,2h,5h,10h,10h"),
        meaning: "the waits between attempts at a webhook that fails (each at most 12h); past their sum (the horizon, about 27h by default, counted from the event) it goes to the failure queue",
    },
    Setting {
        name: "SESSION_EVENT_BUS",
        default: None,
        meaning: "the EventBridge bus (name) session-events puts lifecycle events on, source session-service (unset: none)",
    },
    Setting {
        name: "SESSION_EVENTS_EXTENDED",
        default: Some("false"),
        meaning: "also send session.extended on every sliding validate",
    },
    Setting {
        name: "SESSION_TOKEN_KEYS",
        default: None,
        meaning: "session tokens for other services: the AWS KMS keys (ECC_NIST_P256, SIGN_VERIFY; ids, ARNs or aliases, comma-separated) - the first signs, every one is published in the JWKS (the template gives its own key)",
    },
    Setting {
        name: "SESSION_TOKEN_AUDIENCES",
        default: None,
        meaning: "the audiences a session token may be minted for: JSON, e.g. {\"orders-api\": {\"lifetime\": \"5m\", \"data\": [\"plan\"]}} (lifetime 10s to 1h, default 5m; data: the session data keys it carries) - unset: none, every mint is 400",
    },
    Setting {
        name: "SESSION_METRICS_NAMESPACE",
        default: Some("SessionService"),
        meaning: "the CloudWatch namespace of the business metrics every function prints as Embedded Metric Format (the template gives SessionService/<stack name>)",
    },
    Setting {
        name: "STORE_OPERATION_TIMEOUT",
        default: Some("3s"),
        meaning: "budget for one DynamoDB call, retries included",
    },
    Setting {
        name: "STORE_ATTEMPT_TIMEOUT",
        default: Some("1s"),
        meaning: "budget for one attempt of a DynamoDB call",
    },
    Setting {
        name: "STORE_MAX_ATTEMPTS",
        default: Some("3"),
        meaning: "attempts per DynamoDB call (retries use jittered backoff)",
    },
];
