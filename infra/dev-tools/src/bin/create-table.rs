//! Creates the sessions table (`SESSION_TABLE_NAME`) from `infra/table.json` on the DynamoDB the
//! environment points at (`AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local). An existing table is
//! left as it is.

use std::process::ExitCode;

use session_shared::config::Config;
use session_shared::store::{TableDefinition, Ttl, client_from_env};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("create-table: {e}");
            return ExitCode::from(2);
        }
    };
    let definition = match TableDefinition::load() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("create-table: infra/table.json: {e}");
            return ExitCode::from(2);
        }
    };
    let client = client_from_env(&config.store_timeouts);
    match definition
        .create(&client, &config.table_name, Ttl::AsDefined)
        .await
    {
        Ok(()) => {
            println!("created table {}", config.table_name);
            ExitCode::SUCCESS
        }
        Err(e) if e.is_already_exists() => {
            println!("table {} already exists", config.table_name);
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("create-table: {message}");
            ExitCode::FAILURE
        }
    }
}
