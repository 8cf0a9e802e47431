//! The real `oci-pypi` binary as a child process: for tests that need separate processes
//! (concurrent replicas), signals (graceful shutdown) or the log output.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};

pub struct ServerProcess {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts the binary allowed to reach `registry_origin`, with extra `OCI_PYPI_*` settings,
    /// and waits until `/health` answers.
    pub async fn start(registry_origin: &str, settings: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_under(&[], registry_origin, settings).await
    }

    /// [`ServerProcess::start`], the binary run by the command `wrapper` (a program and its
    /// arguments that end by running the command after them, such as `prlimit --nofile=…`).
    pub async fn start_under(
        wrapper: &[&str],
        registry_origin: &str,
        settings: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("server.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let binary = env!("CARGO_BIN_EXE_oci-pypi");
        let mut command = match wrapper.split_first() {
            None => Command::new(binary),
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary);
                command
            }
        };
        for (key, _) in std::env::vars() {
            if key.starts_with("OCI_PYPI_") || key == "PORT" {
                command.env_remove(key);
            }
        }
        command
            .env("OCI_PYPI_HOST", "127.0.0.1")
            .env("OCI_PYPI_PORT", port.to_string())
            .env("OCI_PYPI_REGISTRIES", registry_origin)
            .env("OCI_PYPI_LOG_LEVEL", "debug")
            .envs(settings.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::options().append(true).open(&log)?)
            .kill_on_drop(true);
        let child = command.spawn().context("starting oci-pypi")?;
        let server = Self {
            child,
            port,
            log,
            _dir: dir,
        };
        server.wait_healthy().await?;
        Ok(server)
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::builder().no_proxy().build()?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(response) = client.get(format!("{}/health", self.url())).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("oci-pypi did not become healthy:\n{}", self.log())
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The process id (the wrapper's, which became the server: `exec`).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) -> anyhow::Result<()> {
        let pid = self.child.id().context("the server already exited")?;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM {pid} failed");
        Ok(())
    }

    /// Kills the process at once (SIGKILL): a crash.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// Waits for the process to exit, at most `timeout`.
    pub async fn wait(&mut self, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        Ok(tokio::time::timeout(timeout, self.child.wait()).await??)
    }
}
