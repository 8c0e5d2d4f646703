//! Crashes between writes: the function dies just before one of its DynamoDB calls
//! ([`LostAnswer::crash_before`]: that call and every later one never reach DynamoDB), so what it
//! wrote before stays written and nothing after it happens. For each write of a rotation and of
//! a sign-in: the client gets a 503 it can retry, the user is still signed in with the token they
//! hold, no token works that should not (the successor a dead rotation wrote is known to no one
//! and ends with its session), the device list and the per-user cap stay exact, and the next use
//! finishes what the crash interrupted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use session_shared::SignIn;
use session_shared::domain::{RotationSeed, SessionId, SessionToken, successor_of};
use session_shared::store::SessionStore;
use session_tests::{
    Event, Function, ISSUER, LostAnswer, Payload, Reply, TestTable, app_with_store, endpoint,
    invoke, losing_client, ticket,
};

/// An app whose DynamoDB client can be made to die, on a table of its own.
struct Stack {
    table: TestTable,
    app: SignIn,
    fault: LostAnswer,
}

impl Stack {
    async fn new(overrides: &[(&str, &str)]) -> Self {
        let table = TestTable::new().await;
        let fault = LostAnswer::default();
        let store = SessionStore::new(losing_client(&endpoint(), &fault, None), table.name.clone());
        let app = app_with_store(store, &table.name, overrides);
        Self { table, app, fault }
    }

    async fn call(&self, function: Function, event: Event) -> Reply {
        invoke(&self.app, function, event).await
    }

    /// `event`, during which the function dies just before the `nth` call of `operation`.
    async fn dying(&self, operation: &str, nth: usize, function: Function, event: Event) -> Reply {
        self.fault.crash_before(operation, nth);
        let reply = self.call(function, event).await;
        assert!(
            self.fault.revive(),
            "the crash before {operation} #{nth} happened"
        );
        reply
    }

    async fn signed_in(&self) -> String {
        let reply = self
            .call(
                Function::Create,
                sign_in(&ticket("alice", Some("acme")), None),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.cookie_token()
    }

    /// How many token items of each kind the table holds: (live, retired, revoked).
    async fn heads(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for item in self.table.token_items().await {
            match item["kind"].as_s().unwrap().as_str() {
                "session" => counts.0 += 1,
                "retired" => counts.1 += 1,
                _ => counts.2 += 1,
            }
        }
        counts
    }

    /// The successor a rotation of `token`'s head derives: what only a holder of the token who
    /// could also read the head's seed from the table could compute.
    async fn successor_of(&self, token: &str, session_id: &str) -> SessionToken {
        let token = SessionToken::parse(token).unwrap();
        let item = self.table.item_of(&token).await.unwrap();
        let seed = RotationSeed::from_bytes(item["seed"].as_b().unwrap().as_ref()).unwrap();
        successor_of(&token, &seed, SessionId::parse(session_id).unwrap())
    }

    /// A signed-in session whose refresh died between its two writes: its token, its id, and
    /// the successor that refresh wrote and nobody holds.
    async fn refresh_died_between_writes(&self) -> (String, String, SessionToken) {
        let token = self.signed_in().await;
        let id = self.session_id(&token).await;
        let pending = self.successor_of(&token, &id).await;
        let died = self
            .dying("UpdateItem", 0, Function::Refresh, refresh(&token))
            .await;
        assert_retryable(&died);
        assert_eq!(self.heads().await, (2, 0, 0));
        (token, id, pending)
    }

    async fn session_id(&self, token: &str) -> String {
        let reply = self.call(Function::Validate, validate(token)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["session_id"].as_str().unwrap().to_owned()
    }

    async fn devices(&self, token: &str) -> usize {
        let reply = self
            .call(
                Function::Manage,
                Event::new(Payload::V2, "GET", "/sessions").session_cookie(token),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["sessions"].as_array().unwrap().len()
    }
}

fn sign_in(ticket: &str, resume: Option<&str>) -> Event {
    let mut body = json!({"id_token": ticket, "data": {"cart": 1}});
    if let Some(resume) = resume {
        body["resume"] = json!(resume);
    }
    Event::new(Payload::V2, "POST", "/sessions").json_body(&body)
}

fn validate(token: &str) -> Event {
    Event::new(Payload::V2, "GET", "/sessions/current").session_cookie(token)
}

fn refresh(token: &str) -> Event {
    Event::new(Payload::V2, "POST", "/sessions/current/refresh").session_cookie(token)
}

fn assert_retryable(reply: &Reply) {
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.error_code(), "service_unavailable");
    assert!(reply.header("retry-after").is_some());
    assert!(reply.set_cookies.is_empty(), "the cookie is kept");
}

#[tokio::test]
async fn a_refresh_that_dies_before_its_first_write_changes_nothing() {
    let stack = Stack::new(&[]).await;
    let token = stack.signed_in().await;

    let died = stack
        .dying("PutItem", 0, Function::Refresh, refresh(&token))
        .await;

    assert_retryable(&died);
    assert_eq!(stack.heads().await, (1, 0, 0));
    let after = stack.call(Function::Validate, validate(&token)).await;
    assert_eq!(after.status, 200);
    assert!(after.set_cookies.is_empty(), "the same token, still");
    stack.table.drop_table().await;
}

#[tokio::test]
async fn a_refresh_that_dies_between_its_writes_is_finished_by_the_next_use_of_the_old_token() {
    let stack = Stack::new(&[]).await;
    // The new head is written, the old one not yet retired: both live, one session.
    let (token, id, pending) = stack.refresh_died_between_writes().await;
    let still = stack.call(Function::Validate, validate(&token)).await;
    assert_eq!(still.status, 200, "the user is still signed in");
    assert!(still.set_cookies.is_empty());
    assert_eq!(still.body["session_id"], id.as_str());
    assert_eq!(
        stack.devices(&token).await,
        1,
        "one session in the device list"
    );

    // The client retries: the rotation is finished with the successor already written.
    let retried = stack.call(Function::Refresh, refresh(&token)).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    let new = retried.cookie_token();
    assert_eq!(
        new,
        pending.expose_secret(),
        "the same successor: the lineage never forks"
    );
    assert_eq!(stack.heads().await, (1, 1, 0));
    assert_eq!(stack.session_id(&new).await, id);
    let old = stack.call(Function::Validate, validate(&token)).await;
    assert_eq!(
        old.cookie_token(),
        new,
        "the old token, in its grace window, leads to it"
    );
    stack.table.drop_table().await;
}

#[tokio::test]
async fn a_renewal_that_died_between_its_writes_is_finished_by_the_next_validate() {
    let stack = Stack::new(&[("SESSION_ROTATE_AFTER", "1ms")]).await;
    let token = stack.signed_in().await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let died = stack
        .dying("UpdateItem", 0, Function::Validate, validate(&token))
        .await;
    assert_retryable(&died);
    let renewed = stack.call(Function::Validate, validate(&token)).await;

    assert_eq!(renewed.status, 200, "{}", renewed.body);
    assert_ne!(renewed.cookie_token(), token);
    assert_eq!(stack.heads().await, (1, 1, 0));
    stack.table.drop_table().await;
}

#[tokio::test]
async fn data_changed_after_a_rotation_died_is_carried_to_the_successor() {
    let stack = Stack::new(&[]).await;
    let (token, _, _) = stack.refresh_died_between_writes().await;

    let patched = stack
        .call(
            Function::Manage,
            Event::new(Payload::V2, "PATCH", "/sessions/current")
                .session_cookie(&token)
                .json_body(&json!({"data": {"theme": "dark"}})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let retried = stack.call(Function::Refresh, refresh(&token)).await;

    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.body["data"], json!({"cart": 1, "theme": "dark"}));
    let new = stack
        .call(Function::Validate, validate(&retried.cookie_token()))
        .await;
    assert_eq!(
        new.body["data"],
        json!({"cart": 1, "theme": "dark"}),
        "no lost update"
    );
    assert_eq!(new.body["version"], patched.body["version"]);
    stack.table.drop_table().await;
}

#[tokio::test]
async fn signing_out_after_a_rotation_died_ends_the_successor_nobody_holds() {
    let stack = Stack::new(&[]).await;
    let (token, _, pending) = stack.refresh_died_between_writes().await;

    let out = stack
        .call(
            Function::Logout,
            Event::new(Payload::V2, "DELETE", "/sessions/current").session_cookie(&token),
        )
        .await;

    assert_eq!(out.status, 204);
    assert_eq!(stack.heads().await, (0, 0, 0), "both heads gone");
    for token in [token.as_str(), pending.expose_secret()] {
        let reply = stack.call(Function::Validate, validate(token)).await;
        assert_eq!(reply.status, 401);
    }
    stack.table.drop_table().await;
}

#[tokio::test]
async fn revoking_everything_after_a_rotation_died_ends_both_heads() {
    let stack = Stack::new(&[]).await;
    let (token, _, pending) = stack.refresh_died_between_writes().await;

    let revoked = stack
        .call(
            Function::Admin,
            Event::new(Payload::V2, "DELETE", "/admin/tenants/acme/sessions")
                .query("issuer", ISSUER)
                .iam_signed("arn:aws:iam::123456789012:role/support-console"),
        )
        .await;

    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.body["revoked"], 2, "both heads of the session");
    assert_eq!(stack.heads().await, (0, 0, 2));
    for token in [token.as_str(), pending.expose_secret()] {
        let reply = stack.call(Function::Validate, validate(token)).await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.error_code(), "session_revoked");
    }
    // The client retries its refresh: revoked, and nothing comes back to life.
    let retried = stack.call(Function::Refresh, refresh(&token)).await;
    assert_eq!(retried.status, 401);
    assert_eq!(stack.heads().await, (0, 0, 2));
    stack.table.drop_table().await;
}

#[tokio::test]
async fn a_sign_in_that_dies_before_its_head_is_finished_with_its_resume_key() {
    let stack = Stack::new(&[]).await;
    let ticket = ticket("alice", Some("acme"));

    let died = stack
        .dying("PutItem", 1, Function::Create, sign_in(&ticket, None))
        .await;

    assert_eq!(died.status, 503, "{}", died.body);
    let resume = died.body["error"]["resume"].as_str().unwrap().to_owned();
    assert_eq!(
        stack.heads().await,
        (0, 0, 0),
        "not signed in yet, nothing to use"
    );
    let finished = stack
        .call(Function::Create, sign_in(&ticket, Some(&resume)))
        .await;
    assert_eq!(finished.status, 201, "{}", finished.body);
    assert_eq!(stack.heads().await, (1, 0, 0));
    assert_eq!(stack.devices(&finished.cookie_token()).await, 1);
    stack.table.drop_table().await;
}

#[tokio::test]
async fn a_sign_in_over_the_cap_that_dies_after_evicting_never_leaves_the_user_over_it() {
    let stack = Stack::new(&[("SESSION_MAX_PER_USER", "1")]).await;
    let first = stack.signed_in().await;
    let ticket = ticket("alice", Some("acme"));

    // The claim, the eviction (UpdateItem #0), then the head: it dies before the head.
    let died = stack
        .dying("PutItem", 1, Function::Create, sign_in(&ticket, None))
        .await;

    assert_eq!(died.status, 503, "{}", died.body);
    assert_eq!(stack.heads().await, (0, 0, 1), "evicted, never two");
    let resume = died.body["error"]["resume"].as_str().unwrap().to_owned();
    let finished = stack
        .call(Function::Create, sign_in(&ticket, Some(&resume)))
        .await;
    assert_eq!(finished.status, 201, "{}", finished.body);
    assert_eq!(stack.heads().await, (1, 0, 1));
    let old = stack.call(Function::Validate, validate(&first)).await;
    assert_eq!(old.error_code(), "session_evicted");
    stack.table.drop_table().await;
}
