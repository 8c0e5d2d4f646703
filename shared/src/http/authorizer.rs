//! The API Gateway HTTP API Lambda authorizer (REQUEST type, payload format 2.0, simple
//! responses) that lets the rest of an API use these sessions without auth code of its own.
//!
//! It reads the session cookie (or `Authorization: Bearer`) exactly like
//! `GET /sessions/current`, and answers `{"isAuthorized": true, "context": {...}}` with
//! `user_id`, `tenant_id`, `session_id`, `expires_at` and the session data keys named in
//! `SESSION_AUTHORIZER_DATA_KEYS`. Every failure (no credential, garbled, expired, revoked,
//! the store unreachable) is `isAuthorized: false`, never an error and never a panic:
//! API Gateway then answers 403 (or 401 when a configured identity source is missing).

use chrono::{SecondsFormat, Utc};
use lambda_http::Error;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use lambda_http::http::HeaderValue;
use lambda_http::http::header::{COOKIE, USER_AGENT};
use serde::Serialize;
use serde_json::{Map, Value};
use tracing::{info, instrument};

use super::request::credential_in;
use crate::app::App;
use crate::domain::{ClientInfo, Session};

/// The event API Gateway sends (payload format 2.0).
pub type AuthorizerRequest = ApiGatewayV2CustomAuthorizerV2Request;

/// Context keys the authorizer sets itself; session data may not use them.
pub const RESERVED_CONTEXT_KEYS: &[&str] = &["user_id", "tenant_id", "session_id", "expires_at"];

/// A simple response: API Gateway passes `context` to the integration as
/// `$context.authorizer.<key>` (and in `requestContext.authorizer.lambda`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerResponse {
    pub is_authorized: bool,
    pub context: Map<String, Value>,
}

impl AuthorizerResponse {
    fn deny() -> Self {
        Self {
            is_authorized: false,
            context: Map::new(),
        }
    }
}

/// Decides one request. `Ok` always: a deny is an answer, not a failure.
#[instrument(skip_all, fields(route = "authorizer", session_id))]
pub async fn handle(app: &App, request: AuthorizerRequest) -> Result<AuthorizerResponse, Error> {
    // Boxed: the validation future is deep, and the runtime's service type nests it further.
    Ok(Box::pin(decide(app, &request)).await)
}

async fn decide(app: &App, request: &AuthorizerRequest) -> AuthorizerResponse {
    // Payload 2.0 moves cookies out of the headers into `cookies`: put them back as one
    // `Cookie` header so the credential is read exactly as the session routes read it.
    let mut headers = request.headers.clone();
    headers.remove(COOKIE);
    if !request.cookies.is_empty() {
        match HeaderValue::from_str(&request.cookies.join("; ")) {
            Ok(value) => {
                headers.insert(COOKIE, value);
            }
            Err(_) => return denied("malformed_cookie"),
        }
    }
    let credential = match credential_in(&headers, &app.config.cookie) {
        Ok(credential) => credential,
        Err(error) => return denied(error.code()),
    };
    let http = &request.request_context.http;
    let header_ua = request
        .headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let client = ClientInfo::new(
        http.source_ip.as_deref(),
        header_ua.or(http.user_agent.as_deref()),
    );
    // No rotation here: the authorizer cannot hand a new cookie to the browser.
    match app
        .sessions
        .validate(&credential.token, &client, false, Utc::now())
        .await
    {
        Ok(current) => AuthorizerResponse {
            is_authorized: true,
            context: context_of(&current.session, &app.config.authorizer_data_keys),
        },
        Err(error) => denied(super::ApiError::from(error).code()),
    }
}

fn denied(reason: &str) -> AuthorizerResponse {
    info!(reason, "authorizer denied");
    AuthorizerResponse::deny()
}

/// The identity of the session, and the chosen data keys. Context values must be strings,
/// numbers or booleans: objects and arrays travel as JSON text, `null` is left out.
fn context_of(session: &Session, data_keys: &[String]) -> Map<String, Value> {
    let mut context = Map::new();
    context.insert("user_id".into(), session.user_id.as_str().into());
    context.insert(
        "tenant_id".into(),
        session.tenant_id.as_ref().map_or("", |t| t.as_str()).into(),
    );
    context.insert("session_id".into(), session.id.to_string().into());
    context.insert(
        "expires_at".into(),
        session
            .expires_at
            .min(session.absolute_expires_at)
            .to_rfc3339_opts(SecondsFormat::Millis, true)
            .into(),
    );
    for key in data_keys {
        let value = match session.data.as_map().get(key) {
            None | Some(Value::Null) => continue,
            Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => v.clone(),
            Some(other) => Value::String(other.to_string()),
        };
        context.insert(key.clone(), value);
    }
    context
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::domain::{Lifetimes, SessionData, TenantId, UserId};

    fn session(data: Value) -> Session {
        let lifetimes = Lifetimes::new(Duration::hours(8), Duration::days(7), 0.5).unwrap();
        Session::start(
            UserId::parse("alice").unwrap(),
            Some(TenantId::parse("acme").unwrap()),
            SessionData::parse(data, 4096).unwrap(),
            ClientInfo::default(),
            &lifetimes,
            Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        )
    }

    #[test]
    fn context_names_the_session_and_only_the_chosen_data_keys() {
        let s = session(serde_json::json!({"plan": "pro", "seats": 3, "secret": "x"}));
        let keys = vec!["plan".to_owned(), "seats".to_owned(), "absent".to_owned()];
        let context = context_of(&s, &keys);
        assert_eq!(context["user_id"], "alice");
        assert_eq!(context["tenant_id"], "acme");
        assert_eq!(context["session_id"], s.id.to_string());
        assert_eq!(context["plan"], "pro");
        assert_eq!(context["seats"], 3);
        assert!(!context.contains_key("secret"));
        assert!(!context.contains_key("absent"));
    }

    #[test]
    fn structured_data_values_travel_as_json_text() {
        let s = session(serde_json::json!({"roles": ["a", "b"], "gone": null}));
        let keys = vec!["roles".to_owned(), "gone".to_owned()];
        let context = context_of(&s, &keys);
        assert_eq!(context["roles"], r#"["a","b"]"#);
        assert!(!context.contains_key("gone"));
    }

    #[test]
    fn a_deny_has_an_empty_context_and_serializes_in_the_simple_format() {
        let json = serde_json::to_value(AuthorizerResponse::deny()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"isAuthorized": false, "context": {}})
        );
    }
}
