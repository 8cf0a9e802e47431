//! A webhook receiver for tests: a small axum server on a free loopback port that records
//! every request it gets and answers as planned (a status, after a delay), 204 when nothing
//! is planned.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use http::{HeaderMap, StatusCode, Uri};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One request received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Delivery {
    /// A header's value ("" when missing).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

/// How one request is answered.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub delay: Duration,
    pub status: u16,
}

#[derive(Clone)]
struct Shared {
    plan: Arc<Mutex<VecDeque<Reply>>>,
    sender: mpsc::UnboundedSender<Delivery>,
}

pub struct Receiver {
    address: SocketAddr,
    plan: Arc<Mutex<VecDeque<Reply>>>,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// A receiver on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on("127.0.0.1:0".parse()?).await
    }

    /// A receiver on `address` (to bring one up where one was down).
    pub async fn start_on(address: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let (sender, deliveries) = mpsc::unbounded_channel();
        let plan = Arc::new(Mutex::new(VecDeque::new()));
        let shared = Shared {
            plan: Arc::clone(&plan),
            sender,
        };
        let app = axum::Router::new().fallback(receive).with_state(shared);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            address,
            plan,
            deliveries,
            task,
        })
    }

    /// A loopback address where nothing listens (yet).
    pub async fn unused_address() -> anyhow::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Ok(listener.local_addr()?)
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The next requests are answered so, in order.
    pub fn plan(&self, replies: &[Reply]) {
        self.plan.lock().unwrap().extend(replies.iter().copied());
    }

    /// The next request received, waiting at most `limit`.
    pub async fn next(&mut self, limit: Duration) -> anyhow::Result<Delivery> {
        tokio::time::timeout(limit, self.deliveries.recv())
            .await
            .map_err(|_| anyhow::anyhow!("no delivery within {limit:?}"))?
            .ok_or_else(|| anyhow::anyhow!("the receiver stopped"))
    }

    /// A request received within `limit`, if any.
    pub async fn maybe_next(&mut self, limit: Duration) -> Option<Delivery> {
        self.next(limit).await.ok()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let reply = shared.plan.lock().unwrap().pop_front().unwrap_or(Reply {
        delay: Duration::ZERO,
        status: 204,
    });
    let _ = shared.sender.send(Delivery {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    tokio::time::sleep(reply.delay).await;
    StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
