//! The local image-layout store: a crash mid-upload leaves nothing visible, and a store moves
//! to a real registry (with skopeo, or with `oci-pypi copy-namespace`) and is then served from
//! there.

use std::time::Duration;

use anyhow::Context as _;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

use crate::harness::process::ServerProcess;
use crate::harness::{AuthMode, Backend, DistSpec, Registry, Sandbox, TestEnv, assert_status};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

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
    let (out, target) = sandbox.pip_install(&index, &["my-package"]).await?;
    out.assert_success();
    assert_eq!(
        sandbox.import_version(&target, &spec.module()).await?,
        "0.1.0"
    );

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
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(256 * 1024).map(|c| Ok(c.to_vec())).collect();
    let body = futures_util::StreamExt::then(futures_util::stream::iter(chunks), |chunk| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        chunk
    });
    let form = |body: reqwest::Body| {
        Form::new()
            .text(":action", "file_upload")
            .text("protocol_version", "1")
            .text("name", "crashy")
            .text("version", "1.0")
            .part(
                "content",
                Part::stream_with_length(body, bytes.len() as u64).file_name(spec.wheel_filename()),
            )
    };
    let url = format!("{}/local/team/", server.url());
    let upload = tokio::spawn(
        client()
            .post(&url)
            .multipart(form(reqwest::Body::wrap_stream(body)))
            .send(),
    );
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
    assert!(upload.await?.is_err(), "the upload cannot have completed");

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
    let response = client()
        .post(&url)
        .multipart(form(reqwest::Body::from(bytes.clone())))
        .send()
        .await?;
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

/// Publishes into the local store, then returns the environment and what was published.
async fn published_locally() -> anyhow::Result<(TestEnv, DistSpec, Vec<u8>)> {
    let env = TestEnv::start_backend(Backend::Local).await?;
    let spec = DistSpec::new("movable", "1.0");
    let wheel = env.sandbox.wheel(&spec).await?;
    let sdist = env.sandbox.sdist(&spec).await?;
    env.twine_upload(&[&wheel, &sdist]).await?.assert_success();
    let bytes = std::fs::read(&wheel)?;
    Ok((env, spec, bytes))
}

/// After the move, the registry serves the packages through the registry backend.
async fn check_served_from(
    registry: &Registry,
    spec: &DistSpec,
    wheel: &[u8],
    sandbox: &Sandbox,
) -> anyhow::Result<()> {
    let server = crate::harness::Server::start_for(registry, |_| {}).await?;
    let (user, password) = registry.credentials().unwrap();
    let url = format!(
        "http://{user}:{password}@{}/{}/team/python/",
        server.authority(),
        registry.host()
    );
    let (out, target) = sandbox.pip_install(&url, &["movable"]).await?;
    out.assert_success();
    assert_eq!(
        sandbox.import_version(&target, &spec.module()).await?,
        "1.0"
    );
    let file = format!(
        "{}/{}/team/python/movable/{}",
        server.url(),
        registry.host(),
        spec.wheel_filename()
    );
    let served = client()
        .get(file)
        .basic_auth(&user, Some(&password))
        .send()
        .await?
        .bytes()
        .await?;
    assert_eq!(served.as_ref(), wheel);
    Ok(())
}

/// `skopeo copy --all oci:<layout>:<tag> docker://...`, a standard tool, moves a release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_to_a_registry_with_skopeo() -> anyhow::Result<()> {
    let (env, spec, wheel) = published_locally().await?;
    let registry = Registry::start(AuthMode::Htpasswd).await?;
    let (user, password) = registry.credentials().unwrap();
    let crate::harness::probe::Probe::Local(root) = env.storage() else {
        unreachable!()
    };
    let source = format!("oci:{}:1.0", root.join("team/python/movable").display());
    let destination = format!("docker://{}/team/python/movable:1.0", registry.host());
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
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    check_served_from(&registry, &spec, &wheel, &env.sandbox).await
}

/// `oci-pypi copy-namespace --from local/<namespace> --to <registry>/<namespace>` moves every
/// release of every project.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_to_a_registry_with_copy_namespace() -> anyhow::Result<()> {
    let (env, spec, wheel) = published_locally().await?;
    let registry = Registry::start(AuthMode::Htpasswd).await?;
    let (user, password) = registry.credentials().unwrap();
    let crate::harness::probe::Probe::Local(root) = env.storage() else {
        unreachable!()
    };
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"))
        .args(["copy-namespace", "--json", "--from", "local/team/python"])
        .args(["--to", &format!("{}/team/python", registry.host())])
        .env("OCI_PYPI_REGISTRIES", registry.origin())
        .env("OCI_PYPI_STORE_DIR", &root)
        .env("OCI_PYPI_TO_USERNAME", &user)
        .env("OCI_PYPI_TO_PASSWORD", &password)
        .env("OCI_PYPI_LOG_LEVEL", "warn")
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim())?;
    assert_eq!(report["copied"].as_array().unwrap().len(), 2, "{report}");
    check_served_from(&registry, &spec, &wheel, &env.sandbox).await
}
