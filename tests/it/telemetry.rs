//! Trace export over OTLP/HTTP: a server process (the tracing subscriber is global per
//! process) sends its spans to a fake collector, flushing them on SIGTERM; the request span is
//! the server span, registry calls its children, an incoming `traceparent` is followed, and no
//! credential reaches the collector. Without `--otlp-endpoint` nothing is sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind};
use prost::Message as _;

use crate::harness::background::{self, Background};
use crate::harness::process::ServerProcess;
use crate::harness::{AuthMode, Registry};

/// The remote parent sent in `traceparent`.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// A fake OTLP/HTTP collector: keeps the body of every `POST /v1/traces`.
struct Collector {
    url: String,
    bodies: Arc<Mutex<Vec<Bytes>>>,
    _server: Background,
}

impl Collector {
    fn start() -> anyhow::Result<Self> {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/v1/traces", post(receive))
            .with_state(Arc::clone(&bodies));
        let listener = background::bind("the collector")?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = Background::serve(listener, "otlp-collector", app)?;
        Ok(Self {
            url,
            bodies,
            _server: server,
        })
    }

    fn bodies(&self) -> Vec<Bytes> {
        self.bodies.lock().unwrap().clone()
    }
}

async fn receive(
    State(bodies): State<Arc<Mutex<Vec<Bytes>>>>,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], Vec<u8>) {
    bodies.lock().unwrap().push(body);
    // An empty ExportTraceServiceResponse: everything accepted.
    ([("content-type", "application/x-protobuf")], Vec::new())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

fn text(value: Option<&AnyValue>) -> Option<String> {
    match value?.value.as_ref()? {
        any_value::Value::StringValue(text) => Some(text.clone()),
        any_value::Value::IntValue(number) => Some(number.to_string()),
        _ => None,
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let found = attributes.iter().find(|kv| kv.key == key)?;
    text(found.value.as_ref())
}

/// Every exported span, with the service name of its resource.
fn spans(bodies: &[Bytes]) -> anyhow::Result<Vec<(String, Span)>> {
    let mut spans = Vec::new();
    for body in bodies {
        let request = ExportTraceServiceRequest::decode(body.as_ref())?;
        for resource_spans in request.resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|resource| attribute(&resource.attributes, "service.name"))
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    spans.push((service.clone(), span));
                }
            }
        }
    }
    Ok(spans)
}

/// Requests through a server with credentials, a secret in a query and a `traceparent`.
async fn traffic(server: &ServerProcess, registry: &Registry) -> anyhow::Result<()> {
    let (user, password) = registry.credentials().unwrap();
    let page = format!("{}/{}/otel/absent/", server.url(), registry.host());
    let response = client()
        .get(&page)
        .basic_auth(&user, Some(&password))
        .send()
        .await?;
    assert_eq!(response.status(), 404, "{}", response.text().await?);
    let response = client()
        .get(format!("{}/health?token=query-secret-value", server.url()))
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01"))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    Ok(())
}

async fn stop(mut server: ServerProcess) -> anyhow::Result<String> {
    server.terminate()?;
    let status = server.wait(Duration::from_secs(30)).await?;
    assert!(status.success(), "exit {status}; log:\n{}", server.log());
    Ok(server.log())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_without_credentials() -> anyhow::Result<()> {
    let collector = Collector::start()?;
    let registry = Registry::start(AuthMode::Htpasswd).await?;
    let (user, password) = registry.credentials().unwrap();
    let settings = [("OCI_PYPI_OTLP_ENDPOINT", collector.url.as_str())];
    let server = ServerProcess::start(&registry.origin(), &settings).await?;
    traffic(&server, &registry).await?;
    let log = stop(server).await?;

    let bodies = collector.bodies();
    assert!(!bodies.is_empty(), "nothing was exported; log:\n{log}");
    let secrets = [
        password.clone(),
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")),
        "query-secret-value".to_owned(),
    ];
    for body in &bodies {
        for secret in &secrets {
            let found = body.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "`{secret}` was exported");
        }
    }

    let spans = spans(&bodies)?;
    assert!(spans.iter().all(|(service, _)| service == "oci-pypi"));
    let named = |name: &str, path: &str| {
        spans.iter().map(|(_, span)| span).find(|span| {
            span.name == name && attribute(&span.attributes, "http.path").as_deref() == Some(path)
        })
    };
    let page = format!("/{}/otel/absent/", registry.host());
    let page_span = named("request", &page).expect("the page's request span");
    assert_eq!(page_span.kind, SpanKind::Server as i32);
    assert_eq!(
        attribute(&page_span.attributes, "http.status").as_deref(),
        Some("404")
    );
    assert!(attribute(&page_span.attributes, "request.id").is_some_and(|id| !id.is_empty()));

    // The registry calls made for the page are its children, without the credentials.
    let children: Vec<&Span> = spans
        .iter()
        .map(|(_, span)| span)
        .filter(|span| span.name == "registry" && span.parent_span_id == page_span.span_id)
        .collect();
    assert!(
        !children.is_empty(),
        "no registry span under the page: {spans:#?}"
    );
    for child in &children {
        assert_eq!(child.kind, SpanKind::Client as i32);
        assert_eq!(child.trace_id, page_span.trace_id);
        let path = attribute(&child.attributes, "url.path").unwrap_or_default();
        assert!(path.starts_with("/v2/"), "{path}");
    }

    // The health check sent with `traceparent` follows the caller's trace (the ones sent
    // while waiting for the server to start begin their own).
    let followed = spans.iter().map(|(_, span)| span).any(|span| {
        span.name == "request"
            && attribute(&span.attributes, "http.path").as_deref() == Some("/health")
            && hex::encode(&span.trace_id) == TRACE_ID
            && hex::encode(&span.parent_span_id) == PARENT_SPAN_ID
    });
    assert!(followed, "`traceparent` was not followed: {spans:#?}");
    Ok(())
}

/// With trace export on, registry requests carry a W3C `traceparent` in the caller's trace,
/// naming the exported `registry` span as parent, so the registry's traces join ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_requests_carry_the_trace_context() -> anyhow::Result<()> {
    use crate::harness::fake_registry::{FakeRegistry, NAMESPACE, PROJECT};
    let collector = Collector::start()?;
    let fake = FakeRegistry::start()?;
    let settings = [("OCI_PYPI_OTLP_ENDPOINT", collector.url.as_str())];
    let server = ServerProcess::start(&fake.origin(), &settings).await?;
    let before = fake.traceparents().len();
    let response = client()
        .get(format!(
            "{}/{}/{NAMESPACE}/{PROJECT}/",
            server.url(),
            fake.host()
        ))
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01"))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let sent = fake.traceparents().split_off(before);
    stop(server).await?;
    assert!(!sent.is_empty(), "no registry request");
    let spans = spans(&collector.bodies())?;
    for parent in &sent {
        let parts: Vec<&str> = parent.split('-').collect();
        assert_eq!(parts.len(), 4, "traceparent `{parent}`");
        assert_eq!(parts[1], TRACE_ID, "traceparent `{parent}`");
        assert_ne!(parts[2], PARENT_SPAN_ID, "traceparent `{parent}`");
        let exported = spans
            .iter()
            .map(|(_, span)| span)
            .any(|span| span.name == "registry" && hex::encode(&span.span_id) == parts[2]);
        assert!(exported, "`{parent}` names no exported registry span");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_exported_without_an_endpoint() -> anyhow::Result<()> {
    let collector = Collector::start()?;
    let registry = Registry::start(AuthMode::Htpasswd).await?;
    // The standard OpenTelemetry variable alone does not turn export on.
    let settings = [("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str())];
    let server = ServerProcess::start(&registry.origin(), &settings).await?;
    traffic(&server, &registry).await?;
    stop(server).await?;
    assert_eq!(collector.bodies().len(), 0);
    Ok(())
}
