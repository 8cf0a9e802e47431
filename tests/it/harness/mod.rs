//! The integration-test harness: a real registry per test, the server on a free loopback
//! port, and the real Python clients in an isolated sandbox.

pub mod background;
pub mod browser;
pub mod clients;
pub mod fake_registry;
pub mod listing;
pub mod oidc_issuer;
pub mod probe;
pub mod process;
pub mod raw;
pub mod receiver;
pub mod registry;
pub mod server;
pub mod static_index;
pub mod tls_front;
pub mod token_server;

use std::path::Path;

pub use clients::{DistSpec, Output, Sandbox};
pub use registry::{AuthMode, Registry};
pub use server::Server;

/// Where the server under test keeps packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A real registry in this auth mode.
    Registry(AuthMode),
    /// The local image-layout store.
    Local,
}

impl Backend {
    /// Whether writes need credentials.
    pub fn needs_credentials(self) -> bool {
        matches!(self, Self::Registry(AuthMode::Htpasswd | AuthMode::Token))
    }
}

/// Everything one end-to-end test needs: a registry, the server in front of it, a sandbox
/// for the clients, and a namespace of its own. With the local backend, the server also has a
/// local store in a temporary directory, and the index URLs name it (`/local/...`).
pub struct TestEnv {
    pub registry: Registry,
    pub server: Server,
    pub sandbox: Sandbox,
    pub namespace: String,
    pub backend: Backend,
    store: Option<tempfile::TempDir>,
}

impl TestEnv {
    /// A registry in `mode` and a server allowed to reach it.
    pub async fn start(mode: AuthMode) -> anyhow::Result<TestEnv> {
        Self::start_with(mode, |_| {}).await
    }

    /// Like [`TestEnv::start`], with a chance to change the server's configuration.
    pub async fn start_with(
        mode: AuthMode,
        configure: impl FnOnce(&mut oci_pypi::config::Config),
    ) -> anyhow::Result<TestEnv> {
        Self::start_backend_with(Backend::Registry(mode), configure).await
    }

    /// A server over `backend`.
    pub async fn start_backend(backend: Backend) -> anyhow::Result<TestEnv> {
        Self::start_backend_with(backend, |_| {}).await
    }

    /// Like [`TestEnv::start_backend`], with a chance to change the server's configuration.
    pub async fn start_backend_with(
        backend: Backend,
        configure: impl FnOnce(&mut oci_pypi::config::Config),
    ) -> anyhow::Result<TestEnv> {
        let mode = match backend {
            Backend::Registry(mode) => mode,
            Backend::Local => AuthMode::Anonymous,
        };
        let registry = Registry::start(mode).await?;
        let store = match backend {
            Backend::Local => Some(tempfile::tempdir()?),
            Backend::Registry(_) => None,
        };
        let store_dir = store.as_ref().map(|dir| dir.path().join("store"));
        let server = Server::start_for(&registry, |config| {
            config.local_store.store_dir = store_dir;
            configure(config);
        })
        .await?;
        Ok(TestEnv {
            registry,
            server,
            sandbox: Sandbox::new()?,
            namespace: "team/python".to_owned(),
            backend,
            store,
        })
    }

    /// Replaces the server by one configured by `configure` (same registry and store).
    pub async fn reconfigure(
        &mut self,
        configure: impl FnOnce(&mut oci_pypi::config::Config),
    ) -> anyhow::Result<()> {
        let store_dir = self.store.as_ref().map(|dir| dir.path().join("store"));
        self.server = Server::start_for(&self.registry, |config| {
            config.local_store.store_dir = store_dir;
            configure(config);
        })
        .await?;
        Ok(())
    }

    /// The main credentials, if the backend has any.
    pub fn credentials(&self) -> Option<(String, String)> {
        match self.backend {
            Backend::Registry(_) => self.registry.credentials(),
            Backend::Local => None,
        }
    }

    /// The URL's registry segment: the registry's host, or `local`.
    pub fn segment(&self) -> String {
        match self.backend {
            Backend::Registry(_) => self.registry.host(),
            Backend::Local => "local".to_owned(),
        }
    }

    /// What is stored, seen without the server.
    pub fn storage(&self) -> probe::Probe {
        match &self.store {
            Some(dir) => probe::Probe::Local(dir.path().join("store")),
            None => probe::Probe::Registry(self.registry.direct()),
        }
    }

    /// `http://127.0.0.1:P/<registry host>/<namespace>/` without credentials.
    pub fn index_url(&self) -> String {
        format!(
            "{}/{}/{}/",
            self.server.url(),
            self.segment(),
            self.namespace
        )
    }

    /// The index URL with the main credentials in it (how pip and uv are given them here).
    pub fn index_url_with_credentials(&self) -> String {
        match self.credentials() {
            Some((user, password)) => self.index_url_as(&user, &password),
            None => self.index_url(),
        }
    }

    /// The index URL with `username:password@` in it.
    pub fn index_url_as(&self, username: &str, password: &str) -> String {
        format!(
            "http://{username}:{password}@{}{}/",
            self.server.authority(),
            self.base_path()
        )
    }

    /// `twine upload` of `files` with the main credentials.
    pub async fn twine_upload(&self, files: &[&Path]) -> anyhow::Result<Output> {
        self.twine_upload_to(&self.index_url(), files).await
    }

    /// `twine upload` to a given repository URL.
    pub async fn twine_upload_to(&self, url: &str, files: &[&Path]) -> anyhow::Result<Output> {
        let (user, password) = self
            .credentials()
            .unwrap_or_else(|| ("anonymous".to_owned(), "none".to_owned()));
        self.sandbox
            .twine_upload(url, &user, &password, files)
            .await
    }

    /// `uv publish` of `files` with the main credentials.
    pub async fn uv_publish(&self, files: &[&Path]) -> anyhow::Result<Output> {
        let url = self.index_url();
        let mut args = vec![
            "publish",
            "--trusted-publishing",
            "never",
            "--publish-url",
            url.as_str(),
        ];
        // An anonymous registry ignores credentials, but uv insists on sending some.
        let (user, password) = self
            .credentials()
            .unwrap_or_else(|| ("anonymous".to_owned(), "none".to_owned()));
        args.extend(["--username", user.as_str(), "--password", password.as_str()]);
        let paths: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        args.extend(paths.iter().map(String::as_str));
        self.sandbox.uv(&args).await
    }

    /// A reqwest client request to the server, with the main credentials when `authenticated`.
    pub fn http(
        &self,
        method: reqwest::Method,
        path: &str,
        authenticated: bool,
    ) -> reqwest::RequestBuilder {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("client");
        let request = client.request(method, format!("{}{path}", self.server.url()));
        match (authenticated, self.credentials()) {
            (true, Some((user, password))) => request.basic_auth(user, Some(password)),
            _ => request,
        }
    }

    /// The path of this test's namespace on the server: `/<registry host>/<namespace>`.
    pub fn base_path(&self) -> String {
        format!("/{}/{}", self.segment(), self.namespace)
    }
}

/// Asserts that `response` answered `expected`, with its body in the message when not.
pub async fn assert_status(
    response: reqwest::Response,
    expected: reqwest::StatusCode,
) -> anyhow::Result<()> {
    assert_eq!(response.status(), expected, "{}", response.text().await?);
    Ok(())
}
