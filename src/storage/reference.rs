//! Validated names of OCI content: repositories, tags and digests.
//!
//! Grammar from the OCI distribution spec, "Pulling manifests":
//! <https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests>

use std::fmt;

use sha2::{Digest as _, Sha256};

use super::error::StorageError;

/// The longest repository name accepted (many registries stop at 255).
const MAX_REPOSITORY_LENGTH: usize = 255;
/// The longest tag the distribution spec allows.
const MAX_TAG_LENGTH: usize = 128;

/// A repository name: `/`-separated lowercase components such as `org/team/hello_world`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository(String);

impl Repository {
    /// Validates a repository name.
    ///
    /// # Errors
    /// [`StorageError::InvalidReference`] when a component is not
    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` or the name is too long.
    pub fn parse(input: &str) -> Result<Self, StorageError> {
        if input.len() > MAX_REPOSITORY_LENGTH {
            return Err(invalid(
                "repository",
                input,
                "is longer than 255 characters",
            ));
        }
        if !input.split('/').all(is_path_component) {
            return Err(invalid(
                "repository",
                input,
                "is not lowercase letters and digits separated by `.`, `_`, `__`, `-` or `/`",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    /// The name, as used in `/v2/<name>/...` URLs.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `component` is one path component of a repository name.
#[must_use]
pub fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return false;
    }
    // Separators between alphanumeric runs: `.`, `_`, `__`, or any run of `-`.
    let mut run = String::new();
    for &b in bytes {
        if alnum(&b) {
            if !matches!(run.as_str(), "" | "." | "_" | "__") && !run.bytes().all(|s| s == b'-') {
                return false;
            }
            run.clear();
        } else if matches!(b, b'.' | b'_' | b'-') {
            run.push(char::from(b));
        } else {
            return false;
        }
    }
    true
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// Validates a tag.
    ///
    /// # Errors
    /// [`StorageError::InvalidReference`] when it is empty, longer than 128 characters or has
    /// characters outside `[a-zA-Z0-9._-]` (or starts with `.` or `-`).
    pub fn parse(input: &str) -> Result<Self, StorageError> {
        let valid_start = input
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
        let valid_rest = input
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if input.len() > MAX_TAG_LENGTH {
            return Err(invalid("tag", input, "is longer than 128 characters"));
        }
        if !valid_start || !valid_rest {
            return Err(invalid(
                "tag",
                input,
                "is not `[a-zA-Z0-9_][a-zA-Z0-9._-]*`",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    /// The tag text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A content digest, `sha256:<64 lowercase hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Validates a digest string. Only `sha256` is supported.
    ///
    /// # Errors
    /// [`StorageError::InvalidReference`] when it is not `sha256:` and 64 lowercase hex digits.
    pub fn parse(input: &str) -> Result<Self, StorageError> {
        match input.strip_prefix("sha256:") {
            Some(hex) if is_sha256_hex(hex) => Ok(Self(input.to_owned())),
            _ => Err(invalid(
                "digest",
                input,
                "is not `sha256:` and 64 lowercase hex digits",
            )),
        }
    }

    /// The digest of a hex-encoded sha256.
    ///
    /// # Errors
    /// [`StorageError::InvalidReference`] when `hex` is not 64 lowercase hex digits.
    pub fn from_sha256_hex(hex: &str) -> Result<Self, StorageError> {
        Self::parse(&format!("sha256:{hex}"))
    }

    /// The sha256 digest of `bytes`.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The full `sha256:<hex>` form.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex part alone.
    #[must_use]
    pub fn hex(&self) -> &str {
        self.0.strip_prefix("sha256:").unwrap_or(&self.0)
    }
}

fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a manifest is addressed by: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A mutable tag.
    Tag(Tag),
    /// An immutable digest.
    Digest(Digest),
}

impl Reference {
    /// The text used in a `/manifests/<reference>` URL.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Tag(tag) => tag.as_str(),
            Self::Digest(digest) => digest.as_str(),
        }
    }
}

impl From<Tag> for Reference {
    fn from(tag: Tag) -> Self {
        Self::Tag(tag)
    }
}

impl From<Digest> for Reference {
    fn from(digest: Digest) -> Self {
        Self::Digest(digest)
    }
}

macro_rules! display_as_str {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(Repository, Tag, Digest, Reference);

fn invalid(kind: &'static str, input: &str, reason: &'static str) -> StorageError {
    StorageError::InvalidReference {
        kind,
        input: input.escape_default().to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories() {
        for valid in [
            "a",
            "org/team1/python/hello_world",
            "a.b",
            "a__b",
            "a---b",
            "a-b_c.d/e",
        ] {
            Repository::parse(valid).unwrap();
        }
        for invalid in [
            "", "A", "a//b", "a/", "/a", "a___b", "a._b", "-a", "a-", "a+b", "a b",
        ] {
            assert!(Repository::parse(invalid).is_err(), "{invalid}");
        }
        assert_eq!(
            Repository::parse("Org/x").unwrap_err().to_string(),
            "invalid repository `Org/x`: is not lowercase letters and digits separated by `.`, `_`, `__`, `-` or `/`"
        );
    }

    #[test]
    fn tags() {
        for valid in [
            "1.0",
            "1.0-abc",
            "_x",
            "latest",
            "sha256-abc.sig",
            &"a".repeat(128),
        ] {
            Tag::parse(valid).unwrap();
        }
        for invalid in ["", ".x", "-x", "1!0", "1+0", &"a".repeat(129)] {
            assert!(Tag::parse(invalid).is_err(), "{invalid}");
        }
        assert_eq!(
            Tag::parse("1!0").unwrap_err().to_string(),
            "invalid tag `1!0`: is not `[a-zA-Z0-9_][a-zA-Z0-9._-]*`"
        );
    }

    #[test]
    fn digests() {
        let digest = Digest::of(b"{}");
        assert_eq!(
            digest.as_str(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(Digest::parse(digest.as_str()).unwrap(), digest);
        assert_eq!(Digest::from_sha256_hex(digest.hex()).unwrap(), digest);
        assert!(Digest::parse("sha256:ABC").is_err());
        assert!(Digest::parse("md5:44136fa355b3678a1146ad16f7e8649e").is_err());
    }
}
