//! A file's sha256 in both vocabularies: packaging records it as hex ([`Sha256`]), the store
//! addresses its blob by the OCI digest `sha256:<hex>` ([`Digest`]). The two always convert.

use crate::packaging::Sha256;
use crate::storage::Digest;

impl From<&Sha256> for Digest {
    /// The digest of the blob whose sha256 is `sha256`.
    fn from(sha256: &Sha256) -> Self {
        match Digest::from_sha256_hex(sha256.as_str()) {
            Ok(digest) => digest,
            Err(_) => unreachable!("a sha256 is 64 lowercase hex digits, as a digest's hex"),
        }
    }
}

impl From<&Digest> for Sha256 {
    /// The sha256 of the blob addressed by `digest`.
    fn from(digest: &Digest) -> Self {
        match Sha256::parse(digest.hex()) {
            Ok(sha256) => sha256,
            Err(_) => unreachable!("a digest's hex is 64 lowercase hex digits, as a sha256"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways() {
        let sha256 = Sha256::of(b"{}");
        let digest = Digest::from(&sha256);
        assert_eq!(digest, Digest::of(b"{}"));
        assert_eq!(digest.hex(), sha256.as_str());
        assert_eq!(Sha256::from(&digest), sha256);
    }
}
