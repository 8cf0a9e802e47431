//! Names across the two worlds: namespace + project → repository, version ↔ tag.
//!
//! - repository: `<namespace>/<project name normalized (PEP 503), `-` replaced by `_`>`, which
//!   is what PyOCI writes for every name whose wheels it can store.
//! - tag: the normalized PEP 440 version with `+` → `-` (PyOCI's rule) and `!` → `_` (epochs,
//!   which PyOCI cannot store). Normalized versions never contain `-` or `_`, so the mapping
//!   is reversible; a tag that does not come back to itself is not a release tag.

use std::fmt;

use super::error::LayoutError;
use crate::packaging::{ProjectName, Version};
use crate::storage::{Repository, Tag, is_path_component};

/// The most `/`-separated segments a namespace may have.
const MAX_NAMESPACE_SEGMENTS: usize = 16;

/// Where an index's projects live in the registry: a lowercase repository path prefix such as
/// `org/team1/python`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace(String);

impl Namespace {
    /// Validates and lowercases a namespace.
    ///
    /// # Errors
    /// [`LayoutError::InvalidNamespace`] when a segment is empty or not an OCI path component.
    pub fn parse(input: &str) -> Result<Self, LayoutError> {
        let invalid = |reason| LayoutError::InvalidNamespace {
            input: input.escape_default().to_string(),
            reason,
        };
        let lowered = input.to_ascii_lowercase();
        if lowered.is_empty() {
            return Err(invalid("a namespace cannot be empty"));
        }
        if lowered.split('/').count() > MAX_NAMESPACE_SEGMENTS {
            return Err(invalid("a namespace has at most 16 segments"));
        }
        if !lowered.split('/').all(is_path_component) {
            return Err(invalid(
                "each segment must be letters and digits separated by `.`, `_`, `__` or `-`",
            ));
        }
        Ok(Self(lowered))
    }

    /// The namespace text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The repository holding `project` in `namespace`.
///
/// # Errors
/// [`LayoutError::InvalidRepository`] when the combined name is not a valid repository name
/// (too long, or a project name that does not form a path component such as `a--b`).
pub fn repository(namespace: &Namespace, project: &ProjectName) -> Result<Repository, LayoutError> {
    Repository::parse(&format!("{namespace}/{}", project.filename_form())).map_err(|_| {
        LayoutError::InvalidRepository {
            namespace: namespace.to_string(),
            project: project.to_string(),
        }
    })
}

/// The project a repository of `namespace` holds, or `None` when it is not one of its projects.
#[must_use]
pub fn project_of(namespace: &Namespace, repository: &Repository) -> Option<ProjectName> {
    let rest = repository
        .as_str()
        .strip_prefix(namespace.as_str())?
        .strip_prefix('/')?;
    if rest.contains('/') {
        return None;
    }
    ProjectName::parse(rest).ok()
}

/// The namespace part of a project's repository, as shown in messages: `acme/team` for
/// `acme/team/app`, empty for a repository without one.
#[must_use]
pub fn namespace_of(repository: &Repository) -> String {
    repository
        .as_str()
        .rsplit_once('/')
        .map_or_else(String::new, |(namespace, _)| namespace.to_owned())
}

/// The tag of a release.
///
/// # Errors
/// [`LayoutError::VersionTooLong`] when the tag would exceed 128 characters.
pub fn tag_for(version: &Version) -> Result<Tag, LayoutError> {
    let normalized = version.to_string();
    let text = normalized.replace('+', "-").replace('!', "_");
    Tag::parse(&text).map_err(|_| LayoutError::VersionTooLong(normalized))
}

/// The release a tag names, or `None` for tags that are not release tags (`latest`,
/// `sha256-….sig`, `v1.0`).
#[must_use]
pub fn version_of(tag: &Tag) -> Option<Version> {
    let text = tag.as_str().replace('-', "+").replace('_', "!");
    let version = Version::parse(&text).ok()?;
    (tag_for(&version).ok()? == *tag).then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn tags_round_trip_for_every_kind_of_version() {
        let cases = [
            ("1.0", "1.0"),
            ("1.0.0", "1.0.0"),
            (
                "2.5.1.dev4+g1664eb2.d20231017",
                "2.5.1.dev4-g1664eb2.d20231017",
            ),
            ("1!2.0", "1_2.0"),
            ("1!2.0rc1.post3.dev4+local.7", "1_2.0rc1.post3.dev4-local.7"),
            ("1.0a1", "1.0a1"),
        ];
        for (input, expected) in cases {
            let tag = tag_for(&version(input)).unwrap();
            assert_eq!(tag.as_str(), expected);
            assert_eq!(version_of(&tag).unwrap(), version(input));
            assert_eq!(
                version_of(&tag).unwrap().to_string(),
                version(input).to_string()
            );
        }
    }

    #[test]
    fn foreign_tags_are_not_releases() {
        for foreign in [
            "latest",
            "sha256-abcdef.sig",
            "v1.0",
            "main",
            "1.0-RC1",
            "01.0",
        ] {
            assert_eq!(version_of(&Tag::parse(foreign).unwrap()), None, "{foreign}");
        }
    }

    #[test]
    fn long_versions_are_refused() {
        let long = format!("1.0+{}", "a".repeat(130));
        assert_eq!(
            tag_for(&version(&long)).unwrap_err().to_string(),
            format!(
                "version `{long}` is too long to be stored as an OCI tag (at most 128 characters)"
            )
        );
    }

    #[test]
    fn repositories_follow_pep_503() {
        let namespace = Namespace::parse("Org/Team1/python").unwrap();
        assert_eq!(namespace.as_str(), "org/team1/python");
        for spelling in ["Hello.World", "hello_world", "hello--world", "HELLO-world"] {
            let project = ProjectName::parse(spelling).unwrap();
            let repo = repository(&namespace, &project).unwrap();
            assert_eq!(repo.as_str(), "org/team1/python/hello_world");
            assert_eq!(
                project_of(&namespace, &repo).unwrap().as_str(),
                "hello-world"
            );
        }
        let nested = Repository::parse("org/team1/python/a/b").unwrap();
        assert_eq!(project_of(&namespace, &nested), None);
        let other = Repository::parse("org/team2/x").unwrap();
        assert_eq!(project_of(&namespace, &other), None);
    }

    #[test]
    fn namespaces_are_validated() {
        for invalid in ["", "a//b", "a/", "+simple", "a b", "-a"] {
            assert!(Namespace::parse(invalid).is_err(), "{invalid}");
        }
        assert_eq!(
            Namespace::parse("a//b").unwrap_err().to_string(),
            "invalid namespace `a//b`: each segment must be letters and digits separated by `.`, `_`, `__` or `-`"
        );
    }
}
