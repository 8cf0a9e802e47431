//! Phase 1 and 2: large files up and down, through oci-pypi and straight to the registry, with
//! the same client (curl, streaming from and to files), and the server's peak RSS per phase
//! (one fresh server process per size and direction).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use sha2::{Digest as _, Sha256};

use crate::curl;
use crate::procs::{self, Process};
use crate::stats::mb_per_s;

/// Namespace (repository prefix) of the transfer phases.
pub const NAMESPACE: &str = "bench";
/// Repository the direct uploads go to.
const DIRECT_REPOSITORY: &str = "bench/direct";

/// A wheel on disk.
pub struct Wheel {
    pub path: PathBuf,
    pub filename: String,
    pub project: String,
    pub version: String,
    pub size: u64,
    pub sha256: String,
}

impl Wheel {
    /// Reads the name and version from the filename and hashes the file.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let filename = path
            .file_name()
            .and_then(|name| name.to_str())
            .context("a wheel path without a file name")?
            .to_owned();
        let mut parts = filename.split('-');
        let (Some(project), Some(version)) = (parts.next(), parts.next()) else {
            bail!("`{filename}` is not a wheel filename");
        };
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0; 1 << 20];
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        Ok(Self {
            path: path.to_owned(),
            project: project.to_owned(),
            version: version.to_owned(),
            size: std::fs::metadata(path)?.len(),
            sha256: hex::encode(hasher.finalize()),
            filename,
        })
    }

    /// "256 MiB", "1 GiB" (of the whole file, rounded down).
    pub fn label(&self) -> String {
        if self.size >= 1 << 30 {
            format!("{} GiB", self.size >> 30)
        } else {
            format!("{} MiB", self.size >> 20)
        }
    }
}

/// One direction of one file.
pub struct DirectionResult {
    /// MB/s of each repetition through oci-pypi.
    pub proxy: Vec<f64>,
    /// MB/s of each repetition straight to the registry.
    pub direct: Vec<f64>,
    /// MB/s of each download through an oci-pypi started with `--verify-downloads` (the
    /// server hashes the bytes on the way).
    pub proxy_verified: Vec<f64>,
    /// MB/s of each download through an oci-pypi started with `--download-transfer splice`
    /// (the bytes go from socket to socket inside the kernel).
    pub proxy_spliced: Vec<f64>,
    /// CPU seconds those spliced downloads cost their server.
    pub spliced_cpu: f64,
    /// MB/s of each first download through a fresh oci-pypi (no cache): what the first
    /// downloads through a fresh server with the blob cache compare with.
    pub proxy_fresh: Vec<f64>,
    /// MB/s of each first download through a fresh oci-pypi started with `--blob-cache-dir`
    /// (an empty one), which fills its cache.
    pub cache_fills: Vec<f64>,
    /// CPU seconds those first downloads cost their servers, the fills included.
    pub fill_cpu: f64,
    /// Bytes the caches of those servers fetched again themselves, over all repetitions.
    pub fill_fetched: f64,
    /// MB/s of each first download through a fresh oci-pypi whose empty cache copies the file
    /// as it passes (`--blob-cache-copy-max` above its size).
    pub copy_fills: Vec<f64>,
    /// CPU seconds those first downloads cost their servers, the fills included.
    pub copy_fill_cpu: f64,
    /// Bytes the caches of those servers fetched themselves (a copy that fell behind).
    pub copy_fill_fetched: f64,
    /// MB/s of the second download through each of those servers, sent from its cache.
    pub proxy_cached: Vec<f64>,
    /// CPU seconds those downloads from the cache cost their server.
    pub cached_cpu: f64,
    /// MB/s of each download through HAProxy (`--haproxy`), the reference proxy: what moving
    /// the bytes through any process in between costs on this machine.
    pub via_reference: Vec<f64>,
    /// CPU seconds those downloads cost HAProxy.
    pub reference_cpu: f64,
    /// MB/s of each download through a fresh oci-pypi whose registry is behind the limited
    /// link (`--link-mbit`), and of each straight through that link.
    pub over_link: (Vec<f64>, Vec<f64>),
    /// CPU seconds the downloads through oci-pypi over the link cost their servers.
    pub over_link_cpu: f64,
    /// The server's VmHWM right after start, KiB.
    pub idle_peak_kib: u64,
    /// The server's VmHWM at the end of the phase, KiB.
    pub peak_kib: u64,
    /// CPU seconds the server used, over all repetitions through it.
    pub server_cpu: f64,
    /// CPU seconds the registry used for the transfers through oci-pypi.
    pub registry_cpu_proxied: f64,
    /// CPU seconds the registry used for the direct transfers.
    pub registry_cpu_direct: f64,
}

/// The diagnostic downloads of one repetition, each through a server of its own.
#[derive(Default)]
pub struct Extras {
    /// Seconds with `--verify-downloads`.
    verified: Option<f64>,
    /// Seconds and server CPU seconds with `--download-transfer splice`.
    spliced: Option<(f64, f64)>,
    /// Seconds of a first download through a fresh server without flags.
    fresh: Option<f64>,
    /// A first download through a fresh server with `--blob-cache-dir`.
    filled: Option<Fill>,
    /// A first download through a fresh server whose cache copies the file as it passes.
    copied: Option<Fill>,
    /// Seconds and server CPU seconds of the next download through it, from its cache.
    cached: Option<(f64, f64)>,
    /// Seconds and HAProxy CPU seconds of a download through the reference proxy.
    referenced: Option<(f64, f64)>,
    /// Over the limited link: seconds through a fresh oci-pypi and the CPU seconds it cost
    /// that server, and seconds straight.
    over_link: Option<(f64, f64, f64)>,
}

/// A first download through a fresh server with an empty blob cache.
struct Fill {
    seconds: f64,
    /// CPU seconds it cost the server until the blob was kept.
    cpu: f64,
    /// Bytes the cache fetched itself.
    fetched: f64,
}

/// Both directions of one file.
pub struct TransferResult {
    pub label: String,
    pub size: u64,
    pub upload: DirectionResult,
    pub download: DirectionResult,
}

/// What the transfer phases need.
pub struct Transfers<'a> {
    pub server_bin: &'a Path,
    pub work_dir: &'a Path,
    pub registry: &'a Process,
    /// HAProxy in front of `registry`, when the bench has one.
    pub reference: Option<&'a Process>,
    /// A link of limited bandwidth in front of `registry`, when the bench has one.
    pub link: Option<&'a crate::link::Link>,
    pub reps: usize,
}

impl Transfers<'_> {
    /// Uploads then downloads `wheel`, `reps` times each way and each path.
    pub async fn run(&self, wheel: &Wheel) -> anyhow::Result<TransferResult> {
        eprintln!(
            "bench: transfers of {} ({} bytes)",
            wheel.filename, wheel.size
        );
        let upload = self
            .phase(
                wheel,
                async |server: &Process, last: bool| {
                    let seconds = self.proxy_upload(server, wheel).await?;
                    // The listing document is brought up to date in the background after
                    // the upload: let it finish before the next transfer is timed.
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    if !last {
                        delete_release(&self.registry.origin(), wheel).await?;
                    }
                    Ok(seconds)
                },
                async || self.direct_upload(wheel).await,
                async |_server: &Process| Ok(Extras::default()),
            )
            .await?;
        let download = self
            .phase(
                wheel,
                async |server: &Process, _last: bool| self.proxy_download(server, wheel).await,
                async || self.direct_download(wheel).await,
                async |_server: &Process| {
                    // Right after the two downloads it is compared with.
                    let referenced = match self.reference {
                        Some(haproxy) => Some(self.reference_download(haproxy, wheel).await?),
                        None => None,
                    };
                    let verified = self.download_with(wheel, &["--verify-downloads"]).await?;
                    let splice = &["--download-transfer", "splice"];
                    let spliced = self.download_with(wheel, splice).await?;
                    let fresh = self.download_with(wheel, procs::NO_FLAGS).await?;
                    let (filled, cached) = self.blob_cache_downloads(wheel).await?;
                    let copy_max = (wheel.size + 1).to_string();
                    let copy_flags = ["--blob-cache-copy-max", copy_max.as_str()];
                    let (copied, server) = self.first_fill(wheel, &copy_flags).await?;
                    self.drop_cache(server, wheel);
                    let over_link = match self.link {
                        Some(link) => Some(self.link_downloads(link, wheel).await?),
                        None => None,
                    };
                    Ok(Extras {
                        over_link,
                        verified: Some(verified.0),
                        spliced: Some(spliced),
                        fresh: Some(fresh.0),
                        filled: Some(filled),
                        copied: Some(copied),
                        cached: Some(cached),
                        referenced,
                    })
                },
            )
            .await?;
        Ok(TransferResult {
            label: wheel.label(),
            size: wheel.size,
            upload,
            download,
        })
    }

    /// Runs `through` (via oci-pypi) then `straight` (to the registry) `reps` times, against
    /// one fresh server; their rates, and the CPU and memory they cost. `extra` is a
    /// diagnostic measurement through oci-pypi, left out of the CPU figures.
    async fn phase(
        &self,
        wheel: &Wheel,
        through: impl AsyncFn(&Process, bool) -> anyhow::Result<f64>,
        straight: impl AsyncFn() -> anyhow::Result<f64>,
        extra: impl AsyncFn(&Process) -> anyhow::Result<Extras>,
    ) -> anyhow::Result<DirectionResult> {
        let server = procs::start_server(
            self.server_bin,
            self.work_dir,
            &self.registry.origin(),
            procs::NO_FLAGS,
        )
        .await?;
        let mut result = DirectionResult {
            proxy: Vec::new(),
            direct: Vec::new(),
            proxy_verified: Vec::new(),
            proxy_spliced: Vec::new(),
            spliced_cpu: 0.0,
            proxy_fresh: Vec::new(),
            cache_fills: Vec::new(),
            fill_cpu: 0.0,
            fill_fetched: 0.0,
            copy_fills: Vec::new(),
            copy_fill_cpu: 0.0,
            copy_fill_fetched: 0.0,
            proxy_cached: Vec::new(),
            cached_cpu: 0.0,
            via_reference: Vec::new(),
            reference_cpu: 0.0,
            over_link: (Vec::new(), Vec::new()),
            over_link_cpu: 0.0,
            idle_peak_kib: server.peak_rss_kib()?,
            peak_kib: 0,
            server_cpu: 0.0,
            registry_cpu_proxied: 0.0,
            registry_cpu_direct: 0.0,
        };
        for rep in 0..self.reps {
            let (server_before, registry_before) =
                (server.cpu_seconds()?, self.registry.cpu_seconds()?);
            let seconds = through(&server, rep + 1 == self.reps).await?;
            result.proxy.push(mb_per_s(wheel.size, seconds));
            let registry_between = self.registry.cpu_seconds()?;
            result.server_cpu += server.cpu_seconds()? - server_before;
            result.registry_cpu_proxied += registry_between - registry_before;
            let seconds = straight().await?;
            result.direct.push(mb_per_s(wheel.size, seconds));
            result.registry_cpu_direct += self.registry.cpu_seconds()? - registry_between;
            let extras = extra(&server).await?;
            if let Some(seconds) = extras.verified {
                result.proxy_verified.push(mb_per_s(wheel.size, seconds));
            }
            if let Some((seconds, cpu)) = extras.spliced {
                result.proxy_spliced.push(mb_per_s(wheel.size, seconds));
                result.spliced_cpu += cpu;
            }
            if let Some(seconds) = extras.fresh {
                result.proxy_fresh.push(mb_per_s(wheel.size, seconds));
            }
            if let Some(fill) = extras.filled {
                result.cache_fills.push(mb_per_s(wheel.size, fill.seconds));
                result.fill_cpu += fill.cpu;
                result.fill_fetched += fill.fetched;
            }
            if let Some(fill) = extras.copied {
                result.copy_fills.push(mb_per_s(wheel.size, fill.seconds));
                result.copy_fill_cpu += fill.cpu;
                result.copy_fill_fetched += fill.fetched;
            }
            if let Some((seconds, cpu)) = extras.cached {
                result.proxy_cached.push(mb_per_s(wheel.size, seconds));
                result.cached_cpu += cpu;
            }
            if let Some((seconds, cpu)) = extras.referenced {
                result.via_reference.push(mb_per_s(wheel.size, seconds));
                result.reference_cpu += cpu;
            }
            if let Some((through, cpu, straight)) = extras.over_link {
                result.over_link.0.push(mb_per_s(wheel.size, through));
                result.over_link.1.push(mb_per_s(wheel.size, straight));
                result.over_link_cpu += cpu;
            }
        }
        result.peak_kib = server.peak_rss_kib()?;
        Ok(result)
    }

    async fn proxy_upload(&self, server: &Process, wheel: &Wheel) -> anyhow::Result<f64> {
        upload(self.work_dir, server, &self.registry.host(), wheel).await
    }

    async fn direct_upload(&self, wheel: &Wheel) -> anyhow::Result<f64> {
        direct_upload(self.work_dir, &self.registry.origin(), wheel).await
    }

    /// The file through oci-pypi.
    async fn proxy_download(&self, server: &Process, wheel: &Wheel) -> anyhow::Result<f64> {
        let url = file_url(server, &self.registry.host(), wheel);
        self.download(&url, wheel).await
    }

    /// The file through a server of its own started with `flags`: `--verify-downloads`,
    /// which hashes the bytes on the way (by default it does not: the blob is fetched by its
    /// sha256, and clients check it), to show what the check costs; `--download-transfer
    /// splice`, which moves them socket to socket in the kernel. The seconds it took and the
    /// CPU seconds it cost that server.
    async fn download_with(&self, wheel: &Wheel, flags: &[&str]) -> anyhow::Result<(f64, f64)> {
        let server = procs::start_server(
            self.server_bin,
            self.work_dir,
            &self.registry.origin(),
            flags,
        )
        .await?;
        self.timed_download(&server, wheel).await
    }

    /// Two downloads through a fresh server with an empty blob cache: the first, which fills
    /// it, and the second, from the cache (its seconds and CPU seconds).
    async fn blob_cache_downloads(&self, wheel: &Wheel) -> anyhow::Result<(Fill, (f64, f64))> {
        let (filled, server) = self.first_fill(wheel, procs::NO_FLAGS).await?;
        let cached = self.timed_download(&server, wheel).await?;
        wait_for_metric(
            &server,
            "oci_pypi_blob_cache_lookups_total{result=\"hit\"}",
            1,
        )
        .await?;
        self.drop_cache(server, wheel);
        Ok((filled, cached))
    }

    /// The directory of the blob cache of a server started by [`Self::first_fill`].
    fn cache_dir(&self, wheel: &Wheel) -> PathBuf {
        self.work_dir.join(format!("blob-cache-{}", wheel.size))
    }

    /// Stops `server` and removes its blob cache.
    fn drop_cache(&self, server: Process, wheel: &Wheel) {
        drop(server);
        let _ = std::fs::remove_dir_all(self.cache_dir(wheel));
    }

    /// The first download through a fresh server with an empty blob cache and `flags`, once
    /// the blob is kept; and that server, to be stopped with [`Self::drop_cache`].
    async fn first_fill(&self, wheel: &Wheel, flags: &[&str]) -> anyhow::Result<(Fill, Process)> {
        let cache_dir = self.cache_dir(wheel);
        let _ = std::fs::remove_dir_all(&cache_dir);
        let mut server_flags = vec!["--blob-cache-dir", cache_dir.to_str().context("a path")?];
        server_flags.extend_from_slice(flags);
        let server = procs::start_server(
            self.server_bin,
            self.work_dir,
            &self.registry.origin(),
            &server_flags,
        )
        .await?;
        let before = server.cpu_seconds()?;
        let (seconds, _) = self.timed_download(&server, wheel).await?;
        // The fill may end after the download (a large blob is fetched again, then checked
        // and kept): wait for it, and count its CPU.
        wait_for_metric(
            &server,
            "oci_pypi_blob_cache_fills_total{result=\"stored\"}",
            1,
        )
        .await?;
        let cpu = server.cpu_seconds()? - before;
        let fetched =
            crate::pages::metric_sum(&server, "oci_pypi_blob_cache_fetched_bytes_total").await?;
        Ok((
            Fill {
                seconds,
                cpu,
                fetched,
            },
            server,
        ))
    }

    /// The file through a fresh server whose registry is behind `link` (its seconds, and the
    /// CPU seconds it cost that server), then the blob straight through the link (seconds).
    async fn link_downloads(
        &self,
        link: &crate::link::Link,
        wheel: &Wheel,
    ) -> anyhow::Result<(f64, f64, f64)> {
        let server = procs::start_server(
            self.server_bin,
            self.work_dir,
            &link.origin(),
            procs::NO_FLAGS,
        )
        .await?;
        let before = server.cpu_seconds()?;
        let through = self
            .download(&file_url(&server, &link.host(), wheel), wheel)
            .await?;
        let cpu = server.cpu_seconds()? - before;
        let straight = self
            .download(&blob_url(&link.origin(), wheel), wheel)
            .await?;
        Ok((through, cpu, straight))
    }

    /// The file through `server`: the seconds it took and the CPU seconds it cost `server`.
    async fn timed_download(&self, server: &Process, wheel: &Wheel) -> anyhow::Result<(f64, f64)> {
        let before = server.cpu_seconds()?;
        let seconds = self.proxy_download(server, wheel).await?;
        Ok((seconds, server.cpu_seconds()? - before))
    }

    async fn direct_download(&self, wheel: &Wheel) -> anyhow::Result<f64> {
        self.download(&blob_url(&self.registry.origin(), wheel), wheel)
            .await
    }

    /// The blob of the direct uploads through HAProxy: the seconds it took and the CPU
    /// seconds it cost HAProxy.
    async fn reference_download(
        &self,
        haproxy: &Process,
        wheel: &Wheel,
    ) -> anyhow::Result<(f64, f64)> {
        let before = haproxy.cpu_seconds()?;
        let seconds = self
            .download(&blob_url(&haproxy.origin(), wheel), wheel)
            .await?;
        Ok((seconds, haproxy.cpu_seconds()? - before))
    }

    /// GETs `url` to /dev/null; the seconds it took.
    pub(crate) async fn download(&self, url: &str, wheel: &Wheel) -> anyhow::Result<f64> {
        let args = vec![url.to_owned()];
        let out = curl::run(self.work_dir, &args, Some(Path::new("/dev/null"))).await?;
        out.expect(200, url)?;
        ensure!(
            out.downloaded == wheel.size,
            "{url}: got {} of {} bytes",
            out.downloaded,
            wheel.size
        );
        Ok(out.seconds)
    }
}

/// Pushes `wheel`'s bytes as a blob straight to the registry at `registry` (an origin: the
/// registry, or a proxy in front of it) with curl: `POST`, one streamed `PATCH`, `PUT
/// ?digest=`; the seconds the three took.
pub async fn direct_upload(work_dir: &Path, registry: &str, wheel: &Wheel) -> anyhow::Result<f64> {
    let start = format!("{registry}/v2/{DIRECT_REPOSITORY}/blobs/uploads/");
    let post = curl::run(
        work_dir,
        &strings(&["-X", "POST", "-H", "Content-Length: 0", &start]),
        None,
    )
    .await?;
    post.expect(202, "upload session")?;
    let patch_url = post.location(registry)?;
    let file = wheel.path.to_string_lossy();
    let patch = curl::run(
        work_dir,
        &strings(&[
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/octet-stream",
            "-T",
            &file,
            &patch_url,
        ]),
        None,
    )
    .await?;
    patch.expect(202, "streamed PATCH")?;
    ensure!(
        patch.uploaded >= wheel.size,
        "curl sent only {} bytes",
        patch.uploaded
    );
    let location = patch.location(registry)?;
    let separator = if location.contains('?') { '&' } else { '?' };
    let put_url = format!("{location}{separator}digest=sha256:{}", wheel.sha256);
    let put = curl::run(
        work_dir,
        &strings(&["-X", "PUT", "-H", "Content-Length: 0", &put_url]),
        None,
    )
    .await?;
    put.expect(201, "commit")?;
    Ok(post.seconds + patch.seconds + put.seconds)
}

/// Removes the release index of `wheel` (and so its tag) from the registry at `registry`, so
/// that the next upload stores it again; nothing when there is none.
pub async fn delete_release(registry: &str, wheel: &Wheel) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().no_proxy().build()?;
    let url = format!(
        "{registry}/v2/{NAMESPACE}/{}/manifests/{}",
        wheel.project, wheel.version
    );
    let head = http
        .head(&url)
        .header("accept", "application/vnd.oci.image.index.v1+json")
        .send()
        .await?;
    if head.status() == 404 {
        return Ok(());
    }
    let digest = head
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .with_context(|| format!("HEAD {url}: {} without a digest", head.status()))?
        .to_owned();
    let manifests = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    let deleted = http.delete(format!("{manifests}/{digest}")).send().await?;
    ensure!(
        deleted.status() == 202,
        "DELETE {digest}: {}",
        deleted.status()
    );
    Ok(())
}

/// Uploads `wheel` through `server` into namespace `bench` of the registry named `host` (the
/// legacy upload API, as twine sends it, with curl); the seconds it took.
pub async fn upload(
    work_dir: &Path,
    server: &Process,
    host: &str,
    wheel: &Wheel,
) -> anyhow::Result<f64> {
    let url = format!("{}/{host}/{NAMESPACE}/", server.origin());
    post_upload(work_dir, &url, wheel, "oci-pypi").await
}

/// POSTs `wheel` to the upload URL `url` of `server_name` with curl (the legacy upload API,
/// as twine sends it); the seconds it took.
pub async fn post_upload(
    work_dir: &Path,
    url: &str,
    wheel: &Wheel,
    server_name: &str,
) -> anyhow::Result<f64> {
    let fields = [
        ":action=file_upload".to_owned(),
        "protocol_version=1".to_owned(),
        format!("name={}", wheel.project),
        format!("version={}", wheel.version),
        format!("sha256_digest={}", wheel.sha256),
        format!(
            "content=@{};filename={};type=application/octet-stream",
            wheel.path.display(),
            wheel.filename
        ),
    ];
    let mut args: Vec<String> = Vec::new();
    for field in fields {
        args.push("-F".to_owned());
        args.push(field);
    }
    args.push(url.to_owned());
    let out = curl::run(work_dir, &args, None).await?;
    out.expect(200, &format!("upload through {server_name}"))?;
    ensure!(
        out.uploaded >= wheel.size,
        "curl sent only {} bytes",
        out.uploaded
    );
    Ok(out.seconds)
}

/// Waits (up to two minutes) until the metric `line` of `server` is at least `count`.
async fn wait_for_metric(server: &Process, line: &str, count: usize) -> anyhow::Result<()> {
    #[expect(clippy::cast_precision_loss, reason = "a handful of downloads")]
    let count = count as f64;
    let mut value = 0.0;
    for _ in 0..1200 {
        value = crate::pages::metric_sum(server, line).await?;
        if value >= count {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("{line} is {value}, not {count}")
}

/// The URL of the blob of the direct uploads at `origin` (the registry, or a proxy or link in
/// front of it).
fn blob_url(origin: &str, wheel: &Wheel) -> String {
    format!(
        "{origin}/v2/{DIRECT_REPOSITORY}/blobs/sha256:{}",
        wheel.sha256
    )
}

/// The URL of `wheel` through `server`, whose registry is `registry_host`.
fn file_url(server: &Process, registry_host: &str, wheel: &Wheel) -> String {
    format!(
        "{}/{registry_host}/{NAMESPACE}/{}/{}",
        server.origin(),
        wheel.project,
        wheel.filename
    )
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}
