//! Transparency log entries (Sigstore's Rekor): an attestation's entry proves when it was
//! signed, which is the time its short-lived certificate must be valid at. An entry counts
//! only when the log that wrote it is in the trust root (`tlogs` of a `trusted_root.json`),
//! its signed entry timestamp (SET, the log's promise to include it) verifies with that log's
//! key, and its body is about this attestation (a `dsse` entry whose payload hash is the
//! statement's, with this signature and this certificate).
//!
//! The SET is the log's signature over the canonical JSON (keys sorted, no spaces) of
//! `{"body", "integratedTime", "logID", "logIndex"}`: the entry's body in base64, the time,
//! the log's id in hex, the entry's index
//! (<https://github.com/sigstore/rekor/blob/main/openapi.yaml>, `LogEntry.verification`).

use base64::Engine as _;
use rustls_pki_types::SignatureVerificationAlgorithm;
use sha2::{Digest as _, Sha256};
use x509_parser::prelude::FromDer as _;

use super::AttestationError;

/// A transparency log the trust root names.
#[derive(Debug, Clone)]
pub struct TransparencyLog {
    /// Its id: the sha256 of its public key (DER), as entries name it.
    key_id: Vec<u8>,
    /// Its public key: the subject public key of its SPKI (an EC point, or Ed25519 bytes).
    public_key: Vec<u8>,
    /// How its signatures verify.
    algorithm: &'static dyn SignatureVerificationAlgorithm,
}

/// What an entry must be about: the attestation's statement, signature and certificate.
pub(super) struct Signed<'a> {
    pub statement: &'a [u8],
    pub signature: &'a [u8],
    pub certificate: &'a [u8],
}

impl TransparencyLog {
    /// A log of a `trusted_root.json` `tlogs` entry.
    ///
    /// # Errors
    /// [`AttestationError::TrustRoot`] naming what is missing or unusable.
    pub(super) fn from_trusted_root(log: &serde_json::Value) -> Result<Self, AttestationError> {
        let unusable =
            |reason: &str| AttestationError::TrustRoot(format!("a `tlogs` entry {reason}"));
        let decode = |pointer: &str| {
            let text = log
                .pointer(pointer)
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| unusable(&format!("without `{}`", &pointer[1..])))?;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| unusable(&format!("whose `{}` is not base64", &pointer[1..])))
        };
        let spki = decode("/publicKey/rawBytes")?;
        let key_id = match log.pointer("/logId/keyId") {
            Some(_) => decode("/logId/keyId")?,
            None => Sha256::digest(&spki).to_vec(),
        };
        let details = log
            .pointer("/publicKey/keyDetails")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("PKIX_ECDSA_P256_SHA_256");
        let algorithm: &'static dyn SignatureVerificationAlgorithm = match details {
            "PKIX_ECDSA_P256_SHA_256" => webpki::aws_lc_rs::ECDSA_P256_SHA256,
            "PKIX_ECDSA_P384_SHA_384" => webpki::aws_lc_rs::ECDSA_P384_SHA384,
            "PKIX_ED25519" => webpki::aws_lc_rs::ED25519,
            other => {
                return Err(unusable(&format!(
                    "with key type `{}`, not one of PKIX_ECDSA_P256_SHA_256, PKIX_ECDSA_P384_SHA_384, PKIX_ED25519",
                    crate::packaging::shown(other)
                )));
            }
        };
        let (_, parsed) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki)
            .map_err(|_| unusable("whose public key is not a DER SubjectPublicKeyInfo"))?;
        Ok(Self {
            key_id,
            public_key: parsed.subject_public_key.data.to_vec(),
            algorithm,
        })
    }
}

/// The time the first entry that checks out says `signed` was logged; why none does.
///
/// # Errors
/// The reason the last entry was refused (no entry: says so).
pub(super) fn verified_time(
    entries: &[serde_json::Value],
    logs: &[TransparencyLog],
    signed: &Signed<'_>,
) -> Result<u64, String> {
    let mut reason = "it has no transparency log entry".to_owned();
    for entry in entries {
        match verify_entry(entry, logs, signed) {
            Ok(time) => return Ok(time),
            Err(why) => reason = why,
        }
    }
    Err(reason)
}

fn verify_entry(
    entry: &serde_json::Value,
    logs: &[TransparencyLog],
    signed: &Signed<'_>,
) -> Result<u64, String> {
    let base64 = |pointer: &str| -> Result<Vec<u8>, String> {
        let text = entry
            .pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| format!("its log entry has no `{}`", &pointer[1..]))?;
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| format!("its log entry's `{}` is not base64", &pointer[1..]))
    };
    let number = |field: &str| -> Result<u64, String> {
        let value = entry.get(field);
        value
            .and_then(serde_json::Value::as_u64)
            .or_else(|| value?.as_str()?.parse().ok())
            .ok_or_else(|| format!("its log entry has no number `{field}`"))
    };
    let key_id = base64("/logId/keyId")?;
    let log = logs
        .iter()
        .find(|log| log.key_id == key_id)
        .ok_or_else(|| {
            format!(
                "its log entry is from log `{}`, which the trust root does not name",
                hex::encode(&key_id)
            )
        })?;
    let body = base64("/canonicalizedBody")?;
    let time = number("integratedTime")?;
    let index = number("logIndex")?;
    let promise = base64("/inclusionPromise/signedEntryTimestamp")?;
    let payload = set_payload(&body, time, &key_id, index);
    log.algorithm
        .verify_signature(&log.public_key, &payload, &promise)
        .map_err(|_| {
            "its log entry's signed entry timestamp does not verify with the log's key".to_owned()
        })?;
    check_body(&body, signed)?;
    if let Some(proof) = entry.get("inclusionProof") {
        check_inclusion(proof, &body, log)?;
    }
    Ok(time)
}

/// Checks an entry's inclusion proof (RFC 9162, 2.1.3.2): the path from the entry's leaf
/// leads to the root hash, and the checkpoint (a signed note, signed by the same log) commits
/// to that root at that tree size.
fn check_inclusion(
    proof: &serde_json::Value,
    body: &[u8],
    log: &TransparencyLog,
) -> Result<(), String> {
    let refused = |what: &str| format!("its log entry's inclusion proof {what}");
    let number = |field: &str| {
        let value = proof.get(field);
        value
            .and_then(serde_json::Value::as_u64)
            .or_else(|| value?.as_str()?.parse().ok())
            .ok_or_else(|| refused(&format!("has no number `{field}`")))
    };
    let decode = |text: Option<&str>| {
        text.and_then(|t| {
            base64::engine::general_purpose::STANDARD
                .decode(t.trim())
                .ok()
        })
    };
    let index = number("logIndex")?;
    let size = number("treeSize")?;
    let root = decode(proof.get("rootHash").and_then(serde_json::Value::as_str))
        .ok_or_else(|| refused("has no base64 `rootHash`"))?;
    let path = proof
        .get("hashes")
        .and_then(serde_json::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|hash| decode(hash.as_str()).filter(|h| h.len() == 32))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| refused("has a hash that is not 32 bytes of base64"))?;
    let leaf = Sha256::new_with_prefix([0u8]).chain_update(body).finalize();
    if root_from_path(index, size, leaf.into(), &path).map(Vec::from) != Some(root.clone()) {
        return Err(refused("does not lead to its root hash"));
    }
    let note = proof
        .pointer("/checkpoint/envelope")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| refused("has no checkpoint"))?;
    check_checkpoint(note, size, &root, log).map_err(|why| refused(&why))
}

/// The root hash an inclusion path leads to from `leaf` at `index` in a tree of `size`.
fn root_from_path(index: u64, size: u64, leaf: [u8; 32], path: &[Vec<u8>]) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let node = |left: &[u8], right: &[u8]| -> [u8; 32] {
        Sha256::new_with_prefix([1u8])
            .chain_update(left)
            .chain_update(right)
            .finalize()
            .into()
    };
    let (mut position, mut last, mut hash) = (index, size - 1, leaf);
    for sibling in path {
        if last == 0 {
            return None;
        }
        if position & 1 == 1 || position == last {
            hash = node(sibling, &hash);
            while position & 1 == 0 && position != 0 {
                position >>= 1;
                last >>= 1;
            }
        } else {
            hash = node(&hash, sibling);
        }
        position >>= 1;
        last >>= 1;
    }
    (last == 0).then_some(hash)
}

/// Checks a checkpoint: a signed note (origin, tree size, base64 root hash, then a blank line
/// and `— <name> <base64 of key hint and signature>` lines) of this size and root, with a
/// signature of `log` (its hint: the first 4 bytes of its id) over the text before the blank
/// line.
fn check_checkpoint(
    note: &str,
    size: u64,
    root: &[u8],
    log: &TransparencyLog,
) -> Result<(), String> {
    let (text, signatures) = note
        .split_once("\n\n")
        .ok_or_else(|| "has a checkpoint that is not a signed note".to_owned())?;
    let mut lines = text.lines();
    let (_origin, noted_size, noted_root) = (lines.next(), lines.next(), lines.next());
    if noted_size.and_then(|s| s.parse::<u64>().ok()) != Some(size)
        || noted_root.and_then(|r| base64::engine::general_purpose::STANDARD.decode(r).ok())
            != Some(root.to_vec())
    {
        return Err("has a checkpoint of another tree".to_owned());
    }
    let signed = format!("{text}\n");
    let hint = log.key_id.get(..4).unwrap_or_default();
    let verifies = signatures.lines().any(|line| {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return false;
        };
        let Some((_name, encoded)) = rest.rsplit_once(' ') else {
            return false;
        };
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            return false;
        };
        bytes.len() > 4
            && &bytes[..4] == hint
            && log
                .algorithm
                .verify_signature(&log.public_key, signed.as_bytes(), &bytes[4..])
                .is_ok()
    });
    if verifies {
        Ok(())
    } else {
        Err("has a checkpoint the log did not sign".to_owned())
    }
}

/// The bytes a signed entry timestamp signs: canonical JSON, keys in order.
fn set_payload(body: &[u8], time: u64, key_id: &[u8], index: u64) -> Vec<u8> {
    let body = base64::engine::general_purpose::STANDARD.encode(body);
    format!(
        r#"{{"body":"{body}","integratedTime":{time},"logID":"{}","logIndex":{index}}}"#,
        hex::encode(key_id)
    )
    .into_bytes()
}

/// Checks the entry's body is a `dsse` entry of this statement, signature and certificate.
fn check_body(body: &[u8], signed: &Signed<'_>) -> Result<(), String> {
    let body: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "its log entry's body is not JSON".to_owned())?;
    let kind = body
        .get("kind")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    if kind != "dsse" {
        return Err(format!(
            "its log entry is of kind `{}`; only `dsse` entries are checked",
            crate::packaging::shown(kind)
        ));
    }
    let payload_hash = body
        .pointer("/spec/payloadHash/value")
        .and_then(serde_json::Value::as_str);
    if payload_hash != Some(hex::encode(Sha256::digest(signed.statement)).as_str()) {
        return Err("its log entry is about another statement".to_owned());
    }
    let decode = |text: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()
    };
    let signatures = body
        .pointer("/spec/signatures")
        .and_then(serde_json::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let ours = signatures.iter().any(|entry| {
        let signature = entry.get("signature").and_then(serde_json::Value::as_str);
        let verifier = entry.get("verifier").and_then(serde_json::Value::as_str);
        signature.and_then(decode).as_deref() == Some(signed.signature)
            && verifier
                .and_then(decode)
                .is_some_and(|pem| pem_is(&pem, signed.certificate))
    });
    if !ours {
        return Err("its log entry records another signature or certificate".to_owned());
    }
    Ok(())
}

/// Whether `pem` holds the certificate `der`.
fn pem_is(pem: &[u8], der: &[u8]) -> bool {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .any(|certificate| certificate.as_ref() == der)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(data: &[u8]) -> [u8; 32] {
        Sha256::new_with_prefix([0u8])
            .chain_update(data)
            .finalize()
            .into()
    }

    /// RFC 6962's MTH, as the definition reads.
    fn tree_hash(leaves: &[[u8; 32]]) -> [u8; 32] {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let split = leaves.len().next_power_of_two() / 2;
        Sha256::new_with_prefix([1u8])
            .chain_update(tree_hash(&leaves[..split]))
            .chain_update(tree_hash(&leaves[split..]))
            .finalize()
            .into()
    }

    /// RFC 6962's PATH, as the definition reads.
    fn path(index: usize, leaves: &[[u8; 32]]) -> Vec<Vec<u8>> {
        if leaves.len() == 1 {
            return Vec::new();
        }
        let split = leaves.len().next_power_of_two() / 2;
        if index < split {
            let mut path = path(index, &leaves[..split]);
            path.push(tree_hash(&leaves[split..]).to_vec());
            path
        } else {
            let mut path = path(index - split, &leaves[split..]);
            path.push(tree_hash(&leaves[..split]).to_vec());
            path
        }
    }

    #[test]
    fn inclusion_paths_lead_to_the_root_of_every_tree_shape() {
        for size in 1..=17usize {
            let leaves: Vec<[u8; 32]> = (0..size)
                .map(|i| leaf(&[u8::try_from(i).unwrap()]))
                .collect();
            let root = tree_hash(&leaves);
            for index in 0..size {
                let proof = path(index, &leaves);
                let (at, of) = (index as u64, size as u64);
                assert_eq!(
                    root_from_path(at, of, leaves[index], &proof),
                    Some(root),
                    "{index}/{size}"
                );
                let other = leaf(b"another entry");
                assert_ne!(root_from_path(at, of, other, &proof), Some(root));
                if !proof.is_empty() {
                    let mut broken = proof.clone();
                    broken[0][0] ^= 1;
                    assert_ne!(root_from_path(at, of, leaves[index], &broken), Some(root));
                    assert_ne!(
                        root_from_path(at, of, leaves[index], &proof[1..]),
                        Some(root)
                    );
                }
                assert_eq!(root_from_path(of, of, leaves[index], &proof), None);
            }
        }
    }

    #[test]
    fn the_signed_payload_is_canonical_json() {
        let payload = set_payload(b"{}", 1_700_000_000, &[0xab, 0x01], 42);
        assert_eq!(
            String::from_utf8(payload).unwrap(),
            r#"{"body":"e30=","integratedTime":1700000000,"logID":"ab01","logIndex":42}"#
        );
    }

    #[test]
    fn bodies_must_be_dsse_entries_of_this_signature() {
        let signed = Signed {
            statement: b"statement",
            signature: b"sig",
            certificate: b"not a certificate",
        };
        let refused =
            |body: serde_json::Value| check_body(body.to_string().as_bytes(), &signed).unwrap_err();
        assert!(refused(serde_json::json!({"kind": "intoto"})).contains("only `dsse`"));
        assert!(
            refused(serde_json::json!({"kind": "dsse", "spec": {"payloadHash": {"value": "00"}}}))
                .contains("another statement")
        );
        let hash = hex::encode(Sha256::digest(b"statement"));
        let body = serde_json::json!({"kind": "dsse", "spec": {
            "payloadHash": {"algorithm": "sha256", "value": hash},
            "signatures": [{"signature": "c2ln", "verifier": "bm90IGEgcGVt"}],
        }});
        assert!(refused(body).contains("another signature or certificate"));
        assert!(check_body(b"[", &signed).unwrap_err().contains("not JSON"));
    }

    #[test]
    fn entries_of_unknown_logs_or_without_fields_are_refused_by_name() {
        let signed = Signed {
            statement: b"s",
            signature: b"s",
            certificate: b"c",
        };
        assert_eq!(
            verified_time(&[], &[], &signed).unwrap_err(),
            "it has no transparency log entry"
        );
        let entry = serde_json::json!({"logId": {"keyId": "AQI="}});
        assert_eq!(
            verified_time(&[entry], &[], &signed).unwrap_err(),
            "its log entry is from log `0102`, which the trust root does not name"
        );
        assert!(
            verified_time(&[serde_json::json!({})], &[], &signed)
                .unwrap_err()
                .contains("no `logId/keyId`")
        );
    }
}
