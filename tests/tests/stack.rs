//! The stack, created (issue 32): `infra/stack.py` transforms `template.yaml` with the SAM
//! translator, creates it on moto's CloudFormation and reads every resource back through its
//! own service. This checks what came out against the code: the table against
//! `infra/table.json`, each function's environment against the settings the code reads (parsed
//! by the code's own configuration), each role against what its function calls, the event
//! source mappings and their failure destinations. What the emulator does not create or
//! ignores is listed in README "Deploy" and checked here on the transformed template.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::LazyLock;

use serde_json::{Value, json};
use session_shared::config::{self, Config, LOCAL_ONLY, SETTINGS};
use session_shared::events::queue::{MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT};
use session_shared::store::TableDefinition;

const WEBHOOK_SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-AbCdEf";
const TICKET_SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ticket-AbCdEf";

/// The stack with every optional part on: webhooks, an event bus, the login-ticket secret.
static FULL: LazyLock<Value> = LazyLock::new(|| {
    created(
        "Full",
        &[
            ("SessionWebhookUrl", "https://hooks.example.com/sessions"),
            ("SessionWebhookSecretArn", WEBHOOK_SECRET),
            ("SessionEventBus", "sessions"),
            ("AuthJwtHs256SecretArn", TICKET_SECRET),
            ("AuthJwtIssuer", "https://backend.example.com"),
            ("AuthJwtAudience", "session-service"),
        ],
    )
});

/// The stack with every parameter at its default.
static DEFAULTS: LazyLock<Value> = LazyLock::new(|| created("Defaults", &[]));

fn created(stack: &str, parameters: &[(&str, &str)]) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let output = std::process::Command::new("python3")
        .arg(root.join("infra/stack.py"))
        .arg(stack)
        .args(parameters.iter().map(|(k, v)| format!("{k}={v}")))
        .output()
        .expect("python3 runs infra/stack.py");
    assert!(
        output.status.success(),
        "infra/stack.py {stack}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("infra/stack.py prints JSON")
}

fn transformed<'a>(stack: &'a Value, logical_id: &str) -> &'a Value {
    &stack["transformed"][logical_id]
}

/// The physical id the stack gave a resource.
fn physical<'a>(stack: &'a Value, logical_id: &str) -> &'a str {
    stack["created"][logical_id]
        .as_str()
        .unwrap_or_else(|| panic!("{logical_id} was not created"))
}

fn queue_arn(stack: &Value, logical_id: &str) -> String {
    stack["queues"][logical_id]["attributes"]["QueueArn"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// README "Deploy": the two lists of what the emulator lacks and ignores.
fn readme_list(prefix: &str) -> BTreeSet<String> {
    let readme = include_str!("../../README.md");
    let mut lines = readme.lines().skip_while(|line| !line.starts_with(prefix));
    let first = lines.next().unwrap_or_default();
    // The item and its continuation lines (indented).
    let line = std::iter::once(first)
        .chain(lines.take_while(|line| line.starts_with("  ")))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(!line.is_empty(), "README has no line {prefix:?}");
    line.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn everything_the_template_declares_is_created_but_the_types_the_readme_names() {
    let lacking = readme_list("- emulator lacks:");
    // Every condition holds in the full stack; with the defaults, the resources of conditions
    // that do not are left out (the next test checks they are not created).
    for (stack, conditional_too) in [(&*FULL, true), (&*DEFAULTS, false)] {
        let not_created: BTreeSet<String> = stack["transformed"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(id, resource)| {
                stack["created"].get(id.as_str()).is_none()
                    && (conditional_too || resource.get("Condition").is_none())
            })
            .map(|(_, resource)| resource["Type"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(not_created, lacking, "README \"emulator lacks\"");
    }
}

#[test]
fn the_webhook_parts_exist_only_with_a_webhook_url() {
    for id in [
        "WebhookQueue",
        "WebhookFailureQueue",
        "WebhooksFunction",
        "WebhooksFunctionRole",
        "WebhooksQueueMapping",
    ] {
        assert!(FULL["created"].get(id).is_some(), "{id} with a webhook");
        assert!(DEFAULTS["created"].get(id).is_none(), "{id} without one");
    }
    assert_eq!(DEFAULTS["mappings"].as_array().unwrap().len(), 1);
}

#[test]
fn the_table_is_the_code_table_definition() {
    let local = serde_json::to_value(TableDefinition::load().unwrap()).unwrap();
    let table = &FULL["table"];
    for key in [
        "KeySchema",
        "AttributeDefinitions",
        "GlobalSecondaryIndexes",
        "BillingMode",
    ] {
        assert_eq!(table[key], local[key], "the created table's {key}");
    }
    assert_eq!(
        table["StreamSpecification"],
        json!({"StreamEnabled": true, "StreamViewType": local["StreamSpecification"]["StreamViewType"]})
    );
    assert_eq!(table["DeletionProtection"], "true");
    // Ignored by the emulator (README): TTL and point-in-time recovery, on the transformed table.
    let ignored = readme_list("- emulator ignores:");
    assert!(ignored.contains("TimeToLiveSpecification"));
    assert!(ignored.contains("PointInTimeRecoverySpecification"));
    assert_eq!(
        table["TimeToLive"]["TimeToLiveStatus"], "DISABLED",
        "emulator"
    );
    let properties = &transformed(&FULL, "SessionsTable")["Properties"];
    assert_eq!(
        properties["TimeToLiveSpecification"],
        local["TimeToLiveSpecification"]
    );
    assert_eq!(
        properties["PointInTimeRecoverySpecification"],
        json!({"PointInTimeRecoveryEnabled": true})
    );
}

/// The settings a function reads, by what the code says of each setting.
fn settings_of(function: &str) -> BTreeSet<&'static str> {
    SETTINGS
        .iter()
        .filter(|s| !LOCAL_ONLY.contains(&s.name))
        .filter(|s| match function {
            "CreateFunction" => !s.is_events() && !s.is_tokens(),
            "EventsFunction" | "WebhooksFunction" => !s.is_identity() && !s.is_tokens(),
            "TokenFunction" => !s.is_identity() && !s.is_events(),
            _ => !s.is_identity() && !s.is_events() && !s.is_tokens(),
        })
        .map(|s| s.name)
        .collect()
}

#[test]
fn each_function_gets_exactly_the_settings_it_reads_and_the_code_accepts_them() {
    let stack = &*FULL;
    let table_name = physical(stack, "SessionsTable");
    let functions = stack["functions"].as_object().unwrap();
    assert_eq!(functions.len(), 11);
    let mut event_settings = BTreeSet::new();
    for (id, function) in functions {
        let env: BTreeMap<String, String> = function["environment"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_owned)))
            .collect();
        let names: BTreeSet<&str> = env.keys().map(String::as_str).collect();
        let readable = settings_of(id);
        assert!(
            names.is_subset(&readable),
            "{id} gets settings it does not read: {:?}",
            names.difference(&readable).collect::<Vec<_>>()
        );
        assert_eq!(env["SESSION_TABLE_NAME"], table_name, "{id}");
        assert_eq!(function["runtime"], "provided.al2023", "{id}");
        assert_eq!(function["handler"], "bootstrap", "{id}");
        let lookup = |name: &str| env.get(name).cloned();
        // Every function reads the session settings at its start; they parse as the code's.
        Config::from_lookup(lookup).unwrap_or_else(|e| panic!("{id}: {e}"));
        match id.as_str() {
            "CreateFunction" => {
                let identity: BTreeSet<&str> = readable
                    .iter()
                    .copied()
                    .filter(|name| name.starts_with("AUTH_"))
                    .collect();
                assert!(identity.is_subset(&names), "CreateFunction: {identity:?}");
                assert_eq!(env["AUTH_JWT_HS256_SECRET_ARN"], TICKET_SECRET);
            }
            "EventsFunction" => {
                config::events_from_lookup(lookup).unwrap();
                assert_eq!(
                    env["SESSION_WEBHOOK_QUEUE_URL"],
                    stack["queues"]["WebhookQueue"]["url"].as_str().unwrap()
                );
                assert_eq!(env["SESSION_EVENT_BUS"], "sessions");
            }
            "WebhooksFunction" => {
                assert_eq!(env["SESSION_WEBHOOK_SECRET_ARN"], WEBHOOK_SECRET);
                assert_eq!(
                    env["SESSION_WEBHOOK_FAILURE_QUEUE_URL"],
                    stack["queues"]["WebhookFailureQueue"]["url"]
                        .as_str()
                        .unwrap()
                );
            }
            "TokenFunction" => {
                let settings = config::tokens_from_lookup(lookup).unwrap();
                assert_eq!(settings.keys, [token_key(stack)]);
            }
            _ => {}
        }
        event_settings.extend(
            names
                .iter()
                .filter(|n| !n.starts_with("AUTH_"))
                .map(|n| (*n).to_owned()),
        );
    }
    // Together the functions get every setting the code reads from a deployed environment.
    let all: BTreeSet<String> = SETTINGS
        .iter()
        .map(|s| s.name)
        .filter(|name| !LOCAL_ONLY.contains(name) && !name.starts_with("AUTH_"))
        .map(str::to_owned)
        .collect();
    assert_eq!(event_settings, all);
}

/// The ARN of the stack's token signing key, as session-token is given it.
fn token_key(stack: &Value) -> String {
    let key = stack["functions"]["TokenFunction"]["environment"]["SESSION_TOKEN_KEYS"]
        .as_str()
        .unwrap();
    assert!(key.starts_with("arn:aws:kms:"), "{key}");
    key.to_owned()
}

/// What each function calls, from its code (each call asserted by `tests/tests/op_counts.rs`,
/// `events.rs` and `webhooks`' tests): (actions, resource) per statement, with the resources
/// named as in the stack: `table`, `table/index/<name>`, `stream`, a queue's logical id, a
/// secret's ARN, `bus`.
fn calls(function: &str) -> Vec<(Vec<&'static str>, &'static str)> {
    let crud = |actions: &[&'static str]| actions.to_vec();
    match function {
        // Sign-in: the ticket's single use (PutItem), the session (PutItem), the per-user cap
        // (Query on the user index, UpdateItem of an evicted session), a grace resume, an
        // impersonation grant and a presented session (GetItem).
        "CreateFunction" => vec![
            (crud(&["PutItem", "GetItem", "UpdateItem"]), "table"),
            (crud(&["Query"]), "table/index/sessions_by_user"),
            // A back-channel logout's sessions (IDPSID# keys).
            (crud(&["Query"]), "table"),
            (vec!["secretsmanager:GetSecretValue"], TICKET_SECRET),
        ],
        // Validate and refresh: read, slide (UpdateItem), rotate (PutItem of the new token).
        "ValidateFunction" | "RefreshFunction" => {
            vec![(crud(&["GetItem", "UpdateItem", "PutItem"]), "table")]
        }
        "LogoutFunction" => vec![(crud(&["GetItem", "DeleteItem", "UpdateItem"]), "table")],
        // The device list (Query on the user index), the caller's history (Query on the table,
        // USER# keys only).
        "ManageFunction" => vec![
            (
                crud(&["GetItem", "UpdateItem", "PutItem", "DeleteItem"]),
                "table",
            ),
            (crud(&["Query"]), "table/index/sessions_by_user"),
            (crud(&["Query"]), "table"),
        ],
        // Reads and revocations; the history (Query, USER# keys); an impersonation ticket's
        // grant (PutItem, IMPERSONATION# keys).
        "AdminFunction" => vec![
            (crud(&["GetItem", "UpdateItem", "PutItem"]), "table"),
            (crud(&["Query"]), "table/index/sessions_by_user"),
            (crud(&["Query"]), "table/index/by_tenant"),
            (crud(&["Query"]), "table"),
        ],
        "AuthorizerFunction" => vec![(crud(&["GetItem", "UpdateItem"]), "table")],
        "EventsFunction" => vec![
            (
                crud(&[
                    "DescribeStream",
                    "GetRecords",
                    "GetShardIterator",
                    "ListStreams",
                ]),
                "stream",
            ),
            (vec!["sqs:SendMessage"], "EventsFailureQueue"),
            (crud(&["PutItem"]), "table"),
            (vec!["sqs:SendMessage"], "WebhookQueue"),
            (vec!["events:PutEvents"], "bus"),
        ],
        "WebhooksFunction" => vec![
            (
                vec![
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ],
                "WebhookQueue",
            ),
            (vec!["sqs:SendMessage"], "WebhookFailureQueue"),
            (vec!["secretsmanager:GetSecretValue"], WEBHOOK_SECRET),
        ],
        // The caller's session as validate reads it; the token keys: sign, read public halves.
        "TokenFunction" => vec![
            (crud(&["GetItem", "UpdateItem", "PutItem"]), "table"),
            (vec!["kms:Sign", "kms:GetPublicKey"], "token key"),
        ],
        "ExampleProtectedFunction" => vec![],
        other => panic!("a function the test does not know: {other}"),
    }
}

/// A policy's `Action` or `Resource`: one string or a list of them.
fn one_or_many(value: &Value) -> Vec<String> {
    match value {
        Value::String(one) => vec![one.clone()],
        many => many
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
    }
}

/// `(action, resource ARN)` pairs of a role's inline policies, every statement an `Allow`.
fn granted(role: &Value) -> BTreeSet<(String, String)> {
    let mut pairs = BTreeSet::new();
    for document in role["inline"].as_object().unwrap().values() {
        for statement in document["Statement"].as_array().unwrap() {
            assert_eq!(statement["Effect"], "Allow");
            let actions = one_or_many(&statement["Action"]);
            let resources = one_or_many(&statement["Resource"]);
            for action in &actions {
                for resource in &resources {
                    pairs.insert((action.clone(), resource.clone()));
                }
            }
        }
    }
    pairs
}

#[test]
fn each_role_allows_what_its_function_calls_and_nothing_else() {
    let stack = &*FULL;
    let table = stack["table"]["Arn"].as_str().unwrap();
    let stream = stack["table"]["StreamArn"].as_str().unwrap();
    let roles_by_arn: BTreeMap<&str, &str> = stack["roles"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, role)| (role["arn"].as_str().unwrap(), id.as_str()))
        .collect();
    let resource_arn = |name: &str| -> String {
        match name {
            "table" => table.to_owned(),
            "stream" => stream.to_owned(),
            "bus" => "arn:aws:events:us-east-1:123456789012:event-bus/sessions".to_owned(),
            "token key" => token_key(stack),
            index if index.starts_with("table/") => format!("{table}{}", &index[5..]),
            arn if arn.starts_with("arn:") => arn.to_owned(),
            queue => queue_arn(stack, queue),
        }
    };
    for (id, function) in stack["functions"].as_object().unwrap() {
        let role_id = roles_by_arn[function["role"].as_str().unwrap()];
        let role = &stack["roles"][role_id];
        let expected: BTreeSet<(String, String)> = calls(id)
            .into_iter()
            .flat_map(|(actions, resource)| {
                let arn = resource_arn(resource);
                actions.into_iter().map(move |action| {
                    let action = if action.contains(':') {
                        action.to_owned()
                    } else {
                        format!("dynamodb:{action}")
                    };
                    (action, arn.clone())
                })
            })
            .collect();
        assert_eq!(granted(role), expected, "{id}'s role ({role_id})");
        assert_eq!(
            role["assume"]["Statement"][0]["Principal"],
            json!({"Service": ["lambda.amazonaws.com"]}),
            "{role_id} is assumed by Lambda alone"
        );
        // Ignored by the emulator (README): the managed policies, on the transformed role.
        assert_eq!(
            transformed(stack, role_id)["Properties"]["ManagedPolicyArns"],
            json!([
                "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
            ]),
            "{role_id}: logs and traces only"
        );
    }
    assert!(readme_list("- emulator ignores:").contains("ManagedPolicyArns"));
    // The audit trail: the events function files it, the history routes read it, each only
    // under USER# keys (the table's own Query and PutItem, never a token item).
    // The admin function writes only impersonation grants (IMPERSONATION# keys); the sign-in
    // function queries only the sessions of a provider session (IDPSID# keys).
    for (function, action, keys) in [
        ("EventsFunction", "dynamodb:PutItem", "USER#*"),
        ("ManageFunction", "dynamodb:Query", "USER#*"),
        ("AdminFunction", "dynamodb:Query", "USER#*"),
        ("AdminFunction", "dynamodb:PutItem", "IMPERSONATION#*"),
        ("CreateFunction", "dynamodb:Query", "IDPSID#*"),
    ] {
        let role = roles_by_arn[stack["functions"][function]["role"].as_str().unwrap()];
        let statements: Vec<&Value> = stack["roles"][role]["inline"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|d| d["Statement"].as_array().unwrap())
            .filter(|s| s["Action"] == json!([action]) && s["Resource"] == table)
            .collect();
        assert_eq!(statements.len(), 1, "{function}");
        assert_eq!(
            statements[0]["Condition"],
            json!({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [keys]}}),
            "{function} {action}"
        );
    }
}

fn mapping_from<'a>(stack: &'a Value, source_arn: &str) -> &'a Value {
    stack["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["EventSourceArn"] == source_arn)
        .unwrap_or_else(|| panic!("no event source mapping from {source_arn}"))
}

#[test]
fn the_stream_and_the_webhook_queue_reach_their_functions_with_failure_destinations() {
    let stack = &*FULL;
    let template = session_tests::template::template();
    let stream = mapping_from(stack, stack["table"]["StreamArn"].as_str().unwrap());
    assert_eq!(
        stream["FunctionArn"],
        stack["functions"]["EventsFunction"]["arn"]
    );
    assert_eq!(
        stream["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(stream["BisectBatchOnFunctionError"], true);
    assert_eq!(
        stream["DestinationConfig"]["OnFailure"]["Destination"],
        queue_arn(stack, "EventsFailureQueue")
    );
    assert_eq!(
        stream["MaximumRetryAttempts"].to_string(),
        template["Parameters"]["EventsMaximumRetryAttempts"]["Default"].to_string()
    );
    let pattern: Value = serde_json::from_str(
        stream["FilterCriteria"]["Filters"][0]["Pattern"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        pattern,
        json!({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "TOKEN#"}]}}}})
    );

    let webhooks = mapping_from(stack, &queue_arn(stack, "WebhookQueue"));
    assert_eq!(
        webhooks["FunctionArn"],
        stack["functions"]["WebhooksFunction"]["arn"]
    );
    assert_eq!(
        webhooks["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    let queue = &stack["queues"]["WebhookQueue"]["attributes"];
    assert_eq!(queue["FifoQueue"], "true");
    assert_eq!(queue["VisibilityTimeout"], VISIBILITY_TIMEOUT.to_string());
    let redrive: Value = serde_json::from_str(queue["RedrivePolicy"].as_str().unwrap()).unwrap();
    assert_eq!(
        redrive["deadLetterTargetArn"],
        queue_arn(stack, "WebhookFailureQueue")
    );
    assert_eq!(
        redrive["maxReceiveCount"].to_string(),
        MAX_RECEIVE_COUNT.to_string()
    );
    assert_eq!(
        stack["queues"]["WebhookFailureQueue"]["attributes"]["FifoQueue"],
        "true"
    );
}

#[test]
fn each_function_logs_to_its_own_group_with_the_retention() {
    let stack = &*FULL;
    let retention =
        &session_tests::template::template()["Parameters"]["LogRetentionDays"]["Default"];
    let groups = stack["log_groups"].as_object().unwrap();
    for id in stack["functions"].as_object().unwrap().keys() {
        let group = &groups[&format!("{id}Logs")];
        assert_eq!(&group["retention"], retention, "{id}");
        assert_eq!(
            transformed(stack, id)["Properties"]["LoggingConfig"]["LogGroup"],
            json!({"Ref": format!("{id}Logs")}),
            "{id} writes to its own group"
        );
    }
    assert_eq!(stack["dashboards"], json!(["Full-sessions"]));
}

#[test]
fn the_api_and_the_alarms_the_emulator_lacks_are_in_the_transformed_template() {
    let stack = &*FULL;
    let api = &transformed(stack, "HttpApi")["Properties"]["Body"];
    let authorizers = &api["components"]["securitySchemes"];
    // Both authorizers invoke the authorizer function; only the cached one has identity sources.
    let session = &authorizers["SessionAuthorizer"]["x-amazon-apigateway-authorizer"];
    assert!(session.get("identitySource").is_none());
    let cached = &authorizers["CachedSessionAuthorizer"]["x-amazon-apigateway-authorizer"];
    assert_eq!(cached["identitySource"], json!(["$request.header.Cookie"]));
    assert_eq!(
        cached["authorizerResultTtlInSeconds"],
        json!({"Ref": "AuthorizerCacheTtl"})
    );
    // The example route is behind the session authorizer.
    let whoami = &api["paths"]["/example/whoami"]["get"];
    assert_eq!(whoami["security"], json!([{"SessionAuthorizer": []}]));
    let alarms = stack["transformed"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .count();
    assert_eq!(alarms, 9);
}
