//! Session tokens for other services: a mint's latency through `session-token`'s handler
//! (`POST /sessions/current/token`: the session's `GetItem`, then one KMS `Sign`) beside its two
//! calls timed alone, interleaved, on DynamoDB Local and the local KMS (moto, which really
//! signs; AWS KMS's own latency is not measured here); the size of a token; and what verifying
//! one costs the Rust verifier (feature `token`) once its key set is cached. The Node verifier's
//! cost is `clients/js/scripts/verify-bench.mjs`'s.
//!
//! Run: `make bench` (or `cargo bench -p session-tests --bench tokens` with DynamoDB Local, moto
//! and the AWS_* variables of `make test`). Under `cargo test` it is a 20-iteration smoke run
//! that checks every answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use session_shared::domain::SessionToken;
use session_shared::identity::{ServiceTokenVerifier, VerifierOptions};
use session_tests::timing::{micros, percentile, raw_head_read};
use session_tests::tokens::{invoke_tokens, signing_key, tokens_app};
use session_tests::{Event, Payload, TestTable, app, sign_in_reply};

const WARMUP: usize = 50;
const ITERATIONS: usize = 1_000;
const VERIFICATIONS: usize = 20_000;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (warmup, iterations, verifications) = if full {
        (WARMUP, ITERATIONS, VERIFICATIONS)
    } else {
        (5, 20, 20)
    };
    let table = TestTable::new().await;
    let key = signing_key().await;
    let origin = [("SESSION_PUBLIC_ORIGIN", "https://sessions.example.com")];
    let app = app(&table, &origin);
    let tokens = Arc::new(tokens_app(&table, &[&key], &origin));
    let session = sign_in_reply(&app, "alice", None, |event| {
        event.json_body(&json!({"data": {"plan": "pro", "role": "member", "theme": "dark"}}))
    })
    .await
    .cookie_token();
    let hash = SessionToken::parse(&session).unwrap().hash();
    let mint = Event::new(Payload::V2, "POST", "/sessions/current/token")
        .session_cookie(&session)
        .json_body(&json!({"audience": "orders"}));

    let time_mint = async || {
        let t = Instant::now();
        let reply = invoke_tokens(&tokens, mint.clone()).await;
        let elapsed = t.elapsed();
        assert_eq!(reply.status, 200, "{}", reply.body);
        (elapsed, reply.body["token"].as_str().unwrap().to_owned())
    };
    let time_sign = async || {
        let t = Instant::now();
        tokens.tokens.sign(b"header.payload").await.unwrap();
        t.elapsed()
    };
    let time_get = async || raw_head_read(&table, &hash).await;

    let (mut minted, mut signed, mut read) = (Vec::new(), Vec::new(), Vec::new());
    let mut token = String::new();
    for i in 0..warmup + iterations {
        let (mut m, mut s, mut g) = (None, None, None);
        for turn in 0..3 {
            match (i + turn) % 3 {
                0 => m = Some(time_mint().await),
                1 => s = Some(time_sign().await),
                _ => g = Some(time_get().await),
            }
        }
        if i >= warmup {
            let (elapsed, jwt) = m.unwrap();
            minted.push(elapsed);
            token = jwt;
            signed.push(s.unwrap());
            read.push(g.unwrap());
        }
    }
    for sorted in [&mut minted, &mut signed, &mut read] {
        sorted.sort();
    }
    let row = |name: &str, sorted: &[Duration]| {
        println!(
            "| {name} | {:.0} | {:.0} |",
            micros(percentile(sorted, 0.5)),
            micros(percentile(sorted, 0.99)),
        );
    };
    println!(
        "Session tokens for other services, {iterations} interleaved iterations (after {warmup} warm-up), DynamoDB Local and moto's KMS:"
    );
    println!();
    println!("| measure | p50 (µs) | p99 (µs) |");
    println!("|---|---|---|");
    row(
        "mint: POST /sessions/current/token through the handler",
        &minted,
    );
    row("its KMS Sign alone (moto)", &signed);
    row("its GetItem alone (DynamoDB Local)", &read);
    println!();
    println!(
        "A token for an audience given two data keys (`plan`, `role`): {} bytes (header and claims {} bytes).",
        token.len(),
        token.rsplit_once('.').unwrap().0.len()
    );

    // The Rust verifier, its key set fetched once (served from the handler's own answer).
    let url = serve_key_set(tokens.clone()).await;
    let mut options = VerifierOptions::new(&url, "orders");
    options.issuer = Some("https://sessions.example.com".into());
    let verifier = ServiceTokenVerifier::with_options(options);
    verifier.verify(&token).await.unwrap();
    let t = Instant::now();
    for _ in 0..verifications {
        verifier.verify(&token).await.unwrap();
    }
    println!(
        "Rust verifier (feature `token`), key set cached: {:.1} µs per verification ({verifications} in a row).",
        micros(t.elapsed()) / verifications as f64
    );
    table.drop_table().await;
}

/// Serves `tokens`' key set at `/.well-known/jwks.json` on a local port: its URL.
async fn serve_key_set(tokens: Arc<session_shared::handlers::Tokens>) -> String {
    use axum::routing::get;
    let router = axum::Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            let tokens = tokens.clone();
            async move {
                let reply = invoke_tokens(
                    &tokens,
                    Event::new(Payload::V2, "GET", "/.well-known/jwks.json")
                        .without_header("origin"),
                )
                .await;
                axum::Json(reply.body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://127.0.0.1:{port}/.well-known/jwks.json")
}
