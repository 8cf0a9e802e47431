//! Upload tokens: what `mint-token` hands out and uploads present as their password.
//!
//! A token is self-contained, so that every replica sharing the secret accepts it:
//! `oci-pypi.` + base64url(JSON [`TokenClaims`]) + `.` + base64url(HMAC-SHA256 over everything
//! before that second dot). The MAC is checked in constant time before the claims are read.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit as _, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::error::PublishingError;

/// How every upload token starts; a Basic password with this prefix is an upload token.
pub const TOKEN_PREFIX: &str = "oci-pypi.";
/// The shortest secret accepted from a file.
pub const MIN_SECRET_LENGTH: usize = 32;
/// The longest token looked at.
const MAX_TOKEN_LENGTH: usize = 4096;

type HmacSha256 = hmac::Hmac<Sha256>;

/// What an upload token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenClaims {
    /// The trust policy it was minted for.
    pub policy: String,
    /// The registry origin it may publish to.
    pub registry: String,
    /// The namespaces it may publish to.
    pub namespaces: Vec<String>,
    /// The projects it may publish (normalised names), when its policy names them; left out
    /// of the token otherwise (any project of the namespaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<String>>,
    /// When it was minted (seconds since the epoch).
    pub iat: u64,
    /// When it expires (seconds since the epoch).
    pub exp: u64,
    /// A random id, for the logs.
    pub jti: String,
    /// The OIDC issuer of the token it was exchanged for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_issuer: Option<String>,
    /// The identity a signing certificate for that token names (Fulcio's subject
    /// alternative name): what PEP 740 attestations of its uploads must be signed by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_identity: Option<String>,
}

/// Signs and verifies upload tokens with the server's secret.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSigner(***)")
    }
}

impl TokenSigner {
    /// A signer with this secret.
    #[must_use]
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    /// A signer with a fresh random secret (its tokens work on this process only).
    ///
    /// # Errors
    /// [`PublishingError::NoRandomness`].
    pub fn random() -> Result<Self, PublishingError> {
        Ok(Self::new(random_bytes::<32>()?.to_vec()))
    }

    /// A signer whose secret is the content of `path` (surrounding whitespace ignored).
    ///
    /// # Errors
    /// The file cannot be read, or holds fewer than [`MIN_SECRET_LENGTH`] bytes.
    pub fn from_file(path: &std::path::Path) -> Result<Self, PublishingError> {
        let bytes = std::fs::read(path).map_err(|source| PublishingError::ReadFile {
            what: "the token secret".to_owned(),
            path: path.display().to_string(),
            source,
        })?;
        let key = bytes.trim_ascii();
        if key.len() < MIN_SECRET_LENGTH {
            return Err(PublishingError::WeakSecret {
                path: path.display().to_string(),
                minimum: MIN_SECRET_LENGTH,
            });
        }
        Ok(Self::new(key.to_vec()))
    }

    /// The token for `claims`.
    ///
    /// # Errors
    /// Only if the claims cannot be serialized or the key is unusable, which does not happen.
    pub fn sign(&self, claims: &TokenClaims) -> Result<String, PublishingError> {
        let json = serde_json::to_vec(claims)
            .map_err(|_| PublishingError::InvalidUploadToken("its claims cannot be encoded"))?;
        let signed = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(json));
        let tag = self.mac(signed.as_bytes())?.finalize().into_bytes();
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag)))
    }

    /// The claims of a token signed with this secret and not expired at `now`.
    ///
    /// # Errors
    /// [`PublishingError::InvalidUploadToken`] when it is malformed or its MAC does not verify,
    /// [`PublishingError::UploadTokenExpired`] when it has expired.
    pub fn verify(&self, token: &str, now: u64) -> Result<TokenClaims, PublishingError> {
        let malformed = || PublishingError::InvalidUploadToken("it is malformed");
        if token.len() > MAX_TOKEN_LENGTH {
            return Err(malformed());
        }
        let (signed, tag) = token.rsplit_once('.').ok_or_else(malformed)?;
        let payload = signed.strip_prefix(TOKEN_PREFIX).ok_or_else(malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| malformed())?;
        self.mac(signed.as_bytes())?
            .verify_slice(&tag)
            .map_err(|_| {
                PublishingError::InvalidUploadToken(
                    "its signature does not verify (altered, or minted by a server with another secret)",
                )
            })?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| malformed())?;
        let claims: TokenClaims = serde_json::from_slice(&json).map_err(|_| malformed())?;
        if claims.exp <= now {
            return Err(PublishingError::UploadTokenExpired {
                expired: claims.exp,
            });
        }
        Ok(claims)
    }

    fn mac(&self, message: &[u8]) -> Result<HmacSha256, PublishingError> {
        // HMAC takes keys of any length: this does not fail.
        let mut mac = HmacSha256::new_from_slice(&self.key)
            .map_err(|_| PublishingError::InvalidUploadToken("the server's secret is unusable"))?;
        mac.update(message);
        Ok(mac)
    }
}

/// `N` random bytes from the operating system.
///
/// # Errors
/// [`PublishingError::NoRandomness`].
pub fn random_bytes<const N: usize>() -> Result<[u8; N], PublishingError> {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes).map_err(|_| PublishingError::NoRandomness)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> TokenClaims {
        TokenClaims {
            policy: "app".to_owned(),
            registry: "https://ghcr.io".to_owned(),
            namespaces: vec!["acme/python".to_owned()],
            projects: Some(vec!["acme-app".to_owned()]),
            iat: 100,
            exp,
            jti: "abc".to_owned(),
            oidc_issuer: None,
            signing_identity: None,
        }
    }

    #[test]
    fn round_trips_and_expires() {
        let signer = TokenSigner::new(vec![7; 32]);
        let token = signer.sign(&claims(200)).unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(signer.verify(&token, 199).unwrap(), claims(200));
        let unrestricted = TokenClaims {
            projects: None,
            ..claims(200)
        };
        let token = signer.sign(&unrestricted).unwrap();
        // Tokens of policies without `projects` read as before (older replicas accept them).
        let payload = token[TOKEN_PREFIX.len()..].split('.').next().unwrap();
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert!(!json.contains("projects"), "{json}");
        assert_eq!(signer.verify(&token, 199).unwrap(), unrestricted);
        assert!(matches!(
            signer.verify(&token, 200),
            Err(PublishingError::UploadTokenExpired { expired: 200 })
        ));
    }

    #[test]
    fn refuses_other_secrets_and_tampering() {
        let signer = TokenSigner::new(vec![7; 32]);
        let token = signer.sign(&claims(200)).unwrap();
        let other = TokenSigner::new(vec![8; 32]);
        assert!(matches!(
            other.verify(&token, 100),
            Err(PublishingError::InvalidUploadToken(_))
        ));
        // Another payload under the original signature.
        let (_, tag) = token.rsplit_once('.').unwrap();
        let mut forged = claims(200);
        forged.projects = None;
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let forged = format!("{TOKEN_PREFIX}{forged_payload}.{tag}");
        assert!(signer.verify(&forged, 100).is_err());
        // One character changed anywhere.
        for position in [TOKEN_PREFIX.len() + 3, token.len() - 2] {
            let mut bytes = token.clone().into_bytes();
            bytes[position] = if bytes[position] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            assert!(signer.verify(&altered, 100).is_err(), "{altered}");
        }
        for garbage in ["", "oci-pypi.", "oci-pypi..", "x.y", &"a".repeat(5000)] {
            assert!(signer.verify(garbage, 100).is_err(), "{garbage}");
        }
    }

    #[test]
    fn secrets_from_files_must_be_long() {
        let dir = std::env::temp_dir().join(format!("oci-pypi-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let short = dir.join("short");
        std::fs::write(&short, "tooshort\n").unwrap();
        let error = TokenSigner::from_file(&short).unwrap_err().to_string();
        assert!(error.contains("at least 32 bytes"), "{error}");
        let long = dir.join("long");
        std::fs::write(&long, format!("{}\n", "z".repeat(40))).unwrap();
        let signer = TokenSigner::from_file(&long).unwrap();
        assert_eq!(signer.key.len(), 40);
        assert!(!format!("{signer:?}").contains('z'));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
