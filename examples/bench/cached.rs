//! Phase 1b: a file of a pull-through cache (`--upstream-cache`) against a published one,
//! downloaded through the same server in one run. The upstream is a second oci-pypi serving
//! the namespace the transfer phase published the wheel in; the cache is filled by a first
//! download (timed too), then cached and published downloads alternate.

use crate::procs;
use crate::stats::mb_per_s;
use crate::transfers::{Transfers, Wheel};

/// The namespace the transfer phase leaves the wheel in (its upstream here).
const PUBLISHED: &str = "bench";
/// The namespace whose upstream is cached.
const CACHED: &str = "benchcache";

/// One wheel's figures.
pub struct CachedResult {
    pub label: String,
    /// MB/s of the first download, which fills the cache.
    pub fill: f64,
    /// MB/s of each download from the cache.
    pub cached: Vec<f64>,
    /// MB/s of each download of the published file.
    pub published: Vec<f64>,
    /// The caching server's VmHWM at the end, KiB.
    pub peak_kib: u64,
}

/// The phase runs with what the transfer phases need.
impl Transfers<'_> {
    /// Fills the cache with `wheel`, then alternates cached and published downloads.
    pub async fn run_cached(&self, wheel: &Wheel) -> anyhow::Result<CachedResult> {
        eprintln!("bench: pull-through cache of {}", wheel.filename);
        let registry = self.registry.origin();
        let host = self.registry.host();
        let upstream =
            procs::start_server(self.server_bin, self.work_dir, &registry, procs::NO_FLAGS).await?;
        let upstreams = format!("{host}/{CACHED}={}/{host}/{PUBLISHED}/", upstream.origin());
        let cache = format!("{host}/{CACHED}");
        let server = procs::start_server(
            self.server_bin,
            self.work_dir,
            &registry,
            &["--upstreams", &upstreams, "--upstream-cache", &cache],
        )
        .await?;
        let url = |namespace: &str| {
            format!(
                "{}/{host}/{namespace}/{}/{}",
                server.origin(),
                wheel.project,
                wheel.filename
            )
        };
        let fill = self.download(&url(CACHED), wheel).await?;
        let mut result = CachedResult {
            label: wheel.label(),
            fill: mb_per_s(wheel.size, fill),
            cached: Vec::new(),
            published: Vec::new(),
            peak_kib: 0,
        };
        for _ in 0..self.reps {
            let seconds = self.download(&url(CACHED), wheel).await?;
            result.cached.push(mb_per_s(wheel.size, seconds));
            let seconds = self.download(&url(PUBLISHED), wheel).await?;
            result.published.push(mb_per_s(wheel.size, seconds));
        }
        result.peak_kib = server.peak_rss_kib()?;
        Ok(result)
    }
}
