//! The one interface to OCI content, whatever holds it: a remote registry (the distribution
//! API) or a local OCI image-layout directory. The index layer talks only to [`Store`], made of
//! one trait per concern ([`Manifests`], [`Blobs`]), each implemented where its bodies are.

use std::fmt;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use super::error::StorageError;
use super::oci::StoredManifest;
use super::reference::{Digest, Reference, Repository, Tag};
use crate::net::SocketBody;

/// The answer to a conditional manifest fetch.
#[derive(Debug, Clone)]
pub enum ManifestFetch {
    /// The manifest is still the one the caller holds.
    Unchanged,
    /// The manifest (new, or not known before).
    Fetched(StoredManifest),
    /// No such manifest.
    Missing,
}

/// What a conditional tag change did ([`Manifests::put_tag_if`], [`Manifests::delete_tag_if`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagChange {
    /// Done, in one atomic step with the check of where the tag pointed.
    Done,
    /// Not done: the tag no longer points where the caller expected (another writer moved it).
    Moved,
    /// Not done: this store cannot check and change a tag in one step (a registry: the
    /// distribution API has no conditional write). The caller writes unconditionally and
    /// confirms by reading back.
    Unsupported,
}

impl TagChange {
    /// [`TagChange::Done`] when the store made the change, else [`TagChange::Moved`].
    #[must_use]
    pub fn checked(done: bool) -> Self {
        if done { Self::Done } else { Self::Moved }
    }
}

/// How to fetch a blob.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlobRequest<'a> {
    /// An HTTP `Range` value (`bytes=0-99`, `bytes=-100`, `bytes=100-`).
    pub range: Option<&'a str>,
    /// Only the headers.
    pub head: bool,
    /// When the content lives on another host (object storage behind a registry), hand that
    /// location back instead of streaming the bytes through.
    pub pass_redirects: bool,
    /// The caller can take the body still on its socket ([`BlobDownload::socket`]), to splice
    /// it to its client: a store that can (a registry over plain HTTP, for a whole blob)
    /// then answers on a connection of its own and reads nothing of the body.
    pub socket: bool,
}

/// A stream of blob bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, StorageError>> + Send>>;

/// A blob being downloaded.
pub struct BlobDownload {
    /// 200, 206 (a range), 416 (range not satisfiable), or 307 with [`BlobDownload::redirect`].
    pub status: u16,
    /// Where the client should get the bytes, when redirects are passed on.
    pub redirect: Option<String>,
    /// The body length, when known.
    pub content_length: Option<u64>,
    /// `Content-Range` of a 206 or 416.
    pub content_range: Option<String>,
    /// The bytes (empty when they are on [`BlobDownload::socket`]).
    pub body: ByteStream,
    /// The bytes still on the registry's connection, when [`BlobRequest::socket`] asked for
    /// them so.
    pub socket: Option<SocketBody>,
}

/// The bytes of `socket` as a stream (read through memory).
#[must_use]
pub fn socket_stream(socket: SocketBody, registry: &str) -> ByteStream {
    use futures_util::StreamExt as _;
    let registry = registry.to_owned();
    Box::pin(socket.into_stream().map(move |chunk| {
        chunk.map_err(|source| StorageError::Interrupted {
            registry: registry.clone(),
            source,
        })
    }))
}

impl fmt::Debug for BlobDownload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobDownload")
            .field("status", &self.status)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

/// An open blob upload: bytes written are not visible until [`BlobWriter::commit`].
#[async_trait]
pub trait BlobWriter: Send + Sync + fmt::Debug {
    /// Sends the next bytes.
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError>;
    /// Makes the blob visible, after checking the bytes against `digest`.
    async fn commit(self: Box<Self>, digest: &Digest) -> Result<(), StorageError>;
    /// Discards the upload. Best effort.
    async fn cancel(self: Box<Self>);
    /// Writes `bytes` as the whole blob and commits it; the session is discarded when the
    /// write fails. Its digest.
    async fn write_whole(mut self: Box<Self>, bytes: Bytes) -> Result<Digest, StorageError> {
        let digest = Digest::of(&bytes);
        if let Err(error) = self.write(bytes).await {
            self.cancel().await;
            return Err(error);
        }
        self.commit(&digest).await?;
        Ok(digest)
    }
    /// Asks for a copy of the bytes in the store's blob cache, if it has one, kept once the
    /// upload is committed: for blobs worth sending again (distribution files). Before the
    /// first [`BlobWriter::write`].
    fn keep_copy(&mut self) {}
}

/// Where OCI content lives, as seen by one caller: its repositories, tags and manifests
/// ([`Manifests`]) and its blobs ([`Blobs`]), and how it is named. On a `dyn Store` every method
/// is at hand; on a concrete store (`Registry`, `LocalStore`), import the trait that has it.
#[async_trait]
pub trait Store: Manifests + Blobs {
    /// A short description for logs and errors (`http://127.0.0.1:5000`, `local store`).
    fn location(&self) -> String;

    /// A fingerprint of the caller's credentials, to key per-caller caches.
    fn credentials_fingerprint(&self) -> String;

    /// Whether the store answers at all.
    async fn ping(&self) -> Result<(), StorageError>;
}

/// The repositories of a store, their tags and manifests.
#[async_trait]
pub trait Manifests: Send + Sync + fmt::Debug {
    /// Every tag of `repository`; `None` when the repository does not exist.
    async fn list_tags(&self, repository: &Repository) -> Result<Option<Vec<Tag>>, StorageError>;

    /// Every repository.
    async fn catalog(&self) -> Result<Vec<Repository>, StorageError>;

    /// A manifest by tag or digest, or [`ManifestFetch::Unchanged`] when it still has digest
    /// `known`.
    async fn get_manifest_if_changed(
        &self,
        repository: &Repository,
        reference: &Reference,
        known: Option<&Digest>,
    ) -> Result<ManifestFetch, StorageError>;

    /// A manifest by tag or digest; `None` when absent.
    async fn get_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<Option<StoredManifest>, StorageError> {
        match self
            .get_manifest_if_changed(repository, reference, None)
            .await?
        {
            ManifestFetch::Fetched(manifest) => Ok(Some(manifest)),
            ManifestFetch::Missing | ManifestFetch::Unchanged => Ok(None),
        }
    }

    /// Stores a manifest under a tag or its digest; returns its digest.
    async fn put_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
        media_type: &str,
        body: Bytes,
    ) -> Result<Digest, StorageError>;

    /// Deletes a manifest by digest, and every tag pointing at it. Deleting what is already
    /// gone succeeds.
    async fn delete_manifest(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<(), StorageError>;

    /// Stores a manifest and points `tag` at it, only if `tag` still points at `expected`
    /// (`None`: only if there is no such tag), checked and changed in one atomic step.
    async fn put_tag_if(
        &self,
        _repository: &Repository,
        _tag: &Tag,
        _expected: Option<&Digest>,
        _media_type: &str,
        _body: Bytes,
    ) -> Result<TagChange, StorageError> {
        Ok(TagChange::Unsupported)
    }

    /// Deletes the manifest `expected` and every tag pointing at it, only if `tag` still
    /// points at it, checked and changed in one atomic step.
    async fn delete_tag_if(
        &self,
        _repository: &Repository,
        _tag: &Tag,
        _expected: &Digest,
    ) -> Result<TagChange, StorageError> {
        Ok(TagChange::Unsupported)
    }
}

/// The blobs of a store's repositories.
#[async_trait]
pub trait Blobs: Send + Sync + fmt::Debug {
    /// Whether `repository` holds the blob `digest`.
    async fn blob_exists(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<bool, StorageError>;

    /// Makes the blob `digest` of `from` (a repository of the same store) available in
    /// `repository` without copying bytes through this server; `Ok(false)` when the store
    /// cannot, and the caller must copy.
    async fn mount_blob(
        &self,
        _repository: &Repository,
        _from: &Repository,
        _digest: &Digest,
    ) -> Result<bool, StorageError> {
        Ok(false)
    }

    /// Opens an upload in `repository`.
    async fn start_upload(
        &self,
        repository: &Repository,
    ) -> Result<Box<dyn BlobWriter>, StorageError>;

    /// Stores a small blob; returns its digest. Skips it when present, unless `force`. (On a
    /// registry: the upload session, then one `PUT ?digest=` with the bytes, as a blob this
    /// small is held until its commit.)
    async fn push_small_blob(
        &self,
        repository: &Repository,
        bytes: Bytes,
        force: bool,
    ) -> Result<Digest, StorageError> {
        let digest = Digest::of(&bytes);
        if !force && self.blob_exists(repository, &digest).await? {
            return Ok(digest);
        }
        self.start_upload(repository)
            .await?
            .write_whole(bytes)
            .await
    }

    /// Reads the blob `digest` as `request` says; `None` when absent.
    async fn get_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        request: BlobRequest<'_>,
    ) -> Result<Option<BlobDownload>, StorageError>;
}
