//! API Gateway's proxy events, read and answered directly: an HTTP API (payload 2.0) or REST
//! API (payload 1.0) event is read in one pass into exactly what the handlers use, an
//! `http::Request` carrying the [`Gateway`] facts of its request context and its [`Query`],
//! and the answer is written straight from the `http::Response` ([`GatewayResponse`]).
//!
//! This replaces `lambda_http`'s conversion, which read every HTTP API event twice (the REST
//! format first), parsed the whole request context, built a URL through the `url` crate and
//! converted the answer into a second response type: 35 µs of the 81 µs a validate spent
//! outside its `GetItem` (docs/BENCHMARKS.md). What it did that the handlers rely on is kept
//! and tested here: cookies of a 2.0 event become one `Cookie` header; a 1.0 event's repeated
//! headers all reach the handler; a 2.0 answer's cookies go in `cookies`, a 1.0 answer's
//! headers in `multiValueHeaders`; binary bodies are base64 both ways.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lambda_http::http::header::GetAll;
use lambda_http::http::header::{COOKIE, SET_COOKIE};
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use lambda_http::{Body, Request, Response};
use serde::de::{MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The header that tells a handler which headers of the event could not be headers at all
/// (control characters in a value): the handler answers 400 naming them, instead of the
/// runtime failing the invocation before any handler runs (a 502 from API Gateway).
pub const UNREADABLE_HEADERS: &str = "x-session-service-unreadable-headers";

/// Which payload format an event came in, and so which its answer must be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// HTTP API, payload 2.0 (what `template.yaml` deploys).
    V2,
    /// REST API, or an HTTP API configured for payload 1.0.
    V1,
}

/// What the handlers read of API Gateway's request context, from either payload format: a
/// request extension.
#[derive(Debug, Clone, Default)]
pub struct Gateway {
    /// The path as the client sent it (with the stage of a REST API), before any routing.
    pub raw_path: String,
    /// The stage (`$default` on an HTTP API's default stage).
    pub stage: Option<String>,
    /// The API's domain name.
    pub domain_name: Option<String>,
    /// The client's address, as API Gateway saw it.
    pub source_ip: Option<String>,
    /// The client's user agent, as API Gateway saw it.
    pub user_agent: Option<String>,
    /// The IAM principal of an `AWS_IAM` route (its ARN, or the caller id).
    pub iam_caller: Option<String>,
    /// The context a Lambda authorizer returned (HTTP API).
    pub authorizer: Option<Map<String, Value>>,
}

/// The query string's parameters, decoded, in order: a request extension.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The [`Gateway`] facts of `req` (empty for a request that came some other way).
pub fn gateway(req: &Request) -> &Gateway {
    static NONE: Gateway = Gateway {
        raw_path: String::new(),
        stage: None,
        domain_name: None,
        source_ip: None,
        user_agent: None,
        iam_caller: None,
        authorizer: None,
    };
    req.extensions().get::<Gateway>().unwrap_or(&NONE)
}

/// The first value of the query parameter `name` of `req`.
pub fn query<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.extensions().get::<Query>()?.first(name)
}

/// An API Gateway event as a request, and the payload format its answer must take.
#[derive(Debug)]
pub struct GatewayEvent {
    /// The request the handler receives.
    pub request: Request,
    /// The event's format.
    pub payload: Payload,
}

/// The fields of both formats that the handlers use; everything else is skipped unread.
/// Headers and cookies are borrowed from the event's bytes where JSON allows: they are copied
/// once, into the request's `HeaderMap`.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Wire<'a> {
    version: Option<String>,
    // 2.0
    raw_path: Option<String>,
    raw_query_string: Option<String>,
    #[serde(borrow)]
    cookies: Option<Vec<Text<'a>>>,
    // 1.0
    http_method: Option<String>,
    path: Option<String>,
    #[serde(borrow)]
    multi_value_headers: Option<Pairs<'a, Vec<Text<'a>>>>,
    query_string_parameters: Option<HashMap<String, String>>,
    multi_value_query_string_parameters: Option<HashMap<String, Vec<String>>>,
    // Both
    #[serde(borrow)]
    headers: Option<Pairs<'a, Text<'a>>>,
    request_context: Option<WireContext>,
    body: Option<String>,
    is_base64_encoded: Option<bool>,
}

/// A JSON string, borrowed from the input when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v))
            }
        }
        deserializer.deserialize_str(Visit).map(Text)
    }
}

/// A JSON object's members, in order: no hash map for the few headers of an event.
struct Pairs<'a, V>(Vec<(Text<'a>, V)>);

impl<'de: 'a, 'a, V: Deserialize<'de>> Deserialize<'de> for Pairs<'a, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<'a, V>(std::marker::PhantomData<(Text<'a>, V)>);
        impl<'de: 'a, 'a, V: Deserialize<'de>> Visitor<'de> for Visit<'a, V> {
            type Value = Pairs<'a, V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(Visit(std::marker::PhantomData))
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct WireContext {
    domain_name: Option<String>,
    stage: Option<String>,
    /// 2.0: the method and the client.
    http: Option<WireHttp>,
    /// 1.0: the client and an IAM caller.
    identity: Option<WireIdentity>,
    /// 2.0: an IAM caller, a Lambda authorizer's context.
    authorizer: Option<WireAuthorizer>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct WireHttp {
    method: Option<String>,
    source_ip: Option<String>,
    user_agent: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct WireIdentity {
    source_ip: Option<String>,
    user_agent: Option<String>,
    user_arn: Option<String>,
    caller: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct WireAuthorizer {
    iam: Option<WireIam>,
    lambda: Option<Map<String, Value>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct WireIam {
    user_arn: Option<String>,
    caller_id: Option<String>,
}

impl<'de> Deserialize<'de> for GatewayEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire: Wire<'de> = Wire::deserialize(deserializer)?;
        wire.into_event().map_err(serde::de::Error::custom)
    }
}

/// Headers being read: the readable ones, and the names of those no HTTP header may carry.
#[derive(Default)]
struct Headers {
    map: HeaderMap,
    unreadable: BTreeSet<String>,
}

impl Headers {
    fn add(&mut self, name: &str, value: &str, replace: bool) {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) if replace => drop(self.map.insert(name, value)),
            (Ok(name), Ok(value)) => drop(self.map.append(name, value)),
            _ => drop(self.unreadable.insert(name.to_ascii_lowercase())),
        }
    }

    /// The readable headers; a name with any unreadable value is left out whole (a part of a
    /// header is not the header), and named in [`UNREADABLE_HEADERS`].
    fn done(mut self) -> HeaderMap {
        for name in &self.unreadable {
            self.map.remove(name.as_str());
        }
        if !self.unreadable.is_empty() {
            let names = self.unreadable.into_iter().collect::<Vec<_>>().join(",");
            if let Ok(value) = HeaderValue::from_str(&names) {
                self.map
                    .insert(HeaderName::from_static(UNREADABLE_HEADERS), value);
            }
        }
        self.map
    }
}

impl Wire<'_> {
    fn into_event(self) -> Result<GatewayEvent, String> {
        let context = self.request_context.unwrap_or_default();
        let payload = if self.version.as_deref() == Some("2.0") {
            Payload::V2
        } else {
            Payload::V1
        };
        let mut headers = Headers::default();
        let (method, raw_path, query, client, iam_caller, authorizer) = match payload {
            Payload::V2 => {
                for (name, value) in self.headers.iter().flat_map(|h| &h.0) {
                    headers.add(&name.0, &value.0, true);
                }
                if let Some(cookies) = self.cookies.filter(|c| !c.is_empty()) {
                    let joined: Vec<&str> = cookies.iter().map(|c| c.0.as_ref()).collect();
                    headers.add(COOKIE.as_str(), &joined.join("; "), true);
                }
                let query = self.raw_query_string.unwrap_or_default();
                let http = context.http.unwrap_or_default();
                let authorizer = context.authorizer.unwrap_or_default();
                let iam = authorizer.iam.unwrap_or_default();
                (
                    http.method,
                    self.raw_path,
                    Query(
                        form_urlencoded::parse(query.as_bytes())
                            .map(|(n, v)| (n.into_owned(), v.into_owned()))
                            .collect(),
                    ),
                    (http.source_ip, http.user_agent),
                    iam.user_arn.or(iam.caller_id),
                    authorizer.lambda,
                )
            }
            Payload::V1 => {
                // Every line of a header sent more than once reaches the handler (which refuses
                // what it cannot read unambiguously); `headers` holds one of them only.
                let multi = self.multi_value_headers.map(|m| m.0).unwrap_or_default();
                for (name, values) in &multi {
                    for value in values {
                        headers.add(&name.0, &value.0, false);
                    }
                }
                for (name, value) in self.headers.iter().flat_map(|h| &h.0) {
                    let repeated = multi
                        .iter()
                        .any(|(n, v)| v.len() > 1 && n.0.eq_ignore_ascii_case(&name.0));
                    if !repeated {
                        headers.add(&name.0, &value.0, true);
                    }
                }
                // Multi-valued parameters are a superset of the single ones, when present.
                let query = match self.multi_value_query_string_parameters {
                    Some(multi) if !multi.is_empty() => multi
                        .into_iter()
                        .flat_map(|(n, values)| values.into_iter().map(move |v| (n.clone(), v)))
                        .collect(),
                    _ => self
                        .query_string_parameters
                        .unwrap_or_default()
                        .into_iter()
                        .collect(),
                };
                let identity = context.identity.unwrap_or_default();
                (
                    self.http_method,
                    self.path,
                    Query(query),
                    (identity.source_ip, identity.user_agent),
                    identity.user_arn.or(identity.caller),
                    None,
                )
            }
        };
        let method = method.ok_or("not an API Gateway proxy event: no HTTP method")?;
        let method = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let raw_path = raw_path.unwrap_or_default();
        let body = match self.body {
            None => Body::Empty,
            Some(text) if self.is_base64_encoded == Some(true) => match STANDARD.decode(&text) {
                Ok(bytes) => Body::Binary(bytes),
                // Never sent by API Gateway: kept as it came, for the handler to refuse.
                Err(_) => Body::Text(text),
            },
            Some(text) => Body::Text(text),
        };
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri(&with_stage(context.stage.as_deref(), &raw_path), &query);
        *request.headers_mut() = headers.done();
        request.extensions_mut().insert(query);
        request.extensions_mut().insert(Gateway {
            raw_path,
            stage: context.stage,
            domain_name: context.domain_name,
            source_ip: client.0,
            user_agent: client.1,
            iam_caller,
            authorizer,
        });
        Ok(GatewayEvent { request, payload })
    }
}

/// The path with a REST API's stage in front, as the client called it (`/prod/sessions`).
fn with_stage(stage: Option<&str>, path: &str) -> String {
    match stage {
        Some(stage) if stage != "$default" && !path.starts_with(&format!("/{stage}/")) => {
            format!("/{stage}{path}")
        }
        _ => path.to_owned(),
    }
}

/// The request's URI: its path and query (API Gateway has already routed on the host).
fn uri(path: &str, query: &Query) -> Uri {
    let mut text = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    if !query.0.is_empty() {
        text.push('?');
        text.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&query.0)
                .finish(),
        );
    }
    text.parse()
        .or_else(|_| path.parse())
        .unwrap_or_else(|_| Uri::from_static("/"))
}

/// A handler's answer in the format of the event it answers.
#[derive(Debug)]
pub struct GatewayResponse {
    payload: Payload,
    response: Response<Body>,
}

impl GatewayResponse {
    /// `response`, to be written in `payload`'s format.
    pub fn new(payload: Payload, response: Response<Body>) -> Self {
        Self { payload, response }
    }
}

impl Serialize for GatewayResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let headers = self.response.headers();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("statusCode", &self.response.status().as_u16())?;
        match self.payload {
            Payload::V2 => {
                map.serialize_entry("headers", &SingleValued(headers))?;
                map.serialize_entry("cookies", &Values(headers.get_all(SET_COOKIE)))?;
            }
            // Only `multiValueHeaders`: API Gateway merges the two, so a header in both would
            // be sent twice.
            Payload::V1 => map.serialize_entry("multiValueHeaders", &MultiValued(headers))?,
        }
        match self.response.body() {
            Body::Text(text) => {
                map.serialize_entry("body", text)?;
                map.serialize_entry("isBase64Encoded", &false)?;
            }
            Body::Binary(bytes) => {
                map.serialize_entry("body", &STANDARD.encode(bytes))?;
                map.serialize_entry("isBase64Encoded", &true)?;
            }
            // `Body::Empty` (and any kind a later version adds): no body.
            _ => map.serialize_entry("isBase64Encoded", &false)?,
        }
        map.end()
    }
}

/// A header value as text (a value that is not UTF-8 is written lossily, never dropped).
fn text(value: &HeaderValue) -> Cow<'_, str> {
    String::from_utf8_lossy(value.as_bytes())
}

/// The values of one header name, as a JSON array.
struct Values<'a>(GetAll<'a, HeaderValue>);

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(text))
    }
}

/// Payload 2.0 headers: one value per name (a repeated name's values joined, as HTTP allows),
/// without `Set-Cookie` (which goes in `cookies`).
struct SingleValued<'a>(&'a HeaderMap);

impl Serialize for SingleValued<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for name in self.0.keys().filter(|n| *n != SET_COOKIE) {
            let mut values = self.0.get_all(name).iter();
            match (values.next(), values.next()) {
                (Some(only), None) => map.serialize_entry(name.as_str(), &text(only))?,
                _ => {
                    let joined: Vec<_> = self.0.get_all(name).iter().map(text).collect();
                    map.serialize_entry(name.as_str(), &joined.join(", "))?;
                }
            }
        }
        map.end()
    }
}

/// Payload 1.0 headers: every value of every name.
struct MultiValued<'a>(&'a HeaderMap);

impl Serialize for MultiValued<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            self.0
                .keys()
                .map(|name| (name.as_str(), Values(self.0.get_all(name)))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str = include_str!("../../../tests/fixtures/apigw-v2-request.json");
    const V1: &str = include_str!("../../../tests/fixtures/apigw-v1-request.json");

    fn read(json: &str) -> Result<GatewayEvent, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn an_http_api_event_is_read_as_payload_2_0_with_its_cookies_as_one_header() {
        let mut event: Value = serde_json::from_str(V2).unwrap();
        event["cookies"] = serde_json::json!(["a=1", "b=2"]);
        event["rawQueryString"] = serde_json::json!("limit=5&cursor=a%2Bb");
        let event = read(&event.to_string()).unwrap();
        assert_eq!(event.payload, Payload::V2);
        let req = &event.request;
        assert_eq!(req.headers()[COOKIE], "a=1; b=2");
        assert_eq!(query(req, "limit"), Some("5"));
        assert_eq!(query(req, "cursor"), Some("a+b"));
        assert_eq!(gateway(req).source_ip.as_deref(), Some("203.0.113.7"));
    }

    #[test]
    fn a_rest_api_event_is_read_as_payload_1_0_with_every_line_of_a_repeated_header() {
        let mut event: Value = serde_json::from_str(V1).unwrap();
        event["multiValueHeaders"]["Authorization"] = serde_json::json!(["Bearer a", "Bearer b"]);
        event["headers"]["Authorization"] = serde_json::json!("Bearer b");
        let event = read(&event.to_string()).unwrap();
        assert_eq!(event.payload, Payload::V1);
        let lines: Vec<_> = event
            .request
            .headers()
            .get_all("authorization")
            .iter()
            .collect();
        assert_eq!(lines, ["Bearer a", "Bearer b"]);
    }

    #[test]
    fn a_header_no_http_header_may_carry_is_named_to_the_handler_not_fatal() {
        for (fixture, field, value) in [
            (V2, "headers", serde_json::json!("a\u{1}b")),
            (
                V1,
                "multiValueHeaders",
                serde_json::json!(["ok", "x\u{0}y"]),
            ),
        ] {
            let mut event: Value = serde_json::from_str(fixture).unwrap();
            event[field]["X-Bad"] = value;
            let request = read(&event.to_string()).unwrap().request;
            assert_eq!(
                request.headers().get(UNREADABLE_HEADERS).unwrap(),
                "x-bad",
                "{field}"
            );
            assert!(request.headers().get("x-bad").is_none());
        }
    }

    #[test]
    fn an_event_of_neither_format_is_an_error_not_a_panic() {
        assert!(read(r#"{"version": "2.0", "hello": "world"}"#).is_err());
        assert!(read(r#"[1, 2, 3]"#).is_err());
        assert!(read("not json").is_err());
    }

    #[test]
    fn an_answer_takes_the_format_of_its_event() {
        let mut response = Response::new(Body::Text("{}".into()));
        response
            .headers_mut()
            .append(SET_COOKIE, HeaderValue::from_static("a=1"));
        response
            .headers_mut()
            .append(SET_COOKIE, HeaderValue::from_static("b=2"));
        response
            .headers_mut()
            .append("vary", HeaderValue::from_static("Origin"));
        response
            .headers_mut()
            .append("vary", HeaderValue::from_static("Cookie"));
        let v2 = serde_json::to_value(GatewayResponse::new(Payload::V2, response)).unwrap();
        assert_eq!(v2["cookies"], serde_json::json!(["a=1", "b=2"]));
        assert_eq!(v2["headers"]["vary"], "Origin, Cookie");
        assert!(v2["headers"].get("set-cookie").is_none());
        assert_eq!(
            (v2["statusCode"].as_u64(), v2["body"].as_str()),
            (Some(200), Some("{}"))
        );

        let mut binary = Response::new(Body::Binary(vec![0, 1, 2]));
        binary
            .headers_mut()
            .append(SET_COOKIE, HeaderValue::from_static("a=1"));
        let v1 = serde_json::to_value(GatewayResponse::new(Payload::V1, binary)).unwrap();
        assert_eq!(
            v1["multiValueHeaders"]["set-cookie"],
            serde_json::json!(["a=1"])
        );
        assert_eq!(
            (v1["body"].as_str(), v1["isBase64Encoded"].as_bool()),
            (Some("AAEC"), Some(true))
        );
        assert!(v1.get("headers").is_none());
    }
}
