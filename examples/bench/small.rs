//! Phase 1d: many small files over one kept-alive connection, as an installer fetches a
//! project's dependencies. One curl process downloads the same small wheel [`DOWNLOADS`]
//! times (`-K`, one URL per download: curl keeps the connection open between them), through
//! oci-pypi (right after its project page, untimed, as an installer reads it) and straight
//! to the registry, alternating; then through a second server that reaches the registry
//! through the counting proxy, the registry requests each download costs after the page
//! (untimed: the proxy buffers bodies).
//!
//! Phase 1f: the same wheel uploaded through a server (the legacy upload API, as twine sends
//! it) to the registry and to the local store, and pushed straight to the registry as a blob.

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};

use crate::procs::{self, Process};
use crate::proxy::CountingProxy;
use crate::transfers::{NAMESPACE, Wheel, delete_release, direct_upload, post_upload, upload};

/// Downloads per timed run.
pub const DOWNLOADS: usize = 500;
/// Downloads whose registry requests are counted.
const COUNTED: usize = 100;

/// The figures of one small wheel.
pub struct SmallResult {
    pub label: String,
    /// Seconds of each run of [`DOWNLOADS`] downloads through oci-pypi.
    pub through: Vec<f64>,
    /// Seconds of each run straight to the registry.
    pub straight: Vec<f64>,
    /// Connections curl opened in all, through oci-pypi and straight.
    pub connections: (u64, u64),
    /// Registry requests per download through oci-pypi, after the project's page.
    pub registry_requests: f64,
    /// Phase 1f.
    pub uploads: SmallUploads,
}

/// A small wheel's uploads (phase 1f), in ms per upload.
#[derive(Default)]
pub struct SmallUploads {
    pub label: String,
    /// Through oci-pypi to the registry, the release removed before each.
    pub to_registry: Vec<f64>,
    /// Through oci-pypi to the local store, each into a namespace of its own.
    pub to_local_store: Vec<f64>,
    /// The same bytes pushed straight to the registry as a blob (POST, PATCH, PUT).
    pub straight: Vec<f64>,
}

/// What the phase needs.
pub struct Small<'a> {
    pub server_bin: &'a Path,
    pub work_dir: &'a Path,
    pub registry: &'a Process,
    pub proxy: &'a CountingProxy,
    pub reps: usize,
}

impl Small<'_> {
    pub async fn run(&self, wheel: &Wheel) -> anyhow::Result<SmallResult> {
        eprintln!(
            "bench: {DOWNLOADS} downloads of {} over one connection",
            wheel.filename
        );
        let registry = self.registry.origin();
        let server =
            procs::start_server(self.server_bin, self.work_dir, &registry, procs::NO_FLAGS).await?;
        upload(self.work_dir, &server, &self.registry.host(), wheel).await?;
        // The listing document is written in the background after an upload.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let file_url = |server: &Process, host: &str| {
            format!(
                "{}/{host}/{NAMESPACE}/{}/{}",
                server.origin(),
                wheel.project,
                wheel.filename
            )
        };
        let through_url = file_url(&server, &self.registry.host());
        let page = |server: &Process, host: &str| {
            format!("{}/{host}/{NAMESPACE}/{}/", server.origin(), wheel.project)
        };
        let through_page = page(&server, &self.registry.host());
        let straight_url = format!(
            "{registry}/v2/{NAMESPACE}/{}/blobs/sha256:{}",
            wheel.project, wheel.sha256
        );
        let mut result = SmallResult {
            label: format!("{} KiB", wheel.size >> 10),
            through: Vec::new(),
            straight: Vec::new(),
            connections: (0, 0),
            registry_requests: 0.0,
            uploads: SmallUploads::default(),
        };
        for _ in 0..self.reps {
            self.get_page(&through_page).await?;
            let (seconds, connections) = self.many(&through_url, wheel, DOWNLOADS).await?;
            result.through.push(seconds);
            result.connections.0 += connections;
            let (seconds, connections) = self.many(&straight_url, wheel, DOWNLOADS).await?;
            result.straight.push(seconds);
            result.connections.1 += connections;
        }
        drop(server);

        let counted = procs::start_server(
            self.server_bin,
            self.work_dir,
            &self.proxy.origin(),
            procs::NO_FLAGS,
        )
        .await?;
        let url = file_url(&counted, &self.proxy.host());
        self.get_page(&page(&counted, &self.proxy.host())).await?;
        // What the page started in the background (a listing document to write) is over.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        self.get_page(&page(&counted, &self.proxy.host())).await?;
        self.proxy.reset();
        self.many(&url, wheel, COUNTED).await?;
        #[expect(clippy::cast_precision_loss, reason = "a few hundred requests")]
        let per_download = self.proxy.take().len() as f64 / COUNTED as f64;
        result.registry_requests = per_download;
        drop(counted);
        result.uploads = self.uploads(wheel).await?;
        Ok(result)
    }

    /// Phase 1f (see the module docs), through one server that has both the registry and a
    /// local store.
    async fn uploads(&self, wheel: &Wheel) -> anyhow::Result<SmallUploads> {
        eprintln!("bench: uploads of {}", wheel.filename);
        let registry = self.registry.origin();
        let store = self.work_dir.join("local-store");
        let flags = [OsStr::new("--store-dir"), store.as_os_str()];
        let server = procs::start_server(self.server_bin, self.work_dir, &registry, &flags).await?;
        let mut result = SmallUploads {
            label: format!("{} KiB", wheel.size >> 10),
            ..SmallUploads::default()
        };
        for rep in 0..self.reps {
            delete_release(&registry, wheel).await?;
            // What the last upload left in the background (a listing document) is over.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let seconds = upload(self.work_dir, &server, &self.registry.host(), wheel).await?;
            result.to_registry.push(seconds * 1000.0);
            let local = format!("{}/local/{NAMESPACE}-{rep}/", server.origin());
            let seconds = post_upload(self.work_dir, &local, wheel, "oci-pypi").await?;
            result.to_local_store.push(seconds * 1000.0);
            let seconds = direct_upload(self.work_dir, &registry, wheel).await?;
            result.straight.push(seconds * 1000.0);
        }
        Ok(result)
    }

    /// GETs a project page.
    async fn get_page(&self, url: &str) -> anyhow::Result<()> {
        let status = crate::pages::client()?.get(url).send().await?.status();
        ensure!(status.is_success(), "{url}: HTTP {status}");
        Ok(())
    }

    /// Downloads `url` `count` times with one curl process; the seconds it took and the
    /// connections curl opened.
    async fn many(&self, url: &str, wheel: &Wheel, count: usize) -> anyhow::Result<(f64, u64)> {
        let config = self.work_dir.join("curl-many.conf");
        let entry = format!("url = \"{url}\"\noutput = \"/dev/null\"\n");
        std::fs::write(&config, entry.repeat(count))?;
        let started = Instant::now();
        let output = tokio::process::Command::new("curl")
            .args(["--noproxy", "*", "-sS", "-K"])
            .arg(&config)
            .args(["-w", "%{http_code} %{size_download} %{num_connects}\\n"])
            .output()
            .await
            .context("running curl")?;
        let seconds = started.elapsed().as_secs_f64();
        ensure!(
            output.status.success(),
            "curl -K: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        let mut connections = 0;
        let mut done = 0;
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [status, size, connects] = fields[..] else {
                anyhow::bail!("unexpected curl -w output `{line}`");
            };
            ensure!(
                status == "200" && size.parse::<u64>()? == wheel.size,
                "{url}: HTTP {status}, {size} bytes"
            );
            connections += connects.parse::<u64>()?;
            done += 1;
        }
        ensure!(done == count, "{url}: {done} of {count} downloads");
        Ok((seconds, connections))
    }
}
