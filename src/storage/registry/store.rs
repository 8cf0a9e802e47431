//! The registry as a [`Store`]: each operation is the distribution API call of the same name.

use async_trait::async_trait;
use bytes::Bytes;

use super::{BlobUpload, Registry};
use crate::storage::error::StorageError;
use crate::storage::reference::{Digest, Reference, Repository, Tag};
use crate::storage::store::{BlobDownload, BlobRequest, BlobWriter, ManifestFetch, Store};

#[async_trait]
impl Store for Registry {
    fn location(&self) -> String {
        self.origin().to_string()
    }

    fn credentials_fingerprint(&self) -> String {
        Registry::credentials_fingerprint(self)
    }

    async fn ping(&self) -> Result<(), StorageError> {
        Registry::ping(self).await
    }

    async fn list_tags(&self, repository: &Repository) -> Result<Option<Vec<Tag>>, StorageError> {
        Registry::list_tags(self, repository).await
    }

    async fn catalog(&self) -> Result<Vec<Repository>, StorageError> {
        Registry::catalog(self).await
    }

    async fn get_manifest_if_changed(
        &self,
        repository: &Repository,
        reference: &Reference,
        known: Option<&Digest>,
    ) -> Result<ManifestFetch, StorageError> {
        Registry::get_manifest_if_changed(self, repository, reference, known).await
    }

    async fn put_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
        media_type: &str,
        body: Bytes,
    ) -> Result<Digest, StorageError> {
        Registry::put_manifest(self, repository, reference, media_type, body).await
    }

    async fn delete_manifest(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        Registry::delete_manifest(self, repository, digest).await
    }

    async fn blob_exists(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        Registry::blob_exists(self, repository, digest).await
    }

    async fn mount_blob(
        &self,
        repository: &Repository,
        from: &Repository,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        Registry::mount_blob(self, repository, from, digest).await
    }

    async fn start_upload(
        &self,
        repository: &Repository,
    ) -> Result<Box<dyn BlobWriter>, StorageError> {
        Ok(Box::new(Registry::start_upload(self, repository).await?))
    }

    async fn get_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        request: BlobRequest<'_>,
    ) -> Result<Option<BlobDownload>, StorageError> {
        Registry::get_blob(self, repository, digest, request).await
    }
}

#[async_trait]
impl BlobWriter for BlobUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        BlobUpload::write(self, chunk).await
    }

    async fn commit(self: Box<Self>, digest: &Digest) -> Result<(), StorageError> {
        BlobUpload::commit(*self, digest).await
    }

    async fn cancel(self: Box<Self>) {
        BlobUpload::cancel(*self).await;
    }
}
