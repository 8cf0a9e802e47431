//! The processes under test: the real registry (Debian's `docker-registry`) and oci-pypi
//! release binaries, on free loopback ports, with their memory and CPU read from `/proc`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Linux's `USER_HZ`: the unit of utime and stime in `/proc/<pid>/stat`.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

static SERVERS_STARTED: AtomicUsize = AtomicUsize::new(0);

/// A child process that is killed when dropped.
pub struct Process {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        status_field(self.pid(), "VmHWM:")
    }

    /// User + system CPU seconds used so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds(self.pid())
    }

    fn log_text(&self) -> String {
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

/// Starts docker-registry (anonymous, filesystem storage under `<work_dir>/registry`) on a
/// free port.
pub async fn start_registry(bin: &Path, work_dir: &Path) -> anyhow::Result<Process> {
    let dir = work_dir.join("registry");
    let storage = dir.join("storage");
    std::fs::create_dir_all(&storage)?;
    for _ in 0..5 {
        let port = free_port()?;
        let config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  formatter: text\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: oci-pypi-bench-secret\n\
             health:\n  storagedriver:\n    enabled: false\n",
            serde_json::to_string(&storage.to_string_lossy())?,
        );
        std::fs::write(dir.join("config.yml"), config)?;
        let log = dir.join("registry.log");
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .arg(dir.join("config.yml"))
            .current_dir(&dir);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("REGISTRY_") {
                command.env_remove(key);
            }
        }
        let mut process = spawn(command, port, log, work_dir)?;
        match process.wait_ready("/v2/").await {
            Ok(()) => return Ok(process),
            Err(error) if process.log_text().contains("address already in use") => {
                eprintln!("bench: registry port {port} taken, retrying: {error:#}");
            }
            Err(error) => return Err(error),
        }
    }
    bail!("could not start the registry on a free port")
}

/// Starts the oci-pypi release binary allowed to reach `registry_origin`, with `extra` flags.
pub async fn start_server(
    bin: &Path,
    work_dir: &Path,
    registry_origin: &str,
    extra: &[&str],
) -> anyhow::Result<Process> {
    let logs = work_dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    for _ in 0..5 {
        let port = free_port()?;
        let number = SERVERS_STARTED.fetch_add(1, Ordering::Relaxed);
        let log = logs.join(format!("server-{number}.log"));
        let mut command = Command::new(bin);
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--registries", registry_origin])
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        let mut process = spawn(command, port, log, work_dir)?;
        match process.wait_ready("/health").await {
            Ok(()) => return Ok(process),
            Err(error) if process.log_text().contains("cannot listen") => {
                eprintln!("bench: server port {port} taken, retrying: {error:#}");
            }
            Err(error) => return Err(error),
        }
    }
    bail!("could not start oci-pypi on a free port")
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
    // scripts/bench.sh kills whatever is listed here if the driver dies.
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

fn status_field(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
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
        #[allow(clippy::cast_precision_loss)]
        Ok(value as f64)
    };
    Ok((ticks(11)? + ticks(12)?) / CLOCK_TICKS_PER_SECOND)
}
