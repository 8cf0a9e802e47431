//! Logging (a tracing subscriber writing text or JSON lines, filtered by the configured level),
//! metrics, and optional trace export over OTLP.

pub mod metrics;
mod otlp;

pub use metrics::Metrics;
pub use otlp::follow_remote_parent;

tokio::task_local! {
    /// The `x-request-id` of the request being handled.
    static REQUEST_ID: http::HeaderValue;
    /// Set while background work (not a request) runs.
    static BACKGROUND: ();
}

/// Runs `work` as background work started by the request being handled: it carries that
/// request's id on, and the registry requests it makes are counted apart.
pub fn background<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let id = current_request_id();
    BACKGROUND.scope((), with_request_id(id, work))
}

/// Runs `work` (to be spawned as a task of its own) in the context of the current task: its
/// request id, and whether it is background work.
pub fn inherit<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let id = current_request_id();
    let background = in_background();
    async move {
        if background {
            BACKGROUND.scope((), with_request_id(id, work)).await
        } else {
            with_request_id(id, work).await
        }
    }
}

/// Whether the current task is background work (see [`background`]).
#[must_use]
pub fn in_background() -> bool {
    BACKGROUND.try_with(|()| ()).is_ok()
}

/// Runs `handling` with `id` as the request id that [`outgoing_headers`] passes on.
pub async fn with_request_id<F: Future>(id: Option<http::HeaderValue>, handling: F) -> F::Output {
    match id {
        Some(id) => REQUEST_ID.scope(id, handling).await,
        None => handling.await,
    }
}

/// The request id of the request being handled, to hand to the background work it starts.
#[must_use]
pub fn current_request_id() -> Option<http::HeaderValue> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Headers that tie a request this server makes (to a registry) to the request it serves:
/// the same `x-request-id`, and the trace context of the current span when traces are
/// exported.
#[must_use]
pub fn outgoing_headers() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    if let Ok(id) = REQUEST_ID.try_with(Clone::clone) {
        headers.insert(http::HeaderName::from_static("x-request-id"), id);
    }
    otlp::inject_context(&tracing::Span::current(), &mut headers);
    headers
}

use std::io::IsTerminal as _;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// An error and its causes on one line (`outer: cause: root cause`), for logs and the
/// command line; every URL in it redacted ([`crate::net::redact`]), whichever cause wrote it.
#[must_use]
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Some errors repeat their cause in their own message: say it once.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    crate::net::redact(&text).replace(['\r', '\n'], " ")
}

/// Keeps trace export running: dropping it sends the spans not yet exported (waiting for the
/// collector a few seconds at most). Holds nothing when no collector is configured.
#[derive(Debug, Default)]
#[must_use = "dropping the guard stops trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                tracing::warn!("exporting the last traces failed: {error}");
            }
        }
    }
}

/// The log filter when none is configured, and the one used instead of an invalid one.
pub const DEFAULT_LOG_LEVEL: &str = "info";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// What logging and tracing are set up with (from the configuration's `--log-*` and
/// `--otlp-*` settings).
#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    /// Log filter: a level or tracing directives; an invalid one falls back to `info`.
    pub log_level: String,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// The OpenTelemetry collector traces are exported to, if any.
    pub otlp_endpoint: Option<url::Url>,
    /// The `service.name` exported traces carry.
    pub otlp_service_name: String,
    /// Write log lines to stderr instead of stdout (one-off commands, whose stdout is their
    /// result).
    pub to_stderr: bool,
}

/// Installs the global subscriber, with trace export when an OTLP endpoint is set. Safe to
/// call more than once (later calls do nothing).
pub fn init(settings: &TelemetrySettings) -> Telemetry {
    let filter = EnvFilter::try_new(&settings.log_level)
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_LEVEL));
    let (writer, terminal) = if settings.to_stderr {
        let terminal = std::io::stderr().is_terminal();
        (BoxMakeWriter::new(std::io::stderr), terminal)
    } else {
        let terminal = std::io::stdout().is_terminal();
        (BoxMakeWriter::new(std::io::stdout), terminal)
    };
    // Colours for a person at a terminal only: a log file or collector gets plain lines.
    let format = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(terminal)
        .with_writer(writer);
    let format = match settings.log_format {
        LogFormat::Text => format.boxed(),
        LogFormat::Json => format.json().flatten_event(true).boxed(),
    };
    let (provider, export_error) = match &settings.otlp_endpoint {
        None => (None, None),
        Some(endpoint) => match otlp::start(endpoint, &settings.otlp_service_name) {
            Ok(provider) => (Some(provider), None),
            Err(error) => (None, Some(error)),
        },
    };
    let installed = tracing_subscriber::registry()
        .with(provider.as_ref().map(otlp::layer))
        .with(format.with_filter(filter))
        .try_init()
        .is_ok();
    if let Some(error) = export_error {
        tracing::warn!("traces are not exported: {error}");
    }
    if let (Some(endpoint), true) = (&settings.otlp_endpoint, installed && provider.is_some()) {
        let host = endpoint.host_str().unwrap_or_default();
        tracing::info!(otlp.host = %host, "exporting traces to the collector at {host}");
    }
    Telemetry {
        provider: provider.filter(|_| installed),
    }
}
