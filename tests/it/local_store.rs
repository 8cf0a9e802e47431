//! The local image-layout store: a crash mid-upload leaves nothing visible, and a store moves
//! to a real registry (with skopeo, or with `oci-pypi copy-namespace`) and is then served from
//! there.

use std::time::Duration;

use anyhow::Context as _;
use reqwest::StatusCode;

use crate::harness::process::ServerProcess;
use crate::harness::{
    AuthMode, Backend, DistSpec, Registry, Sandbox, TestEnv, UploadForm, assert_exited_ok,
    assert_status, client,
};

/// Files of every `blobs/sha256` directory under `root`.
fn blob_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if dir.ends_with("blobs/sha256") {
                found.push(path);
            }
        }
    }
    found
}

/// Polls `probe` every 20 ms until it returns something, at most `timeout`.
async fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let started = std::time::Instant::now();
    while started.elapsed() < timeout {
        if let Some(found) = probe() {
            return Some(found);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// With no configuration at all (no `OCI_PYPI_*` variables, no registry flags), the binary
/// serves a local store in `./oci-pypi-data`: the README's quick start works as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_config_quick_start() -> anyhow::Result<()> {
    let cwd = tempfile::tempdir()?;
    let logs = tempfile::tempdir()?;
    let log = logs.path().join("server.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"))
        .args(["--port", &port.to_string()])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(cwd.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::options().append(true).open(&log)?)
        .kill_on_drop(true)
        .spawn()?;
    let origin = format!("http://127.0.0.1:{port}");
    let healthy = wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .await;
    let server_log = || std::fs::read_to_string(&log).unwrap_or_default();
    healthy.with_context(|| format!("oci-pypi did not start:\n{}", server_log()))?;
    let health = client().get(format!("{origin}/health")).send().await?;
    assert_eq!(health.status(), StatusCode::OK, "{}", server_log());

    // The README's quick start, with its namespace.
    let sandbox = Sandbox::new()?;
    let spec = DistSpec::new("my-package", "0.1.0");
    let wheel = sandbox.wheel(&spec).await?;
    let index = format!("{origin}/local/my-team/");
    sandbox
        .twine_upload(&index, "any", "any", &[&wheel])
        .await?
        .assert_success();
    sandbox
        .assert_pip_installs(&index, &["my-package"], &[(&spec.module(), "0.1.0")])
        .await?;

    let data = cwd.path().join("oci-pypi-data");
    let created: Vec<String> = std::fs::read_dir(cwd.path())?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    assert_eq!(created, ["oci-pypi-data"], "{}", server_log());
    assert!(data.is_dir(), "no ./oci-pypi-data:\n{}", server_log());
    let layout = data.join("my-team/my_package");
    let marker: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("oci-layout"))?)?;
    assert_eq!(marker["imageLayoutVersion"], "1.0.0");
    let index_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json"))?)?;
    let manifests = index_json["manifests"].as_array().context("manifests")?;
    assert!(
        manifests
            .iter()
            .any(|m| { m["annotations"]["org.opencontainers.image.ref.name"] == "0.1.0" }),
        "{index_json:#}"
    );
    assert_eq!(
        blob_files(&data).len(),
        blob_files(&layout).len(),
        "blobs outside the project's layout"
    );
    assert!(!blob_files(&layout).is_empty());
    // The startup log warns who may write to the store: here anyone reaching loopback.
    let log = server_log();
    assert!(
        log.lines().any(|line| line.contains("WARN")
            && line.contains(
                "the local store takes uploads, deletes, yanks and promotions from anyone"
            )),
        "{log}"
    );
    child.kill().await?;
    Ok(())
}

/// The server is killed (SIGKILL) while a wheel streams into the local store: afterwards no
/// tag, no index entry and no blob of it is visible, and the same upload then succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_upload_leaves_nothing_visible() -> anyhow::Result<()> {
    let registry = Registry::start(AuthMode::Anonymous).await?;
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    let store_text = store.display().to_string();
    let settings = [("OCI_PYPI_STORE_DIR", store_text.as_str())];
    let mut server = ServerProcess::start(&registry.origin(), &settings).await?;
    let sandbox = Sandbox::new()?;
    let spec = DistSpec::new("crashy", "1.0").payload_bytes(4 * 1024 * 1024);
    let bytes = std::fs::read(sandbox.wheel(&spec).await?)?;
    let upload = UploadForm::wheel(&spec, &bytes);
    let url = format!("{}/local/team/", server.url());
    let trickled = upload
        .clone()
        .trickle(256 * 1024, Duration::from_millis(100));
    let upload_task = tokio::spawn(client().post(&url).multipart(trickled.form()).send());
    // Kill only once bytes of the wheel have been streamed to disk, well before its end.
    let uploads = store.join(".uploads");
    let streamed = wait_for(Duration::from_secs(20), || {
        let sizes = std::fs::read_dir(&uploads)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.metadata().ok())
            .map(|metadata| metadata.len());
        sizes.max().filter(|&size| size > 0)
    })
    .await;
    server.kill().await?;
    let streamed = streamed.context("no upload bytes reached <store>/.uploads/")?;
    assert!(streamed < bytes.len() as u64, "{streamed} bytes streamed");
    assert!(
        upload_task.await?.is_err(),
        "the upload cannot have completed"
    );

    let layout = store.join("team/crashy");
    if layout.join("index.json").exists() {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json"))?)?;
        assert_eq!(
            index["manifests"].as_array().map_or(0, Vec::len),
            0,
            "{index}"
        );
    }
    assert!(blob_files(&store).is_empty(), "{:?}", blob_files(&store));

    let server = ServerProcess::start(&registry.origin(), &settings).await?;
    let url = format!("{}/local/team/", server.url());
    let response = client().post(&url).multipart(upload.form()).send().await?;
    assert_status(response, StatusCode::OK).await?;
    let file = format!(
        "{}/local/team/crashy/{}",
        server.url(),
        spec.wheel_filename()
    );
    let served = client().get(file).send().await?.bytes().await?;
    assert_eq!(served.as_ref(), bytes.as_slice());
    Ok(())
}

/// A release published into the local store, and the registry it is to move to.
struct Move {
    env: TestEnv,
    spec: DistSpec,
    /// The wheel's bytes.
    wheel: Vec<u8>,
    registry: Registry,
    user: String,
    password: String,
    /// The local store's directory.
    root: std::path::PathBuf,
}

impl Move {
    /// Publishes a wheel and an sdist of `movable` 1.0 into the local store, and starts an
    /// htpasswd registry.
    async fn prepare() -> anyhow::Result<Move> {
        let env = TestEnv::start_backend(Backend::Local).await?;
        let spec = DistSpec::new("movable", "1.0");
        let wheel = env.sandbox.wheel(&spec).await?;
        let sdist = env.sandbox.sdist(&spec).await?;
        env.twine_upload(&[&wheel, &sdist]).await?.assert_success();
        let wheel = std::fs::read(&wheel)?;
        let registry = Registry::start(AuthMode::Htpasswd).await?;
        let (user, password) = registry.credentials().unwrap();
        let crate::harness::probe::Probe::Local(root) = env.storage() else {
            unreachable!()
        };
        Ok(Move {
            env,
            spec,
            wheel,
            registry,
            user,
            password,
            root,
        })
    }

    /// After the move, the registry serves the packages through the registry backend.
    async fn check_served(&self) -> anyhow::Result<()> {
        let (registry, user, password) = (&self.registry, &self.user, &self.password);
        let server = crate::harness::Server::start_for(registry, |_| {}).await?;
        let url = format!(
            "http://{user}:{password}@{}/{}/team/python/",
            server.authority(),
            registry.host()
        );
        self.env
            .sandbox
            .assert_pip_installs(&url, &["movable"], &[(&self.spec.module(), "1.0")])
            .await?;
        let file = format!(
            "{}/{}/team/python/movable/{}",
            server.url(),
            registry.host(),
            self.spec.wheel_filename()
        );
        let served = client()
            .get(file)
            .basic_auth(user, Some(password))
            .send()
            .await?
            .bytes()
            .await?;
        assert_eq!(served.as_ref(), self.wheel.as_slice());
        Ok(())
    }
}

/// `skopeo copy --all oci:<layout>:<tag> docker://...`, a standard tool, moves a release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_to_a_registry_with_skopeo() -> anyhow::Result<()> {
    let moving = Move::prepare().await?;
    let (user, password) = (&moving.user, &moving.password);
    let source = format!(
        "oci:{}:1.0",
        moving.root.join("team/python/movable").display()
    );
    let destination = format!(
        "docker://{}/team/python/movable:1.0",
        moving.registry.host()
    );
    let output = tokio::process::Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("{user}:{password}"),
        ])
        .args([&source, &destination])
        .output()
        .await?;
    assert_exited_ok(&output);
    moving.check_served().await
}

/// `oci-pypi copy-namespace --from local/<namespace> --to <registry>/<namespace>` moves every
/// release of every project.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_to_a_registry_with_copy_namespace() -> anyhow::Result<()> {
    let moving = Move::prepare().await?;
    let registry = &moving.registry;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"))
        .args(["copy-namespace", "--json", "--from", "local/team/python"])
        .args(["--to", &format!("{}/team/python", registry.host())])
        .env("OCI_PYPI_REGISTRIES", registry.origin())
        .env("OCI_PYPI_STORE_DIR", &moving.root)
        .env("OCI_PYPI_TO_USERNAME", &moving.user)
        .env("OCI_PYPI_TO_PASSWORD", &moving.password)
        .env("OCI_PYPI_LOG_LEVEL", "warn")
        .output()
        .await?;
    let stdout = assert_exited_ok(&output);
    let report: serde_json::Value = serde_json::from_str(stdout.trim())?;
    assert_eq!(report["copied"].as_array().unwrap().len(), 2, "{report}");
    moving.check_served().await
}
