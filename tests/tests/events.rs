//! Lifecycle events from the table's stream, end to end on real parts: sessions changed through
//! the handlers (real API Gateway events) on DynamoDB Local with its stream, the stream read back
//! through the DynamoDB Streams API (`dev_tools::stream`) and delivered to the `session-events`
//! handler as the event source mapping would (`dev_tools::pump`: partial batch failures, retries,
//! bisecting, the failure destination), and the webhooks received by a real HTTP server in the
//! test. Signatures are checked by an independent implementation: the `standardwebhooks` package
//! from PyPI (`make test` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Utc;
use dev_tools::pump::{Delivered, Retries};
use dev_tools::queue::QueuePump;
use dev_tools::stream::{StreamReader, client_from_env};
use serde_json::{Value, json};
use session_shared::domain::Derivation;
use session_shared::events::{
    Deliverer, DeliverySettings, EventSettings, Publisher, WebhookSecret, WebhookSettings,
    WebhookTarget,
};
use session_tests::{Event, Function, OpCounter, Payload, TestTable, app, invoke, python, ticket};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.0 Safari/605.1.15";

/// One request the receiver saw: its webhook headers and its body.
type Delivery = (HashMap<String, String>, String);

/// What the receiver saw: every request's webhook headers and body.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Delivery>>>,
    /// Whether each request of `seen` was accepted (a 2xx).
    accepted: Arc<Mutex<Vec<bool>>>,
    /// Answer this status to every request while set (a receiver that is down or refuses).
    failing: Arc<Mutex<Option<StatusCode>>>,
}

impl Receiver {
    /// Serves on a free port; answers its URL.
    async fn start(&self) -> String {
        async fn hook(
            State(receiver): State<Receiver>,
            headers: HeaderMap,
            body: String,
        ) -> StatusCode {
            let webhook_headers = ["webhook-id", "webhook-timestamp", "webhook-signature"]
                .iter()
                .filter_map(|name| {
                    headers
                        .get(*name)
                        .and_then(|v| v.to_str().ok())
                        .map(|v| ((*name).to_owned(), v.to_owned()))
                })
                .collect();
            let status = receiver
                .failing
                .lock()
                .unwrap()
                .unwrap_or(StatusCode::NO_CONTENT);
            receiver.seen.lock().unwrap().push((webhook_headers, body));
            receiver.accepted.lock().unwrap().push(status.is_success());
            status
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/sessions", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/hooks/sessions", post(hook))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn fail_with(&self, status: Option<StatusCode>) {
        *self.failing.lock().unwrap() = status;
    }

    fn take(&self) -> Vec<Delivery> {
        self.take_with_answers()
            .into_iter()
            .map(|(d, _)| d)
            .collect()
    }

    /// Every request since the last take, each with whether it was accepted.
    fn take_with_answers(&self) -> Vec<(Delivery, bool)> {
        let seen = std::mem::take(&mut *self.seen.lock().unwrap());
        let accepted = std::mem::take(&mut *self.accepted.lock().unwrap());
        seen.into_iter().zip(accepted).collect()
    }
}

/// The events pipeline of one test: `session-events`' publisher, which queues webhooks on its
/// own delivery queue (moto), and `session-webhooks`' deliverer, which sends them.
struct Pipeline {
    publisher: Publisher,
    deliverer: Deliverer,
    pump: QueuePump,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    failure_queue_url: String,
    /// Counts the SQS calls of the publisher and the deliverer.
    sqs_ops: OpCounter,
}

/// The schedule of most tests: a first retry after a second.
const QUICK: &str = "1s,1s,1s";

async fn pipeline(table: &TestTable, url: &str, derivation: Derivation) -> Pipeline {
    pipeline_with(table, url, derivation, None, QUICK).await
}

async fn pipeline_with(
    table: &TestTable,
    url: &str,
    derivation: Derivation,
    bus: Option<&str>,
    schedule: &str,
) -> Pipeline {
    let lookup = |name: &str| std::env::var(name).ok();
    let sqs_ops = OpCounter::default();
    let sqs = aws_sdk_sqs::Client::from_conf(
        session_shared::events::queue::sqs_config(&lookup)
            .interceptor(sqs_ops.clone())
            .build(),
    );
    let (queue_url, failure_queue_url) =
        dev_tools::queue::create_webhook_queues(&sqs, &format!("hooks-{}", &table.name[2..]))
            .await
            .expect("the webhook queues on moto (AWS_ENDPOINT_URL_SQS)");
    let publisher = Publisher::new(
        EventSettings {
            derivation,
            webhook: Some(WebhookTarget {
                url: url.to_owned(),
                queue_url: queue_url.clone(),
            }),
            event_bus: bus.map(str::to_owned),
            audit: None,
        },
        &lookup,
    )
    .with_queue_client(sqs.clone());
    let deliverer = Deliverer::from_settings(
        DeliverySettings {
            webhook: WebhookSettings {
                secret: WebhookSecret::parse(SECRET).unwrap(),
                timeout: Duration::from_secs(2),
            },
            schedule: schedule.parse().unwrap(),
            queue_url: queue_url.clone(),
            failure_queue_url: failure_queue_url.clone(),
        },
        sqs.clone(),
    );
    let pump = QueuePump::open(sqs.clone(), &queue_url).await.unwrap();
    sqs_ops.take();
    Pipeline {
        publisher,
        deliverer,
        pump,
        sqs,
        queue_url,
        failure_queue_url,
        sqs_ops,
    }
}

impl Pipeline {
    /// Hands the delivery queue to the deliverer until it is empty (or `within` passed).
    async fn send_webhooks(&self, within: Duration) -> bool {
        session_tests::deliver_to_session_webhooks(&self.pump, &self.deliverer, within).await
    }
}

const RETRIES: Retries = Retries {
    maximum_retry_attempts: 1,
    backoff: Duration::ZERO,
};

/// Every record the table's stream holds now, delivered to `session-events`, and the webhooks
/// it queued to `session-webhooks`.
async fn pump(reader: &mut StreamReader, pipeline: &Pipeline) -> Delivered {
    let delivered = deliver_records(reader.poll().await.unwrap(), &pipeline.publisher).await;
    assert!(
        pipeline.send_webhooks(Duration::from_secs(20)).await,
        "the webhook queue emptied"
    );
    delivered
}

async fn reader_of(table: &TestTable) -> StreamReader {
    StreamReader::open(client_from_env(), &table.name)
        .await
        .unwrap()
}

/// The deliveries' signatures, checked by the `standardwebhooks` package (PyPI).
fn verified_by_standardwebhooks(deliveries: &[Delivery]) -> usize {
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
given = json.load(sys.stdin)
hook = Webhook(given["secret"])
for d in given["deliveries"]:
    hook.verify(d["body"], d["headers"])
print(len(given["deliveries"]))
"#;
    let input = json!({
        "secret": SECRET,
        "deliveries": deliveries.iter().map(|(h, b)| json!({"headers": h, "body": b})).collect::<Vec<_>>(),
    });
    let out = python(script, &input);
    assert!(
        out.status.success(),
        "standardwebhooks refused a delivery (or is not installed: pip install standardwebhooks):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Validates `events` against the JSON Schema of docs/events.md, with the `jsonschema` package
/// (PyPI, Draft 2020-12).
fn assert_schema_valid(events: &[Value]) {
    let doc = include_str!("../../docs/events.md");
    let schema = doc
        .split("```json")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.contains("\"$schema\""))
        .expect("docs/events.md has the JSON Schema");
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
given = json.load(sys.stdin)
validator = Draft202012Validator(given["schema"])
Draft202012Validator.check_schema(given["schema"])
errors = [f"{e['type']}: {err.message}" for e in given["events"] for err in validator.iter_errors(e)]
print("\n".join(errors))
sys.exit(1 if errors else 0)
"#;
    let input = json!({"schema": serde_json::from_str::<Value>(schema).unwrap(), "events": events});
    let out = python(script, &input);
    assert!(
        out.status.success(),
        "events that do not match docs/events.md (or jsonschema is not installed):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[should_panic(expected = "events that do not match docs/events.md")]
fn the_schema_refuses_an_event_without_its_sequence() {
    let mut event = json!({"id": format!("evt_{}", "0".repeat(32)), "type": "session.created",
        "timestamp": "2026-11-26T00:00:00.000Z", "data": {"session_id": "6f1c2a8e-1d4b-4f7a-9a51-2a0c3f4d5e6f",
        "user_id": "alice", "user_key": "A".repeat(43), "tenant_id": null, "issuer": null,
        "reason": null, "device": null, "ip": null, "profile": "default", "sequence": 1}});
    assert_schema_valid(std::slice::from_ref(&event));
    event["data"].as_object_mut().unwrap().remove("sequence");
    assert_schema_valid(&[event]);
}

fn bodies(deliveries: &[Delivery]) -> Vec<Value> {
    deliveries
        .iter()
        .map(|(_, body)| serde_json::from_str(body).unwrap())
        .collect()
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn signed_in(app: &session_shared::SignIn, user: &str) -> session_tests::Reply {
    session_tests::sign_in_reply(app, user, Some("acme"), |e| e.header("user-agent", SAFARI)).await
}

#[tokio::test]
async fn sign_in_rotate_revoke_and_sign_out_reach_the_webhook_signed_and_in_order() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let receiver = Receiver::default();
    let pipeline = pipeline(&table, &receiver.start().await, Derivation::default()).await;
    let mut reader = reader_of(&table).await;

    let laptop = signed_in(&app, "alice").await;
    let phone = signed_in(&app, "alice").await;
    let refreshed = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh")
            .session_cookie(&laptop.cookie_token()),
    )
    .await;
    let phone_id = phone.body["session_id"].as_str().unwrap();
    let revoked = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "DELETE", &format!("/sessions/{phone_id}"))
            .session_cookie(&refreshed.cookie_token()),
    )
    .await;
    let signed_out = invoke(
        &app,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current")
            .session_cookie(&refreshed.cookie_token()),
    )
    .await;
    assert_eq!(
        (refreshed.status, revoked.status, signed_out.status),
        (200, 204, 204)
    );

    let delivered = pump(&mut reader, &pipeline).await;
    let deliveries = receiver.take();
    let events = bodies(&deliveries);
    let sqs_calls = pipeline.sqs_ops.take();

    assert!(delivered.failed.is_empty(), "{:?}", delivered.failed);
    assert_eq!(
        types(&events),
        [
            "session.created",
            "session.created",
            "session.rotated",
            "session.revoked",
            "session.revoked"
        ]
    );
    // What the README's Cost section counts: one SendMessageBatch for the batch's five events,
    // and, the receiver being up, no call of the function's own (no retry scheduled, nothing
    // moved); the rest are the event source mapping's receives and deletes.
    let count = |op: &str| sqs_calls.iter().filter(|c| *c == op).count();
    assert_eq!(count("SendMessageBatch"), 1, "{sqs_calls:?}");
    assert_eq!(
        count("ChangeMessageVisibility")
            + count("ChangeMessageVisibilityBatch")
            + count("SendMessage"),
        0,
        "{sqs_calls:?}"
    );
    assert_eq!(verified_by_standardwebhooks(&deliveries), 5);
    assert_schema_valid(&events);
    let laptop_id = laptop.body["session_id"].as_str().unwrap();
    assert_eq!(events[2]["data"]["session_id"], laptop_id);
    assert_eq!(events[2]["data"]["reason"], "refresh");
    assert_eq!(events[3]["data"]["session_id"], phone_id);
    assert_eq!(events[3]["data"]["reason"], "revoked");
    assert_eq!(events[4]["data"]["session_id"], laptop_id);
    assert_eq!(events[4]["data"]["reason"], "signed_out");
    let sequence = |i: usize| events[i]["data"]["sequence"].as_u64().unwrap();
    assert_eq!(
        [0, 2, 4].map(sequence),
        [1, 2, 3],
        "the laptop's events, across its rotation, in the session's own order"
    );
    assert_eq!([1, 3].map(sequence), [1, 2], "the phone's");
    assert_eq!(events[0]["data"]["tenant_id"], "acme");
    assert_eq!(events[0]["data"]["device"], "Safari on Mac OSX");
    for (headers, body) in &deliveries {
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(headers["webhook-id"], event["id"].as_str().unwrap());
    }
    // No token, cookie value or token hash in anything sent.
    let everything: String = deliveries
        .iter()
        .map(|(h, b)| format!("{h:?}{b}"))
        .collect();
    for reply in [&laptop, &phone, &refreshed] {
        let token = reply.cookie_token();
        let hash = session_shared::domain::SessionToken::parse(&token)
            .unwrap()
            .hash()
            .encoded();
        assert!(!everything.contains(&token) && !everything.contains(&hash));
    }
    assert!(!everything.contains("TOKEN#"));
    table.drop_table().await;
}

#[tokio::test]
async fn a_session_deleted_by_ttl_is_reported_expired() {
    let table = TestTable::new().await;
    let receiver = Receiver::default();
    let pipeline = pipeline(&table, &receiver.start().await, Derivation::default()).await;
    let mut reader = reader_of(&table).await;
    let long_ago = Utc::now() - chrono::Duration::days(3);
    let lifetimes = session_shared::domain::Lifetimes::new(
        chrono::Duration::hours(1),
        chrono::Duration::hours(2),
        0.5,
    )
    .unwrap();
    // In both indexes (a tenant's head as stored before tenants listed users): DynamoDB Local
    // 3.3.1's TTL skips items that lack the key of one of the table's indexes, which AWS does
    // not. What is tested is how a TTL deletion is told, not DynamoDB Local's TTL.
    let session = session_shared::domain::Session::start(
        session_shared::domain::UserId::parse("alice").unwrap(),
        Some(session_shared::domain::TenantId::parse("acme").unwrap()),
        session_shared::domain::SessionData::default(),
        session_shared::domain::ClientInfo::default(),
        &lifetimes,
        long_ago,
    );
    // Its TTL (the absolute deadline plus a day) has passed: DynamoDB Local deletes it shortly.
    table.put_session_as_stored_before(&session).await;

    // DynamoDB Local sweeps expired items every few seconds, later on a loaded machine (a CI
    // run once saw nothing in 30 s): wait up to two minutes, leaving as soon as it is seen.
    let mut seen = Vec::new();
    for _ in 0..240 {
        let delivered = pump(&mut reader, &pipeline).await;
        assert!(delivered.failed.is_empty());
        seen.extend(bodies(&receiver.take()));
        if types(&seen).iter().any(|t| t == "session.expired") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    assert_eq!(types(&seen), ["session.created", "session.expired"]);
    assert_schema_valid(&seen);
    assert_eq!(seen[1]["data"]["session_id"], session.id.to_string());
    assert_eq!(
        seen[1]["data"]["detail"]["expired_at"],
        session
            .deadline()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    table.drop_table().await;
}

/// Three users each sign in, refresh, change their data and sign out: 12 events, 4 per session.
async fn three_sessions_lived(app: &session_shared::SignIn) -> usize {
    for user in ["alice", "bob", "carol"] {
        let session = signed_in(app, user).await;
        let refreshed = invoke(
            app,
            Function::Refresh,
            Event::new(Payload::V2, "POST", "/sessions/current/refresh")
                .header("user-agent", SAFARI)
                .session_cookie(&session.cookie_token()),
        )
        .await;
        let patched = invoke(
            app,
            Function::Manage,
            Event::new(Payload::V2, "PATCH", "/sessions/current")
                .header("user-agent", SAFARI)
                .session_cookie(&refreshed.cookie_token())
                .json_body(&json!({"data": {"cart": 1}})),
        )
        .await;
        let signed_out = invoke(
            app,
            Function::Logout,
            Event::new(Payload::V2, "DELETE", "/sessions/current")
                .header("user-agent", SAFARI)
                .session_cookie(&refreshed.cookie_token()),
        )
        .await;
        assert_eq!(
            (refreshed.status, patched.status, signed_out.status),
            (200, 200, 204)
        );
    }
    12
}

/// Checks that no request for a session's event came while an earlier event of that session
/// (a lower sequence) was still unaccepted, and answers the accepted events by id.
fn assert_in_order_per_session(requests: &[(Delivery, bool)]) -> HashMap<String, Value> {
    let mut accepted: HashMap<String, Value> = HashMap::new();
    for ((headers, body), ok) in requests {
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            headers["webhook-id"],
            event["id"].as_str().unwrap(),
            "ids unchanged"
        );
        let (session, sequence) = (&event["data"]["session_id"], &event["data"]["sequence"]);
        let earlier_pending = requests.iter().any(|((_, other), _)| {
            let other: Value = serde_json::from_str(other).unwrap();
            other["data"]["session_id"] == *session
                && other["data"]["sequence"].as_u64() < sequence.as_u64()
                && !accepted.contains_key(other["id"].as_str().unwrap())
        });
        assert!(
            !earlier_pending,
            "{} (sequence {sequence}) was sent before an earlier event of its session was delivered",
            event["type"]
        );
        if *ok {
            accepted.insert(event["id"].as_str().unwrap().to_owned(), event);
        }
    }
    accepted
}

#[tokio::test]
async fn webhooks_wait_out_a_receiver_outage_and_arrive_in_order_per_session_with_their_ids() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let receiver = Receiver::default();
    // Seconds for hours: attempts at about 0, 1, 2, 4 and 7 s after each event was queued.
    let pipeline = pipeline_with(
        &table,
        &receiver.start().await,
        Derivation::default(),
        None,
        "1s,1s,2s,3s,30s",
    )
    .await;
    let mut reader = reader_of(&table).await;
    let expected = three_sessions_lived(&app).await;

    receiver.fail_with(Some(StatusCode::SERVICE_UNAVAILABLE));
    let published = deliver_records(reader.poll().await.unwrap(), &pipeline.publisher).await;
    let queued = pipeline.sqs_ops.take();
    // Down past the first three retries.
    assert!(!pipeline.send_webhooks(Duration::from_millis(5500)).await);
    let during = receiver.take_with_answers();
    receiver.fail_with(None);
    let (emptied, counted) =
        session_shared::metrics::scope("test", pipeline.send_webhooks(Duration::from_secs(40)))
            .await;
    assert!(emptied, "every webhook delivered");
    let after = receiver.take_with_answers();
    // The operator's view: each delivery counted, with its lag since the event.
    let counted: Value = serde_json::from_str(&counted.unwrap()).unwrap();
    assert_eq!(counted["WebhooksDelivered"], json!(expected as f64));
    assert_eq!(counted["WebhookLag"].as_array().unwrap().len(), expected);

    assert!(published.failed.is_empty(), "{:?}", published.failed);
    assert_eq!(
        queued,
        ["SendMessageBatch", "SendMessageBatch"],
        "12 events queued ten per call"
    );
    assert!(during.iter().all(|(_, ok)| !ok));
    // Only each session's first event was tried while the receiver was down, again and again.
    let tried: Vec<Value> = during
        .iter()
        .map(|((_, body), _)| serde_json::from_str(body).unwrap())
        .collect();
    assert!(
        types(&tried).iter().all(|t| t == "session.created"),
        "{:?}",
        types(&tried)
    );
    for user in ["alice", "bob", "carol"] {
        let attempts = tried
            .iter()
            .filter(|e| e["data"]["user_id"] == user)
            .count();
        assert!(
            attempts >= 3,
            "{user}'s first event was tried {attempts} times"
        );
    }
    let requests: Vec<(Delivery, bool)> = during.into_iter().chain(after.clone()).collect();
    let delivered = assert_in_order_per_session(&requests);
    assert_eq!(delivered.len(), expected, "every event delivered");
    assert_eq!(
        after.iter().filter(|(_, ok)| *ok).count(),
        expected,
        "each once once the receiver was back"
    );
    let deliveries: Vec<Delivery> = after.into_iter().map(|(d, _)| d).collect();
    assert_eq!(verified_by_standardwebhooks(&deliveries), expected);
    assert_schema_valid(&bodies(&deliveries));
    // Each retry sent the same body under the same id.
    for ((headers, body), _) in &requests {
        assert_eq!(
            serde_json::from_str::<Value>(body).unwrap(),
            delivered[&headers["webhook-id"]]
        );
    }
    assert_eq!(
        dev_tools::queue::depth(&pipeline.sqs, &pipeline.failure_queue_url)
            .await
            .unwrap(),
        0,
        "nothing given up on"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn webhooks_past_the_horizon_land_whole_in_the_failure_queue_and_replay_delivers_each_once() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let receiver = Receiver::default();
    let url = receiver.start().await;
    // A horizon of 2 s.
    let pipeline = pipeline_with(&table, &url, Derivation::default(), None, "1s,1s").await;
    let mut reader = reader_of(&table).await;
    let expected = three_sessions_lived(&app).await;

    receiver.fail_with(Some(StatusCode::BAD_GATEWAY));
    let (published, counted) =
        session_shared::metrics::scope("test", pump(&mut reader, &pipeline)).await;
    let attempts = receiver.take_with_answers();
    let counted: Value = serde_json::from_str(&counted.unwrap()).unwrap();
    assert_eq!(counted["EventsPublished"], json!(expected as f64));
    assert_eq!(counted["WebhooksGivenUp"], json!(expected as f64));
    assert_eq!(counted["WebhooksFailed"], json!(attempts.len() as f64));
    assert!(counted.get("WebhooksDelivered").is_none());

    assert!(published.failed.is_empty());
    assert!(attempts.iter().all(|(_, ok)| !ok));
    // Every event was tried (each session's next one goes once the one before is given up on),
    // the first of each session three times: at 0, 1 and 2 s.
    let tried: Vec<Value> = attempts
        .iter()
        .map(|((_, body), _)| serde_json::from_str(body).unwrap())
        .collect();
    let ids: std::collections::BTreeSet<&str> =
        tried.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), expected);
    // Whole in the failure queue: destination, id and the body as it was signed. (Read, then
    // made visible again at once.)
    let failed = pipeline
        .sqs
        .receive_message()
        .queue_url(&pipeline.failure_queue_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let first_failed = failed.messages();
    assert_eq!(first_failed.len(), 10);
    for message in first_failed {
        pipeline
            .sqs
            .change_message_visibility()
            .queue_url(&pipeline.failure_queue_url)
            .receipt_handle(message.receipt_handle().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        let delivery: session_shared::events::Delivery =
            serde_json::from_str(message.body().unwrap()).unwrap();
        assert_eq!(delivery.destination, url);
        let event = tried
            .iter()
            .find(|e| e["id"] == delivery.id.as_str())
            .expect("an event that was tried");
        assert_eq!(
            serde_json::from_str::<Value>(&delivery.body).unwrap(),
            *event
        );
        let failure = &message.message_attributes().unwrap()["failure"];
        assert_eq!(
            failure.string_value(),
            Some("the webhook receiver answered 502 Bad Gateway")
        );
    }
    assert_eq!(
        dev_tools::queue::depth(&pipeline.sqs, &pipeline.failure_queue_url)
            .await
            .unwrap(),
        expected
    );

    let vars: HashMap<&str, &str> = [("SESSION_WEBHOOK_SECRET", SECRET)].into();
    let replay = |args: &[&str]| {
        let args = dev_tools::replay::Args::parse(args.iter().map(|a| (*a).to_owned())).unwrap();
        let lookup = |name: &str| {
            vars.get(name)
                .map(|v| (*v).to_owned())
                .or_else(|| std::env::var(name).ok())
        };
        let sqs = pipeline.sqs.clone();
        async move { dev_tools::replay::run(args, lookup, &sqs).await }
    };
    // Still down: each session's first webhook fails again, the rest wait behind it.
    let still_down = replay(&["--queue", &pipeline.failure_queue_url])
        .await
        .unwrap();
    assert!(
        still_down.starts_with("replayed 0 webhooks; 3 failed again,")
            && still_down.contains("; 12 left in"),
        "{still_down}"
    );
    assert_eq!(receiver.take().len(), 3);
    // The receiver is back: the replay command sends each once.
    receiver.fail_with(None);
    let summary = replay(&["--queue", &pipeline.failure_queue_url])
        .await
        .unwrap();
    let replayed = receiver.take_with_answers();
    let again = replay(&["--queue", &pipeline.failure_queue_url])
        .await
        .unwrap();

    assert!(
        summary.starts_with(&format!(
            "replayed {expected} webhooks; 0 failed again, 0 held behind them; 0 left"
        )),
        "{summary}"
    );
    assert!(again.starts_with("replayed 0 webhooks"), "{again}");
    assert!(receiver.take().is_empty(), "a second replay sends nothing");
    let delivered = assert_in_order_per_session(&replayed);
    assert_eq!(replayed.len(), expected, "each once");
    assert_eq!(
        delivered
            .keys()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        ids,
        "the same ids as the first attempts"
    );
    let deliveries: Vec<Delivery> = replayed.into_iter().map(|(d, _)| d).collect();
    assert_eq!(verified_by_standardwebhooks(&deliveries), expected);
    table.drop_table().await;
}

#[tokio::test]
async fn a_webhook_queue_that_refuses_fails_the_record_for_the_stream_to_retry() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let receiver = Receiver::default();
    let mut pipeline = pipeline(&table, &receiver.start().await, Derivation::default()).await;
    pipeline.publisher = Publisher::new(
        EventSettings {
            derivation: Derivation::default(),
            webhook: Some(WebhookTarget {
                url: "http://127.0.0.1:9/".into(),
                queue_url: format!("{}-missing.fifo", pipeline.queue_url),
            }),
            event_bus: None,
            audit: None,
        },
        &|name: &str| std::env::var(name).ok(),
    );
    let mut reader = reader_of(&table).await;
    signed_in(&app, "alice").await;

    let delivered = pump(&mut reader, &pipeline).await;

    assert_eq!(
        delivered.failed.len(),
        1,
        "the record failed, to be retried"
    );
    assert!(receiver.take().is_empty());
    table.drop_table().await;
}

#[tokio::test]
async fn a_poison_record_ends_in_the_failure_destination_without_blocking_the_shard() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let receiver = Receiver::default();
    let pipeline = pipeline(&table, &receiver.start().await, Derivation::default()).await;
    let mut reader = reader_of(&table).await;
    use aws_sdk_dynamodb::types::AttributeValue as A;
    table
        .client
        .put_item()
        .table_name(&table.name)
        .item("pk", A::S(format!("TOKEN#{}", "P".repeat(43))))
        .item("sk", A::S("SESSION".into()))
        .item("kind", A::S("garbled".into()))
        .send()
        .await
        .unwrap();
    let after = signed_in(&app, "bob").await;

    let delivered = pump(&mut reader, &pipeline).await;
    let events = bodies(&receiver.take());

    assert_eq!(delivered.failed.len(), 1);
    assert_eq!(types(&events), ["session.created"]);
    assert_eq!(events[0]["data"]["session_id"], after.body["session_id"]);
    table.drop_table().await;
}

#[tokio::test]
async fn data_changes_and_optionally_sliding_are_told_by_key_name_only() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_SLIDING_THRESHOLD", "0")]);
    let receiver = Receiver::default();
    let pipeline = pipeline(
        &table,
        &receiver.start().await,
        Derivation { extended: true },
    )
    .await;
    let mut reader = reader_of(&table).await;
    let session = signed_in(&app, "alice").await;
    let patched = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "PATCH", "/sessions/current")
            .header("user-agent", SAFARI)
            .session_cookie(&session.cookie_token())
            .json_body(&json!({"data": {"cart": "secret-cart-contents"}})),
    )
    .await;
    let validated = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current")
            .header("user-agent", SAFARI)
            .session_cookie(&session.cookie_token()),
    )
    .await;
    assert_eq!((patched.status, validated.status), (200, 200));

    pump(&mut reader, &pipeline).await;
    let deliveries = receiver.take();
    let events = bodies(&deliveries);

    assert_eq!(
        types(&events),
        [
            "session.created",
            "session.data_changed",
            "session.extended"
        ]
    );
    assert_eq!(events[1]["data"]["detail"]["changed_keys"], json!(["cart"]));
    assert_schema_valid(&events);
    assert!(
        !deliveries
            .iter()
            .any(|(_, b)| b.contains("secret-cart-contents"))
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_guests_events_say_guest_and_its_sign_in_names_the_guest_it_came_from() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let receiver = Receiver::default();
    let pipeline = pipeline(&table, &receiver.start().await, Derivation::default()).await;
    let mut reader = reader_of(&table).await;
    let guest = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions/guest")
            .json_body(&json!({"data": {"cart": ["tea"]}})),
    )
    .await;
    let guest_id = guest.body["session_id"].clone();
    let signed = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions")
            .session_cookie(&guest.cookie_token())
            .json_body(&json!({"id_token": ticket("alice", None)})),
    )
    .await;
    assert_eq!((guest.status, signed.status), (201, 201));

    pump(&mut reader, &pipeline).await;
    let events = bodies(&receiver.take());

    let about = |id: &Value| {
        events
            .iter()
            .filter(|e| &e["data"]["session_id"] == id)
            .map(|e| (e["type"].as_str().unwrap(), e["data"]["reason"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        about(&guest_id),
        [
            ("session.created", Value::Null),
            ("session.revoked", json!("upgraded"))
        ]
    );
    for event in events
        .iter()
        .filter(|e| e["data"]["session_id"] == guest_id)
    {
        assert_eq!(event["data"]["guest"], true);
    }
    let created = events
        .iter()
        .find(|e| e["data"]["session_id"] == signed.body["session_id"])
        .unwrap();
    assert_eq!(created["type"], "session.created");
    assert_eq!(created["data"]["detail"]["upgraded_from"], guest_id);
    assert_eq!(created["data"].get("guest"), None);
    assert_schema_valid(&events);
    table.drop_table().await;
}

async fn deliver_records(records: Vec<Value>, publisher: &Publisher) -> Delivered {
    session_tests::deliver_to_session_events(records, publisher, RETRIES).await
}

/// The local AWS endpoint (moto) `make test` runs for EventBridge and SQS.
fn moto() -> String {
    std::env::var("AWS_ENDPOINT_URL_EVENTBRIDGE")
        .expect("AWS_ENDPOINT_URL_EVENTBRIDGE is not set: `make test` starts moto and sets it")
}

fn eventbridge() -> aws_sdk_eventbridge::Client {
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
        .http_client(session_shared::store::https_client())
        .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_eventbridge::config::Credentials::for_tests())
        .endpoint_url(moto())
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

fn sqs() -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .http_client(session_shared::store::https_client())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::for_tests())
        .endpoint_url(std::env::var("AWS_ENDPOINT_URL_SQS").unwrap_or_else(|_| moto()))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// A bus with a rule sending every session event to a new queue; answers the queue's URL.
async fn bus_into_queue(bus: &str) -> String {
    let (eventbridge, sqs) = (eventbridge(), sqs());
    eventbridge
        .create_event_bus()
        .name(bus)
        .send()
        .await
        .unwrap();
    let queue = sqs.create_queue().queue_name(bus).send().await.unwrap();
    let queue_url = queue.queue_url().unwrap().to_owned();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn =
        attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    eventbridge
        .put_rule()
        .name("every-session-event")
        .event_bus_name(bus)
        .event_pattern(r#"{"source": ["session-service"]}"#)
        .send()
        .await
        .unwrap();
    eventbridge
        .put_targets()
        .rule("every-session-event")
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    queue_url
}

/// What arrived in the queue: the EventBridge envelopes.
async fn drained(queue_url: &str, expected: usize) -> Vec<Value> {
    let sqs = sqs();
    let mut out = Vec::new();
    for _ in 0..20 {
        let page = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for message in page.messages() {
            out.push(serde_json::from_str(message.body().unwrap()).unwrap());
        }
        if out.len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    out
}

#[tokio::test]
async fn events_reach_an_eventbridge_bus_whose_rules_route_them() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let receiver = Receiver::default();
    let bus = format!("sessions-{}", &table.name[2..14]);
    let queue_url = bus_into_queue(&bus).await;
    let pipeline = pipeline_with(
        &table,
        &receiver.start().await,
        Derivation::default(),
        Some(&bus),
        QUICK,
    )
    .await;
    let mut reader = reader_of(&table).await;
    let session = signed_in(&app, "alice").await;
    invoke(
        &app,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current")
            .header("user-agent", SAFARI)
            .session_cookie(&session.cookie_token()),
    )
    .await;

    let delivered = pump(&mut reader, &pipeline).await;
    let on_the_bus = drained(&queue_url, 2).await;
    let by_webhook = bodies(&receiver.take());

    assert!(delivered.failed.is_empty(), "{:?}", delivered.failed);
    let details: Vec<Value> = on_the_bus.iter().map(|e| e["detail"].clone()).collect();
    assert_eq!(types(&details), ["session.created", "session.revoked"]);
    for envelope in &on_the_bus {
        assert_eq!(envelope["source"], "session-service");
        assert_eq!(envelope["detail-type"], envelope["detail"]["type"]);
    }
    assert_eq!(
        details, by_webhook,
        "the same events, ids included, to both destinations"
    );
    assert_schema_valid(&details);
    table.drop_table().await;
}

#[tokio::test]
async fn a_bus_that_refuses_fails_the_record_before_any_webhook_is_queued() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let receiver = Receiver::default();
    let pipeline = pipeline_with(
        &table,
        &receiver.start().await,
        Derivation::default(),
        Some("no-such-bus"),
        QUICK,
    )
    .await;
    let mut reader = reader_of(&table).await;
    signed_in(&app, "alice").await;

    let delivered = pump(&mut reader, &pipeline).await;

    assert_eq!(
        delivered.failed.len(),
        1,
        "the record went to the failure destination"
    );
    assert!(
        receiver.take().is_empty(),
        "nothing is sent on while an earlier destination fails"
    );
    assert!(
        !pipeline
            .sqs_ops
            .take()
            .contains(&"SendMessageBatch".to_owned()),
        "nothing was queued"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn the_audit_trail_files_each_event_once_under_its_user() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let publisher = Publisher::new(
        EventSettings {
            audit: Some(session_shared::events::AuditSettings {
                table: table.name.clone(),
                retention: chrono::Duration::days(30),
                timeouts: session_tests::config(&table.name, &[]).store_timeouts,
            }),
            ..EventSettings::default()
        },
        &|name: &str| std::env::var(name).ok(),
    );
    let mut reader = reader_of(&table).await;
    let session = signed_in(&app, "alice").await;
    invoke(
        &app,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current")
            .header("user-agent", SAFARI)
            .session_cookie(&session.cookie_token()),
    )
    .await;
    let records = reader.poll().await.unwrap();

    let first = deliver_records(records.clone(), &publisher).await;
    let redelivered = deliver_records(records, &publisher).await;

    assert!(first.failed.is_empty() && redelivered.failed.is_empty());
    let items: Vec<_> = table
        .items()
        .await
        .into_iter()
        .filter(|i| i["sk"].as_s().unwrap().starts_with("EVENT#"))
        .collect();
    assert_eq!(items.len(), 2, "a redelivery files nothing twice");
    let key = session_shared::domain::UserKey::of(
        Some(session_tests::ISSUER),
        Some(&session_shared::domain::TenantId::parse("acme").unwrap()),
        &session_shared::domain::UserId::parse("alice").unwrap(),
    );
    let (trail, _) = table.store().history(&key, 10, None).await.unwrap();
    assert_eq!(
        types(&trail),
        ["session.revoked", "session.created"],
        "newest first"
    );
    assert_schema_valid(&trail);
    for item in &items {
        let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
        let days = (ttl - Utc::now().timestamp()) / 86_400;
        assert!((29..=30).contains(&days), "kept 30 days: {days}");
        assert!(item["pk"].as_s().unwrap().starts_with("USER#"));
    }
    table.drop_table().await;
}

#[tokio::test]
async fn an_impersonation_sessions_events_name_the_actor_and_match_the_schema() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let support = session_tests::impersonating(&app, "alice", None).await;
    let signed_out = invoke(
        &app,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current").session_cookie(&support),
    )
    .await;
    assert_eq!(signed_out.status, 204);

    table.deliver_stream_to_audit_trail().await;

    let key = session_shared::domain::UserKey::of(
        Some(session_tests::ISSUER),
        None,
        &session_shared::domain::UserId::parse("alice").unwrap(),
    );
    let (trail, _) = table.store().history(&key, 10, None).await.unwrap();
    assert_eq!(types(&trail), ["session.revoked", "session.created"]);
    for event in &trail {
        assert_eq!(
            event["data"]["actor"],
            json!({"principal": session_tests::SUPPORT_PRINCIPAL, "reason": "support case 42"}),
            "{event}"
        );
    }
    assert_eq!(trail[1]["data"]["detail"]["amr"], json!(["impersonation"]));
    assert_schema_valid(&trail);
    table.drop_table().await;
}
