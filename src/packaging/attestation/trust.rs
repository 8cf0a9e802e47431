//! The trust root attestation certificates must chain to: a PEM file of CA certificates
//! (each one a trust anchor), or a Sigstore `trusted_root.json` (every certificate authority's
//! chain: its last certificate the anchor, the others intermediates; and its transparency
//! logs, `tlogs`, whose entries then date each signature).

use base64::Engine as _;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::TrustAnchor;
use rustls_pki_types::pem::PemObject as _;

use super::AttestationError;
use super::tlog::TransparencyLog;

/// Trust anchors and intermediate certificates.
#[derive(Debug, Clone)]
pub struct TrustRoot {
    pub(super) anchors: Vec<TrustAnchor<'static>>,
    pub(super) intermediates: Vec<CertificateDer<'static>>,
    /// The transparency logs whose entries are checked (a `trusted_root.json`'s `tlogs`);
    /// none for a PEM bundle.
    pub(super) logs: Vec<TransparencyLog>,
}

fn unusable(reason: impl Into<String>) -> AttestationError {
    AttestationError::TrustRoot(reason.into())
}

impl TrustRoot {
    /// Reads a PEM bundle or a Sigstore `trusted_root.json`.
    ///
    /// # Errors
    /// [`AttestationError::TrustRoot`] when neither yields a certificate.
    pub fn parse(bytes: &[u8]) -> Result<Self, AttestationError> {
        let text = String::from_utf8_lossy(bytes);
        if text.trim_start().starts_with('{') {
            return Self::from_trusted_root(bytes);
        }
        let certificates = CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| unusable(format!("not PEM certificates: {error}")))?;
        if certificates.is_empty() {
            return Err(unusable(
                "no certificate found (expected PEM `CERTIFICATE` blocks or a Sigstore trusted_root.json)",
            ));
        }
        Ok(Self {
            anchors: anchors(&certificates)?,
            intermediates: Vec::new(),
            logs: Vec::new(),
        })
    }

    fn from_trusted_root(bytes: &[u8]) -> Result<Self, AttestationError> {
        let root: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|error| unusable(format!("not JSON: {error}")))?;
        let authorities = root
            .get("certificateAuthorities")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| unusable("a trusted_root.json without `certificateAuthorities`"))?;
        let (mut roots, mut intermediates) = (Vec::new(), Vec::new());
        for authority in authorities {
            let chain = authority
                .pointer("/certChain/certificates")
                .and_then(serde_json::Value::as_array)
                .ok_or_else(|| unusable("a certificate authority without `certChain`"))?;
            let mut certificates = Vec::new();
            for certificate in chain {
                let raw = certificate
                    .get("rawBytes")
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(|| unusable("a certificate without `rawBytes`"))?;
                let der = base64::engine::general_purpose::STANDARD
                    .decode(raw)
                    .map_err(|_| unusable("`rawBytes` is not base64"))?;
                certificates.push(CertificateDer::from(der));
            }
            if let Some(root) = certificates.pop() {
                roots.push(root);
            }
            intermediates.extend(certificates);
        }
        if roots.is_empty() {
            return Err(unusable("the trusted_root.json has no certificate"));
        }
        let logs = root
            .get("tlogs")
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(TransparencyLog::from_trusted_root)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            anchors: anchors(&roots)?,
            intermediates,
            logs,
        })
    }
}

fn anchors(
    certificates: &[CertificateDer<'static>],
) -> Result<Vec<TrustAnchor<'static>>, AttestationError> {
    certificates
        .iter()
        .map(|certificate| {
            webpki::anchor_from_trusted_cert(certificate)
                .map(|anchor| anchor.to_owned())
                .map_err(|error| {
                    unusable(format!("a certificate cannot be a trust anchor: {error}"))
                })
        })
        .collect()
}
