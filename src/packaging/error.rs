//! The errors of the packaging layer: every message names the bad value in backticks.

use super::version::VersionError;

/// How a bad value is quoted in a message: escaped (no newline or control character can
/// split the one-line reason) and cut to a readable length.
#[must_use]
pub fn shown(input: &str) -> String {
    const MAX_SHOWN: usize = 100;
    let mut text = String::new();
    for c in input.chars().take(MAX_SHOWN) {
        if c.is_control() || c == '\\' {
            text.extend(c.escape_default());
        } else {
            text.push(c);
        }
    }
    if input.chars().nth(MAX_SHOWN).is_some() {
        text.push('…');
    }
    text
}

/// Why a name, version, filename or upload form was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackagingError {
    /// A project name that PEP 503 does not allow.
    #[error("invalid project name `{input}`: {reason}")]
    InvalidName {
        /// The name as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A version that PEP 440 does not allow.
    #[error(transparent)]
    InvalidVersion(#[from] VersionError),
    /// A distribution filename that is neither a valid wheel nor sdist name.
    #[error("invalid filename `{input}`: {reason}")]
    InvalidFilename {
        /// The filename as given (control characters escaped).
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A sha256 that is not 64 hex digits.
    #[error("invalid sha256 `{input}`: is not 64 hex digits")]
    InvalidSha256 {
        /// The value as given (control characters escaped).
        input: String,
    },
    /// A required upload form field is absent.
    #[error("missing form field `{0}`")]
    MissingField(&'static str),
    /// An upload form field has a value we cannot accept.
    #[error("invalid form field `{field}`: `{value}` {reason}")]
    InvalidField {
        /// The field's name.
        field: &'static str,
        /// The value sent (truncated when long).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Another index's simple page that cannot be read.
    #[error("the simple page {0}")]
    InvalidPage(&'static str),
    /// The uploaded filename disagrees with the form's `name` or `version`.
    #[error("filename `{filename}` does not match form field `{field}` = `{value}`")]
    FieldMismatch {
        /// The uploaded file's name.
        filename: String,
        /// `name` or `version`.
        field: &'static str,
        /// The form's value.
        value: String,
    },
}
