//! The template's wiring is the one tested (issue 32): every function of `template.yaml` that the
//! stack would create runs as its built `bootstrap` under a Lambda Runtime API, with exactly the
//! environment the template gives it (parameters at their defaults but for those a deployer sets,
//! resources standing for what the test made, only the endpoints pointed at the local stack:
//! DynamoDB Local, moto's Secrets Manager). Requests are routed as the template's HTTP API routes
//! them: route to function, the session authorizer in front of the routes that name it, IAM-only
//! routes refused unsigned, everything else to the `$default` route. Through that: sign-in,
//! validate, refresh, a token for another service and its key set, the device list, a
//! protected route, sign-out, and the table's stream
//! delivered to `session-events`.
//!
//! A function missing a variable (it fails its start), a route sent to the wrong function (it
//! answers 404) or a protected route without its authorizer (the signed-out request gets the
//! function's answer instead of the authorizer's 403) fails this test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use session_tests::runtime_api::{RuntimeApi, lambda_command};
use session_tests::template::Stack;
use session_tests::{
    ALLOWED_ORIGIN, AUDIENCE, AuthorizerEvent, Event, ISSUER, Payload, SECRET, TestTable, ticket,
};
use tokio::process::Child;

/// One function of the stack, running.
struct Function {
    binary: String,
    api: RuntimeApi,
    _child: Child,
}

/// One route of the HTTP API: `(method, path)` or `$default`, its function, its authorizer.
struct Route {
    method: Option<String>,
    path: Option<String>,
    function: String,
    authorizer: Option<String>,
}

struct Deployed {
    functions: BTreeMap<String, Function>,
    routes: Vec<Route>,
}

/// The debug build of `binary` (make test builds every function first).
fn built(binary: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(binary);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (make test does)",
        path.display()
    );
    path
}

async fn secret_arn() -> String {
    let lookup = |name: &str| std::env::var(name).ok();
    let env = session_shared::store::AwsEnvironment::of(&lookup, "SECRETS_MANAGER");
    let mut config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .http_client(session_shared::store::https_client())
        .region(env.region.map(aws_sdk_secretsmanager::config::Region::new));
    config.set_credentials_provider(
        env.credentials
            .map(aws_sdk_secretsmanager::config::SharedCredentialsProvider::new),
    );
    config.set_endpoint_url(Some(
        env.endpoint
            .expect("AWS_ENDPOINT_URL_SECRETS_MANAGER (moto): make test sets it"),
    ));
    let client = aws_sdk_secretsmanager::Client::from_conf(config.build());
    let name = format!(
        "wiring-ticket-key-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    client
        .create_secret()
        .name(name)
        .secret_string(SECRET)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

/// The stack as deployed with the parameters a deployer sets for login tickets and a frontend.
async fn deploy(table: &TestTable) -> Deployed {
    let arn = secret_arn().await;
    let token_key = session_tests::tokens::signing_key().await;
    let stack = Stack::new(
        &[
            ("AuthJwtHs256SecretArn", &arn),
            ("AuthJwtIssuer", ISSUER),
            ("AuthJwtAudience", AUDIENCE),
            ("SessionAllowedOrigins", ALLOWED_ORIGIN),
            ("SessionTokenAudiences", r#"{"orders": {}}"#),
        ],
        &[
            ("SessionsTable", table.name.clone()),
            ("TokenSigningKey.Arn", token_key),
        ],
    );
    let template = stack.template().clone();
    let globals = stack
        .resolve(&template["Globals"]["Function"]["Environment"]["Variables"])
        .unwrap();
    let mut functions = BTreeMap::new();
    let mut routes = Vec::new();
    for (id, resource) in template["Resources"].as_object().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        if let Some(condition) = resource["Condition"].as_str()
            && !stack.condition(condition)
        {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_owned();
        let own = stack
            .resolve(&resource["Properties"]["Environment"]["Variables"])
            .unwrap_or(Value::Null);
        let mut environment: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in globals
            .as_object()
            .unwrap()
            .iter()
            .chain(own.as_object().into_iter().flatten())
        {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            environment.insert(name.clone(), value);
        }
        functions.insert(id.clone(), start(id, &binary, &environment).await);
        for event in resource["Properties"]["Events"]
            .as_object()
            .into_iter()
            .flat_map(|events| events.values())
        {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let properties = &event["Properties"];
            routes.push(Route {
                method: properties["Method"].as_str().map(str::to_owned),
                path: properties["Path"].as_str().map(str::to_owned),
                function: id.clone(),
                authorizer: properties["Auth"]["Authorizer"].as_str().map(str::to_owned),
            });
        }
    }
    Deployed { functions, routes }
}

/// Starts the function `id` (`binary`) with `environment` (the template's) and what Lambda
/// itself sets; only the endpoints point at the local stack.
async fn start(id: &str, binary: &str, environment: &BTreeMap<String, String>) -> Function {
    let mut api = RuntimeApi::start().await;
    let mut command = lambda_command(
        &built(binary),
        &format!("wiring-{id}"),
        &api,
        &["DYNAMODB", "SECRETS_MANAGER", "KMS"],
    );
    command.envs(environment);
    let child = command.spawn().unwrap();
    api.ready().await.unwrap_or_else(|e| {
        panic!("{id} ({binary}) did not start with the template's environment: {e}")
    });
    Function {
        binary: binary.to_owned(),
        api,
        _child: child,
    }
}

/// What the HTTP API answered.
#[derive(Debug)]
struct Answer {
    status: u64,
    body: Value,
    cookies: Vec<String>,
    function: Option<String>,
}

impl Answer {
    fn cookie(&self) -> String {
        self.cookies
            .iter()
            .find_map(|c| c.strip_prefix("__Host-session="))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_owned()
    }
}

fn matches(template: &str, path: &str) -> bool {
    let (template, path): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}')) || t == p)
}

impl Deployed {
    /// Sends `event` (method and path from it) through the HTTP API.
    async fn send(&self, method: &str, path: &str, event: Event, cookie: Option<&str>) -> Answer {
        let route = self
            .routes
            .iter()
            .find(|r| {
                r.method.as_deref() == Some(method)
                    && r.path.as_deref().is_some_and(|p| matches(p, path))
            })
            .or_else(|| self.routes.iter().find(|r| r.path.is_none()))
            .expect("a route or $default");
        let route_key = match (&route.method, &route.path) {
            (Some(m), Some(p)) => format!("{m} {p}"),
            _ => "$default".to_owned(),
        };
        let mut event = event.to_json();
        event["routeKey"] = json!(route_key);
        match route.authorizer.as_deref() {
            Some("AWS_IAM") => {
                // Unsigned: API Gateway refuses before any function runs.
                return Answer {
                    status: 403,
                    body: json!({"message": "Forbidden"}),
                    cookies: Vec::new(),
                    function: None,
                };
            }
            Some(authorizer) => {
                let id = self.authorizer_function(authorizer);
                let mut request = AuthorizerEvent::new().route(&route_key);
                if let Some(cookie) = cookie {
                    request = request.session_cookie(cookie);
                }
                let verdict = self.functions[&id]
                    .api
                    .invoke(request.to_json())
                    .await
                    .unwrap();
                if verdict["isAuthorized"] != true {
                    return Answer {
                        status: 403,
                        body: json!({"message": "Forbidden"}),
                        cookies: Vec::new(),
                        function: Some(self.functions[&id].binary.clone()),
                    };
                }
                event["requestContext"]["authorizer"] = json!({"lambda": verdict["context"]});
            }
            None => {}
        }
        let function = &self.functions[&route.function];
        let answer = function.api.invoke(event).await.unwrap();
        Answer {
            status: answer["statusCode"].as_u64().unwrap(),
            body: answer["body"]
                .as_str()
                .and_then(|b| serde_json::from_str(b).ok())
                .unwrap_or(Value::Null),
            cookies: answer["cookies"]
                .as_array()
                .map(|c| c.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default(),
            function: Some(function.binary.clone()),
        }
    }

    /// The function of the HTTP API's authorizer `name`.
    fn authorizer_function(&self, name: &str) -> String {
        let template = session_tests::template::template();
        let arn = &template["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"][name]["FunctionArn"]
            ["!GetAtt"];
        arn.as_str().unwrap().trim_end_matches(".Arn").to_owned()
    }
}

fn request(method: &str, path: &str) -> Event {
    Event::new(Payload::V2, method, path)
}

impl Deployed {
    /// `method path` from a page of the allowed origin, with the session `cookie` if any.
    async fn call(&self, method: &str, path: &str, cookie: Option<&str>) -> Answer {
        let mut event = request(method, path)
            .without_header("origin")
            .header("origin", ALLOWED_ORIGIN);
        if let Some(cookie) = cookie {
            event = event.session_cookie(cookie);
        }
        self.send(method, path, event, cookie).await
    }
}

#[tokio::test]
async fn the_foundation_flow_and_an_event_delivery_pass_through_the_template_wiring() {
    let table = TestTable::new().await;
    let stack = deploy(&table).await;
    assert!(
        !stack.functions.contains_key("WebhooksFunction"),
        "no webhook URL: no webhook sender"
    );

    let signed_in = stack
        .send(
            "POST",
            "/sessions",
            request("POST", "/sessions").bearer(&ticket("wired", None)),
            None,
        )
        .await;
    assert_eq!(signed_in.status, 201, "{signed_in:?}");
    assert_eq!(signed_in.function.as_deref(), Some("session-create"));
    let cookie = signed_in.cookie();

    let current = stack.call("GET", "/sessions/current", Some(&cookie)).await;
    assert_eq!(current.status, 200, "{current:?}");
    assert_eq!(current.body["user_id"], "wired");
    assert_eq!(current.function.as_deref(), Some("session-validate"));

    let refreshed = stack
        .call("POST", "/sessions/current/refresh", Some(&cookie))
        .await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    assert_eq!(refreshed.function.as_deref(), Some("session-refresh"));
    let cookie = refreshed.cookie();

    // A token for another service, and the keys that verify it.
    let minted = stack
        .call("POST", "/sessions/current/token", Some(&cookie))
        .await;
    assert_eq!(minted.status, 200, "{minted:?}");
    assert_eq!(minted.function.as_deref(), Some("session-token"));
    let keys = stack.call("GET", "/.well-known/jwks.json", None).await;
    assert_eq!(keys.status, 200, "{keys:?}");
    assert_eq!(keys.function.as_deref(), Some("session-token"));
    assert_eq!(keys.body["keys"].as_array().unwrap().len(), 1);

    let devices = stack.call("GET", "/sessions", Some(&cookie)).await;
    assert_eq!(devices.status, 200, "{devices:?}");
    assert_eq!(devices.body["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(devices.function.as_deref(), Some("session-manage"));

    // The protected example route: through the session authorizer, or refused by it.
    let protected = stack.call("GET", "/example/whoami", Some(&cookie)).await;
    assert_eq!(protected.status, 200, "{protected:?}");
    assert_eq!(protected.function.as_deref(), Some("session-echo"));
    assert!(
        protected.body.to_string().contains("wired"),
        "{protected:?}"
    );
    let stranger = stack.call("GET", "/example/whoami", None).await;
    assert_eq!(
        (stranger.status, stranger.function.as_deref()),
        (403, Some("session-authorizer")),
        "{stranger:?}"
    );
    // IAM-only routes are not reachable unsigned; unknown routes reach the $default route.
    let admin = stack
        .call("DELETE", "/admin/users/wired/sessions", None)
        .await;
    assert_eq!(admin.status, 403);
    let unknown = stack.call("GET", "/nowhere", None).await;
    assert_eq!(
        (unknown.status, unknown.function.as_deref()),
        (404, Some("session-validate"))
    );

    let signed_out = stack
        .call("DELETE", "/sessions/current", Some(&cookie))
        .await;
    assert_eq!(signed_out.status, 204, "{signed_out:?}");
    assert_eq!(signed_out.function.as_deref(), Some("session-logout"));
    let after = stack.call("GET", "/sessions/current", Some(&cookie)).await;
    assert_eq!(after.status, 401);

    // The table's stream, delivered to session-events as deployed: its audit trail is on by
    // the template's default retention.
    let mut reader =
        dev_tools::stream::StreamReader::open(dev_tools::stream::client_from_env(), &table.name)
            .await
            .unwrap();
    let records = reader.poll().await.unwrap();
    let events = &stack.functions["EventsFunction"];
    let delivered = dev_tools::pump::deliver(
        records,
        dev_tools::pump::Retries {
            maximum_retry_attempts: 0,
            backoff: Duration::ZERO,
        },
        |event| async move {
            match events.api.invoke(event).await {
                Ok(answer) => dev_tools::pump::Invoked::Handled(
                    answer["batchItemFailures"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                        .collect(),
                ),
                Err(error) => dev_tools::pump::Invoked::FunctionError(error),
            }
        },
    )
    .await;
    assert!(delivered.failed.is_empty(), "{:?}", delivered.failed);
    let trail: Vec<String> = table
        .items()
        .await
        .into_iter()
        .filter(|i| i["sk"].as_s().is_ok_and(|sk| sk.starts_with("EVENT#")))
        .map(|i| {
            serde_json::from_str::<Value>(i["detail"].as_s().unwrap()).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for kind in ["session.created", "session.rotated", "session.revoked"] {
        assert!(trail.iter().any(|t| t == kind), "{kind} in {trail:?}");
    }
    table.drop_table().await;
}
