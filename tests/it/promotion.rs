//! Promotion of releases between namespaces of one registry (blobs mounted, nothing
//! re-uploaded) and between two registries (streamed, with the `oci-pypi promote` command).

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;
use sha2::Digest as _;

use crate::harness::{AuthMode, DistSpec, Registry, TestEnv, metric_value};

/// The entries of a release index (one per file), in order.
fn entries(index: &[u8]) -> anyhow::Result<Vec<Value>> {
    let index: Value = serde_json::from_slice(index)?;
    Ok(index["manifests"].as_array().cloned().unwrap_or_default())
}

/// The sha256 of each file of a release index, in order.
fn file_digests(index: &[u8]) -> anyhow::Result<Vec<String>> {
    Ok(entries(index)?
        .iter()
        .map(|e| {
            e["annotations"]["com.pyoci.sha256_digest"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect())
}

fn sha256_of(path: &Path) -> anyhow::Result<String> {
    Ok(hex::encode(sha2::Sha256::digest(std::fs::read(path)?)))
}

/// A promoted entry keeps the original's manifest digest, file digest, upload time and core
/// metadata, and records where (`…<from_suffix>`) and when it came from.
fn assert_promoted(original: &Value, promoted: &Value, from_suffix: &str) {
    assert_eq!(original["digest"], promoted["digest"]);
    for key in [
        "com.pyoci.sha256_digest",
        "org.opencontainers.image.created",
        "dev.oci-pypi.core-metadata.sha256",
    ] {
        assert_eq!(
            original["annotations"][key], promoted["annotations"][key],
            "{key}"
        );
    }
    let from = promoted["annotations"]["dev.oci-pypi.promoted-from"]
        .as_str()
        .unwrap();
    assert!(from.ends_with(from_suffix), "{from}");
    assert!(promoted["annotations"]["dev.oci-pypi.promoted-at"].is_string());
}

/// A POST to the promotion endpoint; the status and the JSON report (or the error text).
async fn promote_over_http(
    env: &TestEnv,
    target: &str,
    query: &[(&str, &str)],
) -> anyhow::Result<(StatusCode, String)> {
    let path = format!("{}/+promote/promoted/{target}", env.base_path());
    let response = env.promote(&path, query).await?;
    Ok((response.status(), response.text().await?))
}

/// staging → production within one registry: mounted blobs, provenance recorded, upload time
/// and metadata kept, idempotent, conflicts refused before anything is copied, single files
/// promoted and moved, `move` empties the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotes_within_a_registry() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Token).await?;
    env.namespace = "team/staging".to_owned();
    let spec = DistSpec::new("promoted", "2.0");
    let wheel = env.sandbox.wheel(&spec).await?;
    let sdist = env.sandbox.sdist(&spec).await?;
    env.twine_upload(&[&wheel, &sdist]).await?.assert_success();
    let storage = env.storage();
    let (_, _, staged) = storage
        .manifest("team/staging/promoted", "2.0")
        .await?
        .unwrap();
    // The wheel is the release's first file (what the conflict below relies on).
    assert_eq!(
        file_digests(&staged)?,
        [sha256_of(&wheel)?, sha256_of(&sdist)?]
    );

    let to = format!("{}/team/prod", env.segment());
    let (status, body) = promote_over_http(&env, "2.0", &[("to", &to)]).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report: Value = serde_json::from_str(&body)?;
    assert_eq!(report["copied"].as_array().unwrap().len(), 2, "{report}");
    let metrics = env.metrics().await?;
    assert!(
        metric_value(&metrics, "oci_pypi_blob_copies_total{method=\"mount\"}") >= 2.0,
        "{metrics}"
    );
    assert_eq!(
        metric_value(&metrics, "oci_pypi_blob_copies_total{method=\"stream\"}"),
        0.0,
        "{metrics}"
    );

    // Installable from production; digests, upload time and metadata are the source's.
    let (user, password) = env.credentials().unwrap();
    let prod = format!("http://{user}:{password}@{}/{to}/", env.server.authority());
    env.sandbox
        .assert_pip_installs(&prod, &["promoted"], &[(&spec.module(), "2.0")])
        .await?;
    let (_, _, produced) = storage
        .manifest("team/prod/promoted", "2.0")
        .await?
        .unwrap();
    let (staged_entries, produced_entries) = (entries(&staged)?, entries(&produced)?);
    assert_eq!(produced_entries.len(), 2);
    for (a, b) in staged_entries.iter().zip(&produced_entries) {
        assert_promoted(a, b, "/team/staging/promoted:2.0");
    }

    // Again: nothing to do.
    let (status, body) = promote_over_http(&env, "2.0", &[("to", &to)]).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let again: Value = serde_json::from_str(&body)?;
    assert_eq!(
        again["already_there"].as_array().unwrap().len(),
        2,
        "{again}"
    );

    // A different sdist of the same name at the destination (the release's second file):
    // refused before the wheel is copied, the destination is left exactly as it was.
    env.namespace = "team/hotfix".to_owned();
    let other_dir = env.sandbox.fresh_dir("other")?;
    let different = env
        .sandbox
        .sdist_into(&spec.clone().seed(3), &other_dir)
        .await?;
    env.twine_upload(&[&different]).await?.assert_success();
    env.namespace = "team/staging".to_owned();
    let (_, _, hotfix_before) = storage
        .manifest("team/hotfix/promoted", "2.0")
        .await?
        .unwrap();
    let clash = format!("{}/team/hotfix", env.segment());
    let (status, body) = promote_over_http(&env, "2.0", &[("to", &clash)]).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.starts_with("File already exists"), "{body}");
    assert!(body.contains(&spec.sdist_filename()), "{body}");
    let (_, _, hotfix_after) = storage
        .manifest("team/hotfix/promoted", "2.0")
        .await?
        .unwrap();
    assert_eq!(hotfix_after, hotfix_before);
    assert_eq!(file_digests(&hotfix_after)?, [sha256_of(&different)?]);
    let wheel_manifest = staged_entries[0]["digest"].as_str().unwrap();
    assert!(
        storage
            .manifest("team/hotfix/promoted", wheel_manifest)
            .await?
            .is_none(),
        "the wheel's manifest reached the destination"
    );

    // One file: only that file lands in the destination.
    let single = format!("{}/team/single", env.segment());
    let (status, body) =
        promote_over_http(&env, &spec.wheel_filename(), &[("to", &single)]).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report: Value = serde_json::from_str(&body)?;
    assert_eq!(report["copied"], serde_json::json!([spec.wheel_filename()]));
    let (_, _, promoted) = storage
        .manifest("team/single/promoted", "2.0")
        .await?
        .unwrap();
    assert_eq!(file_digests(&promoted)?, [sha256_of(&wheel)?]);
    assert_promoted(
        &staged_entries[0],
        &entries(&promoted)?[0],
        "/team/staging/promoted:2.0",
    );

    // A move of one file: the source loses that file only.
    let (status, body) = promote_over_http(
        &env,
        &spec.sdist_filename(),
        &[("to", single.as_str()), ("move", "true")],
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report: Value = serde_json::from_str(&body)?;
    assert_eq!(report["copied"], serde_json::json!([spec.sdist_filename()]));
    assert_eq!(report["removed_source"], true);
    let (_, _, staged_now) = storage
        .manifest("team/staging/promoted", "2.0")
        .await?
        .unwrap();
    assert_eq!(file_digests(&staged_now)?, [sha256_of(&wheel)?]);
    let (_, _, promoted) = storage
        .manifest("team/single/promoted", "2.0")
        .await?
        .unwrap();
    assert_eq!(
        file_digests(&promoted)?,
        [sha256_of(&wheel)?, sha256_of(&sdist)?]
    );

    // A move of the release to the archive empties staging.
    let archive = format!("{}/team/archive", env.segment());
    let (status, body) =
        promote_over_http(&env, "2.0", &[("to", archive.as_str()), ("move", "true")]).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(storage.tags("team/staging/promoted").await?.is_empty());
    assert_eq!(
        storage.tags("team/archive/promoted").await?,
        vec!["2.0".to_owned()]
    );
    Ok(())
}

/// `oci-pypi promote` from this test's namespace to `<destination>/<to>`, with the
/// destination password given; the output.
async fn promote_command(
    env: &TestEnv,
    destination: &Registry,
    to: &str,
    to_password: &str,
    extra: &[&str],
) -> anyhow::Result<std::process::Output> {
    let (from_user, from_password) = env.credentials().unwrap();
    let (to_user, _) = destination.credentials().unwrap();
    Ok(tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"))
        .args([
            "promote",
            "--json",
            "--project",
            "travelling",
            "--target",
            "1.0",
        ])
        .args(["--from", &format!("{}/{}", env.segment(), env.namespace)])
        .args(["--to", &format!("{}/{to}", destination.host())])
        .args(extra)
        .env(
            "OCI_PYPI_REGISTRIES",
            format!("{},{}", env.registry.origin(), destination.origin()),
        )
        .env("OCI_PYPI_FROM_USERNAME", &from_user)
        .env("OCI_PYPI_FROM_PASSWORD", &from_password)
        .env("OCI_PYPI_TO_USERNAME", &to_user)
        .env("OCI_PYPI_TO_PASSWORD", to_password)
        .env("OCI_PYPI_LOG_LEVEL", "warn")
        .output()
        .await?)
}

/// Between two registries with different credentials, with `oci-pypi promote --move`: a
/// failed move leaves the source alone; a successful one streams the blobs, keeps digests,
/// upload time and core metadata, records the provenance, empties the source, and pip
/// installs from the destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotes_across_registries_with_the_command() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    let destination = Registry::start(AuthMode::Token).await?;
    let spec = DistSpec::new("travelling", "1.0");
    let wheel = env.sandbox.wheel(&spec).await?;
    let sdist = env.sandbox.sdist(&spec).await?;
    env.twine_upload(&[&wheel, &sdist]).await?.assert_success();
    let source_repository = format!("{}/travelling", env.namespace);
    let (_, _, staged) = env
        .storage()
        .manifest(&source_repository, "1.0")
        .await?
        .unwrap();
    let (_, from_password) = env.credentials().unwrap();
    let (to_user, to_password) = destination.credentials().unwrap();

    // A wrong destination password: a one-line error, nothing copied, nothing removed.
    let output = promote_command(&env, &destination, "other", "wrong", &["--move"]).await?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("oci-pypi: registry"), "{stderr}");
    assert!(
        destination
            .direct()
            .tags("other/travelling")
            .await?
            .is_empty()
    );
    assert_eq!(env.storage().tags(&source_repository).await?, ["1.0"]);

    let output = promote_command(&env, &destination, "release", &to_password, &["--move"]).await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(stdout.trim())?;
    assert_eq!(
        report["copied"],
        serde_json::json!([spec.wheel_filename(), spec.sdist_filename()])
    );
    assert_eq!(report["removed_source"], true);
    assert!(!stderr.contains(&from_password) && !stderr.contains(&to_password));
    assert!(env.storage().tags(&source_repository).await?.is_empty());

    let (_, _, released) = destination
        .direct()
        .manifest("release/travelling", "1.0")
        .await?
        .unwrap();
    let (staged, released) = (entries(&staged)?, entries(&released)?);
    assert_eq!(released.len(), 2);
    assert!(staged[0]["annotations"]["dev.oci-pypi.core-metadata.sha256"].is_string());
    for (a, b) in staged.iter().zip(&released) {
        assert_promoted(a, b, &format!("/{source_repository}:1.0"));
    }

    let server = crate::harness::Server::start_for(&destination, |_| {}).await?;
    let url = format!(
        "http://{to_user}:{to_password}@{}/{}/release/",
        server.authority(),
        destination.host()
    );
    env.sandbox
        .assert_pip_installs(&url, &["travelling"], &[(&spec.module(), "1.0")])
        .await?;
    Ok(())
}
