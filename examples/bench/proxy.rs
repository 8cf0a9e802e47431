//! A counting HTTP/1.1 reverse proxy between oci-pypi and the registry: it forwards every
//! request as it is and records its method, path, status and how long the registry took
//! (from the request's arrival to the end of the registry's response body). Started with a
//! delay, it holds each request that long before forwarding it: a registry one round trip
//! away (phase 5).
//!
//! Bodies are buffered: it sits only where every body is small (pages, small files).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse as _, Response};
use http::{HeaderMap, Method, StatusCode, header};
use tokio::task::JoinHandle;

/// Largest request body forwarded (page phases send none).
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// One forwarded request.
#[derive(Debug, Clone)]
pub struct Record {
    pub method: Method,
    pub path: String,
    /// The request headers that shape the answer (`Accept`, `If-None-Match`, `Range`).
    pub headers: HeaderMap,
    pub status: u16,
    /// When the request reached the proxy.
    pub started: Instant,
    pub duration: Duration,
}

struct Shared {
    upstream: String,
    /// How long each request is held before it is forwarded.
    delay: Duration,
    http: reqwest::Client,
    records: Mutex<Vec<Record>>,
}

/// The running proxy; stops when dropped.
pub struct CountingProxy {
    port: u16,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl CountingProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        Self::start_with_delay(upstream, Duration::ZERO).await
    }

    /// The same, holding each request `delay` before forwarding it.
    pub async fn start_with_delay(upstream: &str, delay: Duration) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            delay,
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            records: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("bench: counting proxy stopped: {error}");
            }
        });
        Ok(Self { port, shared, task })
    }

    /// `127.0.0.1:PORT`, the registry name oci-pypi is given.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Forgets what was recorded so far.
    pub fn reset(&self) {
        lock(&self.shared.records).clear();
    }

    /// What was recorded since the last reset, and clears it.
    pub fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *lock(&self.shared.records))
    }

    /// Sends `records` again straight to the registry, one at a time, and times each (to the
    /// end of its body): what each request costs when it does not queue behind the others.
    pub async fn replay(&self, records: &[Record]) -> anyhow::Result<Vec<Duration>> {
        let mut durations = Vec::with_capacity(records.len());
        for record in records {
            let started = Instant::now();
            let response = self
                .shared
                .http
                .request(
                    record.method.clone(),
                    format!("{}{}", self.shared.upstream, record.path),
                )
                .headers(record.headers.clone())
                .send()
                .await?;
            let status = response.status().as_u16();
            response.bytes().await?;
            durations.push(started.elapsed());
            anyhow::ensure!(
                status == record.status,
                "replaying {} {}: {status}, first {}",
                record.method,
                record.path,
                record.status
            );
        }
        Ok(durations)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let replayable: HeaderMap = [header::ACCEPT, header::IF_NONE_MATCH, header::RANGE]
        .into_iter()
        .filter_map(|name| Some((name.clone(), parts.headers.get(&name)?.clone())))
        .collect();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BODY).await else {
        return (StatusCode::BAD_REQUEST, "request body too large").into_response();
    };
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    let mut builder = shared
        .http
        .request(parts.method.clone(), format!("{}{path}", shared.upstream))
        .headers(end_to_end(&parts.headers));
    // The registry builds absolute upload URLs from `Host`: keep the proxy's, so that an
    // upload session started through the proxy goes on through it.
    if let Some(host) = parts.headers.get(header::HOST) {
        builder = builder.header(header::HOST, host.clone());
    }
    if !body.is_empty() {
        builder = builder.body(body);
    }
    let outcome = match builder.send().await {
        Ok(response) => {
            let status = response.status();
            let headers = end_to_end(response.headers());
            response.bytes().await.map(|bytes| (status, headers, bytes))
        }
        Err(error) => Err(error),
    };
    let duration = started.elapsed();
    let (status, headers, bytes) = match outcome {
        Ok(parts) => parts,
        Err(error) => {
            return (StatusCode::BAD_GATEWAY, format!("upstream: {error}")).into_response();
        }
    };
    lock(&shared.records).push(Record {
        method: parts.method,
        path,
        headers: replayable,
        status: status.as_u16(),
        started,
        duration,
    });
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The headers without hop-by-hop ones (and without `Host`, set again for the next hop).
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut out = headers.clone();
    for name in [
        header::HOST,
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        out.remove(name);
    }
    out.remove("keep-alive");
    out
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
