//! Blobs of a layout, `blobs/sha256/<hex>`: streamed uploads that become visible only by
//! rename after `fsync` and a digest check, and streamed downloads with single byte ranges.
//!
//! Specification: "Blobs" of
//! <https://github.com/opencontainers/image-spec/blob/main/image-layout.md>.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncWriteExt as _, BufWriter};

use super::files;
use super::layout::{self, Layout};
use super::{LocalStore, blocking};
use crate::storage::error::StorageError;
use crate::storage::file_body::file_download;
use crate::storage::reference::{Digest, Repository};
use crate::storage::store::{BlobDownload, BlobRequest, BlobWriter, Blobs};

/// Size of the chunks read from a blob file, and of the upload write buffer.
const CHUNK_SIZE: usize = 64 * 1024;

/// An upload in progress: a file in `<root>/.uploads/`, hashed as it is written. Dropped
/// without [`BlobWriter::commit`], it leaves nothing visible (and deletes its file).
pub struct LocalUpload {
    store: LocalStore,
    repository: Repository,
    temp: PathBuf,
    file: Option<BufWriter<tokio::fs::File>>,
    hasher: Sha256,
    written: u64,
    finished: bool,
}

impl fmt::Debug for LocalUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalUpload")
            .field("repository", &self.repository)
            .field("temp", &self.store.display_path(&self.temp))
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl LocalUpload {
    /// Opens an upload into `repository` (whose layout is created at commit).
    pub(super) async fn start(
        store: &LocalStore,
        repository: &Repository,
    ) -> Result<Self, StorageError> {
        layout::check_reserved(repository)?;
        let temp = store.temp_path();
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .await
            .map_err(store.io_at(&temp))?;
        Ok(Self {
            store: store.clone(),
            repository: repository.clone(),
            temp,
            file: Some(BufWriter::with_capacity(CHUNK_SIZE, file)),
            hasher: Sha256::new(),
            written: 0,
            finished: false,
        })
    }

    /// Bytes written so far.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes and syncs the file, and returns the digest of what was written.
    async fn close(&mut self) -> Result<Digest, StorageError> {
        let Some(mut file) = self.file.take() else {
            return Err(StorageError::UploadAborted(
                "the upload is closed".to_owned(),
            ));
        };
        file.flush().await.map_err(self.store.io_at(&self.temp))?;
        file.get_mut()
            .sync_all()
            .await
            .map_err(self.store.io_at(&self.temp))?;
        let hex = hex::encode(std::mem::take(&mut self.hasher).finalize());
        Digest::from_sha256_hex(&hex)
    }
}

#[async_trait]
impl BlobWriter for LocalUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        let Some(file) = self.file.as_mut() else {
            return Err(StorageError::UploadAborted(
                "the upload is closed".to_owned(),
            ));
        };
        self.hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(self.store.io_at(&self.temp))?;
        self.written += chunk.len() as u64;
        Ok(())
    }

    async fn commit(mut self: Box<Self>, digest: &Digest) -> Result<(), StorageError> {
        let actual = self.close().await?;
        if &actual != digest {
            // Dropping `self` removes the file.
            return Err(StorageError::DigestMismatch {
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        let (store, repository) = (self.store.clone(), self.repository.clone());
        let (temp, owned_digest) = (self.temp.clone(), digest.clone());
        let size = self.written;
        blocking(move || {
            let layout = store.create_layout(&repository)?;
            place_blob(&store, &layout, &temp, &owned_digest, size)
        })
        .await?;
        self.finished = true;
        tracing::debug!(oci.repository = %self.repository, oci.digest = %digest, "stored blob `{digest}`");
        Ok(())
    }

    async fn cancel(mut self: Box<Self>) {
        self.file = None;
        let _ = tokio::fs::remove_file(&self.temp).await;
        self.finished = true;
    }
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        if !self.finished {
            // A quick unlink; what a crash leaves behind is removed at the next open.
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Moves the synced file `temp` to `blobs/sha256/<hex>`, unless a blob of that size is
/// already there (content-addressed: it holds the same bytes).
pub(super) fn place_blob(
    store: &LocalStore,
    layout: &Layout,
    temp: &Path,
    digest: &Digest,
    size: u64,
) -> Result<(), StorageError> {
    let target = layout.blob_path(digest);
    if files::file_size(store, &target)? == Some(size) {
        let _ = fs::remove_file(temp);
        return Ok(());
    }
    match fs::rename(temp, &target) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::CrossesDevices => {
            // The repository directory is another file system: copy next to the target first.
            let near =
                layout
                    .blobs_dir()
                    .join(format!(".{}.{}.tmp", digest.hex(), super::unique_name()));
            let copied = fs::copy(temp, &near)
                .and_then(|_| File::open(&near)?.sync_all())
                .and_then(|()| fs::rename(&near, &target));
            let _ = fs::remove_file(temp);
            if let Err(error) = copied {
                let _ = fs::remove_file(&near);
                return Err(store.io_at(&target)(error));
            }
        }
        Err(error) => return Err(store.io_at(&target)(error)),
    }
    files::sync_dir(store, &layout.blobs_dir())
}

/// Stores `bytes` (whose digest is `digest`) as a blob of `layout`, unless present.
pub(super) fn store_bytes(
    store: &LocalStore,
    layout: &Layout,
    digest: &Digest,
    bytes: &[u8],
) -> Result<(), StorageError> {
    let size = bytes.len() as u64;
    if files::file_size(store, &layout.blob_path(digest))? == Some(size) {
        return Ok(());
    }
    let temp = store.temp_path();
    let written = File::create_new(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(error) = written {
        let _ = fs::remove_file(&temp);
        return Err(store.io_at(&temp)(error));
    }
    let placed = place_blob(store, layout, &temp, digest, size);
    if placed.is_err() {
        let _ = fs::remove_file(&temp);
    }
    placed
}

/// File-system work runs off the async threads.
#[async_trait]
impl Blobs for LocalStore {
    async fn blob_exists(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        let (store, repository, digest) = (self.clone(), repository.clone(), digest.clone());
        blocking(move || match store.find_layout(&repository)? {
            Some(layout) => Ok(files::file_size(&store, &layout.blob_path(&digest))?.is_some()),
            None => Ok(false),
        })
        .await
    }

    async fn mount_blob(
        &self,
        repository: &Repository,
        from: &Repository,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        let (store, repository) = (self.clone(), repository.clone());
        let (from, digest) = (from.clone(), digest.clone());
        blocking(move || store.mount_blob_blocking(&repository, &from, &digest)).await
    }

    async fn start_upload(
        &self,
        repository: &Repository,
    ) -> Result<Box<dyn BlobWriter>, StorageError> {
        Ok(Box::new(LocalUpload::start(self, repository).await?))
    }

    /// Streams the blob `digest` of `repository` as `request` says; `None` when absent.
    async fn get_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        request: BlobRequest<'_>,
    ) -> Result<Option<BlobDownload>, StorageError> {
        let (owned, repository, owned_digest) = (self.clone(), repository.clone(), digest.clone());
        let found = blocking(move || {
            let Some(layout) = owned.find_layout(&repository)? else {
                return Ok(None);
            };
            let path = layout.blob_path(&owned_digest);
            Ok(files::file_size(&owned, &path)?.map(|size| (path, size)))
        })
        .await?;
        let Some((path, size)) = found else {
            return Ok(None);
        };
        let io_error = self.io_at(&path);
        file_download(&path, size, (request.range, request.head), io_error).await
    }
}

impl LocalStore {
    /// Makes blob `digest` of `from` a blob of `repository` too: a hard link (a copy where
    /// links are impossible), visible only once complete. `false` when `from` lacks it.
    pub(super) fn mount_blob_blocking(
        &self,
        repository: &Repository,
        from: &Repository,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        let Some(source_layout) = self.find_layout(from)? else {
            return Ok(false);
        };
        let source = source_layout.blob_path(digest);
        let Some(size) = files::file_size(self, &source)? else {
            return Ok(false);
        };
        let layout = self.create_layout(repository)?;
        let target = layout.blob_path(digest);
        if files::file_size(self, &target)? == Some(size) {
            return Ok(true);
        }
        // Linked (or copied) under a temporary name, then renamed: `target` may hold a
        // damaged file of another size, which the rename replaces.
        let temp = self.temp_path();
        let linked = fs::hard_link(&source, &temp).or_else(|_| {
            fs::copy(&source, &temp)?;
            File::open(&temp)?.sync_all()
        });
        match linked {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let _ = fs::remove_file(&temp);
                return Ok(false);
            }
            Err(error) => {
                let _ = fs::remove_file(&temp);
                return Err(self.io_at(&source)(error));
            }
        }
        let placed = place_blob(self, &layout, &temp, digest, size);
        if placed.is_err() {
            let _ = fs::remove_file(&temp);
        }
        placed.map(|()| true)
    }
}
