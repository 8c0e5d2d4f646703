//! Logging set-up for every function: `lambda_http`'s default subscriber (level from
//! `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`), plus one rule
//! no log level can lift: the AWS SDK's wire-level logging stays at DEBUG at most. At TRACE the
//! SDK dumps whole DynamoDB responses, item keys (token hashes) and session data included.

use std::str::FromStr;

use lambda_http::tracing::Subscriber;
use lambda_http::tracing::subscriber::EnvFilter;
use lambda_http::tracing::subscriber::filter::LevelFilter;
use lambda_http::tracing::subscriber::fmt::MakeWriter;

/// Targets that log request / response bodies at TRACE, capped at DEBUG.
const WIRE_LEVEL_CAPS: &[&str] = &[
    "aws_smithy_runtime=debug",
    "aws_smithy_runtime_api=debug",
    "aws_smithy_http=debug",
    "aws_smithy_http_client=debug",
    "aws_sdk_dynamodb=debug",
    "hyper=info",
    "hyper_util=info",
    "rustls=info",
];

/// The filter for a level spec such as `INFO` or `info,session_shared=debug`.
pub fn filter(spec: &str) -> EnvFilter {
    let mut filter = match LevelFilter::from_str(spec.trim()) {
        Ok(level) => EnvFilter::builder()
            .with_default_directive(level.into())
            .parse_lossy(""),
        Err(_) => EnvFilter::builder()
            .with_default_directive(LevelFilter::INFO.into())
            .parse_lossy(spec),
    };
    for cap in WIRE_LEVEL_CAPS {
        if let Ok(directive) = cap.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// The subscriber every function installs, writing to `writer` (stdout in Lambda).
pub fn subscriber<W>(spec: &str, json: bool, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let builder = lambda_http::tracing::subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter(spec))
        .with_writer(writer);
    if json {
        Box::new(builder.json().finish())
    } else {
        Box::new(builder.finish())
    }
}

/// Installs [`subscriber`] globally from the Lambda environment. Call once, first thing in main.
pub fn init() {
    let spec = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "INFO".into());
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // Fails only if a subscriber is already installed, which then keeps logging.
    let _ = lambda_http::tracing::subscriber::util::SubscriberInitExt::try_init(subscriber(
        &spec,
        json,
        std::io::stdout,
    ));
}
