//! Publishing with twine and uv, installing with pip and uv, re-uploads, conflicts and
//! deletes, in every registry auth mode.

use std::collections::BTreeMap;

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::harness::{Backend, DistSpec, TestEnv, UploadForm};
use crate::in_every_backend;

in_every_backend!(
    publish_and_install,
    reupload_and_conflict,
    delete_files_and_releases
);

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn publish_and_install(backend: Backend) -> anyhow::Result<()> {
    let env = TestEnv::start_backend(backend).await?;
    let dep = DistSpec::new("oci-dep", "0.3.0");
    let app = DistSpec::new("Oci.App", "1.2.0").requires("oci-dep>=0.3");
    let dep_wheel = env.sandbox.wheel(&dep).await?;
    let app_wheel = env.sandbox.wheel(&app).await?;
    let app_sdist = env.sandbox.sdist(&app).await?;

    env.twine_upload(&[&dep_wheel]).await?.assert_success();
    env.uv_publish(&[&app_wheel, &app_sdist])
        .await?
        .assert_success();

    let url = env.index_url_with_credentials();
    env.assert_pip_installs(
        &["oci-app"],
        &[(&app.module(), "1.2.0"), (&dep.module(), "0.3.0")],
    )
    .await?;

    env.sandbox
        .assert_uv_installs(
            &url,
            &["oci-app"],
            &[(&app.module(), "1.2.0"), (&dep.module(), "0.3.0")],
        )
        .await?;

    // pip download verifies the page's #sha256= and must get the exact bytes.
    let dest = env.sandbox.fresh_path("download");
    let dest_text = dest.display().to_string();
    let args = [
        "download",
        "--no-deps",
        "--dest",
        &dest_text,
        "--index-url",
        &url,
        "oci-app==1.2.0",
    ];
    env.sandbox.pip(&args).await?.assert_success();
    let downloaded = std::fs::read(dest.join(app.wheel_filename()))?;
    assert_eq!(downloaded, std::fs::read(&app_wheel)?);

    // The sdist is served byte for byte too.
    let path = format!("{}/oci-app/{}", env.base_path(), app.sdist_filename());
    let response = env.get(&path, true).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.bytes().await?.as_ref(),
        std::fs::read(&app_sdist)?.as_slice()
    );

    for (project, files) in [
        ("oci-dep", vec![&dep_wheel]),
        ("oci-app", vec![&app_wheel, &app_sdist]),
    ] {
        check_page_hashes(&env, project, &files).await?;
    }
    check_stored_layout(&env, &app_wheel, &app_sdist).await
}

/// The project page (HTML and PEP 691 JSON) lists exactly `files`, each link carrying
/// `#sha256=` (and `hashes.sha256`) equal to the SHA-256 of the bytes that were uploaded.
async fn check_page_hashes(
    env: &TestEnv,
    project: &str,
    files: &[&std::path::PathBuf],
) -> anyhow::Result<()> {
    let expected: BTreeMap<String, String> = files
        .iter()
        .map(|file| {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            Ok((name, sha256_hex(&std::fs::read(file)?)))
        })
        .collect::<anyhow::Result<_>>()?;
    let page = format!("{}/{project}/", env.base_path());
    let response = env.get(&page, true).await?;
    assert_eq!(response.status(), StatusCode::OK, "{page}");
    let html = response.text().await?;
    let mut listed = BTreeMap::new();
    for anchor in html.split("<a href=\"").skip(1) {
        let href = &anchor[..anchor.find('"').context("unterminated href")?];
        let (path, fragment) = href.split_once('#').unwrap_or((href, ""));
        let filename = path.rsplit('/').next().unwrap_or_default().to_owned();
        let hash = fragment.strip_prefix("sha256=").unwrap_or_default();
        listed.insert(filename, hash.to_owned());
    }
    assert_eq!(listed, expected, "{html}");

    let response = env
        .http(Method::GET, &page, true)
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK, "{page} as JSON");
    let json: Value = response.json().await?;
    let listed: BTreeMap<String, String> = json["files"]
        .as_array()
        .context("files")?
        .iter()
        .map(|file| {
            let name = file["filename"].as_str().unwrap_or_default().to_owned();
            let hash = file["hashes"]["sha256"].as_str().unwrap_or_default();
            (name, hash.to_owned())
        })
        .collect();
    assert_eq!(listed, expected, "{json:#}");
    Ok(())
}

/// The registry holds one index tagged `1.2.0` with one manifest per file, PyOCI-style.
async fn check_stored_layout(
    env: &TestEnv,
    wheel: &std::path::Path,
    sdist: &std::path::Path,
) -> anyhow::Result<()> {
    let direct = env.storage();
    let repository = "team/python/oci_app";
    assert_eq!(direct.tags(repository).await?, vec!["1.2.0".to_owned()]);
    let (media_type, _, body) = direct
        .manifest(repository, "1.2.0")
        .await?
        .context("index")?;
    assert_eq!(media_type, "application/vnd.oci.image.index.v1+json");
    let index: Value = serde_json::from_slice(&body)?;
    assert_eq!(index["artifactType"], "application/pyoci.package.v1");
    let entries = index["manifests"].as_array().context("manifests")?;
    assert_eq!(entries.len(), 2);
    for (file, architecture) in [(wheel, "py3-none-any.whl"), (sdist, ".tar.gz")] {
        let bytes = std::fs::read(file)?;
        let entry = entries
            .iter()
            .find(|e| e["platform"]["architecture"] == architecture)
            .with_context(|| format!("no entry for {architecture}"))?;
        assert_eq!(entry["platform"]["os"], "any");
        assert_eq!(
            entry["annotations"]["com.pyoci.sha256_digest"],
            sha256_hex(&bytes)
        );
        assert!(entry["annotations"]["org.opencontainers.image.created"].is_string());
        let digest = entry["digest"].as_str().context("digest")?;
        let manifest = direct.manifest_json(repository, digest).await?;
        assert_eq!(manifest["artifactType"], "application/pyoci.package.v1");
        // The config is the core metadata (wheels, reliable sdist PKG-INFO) or empty.
        let config = &manifest["config"];
        let config_digest = config["digest"].as_str().context("config digest")?;
        if config["mediaType"] == "application/vnd.oci-pypi.core-metadata.v1" {
            let metadata = String::from_utf8(direct.blob(repository, config_digest).await?)?;
            assert!(
                metadata.starts_with("Metadata-Version:") && metadata.contains("Name: "),
                "{metadata}"
            );
            let advertised = entry["annotations"]["dev.oci-pypi.core-metadata.sha256"].as_str();
            assert_eq!(
                Some(config_digest.trim_start_matches("sha256:")),
                advertised
            );
        } else {
            assert_eq!(config["mediaType"], "application/vnd.oci.empty.v1+json");
            assert!(entry["annotations"]["dev.oci-pypi.core-metadata.sha256"].is_null());
        }
        if architecture.ends_with(".whl") {
            assert_eq!(
                config["mediaType"],
                "application/vnd.oci-pypi.core-metadata.v1"
            );
        }
        assert_eq!(
            manifest["layers"][0]["mediaType"],
            "application/pyoci.package.v1"
        );
        assert_eq!(manifest["layers"][0]["size"], bytes.len());
        let layer = manifest["layers"][0]["digest"].as_str().context("layer")?;
        assert_eq!(direct.blob(repository, layer).await?, bytes);
    }
    Ok(())
}

async fn reupload_and_conflict(backend: Backend) -> anyhow::Result<()> {
    let env = TestEnv::start_backend(backend).await?;
    let spec = DistSpec::new("conflicted", "1.0");
    let wheel = env.publish_wheel(&spec).await?;
    // Identical re-uploads succeed: twine retries and uv publish rely on it.
    env.twine_upload(&[&wheel]).await?.assert_success();
    env.uv_publish(&[&wheel]).await?.assert_success();

    // A different file under the same name is refused, and the stored one is kept.
    let other_dir = env.sandbox.fresh_dir("other")?;
    let other = env
        .sandbox
        .wheel_into(&spec.clone().seed(7), &other_dir)
        .await?;
    assert_ne!(std::fs::read(&other)?, std::fs::read(&wheel)?);
    let out = env.twine_upload(&[&other]).await?;
    out.assert_failure_saying("File already exists");

    let upload = UploadForm::wheel(&spec, &std::fs::read(&other)?);
    let response = env.upload(&upload, true).await?;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await?.starts_with("File already exists"));

    let path = format!("{}/conflicted/{}", env.base_path(), spec.wheel_filename());
    let stored = env.get(&path, true).await?.bytes().await?;
    assert_eq!(stored.as_ref(), std::fs::read(&wheel)?.as_slice());
    assert_eq!(
        env.storage().tags("team/python/conflicted").await?,
        vec!["1.0".to_owned()]
    );
    Ok(())
}

async fn delete_files_and_releases(backend: Backend) -> anyhow::Result<()> {
    let env = TestEnv::start_backend(backend).await?;
    let one = DistSpec::new("deletable", "1.0");
    let two = DistSpec::new("deletable", "2.0");
    let files = [
        env.sandbox.wheel(&one).await?,
        env.sandbox.sdist(&one).await?,
        env.sandbox.wheel(&two).await?,
    ];
    let paths: Vec<&std::path::Path> = files.iter().map(AsRef::as_ref).collect();
    env.twine_upload(&paths).await?.assert_success();
    let base = format!("{}/deletable", env.base_path());
    let page = |env: &TestEnv| {
        let request = env.http(Method::GET, &format!("{base}/"), true);
        async move { request.send().await }
    };

    if backend.needs_credentials() {
        let path = format!("{base}/{}", one.wheel_filename());
        let anonymous = env.http(Method::DELETE, &path, false).send().await?;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    }
    let path = format!("{base}/{}", one.wheel_filename());
    assert_eq!(
        env.http(Method::DELETE, &path, true).send().await?.status(),
        StatusCode::OK
    );
    let html = page(&env).await?.text().await?;
    assert!(!html.contains(&one.wheel_filename()), "{html}");
    assert!(html.contains(&one.sdist_filename()), "{html}");
    // Deleting it again: gone.
    assert_eq!(
        env.http(Method::DELETE, &path, true).send().await?.status(),
        StatusCode::NOT_FOUND
    );

    let path = format!("{base}/2.0");
    assert_eq!(
        env.http(Method::DELETE, &path, true).send().await?.status(),
        StatusCode::OK
    );
    assert_eq!(
        env.storage().tags("team/python/deletable").await?,
        vec!["1.0".to_owned()]
    );
    assert_eq!(
        env.http(Method::DELETE, &path, true).send().await?.status(),
        StatusCode::NOT_FOUND
    );

    // The last file of the last release: the repository is left with no tags at all
    // (`"tags": null`), which is a 404 project, not an error.
    let path = format!("{base}/{}", one.sdist_filename());
    assert_eq!(
        env.http(Method::DELETE, &path, true).send().await?.status(),
        StatusCode::OK
    );
    assert!(
        env.registry
            .direct()
            .tags("team/python/deletable")
            .await?
            .is_empty()
    );
    assert_eq!(page(&env).await?.status(), StatusCode::NOT_FOUND);
    let url = env.index_url_with_credentials();
    let (out, _) = env.sandbox.pip_install(&url, &["deletable"]).await?;
    out.assert_failure();
    Ok(())
}

/// With an upload spool (`--upload-spool-dir`), large files published by twine and uv to a
/// real registry (past the 4 MiB kept in memory, so they go through the spool) land whole:
/// downloaded back byte for byte and installed by pip. The spool's files have no name: the
/// directory is empty while and after they pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_published_through_the_upload_spool_land_whole() -> anyhow::Result<()> {
    let mut env = TestEnv::start(crate::harness::AuthMode::Htpasswd).await?;
    let spool = tempfile::tempdir()?;
    let dir = spool.path().to_owned();
    env.reconfigure(move |config| config.registry.upload_spool_dir = Some(dir))
        .await?;
    let by_twine = DistSpec::new("spooled", "1.0").payload_bytes(12 << 20);
    let by_uv = DistSpec::new("spooled", "2.0").payload_bytes(9 << 20);
    let twine_wheel = env.sandbox.wheel(&by_twine).await?;
    env.twine_upload(&[&twine_wheel]).await?.assert_success();
    let uv_wheel = env.sandbox.wheel(&by_uv).await?;
    env.uv_publish(&[&uv_wheel]).await?.assert_success();
    for (spec, wheel) in [(&by_twine, &twine_wheel), (&by_uv, &uv_wheel)] {
        let path = format!("{}/spooled/{}", env.base_path(), spec.wheel_filename());
        let response = env.http(Method::GET, &path, true).send().await?;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let served = response.bytes().await?;
        assert!(served == std::fs::read(wheel)?, "{path}: other bytes");
    }
    let left: Vec<_> = std::fs::read_dir(spool.path())?.collect();
    assert!(left.is_empty(), "files left in the spool: {left:?}");
    let metrics = env.server.metrics().await?;
    assert!(
        metrics.contains("oci_pypi_upload_spool_total{result=\"spooled\"} 2\n"),
        "both uploads went through the spool: {metrics}"
    );
    let url = env.index_url_with_credentials();
    let (out, _) = env.sandbox.pip_install(&url, &["spooled==1.0"]).await?;
    out.assert_success();
    Ok(())
}
