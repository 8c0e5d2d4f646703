//! Support tools (issue 24, first part): a user's live sessions for an IAM caller, and the
//! security history (the audit trail `session-events` keeps) for the user and for an IAM caller.
//! Through the real handlers on DynamoDB Local, one fresh table per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use session_shared::domain::{TenantId, UserId, UserKey};
use session_tests::{
    Event, Function, ISSUER, Payload, Reply, SUPPORT_PRINCIPAL as SUPPORT, TestTable, app, current,
    invoke, session_id_of,
};

use session_tests::signed_in_as as sign_in;

async fn sign_out(app: &session_shared::handlers::SignIn, token: &str) {
    let reply = invoke(
        app,
        Function::Logout,
        Event::new(Payload::V2, "DELETE", "/sessions/current").session_cookie(token),
    )
    .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
}

/// Every page of a listing, following `next_cursor`: the entries under `field`, and the
/// number of pages.
async fn all_pages(
    app: &session_shared::handlers::SignIn,
    function: Function,
    field: &str,
    request: impl Fn(Option<&str>) -> Event,
) -> (Vec<Value>, usize) {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    for pages in 1..=20 {
        let reply: Reply = invoke(app, function, request(cursor.as_deref())).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        entries.extend(reply.body[field].as_array().unwrap().iter().cloned());
        match reply.body["next_cursor"].as_str() {
            None => return (entries, pages),
            Some(next) => cursor = Some(next.to_owned()),
        }
    }
    panic!("more than 20 pages");
}

fn admin_get(path: &str, query: &[(&str, &str)], cursor: Option<&str>) -> Event {
    admin_call("GET", path, query, cursor)
}

fn admin_call(method: &str, path: &str, query: &[(&str, &str)], cursor: Option<&str>) -> Event {
    let mut event = Event::new(Payload::V2, method, path).iam_signed(SUPPORT);
    for (name, value) in query {
        event = event.query(name, value);
    }
    match cursor {
        Some(cursor) => event.query("cursor", cursor),
        None => event,
    }
}

fn ids(entries: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = entries
        .iter()
        .map(|e| e["session_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn an_admin_lists_a_users_sessions_page_by_page_and_none_of_another_tenant() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let mut acme = Vec::new();
    for _ in 0..3 {
        let token = sign_in(&app, "alice", Some("acme")).await;
        acme.push(session_id_of(&app, &token).await);
    }
    // The same subject in another tenant is another user.
    sign_in(&app, "alice", Some("globex")).await;
    acme.sort();

    let (sessions, pages) = all_pages(&app, Function::Admin, "sessions", |cursor| {
        admin_get(
            "/admin/users/alice/sessions",
            &[("tenant_id", "acme"), ("issuer", ISSUER), ("limit", "2")],
            cursor,
        )
    })
    .await;

    assert_eq!(pages, 2);
    assert_eq!(ids(&sessions), acme);
    for session in &sessions {
        for field in [
            "created_at",
            "last_seen_at",
            "ip",
            "user_agent",
            "profile",
            "amr",
            "device",
        ] {
            assert!(session.get(field).is_some(), "{field} in {session}");
        }
        assert_eq!(session["current"], false);
    }
    // A tenant alice has no session in, another issuer's alice, or the issuer left out (a
    // trusted caller's alice): an empty list.
    for query in [
        vec![("tenant_id", "initech"), ("issuer", ISSUER)],
        vec![("tenant_id", "acme"), ("issuer", "https://other.example")],
        vec![("tenant_id", "acme")],
    ] {
        let reply = invoke(
            &app,
            Function::Admin,
            admin_get("/admin/users/alice/sessions", &query, None),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["sessions"], serde_json::json!([]));
    }
    table.drop_table().await;
}

#[tokio::test]
async fn the_support_routes_refuse_callers_without_an_iam_signature_and_bad_paging() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = sign_in(&app, "alice", None).await;
    let one = format!(
        "/admin/users/alice/sessions/{}",
        session_id_of(&app, &token).await
    );
    // Unsigned, or signed in as the user: neither is an IAM caller, on any support route.
    for (method, path) in [
        ("GET", one.as_str()),
        ("DELETE", one.as_str()),
        ("PATCH", one.as_str()),
    ] {
        for event in [
            Event::new(Payload::V2, method, path),
            Event::new(Payload::V2, method, path).session_cookie(&token),
        ] {
            let reply = invoke(&app, Function::Admin, event).await;
            assert_eq!(
                (reply.status, reply.error_code()),
                (403, "forbidden"),
                "{method} {path}"
            );
        }
    }
    // A session id that is not one: 400 for the read as for the revocation.
    let bad = invoke(
        &app,
        Function::Admin,
        admin_get("/admin/users/alice/sessions/not-a-session-id", &[], None),
    )
    .await;
    assert_eq!((bad.status, bad.error_code()), (400, "invalid_request"));
    assert_eq!(current(&app, &token).await.status, 200, "nothing ended");
    for path in ["/admin/users/alice/sessions", "/admin/users/alice/events"] {
        // Unsigned, or signed in as the user: neither is an IAM caller.
        for event in [
            Event::new(Payload::V2, "GET", path),
            Event::new(Payload::V2, "GET", path).session_cookie(&token),
            Event::new(Payload::V1, "GET", path),
        ] {
            let reply = invoke(&app, Function::Admin, event).await;
            assert_eq!(
                (reply.status, reply.error_code()),
                (403, "forbidden"),
                "{path}"
            );
        }
        for (name, value) in [
            ("limit", "0"),
            ("limit", "101"),
            ("cursor", "bm90LWEtY3Vyc29y"),
            ("cursor", "%%%"),
        ] {
            let reply = invoke(
                &app,
                Function::Admin,
                admin_get(path, &[(name, value)], None),
            )
            .await;
            assert_eq!(
                (reply.status, reply.error_code()),
                (400, "invalid_request"),
                "{path}?{name}={value}"
            );
        }
    }
    // The user's own history: a signed-in caller only, paging checked the same way.
    let unsigned = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "GET", "/sessions/current/events"),
    )
    .await;
    assert_eq!(unsigned.status, 401);
    let bad = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "GET", "/sessions/current/events")
            .session_cookie(&token)
            .query("cursor", "MTIzIzQ1Ng"),
    )
    .await;
    assert_eq!((bad.status, bad.error_code()), (400, "invalid_request"));
    table.drop_table().await;
}

#[tokio::test]
async fn a_user_reads_their_own_history_newest_first_page_by_page_and_nobody_elses() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let laptop = sign_in(&app, "alice", None).await;
    let phone = sign_in(&app, "alice", None).await;
    sign_out(&app, &phone).await;
    let bob = sign_in(&app, "bob", None).await;
    let tablet = sign_in(&app, "alice", None).await;
    sign_out(&app, &tablet).await;
    let mut expected = table.event_names("alice").await;
    expected.reverse();
    assert_eq!(expected.len(), 5, "{expected:?}");

    let (events, pages) = all_pages(&app, Function::Manage, "events", |cursor| {
        let event = Event::new(Payload::V2, "GET", "/sessions/current/events")
            .session_cookie(&laptop)
            .query("limit", "2");
        match cursor {
            Some(cursor) => event.query("cursor", cursor),
            None => event,
        }
    })
    .await;

    assert_eq!(pages, 3);
    let names: Vec<String> = events
        .iter()
        .map(|e| {
            e["type"]
                .as_str()
                .unwrap()
                .trim_start_matches("session.")
                .to_owned()
        })
        .collect();
    assert_eq!(names, expected, "newest first");
    let times: Vec<&str> = events.iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    for event in &events {
        assert!(event["session_id"].is_string(), "{event}");
        assert!(event.get("user_key").is_none() && event.get("data").is_none());
        let text = event.to_string();
        for token in [&laptop, &phone, &bob, &tablet] {
            assert!(!text.contains(token.as_str()), "a token in {text}");
        }
    }
    // Bob's history is his own: one sign-in.
    let (bobs, _) = all_pages(&app, Function::Manage, "events", |_| {
        Event::new(Payload::V2, "GET", "/sessions/current/events").session_cookie(&bob)
    })
    .await;
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0]["type"], "session.created");
    table.drop_table().await;
}

#[tokio::test]
async fn an_admin_reads_a_users_history_scoped_by_tenant() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let acme = sign_in(&app, "alice", Some("acme")).await;
    sign_out(&app, &acme).await;
    sign_in(&app, "alice", Some("globex")).await;
    let key = UserKey::of(
        Some(ISSUER),
        Some(&TenantId::parse("acme").unwrap()),
        &UserId::parse("alice").unwrap(),
    );
    let mut expected = table.event_names_of(&key).await;
    expected.reverse();
    assert_eq!(expected, ["revoked", "created"]);

    let (events, pages) = all_pages(&app, Function::Admin, "events", |cursor| {
        admin_get(
            "/admin/users/alice/events",
            &[("tenant_id", "acme"), ("issuer", ISSUER), ("limit", "1")],
            cursor,
        )
    })
    .await;

    assert_eq!(pages, 2);
    let names: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(names, ["session.revoked", "session.created"]);
    assert_eq!(events[0]["reason"], "signed_out");
    // Another tenant's alice is not this one; an unknown user has no history.
    for (user, tenant) in [("alice", "initech"), ("mallory", "acme")] {
        let reply = invoke(
            &app,
            Function::Admin,
            admin_get(
                &format!("/admin/users/{user}/events"),
                &[("tenant_id", tenant), ("issuer", ISSUER)],
                None,
            ),
        )
        .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["events"], serde_json::json!([]));
    }
    table.drop_table().await;
}

#[tokio::test]
async fn an_admin_reads_and_ends_one_session_and_the_users_other_sessions_go_on() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let laptop = sign_in(&app, "alice", Some("acme")).await;
    let phone = sign_in(&app, "alice", Some("acme")).await;
    let phone_id = session_id_of(&app, &phone).await;
    let path = format!("/admin/users/alice/sessions/{phone_id}");
    let scope = [("tenant_id", "acme"), ("issuer", ISSUER)];

    let read = invoke(&app, Function::Admin, admin_get(&path, &scope, None)).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["session_id"], phone_id.as_str());
    assert_eq!(read.body["user_id"], "alice");
    assert!(read.header("etag").is_some());

    // Another tenant's alice has no such session; nor has a user who never signed in.
    for (user, tenant) in [("alice", "globex"), ("bob", "acme")] {
        let reply = invoke(
            &app,
            Function::Admin,
            admin_get(
                &format!("/admin/users/{user}/sessions/{phone_id}"),
                &[("tenant_id", tenant), ("issuer", ISSUER)],
                None,
            ),
        )
        .await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (404, "session_not_found")
        );
    }

    let mut revoke = Event::new(Payload::V1, "DELETE", &path).iam_signed(SUPPORT);
    for (name, value) in scope
        .iter()
        .copied()
        .chain([("reason", "phone reported stolen")])
    {
        revoke = revoke.query(name, value);
    }
    let ended = invoke(&app, Function::Admin, revoke).await;
    assert_eq!(ended.status, 204, "{}", ended.body);

    let on_phone = current(&app, &phone).await;
    assert_eq!(
        (on_phone.status, on_phone.error_code()),
        (401, "session_revoked")
    );
    let on_laptop = current(&app, &laptop).await;
    assert_eq!(on_laptop.status, 200);
    // Ended: a second DELETE and a read find nothing.
    let again = invoke(
        &app,
        Function::Admin,
        admin_call("DELETE", &path, &scope, None),
    )
    .await;
    assert_eq!(
        (again.status, again.error_code()),
        (404, "session_not_found")
    );

    // The event names the caller and the reason; the history shows it.
    table.deliver_stream_to_audit_trail().await;
    let (events, _) = all_pages(&app, Function::Admin, "events", |cursor| {
        admin_get("/admin/users/alice/events", &scope, cursor)
    })
    .await;
    let revoked: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "session.revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "{events:?}");
    assert_eq!(revoked[0]["session_id"], phone_id.as_str());
    assert_eq!(revoked[0]["reason"], "revoked");
    assert_eq!(revoked[0]["detail"]["revoked_by"], SUPPORT);
    assert_eq!(revoked[0]["detail"]["note"], "phone reported stolen");
    table.drop_table().await;
}

#[tokio::test]
async fn a_revocation_reason_is_bounded_and_a_session_id_must_be_one() {
    let table = TestTable::new().await;
    let app = app(&table, &[]);
    let token = sign_in(&app, "alice", None).await;
    let id = session_id_of(&app, &token).await;
    let path = format!("/admin/users/alice/sessions/{id}");
    let long = "x".repeat(201);
    for (path, reason) in [
        (path.as_str(), long.as_str()),
        (path.as_str(), "line\nbreak"),
        ("/admin/users/alice/sessions/not-a-session-id", "ok"),
    ] {
        let reply = invoke(
            &app,
            Function::Admin,
            admin_call(
                "DELETE",
                path,
                &[("issuer", ISSUER), ("reason", reason)],
                None,
            ),
        )
        .await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (400, "invalid_request"),
            "{path} {reason:?}"
        );
    }
    // Nothing was ended by the refused calls.
    assert_eq!(current(&app, &token).await.status, 200);
    table.drop_table().await;
}
