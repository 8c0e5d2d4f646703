//! Creates the webhook delivery queue and its failure queue (`<name>.fifo`,
//! `<name>-failed.fifo`; name from the first argument, `session-webhooks` by default) on the
//! SQS the environment points at (`AWS_ENDPOINT_URL_SQS`: moto), as the template declares them,
//! and prints their URLs as shell exports: `eval "$(create-queues)"`.

use std::process::ExitCode;

use dev_tools::queue::{client_from_env, create_webhook_queues};

#[tokio::main]
async fn main() -> ExitCode {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "session-webhooks".to_owned());
    match create_webhook_queues(&client_from_env(), &name).await {
        Ok((queue, failed)) => {
            println!("export SESSION_WEBHOOK_QUEUE_URL='{queue}'");
            println!("export SESSION_WEBHOOK_FAILURE_QUEUE_URL='{failed}'");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("create-queues: {e}");
            ExitCode::FAILURE
        }
    }
}
