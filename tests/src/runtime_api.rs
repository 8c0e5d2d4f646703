//! A Lambda Runtime API (the `/2018-06-01/runtime/...` routes: `next`, `response`, `error`,
//! `init/error`) for one function instance: a `bootstrap` started with
//! `AWS_LAMBDA_RUNTIME_API` pointing here polls it for events, as under Lambda. Used by the
//! `lambda` bench and by the template-wiring test.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};

/// One invocation handed to the function: its event and where its answer goes.
pub(crate) struct Invocation {
    event: Value,
    answer: oneshot::Sender<Result<Value, String>>,
}

struct RuntimeState {
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Result<Value, String>>>>,
    /// Fired once, at the first poll for work (`Ok`) or an init error (`Err`).
    ready: Mutex<Option<oneshot::Sender<Result<Instant, String>>>>,
    next_id: Mutex<u64>,
}

/// A Lambda Runtime API for one function instance.
pub struct RuntimeApi {
    /// Where the function finds it (`AWS_LAMBDA_RUNTIME_API`).
    pub addr: SocketAddr,
    sender: mpsc::Sender<Invocation>,
    ready: Option<oneshot::Receiver<Result<Instant, String>>>,
}

impl RuntimeApi {
    /// Serves a Runtime API on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, receiver) = mpsc::channel(1);
        let (ready_tx, ready_rx) = oneshot::channel();
        let state = Arc::new(RuntimeState {
            queue: tokio::sync::Mutex::new(receiver),
            pending: Mutex::new(HashMap::new()),
            ready: Mutex::new(Some(ready_tx)),
            next_id: Mutex::new(0),
        });
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| serve(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            sender,
            ready: Some(ready_rx),
        }
    }

    /// Waits for the function's first poll (or its init error).
    pub async fn ready(&mut self) -> Result<Instant, String> {
        let ready = self.ready.take().expect("ready is awaited once");
        tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .map_err(|_| "no poll within 30 s".to_owned())?
            .map_err(|_| "runtime API closed".to_owned())?
    }

    /// Hands `event` to the function; its answer (or its error).
    pub async fn invoke(&self, event: Value) -> Result<Value, String> {
        let (answer, reply) = oneshot::channel();
        self.sender
            .send(Invocation { event, answer })
            .await
            .map_err(|_| "runtime API closed".to_owned())?;
        tokio::time::timeout(Duration::from_secs(30), reply)
            .await
            .map_err(|_| "no answer within 30 s".to_owned())?
            .map_err(|_| "invocation dropped".to_owned())?
    }
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

async fn serve(
    state: Arc<RuntimeState>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let fire_ready = |outcome: Result<Instant, String>| {
        if let Some(ready) = state.ready.lock().unwrap().take() {
            let _ = ready.send(outcome);
        }
    };
    Ok(match (method, parts.as_slice()) {
        (Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => {
            fire_ready(Ok(Instant::now()));
            let Some(invocation) = state.queue.lock().await.recv().await else {
                return Ok(reply(StatusCode::GONE, Bytes::new()));
            };
            let id = {
                let mut next = state.next_id.lock().unwrap();
                *next += 1;
                format!("bench-{next}")
            };
            state
                .pending
                .lock()
                .unwrap()
                .insert(id.clone(), invocation.answer);
            let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
            let mut response = reply(
                StatusCode::OK,
                Bytes::from(serde_json::to_vec(&invocation.event).unwrap()),
            );
            let headers = response.headers_mut();
            headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            headers.insert("lambda-runtime-deadline-ms", deadline.into());
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench"
                    .parse()
                    .unwrap(),
            );
            headers.insert(
                "lambda-runtime-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"
                    .parse()
                    .unwrap(),
            );
            response
        }
        (Method::POST, ["2018-06-01", "runtime", "invocation", id, outcome]) => {
            let answer = state.pending.lock().unwrap().remove(*id);
            if let Some(answer) = answer {
                let _ = answer.send(match *outcome {
                    "response" => serde_json::from_slice(&body).map_err(|e| e.to_string()),
                    _ => Err(String::from_utf8_lossy(&body).into_owned()),
                });
            }
            reply(StatusCode::ACCEPTED, Bytes::new())
        }
        (Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
            fire_ready(Err(String::from_utf8_lossy(&body).into_owned()));
            reply(StatusCode::ACCEPTED, Bytes::new())
        }
        _ => reply(StatusCode::NOT_FOUND, Bytes::new()),
    })
}

/// The command that starts `binary` as the function `name` polling `api`, with what Lambda sets
/// (no other variable of this process), the AWS credentials and region, and the endpoints of
/// the local stack among `endpoints` (`AWS_ENDPOINT_URL_<SERVICE>`) that this process has.
pub fn lambda_command(
    binary: &std::path::Path,
    name: &str,
    api: &RuntimeApi,
    endpoints: &[&str],
) -> Command {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    let endpoints = endpoints.iter().map(|e| format!("AWS_ENDPOINT_URL_{e}"));
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"]
        .into_iter()
        .map(str::to_owned)
        .chain(endpoints)
    {
        if let Ok(value) = std::env::var(&var) {
            command.env(var, value);
        }
    }
    command
}
