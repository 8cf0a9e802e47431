//! The sha256 of a file as Python packaging records it: 64 lowercase hex digits, without the
//! `sha256:` prefix of an OCI digest. The upload form's `sha256_digest`, the `#sha256=` of a
//! simple page, the `hashes` of a PEP 691 page and the index's records all carry this form.
//!
//! Specification: <https://packaging.python.org/en/latest/specifications/simple-repository-api/>
//! (hash values are hex; the algorithm name travels beside them).

use std::fmt;

use sha2::{Digest as _, Sha256 as Hasher};

use super::error::{PackagingError, shown};

/// The number of hex digits of a sha256.
const HEX_LENGTH: usize = 64;

/// A sha256, held as 64 lowercase hex digits; serialized as that plain string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(String);

impl Sha256 {
    /// Validates a hex sha256, upper- or lowercase, and normalizes it to lowercase.
    ///
    /// # Errors
    /// [`PackagingError::InvalidSha256`] when it is not 64 hex digits.
    pub fn parse(input: &str) -> Result<Self, PackagingError> {
        if input.len() == HEX_LENGTH && input.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(input.to_ascii_lowercase()))
        } else {
            Err(PackagingError::InvalidSha256 {
                input: shown(input),
            })
        }
    }

    /// The sha256 of `bytes`.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self(hex::encode(Hasher::digest(bytes)))
    }

    /// The sha256 of what was fed to `hasher` (for bytes hashed as they stream).
    #[must_use]
    pub fn from_hasher(hasher: Hasher) -> Self {
        Self(hex::encode(hasher.finalize()))
    }

    /// The 64 lowercase hex digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Sha256 {
    type Err = PackagingError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl serde::Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn parses_hex_of_either_case_into_lowercase() {
        let sha = Sha256::parse(HELLO).unwrap();
        assert_eq!(sha.as_str(), HELLO);
        assert_eq!(Sha256::parse(&HELLO.to_uppercase()).unwrap(), sha);
        assert_eq!(HELLO.parse::<Sha256>().unwrap(), sha);
        assert_eq!(sha.to_string(), HELLO);
    }

    #[test]
    fn hashes_bytes_whole_or_streamed() {
        assert_eq!(Sha256::of(b"hello").as_str(), HELLO);
        let mut hasher = Hasher::new();
        hasher.update(b"hel");
        hasher.update(b"lo");
        assert_eq!(Sha256::from_hasher(hasher).as_str(), HELLO);
    }

    #[test]
    fn error_messages_name_the_bad_value() {
        for (input, message) in [
            ("", "invalid sha256 ``: is not 64 hex digits"),
            ("abc", "invalid sha256 `abc`: is not 64 hex digits"),
            (
                &format!("sha256:{}", &HELLO[7..]),
                &format!(
                    "invalid sha256 `sha256:{}`: is not 64 hex digits",
                    &HELLO[7..]
                ),
            ),
            (
                &"g".repeat(64),
                &format!("invalid sha256 `{}`: is not 64 hex digits", "g".repeat(64)),
            ),
            ("ab\ncd", "invalid sha256 `ab\\ncd`: is not 64 hex digits"),
        ] {
            assert_eq!(Sha256::parse(input).unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn serializes_as_the_plain_hex_string() {
        let sha = Sha256::of(b"hello");
        let json = serde_json::to_string(&serde_json::json!({ "sha256": sha })).unwrap();
        assert_eq!(json, format!(r#"{{"sha256":"{HELLO}"}}"#));
        let read: Sha256 = serde_json::from_str(&format!("\"{}\"", HELLO.to_uppercase())).unwrap();
        assert_eq!(read, sha);
        let error = serde_json::from_str::<Sha256>("\"abc\"").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid sha256 `abc`: is not 64 hex digits"
        );
    }
}
