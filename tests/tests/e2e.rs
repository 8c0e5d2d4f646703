//! End to end over HTTP: the functions behind `cargo lambda watch` on the routes of the
//! template (started by `make test`, which sets E2E_BASE_URL) with a cookie jar, as a browser
//! would use them; and the bounded load test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A minimal browser-like jar: stores `Set-Cookie`, drops cookies set with `Max-Age=0`.
#[derive(Default)]
struct CookieJar(HashMap<String, String>);

impl CookieJar {
    fn absorb(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let cookie = cookie::Cookie::parse(value.to_str().unwrap().to_owned()).unwrap();
            let removed = cookie.max_age().is_some_and(|age| age.is_zero());
            if removed {
                self.0.remove(cookie.name());
            } else {
                self.0
                    .insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
    }

    fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// reqwest shares the functions' rustls, which has no built-in crypto provider: install ring,
/// as the functions do.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// The local demo frontend's origin, which `make test` allows (`SESSION_ALLOWED_ORIGINS`).
const FRONTEND: &str = "http://localhost:9001";

struct Browser {
    base: String,
    http: reqwest::Client,
    jar: CookieJar,
    /// The page the requests come from: browsers send it as `Origin` on POST/PATCH/DELETE.
    origin: String,
}

impl Browser {
    fn new() -> Self {
        let base = std::env::var("E2E_BASE_URL")
            .expect("E2E_BASE_URL is not set: `make test` starts the stack and sets it");
        Self {
            base,
            http: http_client(),
            jar: CookieJar::default(),
            origin: FRONTEND.to_owned(),
        }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.send_with(method, path, body, &[]).await
    }

    async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let unsafe_method = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if unsafe_method {
            request = request.header("Origin", &self.origin);
        }
        if let Some(cookies) = self.jar.header() {
            request = request.header(COOKIE, cookies);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the local stack answers");
        self.jar.absorb(&response);
        let status = response.status();
        let names: Vec<&str> = response.headers().keys().map(|h| h.as_str()).collect();
        session_tests::record_status(method.as_str(), path, status.as_u16(), &names);
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body, got {text:?}"))
        };
        (status, body)
    }
}

fn ticket(sub: &str) -> String {
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "run",
            "--quiet",
            "-p",
            "dev-tools",
            "--bin",
            "dev-token",
            "--",
            sub,
            "--tenant",
            "acme",
        ])
        .output()
        .expect("dev-token runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn sign_in_validate_refresh_validate_logout_then_validate_is_rejected() {
    let mut browser = Browser::new();

    let (status, created) = browser
        .send(
            Method::POST,
            "/sessions",
            Some(json!({ "id_token": ticket("e2e-user"), "data": { "cart": 3 } })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(
        browser.jar.0.contains_key("__Host-session"),
        "create sets the cookie"
    );
    assert!(
        created.get("token").is_none(),
        "no token in a cookie-mode body"
    );

    let (status, current) = browser.send(Method::GET, "/sessions/current", None).await;
    assert_eq!(status, StatusCode::OK, "{current}");
    assert_eq!(current["session_id"], created["session_id"]);
    assert_eq!(current["user_id"], "e2e-user");
    assert_eq!(current["tenant_id"], "acme");
    assert_eq!(current["data"]["cart"], 3);

    let before = browser.jar.0["__Host-session"].clone();
    let (status, refreshed) = browser
        .send(Method::POST, "/sessions/current/refresh", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let instant = |session: &Value| {
        let text = session["expires_at"]
            .as_str()
            .expect("expires_at is a string");
        chrono::DateTime::parse_from_rfc3339(text).expect("expires_at is an RFC 3339 instant")
    };
    assert!(
        instant(&refreshed) >= instant(&created),
        "refresh moved expires_at back: {refreshed} after {created}"
    );
    assert_ne!(
        browser.jar.0["__Host-session"], before,
        "refresh rotates the cookie"
    );

    let (status, again) = browser.send(Method::GET, "/sessions/current", None).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["session_id"], created["session_id"]);

    let (status, _) = browser
        .send(Method::DELETE, "/sessions/current", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(browser.jar.0.is_empty(), "logout clears the cookie");

    let (status, rejected) = browser.send(Method::GET, "/sessions/current", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(rejected["error"]["code"], "unauthenticated");
}

#[tokio::test]
async fn lifecycle_events_reach_a_webhook_receiver_through_the_local_pipeline() {
    // make test runs the pipeline of make dev: the stream pump, session-events under watch, and
    // a receiver that verifies every signature with the standardwebhooks package (PyPI).
    let log = std::env::var("E2E_WEBHOOK_LOG")
        .expect("E2E_WEBHOOK_LOG is not set: `make test` starts the pipeline and sets it");
    let mut browser = Browser::new();
    let (status, created) = browser
        .send(
            Method::POST,
            "/sessions",
            Some(json!({ "id_token": ticket("events-user") })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) = browser
        .send(Method::DELETE, "/sessions/current", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let session_id = created["session_id"].as_str().unwrap().to_owned();

    let mut received: Vec<Value> = Vec::new();
    for _ in 0..120 {
        received = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|entry| entry["event"]["data"]["session_id"] == session_id.as_str())
            .collect();
        if received.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    let types: Vec<&str> = received
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["session.created", "session.revoked"],
        "{received:?}"
    );
    assert!(
        received.iter().all(|e| e["verified"] == true),
        "every signature verified by standardwebhooks: {received:?}"
    );
    assert_eq!(received[1]["event"]["data"]["reason"], "signed_out");
    assert_eq!(received[0]["webhook_id"], received[0]["event"]["id"]);
}

#[tokio::test]
async fn a_stolen_cookie_stops_working_once_its_owner_signs_out() {
    let mut owner = Browser::new();
    let (status, _) = owner
        .send(
            Method::POST,
            "/sessions",
            Some(json!({ "id_token": ticket("victim") })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut thief = Browser::new();
    thief.jar.0 = owner.jar.0.clone();

    let (status, _) = owner.send(Method::DELETE, "/sessions/current", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, body) = thief.send(Method::GET, "/sessions/current", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "invalid_token");
    assert!(thief.jar.0.is_empty(), "the rejected cookie is cleared");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors_through_the_router() {
    let mut browser = Browser::new();
    let (status, body) = browser.send(Method::GET, "/no/such/route", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");

    let (status, body) = browser.send(Method::PUT, "/sessions/current", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn a_cookie_request_from_a_foreign_origin_is_refused_and_changes_nothing() {
    let mut browser = Browser::new();
    let (status, _) = browser
        .send(
            Method::POST,
            "/sessions",
            Some(json!({ "id_token": ticket("csrf-victim") })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // A page on another site makes the victim's browser send a sign-out with the cookie.
    browser.origin = "https://evil.example".to_owned();
    let (status, body) = browser
        .send(Method::DELETE, "/sessions/current", None)
        .await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "csrf_rejected");
    let (status, _) = browser.send(Method::GET, "/sessions/current", None).await;
    assert_eq!(status, StatusCode::OK, "the session survived");
}

#[tokio::test]
async fn an_old_cookie_within_the_grace_window_is_upgraded_to_the_rotated_one() {
    let mut owner = Browser::new();
    let (status, _) = owner
        .send(
            Method::POST,
            "/sessions",
            Some(json!({ "id_token": ticket("replay-victim") })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut thief = Browser::new();
    thief.jar.0 = owner.jar.0.clone();
    let (status, _) = owner
        .send(Method::POST, "/sessions/current/refresh", None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Within the grace window the old cookie still resolves (a slow tab), and is upgraded.
    let (status, _) = thief.send(Method::GET, "/sessions/current", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        thief.jar.0, owner.jar.0,
        "the old cookie was replaced by the new one"
    );
}

#[tokio::test]
async fn the_cors_preflight_passes_for_the_allowed_origin_only() {
    let http = http_client();
    let base = std::env::var("E2E_BASE_URL").unwrap();
    let preflight = |origin: &'static str| {
        http.request(Method::OPTIONS, format!("{base}/sessions/current"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "DELETE")
            .send()
    };

    let allowed = preflight(FRONTEND).await.unwrap();
    let other = preflight("https://evil.example").await.unwrap();

    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"]
            .to_str()
            .unwrap(),
        FRONTEND
    );
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

/// Two devices of one user, each with its own cookie jar and user agent.
#[tokio::test]
async fn two_devices_list_revoke_sign_out_everywhere_and_conflicting_patches() {
    const LAPTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) \
        AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
    let user = format!("two-devices-{}", std::process::id());
    let mut laptop = Browser::new();
    let mut phone = Browser::new();
    for (device, ua) in [(&mut laptop, LAPTOP), (&mut phone, PHONE)] {
        let (status, body) = device
            .send_with(
                Method::POST,
                "/sessions",
                Some(json!({ "id_token": ticket(&user), "data": { "theme": "light" } })),
                &[("User-Agent", ua)],
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // The list shows both, each device sees itself as current.
    let (status, listed) = laptop
        .send_with(Method::GET, "/sessions", None, &[("User-Agent", LAPTOP)])
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    let mine = sessions.iter().find(|s| s["current"] == true).unwrap();
    let other = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(mine["device"]["label"], "Chrome on Windows 10");
    assert_eq!(other["device"]["os"], "iPhone");
    let (_, from_phone) = phone
        .send_with(Method::GET, "/sessions", None, &[("User-Agent", PHONE)])
        .await;
    let phone_current = from_phone["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(phone_current["session_id"], other["session_id"]);

    // Conflicting edits of the session data: the second writer on version 1 gets 412.
    let (status, first) = laptop
        .send_with(
            Method::PATCH,
            "/sessions/current",
            Some(json!({ "data": { "theme": "dark" } })),
            &[("If-Match", "\"1\""), ("User-Agent", LAPTOP)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["version"], 2);
    let (status, conflict) = laptop
        .send_with(
            Method::PATCH,
            "/sessions/current",
            Some(json!({ "data": { "theme": "blue" }, "version": 1 })),
            &[("User-Agent", LAPTOP)],
        )
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{conflict}");
    assert_eq!(conflict["error"]["code"], "precondition_failed");

    // The laptop revokes the phone: the phone's next request is refused.
    let other_id = other["session_id"].as_str().unwrap();
    let (status, _) = laptop
        .send_with(
            Method::DELETE,
            &format!("/sessions/{other_id}"),
            None,
            &[("User-Agent", LAPTOP)],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = phone
        .send_with(
            Method::GET,
            "/sessions/current",
            None,
            &[("User-Agent", PHONE)],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "session_revoked");
    assert!(phone.jar.0.is_empty(), "the revoked cookie is cleared");

    // The phone signs in again; the laptop signs out everywhere: both are out.
    let (status, _) = phone
        .send_with(
            Method::POST,
            "/sessions",
            Some(json!({ "id_token": ticket(&user) })),
            &[("User-Agent", PHONE)],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, everywhere) = laptop
        .send_with(Method::DELETE, "/sessions", None, &[("User-Agent", LAPTOP)])
        .await;
    assert_eq!(status, StatusCode::OK, "{everywhere}");
    assert_eq!(everywhere["revoked"], 2);
    assert!(
        laptop.jar.0.is_empty(),
        "sign-out everywhere clears this cookie"
    );
    let (status, _) = phone
        .send_with(
            Method::GET,
            "/sessions/current",
            None,
            &[("User-Agent", PHONE)],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// A login ticket minted in process with the stack's dev settings (the `AUTH_JWT_*` that
/// `make test` exports): what `dev-token` mints, without starting a process per sign-in.
/// Tickets are single-use, so every sign-in of the load needs its own.
fn minted_ticket(sub: &str) -> String {
    let var =
        |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by make test"));
    let (issuer, audience) = (var("AUTH_JWT_ISSUER"), var("AUTH_JWT_AUDIENCE"));
    let now = chrono::Utc::now().timestamp();
    let claims = session_shared::identity::TicketClaims {
        sub,
        iss: &issuer,
        aud: &audience,
        iat: now,
        nbf: now,
        exp: now + 300,
        extra: HashMap::from([("tenant_id".to_owned(), json!("acme"))]),
    };
    session_shared::identity::mint_hs256(&claims, var("AUTH_JWT_HS256_SECRET").as_bytes()).unwrap()
}

/// One load client: signs in, then validates, refreshes and signs out in a fixed mix,
/// checking every answer against what it expects of its own session.
async fn load_client(client: usize, until: std::time::Instant) -> LoadOutcome {
    let mut browser = Browser::new();
    let mut requests = 0;
    let mut errors = Vec::new();
    let mut current: Option<Value> = None;
    // Cookies of sessions this client signed out: each must stay rejected.
    let mut ended = Vec::new();
    let mut step = client;
    while std::time::Instant::now() < until {
        step += 1;
        requests += 1;
        let Some(session_id) = current.clone() else {
            let (status, body) = browser
                .send(
                    Method::POST,
                    "/sessions",
                    Some(json!({ "id_token": minted_ticket(&format!("load-{client}")) })),
                )
                .await;
            if status == StatusCode::CREATED {
                current = Some(body["session_id"].clone());
            } else {
                errors.push(format!("create: {status} {body}"));
            }
            continue;
        };
        match step % 10 {
            0 => {
                let cookie = browser.jar.0.get("__Host-session").cloned();
                let (status, body) = browser
                    .send(Method::DELETE, "/sessions/current", None)
                    .await;
                if status != StatusCode::NO_CONTENT || !browser.jar.0.is_empty() {
                    errors.push(format!("logout: {status} {body}"));
                }
                ended.extend(cookie);
                current = None;
            }
            1 | 5 => {
                let (status, body) = browser
                    .send(Method::POST, "/sessions/current/refresh", None)
                    .await;
                if status != StatusCode::OK || body["session_id"] != session_id {
                    errors.push(format!("refresh: {status} {body}"));
                }
            }
            _ => {
                let (status, body) = browser.send(Method::GET, "/sessions/current", None).await;
                if status != StatusCode::OK || body["session_id"] != session_id {
                    errors.push(format!("validate: {status} {body}"));
                }
            }
        }
    }
    LoadOutcome {
        requests,
        errors,
        browser,
        current,
        ended,
    }
}

struct LoadOutcome {
    requests: usize,
    errors: Vec<String>,
    browser: Browser,
    /// The session the client holds at the end (its `session_id`), if any.
    current: Option<Value>,
    ended: Vec<String>,
}

/// A bounded load: LOAD_CLIENTS concurrent clients (8) for LOAD_SECONDS (10) against the local
/// stack; no request may fail, and afterwards every session is in the state its client expects
/// (its live session validates as itself, every session it signed out stays rejected).
#[tokio::test]
async fn a_bounded_mixed_load_has_no_errors_and_every_session_ends_as_expected() {
    let setting = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let clients = setting("LOAD_CLIENTS", 8);
    let seconds = setting("LOAD_SECONDS", 10);
    let started = std::time::Instant::now();
    let until = started + std::time::Duration::from_secs(seconds as u64);
    let runs = (0..clients).map(|client| tokio::spawn(load_client(client, until)));
    let results: Vec<_> = futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let requests: usize = results.iter().map(|r| r.requests).sum();
    let errors: Vec<&String> = results.iter().flat_map(|r| &r.errors).collect();
    println!(
        "load: {clients} clients, {requests} requests in {elapsed:.1} s = {:.0} requests/s, {} errors",
        requests as f64 / elapsed,
        errors.len()
    );
    assert!(errors.is_empty(), "errors under load: {errors:?}");
    assert!(
        requests > clients * 10,
        "the load ran ({requests} requests)"
    );

    let mut ended_total = 0;
    for mut outcome in results {
        if let Some(session_id) = outcome.current {
            let (status, body) = outcome
                .browser
                .send(Method::GET, "/sessions/current", None)
                .await;
            assert_eq!(
                status,
                StatusCode::OK,
                "a live session survives the load: {body}"
            );
            assert_eq!(body["session_id"], session_id);
        }
        for cookie in outcome.ended {
            ended_total += 1;
            let mut other = Browser::new();
            other.jar.0.insert("__Host-session".into(), cookie);
            let (status, body) = other.send(Method::GET, "/sessions/current", None).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "a signed-out session stays ended: {body}"
            );
        }
    }
    assert!(ended_total > 0, "the mix signed sessions out");
}
