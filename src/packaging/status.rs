//! Project status markers (PEP 792): whether a project is active, archived, quarantined or
//! deprecated, with an optional free-text reason.
//!
//! Specification: <https://packaging.python.org/en/latest/specifications/project-status-markers/>.

use std::fmt;

use super::error::{PackagingError, shown};

/// The longest reason kept (longer ones are cut).
pub const MAX_STATUS_REASON: usize = 1000;

/// A project's status (PEP 792).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ProjectStatus {
    /// The default: nothing to say.
    #[default]
    Active,
    /// No new uploads; existing files are still offered.
    Archived,
    /// No uploads and no files offered (suspected malware, for instance).
    Quarantined,
    /// As active, and installers may warn that the project should not be used.
    Deprecated,
}

impl ProjectStatus {
    /// Every status, in the order the PEP lists them.
    pub const ALL: [Self; 4] = [
        Self::Active,
        Self::Archived,
        Self::Quarantined,
        Self::Deprecated,
    ];

    /// Parses a status name, as the PEP spells it (lowercase).
    ///
    /// # Errors
    /// [`PackagingError::InvalidField`] naming the value and the accepted ones.
    pub fn parse(input: &str) -> Result<Self, PackagingError> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == input)
            .ok_or_else(|| PackagingError::InvalidField {
                field: "status",
                value: shown(input),
                reason: "is not a project status: use `active`, `archived`, `quarantined` or `deprecated`",
            })
    }

    /// The name as the PEP spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
            Self::Quarantined => "quarantined",
            Self::Deprecated => "deprecated",
        }
    }

    /// Whether the index must refuse new files (archived and quarantined projects).
    #[must_use]
    pub fn refuses_uploads(self) -> bool {
        matches!(self, Self::Archived | Self::Quarantined)
    }

    /// Whether the index must not offer files (quarantined projects).
    #[must_use]
    pub fn hides_files(self) -> bool {
        self == Self::Quarantined
    }
}

impl fmt::Display for ProjectStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status with its reason, as set by a maintainer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusMarker {
    /// The status.
    pub status: ProjectStatus,
    /// Why, for people (possibly empty): control characters removed, at most
    /// [`MAX_STATUS_REASON`] characters.
    pub reason: String,
}

impl StatusMarker {
    /// A marker with `reason` cleaned up (control characters dropped, cut to the limit).
    #[must_use]
    pub fn new(status: ProjectStatus, reason: &str) -> Self {
        Self {
            status,
            reason: reason
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_STATUS_REASON)
                .collect(),
        }
    }

    /// Whether this is the default (active, no reason): nothing needs to be stored.
    #[must_use]
    pub fn is_default(&self) -> bool {
        self.status == ProjectStatus::Active && self.reason.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_statuses_and_round_trips() {
        for status in ProjectStatus::ALL {
            assert_eq!(ProjectStatus::parse(status.as_str()).unwrap(), status);
        }
        assert!(ProjectStatus::Archived.refuses_uploads());
        assert!(ProjectStatus::Quarantined.refuses_uploads());
        assert!(!ProjectStatus::Deprecated.refuses_uploads());
        assert!(ProjectStatus::Quarantined.hides_files());
        assert!(!ProjectStatus::Archived.hides_files());
    }

    #[test]
    fn refuses_other_spellings_naming_the_value() {
        let error = ProjectStatus::parse("Archived\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid form field `status`: `Archived\\n` is not a project status: use `active`, `archived`, `quarantined` or `deprecated`"
        );
        assert!(ProjectStatus::parse("").is_err());
    }

    #[test]
    fn cleans_reasons() {
        let marker = StatusMarker::new(ProjectStatus::Archived, "moved\nto `new`");
        assert_eq!(marker.reason, "movedto `new`");
        let long = "x".repeat(MAX_STATUS_REASON + 10);
        assert_eq!(
            StatusMarker::new(ProjectStatus::Deprecated, &long)
                .reason
                .len(),
            MAX_STATUS_REASON
        );
        assert!(StatusMarker::new(ProjectStatus::Active, "").is_default());
        assert!(!StatusMarker::new(ProjectStatus::Active, "why").is_default());
    }
}
