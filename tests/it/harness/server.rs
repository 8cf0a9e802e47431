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
