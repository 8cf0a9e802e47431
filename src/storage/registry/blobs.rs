//! Blobs: streamed uploads (POST, one streamed PATCH, PUT with the digest) and streamed
//! downloads that follow the registry's redirects to object storage without credentials.
//!
//! A streamed `PATCH` the registry refuses with a short `429`, or fails with a 5xx or a lost
//! connection, is sent again from its first byte (in a new upload session after a failure),
//! and so is a commit that fails that way (the whole blob, to a new session), while every byte
//! of the upload is kept: in memory up to [`REPLAYABLE_BYTES`], beyond that in the upload
//! spool when there is one (`--upload-spool-dir`). Without it, the bytes of a larger upload
//! are gone and the failure reaches the caller.
//!
//! Spec sections "Pushing blobs" (chunked/streamed upload) and "Pulling blobs" of
//! <https://github.com/opencontainers/distribution-spec/blob/main/spec.md>.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use super::{Access, Registry, retry_pause, transient_status, wait_after_refusal};
use crate::net::{PlainAnswer, PlainGet, is_internal_literal, plain_get};
use crate::storage::blob_cache::{BlobCache, BlobFetch, FetchedBytes, UploadCopy};
use crate::storage::error::StorageError;
use crate::storage::reference::{Digest, Repository};
use crate::storage::spool::Spool;
use crate::storage::store::{BlobDownload, BlobRequest, BlobWriter, Blobs, ByteStream};

/// Chunks buffered between the caller and the registry during an upload.
const UPLOAD_CHANNEL_CHUNKS: usize = 8;
/// Bytes of an upload held back before its `PATCH` opens: a blob no larger goes up with the
/// `PUT` that commits it, one round trip to the registry fewer.
const HELD_BYTES: usize = 1 << 20;
/// Bytes of an upload kept in memory until it is committed, so that a `PATCH` refused with
/// `429` or failed can be sent again whole (most wheels are smaller). An upload that grows
/// past it moves them to the upload spool when there is one; without, it stops keeping them:
/// a `429` then fails it with the registry's `Retry-After`, a failure with 502. The held
/// bytes are among them.
const REPLAYABLE_BYTES: u64 = 4 << 20;
const _: () = assert!(HELD_BYTES as u64 <= REPLAYABLE_BYTES);
/// Times an upload's `PATCH` or commit is sent again, at most.
const UPLOAD_RESENDS: u32 = 3;
/// Redirects followed for one blob download.
const MAX_REDIRECTS: usize = 5;

type ChunkSender = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// An open upload session: bytes written go to the registry as they come (the first
/// [`HELD_BYTES`] are held until there are more, so that a small blob goes up with its
/// commit); nothing is visible until [`BlobWriter::commit`]; [`BlobWriter::cancel`] discards
/// it.
#[derive(Debug)]
pub struct BlobUpload {
    registry: Registry,
    repository: Repository,
    location: reqwest::Url,
    sender: Option<ChunkSender>,
    patch: Option<JoinHandle<Result<reqwest::Response, StorageError>>>,
    written: u64,
    /// Every byte written, while there are no more than [`REPLAYABLE_BYTES`]: the bytes held
    /// before the `PATCH` opens, and those a `PATCH` refused with `429` or failed is sent
    /// again with; `None` beyond (never before the `PATCH` opened).
    replay: Option<Vec<Bytes>>,
    /// Every byte written, on disk, once there are more than [`REPLAYABLE_BYTES`] and the
    /// client has an upload spool; `None` without one, or once it failed.
    spool: Option<Spool>,
    /// `PATCH`es sent again so far.
    resent: u32,
    /// The copy for the blob cache, when asked for ([`BlobWriter::keep_copy`]).
    copy: Option<UploadCopy>,
}

#[async_trait]
impl Blobs for Registry {
    /// Opens an upload session in `repository`.
    ///
    /// # Errors
    /// A [`StorageError`] when the registry refuses or fails.
    async fn start_upload(
        &self,
        repository: &Repository,
    ) -> Result<Box<dyn BlobWriter>, StorageError> {
        let location = self.open_upload_session(repository).await?;
        Ok(Box::new(BlobUpload {
            registry: self.clone(),
            repository: repository.clone(),
            location,
            sender: None,
            patch: None,
            written: 0,
            replay: Some(Vec::new()),
            spool: None,
            resent: 0,
            copy: None,
        }))
    }

    /// Cross-repository blob mount ("Mounting a blob from another repository"): 201 means the
    /// blob is now in `repository`; a registry that answers 202 opened an upload instead,
    /// which is cancelled, and the caller copies the bytes.
    ///
    /// # Errors
    /// A [`StorageError`] when the registry refuses or fails.
    async fn mount_blob(
        &self,
        repository: &Repository,
        from: &Repository,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        let url = self.url(&format!(
            "/v2/{repository}/blobs/uploads/?mount={digest}&from={from}"
        ));
        let make = || self.http().post(&url).header(CONTENT_LENGTH, "0");
        let response = self.send(Access::Push, Some(repository), &make).await?;
        match response.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                if let Ok(location) = self.upload_location(&response) {
                    let request = self.http().delete(location);
                    let _ = self.send_once(Access::Push, repository, request).await;
                }
                Ok(false)
            }
            _ => Err(self.unexpected("blob mount", response).await),
        }
    }

    /// Whether `repository` holds the blob `digest`.
    ///
    /// # Errors
    /// A [`StorageError`] when the registry refuses or fails.
    async fn blob_exists(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        Ok(self.head_blob(repository, digest).await?.is_some())
    }

    /// Streams the blob `digest` as `request` says; `None` when absent. Redirects are followed
    /// (or passed back); credentials go only to the registry itself.
    ///
    /// # Errors
    /// A [`StorageError`] when the registry refuses, fails, or redirects somewhere unsafe.
    async fn get_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        request: BlobRequest<'_>,
    ) -> Result<Option<BlobDownload>, StorageError> {
        let BlobRequest {
            range,
            head,
            socket,
            ..
        } = request;
        let cache = self.client.blob_cache.as_ref().filter(|_| !head);
        if let Some(cache) = cache {
            match self.cached_blob(cache, repository, digest, range).await? {
                Cached::Sent(download) => {
                    cache.record_lookup("hit");
                    return Ok(Some(download));
                }
                Cached::Absent => return Ok(None),
                Cached::Not => cache.record_lookup("miss"),
            }
        }
        // A blob the cache may keep comes through memory, where the cache gets its copy.
        let fill = cache.filter(|_| range.is_none());
        if socket && range.is_none() && !head && fill.is_none() {
            if let Some(download) = self.get_blob_on_socket(repository, digest).await {
                return download.map(Some);
            }
        }
        let Some(mut download) = self.fetch_blob(repository, digest, request).await? else {
            return Ok(None);
        };
        if let (Some(cache), 200, Some(size)) = (fill, download.status, download.content_length) {
            let fetch = || self.fetch_for_cache(repository, digest);
            download.body = cache.tee(digest, size, download.body, fetch);
        }
        Ok(Some(download))
    }
}

impl Registry {
    /// A new upload session in `repository` (`POST`): where its bytes go.
    async fn open_upload_session(
        &self,
        repository: &Repository,
    ) -> Result<reqwest::Url, StorageError> {
        let url = self.url(&format!("/v2/{repository}/blobs/uploads/"));
        let make = || self.http().post(&url).header(CONTENT_LENGTH, "0");
        let response = self.send(Access::Push, Some(repository), &make).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.unexpected("upload start", response).await);
        }
        self.upload_location(&response)
    }

    /// The blob `digest` as `request` says (its `socket` is not used), from the registry
    /// itself; `None` when absent.
    async fn fetch_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        request: BlobRequest<'_>,
    ) -> Result<Option<BlobDownload>, StorageError> {
        let (range, head) = (request.range, request.head);
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let method = if head {
            reqwest::Method::HEAD
        } else {
            reqwest::Method::GET
        };
        let make = || {
            let request = self.http().request(method.clone(), &url);
            match range {
                Some(range) => request.header(RANGE, range),
                None => request,
            }
        };
        let mut response = self.send(Access::Pull, Some(repository), &make).await?;
        let mut current = reqwest::Url::parse(&url).map_err(|_| self.invalid("a bad blob URL"))?;
        for _ in 0..MAX_REDIRECTS {
            if !response.status().is_redirection() {
                break;
            }
            current = self.redirect_target(&current, &response)?;
            let registry_origin = reqwest::Url::parse(&self.url("/")).map(|u| u.origin()).ok();
            if request.pass_redirects && registry_origin != Some(current.origin()) {
                return Ok(Some(BlobDownload {
                    status: StatusCode::TEMPORARY_REDIRECT.as_u16(),
                    redirect: Some(current.to_string()),
                    content_length: None,
                    content_range: None,
                    body: Box::pin(futures_util::stream::empty()),
                    socket: None,
                }));
            }
            let mut request = self.http().request(method.clone(), current.clone());
            if let Some(range) = range {
                request = request.header(RANGE, range);
            }
            response = self.observe(request.send().await)?;
        }
        match response.status() {
            StatusCode::OK | StatusCode::PARTIAL_CONTENT | StatusCode::RANGE_NOT_SATISFIABLE => {}
            StatusCode::NOT_FOUND => return Ok(None),
            status if status.is_redirection() => {
                return Err(self.invalid("too many redirects for a blob"));
            }
            _ => return Err(self.unexpected("blob fetch", response).await),
        }
        let registry = self.clone();
        let status = response.status().as_u16();
        // Read the header itself: for HEAD, reqwest reports the (empty) body's length.
        let content_length = content_length(&response);
        let content_range = response
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: ByteStream = Box::pin(
            response
                .bytes_stream()
                .map(move |chunk| chunk.map_err(|error| registry.transport(error))),
        );
        Ok(Some(BlobDownload {
            status,
            redirect: None,
            content_length,
            content_range,
            body,
            socket: None,
        }))
    }

    /// How the blob cache gets the bytes of the blob `digest` it did not copy as they
    /// passed: a request of its own with this caller's access, as background work of the
    /// request being handled; from the offset it is given on (a `Range` request), or the
    /// whole blob where the registry answers a range with all of it.
    fn fetch_for_cache(&self, repository: &Repository, digest: &Digest) -> BlobFetch {
        let registry = self.clone();
        let repository = repository.clone();
        let digest = digest.clone();
        Box::new(move |from| {
            Box::pin(crate::telemetry::background(async move {
                let range = format!("bytes={from}-");
                let request = BlobRequest {
                    range: (from > 0).then_some(range.as_str()),
                    ..BlobRequest::default()
                };
                let download = registry
                    .fetch_blob(&repository, &digest, request)
                    .await?
                    .ok_or_else(|| registry.invalid("a blob gone while it was being cached"))?;
                let start = match StatusCode::from_u16(download.status) {
                    Ok(StatusCode::OK) => 0,
                    Ok(StatusCode::PARTIAL_CONTENT) => download
                        .content_range
                        .as_deref()
                        .and_then(range_start)
                        .filter(|start| *start == from)
                        .ok_or_else(|| {
                            registry.invalid("a blob range other than the one asked for")
                        })?,
                    _ => {
                        return Err(
                            registry.invalid("a blob answered with a status other than 200 or 206")
                        );
                    }
                };
                Ok(FetchedBytes {
                    start,
                    body: download.body,
                })
            }))
        })
    }
}

/// Whether an upload's `PATCH` failed in a way worth a new try: a 5xx that says the registry
/// (or a proxy in front of it) failed for now, or a lost connection. Not a timeout: the
/// registry had its chance.
fn transient(failure: &StorageError) -> bool {
    match failure {
        StorageError::Upstream { status, .. } => {
            StatusCode::from_u16(*status).is_ok_and(transient_status)
        }
        StorageError::Unreachable { .. } | StorageError::Interrupted { .. } => true,
        _ => false,
    }
}

/// `chunks` as one buffer (copied only when there are several).
fn joined(chunks: &[Bytes]) -> Bytes {
    match chunks {
        [] => Bytes::new(),
        [one] => one.clone(),
        _ => chunks.concat().into(),
    }
}

/// Sends `chunks` into a streamed `PATCH`; `false` when it ended before taking them all.
async fn send_all(sender: &ChunkSender, chunks: impl IntoIterator<Item = Bytes>) -> bool {
    for chunk in chunks {
        if sender.send(Ok(chunk)).await.is_err() {
            return false;
        }
    }
    true
}

/// Sends `kept` (an upload's bytes, from its first) into a streamed `PATCH`: `Ok(false)` when
/// the `PATCH` ended before taking them all; the error of a spool that cannot be read back
/// (the `PATCH` is then ended with it).
async fn send_kept(sender: &ChunkSender, mut kept: ByteStream) -> Result<bool, StorageError> {
    while let Some(chunk) = kept.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                let _ = sender
                    .send(Err(std::io::Error::other("the upload spool failed")))
                    .await;
                return Err(error);
            }
        };
        if sender.send(Ok(chunk)).await.is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The first byte's offset in a `Content-Range` value (`bytes 100-199/200`).
fn range_start(content_range: &str) -> Option<u64> {
    let (first, _) = content_range.strip_prefix("bytes ")?.split_once('-')?;
    first.trim().parse().ok()
}

/// What the blob cache made of a download.
enum Cached {
    /// Sent from the cache.
    Sent(BlobDownload),
    /// The registry has no such blob in that repository.
    Absent,
    /// Not from the cache: ask the registry for the bytes.
    Not,
}

/// The `Content-Length` of `response`, as sent.
fn content_length(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

impl Registry {
    /// Whether `repository` holds the blob `digest` for this caller (`HEAD`): `None` when
    /// it does not, else the length the registry gives (none for a redirect).
    async fn head_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<Option<Option<u64>>, StorageError> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let response = self
            .send(Access::Pull, Some(repository), &|| self.http().head(&url))
            .await?;
        match response.status() {
            status if status.is_success() => Ok(Some(content_length(&response))),
            status if status.is_redirection() => Ok(Some(None)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.unexpected("blob lookup", response).await),
        }
    }

    /// The blob `digest` from the cache, when it holds it and the registry lets this caller
    /// read it in `repository` (a `HEAD` with the caller's credentials: the cache never
    /// decides who may read what, and a blob deleted from the registry is not sent).
    async fn cached_blob(
        &self,
        cache: &BlobCache,
        repository: &Repository,
        digest: &Digest,
        range: Option<&str>,
    ) -> Result<Cached, StorageError> {
        let Some(cached) = cache.lookup(digest) else {
            return Ok(Cached::Not);
        };
        let Some(length) = self.head_blob(repository, digest).await? else {
            return Ok(Cached::Absent);
        };
        if length.is_some_and(|size| size != cached.size()) {
            tracing::warn!(oci.digest = %digest, "a cached blob did not have the size the registry gives: removed from the blob cache");
            cache.forget(digest);
            return Ok(Cached::Not);
        }
        if let Some(download) = cache.download(&cached, range).await? {
            return Ok(Cached::Sent(download));
        }
        // Its file went away: fetched (and kept) again.
        cache.forget(digest);
        Ok(Cached::Not)
    }
}

impl Registry {
    /// The whole blob `digest`, its body left on a connection of its own for the caller to
    /// splice, when the registry speaks plain HTTP and answers 200 with a plain body; a
    /// timeout when it does not answer in time. `None` otherwise (any other answer or
    /// failure): the caller then asks the ordinary way, which also learns challenges and
    /// reports errors. An origin whose answer cannot be spliced (a
    /// redirect, a coded body) is not asked this way again.
    async fn get_blob_on_socket(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Option<Result<BlobDownload, StorageError>> {
        if self.origin.scheme() != "http" || self.client.unspliceable(&self.origin) {
            return None;
        }
        let key = self.token_key(Access::Pull, Some(repository));
        let authorization = self.known_authorization(&key).await.ok()?;
        let mut headers: Vec<(String, String)> = crate::telemetry::outgoing_headers()
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
            .collect();
        if let Some(value) = authorization {
            headers.push(("Authorization".to_owned(), value));
        }
        let target = format!("/v2/{repository}/blobs/{digest}");
        let request = PlainGet {
            origin: &self.origin,
            target: &target,
            headers,
            public_only: self.client.public_addresses_only,
            connect_timeout: self.client.connect_timeout,
            read_timeout: self.client.read_timeout,
        };
        let span = tracing::info_span!("registry", otel.kind = "client", http.method = "GET", url.path = %target, transfer = "splice", http.status = tracing::field::Empty);
        let answer = plain_get(&request).instrument(span.clone()).await;
        let metrics = &self.client.metrics;
        match answer {
            Ok(PlainAnswer::Body(body)) => {
                span.record("http.status", 200);
                metrics.record_registry_request("2xx");
                Some(Ok(BlobDownload {
                    status: StatusCode::OK.as_u16(),
                    redirect: None,
                    content_length: Some(body.len()),
                    content_range: None,
                    body: Box::pin(futures_util::stream::empty()),
                    socket: Some(body),
                }))
            }
            Ok(PlainAnswer::Other(status)) => {
                span.record("http.status", i64::from(status));
                let class = StatusCode::from_u16(status).map_or("5xx", super::status_class);
                metrics.record_registry_request(class);
                if (200..400).contains(&status) {
                    self.client.remember_unspliceable(&self.origin);
                }
                None
            }
            Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {
                // Asking again would wait as long again.
                metrics.record_registry_request("timeout");
                Some(Err(StorageError::Timeout {
                    registry: self.origin.to_string(),
                }))
            }
            Err(error) => {
                metrics.record_registry_request("error");
                tracing::debug!(parent: &span, "blob GET to splice failed, asking again the ordinary way: {error}");
                None
            }
        }
    }
}

impl Registry {
    /// Where a redirect points, refusing schemes other than http(s) and internal addresses
    /// other than the registry's own host.
    fn redirect_target(
        &self,
        current: &reqwest::Url,
        response: &reqwest::Response,
    ) -> Result<reqwest::Url, StorageError> {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.invalid("a redirect without Location"))?;
        let target = current
            .join(location)
            .map_err(|_| self.invalid("a redirect to a malformed URL"))?;
        if !matches!(target.scheme(), "http" | "https") {
            return Err(self.invalid("a redirect to a scheme other than http(s)"));
        }
        let same_host = target.host_str() == Some(self.origin().host());
        if is_internal_literal(&target) && !same_host {
            return Err(self.invalid("a redirect to an internal address"));
        }
        Ok(target)
    }

    /// The absolute upload URL from a `Location` header; it must stay on this registry.
    fn upload_location(&self, response: &reqwest::Response) -> Result<reqwest::Url, StorageError> {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.invalid("an upload session without Location"))?;
        let base =
            reqwest::Url::parse(&self.url("/")).map_err(|_| self.invalid("a bad registry URL"))?;
        let url = base
            .join(location)
            .map_err(|_| self.invalid("an upload Location that is not a URL"))?;
        if url.origin() != base.origin() {
            return Err(self.invalid("an upload Location on another host"));
        }
        Ok(url)
    }
}

#[async_trait]
impl BlobWriter for BlobUpload {
    /// Sends the next bytes of the blob.
    ///
    /// # Errors
    /// A [`StorageError`] when the registry stopped accepting the upload.
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.written += chunk.len() as u64;
        if let Some(copy) = &mut self.copy {
            copy.push(&chunk);
        }
        if let Some(replay) = &mut self.replay {
            replay.push(chunk.clone());
        }
        let (sender, chunks) = match &self.sender {
            Some(sender) => (sender.clone(), vec![chunk.clone()]),
            None if self.written <= HELD_BYTES as u64 => return Ok(()),
            // The first bytes past those held: the `PATCH` opens with all of them.
            None => (self.open_patch(), self.replay.clone().unwrap_or_default()),
        };
        self.spool_beyond_memory(chunk).await;
        if self.written > REPLAYABLE_BYTES {
            self.replay = None;
        }
        if send_all(&sender, chunks).await {
            return Ok(());
        }
        // The request ended early: its result says why.
        let failure = self.patch_failure().await;
        self.send_again(failure).await
    }

    /// Completes the upload: the registry checks the bytes against `digest` and only then
    /// makes the blob visible.
    ///
    /// # Errors
    /// A [`StorageError`] when the registry refuses (for example a digest mismatch).
    async fn commit(mut self: Box<Self>, digest: &Digest) -> Result<(), StorageError> {
        while let Err(failure) = self.close_body().await {
            self.send_again(failure).await?;
        }
        // What was held (the whole blob, when it is small) goes with the commit.
        let held = self
            .replay
            .as_deref()
            .filter(|_| self.written <= HELD_BYTES as u64);
        let mut body = joined(held.unwrap_or_default());
        while let Err(failure) = self.send_commit(digest, &body).await {
            body = self.commit_again(failure).await?;
        }
        self.replay = None;
        self.spool = None;
        if let Some(copy) = self.copy.take() {
            copy.keep(digest);
        }
        Ok(())
    }

    /// Copies the bytes to the blob cache as they pass, if the client has one.
    fn keep_copy(&mut self) {
        if self.written == 0 && self.copy.is_none() {
            self.copy = self
                .registry
                .client
                .blob_cache
                .as_ref()
                .and_then(BlobCache::copy_upload);
        }
    }

    /// Abandons the upload; the registry discards what it received. Best effort.
    async fn cancel(mut self: Box<Self>) {
        if let Some(sender) = self.sender.take() {
            let _ = sender
                .send(Err(std::io::Error::other("upload cancelled")))
                .await;
        }
        if let Some(patch) = self.patch.take() {
            patch.abort();
        }
        let request = self.registry.http().delete(self.location.clone());
        let _ = self
            .registry
            .send_once(Access::Push, &self.repository, request)
            .await;
    }
}

impl BlobUpload {
    /// Bytes written so far.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.written
    }

    fn open_patch(&mut self) -> ChunkSender {
        let (sender, receiver) = mpsc::channel(UPLOAD_CHANNEL_CHUNKS);
        let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        let request = self
            .registry
            .http()
            .patch(self.location.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            // Taken here: the spawned task has neither the request id nor the span.
            .headers(crate::telemetry::outgoing_headers())
            .body(reqwest::Body::wrap_stream(body));
        let registry = self.registry.clone();
        let repository = self.repository.clone();
        let patch = async move { registry.send_once(Access::Push, &repository, request).await };
        self.patch = Some(tokio::spawn(
            crate::telemetry::inherit(patch).in_current_span(),
        ));
        self.sender = Some(sender.clone());
        sender
    }

    /// The commit (`PUT ?digest=`) with the bytes not sent yet. Its body is at hand, so it is
    /// sent like any other request: again after a short 429, and with a new token when a
    /// challenge asks for one.
    async fn send_commit(&self, digest: &Digest, body: &Bytes) -> Result<(), StorageError> {
        let mut url = self.location.clone();
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let make = || {
            self.registry
                .http()
                .put(url.clone())
                .header(CONTENT_LENGTH, body.len())
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(body.clone())
        };
        let response = self
            .registry
            .send(Access::Push, Some(&self.repository), &make)
            .await?;
        if response.status() != StatusCode::CREATED && !response.status().is_success() {
            return Err(self.registry.unexpected("blob commit", response).await);
        }
        Ok(())
    }

    /// After the commit failed with `failure`: when it failed for now ([`transient`]), every
    /// byte written is still here and fewer than [`UPLOAD_RESENDS`] tries were made
    /// again, a new upload session after a short pause, and the whole blob to commit to it
    /// (a commit that did land before its answer was lost is harmless to repeat: the blob
    /// is the same); else `failure`.
    ///
    /// A blob too large to be kept in memory comes back from the spool: it is sent in a
    /// `PATCH` to the new session (itself sent again as any other), then committed with no
    /// bytes.
    async fn commit_again(&mut self, mut failure: StorageError) -> Result<Bytes, StorageError> {
        loop {
            if self.resent >= UPLOAD_RESENDS || !transient(&failure) || !self.keeps_every_byte() {
                return Err(failure);
            }
            let wait = retry_pause(self.resent);
            self.pause_to_resend("commit", &failure, wait, "retried")
                .await;
            // A registry that cannot open a session yet (restarting, say) gets the next try.
            match self.switch_session().await {
                Ok(()) => break,
                Err(error) => failure = error,
            }
        }
        if let Some(replay) = &self.replay {
            return Ok(joined(replay));
        }
        let Some(kept) = self.kept_bytes().await else {
            return Err(failure);
        };
        let sender = self.open_patch();
        let sent = send_kept(&sender, kept).await?;
        // The `PATCH` ends once its last sender is gone.
        drop(sender);
        if !sent {
            let failure = self.patch_failure().await;
            self.send_again(failure).await?;
        }
        while let Err(failure) = self.close_body().await {
            self.send_again(failure).await?;
        }
        Ok(Bytes::new())
    }

    /// Keeps `chunk` (just written) on disk once the upload is past what memory keeps: the
    /// first chunk past it starts the spool with every byte kept so far (`chunk` among them).
    async fn spool_beyond_memory(&mut self, chunk: Bytes) {
        let metrics = &self.registry.client.metrics;
        if let Some(spool) = &mut self.spool {
            if !spool.push(chunk).await {
                self.spool = None;
                metrics.record_upload_spool("failed");
            }
            return;
        }
        if self.written <= REPLAYABLE_BYTES {
            return;
        }
        let (Some(replay), Some(dir)) = (&self.replay, &self.registry.client.upload_spool) else {
            return;
        };
        let Some(mut spool) = dir.spool() else {
            metrics.record_upload_spool("failed");
            return;
        };
        for kept in replay {
            if !spool.push(kept.clone()).await {
                metrics.record_upload_spool("failed");
                return;
            }
        }
        self.spool = Some(spool);
        metrics.record_upload_spool("spooled");
    }

    /// Whether every byte written so far is still here, in memory or in the spool.
    fn keeps_every_byte(&self) -> bool {
        self.replay.is_some() || self.spool.is_some()
    }

    /// Every byte written so far, from the first, to be sent again; `None` when they are
    /// gone (or the spool cannot give them back).
    async fn kept_bytes(&mut self) -> Option<ByteStream> {
        if let Some(replay) = &self.replay {
            let chunks = replay.clone().into_iter().map(Ok);
            return Some(Box::pin(futures_util::stream::iter(chunks)));
        }
        let kept = self.spool.as_mut()?.read_back().await;
        if kept.is_none() {
            self.spool = None;
            self.registry.client.metrics.record_upload_spool("failed");
        }
        kept
    }

    /// Counts (as `outcome`) and logs the `step` of the upload that failed with `failure`
    /// and is sent again, then waits `wait`.
    async fn pause_to_resend(
        &mut self,
        step: &str,
        failure: &StorageError,
        wait: Duration,
        outcome: &'static str,
    ) {
        self.resent += 1;
        self.registry
            .client
            .metrics
            .record_registry_request(outcome);
        tracing::info!(
            registry = %self.registry.origin,
            bytes = self.written,
            "an upload's {step} failed ({failure}): sending it again in {} ms",
            wait.as_millis()
        );
        tokio::time::sleep(wait).await;
    }

    /// Moves the upload to a new session, discarding the current one (best effort).
    async fn switch_session(&mut self) -> Result<(), StorageError> {
        let session = self.registry.open_upload_session(&self.repository).await?;
        let failed = std::mem::replace(&mut self.location, session);
        let discard = self.registry.http().delete(failed);
        let _ = self
            .registry
            .send_once(Access::Push, &self.repository, discard)
            .await;
        Ok(())
    }

    /// Why the streamed `PATCH` ended before its body did.
    async fn patch_failure(&mut self) -> StorageError {
        self.close_body().await.err().unwrap_or_else(|| {
            StorageError::UploadAborted("the registry closed the upload".to_owned())
        })
    }

    /// After the `PATCH` failed with `failure`, while every byte written is still here (in
    /// memory or in the spool) and it has been sent again fewer than [`UPLOAD_RESENDS`]
    /// times: sends them all again in a new `PATCH`.
    /// - Refused with a short `429` ([`wait_after_refusal`], as for any other request): after
    ///   the wait, to the same upload session (the registry kept none of the refused bytes).
    /// - Failed with 500, 502, 503, 504 or a lost connection: after a short pause, to a new
    ///   upload session (the registry may have kept part of the failed one, which is
    ///   discarded). A new session the registry fails to open that way counts as one more
    ///   failed try.
    ///
    /// Any other failure, or one past those bounds, is returned.
    async fn send_again(&mut self, mut failure: StorageError) -> Result<(), StorageError> {
        loop {
            if self.resent >= UPLOAD_RESENDS || !self.keeps_every_byte() {
                return Err(failure);
            }
            let (wait, new_session) = match &failure {
                StorageError::RateLimited { retry_after, .. } => {
                    match wait_after_refusal(*retry_after, self.resent) {
                        Some(wait) => (wait, false),
                        None => return Err(failure),
                    }
                }
                failed if transient(failed) => (retry_pause(self.resent), true),
                _ => return Err(failure),
            };
            let outcome = if new_session {
                "retried"
            } else {
                "rate_limited"
            };
            self.pause_to_resend("PATCH", &failure, wait, outcome).await;
            if new_session {
                // A registry that cannot open a session yet (restarting, say) gets the next
                // try, after a longer pause.
                match self.switch_session().await {
                    Ok(()) => {}
                    Err(error) if transient(&error) => {
                        failure = error;
                        continue;
                    }
                    Err(error) => return Err(error),
                }
            }
            let Some(kept) = self.kept_bytes().await else {
                return Err(failure);
            };
            let sender = self.open_patch();
            if send_kept(&sender, kept).await? {
                return Ok(());
            }
            failure = self.patch_failure().await;
        }
    }

    /// Ends the streamed PATCH and takes the next upload location from its answer.
    async fn close_body(&mut self) -> Result<(), StorageError> {
        self.sender = None;
        let Some(patch) = self.patch.take() else {
            return Ok(());
        };
        let response = patch
            .await
            .map_err(|_| StorageError::UploadAborted("the upload task failed".to_owned()))??;
        if response.status() != StatusCode::ACCEPTED && !response.status().is_success() {
            return Err(self.registry.unexpected("blob upload", response).await);
        }
        if response.headers().contains_key(LOCATION) {
            self.location = self.registry.upload_location(&response)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::range_start;

    #[test]
    fn the_start_of_a_content_range() {
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
        assert_eq!(range_start("bytes 0-0/*"), Some(0));
        assert_eq!(range_start("bytes */200"), None);
        assert_eq!(range_start("items 1-2/3"), None);
        assert_eq!(range_start("bytes x-1/2"), None);
    }
}
