//! Lifetime profiles (`SESSION_PROFILES`): chosen at sign-in, limited by a claim of the identity
//! token, and followed by every deadline: idle and absolute timeouts, sliding, refresh,
//! renewal and the cookie's lifetime. Against DynamoDB Local, through the session service and
//! through the handlers with real API Gateway events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use session_shared::SignIn;
use session_shared::domain::{ClientInfo, Presented, SessionData, SessionToken, Transport, UserId};
use session_shared::identity::Identity;
use session_shared::session::{CreateError, SessionError, SessionService, Start};
use session_tests::{
    Event, Function, Payload, Reply, SIGV4_AUTHORIZATION, TestTable, app, config, invoke, ticket,
    ticket_with,
};

const PROFILES: &str = r#"{
    "remember": {"idle": "30d", "absolute": "90d"},
    "kiosk": {"idle": "15m", "absolute": "1h", "rotate_after": "5m", "persistent": false}
}"#;

fn service(table: &TestTable) -> SessionService {
    SessionService::new(
        table.store(),
        config(&table.name, &[("SESSION_PROFILES", PROFILES)]).policy,
    )
}

fn alice(allowed: Option<&[&str]>) -> Identity {
    Identity {
        user_id: UserId::parse("alice").unwrap(),
        tenant_id: None,
        issuer: None,
        authentication: None,
        ticket: None,
        allowed_profiles: allowed.map(|names| names.iter().map(|n| n.to_string()).collect()),
        actor: None,
        provider_sid: None,
    }
}

fn start(profile: Option<&str>) -> Start {
    Start {
        data: SessionData::default(),
        client: ClientInfo::default(),
        transport: Transport::Cookie,
        profile: profile.map(str::to_owned),
        resume: None,
        guest: None,
    }
}

async fn signed_in(
    service: &SessionService,
    profile: Option<&str>,
    now: DateTime<Utc>,
) -> SessionToken {
    service
        .create(alice(None), start(profile), now)
        .await
        .unwrap()
        .0
}

async fn validate_at(
    service: &SessionService,
    token: &SessionToken,
    at: DateTime<Utc>,
) -> Result<session_shared::session::Current, SessionError> {
    service
        .validate(
            Presented::new(token, &ClientInfo::default(), Transport::Cookie),
            at,
        )
        .await
}

#[tokio::test]
async fn each_profile_starts_with_its_own_deadlines() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = session_shared::domain::at_storage_precision(Utc::now());

    for (profile, name, idle, absolute) in [
        (None, "default", Duration::hours(8), Duration::days(7)),
        (
            Some("remember"),
            "remember",
            Duration::days(30),
            Duration::days(90),
        ),
        (
            Some("kiosk"),
            "kiosk",
            Duration::minutes(15),
            Duration::hours(1),
        ),
    ] {
        let (_, session) = sessions
            .create(alice(None), start(profile), t0)
            .await
            .unwrap();
        assert_eq!(session.profile, name);
        assert_eq!(session.expires_at, t0 + idle, "{name}");
        assert_eq!(session.absolute_expires_at, t0 + absolute, "{name}");
    }
    table.drop_table().await;
}

#[tokio::test]
async fn a_kiosk_session_dies_after_its_short_idle_and_absolute_timeouts() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();

    let idle = signed_in(&sessions, Some("kiosk"), t0).await;
    let unused_too_long = validate_at(&sessions, &idle, t0 + Duration::minutes(16)).await;

    // Used every four minutes (renewals and sliding keep it alive), it still ends at the
    // absolute hour.
    let busy = signed_in(&sessions, Some("kiosk"), t0).await;
    let mut token = busy;
    let mut at = t0;
    while at < t0 + Duration::minutes(56) {
        at += Duration::minutes(4);
        let current = validate_at(&sessions, &token, at).await.unwrap();
        assert!(current.session.expires_at <= t0 + Duration::hours(1));
        if let Some(next) = current.new_token {
            token = next;
        }
    }
    let past_the_hour = validate_at(&sessions, &token, t0 + Duration::minutes(61)).await;

    assert!(
        matches!(unused_too_long, Err(SessionError::Expired)),
        "{unused_too_long:?}"
    );
    assert!(
        matches!(past_the_hour, Err(SessionError::Expired)),
        "{past_the_hour:?}"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_remembered_session_outlives_the_default_timeouts_and_slides_by_its_own_window() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let remembered = signed_in(&sessions, Some("remember"), t0).await;
    let default = signed_in(&sessions, None, t0).await;

    // Nine days unused: past the default's 8-hour idle timeout (and its 7-day absolute one),
    // well within the remembered 30 days.
    let later = t0 + Duration::days(9);
    let default_then = validate_at(&sessions, &default, later).await;
    let kept = validate_at(&sessions, &remembered, later).await.unwrap();
    let token = kept
        .new_token
        .clone()
        .expect("renewed: the hour-old token rotated");
    // Twenty days after that, freshly renewed: more than half of its idle window used, so it
    // slides by the profile's 30 days.
    let slid_at = later + Duration::days(20);
    let renewed = validate_at(&sessions, &token, slid_at).await.unwrap();
    let slid = validate_at(&sessions, &renewed.new_token.unwrap(), slid_at)
        .await
        .unwrap();

    assert!(matches!(default_then, Err(SessionError::Expired)));
    assert_eq!(kept.session.profile, "remember");
    assert_eq!(
        slid.session.expires_at,
        session_shared::domain::at_storage_precision(slid_at) + Duration::days(30)
    );
    table.drop_table().await;
}

#[tokio::test]
async fn refresh_and_renewal_follow_the_profile() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let t0 = Utc::now();
    let kiosk = signed_in(&sessions, Some("kiosk"), t0).await;
    let default = signed_in(&sessions, None, t0).await;

    // Six minutes in: past the kiosk's 5-minute renewal interval, not the default's hour.
    let six = t0 + Duration::minutes(6);
    let kiosk_then = validate_at(&sessions, &kiosk, six).await.unwrap();
    let default_then = validate_at(&sessions, &default, six).await.unwrap();
    let refreshed = sessions
        .refresh(
            Presented::new(
                &kiosk_then.new_token.clone().unwrap(),
                &ClientInfo::default(),
                Transport::Cookie,
            ),
            t0 + Duration::minutes(10),
        )
        .await
        .unwrap();

    assert!(
        kiosk_then.new_token.is_some(),
        "the kiosk token was renewed"
    );
    assert!(default_then.new_token.is_none(), "the default one was not");
    assert_eq!(
        refreshed.session.expires_at,
        session_shared::domain::at_storage_precision(t0 + Duration::minutes(10))
            + Duration::minutes(15),
        "a refresh gives the kiosk's 15-minute idle window"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_session_whose_profile_was_removed_keeps_its_deadlines_and_extends_by_the_default() {
    let table = TestTable::new().await;
    let t0 = Utc::now();
    let token = signed_in(&service(&table), Some("remember"), t0).await;
    // The operator removed `remember` from the settings.
    let without = SessionService::new(table.store(), config(&table.name, &[]).policy);

    let two_days_later = t0 + Duration::days(2);
    let still = validate_at(&without, &token, two_days_later).await.unwrap();
    // Three hours before its 30-day idle deadline, within the default's sliding window (half
    // of 8 hours): extended by the default's 8 hours, not by 30 days.
    let near_the_end = t0 + Duration::days(30) - Duration::hours(3);
    let extended = validate_at(&without, &still.new_token.unwrap(), near_the_end)
        .await
        .unwrap();

    assert_eq!(
        still.session.profile, "remember",
        "the deadlines it was given stand"
    );
    assert_eq!(
        extended.session.expires_at,
        session_shared::domain::at_storage_precision(near_the_end) + Duration::hours(8),
        "extensions follow the default's 8-hour idle window"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn the_profile_must_exist_and_be_allowed_to_the_identity() {
    let table = TestTable::new().await;
    let sessions = service(&table);
    let now = Utc::now();

    let unknown = sessions
        .create(alice(None), start(Some("forever")), now)
        .await;
    let not_listed = sessions
        .create(alice(Some(&["default"])), start(Some("remember")), now)
        .await;
    let listed = sessions
        .create(alice(Some(&["remember"])), start(Some("remember")), now)
        .await;
    // Asking for nothing: `default` when allowed, else the first listed profile.
    let first_listed = sessions
        .create(
            alice(Some(&["nope", "kiosk", "remember"])),
            start(None),
            now,
        )
        .await;
    let none_usable = sessions
        .create(alice(Some(&["nope"])), start(None), now)
        .await;

    assert!(matches!(unknown, Err(CreateError::UnknownProfile(ref n)) if n == "forever"));
    assert!(matches!(not_listed, Err(CreateError::ProfileNotAllowed(ref n)) if n == "remember"));
    assert_eq!(listed.unwrap().1.profile, "remember");
    assert_eq!(first_listed.unwrap().1.profile, "kiosk");
    assert!(matches!(
        none_usable,
        Err(CreateError::ProfileNotAllowed(_))
    ));
    assert_eq!(
        table.items_of_kind("session").await.len(),
        2,
        "refused sign-ins wrote nothing"
    );
    table.drop_table().await;
}

// ---------- through the handlers ----------

fn sign_in(ticket: &str, body: serde_json::Value) -> Event {
    Event::new(Payload::V2, "POST", "/sessions")
        .bearer(ticket)
        .json_body(&body)
}

async fn signs_in(app: &SignIn, ticket: &str, body: serde_json::Value) -> Reply {
    invoke(app, Function::Create, sign_in(ticket, body)).await
}

fn max_age_of(cookie: &str) -> Option<i64> {
    cookie
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Max-Age="))
        .map(|v| v.parse().unwrap())
}

#[tokio::test]
async fn the_sign_in_body_names_the_profile_and_the_cookie_follows_it() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_PROFILES", PROFILES)]);

    let remembered = signs_in(&app, &ticket("alice", None), json!({"profile": "remember"})).await;
    let kiosk = signs_in(&app, &ticket("alice", None), json!({"profile": "kiosk"})).await;
    let default = signs_in(&app, &ticket("alice", None), json!({})).await;
    let me = invoke(
        &app,
        Function::Validate,
        Event::new(Payload::V2, "GET", "/sessions/current")
            .session_cookie(&remembered.cookie_token()),
    )
    .await;

    assert_eq!(remembered.status, 201, "{}", remembered.body);
    assert_eq!(remembered.body["profile"], "remember");
    assert_eq!(me.body["profile"], "remember");
    let days = |reply: &Reply| max_age_of(reply.only_cookie()).unwrap() / 86_400;
    assert_eq!(
        days(&remembered),
        90,
        "Max-Age runs to the 90-day absolute deadline"
    );
    assert_eq!(days(&default), 7, "the default's 7 days");
    assert_eq!(default.body["profile"], "default");
    assert_eq!(kiosk.status, 201);
    assert_eq!(
        max_age_of(kiosk.only_cookie()),
        None,
        "a non-persistent profile's cookie ends with the browser: {}",
        kiosk.only_cookie()
    );
    assert!(!kiosk.only_cookie().contains("Expires="));
    // Its refreshed cookie too: a rotation keeps the profile's kind of cookie.
    let refreshed = invoke(
        &app,
        Function::Refresh,
        Event::new(Payload::V2, "POST", "/sessions/current/refresh")
            .session_cookie(&kiosk.cookie_token()),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_ne!(refreshed.cookie_token(), kiosk.cookie_token());
    assert_eq!(
        max_age_of(refreshed.only_cookie()),
        None,
        "{}",
        refreshed.only_cookie()
    );
    assert!(!refreshed.only_cookie().contains("Expires="));
    table.drop_table().await;
}

#[tokio::test]
async fn an_unknown_or_malformed_profile_is_400_and_costs_the_ticket_nothing() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_PROFILES", PROFILES)]);
    let one_ticket = ticket("alice", None);

    let unknown = signs_in(&app, &one_ticket, json!({"profile": "forever"})).await;
    let malformed = signs_in(&app, &one_ticket, json!({"profile": 7})).await;
    let then = signs_in(&app, &one_ticket, json!({"profile": "kiosk"})).await;

    assert_eq!(
        (unknown.status, unknown.error_code()),
        (400, "unknown_profile")
    );
    assert!(
        unknown.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("forever")
    );
    assert_eq!(
        (malformed.status, malformed.error_code()),
        (400, "invalid_request")
    );
    assert_eq!(
        then.status, 201,
        "the ticket is still unused: {}",
        then.body
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_claim_of_the_identity_token_limits_the_profiles() {
    let table = TestTable::new().await;
    let app = app(
        &table,
        &[
            ("SESSION_PROFILES", PROFILES),
            ("AUTH_PROFILE_CLAIM", "session_profiles"),
            ("SESSION_TRUSTED_CALLER", "true"),
        ],
    );
    let with_claim = |value: serde_json::Value| {
        ticket_with("alice", None, move |claims| {
            claims.extra.insert("session_profiles".into(), value);
        })
    };

    let listed = with_claim(json!(["remember"]));
    let refused = signs_in(&app, &listed, json!({"profile": "kiosk"})).await;
    let allowed = signs_in(&app, &listed, json!({"profile": "remember"})).await;
    let without_claim =
        signs_in(&app, &ticket("alice", None), json!({"profile": "remember"})).await;
    let plain = signs_in(&app, &ticket("alice", None), json!({})).await;
    // A space-separated string, as OAuth scopes are; no `default` in it, so the first listed.
    let kiosk_only = signs_in(&app, &with_claim(json!("kiosk")), json!({})).await;
    let wrong_type = signs_in(&app, &with_claim(json!(3)), json!({})).await;
    // IAM-signed trusted callers vouch for the user themselves: any configured profile.
    let trusted = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/internal/sessions")
            .without_header("origin")
            .header("Authorization", SIGV4_AUTHORIZATION)
            .json_body(&json!({"user_id": "kiosk-7", "profile": "kiosk"}))
            .iam_caller("arn:aws:iam::123456789012:role/backend"),
    )
    .await;

    assert_eq!(
        (refused.status, refused.error_code()),
        (403, "profile_not_allowed")
    );
    assert_eq!(
        allowed.status, 201,
        "same ticket, allowed profile: {}",
        allowed.body
    );
    assert_eq!(allowed.body["profile"], "remember");
    assert_eq!(
        (without_claim.status, without_claim.error_code()),
        (403, "profile_not_allowed"),
        "no claim: the default alone"
    );
    assert_eq!(plain.body["profile"], "default");
    assert_eq!(kiosk_only.status, 201, "{}", kiosk_only.body);
    assert_eq!(kiosk_only.body["profile"], "kiosk");
    assert_eq!(
        (wrong_type.status, wrong_type.error_code()),
        (401, "invalid_token")
    );
    assert_eq!(trusted.status, 201, "{}", trusted.body);
    assert_eq!(trusted.body["profile"], "kiosk");
    table.drop_table().await;
}

#[tokio::test]
async fn the_device_list_shows_each_sessions_profile_and_authentication() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_PROFILES", PROFILES)]);
    let an_hour_ago = Utc::now().timestamp() - 3600;
    let strong = ticket_with("alice", None, |claims| {
        claims.extra.insert("auth_time".into(), json!(an_hour_ago));
        claims.extra.insert("amr".into(), json!(["pwd", "otp"]));
        claims
            .extra
            .insert("acr".into(), json!("urn:example:loa:2"));
    });
    let laptop = signs_in(&app, &strong, json!({"profile": "remember"})).await;
    let kiosk = signs_in(&app, &ticket("alice", None), json!({"profile": "kiosk"})).await;

    let list = invoke(
        &app,
        Function::Manage,
        Event::new(Payload::V2, "GET", "/sessions").session_cookie(&kiosk.cookie_token()),
    )
    .await;

    assert_eq!(list.status, 200, "{}", list.body);
    let rows = list.body["sessions"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let row = |id: &serde_json::Value| {
        rows.iter()
            .find(|r| r["session_id"] == *id)
            .unwrap_or_else(|| panic!("{id} listed"))
            .clone()
    };
    let laptop_row = row(&laptop.body["session_id"]);
    let kiosk_row = row(&kiosk.body["session_id"]);
    assert_eq!(laptop_row["profile"], "remember");
    assert_eq!(laptop_row["amr"], json!(["pwd", "otp"]));
    assert_eq!(laptop_row["acr"], "urn:example:loa:2");
    assert_eq!(
        laptop_row["authenticated_at"],
        laptop.body["authenticated_at"]
    );
    assert_eq!(
        DateTime::parse_from_rfc3339(laptop_row["authenticated_at"].as_str().unwrap())
            .unwrap()
            .timestamp(),
        an_hour_ago
    );
    assert_eq!(laptop_row["current"], false);
    assert_eq!(kiosk_row["profile"], "kiosk");
    assert_eq!(kiosk_row["amr"], json!([]));
    assert_eq!(kiosk_row["acr"], serde_json::Value::Null);
    assert_eq!(kiosk_row["current"], true);
    table.drop_table().await;
}

#[tokio::test]
async fn re_authentication_keeps_the_profile_and_its_deadlines() {
    let table = TestTable::new().await;
    let app = app(&table, &[("SESSION_PROFILES", PROFILES)]);
    let created = signs_in(&app, &ticket("alice", None), json!({"profile": "remember"})).await;

    let before = Utc::now();
    let again = invoke(
        &app,
        Function::Create,
        Event::new(Payload::V2, "POST", "/sessions/current/reauth")
            .session_cookie(&created.cookie_token())
            .json_body(&json!({ "id_token": ticket("alice", None) })),
    )
    .await;
    let after = Utc::now();

    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["profile"], "remember");
    assert_eq!(
        again.body["absolute_expires_at"],
        created.body["absolute_expires_at"]
    );
    // Exactly to the absolute deadline, as of the moment the server answered: between the
    // test's clock before and after the call (whole seconds, either rounding).
    let deadline =
        DateTime::parse_from_rfc3339(created.body["absolute_expires_at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc);
    let max_age = max_age_of(again.only_cookie()).unwrap();
    let (low, high) = (
        (deadline - after).num_seconds() - 1,
        (deadline - before).num_seconds() + 1,
    );
    assert!(
        (low..=high).contains(&max_age),
        "the rotated cookie runs to the 90-day deadline: Max-Age {max_age}, expected {low}..={high}"
    );
    table.drop_table().await;
}
