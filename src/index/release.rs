//! Naming one release of a project, or one file of it ([`ReleaseRef`]), and reaching it in its
//! store with a caller's rights: the preamble that deleting, yanking and promoting share.

use std::sync::Arc;

use super::update::{Plan, read_release, update_release};
use super::{Caller, Index, IndexError, Location};
use crate::layout::{self, ReleaseIndex};
use crate::packaging::{DistFilename, PackagingError, ProjectName, Version};
use crate::storage::{Digest, Repository, Store, Tag};

/// A release of a project, or one file of it: what a delete, a yank or a promotion acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRef {
    /// The project.
    pub project: ProjectName,
    /// The release.
    pub version: Version,
    /// One file of the release; `None`: every file of it.
    pub filename: Option<DistFilename>,
}

impl ReleaseRef {
    /// The whole release `version` of `project`.
    #[must_use]
    pub fn release(project: ProjectName, version: Version) -> Self {
        Self {
            project,
            version,
            filename: None,
        }
    }

    /// `target` of `project`: a filename (with its version), else a bare version.
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] for a filename of another project; a packaging error when
    /// `target` is neither a filename nor a version.
    pub fn parse(project: &ProjectName, target: &str) -> Result<Self, IndexError> {
        if let Ok(filename) = DistFilename::parse(target) {
            return Self::file(project, filename);
        }
        let version = Version::parse(target).map_err(PackagingError::from)?;
        Ok(Self::release(project.clone(), version))
    }

    /// The file `filename`, which must be one of `project`'s.
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] for a filename of another project.
    pub fn file(project: &ProjectName, filename: DistFilename) -> Result<Self, IndexError> {
        if filename.name() != project {
            return Err(IndexError::FileNotFound {
                filename: filename.as_str().escape_default().to_string(),
            });
        }
        Ok(Self {
            project: project.clone(),
            version: filename.version().clone(),
            filename: Some(filename),
        })
    }

    /// The filename, when one file is meant.
    #[must_use]
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_ref().map(DistFilename::as_str)
    }

    /// The error for a store that lacks what this names: the file, else the release.
    #[must_use]
    pub fn not_found(&self) -> IndexError {
        match &self.filename {
            Some(filename) => IndexError::FileNotFound {
                filename: filename.to_string(),
            },
            None => IndexError::VersionNotFound {
                project: self.project.to_string(),
                version: self.version.to_string(),
            },
        }
    }
}

impl std::fmt::Display for ReleaseRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.filename {
            Some(filename) => filename.fmt(f),
            None => write!(f, "{} {}", self.project, self.version),
        }
    }
}

/// What a caller may do with a reached release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Read it.
    Read,
    /// Change it.
    Write,
}

/// A release reached in its store: the store as the caller sees it and where the release
/// index lives.
pub(super) struct Reached {
    /// The store, with the caller's rights.
    pub store: Arc<dyn Store>,
    /// The project's repository.
    pub repository: Repository,
    /// The release's tag.
    pub tag: Tag,
}

impl Index {
    /// Reaches `release` of the namespace at `location` as `caller`, for `access`.
    ///
    /// # Errors
    /// As [`Index::writable`] / [`Index::store`]; a project or version that makes no
    /// repository or tag.
    pub(super) fn reach(
        &self,
        caller: &Caller,
        location: &Location,
        release: &ReleaseRef,
        access: Access,
    ) -> Result<Reached, IndexError> {
        let store = match access {
            Access::Read => self.store(caller, location)?,
            Access::Write => self.writable(caller, location)?,
        };
        Reached::new(store, location, release)
    }

    /// Applies `decide` to the reached release until its store holds the result (see
    /// [`update_release`]), then tells the listings the release changed.
    ///
    /// # Errors
    /// What `decide` returns; storage errors.
    pub(super) async fn rewrite<F>(
        &self,
        reached: &Reached,
        location: &Location,
        release: &ReleaseRef,
        decide: F,
    ) -> Result<(), IndexError>
    where
        F: FnMut(Option<&ReleaseIndex>) -> Result<Plan, IndexError> + Send,
    {
        update_release(
            &self.locks,
            reached.store.as_ref(),
            &reached.repository,
            &reached.tag,
            &release.version,
            decide,
        )
        .await?;
        self.release_changed(reached, location, release)
    }

    /// Tells the listings that the reached release changed.
    ///
    /// # Errors
    /// A project that makes no repository.
    pub(super) fn release_changed(
        &self,
        reached: &Reached,
        location: &Location,
        release: &ReleaseRef,
    ) -> Result<(), IndexError> {
        let tag = Some(&reached.tag);
        self.changed(&reached.store, location, &release.project, tag)
    }
}

impl Reached {
    /// `release` of the namespace at `location` in `store`, a store already reached with the
    /// rights needed.
    ///
    /// # Errors
    /// A project or version that makes no repository or tag.
    pub fn new(
        store: Arc<dyn Store>,
        location: &Location,
        release: &ReleaseRef,
    ) -> Result<Self, IndexError> {
        Ok(Self {
            store,
            repository: layout::repository(&location.namespace, &release.project)?,
            tag: layout::tag_for(&release.version)?,
        })
    }

    /// The release index, with its digest; `None` when the release does not exist.
    ///
    /// # Errors
    /// [`IndexError::ForeignTag`]; storage errors.
    pub async fn read(
        &self,
        release: &ReleaseRef,
    ) -> Result<Option<(ReleaseIndex, Digest)>, IndexError> {
        read_release(
            self.store.as_ref(),
            &self.repository,
            &self.tag,
            &release.version,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> ProjectName {
        ProjectName::parse("hello-world").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_target_is_a_filename_or_a_version() -> Result<(), IndexError> {
        let file = ReleaseRef::parse(&project(), "hello_world-2.0-py3-none-any.whl")?;
        assert_eq!(file.version.to_string(), "2.0");
        assert_eq!(file.filename(), Some("hello_world-2.0-py3-none-any.whl"));
        let release = ReleaseRef::parse(&project(), "2.0")?;
        assert_eq!(release.filename(), None);
        assert_eq!(release.to_string(), "hello-world 2.0");
        assert!(matches!(
            release.not_found(),
            IndexError::VersionNotFound { .. }
        ));
        assert!(matches!(file.not_found(), IndexError::FileNotFound { .. }));
        Ok(())
    }

    #[test]
    fn another_projects_file_or_no_version_is_refused() {
        assert!(matches!(
            ReleaseRef::parse(&project(), "other-1.0.tar.gz"),
            Err(IndexError::FileNotFound { filename }) if filename == "other-1.0.tar.gz"
        ));
        assert!(ReleaseRef::parse(&project(), "not a version").is_err());
    }
}
