//! Serving a distribution file: find it in its release index, stream its layer blob.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

use super::{Caller, Index, IndexError, Location};
use crate::layout::{self, ReleaseIndex, StoredFile};
use crate::packaging::{DistFilename, DistKind, ProjectName};
use crate::storage::oci::ImageManifest;
use crate::storage::registry::{BlobDownload, Registry};
use crate::storage::{Digest, Reference, Repository, StorageError};

/// A file on its way to the client.
pub struct FileDownload {
    /// What the index records about the file.
    pub file: StoredFile,
    /// 200, 206 or 416.
    pub status: u16,
    /// Length of the body, when known.
    pub content_length: Option<u64>,
    /// `Content-Range` of a 206 or 416.
    pub content_range: Option<String>,
    /// The bytes.
    pub body: Pin<Box<dyn Stream<Item = Result<Bytes, StorageError>> + Send>>,
}

impl std::fmt::Debug for FileDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDownload")
            .field("file", &self.file.filename)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl FileDownload {
    /// The media type to serve the file with (never a compressed encoding).
    #[must_use]
    pub fn content_type(&self) -> &'static str {
        match (self.file.kind, self.file.filename.ends_with(".zip")) {
            (DistKind::Sdist, true) => "application/zip",
            (DistKind::Sdist, false) => "application/gzip",
            (DistKind::Wheel, _) => "application/octet-stream",
        }
    }
}

impl Index {
    /// Opens `filename` of `project` for reading, optionally a byte `range` of it, or only its
    /// headers (`head`).
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] when the release has no such file; a packaging error for a
    /// malformed filename; a storage error when the registry refuses or fails.
    pub async fn open_file(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
        filename: &str,
        range: Option<&str>,
        head: bool,
    ) -> Result<FileDownload, IndexError> {
        let not_found = || IndexError::FileNotFound {
            filename: filename.escape_default().to_string(),
        };
        let parsed = DistFilename::parse(filename)?;
        if parsed.name() != project {
            return Err(not_found());
        }
        let registry = self.registry(caller, location);
        let repository = layout::repository(&location.namespace, project)?;
        let version = parsed.version();
        let tag = layout::tag_for(version)?;
        let manifest = registry
            .get_manifest(&repository, &Reference::Tag(tag))
            .await?;
        let index = manifest
            .map(|m| ReleaseIndex::parse(&m.media_type, &m.bytes, version))
            .transpose()?
            .flatten()
            .ok_or_else(not_found)?;
        let file = index
            .file(project, &version.to_string(), filename)
            .ok_or_else(not_found)?;
        let blob = fetch_layer(&registry, &repository, &file, range, head)
            .await?
            .ok_or_else(not_found)?;
        Ok(FileDownload {
            file,
            status: blob.status,
            content_length: blob.content_length,
            content_range: blob.content_range,
            body: blob.body,
        })
    }
}

/// The file's bytes: the layer digest is the file's sha256; when a registry lost that blob
/// under that name, the manifest says where the layer really is.
async fn fetch_layer(
    registry: &Registry,
    repository: &Repository,
    file: &StoredFile,
    range: Option<&str>,
    head: bool,
) -> Result<Option<BlobDownload>, IndexError> {
    let digest = Digest::from_sha256_hex(&file.sha256)?;
    if let Some(blob) = registry.get_blob(repository, &digest, range, head).await? {
        return Ok(Some(blob));
    }
    let reference = Reference::Digest(file.manifest.clone());
    let Some(manifest) = registry.get_manifest(repository, &reference).await? else {
        return Ok(None);
    };
    let Ok(parsed) = serde_json::from_slice::<ImageManifest>(&manifest.bytes) else {
        return Ok(None);
    };
    let Some(layer) = parsed.layers.first() else {
        return Ok(None);
    };
    let layer_digest = Digest::parse(&layer.digest)?;
    Ok(registry
        .get_blob(repository, &layer_digest, range, head)
        .await?)
}
