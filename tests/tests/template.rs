//! `template.yaml` agrees with the code: the table equals `infra/table.json`, every setting the
//! code reads is set (and only those), and every API route reaches the function that serves it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use lambda_http::http::Method;
use lambda_http::{Body, Request};
use session_shared::config::SETTINGS;
use session_shared::http::Route;
use session_shared::store::TableDefinition;
use session_tests::template::template;

/// `value` with every `!If [condition, then, else]` taken as the template's parameters by
/// default take it, and `!Ref AWS::NoValue` list entries dropped.
fn with_default_conditions(
    value: &serde_json::Value,
    template: &serde_json::Value,
) -> serde_json::Value {
    use serde_json::Value as J;
    let no_value = serde_json::json!({"!Ref": "AWS::NoValue"});
    match value {
        J::Object(map) if map.len() == 1 && map.contains_key("!If") => {
            let branches = map["!If"].as_array().unwrap();
            let condition = branches[0].as_str().unwrap();
            // The one condition in the table: `LegacyUserIndex` defaults to `drop`.
            assert_eq!(condition, "KeepsLegacyUserIndex");
            assert_eq!(template["Parameters"]["LegacyUserIndex"]["Default"], "drop");
            with_default_conditions(&branches[2], template)
        }
        J::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), with_default_conditions(v, template)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        J::Array(items) => items
            .iter()
            .map(|v| with_default_conditions(v, template))
            .filter(|v| *v != no_value)
            .collect(),
        other => other.clone(),
    }
}

#[test]
fn the_template_table_is_the_local_table_definition() {
    let template = template();
    let properties = with_default_conditions(
        &template["Resources"]["SessionsTable"]["Properties"],
        &template,
    );
    let local = serde_json::to_value(TableDefinition::load().unwrap()).unwrap();

    for (key, expected) in local.as_object().unwrap() {
        assert_eq!(
            &properties[key], expected,
            "SessionsTable.{key} differs from infra/table.json"
        );
    }
}

/// The environment variables the template gives: `Globals` (every function), and the own
/// variables of `CreateFunction` (the one that verifies identity tokens), `EventsFunction`
/// (the one that publishes lifecycle events), `WebhooksFunction` (the one that sends
/// webhooks) and `TokenFunction` (the one that mints session tokens for other services),
/// together.
fn template_variables(
    template: &serde_json::Value,
) -> (
    &serde_json::Map<String, serde_json::Value>,
    serde_json::Map<String, serde_json::Value>,
) {
    let globals = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_object()
        .unwrap();
    let own = [
        "CreateFunction",
        "EventsFunction",
        "WebhooksFunction",
        "TokenFunction",
    ]
    .iter()
    .flat_map(|function| {
        template["Resources"][*function]["Properties"]["Environment"]["Variables"]
            .as_object()
            .unwrap()
            .clone()
    })
    .collect();
    (globals, own)
}

/// The own variables of one function of the template.
fn own_variables<'a>(template: &'a serde_json::Value, function: &str) -> BTreeSet<&'a str> {
    template["Resources"][function]["Properties"]["Environment"]["Variables"]
        .as_object()
        .map(|vars| vars.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn the_template_sets_exactly_the_settings_the_code_reads() {
    let template = template();
    let (globals, create) = template_variables(&template);
    let in_template: BTreeSet<&str> = globals
        .keys()
        .chain(create.keys())
        .map(String::as_str)
        .collect();
    let in_code: BTreeSet<&str> = SETTINGS
        .iter()
        .map(|s| s.name)
        .filter(|name| !session_shared::config::LOCAL_ONLY.contains(name))
        .collect();
    assert_eq!(in_template, in_code);
    assert!(
        !in_template.contains("AUTH_JWT_HS256_SECRET"),
        "the plain secret is for local runs: the template reads it from Secrets Manager"
    );
}

#[test]
fn only_the_sign_in_function_gets_the_identity_settings() {
    let template = template();
    let (globals, _) = template_variables(&template);
    let identity: BTreeSet<&str> = SETTINGS
        .iter()
        .filter(|s| s.is_identity())
        .map(|s| s.name)
        .filter(|name| !session_shared::config::LOCAL_ONLY.contains(name))
        .collect();
    assert!(identity.contains("AUTH_JWT_HS256_SECRET_ARN"));
    assert_eq!(
        own_variables(&template, "CreateFunction"),
        identity,
        "CreateFunction's own variables"
    );
    for name in globals.keys() {
        assert!(
            !identity.contains(name.as_str()),
            "{name} is given to every function"
        );
    }
    for (name, resource) in template["Resources"].as_object().unwrap() {
        if name == "CreateFunction" || resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let own = &resource["Properties"]["Environment"]["Variables"];
        assert!(
            own.as_object()
                .is_none_or(|vars| vars.keys().all(|k| !k.starts_with("AUTH_"))),
            "{name} gets identity settings"
        );
    }
}

#[test]
fn only_the_events_function_gets_the_event_settings() {
    let template = template();
    let events: BTreeSet<&str> = SETTINGS
        .iter()
        .filter(|s| s.is_events())
        .map(|s| s.name)
        .filter(|name| !session_shared::config::LOCAL_ONLY.contains(name))
        .collect();
    assert!(events.contains("SESSION_WEBHOOK_SECRET_ARN"));
    let publisher = own_variables(&template, "EventsFunction");
    let sender = own_variables(&template, "WebhooksFunction");
    assert_eq!(&publisher | &sender, events);
    // session-events queues webhooks and never signs them; session-webhooks derives nothing.
    assert!(!publisher.contains("SESSION_WEBHOOK_SECRET_ARN"));
    assert!(!sender.contains("SESSION_EVENT_BUS") && !sender.contains("SESSION_WEBHOOK_URL"));
    let (globals, _) = template_variables(&template);
    assert!(globals.keys().all(|k| !events.contains(k.as_str())));
}

#[test]
fn only_the_token_function_gets_the_token_settings_and_the_signing_key() {
    let template = template();
    let tokens: BTreeSet<&str> = SETTINGS
        .iter()
        .filter(|s| s.is_tokens())
        .map(|s| s.name)
        .collect();
    assert_eq!(
        tokens,
        BTreeSet::from(["SESSION_TOKEN_AUDIENCES", "SESSION_TOKEN_KEYS"])
    );
    assert_eq!(own_variables(&template, "TokenFunction"), tokens);
    let (globals, _) = template_variables(&template);
    assert!(globals.keys().all(|k| !tokens.contains(k.as_str())));
    let key = &template["Resources"]["TokenSigningKey"]["Properties"];
    assert_eq!(
        (key["KeySpec"].as_str(), key["KeyUsage"].as_str()),
        (Some("ECC_NIST_P256"), Some("SIGN_VERIFY"))
    );
    // KMS actions: the token function alone, signing and reading public keys only, on the
    // token keys only.
    for (name, resource) in template["Resources"].as_object().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let policies = resource["Properties"]["Policies"].to_string();
        if name == "TokenFunction" {
            let statement = &resource["Properties"]["Policies"][0]["Statement"][1];
            assert_eq!(
                statement["Action"],
                serde_json::json!(["kms:Sign", "kms:GetPublicKey"])
            );
            assert!(
                statement["Resource"]
                    .to_string()
                    .contains("TokenSigningKey"),
                "{statement}"
            );
        } else {
            assert!(!policies.contains("kms:"), "{name} may use KMS");
        }
    }
}

#[test]
fn the_stream_reaches_the_events_function_with_partial_failures_and_a_failure_queue() {
    let template = template();
    let mapping = &template["Resources"]["EventsStreamMapping"]["Properties"];
    assert_eq!(
        mapping["EventSourceArn"],
        serde_json::json!({"!GetAtt": "SessionsTable.StreamArn"})
    );
    assert_eq!(
        mapping["FunctionName"],
        serde_json::json!({"!Ref": "EventsFunction"})
    );
    assert_eq!(
        mapping["FunctionResponseTypes"],
        serde_json::json!(["ReportBatchItemFailures"])
    );
    assert_eq!(mapping["BisectBatchOnFunctionError"], true);
    assert_eq!(
        mapping["DestinationConfig"]["OnFailure"]["Destination"],
        serde_json::json!({"!GetAtt": "EventsFailureQueue.Arn"})
    );
    assert!(
        mapping["MaximumRetryAttempts"].is_object(),
        "bounded, by a parameter"
    );
    // Token items only: the audit items it writes itself never invoke it again.
    let pattern: serde_json::Value = serde_json::from_str(
        mapping["FilterCriteria"]["Filters"][0]["Pattern"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        pattern,
        serde_json::json!({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "TOKEN#"}]}}}})
    );
    let table = &template["Resources"]["SessionsTable"]["Properties"];
    assert_eq!(
        table["StreamSpecification"]["StreamViewType"],
        "NEW_AND_OLD_IMAGES"
    );
    // Least privilege: the stream, the queue, and the table only to file audit items under
    // USER# keys.
    let statements =
        &template["Resources"]["EventsFunction"]["Properties"]["Policies"][0]["Statement"];
    let resources: Vec<&serde_json::Value> = statements
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["Resource"])
        .collect();
    assert_eq!(
        resources,
        [
            &serde_json::json!({"!GetAtt": "SessionsTable.StreamArn"}),
            &serde_json::json!({"!GetAtt": "EventsFailureQueue.Arn"}),
            &serde_json::json!({"!GetAtt": "SessionsTable.Arn"})
        ]
    );
    let audit = &statements[2];
    assert_eq!(audit["Action"], serde_json::json!(["dynamodb:PutItem"]));
    assert_eq!(
        audit["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
        serde_json::json!(["USER#*"])
    );
}

#[test]
fn webhooks_go_through_a_fifo_queue_with_a_failure_queue_an_alarm_and_least_privilege() {
    use session_shared::events::queue::{MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT};
    let template = template();
    let resource = |name: &str| &template["Resources"][name];
    let queue = &resource("WebhookQueue")["Properties"];
    let failed = &resource("WebhookFailureQueue")["Properties"];
    assert_eq!(
        (&queue["FifoQueue"], &failed["FifoQueue"]),
        (&true.into(), &true.into())
    );
    assert_eq!(queue["VisibilityTimeout"], VISIBILITY_TIMEOUT);
    assert_eq!(
        queue["VisibilityTimeout"].as_u64().unwrap(),
        6 * resource("WebhooksFunction")["Properties"]["Timeout"]
            .as_u64()
            .unwrap(),
        "six times the function's timeout"
    );
    assert_eq!(queue["RedrivePolicy"]["maxReceiveCount"], MAX_RECEIVE_COUNT);
    assert_eq!(
        queue["RedrivePolicy"]["deadLetterTargetArn"],
        serde_json::json!({"!GetAtt": "WebhookFailureQueue.Arn"})
    );
    let mapping = &resource("WebhooksQueueMapping")["Properties"];
    assert_eq!(
        mapping["EventSourceArn"],
        serde_json::json!({"!GetAtt": "WebhookQueue.Arn"})
    );
    assert_eq!(
        mapping["FunctionName"],
        serde_json::json!({"!Ref": "WebhooksFunction"})
    );
    assert_eq!(
        mapping["FunctionResponseTypes"],
        serde_json::json!(["ReportBatchItemFailures"])
    );
    let alarm = &resource("WebhooksFailedAlarm")["Properties"];
    assert_eq!(
        alarm["Dimensions"][0]["Value"],
        serde_json::json!({"!GetAtt": "WebhookFailureQueue.QueueName"})
    );
    // Each part exists only with a webhook URL (no idle polling otherwise).
    for name in [
        "WebhookQueue",
        "WebhookFailureQueue",
        "WebhooksFunction",
        "WebhooksQueueMapping",
        "WebhooksFunctionLogs",
        "WebhooksFailedAlarm",
    ] {
        assert_eq!(resource(name)["Condition"], "HasWebhook", "{name}");
    }
    // The sender: that queue, the failure queue to send to, the secret; nothing else.
    let statements = &resource("WebhooksFunction")["Properties"]["Policies"][0]["Statement"];
    let grants: Vec<(String, String)> = statements
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["Action"].to_string(), s["Resource"].to_string()))
        .collect();
    assert_eq!(
        grants,
        [
            (
                r#"["sqs:ReceiveMessage","sqs:DeleteMessage","sqs:GetQueueAttributes","sqs:ChangeMessageVisibility"]"#.to_owned(),
                r#"{"!GetAtt":"WebhookQueue.Arn"}"#.to_owned()
            ),
            (r#"["sqs:SendMessage"]"#.to_owned(), r#"{"!GetAtt":"WebhookFailureQueue.Arn"}"#.to_owned()),
            (r#"["secretsmanager:GetSecretValue"]"#.to_owned(), r#"{"!Ref":"SessionWebhookSecretArn"}"#.to_owned()),
        ]
    );
    // The default schedule retries for at least a day.
    let schedule: session_shared::events::RetrySchedule =
        template["Parameters"]["SessionWebhookRetrySchedule"]["Default"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
    assert!(schedule.horizon() >= std::time::Duration::from_secs(24 * 3600));
}

#[test]
fn every_parameter_default_matches_the_code_default() {
    let template = template();
    let (globals, create) = template_variables(&template);
    let deployed = SETTINGS
        .iter()
        .filter(|s| !session_shared::config::LOCAL_ONLY.contains(&s.name));
    for setting in deployed {
        let variable = globals
            .get(setting.name)
            .or(create.get(setting.name))
            .unwrap();
        let Some(parameter) = variable["!Ref"].as_str() else {
            continue; // set from a resource, e.g. the table name
        };
        if template["Resources"][parameter].is_object() {
            continue; // a resource reference (the table name), not a parameter
        }
        let declared = &template["Parameters"][parameter];
        assert!(
            declared.is_object(),
            "{} refers to missing parameter {parameter}",
            setting.name
        );
        let default = match &declared["Default"] {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) if s.is_empty() => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        assert_eq!(
            default.as_deref(),
            setting.default,
            "default of {parameter} ({})",
            setting.name
        );
    }
}

/// The example route behind the session authorizer: not part of the session contract.
const EXAMPLE_ROUTE: (&str, &str) = ("/example/whoami", "session-echo");

/// Every route of the session API (`Route::ALL`): the template serves these (and the example
/// route), and docs/openapi.yaml documents exactly these.
fn contract_routes() -> impl Iterator<Item = &'static str> {
    Route::ALL.into_iter().map(Route::key)
}

/// `/sessions/{session_id}` → `/sessions/x1`: a concrete path for a route pattern.
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') && !segment.starts_with("{*") {
                "x1"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn route_of(method: &str, path: &str) -> Result<Route, String> {
    let path = concrete(path);
    let mut request = Request::new(Body::Empty);
    *request.method_mut() = Method::from_bytes(method.as_bytes()).unwrap();
    *request.uri_mut() = path.parse().unwrap();
    Route::of(&request).map_err(|e| e.code().to_owned())
}

#[test]
fn every_template_route_reaches_the_function_that_serves_it() {
    let template = template();
    let mut seen = BTreeSet::new();
    for (name, resource) in template["Resources"].as_object().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        // The authorizer has no route of its own; session-events is fed by the stream,
        // session-webhooks by the webhook queue.
        let Some(events) = resource["Properties"]["Events"].as_object() else {
            assert!(
                ["session-authorizer", "session-events", "session-webhooks"].contains(&binary),
                "{name} has no events"
            );
            continue;
        };
        for event in events.values() {
            let (Some(method), Some(path)) = (
                event["Properties"]["Method"].as_str(),
                event["Properties"]["Path"].as_str(),
            ) else {
                assert_eq!(
                    binary, "session-validate",
                    "{name}: only validate takes $default"
                );
                continue;
            };
            seen.insert(format!("{method} {path}"));
            if (path, binary) == EXAMPLE_ROUTE {
                continue;
            }
            let route = route_of(method, path).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            assert_eq!(route.function(), binary, "{method} {path} goes to {name}");
        }
    }
    let expected: BTreeSet<String> = contract_routes()
        .chain(["GET /example/whoami"])
        .map(str::to_owned)
        .collect();
    assert_eq!(seen, expected);
}

/// `(path pattern, method, function)` for every entry of the local cargo-lambda router,
/// `[workspace.metadata.lambda.watch.router]` in the root manifest.
fn local_router() -> Vec<(String, String, String)> {
    let manifest: toml::Table = include_str!("../../Cargo.toml").parse().unwrap();
    let router = &manifest["workspace"]["metadata"]["lambda"]["watch"]["router"];
    let mut routes = Vec::new();
    for (path, target) in router.as_table().expect("router table") {
        match target {
            // One function for every method.
            toml::Value::String(function) => {
                for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                    routes.push((path.clone(), method.to_owned(), function.clone()));
                }
            }
            toml::Value::Array(entries) => {
                for entry in entries {
                    routes.push((
                        path.clone(),
                        entry["method"].as_str().unwrap().to_owned(),
                        entry["function"].as_str().unwrap().to_owned(),
                    ));
                }
            }
            other => panic!("unexpected router entry for {path}: {other:?}"),
        }
    }
    routes
}

#[test]
fn the_local_router_sends_each_route_to_the_same_function_as_the_template() {
    let routes = local_router();
    assert!(routes.len() >= 4, "router parsed: {routes:?}");
    for (pattern, method, function) in routes {
        // The catch-all pattern stands for any other path.
        if (pattern.as_str(), function.as_str()) == EXAMPLE_ROUTE {
            continue;
        }
        let path = pattern.replace("{*path}", "some/other/path");
        match route_of(&method, &path) {
            Ok(route) => assert_eq!(route.function(), function, "{method} {path}"),
            // Not a contract route: must go to validate, which answers with a JSON 404/405.
            Err(_) => assert_eq!(function, "session-validate", "{method} {path}"),
        }
    }
}

fn openapi() -> serde_json::Value {
    let text = include_str!("../../docs/openapi.yaml");
    serde_norway::from_str(text).expect("docs/openapi.yaml is YAML")
}

#[test]
fn the_openapi_document_describes_exactly_the_routes_the_code_serves() {
    let doc = openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let method = method.to_ascii_uppercase();
            route_of(&method, path).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            documented.insert(format!("{method} {path}"));
        }
    }
    let expected: BTreeSet<String> = contract_routes().map(str::to_owned).collect();
    assert_eq!(documented, expected);
}

#[test]
fn the_openapi_error_codes_are_exactly_the_codes_the_code_answers_with() {
    let doc = openapi();
    let documented: BTreeSet<&str> =
        doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
    // Every constructor in error.rs names its status, then its code: `StatusCode::X, "code"`.
    let source = include_str!("../../shared/src/http/error.rs");
    let lines: Vec<&str> = source.lines().collect();
    let mut in_code: BTreeSet<String> = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(at) = line.find("StatusCode::") else {
            continue;
        };
        let rest = format!("{} {}", &line[at..], lines.get(i + 1).unwrap_or(&""));
        let literal = rest
            .split('"')
            .nth(1)
            .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'));
        if let Some(code) = literal {
            in_code.insert(code.to_owned());
        }
    }
    assert!(in_code.len() >= 15, "codes found in error.rs: {in_code:?}");
    let in_code: BTreeSet<&str> = in_code.iter().map(String::as_str).collect();
    assert_eq!(documented, in_code);
}

/// The statuses of the README's API table, per route: `METHOD path` → every 3-digit number in
/// its success and failure columns.
fn readme_api_table() -> Vec<(String, BTreeSet<u16>)> {
    let readme = include_str!("../../README.md");
    let table = readme
        .split("\n## API\n")
        .nth(1)
        .and_then(|rest| rest.trim_start().split("\n\n").next())
        .expect("README has an API table under ## API");
    table
        .lines()
        .skip(2)
        .filter_map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let route = cells.get(1)?.trim_matches('`');
            if route.starts_with("OPTIONS") {
                return None;
            }
            let statuses = cells[3..]
                .iter()
                .flat_map(|cell| cell.split(|c: char| !c.is_ascii_digit()))
                .filter(|n| n.len() == 3)
                .filter_map(|n| n.parse().ok())
                .collect();
            Some((route.to_owned(), statuses))
        })
        .collect()
}

/// The README's API table lists, for each route, exactly the statuses docs/openapi.yaml
/// documents for it, apart from the ones every route may answer (listed under the table's
/// errors: 431 for oversized headers, 500 and 503), so neither drifts from the other.
#[test]
fn the_readme_api_table_lists_the_documented_statuses_of_each_route() {
    const ANY_ROUTE: [u16; 3] = [431, 500, 503];
    let doc = openapi();
    let rows = readme_api_table();
    assert!(rows.len() >= 10, "{rows:?}");
    let mut drift = Vec::new();
    for (route, in_readme) in &rows {
        let (method, path) = route.split_once(' ').unwrap();
        let operation = &doc["paths"][path][method.to_ascii_lowercase()];
        assert!(
            operation.is_object(),
            "README route {route} is not in docs/openapi.yaml"
        );
        let documented: BTreeSet<u16> = operation["responses"]
            .as_object()
            .unwrap()
            .keys()
            .filter_map(|s| s.parse().ok())
            .filter(|s| !ANY_ROUTE.contains(s))
            .collect();
        let in_readme: BTreeSet<u16> = in_readme
            .iter()
            .copied()
            .filter(|s| !ANY_ROUTE.contains(s))
            .collect();
        if documented != in_readme {
            drift.push(format!(
                "{route}: README {in_readme:?}, docs/openapi.yaml {documented:?}"
            ));
        }
    }
    assert!(
        drift.is_empty(),
        "README API table vs openapi:\n{}",
        drift.join("\n")
    );
}

/// The login-ticket secret is readable by the sign-in function alone, the webhook secret by the
/// webhook sender alone, each only that secret.
#[test]
fn only_the_sign_in_function_may_read_the_ticket_secret() {
    let template = template();
    for (name, resource) in template["Resources"].as_object().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let policies = serde_json::to_string(&resource["Properties"]["Policies"]).unwrap();
        if name == "CreateFunction" {
            assert!(
                policies.contains("secretsmanager:GetSecretValue"),
                "{policies}"
            );
            assert!(policies.contains("AuthJwtHs256SecretArn"), "{policies}");
            assert_eq!(policies.matches("secretsmanager:").count(), 1, "{policies}");
        } else if name == "WebhooksFunction" {
            assert!(policies.contains("SessionWebhookSecretArn"), "{policies}");
            assert!(!policies.contains("AuthJwtHs256SecretArn"), "{policies}");
            assert_eq!(policies.matches("secretsmanager:").count(), 1, "{policies}");
        } else {
            assert!(
                !policies.contains("secretsmanager:"),
                "{name} may read secrets"
            );
        }
    }
}

/// The dashboard shows every metric the functions print, and nothing else of that namespace;
/// the alarms on them use the namespace the functions are given.
#[test]
fn the_dashboard_and_the_alarms_watch_the_metrics_the_functions_print() {
    use session_shared::metrics::Metric;
    let template = template();
    let namespace =
        &template["Globals"]["Function"]["Environment"]["Variables"]["SESSION_METRICS_NAMESPACE"];
    assert_eq!(
        namespace,
        &serde_json::json!({"!Sub": "SessionService/${AWS::StackName}"})
    );
    let body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["!Sub"]
        .as_str()
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(body).expect("the dashboard is JSON");
    let shown: BTreeSet<String> = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["properties"]["metrics"].as_array().unwrap().clone())
        .filter(|m| m[0] == namespace["!Sub"])
        .map(|m| m[1].as_str().unwrap().to_owned())
        .collect();
    let printed: BTreeSet<String> = Metric::ALL.iter().map(|m| m.name().to_owned()).collect();
    assert_eq!(shown, printed);
    for alarm in [
        "ReplaysDetectedAlarm",
        "WebhookAttemptsFailingAlarm",
        "EventsPublishingFailedAlarm",
    ] {
        let properties = &template["Resources"][alarm]["Properties"];
        assert_eq!(&properties["Namespace"], namespace, "{alarm}");
        assert!(
            printed.contains(properties["MetricName"].as_str().unwrap()),
            "{alarm}"
        );
        assert!(
            properties["AlarmActions"].is_object(),
            "{alarm}: behind the topic"
        );
    }
}
