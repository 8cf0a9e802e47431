//! Listings: the releases and files of a project, and the projects of a namespace.

use futures_util::{StreamExt as _, TryStreamExt as _, stream};

use super::{Caller, Index, IndexError, LISTING_CONCURRENCY, Location};
use crate::layout::{self, ReleaseIndex, StoredFile};
use crate::packaging::{ProjectName, Version};
use crate::storage::{Reference, Repository, Tag};

/// One release and its files.
#[derive(Debug, Clone)]
pub struct Release {
    /// The version.
    pub version: Version,
    /// Its files, in upload order.
    pub files: Vec<StoredFile>,
}

/// Everything a project page shows.
#[derive(Debug, Clone)]
pub struct ProjectPage {
    /// The project.
    pub name: ProjectName,
    /// Its releases, oldest first (PEP 440 order).
    pub releases: Vec<Release>,
}

impl ProjectPage {
    /// The newest release that is not a pre-release, else the newest of all.
    #[must_use]
    pub fn latest(&self) -> Option<&Release> {
        self.releases
            .iter()
            .rev()
            .find(|r| !r.version.is_prerelease())
            .or_else(|| self.releases.last())
    }
}

impl Index {
    /// The releases and files of `project`.
    ///
    /// # Errors
    /// [`IndexError::ProjectNotFound`] when the namespace has no release of it; a storage
    /// error when the registry refuses or fails.
    pub async fn project_page(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
    ) -> Result<ProjectPage, IndexError> {
        let registry = self.registry(caller, location);
        let repository = layout::repository(&location.namespace, project)?;
        let not_found = || IndexError::ProjectNotFound {
            project: project.to_string(),
            namespace: location.namespace.to_string(),
        };
        let tags = registry
            .list_tags(&repository)
            .await?
            .ok_or_else(not_found)?;
        let versions: Vec<(Tag, Version)> = tags
            .into_iter()
            .filter_map(|tag| layout::version_of(&tag).map(|version| (tag, version)))
            .collect();
        let mut releases: Vec<Release> = stream::iter(versions)
            .map(|(tag, version)| self.read_release(&registry, &repository, project, tag, version))
            .buffer_unordered(LISTING_CONCURRENCY)
            .try_filter_map(|release| async move { Ok(release) })
            .try_collect()
            .await?;
        if releases.is_empty() {
            return Err(not_found());
        }
        releases.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(ProjectPage {
            name: project.clone(),
            releases,
        })
    }

    /// One release; `None` when the tag is gone or holds foreign or malformed content.
    async fn read_release(
        &self,
        registry: &crate::storage::registry::Registry,
        repository: &Repository,
        project: &ProjectName,
        tag: Tag,
        version: Version,
    ) -> Result<Option<Release>, IndexError> {
        let Some(manifest) = registry
            .get_manifest(repository, &Reference::Tag(tag))
            .await?
        else {
            return Ok(None);
        };
        let index = match ReleaseIndex::parse(&manifest.media_type, &manifest.bytes, &version) {
            Ok(Some(index)) => index,
            Ok(None) => return Ok(None),
            Err(error) => {
                tracing::warn!(
                    oci.repository = %repository,
                    oci.digest = %manifest.digest,
                    "skipping an unreadable release index: {error}"
                );
                return Ok(None);
            }
        };
        let files = index.files(project, &version.to_string());
        Ok((!files.is_empty()).then_some(Release { version, files }))
    }

    /// The projects of a namespace, sorted (from the registry's catalog).
    ///
    /// # Errors
    /// A storage error when the registry refuses, fails, or has no catalog.
    pub async fn project_list(
        &self,
        caller: &Caller,
        location: &Location,
    ) -> Result<Vec<ProjectName>, IndexError> {
        let registry = self.registry(caller, location);
        let repositories = registry.catalog().await?;
        let mut projects: Vec<ProjectName> = repositories
            .iter()
            .filter_map(|repository| layout::project_of(&location.namespace, repository))
            .collect();
        projects.sort();
        projects.dedup();
        Ok(projects)
    }
}
