//! Logging set-up for every function: `lambda_http`'s default subscriber (level from
//! `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`), plus one rule
//! no log level can lift: the AWS SDK's wire-level logging stays at DEBUG at most. At TRACE the
//! SDK dumps whole DynamoDB responses, item keys (token hashes) and session data included.

use std::str::FromStr;

use lambda_http::tracing::subscriber::EnvFilter;
use lambda_http::tracing::subscriber::filter::{LevelFilter, filter_fn};
use lambda_http::tracing::subscriber::fmt::MakeWriter;
use lambda_http::tracing::subscriber::layer::SubscriberExt;
use lambda_http::tracing::{Level, Metadata, Subscriber};

/// Crates that log request / response bodies when verbose, and the most they may log. Enforced
/// per event, after and regardless of the level directives: a more specific directive such as
/// `aws_smithy_runtime::client::orchestrator=trace` cannot lift it.
const WIRE_LEVEL_CAPS: &[(&str, Level)] = &[
    ("aws_smithy_runtime", Level::DEBUG),
    ("aws_smithy_runtime_api", Level::DEBUG),
    ("aws_smithy_http", Level::DEBUG),
    ("aws_smithy_http_client", Level::DEBUG),
    ("aws_sdk_dynamodb", Level::DEBUG),
    ("hyper", Level::INFO),
    ("hyper_util", Level::INFO),
    ("rustls", Level::INFO),
];

/// Whether the wire-level caps let a span or event through.
pub fn within_caps(metadata: &Metadata<'_>) -> bool {
    let target = metadata.target();
    WIRE_LEVEL_CAPS
        .iter()
        .find(|(krate, _)| {
            target
                .strip_prefix(krate)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
        .is_none_or(|(_, cap)| metadata.level() <= cap)
}

/// The level filter for a spec such as `INFO` or `info,session_shared=debug`.
pub fn filter(spec: &str) -> EnvFilter {
    match LevelFilter::from_str(spec.trim()) {
        Ok(level) => EnvFilter::builder()
            .with_default_directive(level.into())
            .parse_lossy(""),
        Err(_) => EnvFilter::builder()
            .with_default_directive(LevelFilter::INFO.into())
            .parse_lossy(spec),
    }
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
    let caps = filter_fn(within_caps);
    if json {
        Box::new(builder.json().finish().with(caps))
    } else {
        Box::new(builder.finish().with(caps))
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

#[cfg(test)]
mod tests {
    use lambda_http::tracing::subscriber::fmt::MakeWriter;
    use lambda_http::tracing::{Level, dispatcher, event};

    use super::*;

    /// Counts written lines.
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<usize>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            *self.0.lock().unwrap() += buf.iter().filter(|b| **b == b'\n').count();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn lines_logged(spec: &str, log: impl Fn()) -> usize {
        let lines = Lines::default();
        let dispatch = dispatcher::Dispatch::new(subscriber(spec, false, lines.clone()));
        dispatcher::with_default(&dispatch, log);
        *lines.0.lock().unwrap()
    }

    fn orchestrator_trace() {
        event!(target: "aws_smithy_runtime::client::orchestrator", Level::TRACE, "response body");
    }

    #[test]
    fn sdk_trace_events_are_dropped_even_when_asked_for_by_module() {
        for spec in [
            "trace",
            "aws_smithy_runtime=trace",
            "aws_smithy_runtime::client::orchestrator=trace",
        ] {
            assert_eq!(lines_logged(spec, orchestrator_trace), 0, "{spec}");
        }
    }

    #[test]
    fn sdk_debug_events_and_our_own_trace_events_still_pass() {
        let sdk_debug = || event!(target: "aws_smithy_runtime::client", Level::DEBUG, "timeouts");
        let ours = || event!(target: "session_shared::service", Level::TRACE, "detail");
        assert_eq!(lines_logged("trace", sdk_debug), 1);
        assert_eq!(lines_logged("trace", ours), 1);
        assert_eq!(lines_logged("info", ours), 0);
    }

    #[test]
    fn caps_match_whole_crate_names_only() {
        let other = || event!(target: "aws_smithy_runtime_extra", Level::TRACE, "not the SDK");
        assert_eq!(lines_logged("trace", other), 1);
    }
}
