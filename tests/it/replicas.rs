//! Several server processes in front of one registry: no lost uploads when they race, a
//! graceful shutdown that lets an upload finish, and logs that never carry a credential.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};

use crate::harness::listing::eventually;
use crate::harness::process::ServerProcess;
use crate::harness::raw;
use crate::harness::{AuthMode, DistSpec, Registry, Sandbox, UploadForm, assert_status, client};

/// 16 CI jobs upload 16 different wheels of one version at the same moment, through two
/// server processes: every one is listed and downloadable afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_uploads_through_two_processes_are_all_kept() -> anyhow::Result<()> {
    let registry = Registry::start(AuthMode::Token).await?;
    let (user, password) = registry.credentials().unwrap();
    let servers = [
        ServerProcess::start(&registry.origin(), &[]).await?,
        ServerProcess::start(&registry.origin(), &[]).await?,
    ];
    race_sixteen_uploads(&servers, &registry.host(), Some((&user, &password))).await?;
    let direct = registry.direct();
    let (_, _, index) = direct.manifest("ci/racy", "1.0").await?.unwrap();
    let index: serde_json::Value = serde_json::from_slice(&index)?;
    assert_eq!(index["manifests"].as_array().unwrap().len(), 16);
    // Both processes wrote the listing document at once too: it ends up recording the
    // release exactly as its tag holds it, all 16 files.
    let direct = &direct;
    let index = &index;
    eventually("the listing document records the 16 files", || async move {
        let stored = direct.listing("ci/racy").await?;
        Ok(stored.and_then(|s| s.index("1.0")).as_ref() == Some(index))
    })
    .await?;
    Ok(())
}

/// The same race with the local store: two processes sharing one store directory (file
/// locks and atomic renames instead of the registry's protocol) keep all 16 files.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_uploads_into_a_shared_local_store_are_all_kept() -> anyhow::Result<()> {
    let registry = Registry::start(AuthMode::Anonymous).await?;
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store").display().to_string();
    let settings = [("OCI_PYPI_STORE_DIR", store.as_str())];
    let servers = [
        ServerProcess::start(&registry.origin(), &settings).await?,
        ServerProcess::start(&registry.origin(), &settings).await?,
    ];
    race_sixteen_uploads(&servers, "local", None).await
}

/// Uploads 16 wheels of `racy` 1.0 to `/<segment>/ci/` at once, alternating between the two
/// servers; then each is listed by the first and downloads byte for byte from the other.
async fn race_sixteen_uploads(
    servers: &[ServerProcess; 2],
    segment: &str,
    credentials: Option<(&str, &str)>,
) -> anyhow::Result<()> {
    let authenticate = |request: reqwest::RequestBuilder| match credentials {
        Some((user, password)) => request.basic_auth(user, Some(password)),
        None => request,
    };
    let sandbox = Sandbox::new()?;
    let mut wheels = Vec::new();
    for i in 0..16 {
        let spec = DistSpec::new("racy", "1.0").tag(&format!("py3-none-plat{i}"));
        let path = sandbox.wheel(&spec).await?;
        wheels.push((spec.wheel_filename(), std::fs::read(path)?));
    }
    let base = format!("/{segment}/ci/racy");
    let uploads = wheels.iter().enumerate().map(|(i, (filename, bytes))| {
        let url = format!("{}/{segment}/ci/", servers[i % 2].url());
        let form = UploadForm::new("racy", "1.0", filename, bytes).sha256();
        let request = authenticate(client().post(url)).multipart(form.form());
        async move { request.send().await }
    });
    for response in futures_util::future::join_all(uploads).await {
        let response = response?;
        assert_status(response, StatusCode::OK).await?;
    }

    // An upload through one replica is on the other's pages within the page cache's TTL
    // (the first server may hold the page as its own uploads left it).
    let page_url = format!("{}{base}/", servers[0].url());
    eventually("the first server lists all 16 wheels", || {
        let request = authenticate(client().get(&page_url));
        let wheels = &wheels;
        async move {
            let page = request.send().await?.text().await?;
            Ok(wheels
                .iter()
                .all(|(filename, _)| page.contains(filename.as_str())))
        }
    })
    .await?;
    for (i, (filename, bytes)) in wheels.iter().enumerate() {
        let url = format!("{}{base}/{filename}", servers[(i + 1) % 2].url());
        let response = authenticate(client().get(url)).send().await?;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.bytes().await?.as_ref(), bytes.as_slice());
    }
    Ok(())
}

/// SIGTERM while an upload is streaming: new connections are refused at once, while the
/// upload still completes and is stored; then the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_upload_finish() -> anyhow::Result<()> {
    let registry = Registry::start(AuthMode::Anonymous).await?;
    let mut server = ServerProcess::start(&registry.origin(), &[]).await?;
    let sandbox = Sandbox::new()?;
    let spec = DistSpec::new("graceful", "1.0").payload_bytes(2 * 1024 * 1024);
    let bytes = std::fs::read(sandbox.wheel(&spec).await?)?;
    // A body that trickles in over about three seconds.
    let form = UploadForm::wheel(&spec, &bytes)
        .trickle(64 * 1024, Duration::from_millis(100))
        .form();
    let url = format!("{}/{}/ci/", server.url(), registry.host());
    let upload = tokio::spawn(client().post(url).multipart(form).send());
    wait_for_uploads_in_flight(&server).await?;
    server.terminate()?;
    let refused_after = connection_refused_within(&server, Duration::from_secs(2)).await?;
    assert!(
        !upload.is_finished(),
        "the upload ended before the listener closed ({refused_after:?} after SIGTERM)"
    );
    let late = client()
        .get(format!("{}/health", server.url()))
        .send()
        .await;
    assert!(
        late.as_ref().is_err_and(reqwest::Error::is_connect),
        "a request after SIGTERM: {late:?}"
    );
    let response = upload.await??;
    assert_eq!(response.status(), StatusCode::OK, "{}", server.log());
    let status = server.wait(Duration::from_secs(10)).await?;
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        registry.direct().tags("ci/graceful").await?,
        vec!["1.0".to_owned()]
    );
    let stored = registry
        .direct()
        .manifest("ci/graceful", "1.0")
        .await?
        .unwrap()
        .2;
    assert!(String::from_utf8_lossy(&stored).contains(&hex::encode(Sha256::digest(&bytes))));
    Ok(())
}

/// An upload that stalls halfway holds the process after SIGTERM for the grace period
/// (`OCI_PYPI_SHUTDOWN_GRACE`) and no longer: it then exits, leaving no release behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_on_a_stalled_upload_after_the_grace_period() -> anyhow::Result<()> {
    const GRACE: Duration = Duration::from_secs(2);
    let registry = Registry::start(AuthMode::Anonymous).await?;
    let grace = GRACE.as_secs().to_string();
    let settings = [("OCI_PYPI_SHUTDOWN_GRACE", grace.as_str())];
    let mut server = ServerProcess::start(&registry.origin(), &settings).await?;
    let sandbox = Sandbox::new()?;
    let spec = DistSpec::new("stalled", "1.0").payload_bytes(256 * 1024);
    let bytes = std::fs::read(sandbox.wheel(&spec).await?)?;
    let _stalled = send_half_an_upload(&server, &registry, &spec.wheel_filename(), &bytes).await?;
    wait_for_uploads_in_flight(&server).await?;
    server.terminate()?;
    let signalled = Instant::now();
    let status = server.wait(GRACE + Duration::from_secs(5)).await;
    let waited = signalled.elapsed();
    let status = status.map_err(|_| {
        anyhow::anyhow!(
            "still running {waited:?} after SIGTERM with a {GRACE:?} grace:\n{}",
            server.log()
        )
    })?;
    assert!(status.success(), "exit status {status}");
    assert!(
        waited + Duration::from_millis(300) >= GRACE,
        "exited after {waited:?}, before the {GRACE:?} grace was over"
    );
    assert!(server.log().contains("exiting anyway"), "{}", server.log());
    assert!(registry.direct().tags("ci/stalled").await?.is_empty());
    Ok(())
}

/// Opens a connection and sends an upload's headers (with the full `Content-Length`) and half
/// its body; the connection stays open, silent, as long as the stream is kept.
async fn send_half_an_upload(
    server: &ServerProcess,
    registry: &Registry,
    filename: &str,
    bytes: &[u8],
) -> anyhow::Result<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt as _;
    let body = UploadForm::new("stalled", "1.0", filename, bytes).raw();
    let authority = server.url().trim_start_matches("http://").to_owned();
    let path = format!("/{}/ci/", registry.host());
    let framing = format!("Content-Length: {}", body.len());
    let head = raw::multipart_head(&authority, &path, None, &framing);
    let mut stream = tokio::net::TcpStream::connect(&authority).await?;
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body[..body.len() / 2]).await?;
    stream.flush().await?;
    Ok(stream)
}

/// Waits until the server counts an upload in flight (its handler is reading the body).
async fn wait_for_uploads_in_flight(server: &ServerProcess) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let metrics = client()
            .get(format!("{}/metrics", server.url()))
            .send()
            .await?
            .text()
            .await?;
        if metrics
            .lines()
            .any(|line| line == "oci_pypi_uploads_in_flight 1")
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("no upload in flight:\n{}", server.log())
}

/// How long after now the server's port refuses connections, polling up to `limit`.
async fn connection_refused_within(
    server: &ServerProcess,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let authority = server.url().trim_start_matches("http://").to_owned();
    let started = Instant::now();
    while started.elapsed() < limit {
        match tokio::net::TcpStream::connect(&authority).await {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Ok(started.elapsed());
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    anyhow::bail!("connections were still accepted {limit:?} after SIGTERM")
}

/// With debug logging on, neither passwords, tokens nor Authorization values appear in the
/// log, whatever the outcome of the requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_carry_credentials() -> anyhow::Result<()> {
    let registry = Registry::start(AuthMode::Token).await?;
    let (user, password) = registry.credentials().unwrap();
    let server = ServerProcess::start(&registry.origin(), &[]).await?;
    let sandbox = Sandbox::new()?;
    let spec = DistSpec::new("secretive", "1.0");
    let bytes = std::fs::read(sandbox.wheel(&spec).await?)?;
    let base = format!("{}/{}/ci", server.url(), registry.host());
    let form = UploadForm::wheel(&spec, &bytes).sha256();
    let ok = client()
        .post(format!("{base}/"))
        .basic_auth(&user, Some(&password))
        .multipart(form.form())
        .send()
        .await?;
    assert_eq!(ok.status(), StatusCode::OK);
    let wrong = "wrong-password-4f1c";
    for (who, secret) in [
        (user.as_str(), password.as_str()),
        (user.as_str(), wrong),
        ("__token__", wrong),
    ] {
        for path in [
            "secretive/",
            "secretive/json",
            "nothing-here/",
            &format!("secretive/{}", spec.wheel_filename()),
        ] {
            client()
                .get(format!("{base}/{path}"))
                .basic_auth(who, Some(secret))
                .send()
                .await?;
        }
    }
    let log = server.log();
    assert!(
        log.contains("secretive"),
        "the log should show the traffic:\n{log}"
    );
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    for secret in [
        password.as_str(),
        wrong,
        basic.as_str(),
        "Basic ",
        "Bearer ",
        "eyJ",
    ] {
        assert!(
            !log.contains(secret),
            "`{secret}` appears in the log:\n{log}"
        );
    }
    Ok(())
}

/// A release that lists a file whose manifest is gone: what a delete leaves when a writer
/// that read the release before it overwrites it after the delete removed the manifest (two
/// replicas under load). CNCF distribution refuses every index that lists the missing
/// manifest (`400 MANIFEST_BLOB_UNKNOWN`), so every later upload to the release failed with
/// 502. The next upload now leaves that file out and is stored; the deleted file stays
/// deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_listing_a_deleted_files_manifest_takes_new_uploads() -> anyhow::Result<()> {
    let env = crate::harness::TestEnv::start(AuthMode::Anonymous).await?;
    let mut wheels = Vec::new();
    for platform in ["kept", "deleted", "new"] {
        let spec = DistSpec::new("mended", "1.0").tag(&format!("py3-none-{platform}"));
        let bytes = std::fs::read(env.sandbox.wheel(&spec).await?)?;
        wheels.push((spec.wheel_filename(), bytes));
    }
    let env = &env;
    let upload = |(filename, bytes): &(String, Vec<u8>)| {
        let form = UploadForm::new("mended", "1.0", filename, bytes).sha256();
        async move { env.upload(&form, true).await }
    };
    for wheel in &wheels[..2] {
        assert_status(upload(wheel).await?, StatusCode::OK).await?;
    }

    // The deleted file's manifest goes, its entry stays.
    let repository = "team/python/mended";
    let direct = env.registry.direct();
    let (_, _, index) = direct
        .manifest(repository, "1.0")
        .await?
        .expect("the release index");
    let index: serde_json::Value = serde_json::from_slice(&index)?;
    let deleted = &wheels[1].0;
    let entry = index["manifests"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|entry| entry["annotations"]["org.opencontainers.image.title"] == deleted.as_str())
        .expect("the deleted file's entry");
    let digest = entry["digest"].as_str().expect("a digest");
    assert!(direct.delete_manifest(repository, digest).await?);

    assert_status(upload(&wheels[2]).await?, StatusCode::OK).await?;
    let page = env
        .get_text(&format!("{}/mended/", env.base_path()), true)
        .await?;
    assert!(page.contains(wheels[0].0.as_str()), "{page}");
    assert!(page.contains(wheels[2].0.as_str()), "{page}");
    assert!(!page.contains(deleted.as_str()), "{page}");
    Ok(())
}
