//! Transparency log entries of PEP 740 attestations (issue 18): with a Sigstore trusted root
//! that names a log, an attestation counts only with an entry of that log whose signed entry
//! timestamp verifies and whose body is about this very signature, and its short-lived
//! certificate is checked at the time the entry proves; with a PEM trust root (no log), at the
//! time of the upload. An entry's time is never taken on trust: a forged one would let an
//! expired certificate (a leaked key) sign new attestations.

use std::path::Path;

use reqwest::StatusCode;

use crate::attestations::{attest, make};
use crate::harness::{AuthMode, DistSpec, TestEnv};

/// Uploads `dist` with the one attestation `attestation`; (status, body).
async fn upload(
    env: &TestEnv,
    dist: &Path,
    attestation: &str,
) -> anyhow::Result<(StatusCode, String)> {
    let response = crate::attestations::upload(env, dist, &format!("[{attestation}]")).await?;
    Ok((response.status(), response.text().await?))
}

async fn versions(env: &TestEnv, project: &str) -> anyhow::Result<Vec<String>> {
    let mut tags: Vec<String> = env
        .storage()
        .tags(&format!("{}/{project}", env.namespace))
        .await?
        .into_iter()
        .filter(|tag| !tag.starts_with("oci-pypi") && !tag.starts_with("sha256-"))
        .collect();
    tags.sort();
    Ok(tags)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_entries_are_verified_and_date_the_certificate() -> anyhow::Result<()> {
    let keys = tempfile::tempdir()?;
    let (ca, rogue) = (keys.path().join("ca"), keys.path().join("rogue"));
    make(&["ca", ca.to_str().unwrap()]).await?;
    make(&["ca", rogue.to_str().unwrap()]).await?;
    let trust_root = ca.join("trusted_root.json");
    let env = TestEnv::start_with(AuthMode::Htpasswd, |config| {
        config.publishing.attestation_trust_root = Some(trust_root);
    })
    .await?;

    let cases: [(&str, &Path, &[&str], Option<&str>); 8] = [
        ("1.0", &ca, &[], None),
        // Expired an hour ago, but logged while it was valid: the log's time counts.
        ("1.1", &ca, &["--backdate"], None),
        (
            "1.2",
            &ca,
            &["--no-tlog"],
            Some("it has no transparency log entry"),
        ),
        (
            "1.3",
            &ca,
            &["--bad-set"],
            Some("signed entry timestamp does not verify with the log's key"),
        ),
        (
            "1.4",
            &ca,
            &["--foreign-entry"],
            Some("is about another statement"),
        ),
        (
            "1.5",
            &rogue,
            &[],
            Some("which the trust root does not name"),
        ),
        (
            "1.6",
            &ca,
            &["--bad-proof"],
            Some("inclusion proof does not lead to its root hash"),
        ),
        (
            "1.7",
            &ca,
            &["--bad-checkpoint"],
            Some("has a checkpoint the log did not sign"),
        ),
    ];
    for (version, signer, extra, refusal) in cases {
        let wheel = env.sandbox.wheel(&DistSpec::new("logged", version)).await?;
        let attestation = attest(signer, &wheel, extra).await?;
        let (status, body) = upload(&env, &wheel, &attestation).await?;
        match refusal {
            None => assert_eq!(status, StatusCode::OK, "{version} {extra:?}: {body}"),
            Some(reason) => {
                assert_eq!(
                    status,
                    StatusCode::BAD_REQUEST,
                    "{version} {extra:?}: {body}"
                );
                assert!(
                    body.contains("attestation 0 is not in a trusted transparency log")
                        && body.contains(reason),
                    "{version} {extra:?}: {body}"
                );
            }
        }
    }
    assert_eq!(versions(&env, "logged").await?, ["1.0", "1.1"]);
    Ok(())
}

/// With a PEM trust root there is no log to check an entry against: the certificate must be
/// valid at the upload, whatever time the entry claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_log_an_entrys_time_is_not_believed() -> anyhow::Result<()> {
    let keys = tempfile::tempdir()?;
    let ca = keys.path().join("ca");
    make(&["ca", ca.to_str().unwrap()]).await?;
    let trust_root = ca.join("ca.pem");
    let env = TestEnv::start_with(AuthMode::Htpasswd, |config| {
        config.publishing.attestation_trust_root = Some(trust_root);
    })
    .await?;
    let wheel = env.sandbox.wheel(&DistSpec::new("dated", "1.0")).await?;
    let attestation = attest(&ca, &wheel, &["--backdate"]).await?;
    let (status, body) = upload(&env, &wheel, &attestation).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("is not trusted"), "{body}");
    assert!(versions(&env, "dated").await?.is_empty());
    let wheel = env.sandbox.wheel(&DistSpec::new("dated", "1.1")).await?;
    let attestation = attest(&ca, &wheel, &[]).await?;
    let (status, body) = upload(&env, &wheel, &attestation).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}
