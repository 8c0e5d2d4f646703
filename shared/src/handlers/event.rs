//! Reading the API Gateway event, and the runtime loop that feeds it to a handler.
//!
//! `lambda_http` reads an event by trying the REST API format (payload 1.0) first and the HTTP
//! API format (2.0) only when that fails: every HTTP API invocation was parsed twice, the failed
//! attempt allocating most of the event on the way. [`ApiGatewayEvent`] parses the HTTP API
//! format first (what `template.yaml` deploys) and keeps it when the event says
//! `"version": "2.0"`; anything else is read as a REST API event. [`run`] is
//! `lambda_http::run` with that reader. The conversion to an `http::Request` and back stays `lambda_http`'s.

use std::task::{Context, Poll};

use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use lambda_http::lambda_runtime::{self, Diagnostic, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Error, IntoResponse, Request, Service};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// An API Gateway event, HTTP API (payload 2.0) or REST API (1.0), parsed once.
#[derive(Debug)]
pub struct ApiGatewayEvent(pub LambdaRequest);

/// The header that tells a handler which headers of the event could not be headers at all
/// (control characters in a value): the handler answers 400 naming them, instead of the
/// runtime failing the invocation before any handler runs (a 502 from API Gateway).
pub(crate) const UNREADABLE_HEADERS: &str = "x-session-service-unreadable-headers";

impl<'de> Deserialize<'de> for ApiGatewayEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        match Self::read(raw.get()) {
            Ok(event) => Ok(event),
            Err(error) => match without_unreadable_headers(raw.get()) {
                Some(readable) => Self::read(&readable).map_err(D::Error::custom),
                None => Err(D::Error::custom(error)),
            },
        }
    }
}

impl ApiGatewayEvent {
    fn read(text: &str) -> Result<Self, serde_json::Error> {
        if let Ok(event) = serde_json::from_str::<ApiGatewayV2httpRequest>(text)
            && event.version.as_deref() == Some("2.0")
        {
            return Ok(Self(LambdaRequest::ApiGatewayV2(event)));
        }
        // REST APIs send no version; HTTP APIs configured for payload 1.0 send "1.0".
        serde_json::from_str(text).map(|mut event| {
            keep_repeated_headers(&mut event);
            Self(LambdaRequest::ApiGatewayV1(event))
        })
    }
}

/// The event without the header values no HTTP header may carry (control characters), and
/// their names in [`UNREADABLE_HEADERS`]; `None` when it has none (it is unreadable for
/// another reason) or is not an API Gateway event.
fn without_unreadable_headers(text: &str) -> Option<String> {
    let unreadable = |v: &serde_json::Value| {
        v.as_str().is_some_and(|s| {
            s.chars()
                .any(|c| (c.is_control() && c != '\t') || c == '\u{7f}')
        })
    };
    let mut event: serde_json::Value = serde_json::from_str(text).ok()?;
    let mut names = std::collections::BTreeSet::new();
    if let Some(headers) = event.get_mut("headers").and_then(|h| h.as_object_mut()) {
        headers.retain(|name, value| {
            let bad = unreadable(value);
            if bad {
                names.insert(name.to_ascii_lowercase());
            }
            !bad
        });
    }
    if let Some(headers) = event
        .get_mut("multiValueHeaders")
        .and_then(|h| h.as_object_mut())
    {
        headers.retain(|name, values| {
            let bad = values.as_array().is_some_and(|v| v.iter().any(unreadable));
            if bad {
                names.insert(name.to_ascii_lowercase());
            }
            !bad
        });
    }
    if names.is_empty() {
        return None;
    }
    let list = names.into_iter().collect::<Vec<_>>().join(",");
    event.get_mut("headers")?.as_object_mut()?.insert(
        UNREADABLE_HEADERS.to_owned(),
        serde_json::Value::String(list),
    );
    Some(event.to_string())
}

/// `lambda_http` makes a REST API event's `multiValueHeaders` the request's headers, then lets
/// `headers` (one value per name) replace them: a header sent twice (two `Authorization`
/// lines) would reach the handler once, and which one would be API Gateway's choice. Names
/// sent more than once are taken out of `headers`, so every line reaches the handler, which
/// refuses what it cannot read unambiguously.
fn keep_repeated_headers(event: &mut ApiGatewayProxyRequest) {
    let repeated: Vec<_> = event
        .multi_value_headers
        .keys()
        .filter(|name| {
            event
                .multi_value_headers
                .get_all(*name)
                .iter()
                .nth(1)
                .is_some()
        })
        .cloned()
        .collect();
    for name in repeated {
        event.headers.remove(&name);
    }
}

/// `lambda_http`'s adapter, fed events read by [`ApiGatewayEvent`].
pub struct EventAdapter<A>(A);

impl<A> EventAdapter<A> {
    /// Wraps `lambda_http`'s adapter.
    pub fn new(adapter: A) -> Self {
        Self(adapter)
    }
}

impl<A> Service<LambdaEvent<ApiGatewayEvent>> for EventAdapter<A>
where
    A: Service<LambdaEvent<LambdaRequest>>,
{
    type Response = A::Response;
    type Error = A::Error;
    type Future = A::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<ApiGatewayEvent>) -> Self::Future {
        self.0
            .call(LambdaEvent::new(event.payload.0, event.context))
    }
}

/// Runs `handler` on the Lambda runtime, as `lambda_http::run` does, reading each event once.
pub async fn run<'a, R, S, E>(handler: S) -> Result<(), Error>
where
    S: Service<Request, Response = R, Error = E>,
    S::Future: Send + 'a,
    R: IntoResponse,
    E: std::fmt::Debug + Into<Diagnostic>,
{
    lambda_runtime::run(EventAdapter::new(Adapter::from(handler))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<LambdaRequest, serde_json::Error> {
        serde_json::from_str::<ApiGatewayEvent>(json).map(|e| e.0)
    }

    #[test]
    fn an_http_api_event_is_read_as_payload_2_0() {
        let event = read(include_str!(
            "../../../tests/fixtures/apigw-v2-request.json"
        ))
        .unwrap();
        assert!(matches!(event, LambdaRequest::ApiGatewayV2(_)), "{event:?}");
    }

    #[test]
    fn a_rest_api_event_is_read_as_payload_1_0() {
        let event = read(include_str!(
            "../../../tests/fixtures/apigw-v1-request.json"
        ))
        .unwrap();
        assert!(matches!(event, LambdaRequest::ApiGatewayV1(_)), "{event:?}");
    }

    #[test]
    fn a_header_no_http_header_may_carry_is_named_to_the_handler_not_fatal() {
        for (fixture, field, value) in [
            (
                include_str!("../../../tests/fixtures/apigw-v2-request.json"),
                "headers",
                serde_json::json!("a\u{1}b"),
            ),
            (
                include_str!("../../../tests/fixtures/apigw-v1-request.json"),
                "multiValueHeaders",
                serde_json::json!(["ok", "x\u{0}y"]),
            ),
        ] {
            let mut event: serde_json::Value = serde_json::from_str(fixture).unwrap();
            event[field]["X-Bad"] = value;
            let request = read(&event.to_string()).unwrap();
            let request: lambda_http::Request = request.into();
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
}
