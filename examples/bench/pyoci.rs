//! Phase 6 (with `--pyoci-dir`): PyOCI side by side, on the same registry, data and machine in
//! the same run. Its project pages, of the projects the page phases read (PyOCI's data and
//! oci-pypi's), through the same counting proxy; and its uploads of the transfer phases'
//! wheels, against the same straight uploads. PyOCI keeps nothing between requests: each page
//! lists the tags and GETs every release's index at once, so each of its pages is a cold one.
//!
//! PyOCI is not built here: `--pyoci-dir` is a checkout of it built with
//! `cargo build --release` (docs/benchmarks.md says which version was measured).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::pages::{self, NAMESPACE};
use crate::procs::{self, Process};
use crate::proxy::CountingProxy;
use crate::seed::Writer;
use crate::stats::mb_per_s;
use crate::transfers::{Wheel, post_upload};

/// What the PyOCI phase needs.
pub struct Pyoci<'a> {
    /// The release binary.
    pub bin: &'a Path,
    /// The checkout it is run from (for its page template).
    pub dir: &'a Path,
    pub work_dir: &'a Path,
    pub registry: &'a Process,
    pub proxy: &'a CountingProxy,
    /// Pages per project.
    pub samples: usize,
    /// Uploads per wheel.
    pub reps: usize,
    /// How long phase 5's proxy holds each request: PyOCI's page of the largest project of
    /// PyOCI's data is also measured through such a proxy (none when zero).
    pub delay: Duration,
}

/// The pages of one project through PyOCI.
pub struct PyociPages {
    pub releases: usize,
    /// Whose layout the project has: PyOCI's (`pyoci<N>`) or oci-pypi's (`project<N>`).
    pub written_by: Writer,
    pub latencies: Vec<Duration>,
    /// Registry requests per page, counted by the proxy.
    pub requests: Vec<usize>,
    /// CPU milliseconds per page: (PyOCI, registry).
    pub cpu_ms: (f64, f64),
    /// Why PyOCI could not serve the page, when it could not (then nothing else is measured).
    pub failure: Option<String>,
}

/// The uploads of one wheel through PyOCI.
pub struct PyociUploads {
    pub label: String,
    /// MB/s of each upload.
    pub rates: Vec<f64>,
    /// PyOCI's VmHWM after them, KiB.
    pub peak_kib: u64,
}

/// Everything measured through PyOCI.
pub struct PyociResult {
    pub pages: Vec<PyociPages>,
    /// The page of the largest project of PyOCI's data with the registry `delay` away.
    pub far: Option<(Duration, PyociPages)>,
    pub uploads: Vec<PyociUploads>,
}

impl Pyoci<'_> {
    /// Pages of every project size, both layouts, then uploads of every wheel.
    pub async fn run(&self, releases: &[usize], wheels: &[Wheel]) -> anyhow::Result<PyociResult> {
        let mut result = PyociResult {
            pages: Vec::new(),
            far: None,
            uploads: Vec::new(),
        };
        for &size in releases {
            eprintln!("bench: PyOCI pages with {size} releases");
            let projects = [
                (Writer::Pyoci, pages::pyoci_project_name(size)),
                (Writer::OciPypi, pages::project_name(size)),
            ];
            for (written_by, project) in projects {
                let row = self.pages(self.proxy, size, written_by, &project).await?;
                result.pages.push(row);
            }
        }
        if let (false, Some(&largest)) = (self.delay.is_zero(), releases.iter().max()) {
            eprintln!(
                "bench: PyOCI's page with the registry {:?} away",
                self.delay
            );
            let far = CountingProxy::start_with_delay(&self.registry.origin(), self.delay).await?;
            let project = pages::pyoci_project_name(largest);
            let row = self.pages(&far, largest, Writer::Pyoci, &project).await?;
            result.far = Some((self.delay, row));
        }
        for wheel in wheels {
            eprintln!("bench: uploads of {} through PyOCI", wheel.filename);
            result.uploads.push(self.uploads(wheel).await?);
        }
        Ok(result)
    }

    /// `samples` pages of `project` through one PyOCI process, its registry behind `proxy`.
    async fn pages(
        &self,
        proxy: &CountingProxy,
        releases: usize,
        written_by: Writer,
        project: &str,
    ) -> anyhow::Result<PyociPages> {
        let server = procs::start_pyoci(self.bin, self.dir, self.work_dir).await?;
        let url = format!(
            "{}/{}/{NAMESPACE}/{project}/",
            server.origin(),
            registry_segment(&proxy.origin())
        );
        let client = pages::client()?;
        let mut row = PyociPages {
            releases,
            written_by,
            latencies: Vec::new(),
            requests: Vec::new(),
            cpu_ms: (0.0, 0.0),
            failure: None,
        };
        let cpu_before = (server.cpu_seconds()?, self.registry.cpu_seconds()?);
        for _ in 0..self.samples {
            proxy.reset();
            let started = Instant::now();
            if let Err(error) = pages::fetch(&client, &url, releases).await {
                // PyOCI answers 500 for a whole project whose repository holds a tag that
                // is not a release index: recorded, not measured.
                let text = format!("{error:#}");
                row.failure = Some(text.lines().next().unwrap_or_default().to_owned());
                row.latencies.clear();
                row.requests.clear();
                return Ok(row);
            }
            row.latencies.push(started.elapsed());
            row.requests.push(proxy.take().len());
        }
        #[expect(clippy::cast_precision_loss, reason = "a few dozen pages")]
        let count = self.samples.max(1) as f64;
        row.cpu_ms = (
            (server.cpu_seconds()? - cpu_before.0) * 1000.0 / count,
            (self.registry.cpu_seconds()? - cpu_before.1) * 1000.0 / count,
        );
        Ok(row)
    }

    /// `reps` uploads of `wheel` through one fresh PyOCI process, straight to the registry,
    /// each into a repository of its own (PyOCI skips a blob the repository already has).
    async fn uploads(&self, wheel: &Wheel) -> anyhow::Result<PyociUploads> {
        let server = procs::start_pyoci(self.bin, self.dir, self.work_dir).await?;
        let registry = registry_segment(&self.registry.origin());
        let mut rates = Vec::new();
        for rep in 0..self.reps {
            let url = format!("{}/{registry}/pyoci-uploads{rep}/", server.origin());
            let seconds = post_upload(self.work_dir, &url, wheel, "PyOCI").await?;
            rates.push(mb_per_s(wheel.size, seconds));
        }
        Ok(PyociUploads {
            label: wheel.label(),
            rates,
            peak_kib: server.peak_rss_kib()?,
        })
    }
}

/// The registry as PyOCI takes it in its URLs: percent-encoded, with its scheme (PyOCI speaks
/// HTTPS to a registry named without one).
fn registry_segment(origin: &str) -> String {
    origin.replace(':', "%3A").replace('/', "%2F")
}
