//! The functions as Lambda runs them: each `bootstrap` binary started as a process that polls a
//! Lambda Runtime API, which this file serves (the `/2018-06-01/runtime/...` routes: `next`,
//! `response`, `error`, `init/error`). Measures, per function:
//! - cold start: process start → first `GET /invocation/next` (config parsed, SDK client built);
//!   and, by what a function builds at start-up, the cold start with and without the identity
//!   verifier: `session-create` with an HS256 ticket issuer and with an RS256 issuer whose JWKS
//!   is fetched from a URL (served here) at start, `session-validate` without either; and, when
//!   `BENCH_BASELINE_VALIDATE` names a `session-validate` built before the layered library
//!   (whose start-up built the verifier too; `make bench BASELINE=<rev>` builds it), that
//!   binary with the same two identity configurations;
//! - peak RSS (`VmHWM`) after serving a load of real API Gateway events;
//! - throughput of validate: invocations per second with 1, 2 and 4 concurrent instances
//!   (clients), each instance serving one invocation at a time, as Lambda does.
//!
//! `make bench` runs it on the release build of `cargo lambda build` (`target/lambda/*/bootstrap`)
//! and writes the tables into docs/BENCHMARKS.md. Under `cargo test` it is a smoke test of the
//! debug binaries (`target/debug/session-*`): every function starts under the Runtime API and
//! answers its events with the expected status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use session_tests::runtime_api::{RuntimeApi, lambda_command};
use session_tests::tokens::{AUDIENCES, signing_key};
use session_tests::{
    AuthorizerEvent, Event, Function, Payload, Reply, TestTable, app, config_vars, invoke, ticket,
};
use tokio::net::TcpListener;
use tokio::process::Child;

/// One running function instance: the process and its Runtime API.
struct Instance {
    child: Child,
    api: RuntimeApi,
    cold_start: Duration,
}

impl Instance {
    /// Starts `binary` with the environment Lambda gives a function (plus the test configuration;
    /// the identity settings only for `session-create`) and waits for its first poll.
    async fn start(binary: &Path, name: &str, table: &str) -> Self {
        Self::start_with(binary, name, table, name == "session-create", &[]).await
    }

    /// [`Instance::start`] with the identity settings or without them, and `extra` variables.
    async fn start_with(
        binary: &Path,
        name: &str,
        table: &str,
        identity: bool,
        extra: &[(&str, String)],
    ) -> Self {
        let mut api = RuntimeApi::start().await;
        let mut command = lambda_command(binary, name, &api, &["DYNAMODB", "KMS"]);
        command
            // Identity settings only for the function that verifies identity tokens: every other
            // function must start without them.
            .envs(
                config_vars(table)
                    .into_iter()
                    .filter(|(var, _)| identity || !var.starts_with("AUTH_")),
            )
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())));
        let started = Instant::now();
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let ready = api
            .ready()
            .await
            .unwrap_or_else(|e| panic!("{name} did not start: {e}"));
        Self {
            child,
            api,
            cold_start: ready - started,
        }
    }

    /// Peak resident memory so far, in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("the instance runs");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status")
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A one-route HTTP server answering every request with a JWKS (one RS256 key), counting them.
struct JwksServer {
    url: String,
    hits: Arc<std::sync::atomic::AtomicUsize>,
}

impl JwksServer {
    async fn start() -> Self {
        use jsonwebtoken::jwk::{Jwk, JwkSet};
        use jsonwebtoken::{Algorithm, EncodingKey};
        let key = EncodingKey::from_rsa_der(include_bytes!("../fixtures/keys/rsa-a.der"));
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some("bench-1".into());
        let body = Bytes::from(serde_json::to_vec(&JwkSet { keys: vec![jwk] }).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (body, counter) = (body.clone(), counter.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req: Request<Incoming>| {
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let response = Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(body.clone()))
                            .unwrap();
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `AUTH_ISSUERS` naming one RS256 issuer whose keys are at this server.
    fn issuers(&self) -> String {
        json!([{
            "issuer": "https://idp.bench/",
            "audience": "bench",
            "algorithms": ["RS256"],
            "jwks_url": self.url,
        }])
        .to_string()
    }
}

/// One row of the cold-start comparison.
struct ColdCase<'a> {
    label: String,
    binary: PathBuf,
    /// Whether the `AUTH_*` settings are given.
    identity: bool,
    extra: &'a [(&'a str, String)],
    what: &'static str,
}

/// Cold starts of the same kind of function with and without the identity verifier (and its
/// JWKS fetch) at start-up: what the layered library saves every function but sign-in.
async fn cold_starts_by_what_is_built(full: bool, starts: usize, table: &TestTable) {
    let idp = JwksServer::start().await;
    let jwks = [("AUTH_ISSUERS", idp.issuers())];
    let validate = binary(full, "session-validate");
    let create = binary(full, "session-create");
    let baseline = std::env::var_os("BENCH_BASELINE_VALIDATE").map(PathBuf::from);
    let case = |label: &str, binary: &PathBuf, identity: bool, extra, what| ColdCase {
        label: label.to_owned(),
        binary: binary.clone(),
        identity,
        extra,
        what,
    };
    let mut cases = vec![
        case(
            "session-validate",
            &validate,
            false,
            &[][..],
            "session settings only: no verifier",
        ),
        case(
            "session-create",
            &create,
            true,
            &[][..],
            "+ HS256 ticket issuer: verifier, nothing to fetch",
        ),
        case(
            "session-create",
            &create,
            true,
            &jwks[..],
            "+ RS256 issuer with a JWKS URL: verifier and one fetch",
        ),
    ];
    if let Some(path) = &baseline {
        let label = "session-validate before the layers";
        cases.push(case(
            label,
            path,
            true,
            &[][..],
            "+ HS256 ticket issuer (required then): verifier",
        ));
        cases.push(case(
            label,
            path,
            true,
            &jwks[..],
            "+ RS256 issuer with a JWKS URL: verifier and one fetch",
        ));
    }
    println!();
    println!("Cold start by what the function builds at start-up ({starts} starts each):");
    println!();
    println!("| binary | identity settings | cold start p50 (ms) | cold start max (ms) |");
    println!("|---|---|---|---|");
    for ColdCase {
        label,
        binary,
        identity,
        extra,
        what,
    } in cases
    {
        let fetched_before = idp.hits();
        let mut cold = Vec::new();
        for _ in 0..starts {
            let instance =
                Instance::start_with(&binary, "bench-cold-start", &table.name, identity, extra)
                    .await;
            cold.push(instance.cold_start);
            instance.stop().await;
        }
        let fetched = idp.hits() - fetched_before;
        if extra.is_empty() {
            assert_eq!(fetched, 0, "{label} ({what}) fetched a JWKS");
        } else {
            // The fetch is part of the start-up measured: one per start.
            assert_eq!(
                fetched, starts,
                "{label} ({what}) did not fetch its JWKS at start"
            );
        }
        cold.sort();
        println!(
            "| {label} | {what} | {:.1} | {:.1} |",
            ms(percentile(&cold, 0.5)),
            ms(*cold.last().unwrap())
        );
    }
}

/// Where the binaries are: `cargo lambda build` output for the benchmark, debug bins for the
/// smoke test. Found from this executable's path (`<target>/<profile>/deps/<bench>`).
fn binary(full: bool, package: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let path = if full {
        profile_dir
            .parent()
            .unwrap()
            .join("lambda")
            .join(package)
            .join("bootstrap")
    } else {
        profile_dir.join(package)
    };
    assert!(
        path.exists(),
        "{} is missing: {}",
        path.display(),
        if full {
            "run `cargo lambda build --release` first (make bench does)"
        } else {
            "run `cargo build --workspace --bins` first (make test does)"
        }
    );
    path
}

/// A cookie of a fresh session of `user`, created through the in-process handler.
async fn session(table: &TestTable, user: &str) -> String {
    let app = app(table, &[]);
    let created = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket(user, None)),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    created.cookie_token()
}

/// The load each function serves: a representative event per invocation, and a check of the answer.
struct Workload {
    package: &'static str,
    /// Variables the function needs beyond the test configuration.
    extra: Vec<(&'static str, String)>,
    /// Makes the event of invocation `i` (may prepare state in the table first).
    event: Box<dyn Fn(usize) -> Value>,
    check: fn(&Value) -> Result<(), String>,
}

fn http_status(expected: u16) -> impl Fn(&Value) -> Result<(), String> {
    move |answer: &Value| {
        let reply = Reply::parse(Payload::V2, answer.clone());
        if reply.status == expected {
            Ok(())
        } else {
            Err(format!("status {} ({})", reply.status, reply.body))
        }
    }
}

fn expect_200(answer: &Value) -> Result<(), String> {
    http_status(200)(answer)
}

fn expect_201(answer: &Value) -> Result<(), String> {
    http_status(201)(answer)
}

fn expect_204(answer: &Value) -> Result<(), String> {
    http_status(204)(answer)
}

fn expect_authorized(answer: &Value) -> Result<(), String> {
    if answer["isAuthorized"] == json!(true) {
        Ok(())
    } else {
        Err(format!("not authorized: {answer}"))
    }
}

async fn workloads(table: &TestTable, invocations: usize) -> Vec<Workload> {
    let token = session(table, "bench-user").await;
    // Each sign-out ends, and each refresh rotates, a session of its own.
    let mut to_end = Vec::with_capacity(invocations);
    let mut to_refresh = Vec::with_capacity(invocations);
    for i in 0..invocations {
        to_end.push(session(table, &format!("bench-out-{i}")).await);
        to_refresh.push(session(table, &format!("bench-refresh-{i}")).await);
    }
    let validate = {
        let token = token.clone();
        move |_| {
            Event::new(Payload::V2, "GET", "/sessions/current")
                .session_cookie(&token)
                .to_json()
        }
    };
    let list = {
        let token = token.clone();
        move |_| {
            Event::new(Payload::V2, "GET", "/sessions")
                .session_cookie(&token)
                .to_json()
        }
    };
    let minted = {
        let token = token.clone();
        move |_| {
            Event::new(Payload::V2, "POST", "/sessions/current/token")
                .session_cookie(&token)
                .json_body(&json!({"audience": "orders"}))
                .to_json()
        }
    };
    let refresh = move |i: usize| {
        Event::new(Payload::V2, "POST", "/sessions/current/refresh")
            .session_cookie(&to_refresh[i])
            .to_json()
    };
    let authorize = {
        let token = token.clone();
        move |_| AuthorizerEvent::new().session_cookie(&token).to_json()
    };
    vec![
        Workload {
            extra: Vec::new(),
            package: "session-validate",
            event: Box::new(validate),
            check: expect_200,
        },
        Workload {
            extra: Vec::new(),
            package: "session-create",
            event: Box::new(|i| {
                Event::new(Payload::V2, "POST", "/sessions")
                    .bearer(&ticket(&format!("bench-new-{i}"), None))
                    .to_json()
            }),
            check: expect_201,
        },
        Workload {
            extra: Vec::new(),
            package: "session-refresh",
            event: Box::new(refresh),
            check: expect_200,
        },
        Workload {
            extra: Vec::new(),
            package: "session-logout",
            event: Box::new(move |i| {
                Event::new(Payload::V2, "DELETE", "/sessions/current")
                    .session_cookie(&to_end[i])
                    .to_json()
            }),
            check: expect_204,
        },
        Workload {
            extra: Vec::new(),
            package: "session-manage",
            event: Box::new(list),
            check: expect_200,
        },
        Workload {
            extra: Vec::new(),
            package: "session-admin",
            event: Box::new(|i| {
                Event::new(
                    Payload::V2,
                    "DELETE",
                    &format!("/admin/users/nobody-{i}/sessions"),
                )
                .iam_caller("arn:aws:iam::123456789012:role/bench")
                .to_json()
            }),
            check: expect_200,
        },
        Workload {
            extra: Vec::new(),
            package: "session-authorizer",
            event: Box::new(authorize),
            check: expect_authorized,
        },
        Workload {
            extra: vec![
                ("SESSION_TOKEN_KEYS", signing_key().await),
                ("SESSION_TOKEN_AUDIENCES", AUDIENCES.to_owned()),
            ],
            package: "session-token",
            event: Box::new(minted),
            check: expect_200,
        },
        Workload {
            extra: Vec::new(),
            package: "session-echo",
            event: Box::new(|_| {
                Event::new(Payload::V2, "GET", "/example/whoami")
                    .authorizer_context(&json!({"user_id": "bench-user", "session_id": "s"}))
                    .to_json()
            }),
            check: expect_200,
        },
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Serves `seconds` of validates with `clients` instances, each fed one invocation at a time.
async fn throughput(binary: &Path, table: &TestTable, clients: usize, window: Duration) -> String {
    let token = session(table, "bench-throughput").await;
    let event = Event::new(Payload::V2, "GET", "/sessions/current")
        .session_cookie(&token)
        .to_json();
    let mut instances = Vec::new();
    for _ in 0..clients {
        instances.push(Instance::start(binary, "session-validate", &table.name).await);
    }
    // Warm each instance (first connection to DynamoDB) before timing.
    for instance in &instances {
        expect_200(&instance.api.invoke(event.clone()).await.unwrap()).unwrap();
    }
    let started = Instant::now();
    let runs = instances.iter().map(|instance| {
        let event = event.clone();
        async move {
            let mut latencies = Vec::new();
            while started.elapsed() < window {
                let t = Instant::now();
                let answer = instance.api.invoke(event.clone()).await.unwrap();
                latencies.push(t.elapsed());
                expect_200(&answer).unwrap();
            }
            latencies
        }
    });
    let mut latencies: Vec<Duration> = futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    let elapsed = started.elapsed();
    let peak = instances.iter().map(Instance::peak_rss_kib).max().unwrap();
    for instance in instances {
        instance.stop().await;
    }
    latencies.sort();
    format!(
        "| {clients} | {} | {:.0} | {:.2} | {:.2} | {:.1} |",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        peak as f64 / 1024.0
    )
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs the smoke version.
    let full = std::env::args().any(|a| a == "--bench");
    let (starts, invocations) = if full { (20, 1_000) } else { (2, 10) };
    let table = TestTable::new().await;
    let workloads = workloads(&table, invocations).await;

    println!("Each function's binary under a local Lambda Runtime API, {starts} cold starts and");
    println!("{invocations} sequential invocations of a representative event each:");
    println!();
    println!(
        "| function | cold start p50 (ms) | cold start max (ms) | invocation p50 (ms) | peak RSS after load (MB) |"
    );
    println!("|---|---|---|---|---|");
    for workload in &workloads {
        let binary = binary(full, workload.package);
        let mut cold = Vec::new();
        let start = || {
            let identity = workload.package == "session-create";
            Instance::start_with(
                &binary,
                workload.package,
                &table.name,
                identity,
                &workload.extra,
            )
        };
        for _ in 1..starts {
            let instance = start().await;
            cold.push(instance.cold_start);
            instance.stop().await;
        }
        let instance = start().await;
        cold.push(instance.cold_start);
        let mut latencies = Vec::with_capacity(invocations);
        for i in 0..invocations {
            let event = (workload.event)(i);
            let t = Instant::now();
            let answer = instance.api.invoke(event).await;
            latencies.push(t.elapsed());
            let checked = answer.and_then(|a| (workload.check)(&a));
            if let Err(problem) = checked {
                panic!("{} invocation {i}: {problem}", workload.package);
            }
        }
        let peak = instance.peak_rss_kib();
        instance.stop().await;
        cold.sort();
        latencies.sort();
        println!(
            "| {} | {:.1} | {:.1} | {:.2} | {:.1} |",
            workload.package,
            ms(percentile(&cold, 0.5)),
            ms(*cold.last().unwrap()),
            ms(percentile(&latencies, 0.5)),
            peak as f64 / 1024.0
        );
    }

    cold_starts_by_what_is_built(full, starts, &table).await;

    let window = Duration::from_secs(if full { 10 } else { 1 });
    let binary = binary(full, "session-validate");
    println!();
    println!(
        "Validate throughput: concurrent instances (clients), each serving one invocation at a time, for {} s:",
        window.as_secs()
    );
    println!();
    println!("| clients | validates | per second | p50 (ms) | p99 (ms) | peak RSS (MB) |");
    println!("|---|---|---|---|---|---|");
    for clients in [1, 2, 4] {
        println!("{}", throughput(&binary, &table, clients, window).await);
    }
    table.drop_table().await;
}
