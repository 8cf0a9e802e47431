//! Backfilling core metadata (PEP 658) for files stored without it: older uploads, or files
//! PyPI's tools wrote. Each file is read once through the same bounded sample an upload keeps,
//! checked the same way, and its manifest's config becomes the metadata; the release index
//! entry then advertises it. Files that cannot be read that way are reported, not changed.

use futures_util::StreamExt as _;

use super::inspect::{self, Sample};
use super::update::{Plan, update_release};
use super::{Caller, Index, IndexError, Location};
use crate::layout::{self, ReleaseIndex, StoredFile};
use crate::packaging::{DistFilename, ProjectName, Version};
use crate::storage::oci::MEDIA_TYPE_MANIFEST;
use crate::storage::{BlobRequest, Digest, Reference, Repository, Store};

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillReport {
    /// Files that now have their core metadata.
    pub updated: Vec<String>,
    /// Files left as they were, with the reason.
    pub skipped: Vec<(String, String)>,
}

impl Index {
    /// Gives every file of `project` that lacks core metadata its metadata, when it can be
    /// extracted.
    ///
    /// # Errors
    /// Listing and storage errors (a file that cannot be read is skipped, not an error).
    pub async fn backfill_metadata(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
    ) -> Result<BackfillReport, IndexError> {
        let page = self.project_page(caller, location, project).await?;
        let store = self.writable(caller, location)?;
        let repository = layout::repository(&location.namespace, project)?;
        let mut report = BackfillReport::default();
        for release in &page.releases {
            for file in release.files.iter().filter(|f| f.core_metadata.is_none()) {
                let context = (store.as_ref(), &repository, project, &release.version);
                match self.backfill_file(context, file).await {
                    Ok(true) => report.updated.push(file.filename.clone()),
                    Ok(false) => report
                        .skipped
                        .push((file.filename.clone(), "no metadata within reach".to_owned())),
                    Err(error) => report
                        .skipped
                        .push((file.filename.clone(), error.to_string())),
                }
            }
        }
        self.changed(&store, location, project, None)?;
        Ok(report)
    }

    async fn backfill_file(
        &self,
        (store, repository, project, version): (&dyn Store, &Repository, &ProjectName, &Version),
        file: &StoredFile,
    ) -> Result<bool, IndexError> {
        let filename = DistFilename::parse(&file.filename)?;
        let Some(metadata) = read_metadata(store, repository, file, &filename).await? else {
            return Ok(false);
        };
        let size = metadata.len() as u64;
        let metadata_digest = store
            .push_small_blob(repository, metadata.into(), false)
            .await?;
        let reference = Reference::Digest(file.manifest.clone());
        let manifest = store
            .get_manifest(repository, &reference)
            .await?
            .ok_or_else(|| IndexError::FileNotFound {
                filename: file.filename.clone(),
            })?;
        let tag = layout::tag_for(version)?;
        let version_text = version.to_string();
        let (current, _) = super::update::read_release(store, repository, &tag, version)
            .await?
            .ok_or_else(|| IndexError::FileNotFound {
                filename: file.filename.clone(),
            })?;
        let entry = current
            .entry(project, &version_text, &file.filename)
            .ok_or_else(|| IndexError::FileNotFound {
                filename: file.filename.clone(),
            })?;
        let rebuilt =
            layout::with_core_metadata(&manifest.bytes, &entry, (&metadata_digest, size), version)?;
        let new_reference = Reference::Digest(Digest::parse(&rebuilt.entry.digest)?);
        store
            .put_manifest(
                repository,
                &new_reference,
                MEDIA_TYPE_MANIFEST,
                rebuilt.bytes.clone(),
            )
            .await?;
        let (owned_project, name, new_entry) =
            (project.clone(), file.filename.clone(), rebuilt.entry);
        let decide = move |current: Option<&ReleaseIndex>| {
            let Some(current) = current else {
                return Ok(Plan::Done);
            };
            match current.file(&owned_project, &version_text, &name) {
                Some(stored) if stored.core_metadata.is_none() => {
                    let mut index = current.clone();
                    index.replace(&owned_project, &version_text, &name, new_entry.clone());
                    Ok(Plan::Put(index))
                }
                _ => Ok(Plan::Done),
            }
        };
        update_release(&self.locks, store, repository, &tag, version, decide).await?;
        if let Err(error) = store.delete_manifest(repository, &file.manifest).await {
            tracing::warn!(oci.repository = %repository, "the old manifest of `{}` stays: {error}", file.filename);
        }
        Ok(true)
    }
}

/// Streams the file through the bounded sample an upload keeps, and inspects it.
async fn read_metadata(
    store: &dyn Store,
    repository: &Repository,
    file: &StoredFile,
    filename: &DistFilename,
) -> Result<Option<Vec<u8>>, IndexError> {
    let digest = Digest::from(&file.sha256);
    let Some(download) = store
        .get_blob(repository, &digest, BlobRequest::default())
        .await?
    else {
        return Ok(None);
    };
    let mut sample = Sample::for_file(filename);
    let mut size = 0_u64;
    let mut body = download.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        sample.push(&chunk);
    }
    inspect::core_metadata(filename, &mut sample, size)
}
