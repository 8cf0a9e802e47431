//! Project status markers (PEP 792): setting a project's status, reading it for its page, and
//! refusing uploads to archived and quarantined projects. The status lives under the
//! project's status tag (`layout::status`); active is its absence.
//!
//! Specification: <https://packaging.python.org/en/latest/specifications/project-status-markers/>.

use bytes::Bytes;

use super::{Caller, Index, IndexError, Location};
use crate::layout;
use crate::packaging::{ProjectName, StatusMarker};
use crate::storage::oci::{EMPTY_BLOB, MEDIA_TYPE_MANIFEST};
use crate::storage::{Reference, Repository, Store};

impl Index {
    /// Sets the status of `project` (which must have a release); active without a reason
    /// removes the stored status. Needs the right to push to the project's repository.
    ///
    /// # Errors
    /// [`IndexError::ProjectNotFound`]; the registry refusing the caller; storage errors.
    pub async fn set_project_status(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
        marker: &StatusMarker,
    ) -> Result<(), IndexError> {
        let store = self.writable(caller, location)?;
        let repository = layout::repository(&location.namespace, project)?;
        let tags = store.list_tags(&repository).await?.unwrap_or_default();
        if !tags.iter().any(|tag| layout::version_of(tag).is_some()) {
            return Err(IndexError::ProjectNotFound {
                project: project.to_string(),
                namespace: layout::namespace_of(&repository),
            });
        }
        let tag = layout::status_tag();
        if marker.is_default() {
            if let Some(current) = store
                .get_manifest(&repository, &Reference::Tag(tag))
                .await?
            {
                store.delete_manifest(&repository, &current.digest).await?;
            }
        } else {
            store
                .push_small_blob(&repository, Bytes::from_static(EMPTY_BLOB), false)
                .await?;
            let manifest = layout::status_manifest(marker, &super::clock::now_rfc3339());
            store
                .put_manifest(
                    &repository,
                    &Reference::Tag(tag),
                    MEDIA_TYPE_MANIFEST,
                    manifest,
                )
                .await?;
        }
        let key = location.project_key(&repository);
        self.cache.forget(&key, Some(layout::STATUS_TAG));
        tracing::info!(
            project.name = %project,
            oci.repository = %repository,
            "project status set to `{}`",
            marker.status
        );
        Ok(())
    }
}

/// Refuses an upload to a project whose status forbids new files (archived,
/// quarantined).
///
/// # Errors
/// [`IndexError::ProjectClosed`]; storage errors.
pub(super) async fn refuse_closed_project(
    store: &dyn Store,
    repository: &Repository,
    project: &ProjectName,
) -> Result<(), IndexError> {
    match read_status(store, repository).await? {
        Some(marker) if marker.status.refuses_uploads() => Err(IndexError::ProjectClosed {
            project: project.to_string(),
            status: marker.status.as_str(),
            reason: marker.reason,
        }),
        _ => Ok(()),
    }
}

/// The status stored for `repository`; `None` when there is none (or it is not ours).
///
/// # Errors
/// Storage errors.
pub(super) async fn read_status(
    store: &dyn Store,
    repository: &Repository,
) -> Result<Option<StatusMarker>, IndexError> {
    let reference = Reference::Tag(layout::status_tag());
    let Some(manifest) = store.get_manifest(repository, &reference).await? else {
        return Ok(None);
    };
    Ok(layout::read_status_manifest(
        &manifest.media_type,
        &manifest.bytes,
    ))
}
