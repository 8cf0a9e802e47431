//! The oci-pypi server under test, on a free loopback port, in the test's runtime.

use std::net::SocketAddr;

use oci_pypi::config::Config;
use oci_pypi::net::Origin;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::registry::Registry;

pub struct Server {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Starts the server with `config` on `127.0.0.1:0`.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            oci_pypi::serve(listener, &config, async {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Server {
            address,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Starts a server whose allow-list holds `registry`.
    pub async fn start_for(
        registry: &Registry,
        configure: impl FnOnce(&mut Config),
    ) -> anyhow::Result<Server> {
        let mut config = Config::for_registries(vec![Origin::parse(&registry.origin())?]);
        configure(&mut config);
        Self::start(config).await
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The body of a GET of `path` (`/...`), whatever the status.
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        Ok(super::client()
            .get(format!("{}{path}", self.url()))
            .send()
            .await?
            .text()
            .await?)
    }

    /// The server's `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        self.get_text("/metrics").await
    }

    /// Waits (up to 20 s) until the server has made no background registry request for
    /// 300 ms: after an upload or a first page it learns sizes and writes listing documents
    /// in the background, which a test counting requests, or changing tags behind the
    /// server's back, wants over.
    pub async fn settled(&self) -> anyhow::Result<()> {
        let background = || async {
            let text = self.metrics().await?;
            anyhow::Ok(super::metric_sum(
                &text,
                "oci_pypi_background_registry_requests_total",
            ))
        };
        let started = std::time::Instant::now();
        let mut last = background().await?;
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let now = background().await?;
            if now == last {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "the server's background work never settled"
            );
            last = now;
        }
    }

    /// `127.0.0.1:PORT`
    pub fn authority(&self) -> String {
        self.address.to_string()
    }

    /// Stops accepting, lets requests in flight finish, and waits.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
