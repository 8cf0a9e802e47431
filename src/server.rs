//! The connection loop: accepts TCP connections and serves HTTP/1.1 and HTTP/2 (prior
//! knowledge, as proxies speak it) on them with hyper, under two timeouts that keep slow or
//! silent clients from holding connections for ever:
//!
//! - the **header timeout**: a connection with no request in progress (just opened, after an
//!   answer, or sending a request head byte by byte: a slowloris) is closed once it has been
//!   so for this long. It is counted per connection, outside hyper, so it covers HTTP/2 and
//!   the protocol detection too (hyper's own HTTP/1 header timeout would not).
//! - the **body timeout**: a request body that stays silent this long (between two chunks)
//!   fails, and so does the request reading it.
//!
//! Shutdown stops accepting, asks every connection to finish its requests in flight and
//! close, and returns once they all have.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutBody;

use crate::net::{SpliceIo, SpliceSlot};

/// How client connections are served.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionOptions {
    /// How long a connection may stay without a request in progress.
    pub header_timeout: Duration,
    /// How long a request body may stay silent.
    pub body_timeout: Duration,
    /// Offer plain HTTP/1.x requests a [`SpliceSlot`], to splice file downloads.
    pub splice: bool,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the connections finish
/// their requests in flight and returns when they are all closed.
///
/// # Errors
/// None so far: accept errors are logged and retried.
pub async fn run(
    listener: TcpListener,
    app: Router,
    options: ConnectionOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopping, stop) = watch::channel(false);
    // Every connection task holds a receiver: when they are all dropped, all are closed.
    let (closed, close) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, _)) => {
                // Responses are written in several pieces (head, body chunks): without this,
                // the last small piece of a download on a kept-alive connection waits for
                // the client's delayed ACK (40 ms on Linux), on every file an installer gets.
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!("cannot set TCP_NODELAY on a connection: {error}");
                }
                let connection = serve_connection(stream, app.clone(), options, stop.clone());
                let close = close.clone();
                tokio::spawn(async move {
                    connection.await;
                    drop(close);
                });
            }
            Err(error) if is_per_connection(&error) => {}
            Err(error) => {
                // Out of file descriptors, typically: wait instead of spinning.
                tracing::error!("cannot accept connections: {error}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    drop(close);
    closed.closed().await;
    Ok(())
}

/// The most open files this process asks for when the hard limit is unlimited: Linux's
/// default `fs.nr_open`.
#[cfg(target_os = "linux")]
const OPEN_FILES_WANTED: u64 = 1 << 20;

/// Raises this process's soft limit on open files to its hard limit (at most
/// [`OPEN_FILES_WANTED`]), as Go programs do at start: one cold page of a project without a
/// listing document opens up to `--listing-concurrency` (256) registry connections, and
/// container runtimes start processes with a soft limit of 1024, which a few such pages at
/// once could exhaust (accepts and registry connections then failing with `EMFILE`).
/// Returns the limit before and after when it was raised.
#[cfg(target_os = "linux")]
#[must_use]
pub fn raise_open_files_limit() -> Option<(u64, u64)> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current?;
    let wanted = limit
        .maximum
        .map_or(OPEN_FILES_WANTED, |hard| hard.min(OPEN_FILES_WANTED));
    if current >= wanted {
        return None;
    }
    let raised = Rlimit {
        current: Some(wanted),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => Some((current, wanted)),
        Err(error) => {
            tracing::warn!("cannot raise the open files limit from {current}: {error}");
            None
        }
    }
}

/// Accept errors about one connection only (it went away before it was accepted).
fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        error.kind(),
        K::ConnectionRefused | K::ConnectionAborted | K::ConnectionReset
    )
}

/// Serves one connection until it ends, idles past the header timeout, or is asked to stop.
async fn serve_connection(
    stream: TcpStream,
    app: Router,
    options: ConnectionOptions,
    mut stop: watch::Receiver<bool>,
) {
    let (activity, watch_activity) = watch::channel(Activity {
        in_flight: 0,
        since: Instant::now(),
    });
    let service = ConnectionService {
        app,
        activity: Arc::new(activity),
        body_timeout: options.body_timeout,
        slot: (options.splice && SpliceSlot::supported()).then(SpliceSlot::default),
    };
    let stream = SpliceIo::new(stream, service.slot.clone().unwrap_or_default());
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let idle = idle_for(watch_activity, options.header_timeout);
    tokio::pin!(idle);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!("connection ended: {error}");
                }
                return;
            }
            () = &mut idle => {
                tracing::debug!(
                    "closing a connection without a request in progress for {}s",
                    options.header_timeout.as_secs()
                );
                return;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// What a connection is doing: requests in progress, and since when that count is what it is.
#[derive(Debug, Clone, Copy)]
struct Activity {
    in_flight: usize,
    since: Instant,
}

/// Completes once the connection has had no request in progress for `timeout`.
async fn idle_for(mut activity: watch::Receiver<Activity>, timeout: Duration) {
    loop {
        let now = *activity.borrow_and_update();
        if now.in_flight == 0 {
            tokio::select! {
                () = tokio::time::sleep_until(now.since + timeout) => return,
                changed = activity.changed() => {
                    if changed.is_err() {
                        // The connection is gone: nothing left to time out.
                        std::future::pending::<()>().await;
                    }
                }
            }
        } else if activity.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The application seen by one connection: it counts the requests in progress (until their
/// response body is sent or dropped) and times out silent request bodies.
#[derive(Clone)]
struct ConnectionService {
    app: Router,
    activity: Arc<watch::Sender<Activity>>,
    body_timeout: Duration,
    /// Given to the plain HTTP/1.x requests of this connection.
    slot: Option<SpliceSlot>,
}

impl hyper::service::Service<http::Request<Incoming>> for ConnectionService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let guard = InFlight::start(&self.activity);
        let timeout = self.body_timeout;
        let mut request = request.map(|body| Body::new(TimeoutBody::new(timeout, body)));
        // HTTP/2 frames the body's bytes: only HTTP/1.x writes them as they are.
        let plain = matches!(
            request.version(),
            http::Version::HTTP_10 | http::Version::HTTP_11
        );
        if let (Some(slot), true) = (&self.slot, plain) {
            request.extensions_mut().insert(slot.clone());
        }
        let app = self.app.clone();
        Box::pin(async move {
            let response = app.oneshot(request).await?;
            Ok(response.map(|body| {
                Body::new(Tracked {
                    body,
                    _guard: guard,
                })
            }))
        })
    }
}

/// One request in progress on a connection, until dropped.
struct InFlight(Arc<watch::Sender<Activity>>);

impl InFlight {
    fn start(activity: &Arc<watch::Sender<Activity>>) -> Self {
        activity.send_modify(|now| {
            now.in_flight += 1;
            now.since = Instant::now();
        });
        Self(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|now| {
            now.in_flight = now.in_flight.saturating_sub(1);
            now.since = Instant::now();
        });
    }
}

/// A response body that keeps its request counted as in progress until it is sent.
struct Tracked {
    body: Body,
    _guard: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::SocketAddr;

    use super::*;

    /// The sockets of this process whose addresses are `local` and `peer`, as copies of
    /// their descriptors (pidfd_getfd on this process, which needs no privilege).
    fn sockets_between(local: SocketAddr, peer: SocketAddr) -> Vec<std::net::TcpStream> {
        let me = rustix::process::pidfd_open(
            rustix::process::getpid(),
            rustix::process::PidfdFlags::empty(),
        )
        .unwrap();
        // A copy made during the walk takes the lowest free number, which the walk may
        // list later: sockets are told apart by their inode, which a copy shares with its
        // original, so each is looked at once.
        let mut seen = std::collections::HashSet::new();
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
            let name = entry.unwrap().file_name();
            let Ok(number) = name.to_string_lossy().parse::<i32>() else {
                continue;
            };
            let target = std::fs::read_link(format!("/proc/self/fd/{number}"));
            if !target.is_ok_and(|t| t.to_string_lossy().starts_with("socket:")) {
                continue;
            }
            let flags = rustix::process::PidfdGetfdFlags::empty();
            let Ok(copy) = rustix::process::pidfd_getfd(&me, number, flags) else {
                continue;
            };
            let Ok(status) = rustix::fs::fstat(&copy) else {
                continue;
            };
            if !seen.insert(status.st_ino) {
                continue;
            }
            let stream = std::net::TcpStream::from(copy);
            if stream.local_addr().ok() == Some(local) && stream.peer_addr().ok() == Some(peer) {
                found.push(stream);
            }
        }
        found
    }

    /// Every accepted connection has Nagle's algorithm off: a download's last small piece
    /// on a kept-alive connection otherwise waited for the client's delayed ACK (40 ms
    /// per file on Linux; 500 downloads of a 64 KiB wheel over one connection took 19–22 s
    /// through the server against 1.6–1.8 s straight, docs/benchmarks.md).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn accepted_connections_send_without_delay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let options = ConnectionOptions {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            splice: false,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(run(listener, app, options, async {
            let _ = stopped.await;
        }));

        let client = tokio::task::spawn_blocking(move || {
            let mut client = std::net::TcpStream::connect(address).unwrap();
            client
                .write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
                .unwrap();
            let mut answer = [0; 64];
            let read = client.read(&mut answer).unwrap();
            assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
            client
        })
        .await
        .unwrap();
        let accepted = sockets_between(address, client.local_addr().unwrap());
        assert_eq!(accepted.len(), 1, "the server's end of the connection");
        assert!(accepted[0].nodelay().unwrap(), "Nagle's algorithm is on");

        drop((client, accepted));
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}
