//! Lost answers: DynamoDB applies a write, its answer comes after the attempt timeout, and the
//! SDK retries the same request ([`LostAnswer`], in the HTTP client below the retry loop). For
//! every user-facing operation that writes, and for each of its writes in turn, the outcome
//! with the fault equals the outcome without it: the same answers (status, error code, cookie,
//! session JSON) to the call and to the calls that follow it, and the same table (live
//! sessions with their data and versions, retired and revoked tokens, ticket records, the
//! per-user guard). No extra session, no lost or doubled update, no false replay detection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;

use serde_json::{Value, json};
use session_shared::SignIn;
use session_shared::store::SessionStore;
use session_tests::{
    Event, Function, ISSUER, LostAnswer, Payload, Reply, TestTable, app_with_store, endpoint,
    invoke, losing_client, ticket,
};

/// The write whose answer is lost: the operation's name and which of its calls (0-based)
/// within the faulted request.
type Fault = (&'static str, usize);

/// A table and an app of their own, whose DynamoDB client may lose one answer of the call
/// under test ([`World::act`]); the calls that set it up and look at it after lose none.
struct World {
    table: TestTable,
    app: SignIn,
    lost: LostAnswer,
    fault: Option<Fault>,
    held: Mutex<Vec<String>>,
}

impl World {
    async fn new(overrides: &[(&str, &str)], fault: Option<Fault>) -> Self {
        let table = TestTable::new().await;
        let lost = LostAnswer::default();
        let store = SessionStore::new(losing_client(&endpoint(), &lost, None), table.name.clone());
        let app = app_with_store(store, &table.name, overrides);
        Self {
            table,
            app,
            lost,
            fault,
            held: Mutex::new(Vec::new()),
        }
    }

    /// A call that sets the scene or looks at the result: no fault.
    async fn call(&self, function: Function, event: Event) -> Reply {
        invoke(&self.app, function, event).await
    }

    /// The call under test, with the world's fault armed.
    async fn act(&self, function: Function, event: Event) -> Reply {
        if let Some((operation, nth)) = self.fault {
            self.lost.arm(operation, nth);
        }
        let reply = invoke(&self.app, function, event).await;
        self.held.lock().unwrap().extend(self.lost.held());
        reply
    }

    /// A cookie session of `user` (tenant `acme`), signed in from the test frontend.
    async fn signed_in(&self, user: &str) -> String {
        let reply = self
            .call(Function::Create, sign_in(&ticket(user, Some("acme"))))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.cookie_token()
    }

    /// What the table holds, without what is random (ids, tokens, times).
    async fn state(&self) -> Value {
        let mut live = Vec::new();
        let mut retired = 0;
        let mut revoked = Vec::new();
        let mut tickets = Vec::new();
        let mut guards = Vec::new();
        let mut guest_counts = Vec::new();
        for item in self.table.items().await {
            let text = |name: &str| {
                item.get(name)
                    .and_then(|v| v.as_s().ok().or_else(|| v.as_n().ok()))
                    .cloned()
                    .unwrap_or_default()
            };
            let pk = text("pk");
            if pk.starts_with("TICKET#") {
                tickets.push(item.contains_key("released"));
            } else if pk.starts_with("GUESTS#") {
                guest_counts.push(text("n"));
            } else if text("sk") == "GUARD" {
                guards.push(text("version"));
            } else if pk.starts_with("TOKEN#") {
                match text("kind").as_str() {
                    "session" => live.push(json!({
                        "user": without_guest_id(&text("user_id")),
                        "data": text("data"),
                        "data_version": text("data_version"),
                        "version": text("version"),
                    })),
                    "retired" => retired += 1,
                    _ => revoked.push(text("revoked_reason")),
                }
            }
        }
        live.sort_by_key(Value::to_string);
        revoked.sort();
        tickets.sort();
        json!({
            "live": live,
            "retired": retired,
            "revoked": revoked,
            "tickets": tickets,
            "guards": guards,
            "guest_counts": guest_counts,
        })
    }

    async fn finish(self, seen: Vec<Seen>) -> (Outcome, Vec<String>) {
        let state = self.state().await;
        let held = self.held.into_inner().unwrap();
        self.table.drop_table().await;
        (Outcome { seen, state }, held)
    }
}

/// What a client sees of one answer, without what is random.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    code: String,
    cookie: &'static str,
    body: Value,
}

impl Seen {
    fn of(reply: &Reply) -> Self {
        let cookie = match reply.set_cookies.as_slice() {
            [] => "kept",
            [one] if one.contains("Max-Age=0") => "cleared",
            [_] => "new",
            _ => "several",
        };
        let mut body = json!({});
        for key in [
            "guest",
            "user_id",
            "tenant_id",
            "data",
            "version",
            "profile",
            "revoked",
        ] {
            if let Some(value) = reply.body.get(key) {
                body[key] = match value.as_str() {
                    Some(text) => json!(without_guest_id(text)),
                    None => value.clone(),
                };
            }
        }
        Self {
            status: reply.status,
            code: reply.body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            cookie,
            body,
        }
    }
}

#[derive(Debug, PartialEq)]
struct Outcome {
    seen: Vec<Seen>,
    state: Value,
}

/// A guest's user id without the random session id in it.
fn without_guest_id(user_id: &str) -> String {
    match user_id.strip_prefix("guest:") {
        Some(_) => "guest:<id>".to_owned(),
        None => user_id.to_owned(),
    }
}

fn sign_in(ticket: &str) -> Event {
    sign_in_with(json!({"id_token": ticket, "data": {"cart": 1}}))
}

fn sign_in_with(body: Value) -> Event {
    Event::new(Payload::V2, "POST", "/sessions").json_body(&body)
}

fn validate(token: &str) -> Event {
    Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(token)
}

fn with_cookie(method: &str, path: &str, token: &str) -> Event {
    Event::new(Payload::V2, method, path).session_cookie(token)
}

fn admin(method: &str, path: &str) -> Event {
    Event::new(Payload::V2, method, path)
        .query("issuer", ISSUER)
        .query("tenant_id", "acme")
        .iam_signed("arn:aws:iam::123456789012:role/support-console")
}

/// The token a reply's cookie hands over, else the one the client held.
fn held_after(reply: &Reply, before: &str) -> String {
    match reply.set_cookies.as_slice() {
        [one] if !one.contains("Max-Age=0") => reply.cookie_token(),
        _ => before.to_owned(),
    }
}

/// Runs `scenario` once without a fault and once per fault, and asserts each fault fired and
/// changed nothing a user or the table could tell.
macro_rules! same_outcome {
    ($overrides:expr, [$($fault:expr),+ $(,)?], $scenario:ident) => {{
        let overrides: &[(&str, &str)] = $overrides;
        let (clean, held) = $scenario(World::new(overrides, None).await).await;
        assert!(held.is_empty());
        for fault in [$($fault),+] {
            let (faulted, held) = $scenario(World::new(overrides, Some(fault)).await).await;
            assert_eq!(held, vec![fault.0.to_owned()], "the fault {fault:?} fired");
            assert_eq!(
                faulted, clean,
                "with the answer of {fault:?} lost, the outcome differs from the one without"
            );
        }
    }};
}

/// Sign-in, then: the new cookie works, and the same ticket again is refused (one ticket, one
/// session).
async fn signing_in(w: World) -> (Outcome, Vec<String>) {
    let ticket = ticket("alice", Some("acme"));
    let created = w.act(Function::Create, sign_in(&ticket)).await;
    let token = held_after(&created, "");
    let after = w.call(Function::Validate, validate(&token)).await;
    let again = w.call(Function::Create, sign_in(&ticket)).await;
    w.finish(vec![Seen::of(&created), Seen::of(&after), Seen::of(&again)])
        .await
}

#[tokio::test]
async fn a_sign_in_without_the_cap_survives_a_lost_answer_of_each_write() {
    same_outcome!(
        &[("SESSION_MAX_PER_USER", "0")],
        [("PutItem", 0), ("PutItem", 1)],
        signing_in
    );
}

#[tokio::test]
async fn a_sign_in_under_the_cap_survives_a_lost_answer_of_each_write() {
    // The ticket's claim, the head, the guard.
    same_outcome!(
        &[],
        [("PutItem", 0), ("PutItem", 1), ("UpdateItem", 0)],
        signing_in
    );
}

/// A sign-in over the cap of one: the first session is evicted once the guard moved.
async fn signing_in_over_the_cap(w: World) -> (Outcome, Vec<String>) {
    let first = w.signed_in("alice").await;
    let created = w
        .act(Function::Create, sign_in(&ticket("alice", Some("acme"))))
        .await;
    let token = held_after(&created, "");
    let new = w.call(Function::Validate, validate(&token)).await;
    let old = w.call(Function::Validate, validate(&first)).await;
    w.finish(vec![Seen::of(&created), Seen::of(&new), Seen::of(&old)])
        .await
}

#[tokio::test]
async fn a_sign_in_that_evicts_survives_a_lost_answer_of_each_write() {
    same_outcome!(
        &[("SESSION_MAX_PER_USER", "1")],
        // The ticket's claim, the head, the guard, the eviction.
        [
            ("PutItem", 0),
            ("PutItem", 1),
            ("UpdateItem", 0),
            ("UpdateItem", 1)
        ],
        signing_in_over_the_cap
    );
}

/// A rotation (refresh, or renewal by validate), then: the new token works, and the old one
/// within its grace window still leads to the new one (no replay detection).
async fn rotated(w: &World, token: &str, rotation: Reply) -> Vec<Seen> {
    let new = held_after(&rotation, token);
    assert_ne!(new, token, "the rotation handed over a new token");
    let with_new = w.call(Function::Validate, validate(&new)).await;
    let with_old = w.call(Function::Validate, validate(token)).await;
    assert_eq!(
        held_after(&with_old, token),
        new,
        "the old token leads to the new one"
    );
    vec![
        Seen::of(&rotation),
        Seen::of(&with_new),
        Seen::of(&with_old),
    ]
}

async fn refreshing(w: World) -> (Outcome, Vec<String>) {
    let token = w.signed_in("alice").await;
    let refreshed = w
        .act(
            Function::Refresh,
            with_cookie("POST", "/sessions/current/refresh", &token),
        )
        .await;
    let seen = rotated(&w, &token, refreshed).await;
    w.finish(seen).await
}

#[tokio::test]
async fn a_refresh_survives_a_lost_answer() {
    // The new head, the old one retired.
    same_outcome!(&[], [("PutItem", 0), ("UpdateItem", 0)], refreshing);
}

async fn renewing(w: World) -> (Outcome, Vec<String>) {
    let token = w.signed_in("alice").await;
    // Past SESSION_ROTATE_AFTER (5 s): the next validate renews the token. Long enough that
    // the new token is not due in turn while the lost answer (up to 2.6 s) is waited out.
    tokio::time::sleep(std::time::Duration::from_millis(5100)).await;
    let renewed = w.act(Function::Validate, validate(&token)).await;
    let seen = rotated(&w, &token, renewed).await;
    w.finish(seen).await
}

#[tokio::test]
async fn a_renewal_survives_a_lost_answer() {
    same_outcome!(
        &[("SESSION_ROTATE_AFTER", "5s")],
        [("PutItem", 0), ("UpdateItem", 0)],
        renewing
    );
}

async fn patching(w: World, if_match: bool) -> (Outcome, Vec<String>) {
    let token = w.signed_in("alice").await;
    let mut patch = with_cookie("PATCH", "/sessions/current", &token)
        .json_body(&json!({"data": {"cart": 2, "theme": "dark"}}));
    if if_match {
        patch = patch.header("If-Match", "\"1\"");
    }
    let patched = w.act(Function::Manage, patch).await;
    let after = w.call(Function::Validate, validate(&token)).await;
    w.finish(vec![Seen::of(&patched), Seen::of(&after)]).await
}

async fn patching_blindly(w: World) -> (Outcome, Vec<String>) {
    patching(w, false).await
}

async fn patching_with_if_match(w: World) -> (Outcome, Vec<String>) {
    patching(w, true).await
}

#[tokio::test]
async fn a_data_patch_survives_a_lost_answer_and_is_applied_once() {
    same_outcome!(&[], [("UpdateItem", 0)], patching_blindly);
}

#[tokio::test]
async fn a_data_patch_with_if_match_survives_a_lost_answer_without_a_false_conflict() {
    same_outcome!(&[], [("UpdateItem", 0)], patching_with_if_match);
}

async fn signing_out(w: World) -> (Outcome, Vec<String>) {
    let token = w.signed_in("alice").await;
    let out = w
        .act(
            Function::Logout,
            with_cookie("DELETE", "/sessions/current", &token),
        )
        .await;
    let after = w.call(Function::Validate, validate(&token)).await;
    w.finish(vec![Seen::of(&out), Seen::of(&after)]).await
}

#[tokio::test]
async fn a_sign_out_survives_a_lost_answer() {
    same_outcome!(&[], [("DeleteItem", 0)], signing_out);
}

/// Alice on three devices revokes from the first: one device, the others, or everywhere.
async fn revoking(w: World, how: &str) -> (Outcome, Vec<String>) {
    let here = w.signed_in("alice").await;
    let phone = w.signed_in("alice").await;
    let tablet = w.signed_in("alice").await;
    let listed = w
        .call(Function::Validate, validate(&phone))
        .await
        .body
        .clone();
    let event = match how {
        "one" => with_cookie(
            "DELETE",
            &format!("/sessions/{}", listed["session_id"].as_str().unwrap()),
            &here,
        ),
        "others" => with_cookie("DELETE", "/sessions", &here).query("keep_current", "true"),
        _ => with_cookie("DELETE", "/sessions", &here),
    };
    let revoked = w.act(Function::Manage, event).await;
    let mut seen = vec![Seen::of(&revoked)];
    for token in [&here, &phone, &tablet] {
        seen.push(Seen::of(&w.call(Function::Validate, validate(token)).await));
    }
    w.finish(seen).await
}

async fn revoking_one(w: World) -> (Outcome, Vec<String>) {
    revoking(w, "one").await
}

async fn revoking_others(w: World) -> (Outcome, Vec<String>) {
    revoking(w, "others").await
}

async fn revoking_everywhere(w: World) -> (Outcome, Vec<String>) {
    revoking(w, "everywhere").await
}

#[tokio::test]
async fn revoking_one_device_survives_a_lost_answer() {
    same_outcome!(&[], [("UpdateItem", 0)], revoking_one);
}

#[tokio::test]
async fn revoking_the_other_devices_survives_a_lost_answer() {
    same_outcome!(&[], [("TransactWriteItems", 0)], revoking_others);
}

#[tokio::test]
async fn signing_out_everywhere_survives_a_lost_answer_of_each_write() {
    same_outcome!(
        &[],
        [("TransactWriteItems", 0), ("DeleteItem", 0)],
        revoking_everywhere
    );
}

/// Re-authentication with a fresh ticket: the proof's single use, then the rotation.
async fn reauthenticating(w: World) -> (Outcome, Vec<String>) {
    let token = w.signed_in("alice").await;
    let proof = ticket("alice", Some("acme"));
    let reauth = w
        .act(
            Function::Create,
            with_cookie("POST", "/sessions/current/reauth", &token)
                .json_body(&json!({ "id_token": proof })),
        )
        .await;
    let mut seen = rotated(&w, &token, reauth).await;
    let again = w
        .call(
            Function::Create,
            with_cookie("POST", "/sessions/current/reauth", &token)
                .json_body(&json!({ "id_token": proof })),
        )
        .await;
    seen.push(Seen::of(&again));
    w.finish(seen).await
}

#[tokio::test]
async fn a_reauthentication_survives_a_lost_answer_of_each_write() {
    same_outcome!(
        &[],
        // The proof's single use, the new head, the old one retired.
        [("PutItem", 0), ("PutItem", 1), ("UpdateItem", 0)],
        reauthenticating
    );
}

/// An administrator ends all of a user's sessions, or a tenant's.
async fn admin_revoking(w: World, path: &str) -> (Outcome, Vec<String>) {
    let one = w.signed_in("alice").await;
    let two = w.signed_in("alice").await;
    let revoked = w.act(Function::Admin, admin("DELETE", path)).await;
    let mut seen = vec![Seen::of(&revoked)];
    for token in [&one, &two] {
        seen.push(Seen::of(&w.call(Function::Validate, validate(token)).await));
    }
    w.finish(seen).await
}

async fn admin_revoking_a_user(w: World) -> (Outcome, Vec<String>) {
    admin_revoking(w, "/admin/users/alice/sessions").await
}

async fn admin_revoking_a_tenant(w: World) -> (Outcome, Vec<String>) {
    admin_revoking(w, "/admin/tenants/acme/sessions").await
}

#[tokio::test]
async fn an_administrator_revoking_a_user_survives_a_lost_answer() {
    same_outcome!(&[], [("TransactWriteItems", 0)], admin_revoking_a_user);
}

#[tokio::test]
async fn an_administrator_revoking_a_tenant_survives_a_lost_answer() {
    same_outcome!(&[], [("TransactWriteItems", 0)], admin_revoking_a_tenant);
}

async fn admin_patching(w: World) -> (Outcome, Vec<String>) {
    let token = w.signed_in("alice").await;
    let id = w.call(Function::Validate, validate(&token)).await.body["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patched = w
        .act(
            Function::Admin,
            admin("PATCH", &format!("/admin/users/alice/sessions/{id}"))
                .json_body(&json!({"data": {"plan": "pro"}})),
        )
        .await;
    let after = w.call(Function::Validate, validate(&token)).await;
    w.finish(vec![Seen::of(&patched), Seen::of(&after)]).await
}

#[tokio::test]
async fn an_administrator_data_patch_survives_a_lost_answer_and_is_applied_once() {
    same_outcome!(&[], [("UpdateItem", 0)], admin_patching);
}

/// Every answer of the ticket's claim comes after the whole budget: every attempt of the claim
/// lands, and the sign-in answers 503 with a resume key.
#[tokio::test]
async fn a_sign_in_whose_answers_all_come_too_late_is_finished_with_its_resume_key_once() {
    let w = World::new(&[], None).await;
    let alice = ticket("alice", Some("acme"));
    w.lost
        .hold_every("PutItem", std::time::Duration::from_millis(3500));
    let interrupted = w.call(Function::Create, sign_in(&alice)).await;
    assert!(!w.lost.held().is_empty(), "the claim's answers were held");
    assert_eq!(
        (interrupted.status, interrupted.error_code()),
        (503, "service_unavailable"),
        "{}",
        interrupted.body
    );
    assert_eq!(interrupted.header("retry-after"), Some("1"));
    assert!(interrupted.set_cookies.is_empty());
    let resume = interrupted.body["error"]["resume"]
        .as_str()
        .expect("the 503 of a sign-in carries a resume key")
        .to_owned();

    // The ticket's use landed: the same ticket without the key is a replay.
    let replay = w.call(Function::Create, sign_in(&alice)).await;
    assert_eq!(
        (replay.status, replay.error_code()),
        (401, "ticket_reused"),
        "{}",
        replay.body
    );
    // A key that is not this sign-in's finishes nothing.
    let forged = w
        .call(
            Function::Create,
            sign_in_with(json!({"id_token": alice, "resume": "A".repeat(43)})),
        )
        .await;
    assert_eq!(
        (forged.status, forged.error_code()),
        (401, "ticket_reused"),
        "{}",
        forged.body
    );
    // A key that is not a key at all is the client's mistake.
    let malformed = w
        .call(
            Function::Create,
            sign_in_with(json!({"id_token": alice, "resume": "nope"})),
        )
        .await;
    assert_eq!(
        (malformed.status, malformed.error_code()),
        (400, "invalid_request"),
        "{}",
        malformed.body
    );
    // With it, the sign-in finishes, with the data it was started with.
    let resumed =
        |key: &str| sign_in_with(json!({"id_token": alice, "data": {"cart": 1}, "resume": key}));
    let finished = w.call(Function::Create, resumed(&resume)).await;
    assert_eq!(finished.status, 201, "{}", finished.body);
    let token = finished.cookie_token();
    let valid = w.call(Function::Validate, validate(&token)).await;
    assert_eq!(valid.status, 200, "{}", valid.body);
    assert_eq!(valid.body["data"]["cart"], 1);
    // Finishing it again gives the same session and token: one ticket, one session.
    let again = w.call(Function::Create, resumed(&resume)).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body["session_id"], finished.body["session_id"]);
    assert_eq!(again.cookie_token(), token);
    let (outcome, _) = w.finish(Vec::new()).await;
    assert_eq!(
        outcome.state["live"].as_array().unwrap().len(),
        1,
        "{}",
        outcome.state
    );
}

/// A validate past half the idle window slides the deadline (one update of the head).
async fn sliding(w: World) -> (Outcome, Vec<String>) {
    let token = w.signed_in("alice").await;
    // Past half of SESSION_IDLE_TIMEOUT (10 s).
    tokio::time::sleep(std::time::Duration::from_millis(5100)).await;
    let slid = w.act(Function::Validate, validate(&token)).await;
    let after = w.call(Function::Validate, validate(&token)).await;
    w.finish(vec![Seen::of(&slid), Seen::of(&after)]).await
}

#[tokio::test]
async fn a_validate_that_slides_the_deadline_survives_a_lost_answer() {
    same_outcome!(
        &[("SESSION_IDLE_TIMEOUT", "10s")],
        [("UpdateItem", 0)],
        sliding
    );
}

/// Under the cap, the sign-in reads the user's sessions after claiming the ticket. When that
/// read is what fails, nothing of the sign-in was written: the ticket is given back, and the
/// same ticket signs in again without a resume key.
#[tokio::test]
async fn a_sign_in_whose_read_fails_gives_its_ticket_back() {
    let w = World::new(&[], None).await;
    let alice = ticket("alice", Some("acme"));
    w.lost
        .hold_every("Query", std::time::Duration::from_millis(3500));
    let failed = w.call(Function::Create, sign_in(&alice)).await;
    assert!(!w.lost.held().is_empty(), "the read's answers were held");
    assert_eq!(
        (failed.status, failed.error_code()),
        (503, "service_unavailable"),
        "{}",
        failed.body
    );

    let again = w.call(Function::Create, sign_in(&alice)).await;
    assert_eq!(again.status, 201, "{}", again.body);
    let (outcome, _) = w.finish(Vec::new()).await;
    assert_eq!(
        outcome.state["live"].as_array().unwrap().len(),
        1,
        "{}",
        outcome.state
    );
}

fn new_guest() -> Event {
    Event::new(Payload::V2, "POST", "/sessions/guest").client("198.51.100.7", "shop/1")
}

/// A guest session is started, then: its cookie works, and the client's count holds exactly
/// one creation (a second fits under a limit of two, a third does not).
async fn starting_a_guest(w: World) -> (Outcome, Vec<String>) {
    let created = w.act(Function::Create, new_guest()).await;
    let token = held_after(&created, "");
    let after = w.call(Function::Validate, validate(&token)).await;
    let second = w.call(Function::Create, new_guest()).await;
    let third = w.call(Function::Create, new_guest()).await;
    let mut seen = vec![Seen::of(&created), Seen::of(&after)];
    seen.extend([Seen::of(&second), Seen::of(&third)]);
    w.finish(seen).await
}

#[tokio::test]
async fn starting_a_guest_session_survives_a_lost_answer_of_each_write_and_counts_once() {
    same_outcome!(
        &[("SESSION_GUEST_LIMIT", "2/1h")],
        // The client's count, the head.
        [("UpdateItem", 0), ("PutItem", 0)],
        starting_a_guest
    );
}

/// A guest with a cart signs in, then: the signed-in session holds the cart, and the guest
/// token is refused.
async fn upgrading_a_guest(w: World) -> (Outcome, Vec<String>) {
    let guest = held_after(&w.call(Function::Create, new_guest()).await, "");
    let patched = w
        .call(
            Function::Manage,
            with_cookie("PATCH", "/sessions/current", &guest)
                .json_body(&json!({"data": {"cart": ["tea"]}})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let created = w
        .act(
            Function::Create,
            sign_in_with(json!({"id_token": ticket("alice", Some("acme"))})).session_cookie(&guest),
        )
        .await;
    let token = held_after(&created, "");
    let after = w.call(Function::Validate, validate(&token)).await;
    let old = w.call(Function::Validate, validate(&guest)).await;
    w.finish(vec![Seen::of(&created), Seen::of(&after), Seen::of(&old)])
        .await
}

#[tokio::test]
async fn signing_in_with_a_guest_session_survives_a_lost_answer_of_each_write() {
    same_outcome!(
        &[],
        // The ticket's claim, the guest's upgrade, the head, the guard.
        [
            ("PutItem", 0),
            ("UpdateItem", 0),
            ("PutItem", 1),
            ("UpdateItem", 1)
        ],
        upgrading_a_guest
    );
}
