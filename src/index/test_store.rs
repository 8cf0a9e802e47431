//! A store for the tests of the write protocols: the local store in a directory, seen as a
//! registry (no conditional tag changes; manifest reads a distance away; some writes slow)
//! or as itself (tags changed by compare-and-swap), and what another writer does meanwhile.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::time::Instant;

use crate::storage::local::LocalStore;
use crate::storage::oci::{
    Descriptor, ImageIndex, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, Platform,
};
use crate::storage::{
    BlobDownload, BlobRequest, BlobWriter, Blobs, Digest, ManifestFetch, Manifests, Reference,
    Repository, StorageError, Store, Tag, TagChange,
};

/// What another writer does, on the same directory, before a read.
pub(super) type Meanwhile = Box<dyn FnMut(LocalStore) -> BoxFuture<'static, ()> + Send>;

/// The local store with a registry's ways, and hooks.
pub(super) struct TestStore {
    inner: LocalStore,
    swaps: bool,
    read_delay: Duration,
    slow_writes: Option<(Tag, Duration)>,
    checks_references: bool,
    before_reads: Mutex<Option<(Tag, Meanwhile)>>,
    /// When each manifest read started.
    pub(super) reads: Mutex<Vec<Instant>>,
    /// When each manifest write landed.
    pub(super) writes: Mutex<Vec<Instant>>,
}

impl std::fmt::Debug for TestStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestStore")
            .field("swaps", &self.swaps)
            .field("read_delay", &self.read_delay)
            .finish_non_exhaustive()
    }
}

impl TestStore {
    /// Like a registry: no conditional tag changes (a writer confirms by reading back).
    pub(super) fn registry(dir: &std::path::Path) -> Self {
        Self {
            inner: LocalStore::open(dir).unwrap(),
            swaps: false,
            read_delay: Duration::ZERO,
            slow_writes: None,
            checks_references: false,
            before_reads: Mutex::default(),
            reads: Mutex::default(),
            writes: Mutex::default(),
        }
    }

    /// The local store itself: tags change by compare-and-swap.
    pub(super) fn local(dir: &std::path::Path) -> Self {
        Self {
            swaps: true,
            ..Self::registry(dir)
        }
    }

    /// Every manifest read takes `delay` (a registry far away).
    pub(super) fn far(self, delay: Duration) -> Self {
        Self {
            read_delay: delay,
            ..self
        }
    }

    /// Writes of `tag`'s manifest take `delay` before they land.
    pub(super) fn slow_writes_of(self, tag: Tag, delay: Duration) -> Self {
        Self {
            slow_writes: Some((tag, delay)),
            ..self
        }
    }

    /// Refuses an image index that lists a manifest the store does not have, as CNCF
    /// distribution does (400, `MANIFEST_BLOB_UNKNOWN`).
    pub(super) fn checking_references(self) -> Self {
        Self {
            checks_references: true,
            ..self
        }
    }

    /// `meanwhile` runs before every read of `tag`'s manifest.
    pub(super) fn before_reads_of(self, tag: Tag, meanwhile: Meanwhile) -> Self {
        *self.before_reads.lock().unwrap() = Some((tag, meanwhile));
        self
    }

    /// The store underneath, as another writer on the same directory sees it.
    pub(super) fn inner(&self) -> LocalStore {
        self.inner.clone()
    }

    async fn landing(&self, reference: &Reference) {
        if let (Some((tag, delay)), Reference::Tag(written)) = (&self.slow_writes, reference) {
            if tag == written {
                tokio::time::sleep(*delay).await;
            }
        }
    }
}

/// An index entry for a file told apart by `architecture`.
pub(super) fn file_entry(architecture: &str) -> Descriptor {
    let mut entry = Descriptor::of(MEDIA_TYPE_MANIFEST, architecture.as_bytes());
    entry.platform = Some(Platform {
        architecture: architecture.to_owned(),
        os: "any".to_owned(),
        other: BTreeMap::new(),
    });
    entry
}

#[async_trait]
impl Manifests for TestStore {
    async fn list_tags(&self, repository: &Repository) -> Result<Option<Vec<Tag>>, StorageError> {
        self.inner.list_tags(repository).await
    }

    async fn catalog(&self) -> Result<Vec<Repository>, StorageError> {
        self.inner.catalog().await
    }

    async fn get_manifest_if_changed(
        &self,
        repository: &Repository,
        reference: &Reference,
        known: Option<&Digest>,
    ) -> Result<ManifestFetch, StorageError> {
        let meanwhile = {
            let mut hook = self.before_reads.lock().unwrap();
            match (hook.as_mut(), reference) {
                (Some((tag, meanwhile)), Reference::Tag(read)) if tag == read => {
                    Some(meanwhile(self.inner.clone()))
                }
                _ => None,
            }
        };
        if let Some(meanwhile) = meanwhile {
            meanwhile.await;
        }
        self.reads.lock().unwrap().push(Instant::now());
        tokio::time::sleep(self.read_delay).await;
        let fetch = self
            .inner
            .get_manifest_if_changed(repository, reference, known);
        fetch.await
    }

    async fn put_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
        media_type: &str,
        body: Bytes,
    ) -> Result<Digest, StorageError> {
        self.landing(reference).await;
        if self.checks_references && media_type == MEDIA_TYPE_INDEX {
            let index: ImageIndex = serde_json::from_slice(&body).unwrap();
            for entry in &index.manifests {
                let listed = Reference::Digest(Digest::parse(&entry.digest).unwrap());
                if self
                    .inner
                    .get_manifest(repository, &listed)
                    .await?
                    .is_none()
                {
                    return Err(StorageError::Upstream {
                        registry: self.location(),
                        operation: "manifest push".to_owned(),
                        status: 400,
                        code: " (MANIFEST_BLOB_UNKNOWN)".to_owned(),
                    });
                }
            }
        }
        let put = self
            .inner
            .put_manifest(repository, reference, media_type, body);
        let digest = put.await?;
        self.writes.lock().unwrap().push(Instant::now());
        Ok(digest)
    }

    async fn delete_manifest(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        self.inner.delete_manifest(repository, digest).await
    }

    async fn put_tag_if(
        &self,
        repository: &Repository,
        tag: &Tag,
        expected: Option<&Digest>,
        media_type: &str,
        body: Bytes,
    ) -> Result<TagChange, StorageError> {
        if !self.swaps {
            return Ok(TagChange::Unsupported);
        }
        let swap = self
            .inner
            .put_tag_if(repository, tag, expected, media_type, body);
        let change = swap.await?;
        self.writes.lock().unwrap().push(Instant::now());
        Ok(change)
    }

    async fn delete_tag_if(
        &self,
        repository: &Repository,
        tag: &Tag,
        expected: &Digest,
    ) -> Result<TagChange, StorageError> {
        if !self.swaps {
            return Ok(TagChange::Unsupported);
        }
        self.inner.delete_tag_if(repository, tag, expected).await
    }
}

#[async_trait]
impl Blobs for TestStore {
    async fn blob_exists(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        self.inner.blob_exists(repository, digest).await
    }

    async fn start_upload(
        &self,
        repository: &Repository,
    ) -> Result<Box<dyn BlobWriter>, StorageError> {
        self.inner.start_upload(repository).await
    }

    async fn get_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        request: BlobRequest<'_>,
    ) -> Result<Option<BlobDownload>, StorageError> {
        self.inner.get_blob(repository, digest, request).await
    }
}

#[async_trait]
impl Store for TestStore {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn credentials_fingerprint(&self) -> String {
        self.inner.credentials_fingerprint()
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.inner.ping().await
    }
}
