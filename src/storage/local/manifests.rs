//! Manifests and tags of a layout: manifests are blobs; a tag is an `index.json` entry.
//!
//! Specification: <https://github.com/opencontainers/image-spec/blob/main/image-layout.md>
//! ("index.json file", "Blobs"). `index.json` is only rewritten under the layout's lock, and a
//! tag is only added once the manifest's blob is in place, so a tag never dangles.

use std::fs;
use std::io::{self, Read as _};

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;

use super::blobs::store_bytes;
use super::files;
use super::index_json::IndexJson;
use super::layout::Layout;
use super::{LocalStore, blocking};
use crate::storage::error::StorageError;
use crate::storage::oci::{Descriptor, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, StoredManifest};
use crate::storage::reference::{Digest, Reference, Repository, Tag};
use crate::storage::store::{ManifestFetch, Manifests, TagChange};

/// The largest manifest stored or read (the distribution spec's suggested minimum limit).
const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// Each operation runs off the async threads; the bodies below do the file-system work.
#[async_trait]
impl Manifests for LocalStore {
    async fn list_tags(&self, repository: &Repository) -> Result<Option<Vec<Tag>>, StorageError> {
        let (store, repository) = (self.clone(), repository.clone());
        blocking(move || {
            let Some(layout) = store.find_layout(&repository)? else {
                return Ok(None);
            };
            Ok(Some(IndexJson::read(&store, layout.dir())?.tags()))
        })
        .await
    }

    async fn catalog(&self) -> Result<Vec<Repository>, StorageError> {
        let store = self.clone();
        blocking(move || store.catalog_blocking()).await
    }

    async fn get_manifest_if_changed(
        &self,
        repository: &Repository,
        reference: &Reference,
        known: Option<&Digest>,
    ) -> Result<ManifestFetch, StorageError> {
        let (store, repository) = (self.clone(), repository.clone());
        let (reference, known) = (reference.clone(), known.cloned());
        blocking(move || store.get_manifest_blocking(&repository, &reference, known.as_ref())).await
    }

    async fn put_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
        media_type: &str,
        body: Bytes,
    ) -> Result<Digest, StorageError> {
        let (store, repository) = (self.clone(), repository.clone());
        let (reference, media_type) = (reference.clone(), media_type.to_owned());
        blocking(move || store.put_manifest_blocking(&repository, &reference, &media_type, &body))
            .await
    }

    async fn delete_manifest(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        let (store, repository, digest) = (self.clone(), repository.clone(), digest.clone());
        blocking(move || store.delete_manifest_blocking(&repository, &digest, None)).await?;
        Ok(())
    }

    /// Checked and changed under the layout's lock, which every writer of its `index.json`
    /// takes (other processes sharing the directory included).
    async fn put_tag_if(
        &self,
        repository: &Repository,
        tag: &Tag,
        expected: Option<&Digest>,
        media_type: &str,
        body: Bytes,
    ) -> Result<TagChange, StorageError> {
        let (store, repository, tag) = (self.clone(), repository.clone(), tag.clone());
        let (expected, media_type) = (expected.cloned(), media_type.to_owned());
        let condition = Condition::PointsAt(expected);
        let (_, tagged) = blocking(move || {
            store.put_tag_blocking(&repository, &tag, &media_type, &body, &condition)
        })
        .await?;
        Ok(TagChange::checked(tagged))
    }

    async fn delete_tag_if(
        &self,
        repository: &Repository,
        tag: &Tag,
        expected: &Digest,
    ) -> Result<TagChange, StorageError> {
        let (store, repository) = (self.clone(), repository.clone());
        let (tag, expected) = (tag.clone(), expected.clone());
        let deleted =
            blocking(move || store.delete_manifest_blocking(&repository, &expected, Some(&tag)))
                .await?;
        Ok(TagChange::checked(deleted))
    }
}

/// What `tag` points at in `index`, if its manifest is there (a tag whose manifest is
/// gone, which this store never leaves but a hand-edited directory may, counts as none).
fn tagged_manifest(layout: &Layout, index: &IndexJson, tag: &Tag) -> Option<Digest> {
    let tagged = index.find(tag)?;
    layout
        .blob_path(&tagged.digest)
        .is_file()
        .then_some(tagged.digest)
}

/// The digest of a manifest no larger than [`MAX_MANIFEST_SIZE`].
fn checked_digest(body: &[u8]) -> Result<Digest, StorageError> {
    if body.len() > MAX_MANIFEST_SIZE {
        return Err(StorageError::ManifestTooLarge {
            size: body.len(),
            limit: MAX_MANIFEST_SIZE,
        });
    }
    Ok(Digest::of(body))
}

/// When a tag may be changed.
enum Condition {
    /// Whatever it points at.
    Always,
    /// Only while it points at this manifest (`None`: only while there is no such tag, or
    /// its manifest is gone).
    PointsAt(Option<Digest>),
}

impl LocalStore {
    /// A manifest by tag or digest, or `Unchanged` when it has digest `known` (then its blob
    /// is not read).
    pub(super) fn get_manifest_blocking(
        &self,
        repository: &Repository,
        reference: &Reference,
        known: Option<&Digest>,
    ) -> Result<ManifestFetch, StorageError> {
        let Some(layout) = self.find_layout(repository)? else {
            return Ok(ManifestFetch::Missing);
        };
        let (digest, tagged_media_type) = match reference {
            Reference::Tag(tag) => match IndexJson::read(self, layout.dir())?.find(tag) {
                Some(tagged) => (tagged.digest, Some(tagged.media_type)),
                None => return Ok(ManifestFetch::Missing),
            },
            Reference::Digest(digest) => (digest.clone(), None),
        };
        if known == Some(&digest) {
            return Ok(ManifestFetch::Unchanged);
        }
        let Some(bytes) = self.read_manifest(&layout, &digest)? else {
            // A tag whose blob is gone: a delete raced with this read.
            return Ok(ManifestFetch::Missing);
        };
        let media_type = tagged_media_type.unwrap_or_else(|| media_type_of(&bytes));
        Ok(ManifestFetch::Fetched(StoredManifest {
            media_type,
            digest,
            bytes,
        }))
    }

    /// Stores a manifest's blob and, for a tag, points the tag at it.
    pub(super) fn put_manifest_blocking(
        &self,
        repository: &Repository,
        reference: &Reference,
        media_type: &str,
        body: &Bytes,
    ) -> Result<Digest, StorageError> {
        let expected = match reference {
            Reference::Tag(tag) => {
                let condition = Condition::Always;
                let (digest, _) =
                    self.put_tag_blocking(repository, tag, media_type, body, &condition)?;
                return Ok(digest);
            }
            Reference::Digest(expected) => expected,
        };
        let digest = checked_digest(body)?;
        if expected != &digest {
            return Err(StorageError::DigestMismatch {
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
        }
        let layout = self.create_layout(repository)?;
        store_bytes(self, &layout, &digest, body)?;
        Ok(digest)
    }

    /// Stores a manifest's blob and points `tag` at it if `condition` holds; its digest, and
    /// whether the tag now points at it.
    fn put_tag_blocking(
        &self,
        repository: &Repository,
        tag: &Tag,
        media_type: &str,
        body: &Bytes,
        condition: &Condition,
    ) -> Result<(Digest, bool), StorageError> {
        let digest = checked_digest(body)?;
        let layout = self.create_layout(repository)?;
        let mut descriptor = Descriptor::of(media_type, body);
        descriptor.artifact_type = artifact_type_of(body);
        // Written outside the lock (the slow part), then checked again under it: a concurrent
        // delete of the same digest may have removed it, and a tag must never dangle.
        store_bytes(self, &layout, &digest, body)?;
        let _lock = layout.lock(self)?;
        let mut index = IndexJson::read(self, layout.dir())?;
        if let Condition::PointsAt(expected) = condition {
            if tagged_manifest(&layout, &index, tag).as_ref() != expected.as_ref() {
                return Ok((digest, false));
            }
        }
        store_bytes(self, &layout, &digest, body)?;
        if index.set_tag(tag, descriptor) {
            index.write(self, layout.dir())?;
        }
        tracing::debug!(oci.repository = %repository, oci.digest = %digest, "tagged `{repository}:{tag}`");
        Ok((digest, true))
    }

    /// Removes every tag pointing at `digest`, then its blob, if `only_while` (a tag) still
    /// points at it; whether it did. What is gone already is fine when there is no such
    /// condition.
    pub(super) fn delete_manifest_blocking(
        &self,
        repository: &Repository,
        digest: &Digest,
        only_while: Option<&Tag>,
    ) -> Result<bool, StorageError> {
        let Some(layout) = self.find_layout(repository)? else {
            return Ok(only_while.is_none());
        };
        let _lock = layout.lock(self)?;
        let mut index = IndexJson::read(self, layout.dir())?;
        if let Some(tag) = only_while {
            if tagged_manifest(&layout, &index, tag).as_ref() != Some(digest) {
                return Ok(false);
            }
        }
        if index.remove_digest(digest) {
            index.write(self, layout.dir())?;
        }
        let path = layout.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => files::sync_dir(self, &layout.blobs_dir())?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(self.io_at(&path)(error)),
        }
        Ok(true)
    }

    /// The bytes of manifest `digest`, checked against it; `None` when absent.
    fn read_manifest(
        &self,
        layout: &Layout,
        digest: &Digest,
    ) -> Result<Option<Bytes>, StorageError> {
        let path = layout.blob_path(digest);
        let corrupted = |reason: String| StorageError::Corrupted {
            path: self.display_path(&path),
            reason,
        };
        let Some(size) = files::file_size(self, &path)? else {
            return Ok(None);
        };
        if size > MAX_MANIFEST_SIZE as u64 {
            return Err(corrupted(format!(
                "manifest `{digest}` is larger than 4 MiB"
            )));
        }
        let mut bytes = Vec::new();
        match fs::File::open(&path) {
            Ok(file) => file
                .take(MAX_MANIFEST_SIZE as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(self.io_at(&path))?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(self.io_at(&path)(error)),
        };
        if bytes.len() > MAX_MANIFEST_SIZE {
            return Err(corrupted(format!(
                "manifest `{digest}` is larger than 4 MiB"
            )));
        }
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(corrupted(format!(
                "manifest `{digest}` has content of digest `{actual}`"
            )));
        }
        Ok(Some(Bytes::from(bytes)))
    }
}

/// A manifest's media type from its own `mediaType` field; without one, an index when it has
/// `manifests`, an image manifest otherwise.
fn media_type_of(bytes: &[u8]) -> String {
    let Ok(Value::Object(document)) = serde_json::from_slice::<Value>(bytes) else {
        return MEDIA_TYPE_MANIFEST.to_owned();
    };
    match document.get("mediaType").and_then(Value::as_str) {
        Some(media_type) => media_type.to_owned(),
        None if document.contains_key("manifests") => MEDIA_TYPE_INDEX.to_owned(),
        None => MEDIA_TYPE_MANIFEST.to_owned(),
    }
}

/// The `artifactType` of a manifest, for its index entry.
fn artifact_type_of(bytes: &[u8]) -> Option<String> {
    let document: Value = serde_json::from_slice(bytes).ok()?;
    document.get("artifactType")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_from_the_document() {
        assert_eq!(media_type_of(br#"{"mediaType":"x/y"}"#), "x/y");
        assert_eq!(media_type_of(br#"{"manifests":[]}"#), MEDIA_TYPE_INDEX);
        assert_eq!(media_type_of(br#"{"layers":[]}"#), MEDIA_TYPE_MANIFEST);
        assert_eq!(media_type_of(b"not json"), MEDIA_TYPE_MANIFEST);
        assert_eq!(
            artifact_type_of(br#"{"artifactType":"application/pyoci.package.v1"}"#).as_deref(),
            Some("application/pyoci.package.v1")
        );
        assert_eq!(artifact_type_of(b"[]"), None);
    }
}
