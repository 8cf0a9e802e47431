//! Prometheus metrics, kept per server instance (tests run several servers in one process)
//! and rendered in the Prometheus text exposition format.
//!
//! Format: <https://prometheus.io/docs/instrumenting/exposition_formats/>. Labels are low
//! cardinality by construction (route kinds, methods, status codes, outcomes): never paths,
//! project names or anything a caller controls, and never credentials.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The metrics of one server.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, Labels), u64>>,
    histograms: Mutex<BTreeMap<(&'static str, Labels), Histogram>>,
    uploads_in_flight: AtomicI64,
    webhook_deliveries_pending: AtomicI64,
    upload_bytes: AtomicU64,
    download_bytes: AtomicU64,
    /// Pages sent in full, and their bytes as sent: identity first, then gzip (atomics: a
    /// page is the hottest path).
    pages_sent: [AtomicU64; 2],
    page_bytes_sent: [AtomicU64; 2],
    blob_cache_bytes: AtomicU64,
}

/// What each metric means, for `# HELP`.
const HELP: [(&str, &str, &str); 24] = [
    (
        "oci_pypi_pages_sent_total",
        "counter",
        "Index pages, project lists and releases JSON sent in full (not 304), by content coding (gzip, identity).",
    ),
    (
        "oci_pypi_page_bytes_sent_total",
        "counter",
        "Bytes of the pages counted by oci_pypi_pages_sent_total, as sent (compressed when coded), by content coding.",
    ),
    (
        "oci_pypi_release_index_merges_total",
        "counter",
        "Release index changes found overwritten by a concurrent writer (another task or replica) and merged again.",
    ),
    (
        "oci_pypi_blob_copies_total",
        "counter",
        "Blobs copied by promotions, by method (mount, stream).",
    ),
    (
        "oci_pypi_http_requests_total",
        "counter",
        "HTTP requests answered, by route, method and status.",
    ),
    (
        "oci_pypi_http_request_duration_seconds",
        "histogram",
        "Time to the response head, by route.",
    ),
    (
        "oci_pypi_registry_requests_total",
        "counter",
        "Requests made to registries, by outcome.",
    ),
    (
        "oci_pypi_background_registry_requests_total",
        "counter",
        "Of the requests made to registries, those made by background work (page refreshes, listing documents, file sizes), by outcome.",
    ),
    (
        "oci_pypi_listing_document_writes_total",
        "counter",
        "Listing documents brought up to date, by result (written, unchanged, failed, refused).",
    ),
    (
        "oci_pypi_cache_lookups_total",
        "counter",
        "Listing cache lookups, by cache and result.",
    ),
    (
        "oci_pypi_upstream_cache_total",
        "counter",
        "Pull-through cache events, by event: hit (served from the registry), stored (fetched from upstream and kept), joined (waited for another request's fetch), not_stored (streamed but not kept), refused (upstream bytes did not match their sha256), stale_page and stale_file (served while upstream failed), evicted.",
    ),
    (
        "oci_pypi_uploads_in_flight",
        "gauge",
        "Uploads being received right now.",
    ),
    (
        "oci_pypi_upload_bytes_total",
        "counter",
        "Bytes of distribution files received.",
    ),
    (
        "oci_pypi_downloads_total",
        "counter",
        "Whole distribution files sent, by how their bytes crossed the server: splice (from the registry's socket to the client's inside the kernel) or copy (through memory).",
    ),
    (
        "oci_pypi_download_bytes_total",
        "counter",
        "Bytes of distribution files sent.",
    ),
    (
        "oci_pypi_blob_cache_lookups_total",
        "counter",
        "Blob downloads looked up in the blob cache, by result (hit: sent from disk after the registry allowed it; miss).",
    ),
    (
        "oci_pypi_blob_cache_fills_total",
        "counter",
        "Blobs copied into the blob cache as they were downloaded, by result (stored, abandoned, mismatch, failed, too_large, busy: not started, too many fills in progress).",
    ),
    (
        "oci_pypi_blob_cache_fetched_bytes_total",
        "counter",
        "Bytes the blob cache fetched from registries itself, to complete fills that a download ran ahead of.",
    ),
    (
        "oci_pypi_blob_cache_bytes",
        "gauge",
        "Bytes of the blobs held in the blob cache.",
    ),
    (
        "oci_pypi_upload_spool_total",
        "counter",
        "Uploads kept on disk past the 4 MiB kept in memory (--upload-spool-dir), so that a failed PATCH or commit can be sent again, by result (spooled: started; failed: the spool could not be made, written or read back, and the upload went on without it).",
    ),
    (
        "oci_pypi_webhook_deliveries_total",
        "counter",
        "Webhook deliveries finished, by webhook and result (delivered, failed, dropped).",
    ),
    (
        "oci_pypi_webhook_attempts_total",
        "counter",
        "Webhook delivery attempts, by outcome (2xx, retryable, refused, error).",
    ),
    (
        "oci_pypi_webhook_deliveries_pending",
        "gauge",
        "Webhook deliveries waiting, under way or between retries.",
    ),
    (
        "oci_pypi_build_info",
        "gauge",
        "Always 1; the version label says which build runs.",
    ),
];

/// The method as a label: the standard methods by name, anything else (extension methods
/// the caller invents) as `OTHER`, so that callers cannot add series at will.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
    ];
    KNOWN
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("OTHER")
}

impl Metrics {
    /// Counts one answered HTTP request.
    pub fn record_request(
        &self,
        route: &'static str,
        method: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let labels = vec![
            ("route", route.to_owned()),
            ("method", method_label(method).to_owned()),
            ("status", status.to_string()),
        ];
        self.add("oci_pypi_http_requests_total", labels, 1);
        let mut histograms = lock(&self.histograms);
        let histogram = histograms
            .entry((
                "oci_pypi_http_request_duration_seconds",
                vec![("route", route.to_owned())],
            ))
            .or_default();
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// Counts a release index change that a concurrent writer overwrote, merged again.
    pub fn record_release_merge(&self) {
        self.add("oci_pypi_release_index_merges_total", Vec::new(), 1);
    }

    /// Counts one registry request by outcome (`2xx`, `4xx`, `5xx`, `error`, `retried`,
    /// `rate_limited`: refused with 429 and sent again, ...).
    pub fn record_registry_request(&self, outcome: &'static str) {
        self.add(
            "oci_pypi_registry_requests_total",
            vec![("outcome", outcome.to_owned())],
            1,
        );
        if super::in_background() {
            self.add(
                "oci_pypi_background_registry_requests_total",
                vec![("outcome", outcome.to_owned())],
                1,
            );
        }
    }

    /// Counts a listing document rewrite by result (`written`, `unchanged`, `failed`,
    /// `refused`).
    pub fn record_document_write(&self, result: &'static str) {
        self.add(
            "oci_pypi_listing_document_writes_total",
            vec![("result", result.to_owned())],
            1,
        );
    }

    /// Counts a listing cache lookup (`cache`: `page` or `release`; `result`: `hit`, `miss`,
    /// `revalidated`).
    pub fn record_cache(&self, cache: &'static str, result: &'static str) {
        let labels = vec![("cache", cache.to_owned()), ("result", result.to_owned())];
        self.add("oci_pypi_cache_lookups_total", labels, 1);
    }

    /// Counts a pull-through cache event (see `oci_pypi_upstream_cache_total`).
    pub fn record_upstream_cache(&self, event: &'static str) {
        self.add(
            "oci_pypi_upstream_cache_total",
            vec![("event", event.to_owned())],
            1,
        );
    }

    /// Counts a page sent in full, `bytes` long as sent, gzip-compressed or not.
    pub fn record_page(&self, gzip: bool, bytes: usize) {
        let slot = usize::from(gzip);
        self.pages_sent[slot].fetch_add(1, Ordering::Relaxed);
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.page_bytes_sent[slot].fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts a whole distribution file sent (`transfer`: `splice` or `copy`).
    pub fn record_download(&self, transfer: &'static str) {
        self.add(
            "oci_pypi_downloads_total",
            vec![("transfer", transfer.to_owned())],
            1,
        );
    }

    /// Counts a blob copied for a promotion (`method`: `mount` or `stream`).
    pub fn record_blob_copy(&self, method: &'static str) {
        self.add(
            "oci_pypi_blob_copies_total",
            vec![("method", method.to_owned())],
            1,
        );
    }

    /// Counts a finished webhook delivery (`result`: `delivered`, `failed` or `dropped`);
    /// `webhook` is a name from the operator's file.
    pub fn record_webhook_delivery(&self, webhook: &str, result: &'static str) {
        let labels = vec![
            ("webhook", webhook.to_owned()),
            ("result", result.to_owned()),
        ];
        self.add("oci_pypi_webhook_deliveries_total", labels, 1);
    }

    /// Counts a webhook delivery attempt (`outcome`: `2xx`, `retryable`, `refused`, `error`).
    pub fn record_webhook_attempt(&self, outcome: &'static str) {
        let labels = vec![("outcome", outcome.to_owned())];
        self.add("oci_pypi_webhook_attempts_total", labels, 1);
    }

    /// A webhook delivery was queued (`+1`) or finished (`-1`).
    pub fn webhook_deliveries_pending(&self, delta: i64) {
        self.webhook_deliveries_pending
            .fetch_add(delta, Ordering::Relaxed);
    }

    /// An upload started (`+1`) or ended (`-1`).
    pub fn uploads_in_flight(&self, delta: i64) {
        self.uploads_in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    /// Counts received file bytes.
    pub fn upload_bytes(&self, bytes: u64) {
        self.upload_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts sent file bytes.
    pub fn download_bytes(&self, bytes: u64) {
        self.download_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts a blob cache lookup for a download (`result`: `hit` or `miss`).
    pub fn record_blob_cache_lookup(&self, result: &'static str) {
        let labels = vec![("result", result.to_owned())];
        self.add("oci_pypi_blob_cache_lookups_total", labels, 1);
    }

    /// Counts a blob cache fill that ended (`result`: `stored`, `abandoned`, `mismatch`,
    /// `failed`, `too_large` or `busy`).
    pub fn record_blob_cache_fill(&self, result: &'static str) {
        let labels = vec![("result", result.to_owned())];
        self.add("oci_pypi_blob_cache_fills_total", labels, 1);
    }

    /// Counts an upload spool started (`spooled`) or lost (`failed`).
    pub fn record_upload_spool(&self, result: &'static str) {
        let labels = vec![("result", result.to_owned())];
        self.add("oci_pypi_upload_spool_total", labels, 1);
    }

    /// Counts bytes the blob cache fetched itself to complete a fill.
    pub fn blob_cache_fetched_bytes(&self, bytes: u64) {
        self.add("oci_pypi_blob_cache_fetched_bytes_total", Vec::new(), bytes);
    }

    /// Sets the bytes held in the blob cache.
    pub fn blob_cache_bytes(&self, bytes: u64) {
        self.blob_cache_bytes.store(bytes, Ordering::Relaxed);
    }

    fn add(&self, name: &'static str, labels: Labels, value: u64) {
        *lock(&self.counters).entry((name, labels)).or_default() += value;
    }

    /// The Prometheus text exposition of every metric.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = lock(&self.counters);
        let histograms = lock(&self.histograms);
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            match name {
                "oci_pypi_uploads_in_flight" => {
                    let _ = writeln!(
                        out,
                        "{name} {}",
                        self.uploads_in_flight.load(Ordering::Relaxed)
                    );
                }
                "oci_pypi_webhook_deliveries_pending" => {
                    let _ = writeln!(
                        out,
                        "{name} {}",
                        self.webhook_deliveries_pending.load(Ordering::Relaxed)
                    );
                }
                "oci_pypi_upload_bytes_total" => {
                    let _ = writeln!(out, "{name} {}", self.upload_bytes.load(Ordering::Relaxed));
                }
                "oci_pypi_download_bytes_total" => {
                    let _ = writeln!(
                        out,
                        "{name} {}",
                        self.download_bytes.load(Ordering::Relaxed)
                    );
                }
                "oci_pypi_pages_sent_total" => render_by_coding(&mut out, name, &self.pages_sent),
                "oci_pypi_page_bytes_sent_total" => {
                    render_by_coding(&mut out, name, &self.page_bytes_sent);
                }
                "oci_pypi_blob_cache_bytes" => {
                    let _ = writeln!(
                        out,
                        "{name} {}",
                        self.blob_cache_bytes.load(Ordering::Relaxed)
                    );
                }
                "oci_pypi_build_info" => {
                    let _ = writeln!(out, "{name}{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
                }
                "oci_pypi_http_request_duration_seconds" => {
                    render_histograms(&mut out, name, &histograms);
                }
                _ => {
                    for ((metric, labels), value) in
                        counters.iter().filter(|((m, _), _)| *m == name)
                    {
                        let _ = writeln!(out, "{metric}{} {value}", render_labels(labels, None));
                    }
                }
            }
        }
        out
    }
}

/// The two samples of a counter by content coding (identity, gzip).
fn render_by_coding(out: &mut String, name: &str, values: &[AtomicU64; 2]) {
    for (coding, value) in ["identity", "gzip"].iter().zip(values) {
        let value = value.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}{{coding=\"{coding}\"}} {value}");
    }
}

fn render_histograms(
    out: &mut String,
    name: &str,
    histograms: &BTreeMap<(&'static str, Labels), Histogram>,
) {
    for ((_, labels), histogram) in histograms.iter().filter(|((m, _), _)| *m == name) {
        for (count, bound) in histogram.buckets.iter().zip(BUCKETS) {
            let le = format!("{bound}");
            let _ = writeln!(
                out,
                "{name}_bucket{} {count}",
                render_labels(labels, Some(&le))
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{} {}",
            render_labels(labels, Some("+Inf")),
            histogram.count
        );
        let _ = writeln!(
            out,
            "{name}_sum{} {}",
            render_labels(labels, None),
            histogram.sum
        );
        let _ = writeln!(
            out,
            "{name}_count{} {}",
            render_labels(labels, None),
            histogram.count
        );
    }
}

fn render_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(key, value)| format!("{key}=\"{}\"", escape_label(value)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        let metrics = Metrics::default();
        for method in ["FOO1", "FOO2", "get", "DELETE"] {
            metrics.record_request("unknown", method, 405, Duration::from_millis(1));
        }
        let text = metrics.render();
        assert!(
            text.contains(
                "oci_pypi_http_requests_total{route=\"unknown\",method=\"OTHER\",status=\"405\"} 3"
            ),
            "{text}"
        );
        assert!(text.contains("method=\"DELETE\""), "{text}");
        assert!(!text.contains("FOO"), "{text}");
    }

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let metrics = Metrics::default();
        metrics.record_request("project_page", "GET", 200, Duration::from_millis(3));
        metrics.record_request("project_page", "GET", 200, Duration::from_millis(30));
        metrics.record_registry_request("2xx");
        metrics.uploads_in_flight(1);
        metrics.download_bytes(42);
        metrics.record_page(true, 700);
        metrics.record_page(true, 300);
        metrics.record_page(false, 2000);
        let text = metrics.render();
        assert!(
            text.contains("oci_pypi_pages_sent_total{coding=\"gzip\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("oci_pypi_pages_sent_total{coding=\"identity\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("oci_pypi_page_bytes_sent_total{coding=\"gzip\"} 1000"),
            "{text}"
        );
        assert!(text.contains("oci_pypi_http_requests_total{route=\"project_page\",method=\"GET\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("oci_pypi_http_request_duration_seconds_bucket{route=\"project_page\",le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("oci_pypi_http_request_duration_seconds_bucket{route=\"project_page\",le=\"+Inf\"} 2"), "{text}");
        assert!(
            text.contains("oci_pypi_http_request_duration_seconds_count{route=\"project_page\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("oci_pypi_registry_requests_total{outcome=\"2xx\"} 1"),
            "{text}"
        );
        assert!(text.contains("oci_pypi_uploads_in_flight 1"), "{text}");
        assert!(text.contains("oci_pypi_download_bytes_total 42"), "{text}");
        assert!(
            text.contains("# TYPE oci_pypi_http_requests_total counter"),
            "{text}"
        );
    }
}
