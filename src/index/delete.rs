//! Deleting a file or a whole release. Registries such as CNCF distribution cannot delete by
//! tag, so indexes and manifests are deleted by digest; removing a file rewrites the release
//! index without it, and removing the last file removes the index (and with it the tag).

use std::sync::Arc;

use super::update::{Plan, read_release, update_release};
use super::{Caller, Index, IndexError, Location};
use crate::events::EventKind;
use crate::layout::{self, ReleaseIndex};
use crate::packaging::{DistFilename, ProjectName, Version};
use crate::storage::{Digest, Repository, Store};

impl Index {
    /// Deletes one file of a release.
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] when the release has no such file; storage errors.
    pub async fn delete_file(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
        filename: &str,
    ) -> Result<(), IndexError> {
        let not_found = || IndexError::FileNotFound {
            filename: filename.escape_default().to_string(),
        };
        let parsed = DistFilename::parse(filename)?;
        if parsed.name() != project {
            return Err(not_found());
        }
        let registry = self.writable(caller, location)?;
        let version = parsed.version().to_string();
        self.remove_file(&registry, location, &parsed).await?;
        tracing::info!(
            oci.repository = %layout::repository(&location.namespace, project)?,
            "deleted `{filename}`"
        );
        self.notify(location, EventKind::Delete, (project, &version), |event| {
            event.with_files(vec![filename.to_owned()])
        });
        Ok(())
    }

    /// Removes `filename` from its release (and the release when it was its last file), then
    /// deletes its manifest (best effort).
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] when the release has no such file; storage errors.
    pub(super) async fn remove_file(
        &self,
        registry: &Arc<dyn Store>,
        location: &Location,
        filename: &DistFilename,
    ) -> Result<(), IndexError> {
        let not_found = || IndexError::FileNotFound {
            filename: filename.to_string(),
        };
        let project = filename.name();
        let repository = layout::repository(&location.namespace, project)?;
        let version = filename.version().clone();
        let tag = layout::tag_for(&version)?;
        let version_text = version.to_string();
        let Some((current, _)) =
            read_release(registry.as_ref(), &repository, &tag, &version).await?
        else {
            return Err(not_found());
        };
        let file = current
            .file(project, &version_text, filename.as_str())
            .ok_or_else(not_found)?;
        let owned_project = project.clone();
        let owned_filename = filename.as_str().to_owned();
        let decide = move |current: Option<&ReleaseIndex>| {
            let Some(index) = current else {
                return Ok(Plan::Done);
            };
            let mut index = index.clone();
            if index
                .remove(&owned_project, &version_text, &owned_filename)
                .is_none()
            {
                return Ok(Plan::Done);
            }
            Ok(if index.is_empty() {
                Plan::Remove
            } else {
                Plan::Put(index)
            })
        };
        update_release(
            &self.locks,
            registry.as_ref(),
            &repository,
            &tag,
            &version,
            decide,
        )
        .await?;
        self.changed(registry, location, project, Some(&tag))?;
        delete_manifests(
            registry.as_ref(),
            &repository,
            std::slice::from_ref(&file.manifest),
        )
        .await;
        if file.provenance.is_some() {
            super::provenance::remove_provenance(registry.as_ref(), &repository, &file.manifest)
                .await;
        }
        Ok(())
    }

    /// Deletes a whole release: its index and its files' manifests.
    ///
    /// # Errors
    /// [`IndexError::VersionNotFound`] when there is no such release; storage errors.
    pub async fn delete_version(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
        version: &Version,
    ) -> Result<(), IndexError> {
        let registry = self.writable(caller, location)?;
        let repository = layout::repository(&location.namespace, project)?;
        let tag = layout::tag_for(version)?;
        let Some((index, digest)) =
            read_release(registry.as_ref(), &repository, &tag, version).await?
        else {
            return Err(IndexError::VersionNotFound {
                project: project.to_string(),
                version: version.to_string(),
            });
        };
        registry.delete_manifest(&repository, &digest).await?;
        self.changed(&registry, location, project, Some(&tag))?;
        delete_manifests(registry.as_ref(), &repository, &index.manifest_digests()).await;
        for file in index.files(project, &version.to_string()) {
            if file.provenance.is_some() {
                super::provenance::remove_provenance(
                    registry.as_ref(),
                    &repository,
                    &file.manifest,
                )
                .await;
            }
        }
        tracing::info!(oci.repository = %repository, oci.tag = %tag, "deleted release `{version}`");
        let files = index
            .files(project, &version.to_string())
            .into_iter()
            .map(|file| file.filename)
            .collect();
        self.notify(
            location,
            EventKind::Delete,
            (project, &version.to_string()),
            |event| event.with_files(files),
        );
        Ok(())
    }
}

/// Deletes file manifests that no index lists any more. Best effort: a leftover manifest is
/// invisible garbage, not an error worth failing a delete for.
async fn delete_manifests(registry: &dyn Store, repository: &Repository, digests: &[Digest]) {
    for digest in digests {
        if let Err(error) = registry.delete_manifest(repository, digest).await {
            tracing::warn!(
                oci.repository = %repository,
                oci.digest = %digest,
                "could not delete a file manifest: {error}"
            );
        }
    }
}
