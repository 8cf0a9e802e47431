//! Project names and their normalized form.
//!
//! Specification: <https://packaging.python.org/en/latest/specifications/name-normalization/>
//! (PEP 503): a valid name is ASCII letters, digits, `.`, `-` and `_`, starting and ending with a
//! letter or digit; the normalized form is lowercase with every run of `.`, `-`, `_` replaced by a
//! single `-`.

use std::fmt;

use super::error::PackagingError;

/// The longest project name accepted; PyPI's own limit is far lower, this only bounds memory.
const MAX_NAME_LENGTH: usize = 200;

/// A valid Python project name, held in its PEP 503 normalized form (`Foo.Bar_baz` → `foo-bar-baz`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectName(String);

impl ProjectName {
    /// Validates `input` as a project name and normalizes it.
    ///
    /// # Errors
    /// [`PackagingError::InvalidName`] when the name is empty, too long, has characters other than ASCII letters,
    /// digits, `.`, `-`, `_`, or starts or ends with a separator.
    pub fn parse(input: &str) -> Result<Self, PackagingError> {
        let invalid = |reason: &'static str| PackagingError::InvalidName {
            input: super::error::shown(input),
            reason,
        };
        if input.is_empty() {
            return Err(invalid("a project name cannot be empty"));
        }
        if input.len() > MAX_NAME_LENGTH {
            return Err(invalid("a project name is at most 200 characters"));
        }
        if !input
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return Err(invalid(
                "only ASCII letters, digits, `.`, `-` and `_` are allowed",
            ));
        }
        let is_separator = |b: Option<u8>| matches!(b, Some(b'.' | b'-' | b'_'));
        if is_separator(input.bytes().next()) || is_separator(input.bytes().last()) {
            return Err(invalid("it must start and end with a letter or digit"));
        }
        Ok(Self(normalize(input)))
    }

    /// The normalized name (`foo-bar`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as it appears in wheel and sdist filenames: normalized, with `-` replaced by `_`
    /// (`foo_bar`).
    #[must_use]
    pub fn filename_form(&self) -> String {
        self.0.replace('-', "_")
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pattern over project names: a name where `*` stands for any run of characters
/// (`acme-*`, `*-plugin`, `*`), compared in normalized form, so that `Acme_*` matches
/// `acme-tools`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

impl NamePattern {
    /// Validates and normalizes a pattern.
    ///
    /// # Errors
    /// [`PackagingError::InvalidName`] when it is empty, too long, or has characters other
    /// than those of names and `*`.
    pub fn parse(input: &str) -> Result<Self, PackagingError> {
        let invalid = |reason: &'static str| PackagingError::InvalidName {
            input: super::error::shown(input),
            reason,
        };
        if input.is_empty() || input.len() > MAX_NAME_LENGTH {
            return Err(invalid("a name pattern is 1 to 200 characters"));
        }
        if !input
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'*'))
        {
            return Err(invalid(
                "a name pattern has only ASCII letters, digits, `.`, `-`, `_` and `*`",
            ));
        }
        Ok(Self(normalize(input)))
    }

    /// Whether `name` matches.
    #[must_use]
    pub fn matches(&self, name: &ProjectName) -> bool {
        super::wildcard_matches(&self.0, name.as_str())
    }
}

/// Lowercases and collapses every run of `.`, `-`, `_` into one `-`.
fn normalize(input: &str) -> String {
    let mut normalized = String::with_capacity(input.len());
    let mut in_separator_run = false;
    for c in input.chars() {
        if matches!(c, '.' | '-' | '_') {
            if !in_separator_run {
                normalized.push('-');
            }
            in_separator_run = true;
        } else {
            normalized.push(c.to_ascii_lowercase());
            in_separator_run = false;
        }
    }
    normalized
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_patterns_match_normalized_names() {
        let name = |text: &str| ProjectName::parse(text).unwrap();
        for (pattern, text, expected) in [
            ("*", "anything", true),
            ("acme-*", "acme-tools", true),
            ("Acme_*", "ACME.tools", true),
            ("acme-*", "acme", false),
            ("*-plugin", "pytest-plugin", true),
            ("*-plugin", "pytest-plugins", false),
            ("a*b*c", "a-x-b-y-c", true),
            ("demo", "demo", true),
            ("demo", "demo2", false),
        ] {
            let pattern = NamePattern::parse(pattern).unwrap();
            assert_eq!(pattern.matches(&name(text)), expected, "{pattern:?} {text}");
        }
        assert_eq!(
            NamePattern::parse("acme/*").unwrap_err().to_string(),
            "invalid project name `acme/*`: a name pattern has only ASCII letters, digits, `.`, `-`, `_` and `*`"
        );
        assert!(NamePattern::parse("").is_err());
    }

    #[test]
    fn normalizes_case_and_separator_runs() {
        let cases = [
            ("friendly-bard", "friendly-bard"),
            ("Friendly-Bard", "friendly-bard"),
            ("FRIENDLY-BARD", "friendly-bard"),
            ("friendly.bard", "friendly-bard"),
            ("friendly_bard", "friendly-bard"),
            ("friendly--bard", "friendly-bard"),
            ("FrIeNdLy-._.-bArD", "friendly-bard"),
            ("a", "a"),
            ("A1", "a1"),
            ("zope.interface", "zope-interface"),
        ];
        for (input, expected) in cases {
            let name = ProjectName::parse(input).unwrap();
            assert_eq!(name.as_str(), expected, "{input}");
            assert_eq!(ProjectName::parse(expected).unwrap(), name);
        }
    }

    #[test]
    fn filename_form_uses_underscores() {
        let name = ProjectName::parse("Foo.Bar-baz").unwrap();
        assert_eq!(name.filename_form(), "foo_bar_baz");
    }

    #[test]
    fn rejects_invalid_names_with_a_reason() {
        let cases = [
            (
                "",
                "invalid project name ``: a project name cannot be empty",
            ),
            (
                "-foo",
                "invalid project name `-foo`: it must start and end with a letter or digit",
            ),
            (
                "foo_",
                "invalid project name `foo_`: it must start and end with a letter or digit",
            ),
            (
                "foo bar",
                "invalid project name `foo bar`: only ASCII letters, digits, `.`, `-` and `_` are allowed",
            ),
            (
                "föö",
                "invalid project name `föö`: only ASCII letters, digits, `.`, `-` and `_` are allowed",
            ),
            (
                "foo/bar",
                "invalid project name `foo/bar`: only ASCII letters, digits, `.`, `-` and `_` are allowed",
            ),
        ];
        for (input, message) in cases {
            assert_eq!(ProjectName::parse(input).unwrap_err().to_string(), message);
        }
        let long = "a".repeat(201);
        assert!(ProjectName::parse(&long).is_err());
    }
}
