//! Serving a distribution file: find it in its release index, stream its layer blob, and check
//! on the way that the bytes are the ones the index records.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use sha2::{Digest as _, Sha256 as Sha256Hasher};

use super::cache::Authorization;
use super::release::{Access, Reached, ReleaseRef};
use super::side_blobs;
use super::{Caller, Index, IndexError, Location};
use crate::layout::{self, ReleaseIndex, StoredFile};
use crate::net::SocketBody;
use crate::packaging::attestation::MEDIA_TYPE_PROVENANCE;
use crate::packaging::{DistFilename, ProjectName, Sha256};
use crate::storage::oci::ImageManifest;
use crate::storage::{
    BlobDownload, BlobRequest, ByteStream, Digest, Reference, Repository, StorageError, Store,
    socket_stream,
};

/// A file on its way to the client.
pub struct FileDownload {
    /// The file's sha256, as recorded.
    pub sha256: Sha256,
    /// The media type to serve it with (never a compressed encoding).
    pub content_type: &'static str,
    /// 200, 206, 416, or 307 with [`FileDownload::redirect`].
    pub status: u16,
    /// Where the client gets the bytes, when the registry's redirects are passed on.
    pub redirect: Option<String>,
    /// Length of the body, when known.
    pub content_length: Option<u64>,
    /// `Content-Range` of a 206 or 416.
    pub content_range: Option<String>,
    /// Served from a pull-through cache while its upstream fails.
    pub stale: bool,
    /// The bytes; a whole-file body ends with an error if they do not hash to the recorded
    /// sha256, so the client sees a failed download rather than wrong bytes. Empty when they
    /// are on [`FileDownload::socket`].
    pub body: Pin<Box<dyn Stream<Item = Result<Bytes, StorageError>> + Send>>,
    /// The bytes still on the registry's connection, when [`FileRequest::socket`] asked for
    /// them so (never checked here: they are fetched by their sha256).
    pub socket: Option<SocketBody>,
}

impl std::fmt::Debug for FileDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDownload")
            .field("sha256", &self.sha256)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// The media type of a distribution file, by its name, stored or upstream (never a compressed
/// encoding: clients hash the exact bytes).
pub(super) fn content_type(filename: &str) -> &'static str {
    if filename.ends_with(".whl") {
        "application/octet-stream"
    } else if filename.ends_with(".zip") {
        "application/zip"
    } else {
        "application/gzip"
    }
}

/// The media type of a core-metadata file.
pub const METADATA_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// What a download is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// The distribution file.
    File,
    /// Its core metadata (PEP 658).
    Metadata,
    /// Its provenance object (PEP 740).
    Provenance,
}

/// How a file is asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileRequest<'a> {
    /// An HTTP `Range` value.
    pub range: Option<&'a str>,
    /// Headers only.
    pub head: bool,
    /// The caller can splice a body still on the registry's connection
    /// ([`FileDownload::socket`]).
    pub socket: bool,
}

impl Index {
    /// The store, repository and index record of `filename`.
    async fn find_file(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
        filename: &str,
    ) -> Result<(Arc<dyn Store>, Repository, StoredFile), IndexError> {
        let release = ReleaseRef::file(project, DistFilename::parse(filename)?)?;
        let not_found = || release.not_found();
        let Reached {
            store, repository, ..
        } = self.reach(caller, location, &release, Access::Read)?;
        let parsed = release.filename.as_ref().ok_or_else(not_found)?;
        let key = location.project_key(&repository);
        if self.cache.absent(&store.credentials_fingerprint(), &key) {
            // The registry just told this caller the project does not exist (its page was
            // asked for): an upstream may serve the file.
            return Err(not_found());
        }
        // The project's page, built within the TTL (an installer reads it just before the
        // files): its records find the file without asking the registry. The registry still
        // decides who reads the bytes (the blob is fetched with the caller's credentials),
        // and a file the page does not list is looked up in the registry.
        let page = self.cache.project(&key).map(|cached| cached.page);
        if let Some(page) = &page {
            if page.status.status.hides_files() {
                // PEP 792: a quarantined project offers no files.
                return Err(not_found());
            }
            if let Some(file) = page.files().find(|f| f.filename == parsed.as_str()) {
                return Ok((store, repository, file.clone()));
            }
        }
        // PEP 792 status: as the cached page says (not quarantined, above), else as the
        // status tag does.
        let quarantined = async {
            if page.is_some() {
                return Ok(false);
            }
            let status = super::status::read_status(store.as_ref(), &repository).await?;
            Ok::<_, IndexError>(status.is_some_and(|marker| marker.status.hides_files()))
        };
        let (file, quarantined) = futures_util::future::join(
            stored_file(store.as_ref(), &repository, parsed),
            quarantined,
        )
        .await;
        if quarantined? {
            // PEP 792: a quarantined project offers no files.
            return Err(not_found());
        }
        let file = file?.ok_or_else(not_found)?;
        Ok((store, repository, file))
    }

    /// Opens `filename` of `project`, or its core metadata (PEP 658), for reading: from the
    /// namespace, or, for a name it does not have, through its upstream index in proxy mode.
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] when there is no such file (or metadata); a packaging
    /// error for a malformed filename; storage and upstream errors.
    pub async fn open(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
        filename: &str,
        (wanted, request): (Wanted, FileRequest<'_>),
    ) -> Result<FileDownload, IndexError> {
        match self.find_file(caller, location, project, filename).await {
            Ok((store, repository, file)) => match wanted {
                Wanted::File => {
                    self.open_stored_file(store.as_ref(), &repository, file, filename, request)
                        .await
                }
                Wanted::Metadata => {
                    let kept = (file.core_metadata.clone(), METADATA_CONTENT_TYPE);
                    let read = (store.as_ref(), location, &repository);
                    let fetch = open_stored_metadata(read.0, &repository, file, filename, request);
                    self.open_side_blob(read, kept, request, fetch).await
                }
                Wanted::Provenance => {
                    let kept = (file.provenance.clone(), MEDIA_TYPE_PROVENANCE);
                    let read = (store.as_ref(), location, &repository);
                    let fetch = open_stored_provenance(read.0, &repository, file, request);
                    self.open_side_blob(read, kept, request, fetch).await
                }
            },
            Err(IndexError::FileNotFound { filename: missing }) if wanted == Wanted::Provenance => {
                let cached =
                    self.open_upstream_provenance(caller, location, project, filename, request);
                cached.await?.ok_or(IndexError::FileNotFound {
                    filename: format!("{missing}.provenance"),
                })
            }
            Err(IndexError::FileNotFound { filename: missing }) => {
                let upstream = (wanted == Wanted::Metadata, request);
                let fallback =
                    self.open_upstream_file(caller, location, project, filename, upstream);
                fallback
                    .await?
                    .ok_or(IndexError::FileNotFound { filename: missing })
            }
            Err(error) => Err(error),
        }
    }

    /// A stored file's core metadata or provenance (the blob `sha256`, which `fetch` reads
    /// from the registry): from memory when it is kept there and the registry let this caller
    /// read the project within the listing TTL; otherwise fetched, and kept when it came
    /// whole, small, and hashing to its sha256.
    async fn open_side_blob(
        &self,
        (store, location, repository): (&dyn Store, &Location, &Repository),
        (sha256, content_type): (Option<Sha256>, &'static str),
        request: FileRequest<'_>,
        fetch: impl Future<Output = Result<FileDownload, IndexError>>,
    ) -> Result<FileDownload, IndexError> {
        let Some(sha256) = sha256.filter(|_| request.range.is_none()) else {
            return fetch.await;
        };
        let key = location.project_key(repository);
        let caller = store.credentials_fingerprint();
        let authorized = self.cache.authorization(&caller, &key) != Authorization::Expired;
        if let Some(bytes) = self.side_blobs.get(&sha256).filter(|_| authorized) {
            return Ok(from_memory((sha256, content_type), bytes, request.head));
        }
        let mut download = fetch.await?;
        let small = download
            .content_length
            .is_some_and(|length| length <= side_blobs::MAX_KEPT);
        if request.head || download.status != 200 || !small {
            return Ok(download);
        }
        // The body is checked against the sha256 as it is read (`verified`).
        let mut bytes = Vec::new();
        while let Some(chunk) = download.body.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        let bytes = Bytes::from(bytes);
        self.side_blobs.keep(&sha256, bytes.clone());
        download.body = Box::pin(futures_util::stream::once(async { Ok(bytes) }));
        Ok(download)
    }

    /// The stored file's bytes, as `request` asks.
    pub(super) async fn open_stored_file(
        &self,
        store: &dyn Store,
        repository: &Repository,
        file: StoredFile,
        filename: &str,
        request: FileRequest<'_>,
    ) -> Result<FileDownload, IndexError> {
        let not_found = || IndexError::FileNotFound {
            filename: filename.escape_default().to_string(),
        };
        let blob_request = BlobRequest {
            range: request.range,
            head: request.head,
            pass_redirects: self.options.pass_blob_redirects,
            socket: request.socket && !self.options.verify_downloads,
        };
        let (blob, by_file_digest) = fetch_layer(store, repository, &file, blob_request)
            .await?
            .ok_or_else(not_found)?;
        let whole = blob.status == 200 && !request.head && blob.redirect.is_none();
        // A blob fetched by the file's own sha256 is what the registry checked on push
        // (content-addressed), and clients check it against the page: hashing it again here
        // would cost a core per GiB/s. A blob found through the manifest under another
        // digest is checked.
        let check = self.options.verify_downloads || !by_file_digest;
        let BlobDownload {
            status,
            redirect,
            content_length,
            content_range,
            body,
            socket,
        } = blob;
        let (body, socket) = match socket {
            Some(socket) if whole && check => {
                let bytes = socket_stream(socket, &store.location());
                (verified(bytes, file.sha256.clone()), None)
            }
            None if whole && check => (verified(body, file.sha256.clone()), None),
            socket => (body, socket),
        };
        Ok(FileDownload {
            socket,
            stale: false,
            sha256: file.sha256.clone(),
            content_type: content_type(&file.filename),
            status,
            redirect,
            content_length,
            content_range,
            body,
        })
    }
}

/// The index record of `filename` in `repository`; `None` when its release or the file is not
/// there.
pub(super) async fn stored_file(
    store: &dyn Store,
    repository: &Repository,
    filename: &DistFilename,
) -> Result<Option<StoredFile>, IndexError> {
    let version = filename.version();
    let tag = layout::tag_for(version)?;
    let manifest = store.get_manifest(repository, &Reference::Tag(tag)).await?;
    let index = manifest
        .map(|m| ReleaseIndex::parse(&m.media_type, &m.bytes, version))
        .transpose()?
        .flatten();
    Ok(
        index
            .and_then(|index| index.file(filename.name(), &version.to_string(), filename.as_str())),
    )
}

/// A side blob sent from memory: whole, or its head alone.
fn from_memory(
    (sha256, content_type): (Sha256, &'static str),
    bytes: Bytes,
    head: bool,
) -> FileDownload {
    FileDownload {
        sha256,
        content_type,
        status: 200,
        redirect: None,
        content_length: Some(bytes.len() as u64),
        content_range: None,
        stale: false,
        body: if head {
            Box::pin(futures_util::stream::empty())
        } else {
            Box::pin(futures_util::stream::once(async { Ok(bytes) }))
        },
        socket: None,
    }
}

/// The core metadata of a stored file (PEP 658), when it was stored.
pub(super) async fn open_stored_metadata(
    store: &dyn Store,
    repository: &Repository,
    file: StoredFile,
    filename: &str,
    request: FileRequest<'_>,
) -> Result<FileDownload, IndexError> {
    let not_found = || IndexError::FileNotFound {
        filename: format!("{}.metadata", filename.escape_default()),
    };
    let sha256 = file.core_metadata.ok_or_else(not_found)?;
    let blob = (sha256, METADATA_CONTENT_TYPE);
    side_blob(store, repository, blob, request, not_found).await
}

/// The provenance object of a stored file, when it has one (whole: no ranges).
///
/// # Errors
/// [`IndexError::FileNotFound`] (`<file>.provenance`) when it has none; storage errors.
pub(super) async fn open_stored_provenance(
    store: &dyn Store,
    repository: &Repository,
    file: StoredFile,
    request: FileRequest<'_>,
) -> Result<FileDownload, IndexError> {
    let not_found = || IndexError::FileNotFound {
        filename: format!("{}.provenance", file.filename.escape_default()),
    };
    let sha256 = file.provenance.clone().ok_or_else(not_found)?;
    let blob = (sha256, MEDIA_TYPE_PROVENANCE);
    let whole = FileRequest {
        range: None,
        head: request.head,
        socket: false,
    };
    side_blob(store, repository, blob, whole, not_found).await
}

/// A small blob stored beside a file under its sha256 (core metadata, provenance), as
/// `request` asks; checked against the sha256 on the way when sent whole.
async fn side_blob(
    store: &dyn Store,
    repository: &Repository,
    (sha256, content_type): (Sha256, &'static str),
    request: FileRequest<'_>,
    not_found: impl Fn() -> IndexError,
) -> Result<FileDownload, IndexError> {
    let digest = Digest::from(&sha256);
    let blob_request = BlobRequest {
        range: request.range,
        head: request.head,
        ..BlobRequest::default()
    };
    let blob = store
        .get_blob(repository, &digest, blob_request)
        .await?
        .ok_or_else(not_found)?;
    let whole = blob.status == 200 && !request.head;
    Ok(FileDownload {
        socket: None,
        stale: false,
        sha256: sha256.clone(),
        content_type,
        status: blob.status,
        redirect: None,
        content_length: blob.content_length,
        content_range: blob.content_range,
        body: if whole {
            verified(blob.body, sha256)
        } else {
            blob.body
        },
    })
}

/// The file's bytes: the layer digest is the file's sha256; when a registry lost that blob
/// under that name, the manifest says where the layer really is. Also tells whether the blob
/// was fetched by the file's sha256.
async fn fetch_layer(
    store: &dyn Store,
    repository: &Repository,
    file: &StoredFile,
    request: BlobRequest<'_>,
) -> Result<Option<(BlobDownload, bool)>, IndexError> {
    let digest = Digest::from(&file.sha256);
    if let Some(blob) = store.get_blob(repository, &digest, request).await? {
        return Ok(Some((blob, true)));
    }
    let reference = Reference::Digest(file.manifest.clone());
    let Some(manifest) = store.get_manifest(repository, &reference).await? else {
        return Ok(None);
    };
    let Ok(parsed) = serde_json::from_slice::<ImageManifest>(&manifest.bytes) else {
        return Ok(None);
    };
    let Some(layer) = parsed.layers.first() else {
        return Ok(None);
    };
    let layer_digest = Digest::parse(&layer.digest)?;
    // Found under another digest, it will be checked on the way: not on a socket.
    let request = BlobRequest {
        socket: false,
        ..request
    };
    let blob = store.get_blob(repository, &layer_digest, request).await?;
    Ok(blob.map(|blob| (blob, layer_digest == digest)))
}

/// Passes `body` through while another thread hashes it, in batches of half a megabyte (so
/// hashing neither holds up the copy nor costs a thread wake-up per chunk). Each chunk is held
/// back until the next one arrives, and the last one until the whole body is known to hash to
/// `sha256`: on a mismatch the client gets an error and a body shorter than announced, never a
/// complete response with wrong bytes.
pub(super) fn verified(body: ByteStream, sha256: Sha256) -> ByteStream {
    struct State {
        body: ByteStream,
        to_hasher: Option<tokio::sync::mpsc::Sender<Vec<Bytes>>>,
        batch: Vec<Bytes>,
        batched: usize,
        hashed: Option<tokio::task::JoinHandle<Sha256>>,
        expected: Sha256,
        held: Option<Bytes>,
        done: bool,
    }
    impl State {
        /// Hands the gathered chunks to the hashing thread.
        async fn send_batch(&mut self) {
            let batch = std::mem::take(&mut self.batch);
            self.batched = 0;
            if let (Some(sender), false) = (&self.to_hasher, batch.is_empty()) {
                let _ = sender.send(batch).await;
            }
        }
    }
    let (to_hasher, mut batches) = tokio::sync::mpsc::channel::<Vec<Bytes>>(HASH_QUEUE);
    let hashed = tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256Hasher::new();
        while let Some(batch) = batches.blocking_recv() {
            for chunk in batch {
                hasher.update(&chunk);
            }
        }
        Sha256::from_hasher(hasher)
    });
    let state = State {
        body,
        to_hasher: Some(to_hasher),
        batch: Vec::new(),
        batched: 0,
        hashed: Some(hashed),
        expected: sha256,
        held: None,
        done: false,
    };
    Box::pin(futures_util::stream::unfold(
        state,
        |mut state| async move {
            loop {
                if state.done {
                    return None;
                }
                match state.body.next().await {
                    Some(Ok(chunk)) => {
                        state.batched += chunk.len();
                        state.batch.push(chunk.clone());
                        if state.batched >= HASH_BATCH {
                            state.send_batch().await;
                        }
                        if let Some(previous) = state.held.replace(chunk) {
                            return Some((Ok(previous), state));
                        }
                    }
                    Some(Err(error)) => {
                        state.done = true;
                        return Some((Err(error), state));
                    }
                    None => {
                        state.done = true;
                        state.send_batch().await;
                        state.to_hasher = None;
                        let computed = match state.hashed.take() {
                            Some(task) => task.await.ok(),
                            None => None,
                        };
                        if computed.as_ref() == Some(&state.expected) {
                            return state.held.take().map(|last| (Ok(last), state));
                        }
                        tracing::error!(
                            oci.digest = %state.expected,
                            "the store sent bytes hashing to {}: download aborted",
                            computed.as_ref().map_or("(the hashing failed)", Sha256::as_str)
                        );
                        let error = StorageError::InvalidResponse {
                            registry: String::new(),
                            reason: format!(
                                "the blob does not match its digest `sha256:{}`",
                                state.expected
                            ),
                        };
                        return Some((Err(error), state));
                    }
                }
            }
        },
    ))
}

/// Batches queued for the hashing thread of one download.
const HASH_QUEUE: usize = 4;
/// Bytes gathered before a batch goes to the hashing thread.
const HASH_BATCH: usize = 512 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_by_filename() {
        for (filename, expected) in [
            ("a-1.0-py3-none-any.whl", "application/octet-stream"),
            ("a-1.0.tar.gz", "application/gzip"),
            ("a-1.0.zip", "application/zip"),
        ] {
            assert_eq!(content_type(filename), expected, "{filename}");
        }
    }

    fn stream_of(chunks: &[&'static [u8]]) -> ByteStream {
        let items: Vec<Result<Bytes, StorageError>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Box::pin(futures_util::stream::iter(items))
    }

    #[tokio::test]
    async fn matching_bytes_pass_through() {
        let expected = Sha256::of(b"hello world");
        let body = verified(stream_of(&[b"hello ", b"world"]), expected);
        let items: Vec<_> = body.collect().await;
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn wrong_bytes_end_with_an_error() {
        let expected = Sha256::of(b"hello world");
        let body = verified(stream_of(&[b"hello ", b"w0rld"]), expected);
        let items: Vec<_> = body.collect().await;
        // The last chunk is withheld: the client never receives the complete wrong body.
        assert_eq!(items.len(), 2);
        assert_eq!(items.first().unwrap().as_ref().unwrap().as_ref(), b"hello ");
        assert!(items.last().is_some_and(Result::is_err));
    }
}
