//! Trace export to an OpenTelemetry collector over OTLP/HTTP (protobuf), when configured.
//!
//! The `request` span of each HTTP request becomes a server span, and the registry requests
//! made for it its children; a W3C `traceparent` header on the request makes it part of the
//! caller's trace. Only spans and events of this crate are exported, at `info` and above,
//! whatever the log filter says. Spans are sent in batches from a tokio task, and the last ones
//! when the [`Telemetry`](super::Telemetry) guard is dropped.
//!
//! Specifications: <https://opentelemetry.io/docs/specs/otlp/#otlphttp>,
//! <https://www.w3.org/TR/trace-context/>.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing::level_filters::LevelFilter;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts exporting to the collector at `endpoint` (its base URL: `/v1/traces` is appended
/// unless already there), and makes `traceparent` headers understood.
///
/// # Errors
/// The exporter's error when its HTTP client cannot be built.
pub(super) fn start(
    endpoint: &url::Url,
    service_name: &str,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    // Collectors are local or in-cluster: like registries, they are reached without a proxy.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|error| {
            opentelemetry_otlp::ExporterBuildError::InternalFailure(error.to_string())
        })?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(traces_url(endpoint))
        .with_timeout(EXPORT_TIMEOUT)
        .build()?;
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(exporter, Tokio).build())
        .with_resource(resource)
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(provider)
}

/// The W3C `traceparent` (and `tracestate`) of `span`, for a request this server makes, so
/// that the registry's own traces join the caller's; nothing when no collector is configured
/// (the propagator is then a no-op).
pub fn inject_context(span: &tracing::Span, headers: &mut http::HeaderMap) {
    let context = span.context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut opentelemetry_http::HeaderInjector(headers));
    });
}

/// The subscriber layer turning this crate's spans into exported ones.
pub(super) fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + Send + Sync + 'static
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    let tracer = provider.tracer(env!("CARGO_PKG_NAME"));
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false)
        .with_filter(Targets::new().with_target(env!("CARGO_CRATE_NAME"), LevelFilter::INFO))
}

/// Makes `span` part of the trace named by a W3C `traceparent` header in `headers`. Does
/// nothing when traces are not exported or the header is absent or malformed.
pub fn follow_remote_parent(span: &tracing::Span, headers: &http::HeaderMap) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&opentelemetry_http::HeaderExtractor(headers))
    });
    // Fails only when no exporting layer is installed: then there is nothing to follow.
    let _ = span.set_parent(parent);
}

/// The OTLP/HTTP traces URL of a collector.
fn traces_url(endpoint: &url::Url) -> String {
    let base = endpoint.as_str().trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_urls() {
        let url = |s: &str| traces_url(&url::Url::parse(s).unwrap());
        assert_eq!(
            url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            url("https://otel.example/base/"),
            "https://otel.example/base/v1/traces"
        );
        assert_eq!(
            url("http://collector:4318/v1/traces"),
            "http://collector:4318/v1/traces"
        );
    }
}
