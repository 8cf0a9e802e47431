//! One soak client: a keep-alive HTTP client, the request budget shared by every client, the
//! files this client stored (its ledger), and what it observed (statuses, latencies, faults).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::{Method, RequestBuilder};

use crate::wheel::Wheel;

/// What every client shares.
pub struct Shared {
    /// `http://127.0.0.1:PORT/<registry>/<namespace>`, one per server.
    pub bases: Vec<String>,
    pub credentials: Option<(String, String)>,
    /// Requests left in the budget.
    pub remaining: AtomicI64,
    pub projects: usize,
    pub versions: usize,
}

impl Shared {
    /// Takes one request from the budget; `false` when it is spent.
    pub fn take_ticket(&self) -> bool {
        self.remaining.fetch_sub(1, Ordering::Relaxed) > 0
    }

    pub fn project(index: usize) -> String {
        format!("soak-p{index}")
    }
}

/// A file this client uploaded, and whether it is yanked now.
#[derive(Debug, Clone)]
pub struct Stored {
    pub wheel: Wheel,
    pub yanked: bool,
}

/// How requests went, per operation.
#[derive(Debug, Default)]
pub struct Observations {
    pub latencies: BTreeMap<&'static str, Vec<Duration>>,
    pub statuses: BTreeMap<&'static str, BTreeMap<u16, u64>>,
    pub requests: u64,
    pub server_errors: u64,
    pub unexpected: u64,
    pub transport_errors: u64,
    /// Bytes that differ from what was uploaded (downloads, metadata, listed digests).
    pub corrupt: u64,
    /// A page that did not show this client's own completed change.
    pub stale_pages: u64,
    /// The first few problems, for the report.
    pub notes: Vec<String>,
}

impl Observations {
    pub fn note(&mut self, note: String) {
        if self.notes.len() < 40 {
            self.notes.push(note);
        }
    }

    pub fn merge(&mut self, other: Observations) {
        for (kind, mut samples) in other.latencies {
            self.latencies.entry(kind).or_default().append(&mut samples);
        }
        for (kind, statuses) in other.statuses {
            let mine = self.statuses.entry(kind).or_default();
            for (status, count) in statuses {
                *mine.entry(status).or_default() += count;
            }
        }
        self.requests += other.requests;
        self.server_errors += other.server_errors;
        self.unexpected += other.unexpected;
        self.transport_errors += other.transport_errors;
        self.corrupt += other.corrupt;
        self.stale_pages += other.stale_pages;
        for note in other.notes {
            self.note(note);
        }
    }
}

/// A response that arrived.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// One simulated user.
pub struct Client {
    pub id: usize,
    /// The server it talks to: an index into [`Shared::bases`].
    pub replica: usize,
    pub shared: Arc<Shared>,
    http: reqwest::Client,
    rng: u64,
    pub live: Vec<Stored>,
    pub deleted: Vec<Wheel>,
    /// Uploads refused on purpose (bad requests): must never be listed.
    pub refused: Vec<String>,
    /// Uploads whose outcome is unknown (the connection failed): left out of the checks.
    pub uncertain: Vec<String>,
    /// Releases only this client writes: `(project, version)`.
    pub owned_releases: Vec<(String, String)>,
    pub files_made: usize,
    pub seen: Observations,
}

impl Client {
    /// Client `id`, talking to the servers in turn.
    pub fn new(id: usize, shared: Arc<Shared>, seed: u64) -> anyhow::Result<Self> {
        let replica = id % shared.bases.len().max(1);
        Self::on(id, replica, shared, seed)
    }

    /// The final check's client (an empty ledger), talking to server `replica`.
    pub fn checker(replica: usize, shared: Arc<Shared>, seed: u64) -> anyhow::Result<Self> {
        Self::on(usize::MAX, replica, shared, seed)
    }

    fn on(id: usize, replica: usize, shared: Arc<Shared>, seed: u64) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(4)
            .build()?;
        Ok(Self {
            id,
            replica,
            shared,
            http,
            rng: seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            live: Vec::new(),
            deleted: Vec::new(),
            refused: Vec::new(),
            uncertain: Vec::new(),
            owned_releases: Vec::new(),
            files_made: 0,
            seen: Observations::default(),
        })
    }

    /// splitmix64: a reproducible stream per client.
    pub fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % (bound.max(1) as u64)).unwrap_or(0)
    }

    pub fn bytes(&mut self, length: usize) -> Vec<u8> {
        (0..length).map(|_| self.next().to_le_bytes()[0]).collect()
    }

    /// This client's server's base + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.shared.bases[self.replica])
    }

    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        let builder = self.http.request(method, url);
        match &self.shared.credentials {
            Some((user, password)) => builder.basic_auth(user, Some(password)),
            None => builder,
        }
    }

    /// Sends one request of operation `kind` if the budget allows (`None` otherwise, or when
    /// the connection failed), recording its latency and status; a status outside `expected`
    /// is noted, a 5xx always.
    pub async fn send(
        &mut self,
        kind: &'static str,
        request: RequestBuilder,
        expected: &[u16],
    ) -> Option<Answer> {
        if !self.shared.take_ticket() {
            return None;
        }
        self.seen.requests += 1;
        let started = Instant::now();
        let result = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                response.bytes().await.map(|body| Answer { status, body })
            }
            Err(error) => Err(error),
        };
        self.seen
            .latencies
            .entry(kind)
            .or_default()
            .push(started.elapsed());
        let answer = match result {
            Ok(answer) => answer,
            Err(error) => {
                self.seen.transport_errors += 1;
                self.seen.note(format!("{kind}: transport error: {error}"));
                return None;
            }
        };
        *self
            .seen
            .statuses
            .entry(kind)
            .or_default()
            .entry(answer.status)
            .or_default() += 1;
        if answer.status >= 500 {
            self.seen.server_errors += 1;
        }
        if !expected.contains(&answer.status) {
            self.seen.unexpected += 1;
            let body = String::from_utf8_lossy(&answer.body);
            let body: String = body.chars().take(300).collect();
            self.seen.note(format!(
                "client {}: {kind}: {} (expected {expected:?}): {}",
                self.id,
                answer.status,
                body.trim_end()
            ));
        }
        Some(answer)
    }
}
