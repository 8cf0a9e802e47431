//! Project status markers (PEP 792): setting a project's status, reading it for its page, and
//! refusing uploads to archived and quarantined projects. The status lives under the
//! project's status tag (`layout::status`); active is its absence.
//!
//! Specification: <https://packaging.python.org/en/latest/specifications/project-status-markers/>.

use bytes::Bytes;

use super::{Caller, Index, IndexError, Location};
use crate::layout;
use crate::packaging::{ProjectName, StatusMarker};
use crate::storage::oci::{EMPTY_BLOB, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::storage::{Reference, Repository, StorageError, Store, Tag};

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
        if !marker.is_default() {
            write_status(store.as_ref(), &repository, marker).await?;
        }
        // What else is there goes: the legacy form always, the status when back to active.
        let stale = [
            Some(layout::legacy_status_tag()),
            marker.is_default().then(layout::status_tag),
        ];
        for tag in stale.into_iter().flatten().filter(|tag| tags.contains(tag)) {
            if let Some(current) = store
                .get_manifest(&repository, &Reference::Tag(tag))
                .await?
            {
                store.delete_manifest(&repository, &current.digest).await?;
            }
        }
        let key = location.project_key(&repository);
        self.cache.forget(&key, Some(layout::STATUS_TAG));
        self.cache.forget(&key, Some(layout::LEGACY_STATUS_TAG));
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

/// Stores `marker` under the status tag: a reserved index, or the legacy manifest form for a
/// registry that refuses one.
async fn write_status(
    store: &dyn Store,
    repository: &Repository,
    marker: &StatusMarker,
) -> Result<(), IndexError> {
    let reference = Reference::Tag(layout::status_tag());
    let created = super::clock::now_rfc3339();
    let index = layout::status_index(marker, &created);
    match store
        .put_manifest(repository, &reference, MEDIA_TYPE_INDEX, index)
        .await
    {
        Ok(_) => return Ok(()),
        Err(StorageError::Upstream { status: 400, .. }) => {}
        Err(error) => return Err(error.into()),
    }
    store
        .push_small_blob(repository, Bytes::from_static(EMPTY_BLOB), false)
        .await?;
    let manifest = layout::status_manifest(marker, &created);
    store
        .put_manifest(repository, &reference, MEDIA_TYPE_MANIFEST, manifest)
        .await?;
    Ok(())
}

/// The status stored for `repository` under either tag; `None` when there is none (or it is
/// not ours).
///
/// # Errors
/// Storage errors.
pub(super) async fn read_status(
    store: &dyn Store,
    repository: &Repository,
) -> Result<Option<StatusMarker>, IndexError> {
    let (current, legacy) = futures_util::future::try_join(
        read_status_under(store, repository, layout::status_tag()),
        read_status_under(store, repository, layout::legacy_status_tag()),
    )
    .await?;
    Ok(current.or(legacy))
}

/// The status stored under `tag`; `None` when there is none (or it is not ours).
///
/// # Errors
/// Storage errors.
pub(super) async fn read_status_under(
    store: &dyn Store,
    repository: &Repository,
    tag: Tag,
) -> Result<Option<StatusMarker>, IndexError> {
    let Some(manifest) = store.get_manifest(repository, &Reference::Tag(tag)).await? else {
        return Ok(None);
    };
    Ok(layout::read_status_manifest(
        &manifest.media_type,
        &manifest.bytes,
    ))
}
