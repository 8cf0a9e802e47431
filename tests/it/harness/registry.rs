//! A real registry per test: Debian's `docker-registry` (CNCF distribution
//! 2.8) on `127.0.0.1:<free port>` with fresh temp storage, in one of three
//! auth modes, plus a [`DirectClient`] that talks to it without the proxy.
//!
//! The binary is `$OCI_PYPI_TEST_REGISTRY_BIN`, else `/usr/bin/docker-registry`
//! if present, else `docker-registry` from `PATH`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};

use super::token_server::{TokenServer, random_hex};

pub const CI_USER: &str = "ci-user";
pub const READER: &str = "reader";
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Accept header for manifests: OCI index + manifest, Docker list + manifest.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Anonymous,
    Htpasswd,
    Token,
}

pub struct Registry {
    child: Child,
    port: u16,
    mode: AuthMode,
    password: String,
    reader_password: String,
    token: Option<TokenServer>,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry and waits until it answers `GET /v2/`.
    pub async fn start(mode: AuthMode) -> anyhow::Result<Registry> {
        let password = random_hex(12);
        let reader_password = random_hex(12);
        let mut token = match mode {
            AuthMode::Token => Some(TokenServer::start_default(&password, &reader_password)?),
            _ => None,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let dir = tempfile::Builder::new()
                .prefix("oci-pypi-registry-")
                .tempdir()?;
            let port = free_port()?;
            write_config(
                dir.path(),
                port,
                mode,
                &password,
                &reader_password,
                token.as_ref(),
            )?;
            let child = spawn(dir.path())?;
            let (password, reader_password) = (password.clone(), reader_password.clone());
            let mut registry = Registry {
                child,
                port,
                mode,
                password,
                reader_password,
                token,
                dir,
            };
            match registry.wait_ready().await {
                Ok(()) => return Ok(registry),
                Err(e) if attempt < 5 && registry.log().contains("address already in use") => {
                    eprintln!("registry port {port} was taken, retrying: {e:#}");
                    token = registry.token.take();
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let url = format!("{}/v2/", self.origin());
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "docker-registry exited early ({status}); log:\n{}",
                    self.log()
                );
            }
            if http.get(&url).send().await.is_ok() {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "docker-registry did not answer {url} within {START_TIMEOUT:?}; log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// ("ci-user", random) with full rights; `None` in anonymous mode.
    pub fn credentials(&self) -> Option<(String, String)> {
        (self.mode != AuthMode::Anonymous).then(|| (CI_USER.to_string(), self.password.clone()))
    }

    /// ("reader", random): pull-only in token mode, just another user with htpasswd.
    pub fn reader_credentials(&self) -> Option<(String, String)> {
        (self.mode != AuthMode::Anonymous)
            .then(|| (READER.to_string(), self.reader_password.clone()))
    }

    /// The token server (token mode only).
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token.as_ref()
    }

    /// Everything the registry wrote to stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// A client with the main credentials.
    pub fn direct(&self) -> DirectClient {
        self.direct_as(self.credentials())
    }

    /// A client with the given credentials (`None`: anonymous; in token mode it
    /// still fetches an anonymous token, which grants nothing).
    pub fn direct_as(&self, credentials: Option<(String, String)>) -> DirectClient {
        DirectClient {
            origin: self.origin(),
            realm: self.token.as_ref().map(|t| t.realm()),
            credentials,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("reqwest client"),
            tokens: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The token server (if any) stops when its field is dropped.
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn registry_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("OCI_PYPI_TEST_REGISTRY_BIN") {
        return bin.into();
    }
    let debian = Path::new("/usr/bin/docker-registry");
    if debian.exists() {
        debian.to_path_buf()
    } else {
        PathBuf::from("docker-registry")
    }
}

fn spawn(dir: &Path) -> anyhow::Result<Child> {
    let log = std::fs::File::create(dir.join("registry.log"))?;
    let bin = registry_bin();
    let mut cmd = Command::new(&bin);
    cmd.arg("serve")
        .arg(dir.join("config.yml"))
        .current_dir(dir);
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // REGISTRY_* variables would override the config file.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("REGISTRY_") {
            cmd.env_remove(key);
        }
    }
    cmd.spawn().with_context(|| {
        format!("spawning {} (install Debian's docker-registry package or set OCI_PYPI_TEST_REGISTRY_BIN)", bin.display())
    })
}

fn write_config(
    dir: &Path,
    port: u16,
    mode: AuthMode,
    password: &str,
    reader_password: &str,
    token: Option<&TokenServer>,
) -> anyhow::Result<()> {
    let storage = dir.join("storage");
    std::fs::create_dir_all(&storage)?;
    let auth = match mode {
        AuthMode::Anonymous => String::new(),
        AuthMode::Htpasswd => {
            let mut htpasswd = String::new();
            for (user, pass) in [(CI_USER, password), (READER, reader_password)] {
                let hash =
                    bcrypt::hash_with_result(pass, 4)?.format_for_version(bcrypt::Version::TwoY);
                htpasswd.push_str(&format!("{user}:{hash}\n"));
            }
            let path = dir.join("htpasswd");
            std::fs::write(&path, htpasswd)?;
            format!(
                "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                yaml_str(&path)
            )
        }
        AuthMode::Token => {
            let token = token.context("token mode needs a token server")?;
            format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                yaml_str(token.realm()),
                token.service(),
                token.issuer(),
                yaml_str(token.cert_path()),
            )
        }
    };
    let config = format!(
        "version: 0.1\n\
         log:\n  level: warn\n  formatter: text\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: {}\n\
         health:\n  storagedriver:\n    enabled: false\n\
         {auth}",
        yaml_str(&storage),
        random_hex(16),
    );
    std::fs::write(dir.join("config.yml"), config)?;
    Ok(())
}

/// A double-quoted YAML scalar (JSON strings are valid YAML).
fn yaml_str(value: impl AsRef<std::ffi::OsStr>) -> String {
    serde_json::to_string(&value.as_ref().to_string_lossy()).expect("string serializes")
}

pub fn sha256_digest(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    format!(
        "sha256:{}",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Talks straight to the registry (Basic, or the Bearer token flow with a
/// per-scope token cache).
#[derive(Clone)]
pub struct DirectClient {
    origin: String,
    realm: Option<String>,
    credentials: Option<(String, String)>,
    http: reqwest::Client,
    tokens: Arc<Mutex<HashMap<String, String>>>,
}

impl DirectClient {
    /// Fetches a token from the token server for `scope` (token mode only).
    pub async fn token(&self, scope: &str) -> anyhow::Result<String> {
        if let Some(t) = self.tokens.lock().unwrap().get(scope) {
            return Ok(t.clone());
        }
        let realm = self.realm.as_deref().context("not a token-auth registry")?;
        let mut url = reqwest::Url::parse(realm)?;
        url.query_pairs_mut()
            .append_pair("service", super::token_server::SERVICE)
            .append_pair("scope", scope);
        let mut req = self.http.get(url);
        if let Some((u, p)) = &self.credentials {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.context("token response")?;
        if !status.is_success() {
            bail!("token server answered {status}: {body}");
        }
        let token = body["token"]
            .as_str()
            .or(body["access_token"].as_str())
            .context("no token in response")?;
        self.tokens
            .lock()
            .unwrap()
            .insert(scope.to_string(), token.to_string());
        Ok(token.to_string())
    }

    /// Sends a request to `url` (absolute, or a path like `/v2/...`) with
    /// auth for `scope` (e.g. `repository:foo:pull`); the raw response.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<reqwest::Response> {
        let url = if url.starts_with('/') {
            format!("{}{url}", self.origin)
        } else {
            url.to_string()
        };
        let mut req = self.http.request(method, &url).headers(headers);
        if self.realm.is_some() {
            req = req.bearer_auth(self.token(scope).await?);
        } else if let Some((u, p)) = &self.credentials {
            req = req.basic_auth(u, Some(p));
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        Ok(req.send().await?)
    }

    /// [`Self::send`], then: the response if its status is `ok`, `None` on
    /// 404, an error (with the body) otherwise.
    async fn expect(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        headers: &[(HeaderName, &str)],
        body: Option<Vec<u8>>,
        ok: StatusCode,
    ) -> anyhow::Result<Option<reqwest::Response>> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(name.clone(), HeaderValue::from_str(value)?);
        }
        let what = format!("{method} {url}");
        // Distribution answers a read 500 ("unknown error") when it races a write of the same
        // tag (the link file is replaced under it): reads are retried a few times.
        let reads = method == Method::GET || method == Method::HEAD;
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            let resp = self
                .send(method.clone(), url, scope, map.clone(), body.clone())
                .await?;
            if reads && resp.status() == StatusCode::INTERNAL_SERVER_ERROR && attempt < 5 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
            break resp;
        };
        match resp.status() {
            s if s == ok => Ok(Some(resp)),
            StatusCode::NOT_FOUND => Ok(None),
            s => bail!("{what}: {s}: {}", resp.text().await.unwrap_or_default()),
        }
    }

    async fn get(&self, path: &str, scope: &str) -> anyhow::Result<Option<reqwest::Response>> {
        self.expect(Method::GET, path, scope, &[], None, StatusCode::OK)
            .await
    }

    /// Tags of `repository`, without the listing document's (`0-oci-pypi.listing`, a cache of
    /// the others, checked by tests of its own: `listing_documents.rs`); empty on 404 or
    /// `"tags": null`.
    pub async fn tags(&self, repository: &str) -> anyhow::Result<Vec<String>> {
        let mut tags = self.all_tags(repository).await?;
        tags.retain(|tag| tag != oci_pypi::layout::LISTING_TAG);
        Ok(tags)
    }

    /// Every tag of `repository`; empty on 404 or `"tags": null`.
    pub async fn all_tags(&self, repository: &str) -> anyhow::Result<Vec<String>> {
        let path = format!("/v2/{repository}/tags/list");
        let Some(resp) = self.get(&path, &pull(repository)).await? else {
            return Ok(Vec::new());
        };
        Ok(string_list(
            &resp.json::<serde_json::Value>().await?["tags"],
        ))
    }

    /// All repositories (follows `Link` pagination).
    pub async fn catalog(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut next = Some("/v2/_catalog?n=1000".to_string());
        while let Some(path) = next.take() {
            let resp = self
                .get(&path, "registry:catalog:*")
                .await?
                .context("catalog 404")?;
            let link = header(&resp, "link");
            if let (Some(a), Some(b), true) = (
                link.find('<'),
                link.find('>'),
                link.contains("rel=\"next\""),
            ) {
                next = Some(link[a + 1..b].to_string());
            }
            out.extend(string_list(
                &resp.json::<serde_json::Value>().await?["repositories"],
            ));
        }
        Ok(out)
    }

    /// (content-type, Docker-Content-Digest, raw bytes); `None` on 404.
    pub async fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> anyhow::Result<Option<(String, String, Vec<u8>)>> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let accept = [(ACCEPT, MANIFEST_ACCEPT)];
        let ok = StatusCode::OK;
        let Some(resp) = self
            .expect(Method::GET, &path, &pull(repository), &accept, None, ok)
            .await?
        else {
            return Ok(None);
        };
        let (ct, digest) = (
            header(&resp, "content-type"),
            header(&resp, "docker-content-digest"),
        );
        Ok(Some((ct, digest, resp.bytes().await?.to_vec())))
    }

    /// PUT a manifest under a tag or digest; returns its digest.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<String> {
        let (computed, scope) = (sha256_digest(&body), push(repository));
        let path = format!("/v2/{repository}/manifests/{reference}");
        let ct = [(CONTENT_TYPE, media_type)];
        let created = StatusCode::CREATED;
        let resp = self.expect(Method::PUT, &path, &scope, &ct, Some(body), created);
        let resp = resp.await?.with_context(|| format!("PUT {path}: 404"))?;
        let digest = header(&resp, "docker-content-digest");
        Ok(if digest.is_empty() { computed } else { digest })
    }

    /// Deletes a manifest by digest; `false` if it did not exist.
    pub async fn delete_manifest(&self, repository: &str, digest: &str) -> anyhow::Result<bool> {
        let path = format!("/v2/{repository}/manifests/{digest}");
        let scope = format!("repository:{repository}:delete");
        let accepted = StatusCode::ACCEPTED;
        let resp = self
            .expect(Method::DELETE, &path, &scope, &[], None, accepted)
            .await?;
        Ok(resp.is_some())
    }

    /// Monolithic upload (POST, then PUT `?digest=`); returns `sha256:<hex>`.
    pub async fn push_blob(&self, repository: &str, data: Vec<u8>) -> anyhow::Result<String> {
        let digest = sha256_digest(&data);
        let (scope, path) = (push(repository), format!("/v2/{repository}/blobs/uploads/"));
        let resp = self.expect(Method::POST, &path, &scope, &[], None, StatusCode::ACCEPTED);
        let resp = resp.await?.with_context(|| format!("POST {path}: 404"))?;
        let location = header(&resp, "location");
        let mut url = reqwest::Url::parse(&self.origin)?.join(&location)?;
        url.query_pairs_mut().append_pair("digest", &digest);
        let ct = [(CONTENT_TYPE, "application/octet-stream")];
        let created = StatusCode::CREATED;
        let resp = self.expect(Method::PUT, url.as_str(), &scope, &ct, Some(data), created);
        resp.await?.context("PUT upload: 404")?;
        Ok(digest)
    }

    /// GET a blob by digest.
    pub async fn blob(&self, repository: &str, digest: &str) -> anyhow::Result<Vec<u8>> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        let resp = self.get(&path, &pull(repository)).await?;
        let resp = resp.with_context(|| format!("blob {digest} not found"))?;
        Ok(resp.bytes().await?.to_vec())
    }
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    let value = resp.headers().get(name).and_then(|v| v.to_str().ok());
    value.unwrap_or_default().to_string()
}

fn pull(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

fn push(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

fn string_list(value: &serde_json::Value) -> Vec<String> {
    let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::token_server::Access;
    use super::*;

    const EMPTY_DIGEST: &str =
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

    async fn start_timed(mode: AuthMode) -> Registry {
        let t = Instant::now();
        let registry = Registry::start(mode).await.expect("registry starts");
        eprintln!("Registry::start({mode:?}) took {:?}", t.elapsed());
        registry
    }

    /// Push blobs + manifest, tag, list, fetch, delete by digest.
    async fn round_trip(registry: &Registry, repo: &str) {
        let direct = registry.direct();
        assert_eq!(
            direct.push_blob(repo, b"{}".to_vec()).await.unwrap(),
            EMPTY_DIGEST
        );
        let layer = b"hello wheel".to_vec();
        let layer_digest = direct.push_blob(repo, layer.clone()).await.unwrap();
        assert_eq!(direct.blob(repo, &layer_digest).await.unwrap(), layer);

        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.oci-pypi.test",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY_DIGEST, "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer_digest, "size": layer.len()}],
        }))
        .unwrap();
        let digest = direct
            .put_manifest(repo, "1.0", OCI_MANIFEST, manifest.clone())
            .await
            .unwrap();
        assert_eq!(digest, sha256_digest(&manifest));
        assert_eq!(direct.tags(repo).await.unwrap(), vec!["1.0".to_string()]);
        assert!(direct.catalog().await.unwrap().contains(&repo.to_string()));
        let (ct, got_digest, bytes) = direct
            .manifest(repo, "1.0")
            .await
            .unwrap()
            .expect("manifest by tag");
        assert_eq!(
            (ct.as_str(), got_digest.as_str(), bytes.as_slice()),
            (OCI_MANIFEST, digest.as_str(), manifest.as_slice())
        );
        assert!(direct.manifest(repo, &digest).await.unwrap().is_some());
        assert!(direct.manifest(repo, "nope").await.unwrap().is_none());
        assert!(direct.tags("never/pushed").await.unwrap().is_empty());

        assert!(direct.delete_manifest(repo, &digest).await.unwrap());
        assert!(direct.tags(repo).await.unwrap().is_empty());
        assert!(direct.manifest(repo, &digest).await.unwrap().is_none());
        assert!(!direct.delete_manifest(repo, &digest).await.unwrap());
    }

    fn plain() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    async fn anonymous_status(registry: &Registry, path: &str) -> (StatusCode, String) {
        let resp = plain().get(format!("{}{path}", registry.origin())).send();
        let resp = resp.await.unwrap();
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        (resp.status(), challenge.unwrap_or_default())
    }

    #[tokio::test]
    async fn anonymous_registry_round_trip() {
        let registry = start_timed(AuthMode::Anonymous).await;
        assert!(registry.credentials().is_none());
        round_trip(&registry, "anon/pkg").await;
    }

    #[tokio::test]
    async fn htpasswd_registry_round_trip() {
        let registry = start_timed(AuthMode::Htpasswd).await;
        let (status, challenge) = anonymous_status(&registry, "/v2/ht/pkg/tags/list").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            challenge.starts_with("Basic realm=\"test-realm\""),
            "{challenge}"
        );
        round_trip(&registry, "ht/pkg").await;
        let reader = registry.direct_as(registry.reader_credentials());
        assert!(reader.tags("ht/pkg").await.unwrap().is_empty());
        let wrong = registry.direct_as(Some((CI_USER.into(), "wrong".into())));
        assert!(wrong.tags("ht/pkg").await.is_err());
    }

    #[tokio::test]
    async fn token_registry_round_trip() {
        let registry = start_timed(AuthMode::Token).await;
        let token_server = registry.token_server().unwrap();
        let (status, challenge) = anonymous_status(&registry, "/v2/tok/pkg/tags/list").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            challenge.contains(&format!("realm=\"{}\"", token_server.realm())),
            "{challenge}"
        );
        assert!(
            challenge.contains("scope=\"repository:tok/pkg:pull\""),
            "{challenge}"
        );

        round_trip(&registry, "tok/pkg").await;
        let direct = registry.direct();
        direct.push_blob("tok/pkg", b"{}".to_vec()).await.unwrap();

        // An anonymous token grants nothing: the registry still answers 401.
        let anon = registry.direct_as(None);
        let resp = anon
            .send(
                Method::GET,
                "/v2/tok/pkg/tags/list",
                "repository:tok/pkg:pull",
                HeaderMap::new(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let resp = anon
            .send(
                Method::GET,
                "/v2/_catalog",
                "registry:catalog:*",
                HeaderMap::new(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

        // "reader" may pull but not push.
        let reader = registry.direct_as(registry.reader_credentials());
        assert_eq!(reader.blob("tok/pkg", EMPTY_DIGEST).await.unwrap(), b"{}");
        let err = reader
            .push_blob("tok/pkg", b"nope".to_vec())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("401") || err.contains("403"), "{err}");
        assert!(reader.catalog().await.is_err());

        // Signatures and expiry are really checked (with 60 s of leeway).
        let catalog = [Access {
            kind: "registry".into(),
            name: "catalog".into(),
            actions: vec!["*".into()],
        }];
        let other = TokenServer::start_default("x", "y").unwrap();
        for (token, want) in [
            (
                token_server.mint(CI_USER, &catalog, 60).unwrap(),
                StatusCode::OK,
            ),
            (
                token_server.mint(CI_USER, &catalog, -120).unwrap(),
                StatusCode::UNAUTHORIZED,
            ),
            (
                other.mint(CI_USER, &catalog, 60).unwrap(),
                StatusCode::UNAUTHORIZED,
            ),
        ] {
            let url = format!("{}/v2/_catalog", registry.origin());
            let resp = plain().get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(resp.status(), want);
        }

        // Wrong password: the token server refuses.
        let wrong = registry.direct_as(Some((CI_USER.into(), "wrong".into())));
        assert!(
            wrong
                .token("repository:tok/pkg:pull")
                .await
                .unwrap_err()
                .to_string()
                .contains("401")
        );

        // Cached per scope: a second call does not hit the token server.
        direct.tags("tok/pkg").await.unwrap();
        let before = token_server.requests();
        direct.tags("tok/pkg").await.unwrap();
        direct.manifest("tok/pkg", "1.0").await.unwrap();
        assert_eq!(token_server.requests(), before);
        let log = token_server.request_log();
        assert!(
            log.iter().any(|r| r.user.as_deref() == Some(READER)
                && r.scopes == ["repository:tok/pkg:pull,push"])
        );
    }

    #[test]
    fn libtrust_key_id_format() {
        let kid = super::super::token_server::libtrust_key_id(b"anything");
        assert_eq!(kid.len(), 12 * 4 + 11);
        assert!(kid.split(':').all(|g| {
            g.len() == 4
                && g.bytes()
                    .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        }));
    }
}
