//! The processes the benchmark and the soak test drive: the real registry (Debian's
//! `docker-registry`, anonymous or behind an htpasswd file) and oci-pypi release binaries, on free
//! loopback ports, with their memory and CPU read from `/proc`. Every pid is appended to
//! `<work_dir>/pids` so that the calling script (`scripts/lib/driver.sh`) can stop what the
//! driver could not.
//!
//! Shared by `examples/bench` and `examples/soak` through `#[path]`; not an example itself.
#![allow(dead_code)] // each driver uses its own part of this

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Linux's `USER_HZ`: the unit of utime and stime in `/proc/<pid>/stat`.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// No extra server flags.
pub const NO_FLAGS: &[&str] = &[];

static SERVERS_STARTED: AtomicUsize = AtomicUsize::new(0);

/// The binaries under test and the scratch directory, as command-line flags.
#[derive(Debug, clap::Args)]
pub struct Binaries {
    /// The oci-pypi release binary.
    #[arg(long)]
    pub server_bin: PathBuf,
    /// Debian's docker-registry (CNCF distribution).
    #[arg(long, default_value = "/usr/bin/docker-registry")]
    pub registry_bin: PathBuf,
    /// Scratch directory (registry storage, logs); the caller deletes it.
    #[arg(long)]
    pub work_dir: PathBuf,
}

/// A child process that is killed when dropped.
pub struct Process {
    child: Child,
    port: u16,
    log: PathBuf,
}

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak so far.
    pub peak_kib: u64,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://{}", self.host())
    }

    /// Resident memory now and at its peak.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        Ok(Memory {
            rss_kib: status_field(&status, "VmRSS:")?,
            peak_kib: status_field(&status, "VmHWM:")?,
        })
    }

    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        Ok(self.memory()?.peak_kib)
    }

    /// User + system CPU seconds used so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds(self.pid())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `GET origin+path` answers at all.
    async fn wait_ready(&mut self, path: &str) -> anyhow::Result<()> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let url = format!("{}{path}", self.origin());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{url}: the process exited ({status}); log:\n{}",
                    self.log_text()
                );
            }
            if http.get(&url).send().await.is_ok() {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("{url} did not answer in time; log:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts docker-registry with filesystem storage under `dir` (created) on a free port; with
/// `credentials`, behind an htpasswd file holding that one user.
pub async fn start_registry(
    bin: &Path,
    dir: &Path,
    credentials: Option<(&str, &str)>,
) -> anyhow::Result<Process> {
    let storage = dir.join("storage");
    std::fs::create_dir_all(&storage)?;
    let auth = match credentials {
        None => String::new(),
        Some((user, password)) => {
            let hash =
                bcrypt::hash_with_result(password, 4)?.format_for_version(bcrypt::Version::TwoY);
            let path = dir.join("htpasswd");
            std::fs::write(&path, format!("{user}:{hash}\n"))?;
            format!(
                "auth:\n  htpasswd:\n    realm: oci-pypi-driver\n    path: {}\n",
                serde_json::to_string(&path.to_string_lossy())?
            )
        }
    };
    let work_dir = dir.parent().unwrap_or(dir);
    let launch = Launch {
        what: "the registry",
        ready: "/v2/",
        taken: "address already in use",
        work_dir,
    };
    launch
        .start(|port| {
            let config = format!(
                "version: 0.1\n\
                 log:\n  level: warn\n  formatter: text\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
                 maintenance:\n    uploadpurging:\n      enabled: false\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: oci-pypi-driver-secret\n\
                 health:\n  storagedriver:\n    enabled: false\n{auth}",
                serde_json::to_string(&storage.to_string_lossy())?,
            );
            std::fs::write(dir.join("config.yml"), config)?;
            let mut command = Command::new(bin);
            command
                .arg("serve")
                .arg(dir.join("config.yml"))
                .current_dir(dir);
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("REGISTRY_") {
                    command.env_remove(key);
                }
            }
            Ok((command, dir.join("registry.log")))
        })
        .await
}

/// Starts HAProxy (`bin`) on a free loopback port as a plain HTTP reverse proxy to
/// `registry_origin` (`http://127.0.0.1:PORT`), with its own defaults otherwise (threads, no
/// splicing), in the foreground; its config and log are under `<work_dir>/haproxy`. It answers
/// `/health` itself. The reference the bench compares oci-pypi's downloads with: what a proxy
/// built for moving bytes costs on the same machine.
pub async fn start_haproxy(
    bin: &Path,
    work_dir: &Path,
    registry_origin: &str,
) -> anyhow::Result<Process> {
    let upstream = registry_origin
        .strip_prefix("http://")
        .with_context(|| format!("HAProxy fronts plain HTTP only, not `{registry_origin}`"))?;
    let dir = work_dir.join("haproxy");
    std::fs::create_dir_all(&dir)?;
    let launch = Launch {
        what: "HAProxy",
        ready: "/health",
        taken: "cannot bind",
        work_dir,
    };
    launch
        .start(|port| {
            let config = format!(
                "defaults\n  mode http\n  timeout connect 5s\n  timeout client 120s\n  \
                 timeout server 120s\n\
                 frontend bench\n  bind 127.0.0.1:{port}\n  monitor-uri /health\n  \
                 default_backend registry\n\
                 backend registry\n  server registry {upstream}\n"
            );
            let path = dir.join("haproxy.cfg");
            std::fs::write(&path, config)?;
            let mut command = Command::new(bin);
            command.arg("-db").arg("-f").arg(&path).current_dir(&dir);
            Ok((command, dir.join("haproxy.log")))
        })
        .await
}

/// Starts the oci-pypi binary on a free loopback port, allowed to reach `registry_origin`, with
/// `extra` flags; its log is `<work_dir>/logs/server-<n>.log`.
pub async fn start_server<S: AsRef<std::ffi::OsStr>>(
    bin: &Path,
    work_dir: &Path,
    registry_origin: &str,
    extra: &[S],
) -> anyhow::Result<Process> {
    let logs = work_dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let launch = Launch {
        what: "oci-pypi",
        ready: "/health",
        taken: "cannot listen",
        work_dir,
    };
    launch
        .start(|port| {
            let mut command = Command::new(bin);
            command
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--registries", registry_origin])
                .args(extra)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default());
            let number = SERVERS_STARTED.fetch_add(1, Ordering::Relaxed);
            Ok((command, logs.join(format!("server-{number}.log"))))
        })
        .await
}

/// Starts a release build of PyOCI (`bin`) on a free port, from `dir` (its source directory:
/// it loads `templates/list-package.html` from there at start), listing every release
/// (`PYOCI_MAX_VERSIONS=0`; its default is the last 100 tags) and taking uploads up to 4 GiB
/// (`PYOCI_MAX_BODY`; its default is 50 MB). PyOCI listens on every interface (`[::]`), has no
/// setting for it; only `127.0.0.1` is asked here. Its log is `<work_dir>/logs/pyoci-<n>.log`.
pub async fn start_pyoci(bin: &Path, dir: &Path, work_dir: &Path) -> anyhow::Result<Process> {
    let logs = work_dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let launch = Launch {
        what: "PyOCI",
        ready: "/health",
        taken: "Address already in use",
        work_dir,
    };
    launch
        .start(|port| {
            let mut command = Command::new(bin);
            command
                .current_dir(dir)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("PORT", port.to_string())
                .env("RUST_LOG", "warn")
                .env("PYOCI_MAX_VERSIONS", "0")
                .env("PYOCI_MAX_BODY", (4_u64 << 30).to_string());
            let number = SERVERS_STARTED.fetch_add(1, Ordering::Relaxed);
            Ok((command, logs.join(format!("pyoci-{number}.log"))))
        })
        .await
}

/// How to start one kind of process on a free port.
struct Launch<'a> {
    /// Its name, for messages.
    what: &'a str,
    /// The path that answers once it is ready.
    ready: &'a str,
    /// What its log says when the port was taken between the check and its bind.
    taken: &'a str,
    /// Where the pids file is.
    work_dir: &'a Path,
}

impl Launch<'_> {
    /// Starts the command `make` builds for a free port (with its log file), and waits until
    /// it is ready; on another port when that one was taken meanwhile, up to five tries.
    async fn start(
        &self,
        mut make: impl FnMut(u16) -> anyhow::Result<(Command, PathBuf)>,
    ) -> anyhow::Result<Process> {
        for _ in 0..5 {
            let port = free_port()?;
            let (command, log) = make(port)?;
            let mut process = spawn(command, port, log, self.work_dir)?;
            match process.wait_ready(self.ready).await {
                Ok(()) => return Ok(process),
                Err(error) if process.log_text().contains(self.taken) => {
                    eprintln!("{} port {port} taken, retrying: {error:#}", self.what);
                }
                Err(error) => return Err(error),
            }
        }
        bail!("could not start {} on a free port", self.what)
    }
}

fn spawn(
    mut command: Command,
    port: u16,
    log: PathBuf,
    work_dir: &Path,
) -> anyhow::Result<Process> {
    let file = std::fs::File::create(&log)?;
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    let child = command
        .spawn()
        .with_context(|| format!("spawning {command:?}"))?;
    let mut pids = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(work_dir.join("pids"))?;
    writeln!(pids, "{}", child.id())?;
    Ok(Process { child, port, log })
}

/// A port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn status_field(status: &str, field: &str) -> anyhow::Result<u64> {
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .with_context(|| format!("no {field} in /proc/<pid>/status"))?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("malformed line `{line}`"))?;
    Ok(kib.parse()?)
}

/// User + system CPU seconds of any process (this one too: `std::process::id()`).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/<pid>/stat")?;
    // Fields after the name start at field 3 (state); utime and stime are fields 14 and 15.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> anyhow::Result<f64> {
        let value: u64 = fields
            .get(index)
            .context("short /proc/<pid>/stat")?
            .parse()?;
        #[expect(
            clippy::cast_precision_loss,
            reason = "counts and sizes far below 2^52: exact enough as f64"
        )]
        Ok(value as f64)
    };
    Ok((ticks(11)? + ticks(12)?) / CLOCK_TICKS_PER_SECOND)
}
