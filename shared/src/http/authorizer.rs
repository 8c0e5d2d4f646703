//! What the Lambda authorizer answers API Gateway: the request and response types (payload
//! format 2.0, simple responses) and the context built from a session. The decision itself is
//! `handlers::authorizer`.
//!
//! An allowed request gets `{"isAuthorized": true, "context": {...}}` with
//! `user_id`, `tenant_id`, `session_id`, `expires_at`, `authenticated_at`, `amr`, `acr`,
//! `profile`, `actor`, `guest` and the session data keys named in
//! `SESSION_AUTHORIZER_DATA_KEYS`.

use chrono::SecondsFormat;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::Session;

/// The event API Gateway sends (payload format 2.0).
pub type AuthorizerRequest = ApiGatewayV2CustomAuthorizerV2Request;

/// Context keys the authorizer sets itself; session data may not use them.
pub const RESERVED_CONTEXT_KEYS: &[&str] = &[
    "user_id",
    "tenant_id",
    "session_id",
    "expires_at",
    "authenticated_at",
    "amr",
    "acr",
    "profile",
    "actor",
    "guest",
];

/// A simple response: API Gateway passes `context` to the integration as
/// `$context.authorizer.<key>` (and in `requestContext.authorizer.lambda`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerResponse {
    /// Whether API Gateway lets the request through.
    pub is_authorized: bool,
    /// What the integration receives about the caller.
    pub context: Map<String, Value>,
}

impl AuthorizerResponse {
    pub(crate) fn deny() -> Self {
        Self {
            is_authorized: false,
            context: Map::new(),
        }
    }
}

/// The identity of the session, and the chosen data keys. Context values must be strings,
/// numbers or booleans: objects and arrays travel as JSON text, `null` is left out.
pub(crate) fn context_of(session: &Session, data_keys: &[String]) -> Map<String, Value> {
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
            .deadline()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
            .into(),
    );
    let authentication = &session.authentication;
    context.insert(
        "authenticated_at".into(),
        authentication
            .at
            .to_rfc3339_opts(SecondsFormat::Millis, true)
            .into(),
    );
    // Context values are strings, numbers or booleans: the list travels as JSON text.
    context.insert(
        "amr".into(),
        Value::from(authentication.methods.clone())
            .to_string()
            .into(),
    );
    context.insert(
        "acr".into(),
        authentication.context_class.as_deref().unwrap_or("").into(),
    );
    context.insert("profile".into(), session.profile.as_str().into());
    // Who acts for the user (an impersonation session's administrator), else empty: an app
    // refuses what only the user may do, and shows a banner.
    context.insert(
        "actor".into(),
        session
            .actor
            .as_ref()
            .map_or("", |a| a.principal.as_str())
            .into(),
    );
    // A guest session (only on SESSION_GUEST_ROUTES): no user has signed in.
    context.insert("guest".into(), session.guest.into());
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
    use chrono::{Duration, TimeZone, Utc};

    use super::*;
    use crate::domain::ClientInfo;
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
        assert_eq!(context["profile"], "default");
        assert_eq!(context["actor"], "", "the user's own session");
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
