//! Phase 3: project-page latency, cold and warm, and the registry requests each page costs
//! (counted and timed by the proxy between oci-pypi and the registry).

use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::ensure;

use crate::procs::{self, Process};
use crate::proxy::{CountingProxy, Record};

/// Namespace of the seeded projects.
pub const NAMESPACE: &str = "pages";

/// A PyOCI project of one release, in [`NAMESPACE`]: the page a server serves before the
/// measured one in the warmed mode (its process warmed up, no page of the project kept).
pub const WARMUP_PROJECT: &str = "pyociwarmup";

/// A project of one release as oci-pypi writes it, with its listing document, in
/// [`NAMESPACE`]: the page a server serves before the measured one in the running-server
/// mode of oci-pypi's data (its process warmed up, the namespace known to keep documents,
/// no page of the project kept).
pub const DOCUMENTED_WARMUP_PROJECT: &str = "warmup";

/// A project of 10 releases as oci-pypi writes them, with its listing document, in
/// [`NAMESPACE`], whose newest release was uploaded as the run started: young (docs/design.md,
/// reading rule 6) for the servers started with [`YOUNG_AUDIT_INTERVAL`].
pub const YOUNG_PROJECT: &str = "recent";

/// Releases of [`YOUNG_PROJECT`].
pub const YOUNG_PROJECT_RELEASES: usize = 10;

/// `--listing-audit-interval` of the servers that read [`YOUNG_PROJECT`]: its newest release
/// stays young for the whole run.
pub const YOUNG_AUDIT_INTERVAL: &str = "3600";

/// The mode of the first pages of oci-pypi's data on a running server.
pub const COLD_WARMED: &str =
    "cold: a project's first page on a running server (after another project's page)";

/// The mode of the first pages of PyOCI's data on a fresh server.
pub const PYOCI_COLD: &str = "cold, PyOCI's data (no document, none written)";

/// The mode of the first pages of PyOCI's data on a running server.
pub const PYOCI_WARMED: &str =
    "cold, PyOCI's data, on a running server (after another project's page)";

/// What a client of the registry accepts for a manifest: release indexes and file manifests.
const ACCEPT_MANIFESTS: &str =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";

/// The mode of the requests of a first page of PyOCI's data made by curl, no server.
pub const PYOCI_STRAIGHT: &str = "PyOCI's data, no server: curl makes the same requests (tag list, one GET per release, 256 at a time)";

/// The mode of the cold pages of oci-pypi's data, through the counting proxy.
pub const COLD_COUNTED: &str = "cold: first page after a restart";

/// The same, asked for in PEP 691 JSON, as pip and uv ask for pages.
pub const COLD_JSON: &str = "cold: first page after a restart, in JSON (as pip and uv ask)";

/// What a page is asked for in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    /// HTML, as with no `Accept`.
    Html,
    /// PEP 691 JSON.
    Json,
}

/// What one page mode measured.
pub struct PageRow {
    pub mode: &'static str,
    /// Latency of each measured page, as the client saw it.
    pub latencies: Vec<Duration>,
    /// Registry requests per page (empty when not counted).
    pub requests: Vec<usize>,
    /// The slowest registry request of each page (empty when not counted).
    pub slowest: Vec<Duration>,
    /// The same requests replayed one at a time after the page: the slowest of each page.
    pub alone_slowest: Vec<Duration>,
    /// The same requests replayed one at a time after the page: their sum, per page.
    pub alone_sum: Vec<Duration>,
    /// Registry requests answered 304, in total.
    pub not_modified: usize,
    /// Registry requests, in total.
    pub total_requests: usize,
    /// CPU milliseconds per page: (oci-pypi, registry, bench process = proxy and client).
    pub cpu_ms: (f64, f64, f64),
}

/// The rows of one project size, and the server's memory after the warm rows.
pub struct PageResult {
    pub releases: usize,
    pub page_bytes: usize,
    /// The same page as sent to a client accepting gzip.
    pub gzip_bytes: usize,
    pub rows: Vec<PageRow>,
    pub warm_peak_kib: u64,
}

/// What the page phases need.
pub struct Pages<'a> {
    pub server_bin: &'a Path,
    pub work_dir: &'a Path,
    pub registry: &'a Process,
    pub proxy: &'a CountingProxy,
    pub cold_samples: usize,
    pub warm_samples: usize,
}

/// The project seeded with `releases` releases as oci-pypi writes them (and given its
/// listing document by a first server before the measurements).
pub fn project_name(releases: usize) -> String {
    format!("project{releases}")
}

/// The project seeded with `releases` releases exactly as PyOCI writes them (no listing
/// document, no sizes in the release indexes).
pub fn pyoci_project_name(releases: usize) -> String {
    format!("pyoci{releases}")
}

/// Flags of the servers that read PyOCI's data: they never write a listing document (as a
/// caller without push rights, or a registry refusing the tag), so every cold page is the
/// tag list and one GET per release.
const READ_ONLY_DOCUMENTS: &[&str] = &["--listing-documents", "read"];

impl Pages<'_> {
    /// The page URL of `project` on `server`, registry `registry_host`.
    pub fn url(server: &Process, registry_host: &str, releases: usize) -> String {
        Self::project_url(server, registry_host, &project_name(releases))
    }

    /// The page URL of any `project` on `server`, registry `registry_host`.
    pub fn project_url(server: &Process, registry_host: &str, project: &str) -> String {
        format!("{}/{registry_host}/{NAMESPACE}/{project}/", server.origin())
    }

    /// Every mode for the projects with `releases` releases.
    pub async fn run(&self, releases: usize) -> anyhow::Result<PageResult> {
        eprintln!("bench: project pages with {releases} releases");
        let mut rows = Vec::new();
        rows.push(self.cold_restarts(releases, true).await?);
        rows.push(self.cold_json_restarts(releases).await?);
        rows.push(self.cold_restarts(releases, false).await?);
        rows.push(self.cold_warmed_restarts(releases).await?);
        rows.push(self.pyoci_cold_restarts(releases).await?);
        rows.push(self.pyoci_warmed_restarts(releases).await?);
        rows.push(self.pyoci_straight(releases).await?);
        rows.push(self.revalidations(releases).await?);
        let (warm, warm_peak_kib, page_bytes) = self.warm(releases, Coding::Identity).await?;
        rows.push(warm);
        rows.push(self.warm_expiring(releases, Coding::Identity).await?);
        let (warm, _, gzip_bytes) = self.warm(releases, Coding::Gzip).await?;
        rows.push(warm);
        rows.push(self.warm_expiring(releases, Coding::Gzip).await?);
        Ok(PageResult {
            releases,
            page_bytes,
            gzip_bytes,
            rows,
            warm_peak_kib,
        })
    }

    /// The first page of a freshly started server, `cold_samples` times.
    async fn cold_restarts(&self, releases: usize, counted: bool) -> anyhow::Result<PageRow> {
        let (mode, registry) = if counted {
            (COLD_COUNTED, None)
        } else {
            (
                "cold: first page after a restart, no counting proxy",
                Some(self.registry),
            )
        };
        let project = project_name(releases);
        self.restarts(
            PageRow::new(mode),
            &project,
            releases,
            registry,
            procs::NO_FLAGS,
            (None, Ask::Html),
        )
        .await
    }

    /// As [`Pages::cold_restarts`] (counted), the page asked for in JSON.
    async fn cold_json_restarts(&self, releases: usize) -> anyhow::Result<PageRow> {
        let project = project_name(releases);
        let row = PageRow::new(COLD_JSON);
        self.restarts(
            row,
            &project,
            releases,
            None,
            procs::NO_FLAGS,
            (None, Ask::Json),
        )
        .await
    }

    /// As [`Pages::cold_restarts`] (counted), each fresh server having first served the page
    /// of [`DOCUMENTED_WARMUP_PROJECT`] (untimed, then 300 ms): a project's first page on a
    /// running server, which asks for the document alongside the tag list once it has seen
    /// one in the namespace (docs/design.md, reading rule 2), without what a new process
    /// pays once.
    async fn cold_warmed_restarts(&self, releases: usize) -> anyhow::Result<PageRow> {
        let row = PageRow::new(COLD_WARMED);
        let project = project_name(releases);
        let warmup = Some(DOCUMENTED_WARMUP_PROJECT);
        self.restarts(
            row,
            &project,
            releases,
            None,
            procs::NO_FLAGS,
            (warmup, Ask::Html),
        )
        .await
    }

    /// The first page of a freshly started server, on data PyOCI wrote, `cold_samples` times:
    /// no listing document (and none written), so the tag list and one GET per release.
    async fn pyoci_cold_restarts(&self, releases: usize) -> anyhow::Result<PageRow> {
        let row = PageRow::new(PYOCI_COLD);
        let project = pyoci_project_name(releases);
        self.restarts(
            row,
            &project,
            releases,
            None,
            READ_ONLY_DOCUMENTS,
            (None, Ask::Html),
        )
        .await
    }

    /// As [`Pages::pyoci_cold_restarts`], each fresh server having first served the page of
    /// [`WARMUP_PROJECT`] (untimed, then 300 ms for its background work): the first page of a
    /// project on a running server, without what a new process pays once (its first
    /// connections, its TLS roots, its threads). This is what compares with PyOCI, whose
    /// process keeps running and keeps no page.
    async fn pyoci_warmed_restarts(&self, releases: usize) -> anyhow::Result<PageRow> {
        let row = PageRow::new(PYOCI_WARMED);
        let project = pyoci_project_name(releases);
        let warmup = Some(WARMUP_PROJECT);
        self.restarts(
            row,
            &project,
            releases,
            None,
            READ_ONLY_DOCUMENTS,
            (warmup, Ask::Html),
        )
        .await
    }

    /// The registry requests of a first page of PyOCI's data, made by curl through the
    /// counting proxy, `cold_samples` times: the tag list and every release's index, 256 at
    /// a time. What the registry takes to answer them to a plain client that does nothing
    /// else with them (curl sends the tag list along with the GETs rather than before them,
    /// which favours it by one round trip).
    async fn pyoci_straight(&self, releases: usize) -> anyhow::Result<PageRow> {
        let mut row = PageRow::new(PYOCI_STRAIGHT);
        let base = format!(
            "{}/v2/{NAMESPACE}/{}",
            self.proxy.origin(),
            pyoci_project_name(releases)
        );
        let listed: serde_json::Value = client()?
            .get(format!("{base}/tags/list"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let tags: Vec<&str> = listed["tags"]
            .as_array()
            .map(|tags| tags.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default();
        ensure!(tags.len() == releases, "{releases} releases, tags {listed}");
        let urls = std::iter::once(format!("{base}/tags/list"))
            .chain(tags.iter().map(|tag| format!("{base}/manifests/{tag}")));
        let config = urls
            .map(|url| format!("url = \"{url}\"\noutput = \"/dev/null\""))
            .collect::<Vec<_>>()
            .join("\n");
        let path = self.work_dir.join("straight-requests.curl");
        std::fs::write(&path, config)?;
        for _ in 0..self.cold_samples {
            self.proxy.reset();
            let registry_cpu = self.registry.cpu_seconds()?;
            let started = Instant::now();
            let output = tokio::process::Command::new("curl")
                .args(["--noproxy", "*", "-sS", "-Z", "--parallel-max", "256", "-H"])
                .arg(format!("Accept: {ACCEPT_MANIFESTS}"))
                .arg("-K")
                .arg(&path)
                .output()
                .await?;
            row.latencies.push(started.elapsed());
            ensure!(
                output.status.success(),
                "curl: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            row.cpu_ms.1 += (self.registry.cpu_seconds()? - registry_cpu) * 1000.0;
            let records = self.proxy.take();
            row.requests.push(records.len());
            row.slowest
                .push(records.iter().map(|r| r.duration).max().unwrap_or_default());
            row.add_records(&records);
        }
        row.per_page(self.cold_samples);
        Ok(row)
    }

    /// The page of `project` (`files` files) on a freshly started server (with `flags`),
    /// `cold_samples` times, asked for as `ask` says; through the counting proxy unless
    /// `registry` is given; each server first serving the one-release page of `warmup`, when
    /// given (untimed, then 300 ms for its background work).
    async fn restarts(
        &self,
        mut row: PageRow,
        project: &str,
        files: usize,
        registry: Option<&Process>,
        flags: &[&str],
        (warmup, ask): (Option<&str>, Ask),
    ) -> anyhow::Result<PageRow> {
        let counted = registry.is_none();
        let (origin, host) = match registry {
            Some(registry) => (registry.origin(), registry.host()),
            None => (self.proxy.origin(), self.proxy.host()),
        };
        for _ in 0..self.cold_samples {
            let server =
                procs::start_server(self.server_bin, self.work_dir, &origin, flags).await?;
            let client = client()?;
            if let Some(warmup) = warmup {
                fetch(&client, &Self::project_url(&server, &host, warmup), 1).await?;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let url = Self::project_url(&server, &host, project);
            self.proxy.reset();
            self.measure(&mut row, &server, counted, async || match ask {
                Ask::Html => fetch(&client, &url, files).await,
                Ask::Json => fetch_json(&client, &url, files).await,
            })
            .await?;
        }
        row.per_page(self.cold_samples);
        Ok(row)
    }

    /// Pages of a server that keeps no page (`--listing-cache-ttl 0`): each one lists the tags
    /// and revalidates every release with `If-None-Match`.
    async fn revalidations(&self, releases: usize) -> anyhow::Result<PageRow> {
        let mut row = PageRow::new("ttl=0: every release revalidated (If-None-Match)");
        let server = procs::start_server(
            self.server_bin,
            self.work_dir,
            &self.proxy.origin(),
            &["--listing-cache-ttl", "0"],
        )
        .await?;
        let url = Pages::url(&server, &self.proxy.host(), releases);
        let client = client()?;
        fetch(&client, &url, releases).await?;
        for _ in 0..self.cold_samples {
            self.proxy.reset();
            self.measure(&mut row, &server, true, async || {
                fetch(&client, &url, releases).await
            })
            .await?;
        }
        row.per_page(self.cold_samples);
        Ok(row)
    }

    /// Repeated pages of one server with the default page cache (5 s), after one first load;
    /// the row, the server's peak memory and the page's size as sent.
    async fn warm(&self, releases: usize, coding: Coding) -> anyhow::Result<(PageRow, u64, usize)> {
        let mut row = PageRow::new(match coding {
            Coding::Identity => "warm: repeated requests, default ttl (5 s)",
            Coding::Gzip => "warm, as above, to a client accepting gzip",
        });
        let server = procs::start_server(
            self.server_bin,
            self.work_dir,
            &self.proxy.origin(),
            procs::NO_FLAGS,
        )
        .await?;
        let url = Pages::url(&server, &self.proxy.host(), releases);
        let client = client()?;
        let page_bytes = fetch_as(&client, &url, releases, coding).await?;
        self.proxy.reset();
        let cpu = Cpu::snapshot(&server, self.registry)?;
        for _ in 0..self.warm_samples {
            let started = Instant::now();
            fetch_as(&client, &url, releases, coding).await?;
            row.latencies.push(started.elapsed());
        }
        let records = self.proxy.take();
        row.add_records(&records);
        cpu.add_to(&mut row, &server, self.registry)?;
        row.per_page(self.warm_samples);
        Ok((row, server.peak_rss_kib()?, page_bytes))
    }

    /// Sequential requests for three seconds to a server whose pages live one second
    /// (`--listing-cache-ttl 1`): the cache expires (and is refreshed) several times during
    /// the run, and no request should wait for it.
    async fn warm_expiring(&self, releases: usize, coding: Coding) -> anyhow::Result<PageRow> {
        let mut row = PageRow::new(match coding {
            Coding::Identity => "warm, ttl 1 s expiring during 3 s of requests",
            Coding::Gzip => "warm, ttl 1 s expiring, to a client accepting gzip",
        });
        let server = procs::start_server(
            self.server_bin,
            self.work_dir,
            &self.proxy.origin(),
            &["--listing-cache-ttl", "1"],
        )
        .await?;
        let url = Pages::url(&server, &self.proxy.host(), releases);
        let client = client()?;
        fetch_as(&client, &url, releases, coding).await?;
        self.proxy.reset();
        let cpu = Cpu::snapshot(&server, self.registry)?;
        let run = Instant::now();
        while run.elapsed() < Duration::from_secs(3) {
            let started = Instant::now();
            fetch_as(&client, &url, releases, coding).await?;
            row.latencies.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let records = self.proxy.take();
        row.add_records(&records);
        cpu.add_to(&mut row, &server, self.registry)?;
        row.per_page(row.latencies.len());
        Ok(row)
    }

    /// Times one page and adds it, its registry requests and CPU use to `row`. The requests
    /// counted are those the server made for the page itself (from its `/metrics`: background
    /// work, such as reading PyOCI's file sizes once, is counted apart), and the ones timed
    /// are those that reached the registry while the page was built.
    async fn measure(
        &self,
        row: &mut PageRow,
        server: &Process,
        counted: bool,
        page: impl AsyncFn() -> anyhow::Result<usize>,
    ) -> anyhow::Result<()> {
        let before = if counted {
            request_path_requests(server).await?
        } else {
            0
        };
        let cpu = Cpu::snapshot(server, self.registry)?;
        let started = Instant::now();
        page().await?;
        let ended = Instant::now();
        row.latencies.push(ended - started);
        cpu.add_to(row, server, self.registry)?;
        let records: Vec<Record> = self
            .proxy
            .take()
            .into_iter()
            .filter(|record| record.started >= started && record.started <= ended)
            .collect();
        if counted {
            // The two counters are read apart: a background request counted in one read
            // and not the other must not wrap the difference.
            row.requests
                .push(request_path_requests(server).await?.saturating_sub(before));
            row.slowest
                .push(records.iter().map(|r| r.duration).max().unwrap_or_default());
            row.add_records(&records);
            let alone = self.proxy.replay(&records).await?;
            row.alone_slowest
                .push(alone.iter().max().copied().unwrap_or_default());
            row.alone_sum.push(alone.iter().sum());
        }
        Ok(())
    }
}

impl PageRow {
    fn new(mode: &'static str) -> Self {
        Self {
            mode,
            latencies: Vec::new(),
            requests: Vec::new(),
            slowest: Vec::new(),
            alone_slowest: Vec::new(),
            alone_sum: Vec::new(),
            not_modified: 0,
            total_requests: 0,
            cpu_ms: (0.0, 0.0, 0.0),
        }
    }

    fn add_records(&mut self, records: &[Record]) {
        self.not_modified += records.iter().filter(|r| r.status == 304).count();
        self.total_requests += records.len();
        if let Some(bad) = records.iter().find(|r| r.status >= 400) {
            eprintln!("bench: registry answered {} to {}", bad.status, bad.path);
        }
    }

    /// Turns CPU totals into per-page figures.
    fn per_page(&mut self, pages: usize) {
        #[expect(
            clippy::cast_precision_loss,
            reason = "counts and sizes far below 2^52: exact enough as f64"
        )]
        let pages = pages.max(1) as f64;
        self.cpu_ms = (
            self.cpu_ms.0 / pages,
            self.cpu_ms.1 / pages,
            self.cpu_ms.2 / pages,
        );
    }
}

/// CPU seconds of the server, the registry and this process at one moment.
struct Cpu(f64, f64, f64);

impl Cpu {
    fn snapshot(server: &Process, registry: &Process) -> anyhow::Result<Self> {
        Ok(Self(
            server.cpu_seconds()?,
            registry.cpu_seconds()?,
            procs::cpu_seconds(std::process::id())?,
        ))
    }

    fn add_to(
        &self,
        row: &mut PageRow,
        server: &Process,
        registry: &Process,
    ) -> anyhow::Result<()> {
        let now = Self::snapshot(server, registry)?;
        row.cpu_ms.0 += (now.0 - self.0) * 1000.0;
        row.cpu_ms.1 += (now.1 - self.1) * 1000.0;
        row.cpu_ms.2 += (now.2 - self.2) * 1000.0;
        Ok(())
    }
}

/// Registry requests `server` made to answer requests (all of them minus those of its
/// background work), from its `/metrics`.
pub async fn request_path_requests(server: &Process) -> anyhow::Result<usize> {
    // Both from one read of the metrics: background work (sizes learnt after a page of
    // PyOCI's data) counted between two reads would be taken off requests it never added to.
    let text = metrics_text(server).await?;
    let all = sum_of(&text, "oci_pypi_registry_requests_total");
    let background = sum_of(&text, "oci_pypi_background_registry_requests_total");
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a count or duration printed by a tool, non-negative and in range"
    )]
    Ok((all - background).max(0.0) as usize)
}

/// The sum of the samples of `server`'s metrics whose lines start with `prefix` (a name, or
/// a name and its labels).
pub async fn metric_sum(server: &Process, prefix: &str) -> anyhow::Result<f64> {
    Ok(sum_of(&metrics_text(server).await?, prefix))
}

/// `server`'s metrics, as text.
async fn metrics_text(server: &Process) -> anyhow::Result<String> {
    Ok(client()?
        .get(format!("{}/metrics", server.origin()))
        .send()
        .await?
        .text()
        .await?)
}

/// The sum of the samples in `text` whose lines start with `prefix`.
fn sum_of(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A keep-alive client that never goes through a proxy.
pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// How a page is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// Without `Accept-Encoding`.
    Identity,
    /// With `Accept-Encoding: gzip` (the page must come compressed, and is decoded here).
    Gzip,
}

/// GETs a project page (HTML, as with no `Accept`), checks it lists `files` files; its size.
pub async fn fetch(client: &reqwest::Client, url: &str, files: usize) -> anyhow::Result<usize> {
    fetch_as(client, url, files, Coding::Identity).await
}

/// GETs a project page in PEP 691 JSON, checks it lists `files` files; its size.
pub async fn fetch_json(
    client: &reqwest::Client,
    url: &str,
    files: usize,
) -> anyhow::Result<usize> {
    let response = client
        .get(url)
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    ensure!(
        status == 200,
        "GET {url} (JSON): {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let page: serde_json::Value = serde_json::from_slice(&body)?;
    let listed = page["files"].as_array().map_or(0, Vec::len);
    ensure!(
        listed == files,
        "GET {url} (JSON): {listed} files listed, wanted {files}"
    );
    Ok(body.len())
}

/// [`fetch`], asking for `coding`; the page's size as sent.
pub async fn fetch_as(
    client: &reqwest::Client,
    url: &str,
    files: usize,
    coding: Coding,
) -> anyhow::Result<usize> {
    let mut request = client.get(url);
    if coding == Coding::Gzip {
        request = request.header("accept-encoding", "gzip");
    }
    let response = request.send().await?;
    let status = response.status();
    let coded = response
        .headers()
        .get("content-encoding")
        .is_some_and(|value| value == "gzip");
    let sent = response.bytes().await?;
    let body = if coded {
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(&sent[..]).read_to_string(&mut decoded)?;
        decoded
    } else {
        String::from_utf8_lossy(&sent).into_owned()
    };
    ensure!(status == 200, "GET {url}: {status}: {body}");
    ensure!(
        coded == (coding == Coding::Gzip),
        "GET {url}: asked for {coding:?}, compressed: {coded}"
    );
    let listed = body.matches("#sha256=").count();
    ensure!(
        listed == files,
        "GET {url}: {listed} files listed, wanted {files}"
    );
    Ok(sent.len())
}
