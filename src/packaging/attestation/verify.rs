//! Checking the attestations of one file: parse, chain, signature, statement, identity.

use std::time::Duration;

use base64::Engine as _;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::Deserialize;
use webpki::EndEntityCert;

use super::{AttestationError, MAX_ATTESTATIONS, PREDICATE_TYPES, TrustRoot, tlog};
use crate::packaging::Sha256;

/// DSSE payload type of in-toto statements.
const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto statement type.
const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// Extended key usage `id-kp-codeSigning` (1.3.6.1.5.5.7.3.3), DER content octets.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// Fulcio's certificate extension naming the OIDC issuer (DER UTF8String).
const OID_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// Fulcio's older issuer extension (the raw string).
const OID_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";

/// One attestation as PEP 740 writes it.
#[derive(Debug, Clone, Deserialize)]
pub struct Attestation {
    /// Always 1.
    pub version: u64,
    /// The signing certificate and transparency log entries.
    pub verification_material: VerificationMaterial,
    /// The signed statement.
    pub envelope: Envelope,
}

/// The material a verifier needs besides the envelope.
#[derive(Debug, Clone, Deserialize)]
pub struct VerificationMaterial {
    /// The signing certificate, base64 DER.
    pub certificate: String,
    /// Transparency log entries, kept as sent.
    #[serde(default)]
    pub transparency_entries: Vec<serde_json::Value>,
}

/// A DSSE envelope in PEP 740's shape.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    /// The in-toto statement, base64.
    pub statement: String,
    /// The signature over its DSSE encoding, base64.
    pub signature: String,
}

/// An attestation that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The attestation, exactly as sent.
    pub attestation: serde_json::Value,
    /// Who signed: the certificate's subject alternative name (a URI or an email address).
    pub identity: String,
    /// The OIDC issuer the certificate names (Fulcio's extension), when it names one.
    pub issuer: Option<String>,
    /// The statement's predicate type.
    pub predicate_type: String,
}

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    kind: String,
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

#[derive(Deserialize)]
struct Subject {
    name: String,
    digest: std::collections::BTreeMap<String, String>,
}

fn malformed(reason: impl Into<String>) -> AttestationError {
    AttestationError::Malformed(reason.into())
}

/// Checks the `attestations` form field of the upload of `filename` (whose sha256 is
/// `sha256`) against `trust` at `now` (seconds since the epoch).
///
/// # Errors
/// An [`AttestationError`] naming the first problem found.
pub fn verify_attestations(
    field: &str,
    filename: &str,
    sha256: &Sha256,
    trust: Option<&TrustRoot>,
    now: u64,
) -> Result<Vec<Verified>, AttestationError> {
    let values: Vec<serde_json::Value> = serde_json::from_str(field)
        .map_err(|error| malformed(format!("the field is not a JSON array: {error}")))?;
    if values.is_empty() || values.len() > MAX_ATTESTATIONS {
        return Err(malformed(format!(
            "{} attestations sent; send 1 to {MAX_ATTESTATIONS} (one per predicate type)",
            values.len()
        )));
    }
    let trust = trust.ok_or(AttestationError::NoTrustRoot)?;
    let mut verified: Vec<Verified> = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        let checked = verify_one(index, value, filename, sha256, trust, now)?;
        if verified
            .iter()
            .any(|other| other.predicate_type == checked.predicate_type)
        {
            return Err(malformed(format!(
                "two attestations with predicate type `{}`",
                checked.predicate_type
            )));
        }
        verified.push(checked);
    }
    Ok(verified)
}

fn verify_one(
    index: usize,
    value: serde_json::Value,
    filename: &str,
    sha256: &Sha256,
    trust: &TrustRoot,
    now: u64,
) -> Result<Verified, AttestationError> {
    let attestation: Attestation = serde_json::from_value(value.clone())
        .map_err(|error| malformed(format!("attestation {index}: {error}")))?;
    if attestation.version != 1 {
        return Err(malformed(format!(
            "attestation {index} has version {}, not 1",
            attestation.version
        )));
    }
    let base64 = |what: &str, text: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| malformed(format!("attestation {index}: `{what}` is not base64")))
    };
    let der = CertificateDer::from(base64(
        "certificate",
        &attestation.verification_material.certificate,
    )?);
    let statement = base64("statement", &attestation.envelope.statement)?;
    let signature = base64("signature", &attestation.envelope.signature)?;
    let certificate =
        EndEntityCert::try_from(&der).map_err(|error| AttestationError::Untrusted {
            index,
            reason: format!("not an X.509 certificate ({error})"),
        })?;
    let signed = tlog::Signed {
        statement: &statement,
        signature: &signature,
        certificate: der.as_ref(),
    };
    let at = signing_time(
        index,
        &attestation.verification_material,
        trust,
        &signed,
        now,
    )?;
    certificate
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &trust.anchors,
            &trust.intermediates,
            UnixTime::since_unix_epoch(Duration::from_secs(at)),
            webpki::KeyUsage::required(CODE_SIGNING),
            None,
            None,
        )
        .map_err(|error| AttestationError::Untrusted {
            index,
            reason: error.to_string(),
        })?;
    let signed = pae(PAYLOAD_TYPE, &statement);
    let verifies = [
        webpki::aws_lc_rs::ECDSA_P256_SHA256,
        webpki::aws_lc_rs::ECDSA_P384_SHA384,
        webpki::aws_lc_rs::ED25519,
    ]
    .iter()
    .any(|algorithm| {
        certificate
            .verify_signature(*algorithm, &signed, &signature)
            .is_ok()
    });
    if !verifies {
        return Err(AttestationError::BadSignature { index });
    }
    let predicate_type = check_statement(index, &statement, filename, sha256)?;
    let (identity, issuer) = identity_of(&der).ok_or_else(|| AttestationError::Untrusted {
        index,
        reason: "the certificate names no identity (subject alternative name)".to_owned(),
    })?;
    Ok(Verified {
        attestation: value,
        identity,
        issuer,
        predicate_type,
    })
}

/// The DSSE pre-authentication encoding of `payload`.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut encoded = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    encoded.extend_from_slice(payload);
    encoded
}

/// The time the certificate must be valid at: when a transparency log the trust root names
/// says the signature was logged (an entry that checks out is then required); with no such
/// log (a PEM trust root), now: an entry's time is not taken unverified.
fn signing_time(
    index: usize,
    material: &VerificationMaterial,
    trust: &TrustRoot,
    signed: &tlog::Signed<'_>,
    now: u64,
) -> Result<u64, AttestationError> {
    if trust.logs.is_empty() {
        return Ok(now);
    }
    tlog::verified_time(&material.transparency_entries, &trust.logs, signed)
        .map_err(|reason| AttestationError::Unlogged { index, reason })
}

/// Checks the statement is about this file; returns its predicate type.
fn check_statement(
    index: usize,
    statement: &[u8],
    filename: &str,
    sha256: &Sha256,
) -> Result<String, AttestationError> {
    let statement: Statement = serde_json::from_slice(statement).map_err(|error| {
        malformed(format!(
            "attestation {index}: the statement is not an in-toto statement: {error}"
        ))
    })?;
    if statement.kind != STATEMENT_TYPE {
        return Err(malformed(format!(
            "attestation {index}: statement type `{}` is not `{STATEMENT_TYPE}`",
            crate::packaging::shown(&statement.kind)
        )));
    }
    let [subject] = statement.subject.as_slice() else {
        return Err(malformed(format!(
            "attestation {index}: the statement has {} subjects, not 1",
            statement.subject.len()
        )));
    };
    if subject.name != filename {
        return Err(AttestationError::WrongSubject {
            index,
            what: "file",
            found: crate::packaging::shown(&subject.name),
            expected: filename.to_owned(),
        });
    }
    let digest = subject.digest.get("sha256").map(|d| d.to_ascii_lowercase());
    if digest.as_deref() != Some(sha256.as_str()) {
        return Err(AttestationError::WrongSubject {
            index,
            what: "sha256",
            found: crate::packaging::shown(digest.as_deref().unwrap_or("(none)")),
            expected: sha256.to_string(),
        });
    }
    if !PREDICATE_TYPES.contains(&statement.predicate_type.as_str()) {
        return Err(malformed(format!(
            "attestation {index}: predicate type `{}` is not one of `{}`",
            crate::packaging::shown(&statement.predicate_type),
            PREDICATE_TYPES.join("`, `")
        )));
    }
    Ok(statement.predicate_type)
}

/// The certificate's identity (its first URI or email subject alternative name) and issuer.
fn identity_of(der: &[u8]) -> Option<(String, Option<String>)> {
    use x509_parser::extensions::GeneralName;
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let names = certificate.subject_alternative_name().ok()??;
    let identity = names
        .value
        .general_names
        .iter()
        .find_map(|name| match name {
            GeneralName::URI(uri) => Some((*uri).to_owned()),
            GeneralName::RFC822Name(email) => Some((*email).to_owned()),
            _ => None,
        })?;
    let issuer = certificate.extensions().iter().find_map(|extension| {
        let oid = extension.oid.to_id_string();
        if oid == OID_ISSUER_V2 {
            let (_, object) = x509_parser::der_parser::parse_der(extension.value).ok()?;
            object.as_str().ok().map(str::to_owned)
        } else if oid == OID_ISSUER_V1 {
            std::str::from_utf8(extension.value).ok().map(str::to_owned)
        } else {
            None
        }
    });
    Some((identity, issuer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(
            pae("application/vnd.in-toto+json", b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}".to_vec()
        );
    }

    #[test]
    fn malformed_fields_are_named() {
        let sha256 = &Sha256::parse(&"00".repeat(32)).unwrap();
        let error = verify_attestations("{", "a-1.0.tar.gz", sha256, None, 0).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid attestations: the field is not a JSON array"),
            "{error}"
        );
        let error = verify_attestations("[]", "a-1.0.tar.gz", sha256, None, 0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid attestations: 0 attestations sent; send 1 to 2 (one per predicate type)"
        );
        let error = verify_attestations("[{}]", "a-1.0.tar.gz", sha256, None, 0).unwrap_err();
        assert_eq!(error, AttestationError::NoTrustRoot);
    }

    #[test]
    fn statements_must_name_the_file() {
        let statement = |name: &str, digest: &str, predicate: &str| {
            serde_json::json!({
                "_type": STATEMENT_TYPE,
                "subject": [{ "name": name, "digest": { "sha256": digest } }],
                "predicateType": predicate,
                "predicate": {},
            })
            .to_string()
        };
        let ab = &"ab".repeat(32);
        let sha256 = &Sha256::parse(ab).unwrap();
        let good = statement("a-1.0.tar.gz", &ab.to_uppercase(), PREDICATE_TYPES[0]);
        assert_eq!(
            check_statement(0, good.as_bytes(), "a-1.0.tar.gz", sha256).unwrap(),
            PREDICATE_TYPES[0]
        );
        let other = statement("b-1.0.tar.gz", ab, PREDICATE_TYPES[0]);
        assert_eq!(
            check_statement(0, other.as_bytes(), "a-1.0.tar.gz", sha256)
                .unwrap_err()
                .to_string(),
            "invalid attestations: attestation 0 is about file `b-1.0.tar.gz`, not `a-1.0.tar.gz`"
        );
        let digest = statement("a-1.0.tar.gz", "cd", PREDICATE_TYPES[0]);
        assert_eq!(
            check_statement(0, digest.as_bytes(), "a-1.0.tar.gz", sha256)
                .unwrap_err()
                .to_string(),
            format!("invalid attestations: attestation 0 is about sha256 `cd`, not `{ab}`")
        );
        let predicate = statement("a-1.0.tar.gz", ab, "https://example.com/x");
        assert!(check_statement(0, predicate.as_bytes(), "a-1.0.tar.gz", sha256).is_err());
    }

    #[test]
    fn trust_roots_must_hold_certificates() {
        assert!(TrustRoot::parse(b"nothing here").is_err());
        assert!(TrustRoot::parse(br#"{"certificateAuthorities": []}"#).is_err());
    }
}
