//! The runtime loop: each API Gateway event read once into a request
//! ([`GatewayEvent`](crate::http::gateway::GatewayEvent)), the handler's answer written in the
//! event's format ([`GatewayResponse`]). `lambda_runtime` underneath, without `lambda_http`'s
//! conversions (see `http::gateway`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use lambda_http::lambda_runtime::{self, Diagnostic, LambdaEvent};
use lambda_http::{Body, Error, Request, Response, Service};

use crate::http::gateway::{GatewayEvent, GatewayResponse, Payload};

/// A handler of requests as a handler of API Gateway events.
pub struct GatewayService<S>(S);

impl<S> GatewayService<S> {
    /// Serves events with `handler`.
    pub fn new(handler: S) -> Self {
        Self(handler)
    }
}

impl<S> Service<LambdaEvent<GatewayEvent>> for GatewayService<S>
where
    S: Service<Request, Response = Response<Body>>,
{
    type Response = GatewayResponse;
    type Error = S::Error;
    type Future = Answer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<GatewayEvent>) -> Self::Future {
        let GatewayEvent { request, payload } = event.payload;
        Answer {
            payload,
            answer: Box::pin(self.0.call(request)),
        }
    }
}

/// A handler's answer to come, in the format of the event it answers.
pub struct Answer<F> {
    payload: Payload,
    answer: Pin<Box<F>>,
}

impl<F, E> Future for Answer<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<GatewayResponse, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let payload = self.payload;
        self.answer
            .as_mut()
            .poll(cx)
            .map_ok(|response| GatewayResponse::new(payload, response))
    }
}

/// Runs `handler` on the Lambda runtime: every API Gateway event to it, every answer back.
///
/// Every function's `main` runs this (and the authorizer and stream handlers their own loop) on
/// tokio's current-thread runtime: an instance serves one invocation at a time, so worker
/// threads only add cross-thread wake-ups between the network and the handler (validate's
/// invocation p50 under the local runtime went from 1.10 to 0.86 ms, docs/BENCHMARKS.md).
pub async fn run<'a, S, E>(handler: S) -> Result<(), Error>
where
    S: Service<Request, Response = Response<Body>, Error = E>,
    S::Future: Send + 'a,
    E: std::fmt::Debug + Into<Diagnostic>,
{
    lambda_runtime::run(GatewayService::new(handler)).await
}
