//! Deleting a file or a whole release. Registries such as CNCF distribution cannot delete by
//! tag, so indexes and manifests are deleted by digest; removing a file rewrites the release
//! index without it, and removing the last file removes the index (and with it the tag).

use super::release::{Access, Reached, ReleaseRef};
use super::update::Plan;
use super::{Caller, Index, IndexError, Location};
use crate::events::EventKind;
use crate::layout::{ReleaseIndex, StoredFile};

impl Index {
    /// Deletes one file of a release, or the whole release.
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] / [`IndexError::VersionNotFound`] when the store lacks
    /// it; storage errors.
    pub async fn delete(
        &self,
        caller: &Caller,
        location: &Location,
        release: &ReleaseRef,
    ) -> Result<(), IndexError> {
        let reached = self.reach(caller, location, release, Access::Write)?;
        let version = release.version.to_string();
        let files = if let Some(filename) = &release.filename {
            self.remove_file(&reached, location, release).await?;
            tracing::info!(oci.repository = %reached.repository, "deleted `{filename}`");
            vec![filename.to_string()]
        } else {
            let index = self.remove_release(&reached, location, release).await?;
            tracing::info!(
                oci.repository = %reached.repository,
                oci.tag = %reached.tag,
                "deleted release `{version}`"
            );
            index
                .files(&release.project, &version)
                .into_iter()
                .map(|file| file.filename)
                .collect()
        };
        self.notify(
            location,
            EventKind::Delete,
            (&release.project, &version),
            |event| event.with_files(files),
        );
        Ok(())
    }

    /// Removes the file `release` names from its release (and the release when it was its
    /// last file), then deletes its manifest and provenance (best effort).
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] when the release has no such file; storage errors.
    pub(super) async fn remove_file(
        &self,
        reached: &Reached,
        location: &Location,
        release: &ReleaseRef,
    ) -> Result<(), IndexError> {
        let filename = release.filename().ok_or_else(|| release.not_found())?;
        let version_text = release.version.to_string();
        let Some((current, _)) = reached.read(release).await? else {
            return Err(release.not_found());
        };
        let file = current
            .file(&release.project, &version_text, filename)
            .ok_or_else(|| release.not_found())?;
        let owned_project = release.project.clone();
        let owned_filename = filename.to_owned();
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
        self.rewrite(reached, location, release, decide).await?;
        delete_manifests(reached, std::slice::from_ref(&file)).await;
        Ok(())
    }

    /// Removes a whole release: its index, then its files' manifests and provenance (best
    /// effort). Returns the index removed.
    ///
    /// # Errors
    /// [`IndexError::VersionNotFound`] when there is no such release; storage errors.
    async fn remove_release(
        &self,
        reached: &Reached,
        location: &Location,
        release: &ReleaseRef,
    ) -> Result<ReleaseIndex, IndexError> {
        let Some((index, digest)) = reached.read(release).await? else {
            return Err(release.not_found());
        };
        reached
            .store
            .delete_manifest(&reached.repository, &digest)
            .await?;
        self.release_changed(reached, location, release)?;
        let files = index.files(&release.project, &release.version.to_string());
        delete_manifests(reached, &files).await;
        Ok(index)
    }
}

/// Deletes the manifests (and provenance) of files that no index lists any more. Best effort:
/// a leftover manifest is invisible garbage, not an error worth failing a delete for.
async fn delete_manifests(reached: &Reached, files: &[StoredFile]) {
    let store = reached.store.as_ref();
    let repository = &reached.repository;
    for file in files {
        if let Err(error) = store.delete_manifest(repository, &file.manifest).await {
            tracing::warn!(
                oci.repository = %repository,
                oci.digest = %file.manifest,
                "could not delete a file manifest: {error}"
            );
        }
        if file.provenance.is_some() {
            super::provenance::remove_provenance(store, repository, &file.manifest).await;
        }
    }
}
