//! Promotion of releases between namespaces of one registry (blobs mounted, nothing
//! re-uploaded) and between two registries (streamed, with the `oci-pypi promote` command).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{AuthMode, DistSpec, Registry, TestEnv};

fn counter(metrics: &str, line: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(line))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// staging → production within one registry: mounted blobs, provenance recorded, upload time
/// and metadata kept, idempotent, conflicts refused, `move` empties the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotes_within_a_registry() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Token).await?;
    env.namespace = "team/staging".to_owned();
    let spec = DistSpec::new("promoted", "2.0");
    let wheel = env.sandbox.wheel(&spec).await?;
    let sdist = env.sandbox.sdist(&spec).await?;
    env.twine_upload(&[&wheel, &sdist]).await?.assert_success();

    let promote = format!("{}/+promote/promoted/2.0", env.base_path());
    let to = format!("{}/team/prod", env.segment());
    let response = env
        .http(Method::POST, &promote, true)
        .query(&[("to", &to)])
        .send()
        .await?;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await?
    );
    let report: Value = response.json().await?;
    assert_eq!(report["copied"].as_array().unwrap().len(), 2, "{report}");
    let metrics = env
        .http(Method::GET, "/metrics", false)
        .send()
        .await?
        .text()
        .await?;
    assert!(
        counter(&metrics, "oci_pypi_blob_copies_total{method=\"mount\"}") >= 2,
        "{metrics}"
    );
    assert_eq!(
        counter(&metrics, "oci_pypi_blob_copies_total{method=\"stream\"}"),
        0,
        "{metrics}"
    );

    // Installable from production; digests, upload time and metadata are the source's.
    let (user, password) = env.credentials().unwrap();
    let prod = format!("http://{user}:{password}@{}/{to}/", env.server.authority());
    let (out, target) = env.sandbox.pip_install(&prod, &["promoted"]).await?;
    out.assert_success();
    assert_eq!(
        env.sandbox.import_version(&target, &spec.module()).await?,
        "2.0"
    );
    let storage = env.storage();
    let (_, _, staged) = storage
        .manifest("team/staging/promoted", "2.0")
        .await?
        .unwrap();
    let (_, _, produced) = storage
        .manifest("team/prod/promoted", "2.0")
        .await?
        .unwrap();
    let (staged, produced): (Value, Value) = (
        serde_json::from_slice(&staged)?,
        serde_json::from_slice(&produced)?,
    );
    for (a, b) in staged["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .zip(produced["manifests"].as_array().unwrap())
    {
        assert_eq!(a["digest"], b["digest"]);
        for key in [
            "com.pyoci.sha256_digest",
            "org.opencontainers.image.created",
            "dev.oci-pypi.core-metadata.sha256",
        ] {
            assert_eq!(a["annotations"][key], b["annotations"][key], "{key}");
        }
        let from = b["annotations"]["dev.oci-pypi.promoted-from"]
            .as_str()
            .unwrap();
        assert!(from.ends_with("/team/staging/promoted:2.0"), "{from}");
        assert!(b["annotations"]["dev.oci-pypi.promoted-at"].is_string());
    }

    // Again: nothing to do.
    let again: Value = env
        .http(Method::POST, &promote, true)
        .query(&[("to", &to)])
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        again["already_there"].as_array().unwrap().len(),
        2,
        "{again}"
    );

    // A different file of the same name at the destination: refused.
    let mut other = env;
    other.namespace = "team/hotfix".to_owned();
    let other_dir = other.sandbox.fresh_path("other");
    std::fs::create_dir_all(&other_dir)?;
    let different = other
        .sandbox
        .wheel_into(&spec.clone().seed(3), &other_dir)
        .await?;
    other.twine_upload(&[&different]).await?.assert_success();
    let clash = format!("{}/team/hotfix", other.segment());
    other.namespace = "team/staging".to_owned();
    let response = other
        .http(Method::POST, &promote, true)
        .query(&[("to", &clash)])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await?.starts_with("File already exists"));

    // A move to the archive empties staging.
    let archive = format!("{}/team/archive", other.segment());
    let response = other
        .http(Method::POST, &promote, true)
        .query(&[("to", archive.as_str()), ("move", "true")])
        .send()
        .await?;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await?
    );
    let storage = other.storage();
    assert!(storage.tags("team/staging/promoted").await?.is_empty());
    assert_eq!(
        storage.tags("team/archive/promoted").await?,
        vec!["2.0".to_owned()]
    );
    Ok(())
}

/// Between two registries with different credentials, with the `promote` command: the blobs
/// are streamed, and pip installs from the destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotes_across_registries_with_the_command() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    let destination = Registry::start(AuthMode::Token).await?;
    let spec = DistSpec::new("travelling", "1.0");
    let wheel = env.sandbox.wheel(&spec).await?;
    env.twine_upload(&[&wheel]).await?.assert_success();
    let (from_user, from_password) = env.credentials().unwrap();
    let (to_user, to_password) = destination.credentials().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"))
        .args(["promote", "--project", "travelling", "--target", "1.0"])
        .args(["--from", &format!("{}/{}", env.segment(), env.namespace)])
        .args(["--to", &format!("{}/release", destination.host())])
        .env(
            "OCI_PYPI_REGISTRIES",
            format!("{},{}", env.registry.origin(), destination.origin()),
        )
        .env("OCI_PYPI_FROM_USERNAME", &from_user)
        .env("OCI_PYPI_FROM_PASSWORD", &from_password)
        .env("OCI_PYPI_TO_USERNAME", &to_user)
        .env("OCI_PYPI_TO_PASSWORD", &to_password)
        .env("OCI_PYPI_LOG_LEVEL", "warn")
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(stdout.trim())?;
    assert_eq!(report["copied"][0], spec.wheel_filename());
    assert!(!stderr.contains(&from_password) && !stderr.contains(&to_password));

    let server = crate::harness::Server::start_for(&destination, |_| {}).await?;
    let url = format!(
        "http://{to_user}:{to_password}@{}/{}/release/",
        server.authority(),
        destination.host()
    );
    let (out, target) = env.sandbox.pip_install(&url, &["travelling"]).await?;
    out.assert_success();
    assert_eq!(
        env.sandbox.import_version(&target, &spec.module()).await?,
        "1.0"
    );

    // A wrong destination password: a one-line error, nothing copied.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"))
        .args(["promote", "--project", "travelling", "--target", "1.0"])
        .args(["--from", &format!("{}/{}", env.segment(), env.namespace)])
        .args(["--to", &format!("{}/other", destination.host())])
        .env(
            "OCI_PYPI_REGISTRIES",
            format!("{},{}", env.registry.origin(), destination.origin()),
        )
        .env("OCI_PYPI_FROM_USERNAME", &from_user)
        .env("OCI_PYPI_FROM_PASSWORD", &from_password)
        .env("OCI_PYPI_TO_USERNAME", &to_user)
        .env("OCI_PYPI_TO_PASSWORD", "wrong")
        .output()
        .await?;
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
    Ok(())
}
