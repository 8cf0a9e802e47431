//! A small server of the harness (fake registry, token server, OIDC issuer, TLS front) on
//! `127.0.0.1:<free port>`, in a thread and runtime of its own so that it keeps answering
//! whatever the test's runtime does; it stops when dropped.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;

/// A listener on a free loopback port, for [`Background::serve`] or [`Background::run`]; bound
/// first so that a server can know its own address (an issuer URL, say) before it starts.
pub fn bind(what: &str) -> anyhow::Result<std::net::TcpListener> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").with_context(|| format!("binding {what}"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// The thread serving on one listener.
pub struct Background {
    address: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Serves `app` on `listener` in a single-threaded runtime, in a thread named
    /// `<name>-<port>`.
    pub fn serve(
        listener: std::net::TcpListener,
        name: &str,
        app: axum::Router,
    ) -> anyhow::Result<Background> {
        let address = listener.local_addr()?;
        let what = name.to_owned();
        Self::run(listener, name, 1, move |listener| async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("{what} on {address} failed: {error}");
            }
        })
    }

    /// Runs `serve(listener)` in a runtime of `worker_threads` (1: single-threaded), in a
    /// thread named `<name>-<port>`, until dropped. Not a graceful shutdown: idle keep-alive
    /// connections and stalled answers must not keep Drop waiting.
    pub fn run<F, Fut>(
        listener: std::net::TcpListener,
        name: &str,
        worker_threads: usize,
        serve: F,
    ) -> anyhow::Result<Background>
    where
        F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let address = listener.local_addr()?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
        let thread = std::thread::Builder::new()
            .name(format!("{name}-{}", address.port()))
            .spawn(move || {
                let runtime = if worker_threads > 1 {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(worker_threads)
                        .enable_all()
                        .build()
                } else {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                };
                let runtime = match runtime {
                    Ok(runtime) => runtime,
                    Err(error) => return drop(ready_tx.send(Err(error.into()))),
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => return drop(ready_tx.send(Err(error.into()))),
                    };
                    let _ = ready_tx.send(Ok(()));
                    tokio::select! {
                        () = serve(listener) => {},
                        _ = stopped => {}
                    }
                });
            })?;
        ready_rx
            .recv()
            .with_context(|| format!("the {name} thread died"))??;
        Ok(Background {
            address,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `127.0.0.1:PORT`
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
