//! Listings: the releases and files of a project, and the projects of a namespace.

use std::sync::Arc;

use futures_util::{StreamExt as _, TryStreamExt as _, stream};

use super::cache::ProjectKey;
use super::{Caller, Index, IndexError, Location};
use crate::layout::{self, ReleaseIndex, StoredFile};
use crate::packaging::{ProjectName, Version};
use crate::storage::oci::ImageManifest;
use crate::storage::{ManifestFetch, Reference, Repository, Store, Tag};

/// One release and its files.
#[derive(Debug, Clone)]
pub struct Release {
    /// The version.
    pub version: Version,
    /// Its files, in upload order.
    pub files: Vec<StoredFile>,
}

/// Everything a project page shows.
#[derive(Debug)]
pub struct ProjectPage {
    /// The project.
    pub name: ProjectName,
    /// Its releases, oldest first (PEP 440 order).
    pub releases: Vec<Release>,
    /// Serializations of this page made so far, kept with it while it is reused.
    pub renders: Renders,
}

/// Serializations of one page snapshot, by format name: rendering (and hashing for the
/// `ETag`) happens once per snapshot instead of once per request.
#[derive(Debug, Default)]
pub struct Renders(std::sync::Mutex<std::collections::HashMap<&'static str, Arc<Rendered>>>);

/// One serialization of a page.
#[derive(Debug)]
pub struct Rendered {
    /// The body.
    pub body: bytes::Bytes,
    /// Its strong `ETag` value, quoted.
    pub etag: String,
}

impl Renders {
    /// The serialization `format`, made by `render` the first time.
    pub fn get_or_render(
        &self,
        format: &'static str,
        render: impl FnOnce() -> Rendered,
    ) -> Arc<Rendered> {
        let mut renders = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(renders.entry(format).or_insert_with(|| Arc::new(render())))
    }
}

impl ProjectPage {
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
    ) -> Result<Arc<ProjectPage>, IndexError> {
        let registry = self.registry(caller, location)?;
        let repository = layout::repository(&location.namespace, project)?;
        let key: ProjectKey = (location.target.to_string(), repository.to_string());
        let fingerprint = registry.credentials_fingerprint();
        if let Some(page) = self.cache.fresh_page(&fingerprint, &key) {
            self.metrics.record_cache("page", "hit");
            return Ok(page);
        }
        // One rebuild per caller and project at a time (no stampede when a popular page expires
        // under load): while it runs, the same caller gets the page it was last shown, if that
        // is only just stale; otherwise it waits for the rebuild and reuses it.
        let lock = self.cache.rebuild_lock(&fingerprint, &key);
        let _rebuilding = if let Ok(guard) = lock.try_lock() {
            guard
        } else {
            if let Some(page) = self.cache.recent_page(&fingerprint, &key) {
                self.metrics.record_cache("page", "stale");
                return Ok(page);
            }
            lock.lock().await
        };
        if let Some(page) = self.cache.fresh_page(&fingerprint, &key) {
            self.metrics.record_cache("page", "hit");
            return Ok(page);
        }
        self.metrics.record_cache("page", "miss");
        let generation = self.cache.generation(&key);
        let not_found = || IndexError::ProjectNotFound {
            project: project.to_string(),
            namespace: location.namespace.to_string(),
        };
        let tags = registry
            .list_tags(&repository)
            .await?
            .ok_or_else(not_found)?;
        let mut versions: Vec<(Tag, Version)> = tags
            .into_iter()
            .filter_map(|tag| layout::version_of(&tag).map(|version| (tag, version)))
            .collect();
        if self.options.max_versions > 0 && versions.len() > self.options.max_versions {
            versions.sort_by(|a, b| b.1.cmp(&a.1));
            versions.truncate(self.options.max_versions);
        }
        let context = ReleaseContext {
            index: self,
            registry: registry.as_ref(),
            repository: &repository,
            key: &key,
            project,
        };
        let mut releases: Vec<Release> = stream::iter(versions)
            .map(|(tag, version)| context.read_release(tag, version))
            .buffer_unordered(self.options.listing_concurrency.max(1))
            .try_filter_map(|release| async move { Ok(release) })
            .try_collect()
            .await?;
        if releases.is_empty() {
            return Err(not_found());
        }
        releases.sort_by(|a, b| a.version.cmp(&b.version));
        context.fill_sizes(&mut releases).await?;
        let page = Arc::new(ProjectPage {
            name: project.clone(),
            releases,
            renders: Renders::default(),
        });
        self.cache
            .store_page(&fingerprint, &key, Arc::clone(&page), generation);
        Ok(page)
    }

    /// Forgets cached pages of a project changed through this server, and its release under
    /// `tag` (all of them with `None`).
    pub(super) fn forget_project(
        &self,
        location: &Location,
        repository: &Repository,
        tag: Option<&Tag>,
    ) {
        self.cache.forget(
            &(location.target.to_string(), repository.to_string()),
            tag.map(Tag::as_str),
        );
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
        let registry = self.registry(caller, location)?;
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

/// What reading the releases of one page needs.
struct ReleaseContext<'a> {
    index: &'a Index,
    registry: &'a dyn Store,
    repository: &'a Repository,
    key: &'a ProjectKey,
    project: &'a ProjectName,
}

impl ReleaseContext<'_> {
    /// One release, revalidated against the cache with the caller's credentials; `None` when
    /// the tag is gone or holds foreign or malformed content.
    async fn read_release(
        &self,
        tag: Tag,
        version: Version,
    ) -> Result<Option<Release>, IndexError> {
        let cache = &self.index.cache;
        let known = cache.release(self.key, tag.as_str());
        let reference = Reference::Tag(tag.clone());
        let fetched = self
            .registry
            .get_manifest_if_changed(self.repository, &reference, known.as_ref().map(|(d, _)| d))
            .await?;
        let metrics = &self.index.metrics;
        let manifest = match fetched {
            ManifestFetch::Unchanged => {
                metrics.record_cache("release", "unchanged");
                return Ok(known.and_then(|(_, release)| release));
            }
            ManifestFetch::Missing => return Ok(None),
            ManifestFetch::Fetched(manifest) => manifest,
        };
        metrics.record_cache("release", if known.is_some() { "changed" } else { "miss" });
        let release = match ReleaseIndex::parse(&manifest.media_type, &manifest.bytes, &version) {
            Ok(Some(index)) => {
                let files = index.files(self.project, &version.to_string());
                (!files.is_empty()).then_some(Release { version, files })
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(
                    oci.repository = %self.repository,
                    oci.digest = %manifest.digest,
                    "skipping an unreadable release index: {error}"
                );
                None
            }
        };
        cache.store_release(self.key, tag.as_str(), manifest.digest, release.clone());
        Ok(release)
    }

    /// Files whose index entry records no size (written by PyOCI) get it from their manifest.
    async fn fill_sizes(&self, releases: &mut [Release]) -> Result<(), IndexError> {
        let origin = self.key.0.as_str();
        let missing: Vec<_> = releases
            .iter()
            .flat_map(|r| &r.files)
            .filter(|f| f.size.is_none() && self.index.cache.size(origin, &f.manifest).is_none())
            .map(|f| f.manifest.clone())
            .collect();
        stream::iter(missing)
            .map(|digest| async move {
                let reference = Reference::Digest(digest.clone());
                let manifest = self
                    .registry
                    .get_manifest(self.repository, &reference)
                    .await?;
                let size = manifest
                    .and_then(|m| serde_json::from_slice::<ImageManifest>(&m.bytes).ok())
                    .and_then(|m| m.layers.first().map(|layer| layer.size));
                if let Some(size) = size {
                    self.index.cache.store_size(origin, digest, size);
                }
                Ok::<(), IndexError>(())
            })
            .buffer_unordered(self.index.options.listing_concurrency.max(1))
            .try_collect::<()>()
            .await?;
        for file in releases.iter_mut().flat_map(|r| &mut r.files) {
            if file.size.is_none() {
                file.size = self.index.cache.size(origin, &file.manifest);
            }
        }
        Ok(())
    }
}
