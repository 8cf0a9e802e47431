//! PEP 740 attestations against the real registry: bundles built offline with a test CA as
//! the trust root (`tests/fixtures/make_attestation.py`, checked by `pypi-attestations`),
//! uploaded with uv, verified, stored as OCI referrers (the referrers tag schema, which
//! CNCF distribution needs), served as provenance, promoted and deleted with their file;
//! every bad case refused with 400 and nothing stored.

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::Digest as _;

use crate::harness::{AuthMode, DistSpec, TestEnv, UploadForm, assert_status, clients};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make_attestation.py")
}

/// Runs the fixture script with the venv's Python.
pub(crate) async fn make(args: &[&str]) -> anyhow::Result<()> {
    let python = clients::venv()?.join("bin/python");
    let output = tokio::process::Command::new(python)
        .arg(script())
        .args(args)
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "make_attestation.py {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// An attestation of `dist` signed under the CA in `ca`, with `extra` arguments.
pub(crate) async fn attest(ca: &Path, dist: &Path, extra: &[&str]) -> anyhow::Result<String> {
    let out = dist.with_extension(format!("{}.json", extra.len()));
    let mut args = vec![
        "sign",
        ca.to_str().unwrap(),
        dist.to_str().unwrap(),
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    make(&args).await?;
    Ok(std::fs::read_to_string(out)?)
}

/// A legacy-API upload of `dist` with `attestations` (the field's raw value), as uv sends it.
pub(crate) async fn upload(
    env: &TestEnv,
    dist: &Path,
    attestations: &str,
) -> anyhow::Result<reqwest::Response> {
    let bytes = std::fs::read(dist)?;
    let filename = dist.file_name().unwrap().to_str().unwrap().to_owned();
    let (name, rest) = filename.split_once('-').unwrap();
    let version = rest.split('-').next().unwrap();
    let upload = UploadForm::new(name, version, &filename, &bytes)
        .field("filetype", "bdist_wheel")
        .field("metadata_version", "2.1")
        .sha256()
        .after_file("attestations", attestations);
    env.upload(&upload, true).await
}

/// The tags of the project's repository (without the listing document's), sorted.
async fn tags(env: &TestEnv, project: &str) -> anyhow::Result<Vec<String>> {
    let mut tags = env
        .storage()
        .tags(&format!("{}/{project}", env.namespace))
        .await?;
    tags.sort();
    Ok(tags)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestations_are_verified_stored_and_served() -> anyhow::Result<()> {
    let keys = tempfile::tempdir()?;
    let (ca, rogue) = (keys.path().join("ca"), keys.path().join("rogue"));
    make(&["ca", ca.to_str().unwrap()]).await?;
    make(&["ca", rogue.to_str().unwrap()]).await?;
    let trust_root = ca.join("ca.pem");
    let env = TestEnv::start_with(AuthMode::Htpasswd, |config| {
        config.publishing.attestation_trust_root = Some(trust_root);
    })
    .await?;

    // uv publishes the wheel with its attestation (`uv publish dist/*` groups them).
    let wheel = env.sandbox.wheel(&DistSpec::new("attested", "1.0")).await?;
    let attestation = attest(&ca, &wheel, &[]).await?;
    let beside = PathBuf::from(format!("{}.publish.attestation", wheel.display()));
    std::fs::write(&beside, &attestation)?;
    env.uv_publish(&[&wheel, &beside]).await?.assert_success();

    // Served: `provenance` in JSON, `data-provenance` in HTML, and the object at that URL.
    let filename = wheel.file_name().unwrap().to_str().unwrap().to_owned();
    let page = format!("{}/attested/", env.base_path());
    let json: Value = env.get_pep691(&page, true).await?;
    let provenance_url = format!("{filename}.provenance");
    assert_eq!(
        json["files"][0]["provenance"],
        provenance_url.as_str(),
        "{json}"
    );
    let html = env.get_text(&page, true).await?;
    assert!(
        html.contains(&format!("data-provenance=\"{provenance_url}\"")),
        "{html}"
    );
    let response = env.get(&format!("{page}{provenance_url}"), true).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.pypi.integrity.v1+json"
    );
    let provenance: Value = response.json().await?;
    assert_eq!(provenance["version"], 1);
    let bundle = &provenance["attestation_bundles"][0];
    assert_eq!(bundle["publisher"]["kind"], "GitHub");
    assert_eq!(bundle["publisher"]["repository"], "acme/app");
    let sent: Value = serde_json::from_str(&attestation)?;
    assert_eq!(bundle["attestations"], serde_json::json!([sent]));

    // Stored as a referrer of the file's manifest, under the referrers tag schema.
    let storage = env.storage();
    let repository = format!("{}/attested", env.namespace);
    let (_, _, index) = storage.manifest(&repository, "1.0").await?.unwrap();
    let index: Value = serde_json::from_slice(&index)?;
    let file_manifest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let referrers_tag = file_manifest.replace("sha256:", "sha256-");
    assert_eq!(
        tags(&env, "attested").await?,
        ["1.0", referrers_tag.as_str()]
    );
    let (_, _, referrers) = storage
        .manifest(&repository, &referrers_tag)
        .await?
        .unwrap();
    let referrers: Value = serde_json::from_slice(&referrers)?;
    let referrer = referrers["manifests"][0]["digest"].as_str().unwrap();
    assert_eq!(
        referrers["manifests"][0]["artifactType"],
        "application/vnd.oci-pypi.provenance.v1"
    );
    let (_, _, manifest) = storage.manifest(&repository, referrer).await?.unwrap();
    let manifest: Value = serde_json::from_slice(&manifest)?;
    assert_eq!(manifest["subject"]["digest"], file_manifest.as_str());

    // Every bad case: 400 naming the problem, and nothing stored.
    let next = env.sandbox.wheel(&DistSpec::new("attested", "1.1")).await?;
    let other = env.sandbox.wheel(&DistSpec::new("attested", "1.2")).await?;
    let other_name = other.file_name().unwrap().to_str().unwrap().to_owned();
    let other_sha = hex::encode(sha2::Sha256::digest(std::fs::read(&other)?));
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "tampered",
            attest(&ca, &next, &["--tamper"]).await?,
            "signature",
        ),
        (
            "wrong digest",
            attest(&ca, &next, &["--sha256", &other_sha]).await?,
            "sha256",
        ),
        (
            "wrong name",
            attest(&ca, &next, &["--name", &other_name]).await?,
            "is about file",
        ),
        (
            "untrusted",
            attest(&rogue, &next, &[]).await?,
            "not trusted",
        ),
    ];
    let before = tags(&env, "attested").await?;
    for (case, attestation, reason) in cases {
        let field = format!("[{attestation}]");
        let response = upload(&env, &next, &field).await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        let body = response.text().await?;
        assert!(body.contains(reason), "{case}: {body}");
        assert_eq!(body.trim().lines().count(), 1, "{case}: {body}");
        assert_eq!(
            tags(&env, "attested").await?,
            before,
            "{case} stored something"
        );
    }
    for (case, field) in [
        ("malformed JSON", "[{"),
        ("not a list", "{}"),
        ("empty", "[]"),
    ] {
        let response = upload(&env, &next, field).await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        let body = response.text().await?;
        assert!(body.starts_with("invalid attestations"), "{case}: {body}");
        assert_eq!(
            tags(&env, "attested").await?,
            before,
            "{case} stored something"
        );
    }
    let response = upload(
        &env,
        &next,
        &format!("[{}]", attest(&ca, &next, &[]).await?),
    )
    .await?;
    assert_status(response, StatusCode::OK).await?;

    // Promotion copies the attestations; deleting the file removes them.
    let production = format!("{}/{}/production", env.segment(), env.namespace);
    let promote = format!("{}/+promote/attested/1.0", env.base_path());
    let response = env
        .promote(&promote, &[("to", production.as_str())])
        .await?;
    assert_status(response, StatusCode::OK).await?;
    let promoted = format!("/{production}/attested/{provenance_url}");
    let response = env.get(&promoted, true).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await?, provenance);
    let destination = format!("{}/production/attested", env.namespace);
    assert!(storage.tags(&destination).await?.contains(&referrers_tag));

    let file = format!("{page}{filename}");
    let response = env.http(Method::DELETE, &file, true).send().await?;
    assert_status(response, StatusCode::OK).await?;
    assert!(!tags(&env, "attested").await?.contains(&referrers_tag));
    assert!(storage.manifest(&repository, referrer).await?.is_none());
    let response = env.get(&format!("{page}{provenance_url}"), true).await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    Ok(())
}
