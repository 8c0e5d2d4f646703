//! `make replay-webhooks`: see `dev_tools::replay`. AWS credentials and region come from the
//! standard chain (environment, profiles, SSO), as the AWS CLI finds them;
//! `AWS_ENDPOINT_URL_SQS` points at a local SQS.

use std::process::ExitCode;

use dev_tools::replay::{Args, run};

#[tokio::main]
async fn main() -> ExitCode {
    session_shared::telemetry::init();
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("webhook-replay: {e}");
            return ExitCode::from(2);
        }
    };
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(session_shared::store::https_client())
        .load()
        .await;
    // The secret by its ARN, read with the same credentials as the queue.
    let mut secret = std::env::var("SESSION_WEBHOOK_SECRET").ok();
    if let Ok(arn) = std::env::var("SESSION_WEBHOOK_SECRET_ARN")
        && !arn.is_empty()
    {
        let fetched = aws_sdk_secretsmanager::Client::new(&shared)
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await;
        match fetched {
            Ok(value) => secret = value.secret_string().map(str::to_owned),
            Err(e) => {
                eprintln!(
                    "webhook-replay: SESSION_WEBHOOK_SECRET_ARN: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let lookup = |name: &str| match name {
        "SESSION_WEBHOOK_SECRET" => secret.clone(),
        "SESSION_WEBHOOK_SECRET_ARN" => None,
        _ => std::env::var(name).ok(),
    };
    let client = aws_sdk_sqs::Client::new(&shared);
    match run(args, lookup, &client).await {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("webhook-replay: {e}");
            ExitCode::FAILURE
        }
    }
}
