//! What a project page shows: the releases of a project and their files, with the
//! serializations made of one snapshot so far.

use std::sync::Arc;

use crate::layout::StoredFile;
use crate::packaging::{ProjectName, StatusMarker, Version};
use crate::renders::Renders;

/// One release and its files.
#[derive(Debug, Clone)]
pub struct Release {
    /// The version.
    pub version: Version,
    /// Its files, in upload order; shared by the pages and the tag cache that hold the
    /// release, so a page built again from cached releases copies none of them.
    pub files: Arc<[StoredFile]>,
}

impl Release {
    /// When the release was last added to: its newest file's upload time; `None` when no
    /// file records one that reads as RFC 3339.
    #[must_use]
    pub fn last_upload(&self) -> Option<time::OffsetDateTime> {
        let rfc3339 = &time::format_description::well_known::Rfc3339;
        self.files
            .iter()
            .filter_map(|file| time::OffsetDateTime::parse(file.uploaded.as_deref()?, rfc3339).ok())
            .max()
    }
}

/// Everything a project page shows.
#[derive(Debug)]
pub struct ProjectPage {
    /// The project.
    pub name: ProjectName,
    /// Its releases, oldest first (PEP 440 order).
    pub releases: Vec<Release>,
    /// Its status (PEP 792); active unless a maintainer set another.
    pub status: StatusMarker,
    /// Serializations of this page made so far, kept with it while it is reused.
    pub renders: Renders,
}

impl ProjectPage {
    /// A page of `releases` (sorted here, oldest first), not rendered yet.
    #[must_use]
    pub fn new(name: ProjectName, mut releases: Vec<Release>) -> Self {
        releases.sort_by(|a, b| a.version.cmp(&b.version));
        Self {
            name,
            releases,
            status: StatusMarker::default(),
            renders: Renders::default(),
        }
    }

    /// The page with `status`.
    #[must_use]
    pub fn with_status(mut self, status: StatusMarker) -> Self {
        self.status = status;
        self
    }

    /// The files offered for download: every file of every release, oldest release first;
    /// none for a quarantined project (PEP 792).
    pub fn files(&self) -> impl Iterator<Item = &StoredFile> {
        let hidden = self.status.status.hides_files();
        self.releases
            .iter()
            .filter(move |_| !hidden)
            .flat_map(|release| release.files.iter())
    }

    /// The newest release that is not a pre-release and not wholly yanked, else the newest.
    #[must_use]
    pub fn latest(&self) -> Option<&Release> {
        let usable = |r: &&Release| r.files.iter().any(|f| f.yanked.is_none());
        self.releases
            .iter()
            .rev()
            .find(|r| !r.version.is_prerelease() && usable(r))
            .or_else(|| self.releases.iter().rev().find(usable))
            .or_else(|| self.releases.last())
    }
}
