//! Response building: the session JSON of the contract, the device list items, JSON bodies,
//! `Set-Cookie` and `ETag` headers. Knows the wire format, not the operations.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::Transport;
use super::cookies::CookiePolicy;
use crate::domain::{
    Actor, Device, HistoryPosition, Session, SessionEntry, SessionId, SessionToken, TenantId,
    UserId,
};
use crate::session::Current;

/// An instant as RFC 3339 in UTC with milliseconds (`2026-12-03T21:07:05.123Z`, what chrono's
/// `to_rfc3339_opts(Millis, true)` writes), written straight into a fixed buffer: a session's
/// JSON carries five, and chrono's general formatter was an eighth of the validate handler's
/// own time. Years outside 0..=9999 and leap seconds go through chrono.
fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let millis = t.timestamp_subsec_millis();
    let Ok(year) = u32::try_from(t.year()) else {
        return s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true));
    };
    if year > 9999 || millis > 999 {
        return s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true));
    }
    let mut text = *b"0000-00-00T00:00:00.000Z";
    for (range, value) in [
        (0..4, year),
        (5..7, t.month()),
        (8..10, t.day()),
        (11..13, t.hour()),
        (14..16, t.minute()),
        (17..19, t.second()),
        (20..23, millis),
    ] {
        let mut rest = value;
        for digit in text[range].iter_mut().rev() {
            *digit = b"0123456789"[(rest % 10) as usize];
            rest /= 10;
        }
    }
    s.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?)
}

/// The session JSON of the contract. `token` appears only in bearer mode at create.
#[derive(Debug, Serialize)]
pub struct SessionBody<'a> {
    /// The public session id.
    pub session_id: SessionId,
    /// Whose session.
    pub user_id: &'a UserId,
    /// Its tenant, if any.
    pub tenant_id: Option<&'a TenantId>,
    /// The session data.
    pub data: &'a Map<String, Value>,
    /// The data's version: the `ETag`, and the base for `PATCH /sessions/current`.
    pub version: u64,
    /// Sign-in time.
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    /// Last use.
    #[serde(serialize_with = "rfc3339")]
    pub last_seen_at: DateTime<Utc>,
    /// The idle deadline.
    #[serde(serialize_with = "rfc3339")]
    pub expires_at: DateTime<Utc>,
    /// The absolute deadline.
    #[serde(serialize_with = "rfc3339")]
    pub absolute_expires_at: DateTime<Utc>,
    /// When the user last proved who they are (`auth_time`, else `iat`, else sign-in).
    #[serde(serialize_with = "rfc3339")]
    pub authenticated_at: DateTime<Utc>,
    /// How (`amr`), as the identity provider said; empty when it did not.
    pub amr: &'a [String],
    /// The assurance level (`acr`), if given.
    pub acr: Option<&'a str>,
    /// The lifetime profile (`SESSION_PROFILES`).
    pub profile: &'a str,
    /// A guest session: nobody has signed in (`user_id` is the guest's own).
    pub guest: bool,
    /// Who acts for the user: only in an impersonation session (show a banner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<&'a Actor>,
    /// The identity provider's session it was started in (`sid`), whose back-channel logout
    /// ends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp_sid: Option<&'a str>,
    /// The token, in bearer mode only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<&'a str>,
    /// `Bearer`, with the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

impl<'a> SessionBody<'a> {
    /// The session's JSON.
    pub fn of(session: &'a Session) -> Self {
        Self {
            session_id: session.id,
            user_id: &session.user_id,
            tenant_id: session.tenant_id.as_ref(),
            data: session.data.as_map(),
            version: session.data_version,
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            expires_at: session.expires_at,
            absolute_expires_at: session.absolute_expires_at,
            authenticated_at: session.authentication.at,
            amr: &session.authentication.methods,
            acr: session.authentication.context_class.as_deref(),
            profile: &session.profile,
            guest: session.guest,
            actor: session.actor.as_ref(),
            idp_sid: session.provider_sid.as_deref(),
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

/// One row of `GET /sessions`.
#[derive(Debug, Serialize)]
pub struct SessionListItem<'a> {
    pub session_id: SessionId,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub last_seen_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub expires_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub absolute_expires_at: DateTime<Utc>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub device: Device,
    #[serde(serialize_with = "rfc3339")]
    pub authenticated_at: DateTime<Utc>,
    pub amr: &'a [String],
    pub acr: Option<&'a str>,
    pub profile: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<&'a Actor>,
    pub current: bool,
}

impl<'a> SessionListItem<'a> {
    pub fn of(entry: &'a SessionEntry, current: bool) -> Self {
        Self {
            session_id: entry.session_id,
            created_at: entry.created_at,
            last_seen_at: entry.last_seen_at,
            expires_at: entry.expires_at,
            absolute_expires_at: entry.absolute_expires_at,
            ip: entry.client.ip.as_deref(),
            user_agent: entry.client.user_agent.as_deref(),
            device: Device::from_user_agent(entry.client.user_agent.as_deref()),
            authenticated_at: entry.authentication.at,
            amr: &entry.authentication.methods,
            acr: entry.authentication.context_class.as_deref(),
            profile: &entry.profile,
            actor: entry.actor.as_ref(),
            current,
        }
    }

    /// The caller's own session, from the fresh read that authenticated the request (the
    /// index may lag behind it).
    pub fn current(session: &'a Session) -> Self {
        Self {
            session_id: session.id,
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            expires_at: session.expires_at,
            absolute_expires_at: session.absolute_expires_at,
            ip: session.client.ip.as_deref(),
            user_agent: session.client.user_agent.as_deref(),
            device: Device::from_user_agent(session.client.user_agent.as_deref()),
            authenticated_at: session.authentication.at,
            amr: &session.authentication.methods,
            acr: session.authentication.context_class.as_deref(),
            profile: &session.profile,
            actor: session.actor.as_ref(),
            current: true,
        }
    }
}

/// A page of a security history: each event of the audit trail as the user may see it (what
/// happened, when, to which session, from which device and IP, why), never the user's key,
/// a token or a hash; and the cursor of the next page.
pub(crate) fn history_body(events: &[Value], next: Option<&HistoryPosition>) -> Value {
    let entries: Vec<Value> = events
        .iter()
        .map(|event| {
            let data = &event["data"];
            let mut entry = serde_json::json!({
                "id": event["id"],
                "type": event["type"],
                "time": event["timestamp"],
                "session_id": data["session_id"],
                "device": data["device"],
                "ip": data["ip"],
                "reason": data["reason"],
                "profile": data["profile"],
            });
            // Who acted for the user: an impersonation ("support signed in as you").
            if let Some(actor) = data.get("actor") {
                entry["actor"] = actor.clone();
            }
            if let Some(detail) = data.get("detail") {
                entry["detail"] = detail.clone();
            }
            entry
        })
        .collect();
    serde_json::json!({
        "events": entries,
        "next_cursor": next.map(super::paging::history_cursor),
    })
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

/// `ETag: "<data version>"` on a response describing a session.
pub(crate) fn with_etag(mut response: Response<Body>, session: &Session) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", session.data_version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// The `Set-Cookie` that hands a cookie client the token a validation moved it to (rotation,
/// or a retired token resolved to its successor), living `max_age` (the session layer's
/// answer for this session: `None` for a cookie that ends with the browser). `None` for bearer
/// clients: their tokens are not rotated on validate, and a successor reaches them in a body,
/// never in a cookie.
pub(crate) fn rotation_cookie(
    cookies: &CookiePolicy,
    current: &Current,
    transport: Transport,
    max_age: Option<i64>,
) -> Option<String> {
    match (&current.new_token, transport) {
        (Some(token), Transport::Cookie) => Some(cookies.issue(token.expose_secret(), max_age)),
        _ => None,
    }
}

/// The headers every answer of the API carries: nothing in it is to be sniffed, framed, run as
/// a document or leak a referrer; and, when the cookie is `Secure` (the API is served over
/// HTTPS), browsers are told to use HTTPS only from now on.
pub(crate) fn add_security_headers(response: &mut Response<Body>, https: bool) {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn written(t: DateTime<Utc>) -> String {
        let mut out = Vec::new();
        rfc3339(&t, &mut serde_json::Serializer::new(&mut out)).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn instants_are_written_as_chrono_writes_them() {
        let mut instants = vec![
            Utc.timestamp_millis_opt(0).unwrap(),
            Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
            Utc.timestamp_millis_opt(253_402_300_799_999).unwrap(),
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 12, 31, 23, 59, 59).unwrap(),
        ];
        // A spread of instants over the years a session lives in, every field changing.
        let mut ms: i64 = 1_600_000_000_000;
        for _ in 0..10_000 {
            ms += 7_919_113_777;
            instants.push(Utc.timestamp_millis_opt(ms).unwrap());
        }
        for t in instants {
            assert_eq!(written(t), t.to_rfc3339_opts(SecondsFormat::Millis, true));
        }
    }
}
