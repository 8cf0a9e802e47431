//! Index-hosted attestations (PEP 740): the attestation objects an upload carries, checked
//! offline against a configured trust root, and the provenance object served for a file.
//! Pure: no I/O; the caller supplies the trust root's bytes and the time.
//!
//! An attestation is accepted when (1) its certificate chains to the trust root and may sign
//! code, (2) its DSSE signature over the in-toto statement verifies with that certificate's
//! key, (3) the statement has exactly one subject, named as the file and with the file's
//! sha256, and a predicate type PyPI accepts. Who signed (the certificate's identity and
//! issuer) is returned for the caller to match against the uploader. The transparency log
//! entries are kept as sent, not verified (there is no log to ask offline); a log entry's
//! integration time, when given, is the time the certificate must have been valid at.
//!
//! Specification: <https://peps.python.org/pep-0740/>,
//! <https://packaging.python.org/en/latest/specifications/index-hosted-attestations/>,
//! DSSE <https://github.com/secure-systems-lab/dsse/blob/master/protocol.md>.

mod tlog;
mod trust;
mod verify;

pub use trust::TrustRoot;
pub use verify::{Attestation, Verified, verify_attestations};

/// Predicate types an attestation may have (PyPI's list).
pub const PREDICATE_TYPES: [&str; 2] = [
    "https://docs.pypi.org/attestations/publish/v1",
    "https://slsa.dev/provenance/v1",
];
/// The most attestations one file may carry (PyPI: one per predicate type).
pub const MAX_ATTESTATIONS: usize = PREDICATE_TYPES.len();
/// Media type of a provenance object (PyPI's integrity API).
pub const MEDIA_TYPE_PROVENANCE: &str = "application/vnd.pypi.integrity.v1+json";

/// Why attestations were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// The `attestations` field, or one attestation, is not what PEP 740 describes.
    #[error("invalid attestations: {0}")]
    Malformed(String),
    /// A certificate that does not chain to the trust root (or may not sign code).
    #[error(
        "invalid attestations: the certificate of attestation {index} is not trusted: {reason}"
    )]
    Untrusted {
        /// Which attestation (from 0).
        index: usize,
        /// Why.
        reason: String,
    },
    /// A signature that does not verify.
    #[error(
        "invalid attestations: the signature of attestation {index} does not verify with its certificate"
    )]
    BadSignature {
        /// Which attestation.
        index: usize,
    },
    /// A statement about another file.
    #[error(
        "invalid attestations: attestation {index} is about {what} `{found}`, not `{expected}`"
    )]
    WrongSubject {
        /// Which attestation.
        index: usize,
        /// `name` or `sha256`.
        what: &'static str,
        /// What the statement says.
        found: String,
        /// What the file is.
        expected: String,
    },
    /// No transparency log entry of a log the trust root names checks out.
    #[error(
        "invalid attestations: attestation {index} is not in a trusted transparency log: {reason}"
    )]
    Unlogged {
        /// Which attestation.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The server has no trust root: attestations cannot be checked, so none are taken.
    #[error(
        "attestations cannot be verified here: the server has no trust root (`--attestation-trust-root`); upload without them"
    )]
    NoTrustRoot,
    /// The trust root file cannot be used.
    #[error("the attestation trust root cannot be used: {0}")]
    TrustRoot(String),
}

/// The publisher of a provenance bundle (PEP 740): its kind and what identifies it, from the
/// certificate of its attestations.
#[must_use]
pub fn publisher_of(verified: &Verified) -> serde_json::Value {
    let issuer = verified.issuer.as_deref().unwrap_or_default();
    let identity = verified.identity.as_str();
    if issuer == "https://token.actions.githubusercontent.com" {
        // https://github.com/<owner>/<repo>/.github/workflows/<file>@<ref>
        let path = identity
            .strip_prefix("https://github.com/")
            .unwrap_or(identity);
        let mut parts = path.splitn(3, '/');
        let (owner, repo, rest) = (parts.next(), parts.next(), parts.next());
        let workflow = rest
            .and_then(|rest| rest.strip_prefix(".github/workflows/"))
            .map(|file| file.split('@').next().unwrap_or(file));
        return serde_json::json!({
            "kind": "GitHub",
            "repository": format!("{}/{}", owner.unwrap_or_default(), repo.unwrap_or_default()),
            "workflow": workflow.unwrap_or_default(),
            "claims": { "issuer": issuer, "identity": identity },
        });
    }
    if issuer.starts_with("https://gitlab.") {
        let repository = identity
            .split("//")
            .nth(1)
            .and_then(|rest| rest.split_once('/').map(|(_, path)| path))
            .unwrap_or_default();
        return serde_json::json!({
            "kind": "GitLab",
            "repository": repository,
            "claims": { "issuer": issuer, "identity": identity },
        });
    }
    serde_json::json!({
        "kind": if issuer.is_empty() { "unknown" } else { issuer },
        "claims": { "issuer": issuer, "identity": identity },
    })
}

/// Whether `bytes` have the shape of a PEP 740 provenance object (`version` 1 and a list of
/// `attestation_bundles`, each with a `publisher` object and a list of `attestations`): what
/// is kept of an upstream's provenance, unverified, as upstream served it.
#[must_use]
pub fn is_provenance_object(bytes: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return false;
    };
    let bundles = value.get("attestation_bundles").and_then(|b| b.as_array());
    value.get("version").and_then(serde_json::Value::as_u64) == Some(1)
        && bundles.is_some_and(|bundles| {
            !bundles.is_empty()
                && bundles.iter().all(|bundle| {
                    bundle
                        .get("publisher")
                        .is_some_and(serde_json::Value::is_object)
                        && bundle
                            .get("attestations")
                            .is_some_and(serde_json::Value::is_array)
                })
        })
}

/// The provenance object of a file (PEP 740): one bundle of its attestations, with the
/// publisher their certificates name.
#[must_use]
pub fn provenance_object(verified: &[Verified]) -> serde_json::Value {
    let publisher = verified
        .first()
        .map_or_else(|| serde_json::json!({ "kind": "unknown" }), publisher_of);
    serde_json::json!({
        "version": 1,
        "attestation_bundles": [{
            "publisher": publisher,
            "attestations": verified.iter().map(|v| v.attestation.clone()).collect::<Vec<_>>(),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_objects_are_told_by_their_shape() {
        let good = br#"{"version": 1, "attestation_bundles": [{"publisher": {"kind": "GitHub"}, "attestations": []}]}"#;
        assert!(is_provenance_object(good));
        for bad in [
            &b"not json"[..],
            br"[]",
            br#"{"version": 2, "attestation_bundles": [{"publisher": {}, "attestations": []}]}"#,
            br#"{"version": 1, "attestation_bundles": []}"#,
            br#"{"version": 1, "attestation_bundles": [{"attestations": []}]}"#,
            br#"{"version": 1, "attestation_bundles": [{"publisher": {}, "attestations": {}}]}"#,
            br"<html>Not Found</html>",
        ] {
            assert!(
                !is_provenance_object(bad),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
