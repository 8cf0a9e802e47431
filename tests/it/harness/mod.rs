//! The integration-test harness: a real registry per test, the server on a free loopback
//! port, and the real Python clients in an isolated sandbox.

pub mod background;
pub mod browser;
pub mod clients;
pub mod fake_registry;
pub mod install;
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
pub mod upload;

use std::path::Path;

pub use clients::{DistSpec, Output, Sandbox};
pub use registry::{AuthMode, Registry};
pub use server::Server;
pub use upload::UploadForm;

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

    /// Builds `spec`'s wheel and uploads it with twine, which must succeed; the wheel.
    pub async fn publish_wheel(&self, spec: &DistSpec) -> anyhow::Result<std::path::PathBuf> {
        let wheel = self.sandbox.wheel(spec).await?;
        self.twine_upload(&[&wheel]).await?.assert_success();
        Ok(wheel)
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

    /// [`Sandbox::assert_pip_installs`] from [`TestEnv::index_url_with_credentials`].
    pub async fn assert_pip_installs(
        &self,
        names: &[&str],
        expected: &[(&str, &str)],
    ) -> anyhow::Result<std::path::PathBuf> {
        let url = self.index_url_with_credentials();
        self.sandbox
            .assert_pip_installs(&url, names, expected)
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

    /// POSTs `upload` to the namespace's upload URL, with the main credentials when
    /// `authenticated`.
    pub async fn upload(
        &self,
        upload: &UploadForm,
        authenticated: bool,
    ) -> anyhow::Result<reqwest::Response> {
        let path = format!("{}/", self.base_path());
        Ok(self
            .http(reqwest::Method::POST, &path, authenticated)
            .multipart(upload.form())
            .send()
            .await?)
    }

    /// A GET of `path`, with the main credentials when `authenticated`.
    pub async fn get(&self, path: &str, authenticated: bool) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http(reqwest::Method::GET, path, authenticated)
            .send()
            .await?)
    }

    /// A POST of `path` (a `+promote/...` URL) with the query `query` (`to`, maybe `move`),
    /// with the main credentials.
    pub async fn promote(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http(reqwest::Method::POST, path, true)
            .query(query)
            .send()
            .await?)
    }

    /// The body of a GET of `path`, whatever the status.
    pub async fn get_text(&self, path: &str, authenticated: bool) -> anyhow::Result<String> {
        Ok(self.get(path, authenticated).await?.text().await?)
    }

    /// The body of a GET of `path` as PEP 691 JSON (asked for with its `Accept`), whatever
    /// the status.
    pub async fn get_pep691(
        &self,
        path: &str,
        authenticated: bool,
    ) -> anyhow::Result<serde_json::Value> {
        Ok(self
            .http(reqwest::Method::GET, path, authenticated)
            .header(
                reqwest::header::ACCEPT,
                "application/vnd.pypi.simple.v1+json",
            )
            .send()
            .await?
            .json()
            .await?)
    }

    /// The server's `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        self.get_text("/metrics", false).await
    }
}

/// A client for servers on loopback: no proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// A client that sees redirects instead of following them, and gives up on an answer after
/// 20 s: for servers in front of a registry that may stall.
pub fn impatient_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(std::time::Duration::from_secs(20))
        .build()?)
}

/// The value of the first line of Prometheus `metrics` that starts with `line` (0 if none).
pub fn metric_value(metrics: &str, line: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(line))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The sum of the values of every line of Prometheus `metrics` that starts with `prefix`.
pub fn metric_sum(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The value of header `name` of `response`, if it has one that is text.
pub fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<&str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Asserts that `response` answered `expected`, with its body in the message when not.
pub async fn assert_status(
    response: reqwest::Response,
    expected: reqwest::StatusCode,
) -> anyhow::Result<()> {
    assert_eq!(response.status(), expected, "{}", response.text().await?);
    Ok(())
}

/// Asserts that `response` answered `expected`, with its body in the message when not; the
/// body.
pub async fn assert_status_text(
    response: reqwest::Response,
    expected: reqwest::StatusCode,
) -> anyhow::Result<String> {
    let status = response.status();
    let body = response.text().await?;
    assert_eq!(status, expected, "{body}");
    Ok(body)
}

/// Asserts that a finished command (`oci-pypi`, skopeo) exited 0, with its output in the
/// message when not; its stdout.
#[track_caller]
pub fn assert_exited_ok(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{}: {stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
