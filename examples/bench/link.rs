//! A network link of limited bandwidth in front of the registry: a TCP relay that passes
//! bytes each way at `rate` bytes per second (per connection, bursts of at most 1 MiB), as a
//! registry in another zone or a hosted one behind a 1 Gbit/s link would. On loopback the
//! registry answers as fast as two cores copy; behind a link, the link is what limits a
//! download, which is where most servers run.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The most bytes read (and then passed) at once.
const CHUNK: usize = 64 * 1024;
/// The most bytes the link passes ahead of its rate after it was idle.
const BURST: usize = 1024 * 1024;

/// The running relay; stops when dropped (connections in flight end with it).
pub struct Link {
    port: u16,
    task: JoinHandle<()>,
}

impl Link {
    /// Listens on a free loopback port and relays every connection to `upstream`, each way
    /// at `bits_per_second`.
    pub async fn start(upstream: SocketAddr, bits_per_second: u64) -> anyhow::Result<Self> {
        anyhow::ensure!(bits_per_second >= 8, "a link of {bits_per_second} bit/s");
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let rate = bits_per_second / 8;
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(registry) = TcpStream::connect(upstream).await {
                        relay(client, registry, rate).await;
                    }
                });
            }
        });
        Ok(Self { port, task })
    }

    /// `127.0.0.1:PORT`, the registry name oci-pypi is given.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Both directions of one connection, until either side closes.
async fn relay(client: TcpStream, registry: TcpStream, rate: u64) {
    let _ = client.set_nodelay(true);
    let _ = registry.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (registry_read, registry_write) = registry.into_split();
    tokio::select! {
        () = paced(client_read, registry_write, rate) => {}
        () = paced(registry_read, client_write, rate) => {}
    }
}

/// Copies `from` to `to` at `rate` bytes per second: each chunk is passed, then the next
/// waits until the link has carried it. Time the link was idle counts for at most `BURST`
/// bytes, so that timer slack does not slow the link down and a kept-alive connection does
/// not burst after a pause.
async fn paced(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    rate: u64,
) {
    let mut buffer = vec![0; CHUNK];
    let mut free_at = Instant::now();
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
        #[expect(
            clippy::cast_precision_loss,
            reason = "chunk sizes and rates far below 2^52: exact enough as f64"
        )]
        let carried = Duration::from_secs_f64(read as f64 / rate as f64);
        #[expect(
            clippy::cast_precision_loss,
            reason = "chunk sizes and rates far below 2^52: exact enough as f64"
        )]
        let burst = Duration::from_secs_f64(BURST as f64 / rate as f64);
        let now = Instant::now();
        free_at = free_at.max(now.checked_sub(burst).unwrap_or(now)) + carried;
        if free_at > now {
            tokio::time::sleep_until(free_at).await;
        }
    }
    let _ = to.shutdown().await;
}
