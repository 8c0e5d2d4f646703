use chrono::{DateTime, SecondsFormat, Utc};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::domain::{Session, SessionId, SessionToken, TenantId, UserId};

fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The session JSON of the contract. `token` appears only in bearer mode at create.
#[derive(Debug, Serialize)]
pub struct SessionBody<'a> {
    pub session_id: SessionId,
    pub user_id: &'a UserId,
    pub tenant_id: Option<&'a TenantId>,
    pub data: &'a Map<String, Value>,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub last_seen_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub expires_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub absolute_expires_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

impl<'a> SessionBody<'a> {
    pub fn of(session: &'a Session) -> Self {
        Self {
            session_id: session.id,
            user_id: &session.user_id,
            tenant_id: session.tenant_id.as_ref(),
            data: session.data.as_map(),
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            expires_at: session.expires_at,
            absolute_expires_at: session.absolute_expires_at,
            token: None,
            token_type: None,
        }
    }

    /// Bearer mode: the one response that carries the token, for non-browser clients.
    pub fn with_token(mut self, token: &'a SessionToken) -> Self {
        self.token = Some(token.expose_secret());
        self.token_type = Some("Bearer");
        self
    }
}

/// A JSON response that no cache may store (it describes a credential).
pub(crate) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| {
        r#"{"error":{"code":"internal_error","message":"an internal error occurred"}}"#.into()
    });
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `204 No Content`, uncacheable.
pub(crate) fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(crate) fn append_set_cookie(response: &mut Response<Body>, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}
