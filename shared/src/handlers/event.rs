//! Reading the API Gateway event, and the runtime loop that feeds it to a handler.
//!
//! `lambda_http` reads an event by trying the REST API format (payload 1.0) first and the HTTP
//! API format (2.0) only when that fails: every HTTP API invocation was parsed twice, the failed
//! attempt allocating most of the event on the way. [`ApiGatewayEvent`] parses the HTTP API
//! format first (what `template.yaml` deploys) and keeps it when the event says
//! `"version": "2.0"`; anything else is read as a REST API event. [`run`] is
//! `lambda_http::run` with that reader. The conversion to an `http::Request` and back stays `lambda_http`'s.

use std::task::{Context, Poll};

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::lambda_runtime::{self, Diagnostic, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Error, IntoResponse, Request, Service};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// An API Gateway event, HTTP API (payload 2.0) or REST API (1.0), parsed once.
#[derive(Debug)]
pub struct ApiGatewayEvent(pub LambdaRequest);

impl<'de> Deserialize<'de> for ApiGatewayEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        if let Ok(event) = serde_json::from_str::<ApiGatewayV2httpRequest>(text)
            && event.version.as_deref() == Some("2.0")
        {
            return Ok(Self(LambdaRequest::ApiGatewayV2(event)));
        }
        // REST APIs send no version; HTTP APIs configured for payload 1.0 send "1.0".
        serde_json::from_str(text)
            .map(|event| Self(LambdaRequest::ApiGatewayV1(event)))
            .map_err(D::Error::custom)
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
    fn an_event_of_neither_format_is_an_error_not_a_panic() {
        assert!(read(r#"{"version": "2.0", "hello": "world"}"#).is_err());
        assert!(read(r#"[1, 2, 3]"#).is_err());
        assert!(read("not json").is_err());
    }
}
