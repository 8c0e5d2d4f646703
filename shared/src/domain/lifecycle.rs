//! Lifecycle events told to the outside world (webhooks, EventBridge, the audit trail), derived
//! from how a token item changed (the table's stream): a head inserted at sign-in is
//! `session.created`, a head turned `retired` is `session.rotated`, one turned `revoked` is
//! `session.revoked` (and `session.replay_detected` for a replay), a head deleted by its holder
//! is a sign-out and one deleted by DynamoDB's TTL is `session.expired`. Pure: the store decodes
//! the item images, this decides what they mean.
//!
//! An event names the public session id, never a token or a token hash. Its id is derived from
//! the change's own id, so a change delivered twice gives the same event ids (consumers
//! deduplicate by id).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::device::Device;
use super::ids::{SessionId, TenantId, UserId, UserKey};
use super::impersonation::Actor;
use super::record::{RevocationReason, TokenRecord};
use super::session::Session;

/// How a token item changed.
#[derive(Debug, Clone)]
// One short-lived value per stream record: its size does not matter, plain matching does.
#[allow(clippy::large_enum_variant)]
pub enum Change {
    /// A new item.
    Inserted(TokenRecord),
    /// An item rewritten.
    Modified {
        /// Before.
        old: TokenRecord,
        /// After.
        new: TokenRecord,
    },
    /// An item deleted.
    Removed {
        /// What it was.
        old: TokenRecord,
        /// Deleted by DynamoDB's TTL (not by a caller).
        by_ttl: bool,
    },
}

/// What happened to a session, as told outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleKind {
    /// Signed in.
    Created,
    /// A new token replaced the old one (`reason`: refresh, renewal, reauthentication, ...).
    Rotated,
    /// The idle deadline moved (a sliding validate); only when asked for.
    Extended,
    /// Ended (`reason`: signed_out, revoked, evicted, replay, anomaly).
    Revoked,
    /// DynamoDB's TTL deleted the expired session.
    Expired,
    /// A retired token came back after its grace window: the session was revoked.
    ReplayDetected,
    /// The session data changed (`changed_keys` names the top-level keys, not their values).
    DataChanged,
    /// The client changed (`reason`: user_agent_changed, ip_changed).
    Anomaly,
}

impl LifecycleKind {
    /// The event type: `session.created`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "session.created",
            Self::Rotated => "session.rotated",
            Self::Extended => "session.extended",
            Self::Revoked => "session.revoked",
            Self::Expired => "session.expired",
            Self::ReplayDetected => "session.replay_detected",
            Self::DataChanged => "session.data_changed",
            Self::Anomaly => "session.anomaly",
        }
    }
}

impl Serialize for LifecycleKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One lifecycle event: `{"id", "type", "timestamp", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LifecycleEvent {
    /// Stable across redeliveries of the same change: deduplicate by it.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: LifecycleKind,
    /// When it happened.
    #[serde(serialize_with = "rfc3339")]
    pub timestamp: DateTime<Utc>,
    /// About which session.
    pub data: EventData,
}

/// The session an event is about, and why, where known.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventData {
    /// The public session id.
    pub session_id: SessionId,
    /// Whose session.
    pub user_id: UserId,
    /// The user scoped by issuer and tenant (what the audit trail is filed under).
    pub user_key: UserKey,
    /// The session's tenant.
    pub tenant_id: Option<TenantId>,
    /// The identity token's issuer (`None`: a trusted caller's sign-in).
    pub issuer: Option<String>,
    /// Why, for rotations, revocations and anomalies.
    pub reason: Option<String>,
    /// "Chrome on Windows 10", from the last user agent seen.
    pub device: Option<String>,
    /// The last client IP seen.
    pub ip: Option<String>,
    /// The session's lifetime profile.
    pub profile: Option<String>,
    /// Who acted for the user: every event of an impersonation session names the
    /// administrator (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// Where in the session's history this is: the session's version after the change, which
    /// every write to the session raises. Events of one token arrive in order; after a
    /// rotation, the old and the new token's changes may come from different stream shards,
    /// and this orders them.
    pub sequence: u64,
    /// A guest session's event (absent for a signed-in user's).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub guest: bool,
    /// Anything else the kind carries (`changed_keys`, `expires_at`, ...).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub detail: Map<String, Value>,
}

fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// What to derive besides the events every consumer gets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Derivation {
    /// Also `session.extended` on every sliding validate (off by default: chatty).
    pub extended: bool,
}

impl Derivation {
    /// The events a change of a token item means. `change_id` identifies the change (the
    /// stream record's id), `at` is when it happened as far as the stream knows.
    pub fn events(
        &self,
        change: &Change,
        change_id: &str,
        at: DateTime<Utc>,
    ) -> Vec<LifecycleEvent> {
        // A change that ends the head (retired, revoked, deleted) leaves the session one
        // version past the head's.
        let event = |kind, session: &Session, at, reason: Option<&str>| {
            let mut event = LifecycleEvent::about(kind, session, change_id, at, reason);
            event.data.sequence += 1;
            event
        };
        match change {
            // A rotation's new head has a later version: its event is the old head's retirement.
            Change::Inserted(TokenRecord::Active(session)) if session.version == 1 => {
                let mut created = LifecycleEvent::about(
                    LifecycleKind::Created,
                    session,
                    change_id,
                    session.created_at,
                    None,
                );
                // The guest session whose data it carries, when a guest signed in.
                if let Some(guest) = session.upgraded_from {
                    created
                        .data
                        .detail
                        .insert("upgraded_from".into(), guest.to_string().into());
                }
                // How the user signed in (`amr`; `legacy` for an exchanged legacy session).
                let methods = &session.authentication.methods;
                if !methods.is_empty() {
                    created
                        .data
                        .detail
                        .insert("amr".into(), methods.clone().into());
                }
                vec![created]
            }
            Change::Modified {
                old: TokenRecord::Active(old),
                new: TokenRecord::Active(new),
            } => self.rewritten(old, new, change_id, at),
            Change::Modified {
                old: TokenRecord::Active(old),
                new: TokenRecord::Retired(retired),
            } => vec![event(
                LifecycleKind::Rotated,
                old,
                retired.retired_at,
                retired.trigger.as_deref(),
            )],
            Change::Modified {
                old: TokenRecord::Active(old),
                new: TokenRecord::Revoked(revoked),
            } => {
                let at = revoked.revoked_at;
                let mut revoked_event = event(
                    LifecycleKind::Revoked,
                    old,
                    at,
                    Some(revoked.reason.as_str()),
                );
                // Who asked for it (`user`, an administrator's IAM principal) and their note.
                for (name, value) in [("revoked_by", &revoked.by), ("note", &revoked.note)] {
                    if let Some(value) = value {
                        revoked_event
                            .data
                            .detail
                            .insert(name.into(), value.clone().into());
                    }
                }
                match revoked.reason {
                    RevocationReason::Replay => vec![
                        event(LifecycleKind::ReplayDetected, old, at, None),
                        revoked_event,
                    ],
                    _ => vec![revoked_event],
                }
            }
            // The stream's time has a second's precision: never before the session's last use.
            Change::Removed {
                old: TokenRecord::Active(old),
                by_ttl: true,
            } => {
                let mut expired =
                    event(LifecycleKind::Expired, old, at.max(old.last_seen_at), None);
                expired.data.detail.insert(
                    "expired_at".into(),
                    old.deadline()
                        .to_rfc3339_opts(SecondsFormat::Millis, true)
                        .into(),
                );
                vec![expired]
            }
            Change::Removed {
                old: TokenRecord::Active(old),
                by_ttl: false,
            } => vec![event(
                LifecycleKind::Revoked,
                old,
                at.max(old.last_seen_at),
                Some("signed_out"),
            )],
            // Retired and revoked items come and go with their session: nothing new to tell.
            _ => Vec::new(),
        }
    }

    /// A head rewritten in place: its data, its client, or its idle deadline changed.
    fn rewritten(
        &self,
        old: &Session,
        new: &Session,
        change_id: &str,
        at: DateTime<Utc>,
    ) -> Vec<LifecycleEvent> {
        let mut events = Vec::new();
        let at = at.max(new.last_seen_at);
        if new.data_version != old.data_version {
            let mut changed =
                LifecycleEvent::about(LifecycleKind::DataChanged, new, change_id, at, None);
            let before = old.data.as_map();
            let after = new.data.as_map();
            let mut keys: Vec<&String> = before
                .keys()
                .chain(after.keys())
                .filter(|k| before.get(*k) != after.get(*k))
                .collect();
            keys.sort();
            keys.dedup();
            changed
                .data
                .detail
                .insert("changed_keys".into(), keys.into_iter().cloned().collect());
            events.push(changed);
        }
        if new.client_event_at != old.client_event_at {
            let reason = if new.client.user_agent != old.client.user_agent {
                "user_agent_changed"
            } else {
                "ip_changed"
            };
            let at = new.client_event_at.unwrap_or(at);
            events.push(LifecycleEvent::about(
                LifecycleKind::Anomaly,
                new,
                change_id,
                at,
                Some(reason),
            ));
        }
        if self.extended && new.expires_at > old.expires_at {
            let mut extended = LifecycleEvent::about(
                LifecycleKind::Extended,
                new,
                change_id,
                new.last_seen_at,
                None,
            );
            extended.data.detail.insert(
                "expires_at".into(),
                new.expires_at
                    .to_rfc3339_opts(SecondsFormat::Millis, true)
                    .into(),
            );
            events.push(extended);
        }
        events
    }
}

impl LifecycleEvent {
    fn about(
        kind: LifecycleKind,
        session: &Session,
        change_id: &str,
        at: DateTime<Utc>,
        reason: Option<&str>,
    ) -> Self {
        let mut digest = Sha256::new();
        digest.update(change_id.as_bytes());
        digest.update([0]);
        digest.update(kind.as_str().as_bytes());
        let hash = digest.finalize();
        let id = format!(
            "evt_{}",
            hash[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let device = session
            .client
            .user_agent
            .as_deref()
            .map(|ua| Device::from_user_agent(Some(ua)).label);
        Self {
            id,
            kind,
            timestamp: at,
            data: EventData {
                session_id: session.id,
                user_id: session.user_id.clone(),
                user_key: session.user_key(),
                tenant_id: session.tenant_id.clone(),
                issuer: session.issuer.clone(),
                reason: reason.map(str::to_owned),
                device,
                ip: session.client.ip.clone(),
                profile: Some(session.profile.clone()),
                actor: session.actor.clone(),
                sequence: session.version,
                guest: session.guest,
                detail: Map::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use serde_json::json;

    use super::*;
    use crate::domain::{
        ClientInfo, Lifetimes, RetiredToken, RevokedToken, RotationSeed, SessionData, SessionToken,
        SuccessorKey,
    };

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

    fn t0() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    fn session() -> Session {
        let lifetimes = Lifetimes::new(Duration::hours(8), Duration::days(7), 0.5).unwrap();
        Session::start(
            UserId::parse("alice").unwrap(),
            Some(TenantId::parse("acme").unwrap()),
            SessionData::parse(json!({"plan": "pro"}), 1024).unwrap(),
            ClientInfo::new(Some("203.0.113.9"), Some(CHROME)),
            &lifetimes,
            t0(),
        )
    }

    fn kinds(events: &[LifecycleEvent]) -> Vec<&'static str> {
        events.iter().map(|e| e.kind.as_str()).collect()
    }

    fn derive(change: &Change) -> Vec<LifecycleEvent> {
        Derivation::default().events(change, "record-1", t0() + Duration::hours(1))
    }

    #[test]
    fn a_guests_events_say_guest_and_its_sign_in_names_the_guest_it_came_from() {
        let lifetimes = Lifetimes::new(Duration::days(1), Duration::days(30), 0.5).unwrap();
        let guest = Session::start_guest(
            SessionData::default(),
            ClientInfo::default(),
            &lifetimes,
            t0(),
        );
        let mut signed_in = session();
        signed_in.upgraded_from = Some(guest.id);

        let guest_created = derive(&Change::Inserted(TokenRecord::Active(guest.clone())));
        let created = derive(&Change::Inserted(TokenRecord::Active(signed_in)));

        let guest_json = serde_json::to_value(&guest_created[0]).unwrap();
        assert_eq!(guest_json["type"], "session.created");
        assert_eq!(guest_json["data"]["guest"], true);
        let json = serde_json::to_value(&created[0]).unwrap();
        assert_eq!(
            json["data"].get("guest"),
            None,
            "a user's events carry no guest flag"
        );
        assert_eq!(
            json["data"]["detail"]["upgraded_from"],
            guest.id.to_string()
        );
        // A guest left alone expires by TTL like any session, and says so.
        let expired = derive(&Change::Removed {
            old: TokenRecord::Active(guest),
            by_ttl: true,
        });
        assert_eq!(kinds(&expired), ["session.expired"]);
        assert!(expired[0].data.guest);
    }

    #[test]
    fn a_sign_in_is_created_and_a_rotations_new_head_is_nothing() {
        let created = derive(&Change::Inserted(TokenRecord::Active(session())));
        let mut next = session();
        next.version = 2;
        let new_head = derive(&Change::Inserted(TokenRecord::Active(next)));

        assert_eq!(kinds(&created), ["session.created"]);
        let data = &created[0].data;
        assert_eq!(data.user_id.as_str(), "alice");
        assert_eq!(data.device.as_deref(), Some("Chrome on Windows 10"));
        assert_eq!(data.ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(data.profile.as_deref(), Some("default"));
        assert_eq!(created[0].timestamp, t0());
        assert!(new_head.is_empty());
    }

    #[test]
    fn retiring_the_head_is_a_rotation_with_its_trigger() {
        let old = session();
        let retired = RetiredToken {
            session_id: old.id,
            user_key: old.user_key(),
            user_id: old.user_id.clone(),
            tenant_id: old.tenant_id.clone(),
            retired_at: t0() + Duration::minutes(5),
            successor: SessionToken::generate().unwrap().hash(),
            key: SuccessorKey::Derived(RotationSeed::random()),
            absolute_expires_at: old.absolute_expires_at,
            trigger: Some("refresh".into()),
        };
        let events = derive(&Change::Modified {
            old: TokenRecord::Active(old),
            new: TokenRecord::Retired(retired),
        });
        assert_eq!(kinds(&events), ["session.rotated"]);
        assert_eq!(events[0].data.reason.as_deref(), Some("refresh"));
        assert_eq!(events[0].timestamp, t0() + Duration::minutes(5));
    }

    #[test]
    fn revocations_say_why_and_a_replay_is_also_reported_as_such() {
        let revoked = |reason| {
            let old = session();
            derive(&Change::Modified {
                new: TokenRecord::Revoked(RevokedToken {
                    session_id: old.id,
                    user_id: old.user_id.clone(),
                    tenant_id: old.tenant_id.clone(),
                    reason,
                    by: None,
                    note: None,
                    revoked_at: t0(),
                    upgrade: None,
                }),
                old: TokenRecord::Active(old),
            })
        };
        let replay = revoked(RevocationReason::Replay);
        let evicted = revoked(RevocationReason::Evicted);

        assert_eq!(
            kinds(&replay),
            ["session.replay_detected", "session.revoked"]
        );
        assert_eq!(replay[1].data.reason.as_deref(), Some("replay"));
        assert_ne!(replay[0].id, replay[1].id);
        assert_eq!(kinds(&evicted), ["session.revoked"]);
        assert_eq!(evicted[0].data.reason.as_deref(), Some("evicted"));
    }

    #[test]
    fn a_deleted_head_is_a_sign_out_unless_ttl_deleted_it() {
        let signed_out = derive(&Change::Removed {
            old: TokenRecord::Active(session()),
            by_ttl: false,
        });
        let expired = derive(&Change::Removed {
            old: TokenRecord::Active(session()),
            by_ttl: true,
        });

        assert_eq!(kinds(&signed_out), ["session.revoked"]);
        assert_eq!(signed_out[0].data.reason.as_deref(), Some("signed_out"));
        assert_eq!(kinds(&expired), ["session.expired"]);
        assert_eq!(
            expired[0].data.detail["expired_at"],
            (t0() + Duration::hours(8)).to_rfc3339_opts(SecondsFormat::Millis, true)
        );
    }

    #[test]
    fn a_rewritten_head_tells_data_client_and_optionally_sliding_changes() {
        let old = session();
        let mut new = old.clone();
        new.version += 1;
        new.data_version += 1;
        new.data = SessionData::parse(json!({"plan": "team", "theme": "dark"}), 1024).unwrap();
        new.client = ClientInfo::new(Some("203.0.113.9"), Some("curl/8.0"));
        new.client_event_at = Some(t0() + Duration::minutes(3));
        new.expires_at = old.expires_at + Duration::hours(1);
        let change = Change::Modified {
            old: TokenRecord::Active(old),
            new: TokenRecord::Active(new),
        };

        let default = derive(&change);
        let chatty = Derivation { extended: true }.events(&change, "record-1", t0());

        assert_eq!(kinds(&default), ["session.data_changed", "session.anomaly"]);
        assert_eq!(
            default[0].data.detail["changed_keys"],
            json!(["plan", "theme"]),
            "names only, never values"
        );
        assert_eq!(
            default[1].data.reason.as_deref(),
            Some("user_agent_changed")
        );
        assert_eq!(
            kinds(&chatty),
            [
                "session.data_changed",
                "session.anomaly",
                "session.extended"
            ]
        );
    }

    #[test]
    fn ids_are_stable_per_change_and_kind_and_the_json_has_no_secret() {
        let change = Change::Inserted(TokenRecord::Active(session()));
        let once = derive(&change);
        let again = derive(&change);
        let other = Derivation::default().events(&change, "record-2", t0());

        assert_eq!(
            once[0].id, again[0].id,
            "a redelivered change keeps its ids"
        );
        assert_ne!(once[0].id, other[0].id);
        assert!(once[0].id.starts_with("evt_") && once[0].id.len() == 36);
        let json = serde_json::to_value(&once[0]).unwrap();
        assert_eq!(json["type"], "session.created");
        assert_eq!(json["data"]["tenant_id"], "acme");
        assert!(json["data"].get("detail").is_none());
        let text = json.to_string();
        assert!(!text.contains("TOKEN#") && !text.contains("\"data\":{\"plan\""));
    }
}
