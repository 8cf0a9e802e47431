//! The pull-through cache: upstream files kept in the registry (docs/design.md, "Pull-through
//! cache"). With the cache on for a namespace's upstream, the first request for a file streams
//! it from upstream to the client while it is stored, checked against upstream's sha256, in
//! the namespace's cache (`<namespace>/oci-pypi.cache/<project>`, same layout as published
//! releases); later requests are served from the registry. A name the namespace publishes
//! never gets here (private names first).
//!
//! One upstream fetch serves every concurrent requester of a file: the first one leads (its
//! body comes straight from the fetch); the others join it and receive the same bytes as they
//! come ([`tee`]), or, past its first 16 MiB, wait for the file to be stored and are then
//! served from the registry. The fetch runs in a task of its own, so a leader that goes away
//! does not stop it. Bytes are never gathered in memory: they flow from upstream to the
//! registry's upload session and to the leader, the last chunk held back until the sha256 is
//! known (a mismatch: the leader's body ends with an error, nothing is stored).

mod mirror;
mod tee;
mod usage;

pub use mirror::MirrorReport;
pub use usage::Usages;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256 as Sha256Hasher};
use tokio::sync::watch;

use super::download::{
    FileDownload, FileRequest, content_type, open_stored_metadata, open_stored_provenance,
    stored_file,
};
use super::inspect::{self, Sample};
use super::update::{Plan, update_release};
use super::upload::now_rfc3339;
use super::upstreams::{Listing, UpstreamRoute};
use super::{Caller, Index, IndexError, Location, Target};
use crate::layout::{self, Namespace, NewFile, ReleaseIndex, StoredFile};
use crate::packaging::{DistFilename, ProjectName, Sha256, SimpleFile};
use crate::storage::oci::{EMPTY_BLOB, MEDIA_TYPE_MANIFEST};
use crate::storage::registry::RegistryAuth;
use crate::storage::{BlobWriter, Digest, Reference, Repository, StorageError, Store};
use crate::upstream::UpstreamError;

/// The largest upstream provenance object kept.
const MAX_UPSTREAM_PROVENANCE: usize = 4 << 20;
/// Rounds a request makes at joining or leading a fetch before it proxies the file itself.
const MAX_ROUNDS: usize = 3;

/// How a fetch into the cache ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Asking upstream.
    Running,
    /// Upstream's bytes are flowing: followers may join the [`tee::Tee`].
    Streaming,
    /// The file is in the cache.
    Stored,
    /// The file was served but not kept (the registry refused or failed, the fetch failed).
    NotStored,
    /// Upstream's bytes did not match its sha256: `(expected, computed)`.
    Refused(Sha256, Sha256),
}

impl Outcome {
    fn in_progress(&self) -> bool {
        matches!(self, Self::Running | Self::Streaming)
    }
}

/// A fetch in progress: how it is going, and its readers.
type Flight = (watch::Receiver<Outcome>, Arc<tee::Tee>);

/// The fetches in progress, by `<store>/<repository>/<filename>`.
#[derive(Debug, Default)]
pub struct Flights(Mutex<HashMap<String, Flight>>);

/// What a request does about a file being fetched.
enum Role {
    /// Fetch it; announce the outcome through the landing.
    Lead(Landing),
    /// Join another request's fetch.
    Follow(Flight),
}

impl Flights {
    fn join(self: &Arc<Self>, key: &str) -> Role {
        let mut flights = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((outcome, tee)) = flights.get(key) {
            if outcome.borrow().in_progress() {
                return Role::Follow((outcome.clone(), Arc::clone(tee)));
            }
        }
        let (sender, receiver) = watch::channel(Outcome::Running);
        let tee = Arc::new(tee::Tee::default());
        flights.insert(key.to_owned(), (receiver.clone(), Arc::clone(&tee)));
        Role::Lead(Landing {
            flights: Arc::clone(self),
            key: key.to_owned(),
            sender,
            receiver,
            tee,
        })
    }
}

/// A leader's duty to announce how its fetch ended; dropped without announcing (a task
/// cancelled or failed), it announces [`Outcome::NotStored`], so that followers never hang.
struct Landing {
    flights: Arc<Flights>,
    key: String,
    sender: watch::Sender<Outcome>,
    receiver: watch::Receiver<Outcome>,
    tee: Arc<tee::Tee>,
}

impl Landing {
    /// Upstream's bytes start flowing: returns the leader's body; followers may join now.
    fn stream(&self, content_length: Option<u64>) -> crate::storage::ByteStream {
        let body = self.tee.open(content_length);
        self.sender.send_replace(Outcome::Streaming);
        body
    }

    fn finish(self, outcome: Outcome) {
        self.sender.send_replace(outcome);
    }
}

impl Drop for Landing {
    fn drop(&mut self) {
        drop(self.tee.close());
        self.sender.send_if_modified(|outcome| {
            let running = outcome.in_progress();
            if running {
                *outcome = Outcome::NotStored;
            }
            running
        });
        let mut flights = self
            .flights
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if flights
            .get(&self.key)
            .is_some_and(|(current, _)| current.same_channel(&self.receiver))
        {
            flights.remove(&self.key);
        }
    }
}

/// One upstream file on its way into the cache.
#[derive(Clone)]
pub(super) struct Job {
    store: Arc<dyn Store>,
    location: Location,
    repository: Repository,
    filename: DistFilename,
    file: SimpleFile,
    sha256: Sha256,
    /// Where it comes from, as it may be shown.
    source: String,
    /// The upstream it comes from (for its provenance).
    upstream: Arc<crate::upstream::UpstreamIndex>,
}

impl Index {
    /// The store the cache of `location`'s upstream is read and written with: the configured
    /// cache credentials on a registry, otherwise the caller's.
    ///
    /// # Errors
    /// As [`Index::store`].
    pub(super) fn cache_store(
        &self,
        caller: &Caller,
        location: &Location,
    ) -> Result<Arc<dyn Store>, IndexError> {
        match (&location.target, &self.options.upstreams.cache_credentials) {
            (Target::Registry(origin), Some((username, password))) => {
                let auth = RegistryAuth::Basic {
                    username: username.clone(),
                    password: password.clone(),
                };
                Ok(Arc::new(self.client.registry(origin.clone(), auth)))
            }
            _ => self.store(caller, location),
        }
    }

    /// The page of what the cache holds of `project`, when its upstream failed with `error`;
    /// the error itself when the cache has nothing of it.
    ///
    /// # Errors
    /// `error` when nothing of the project is cached; storage errors.
    pub(super) async fn cached_listing(
        &self,
        caller: &Caller,
        route: &UpstreamRoute,
        cache: &Namespace,
        project: &ProjectName,
        error: UpstreamError,
    ) -> Result<Listing, IndexError> {
        let location = Location {
            target: route.target.clone(),
            namespace: cache.clone(),
        };
        let store = self.cache_store(caller, &location)?;
        match self.project_page_in(store, &location, project).await {
            Ok(page) => {
                tracing::warn!(
                    project.name = %project,
                    "serving the cached page of `{project}`: {error}"
                );
                self.metrics.record_upstream_cache("stale_page");
                Ok(Listing::Cached(page))
            }
            Err(IndexError::ProjectNotFound { .. }) => Err(error.into()),
            Err(other) => Err(other),
        }
    }

    /// Opens an upstream file (or its `.metadata`) through the cache of `route`: from the
    /// registry when it is there, otherwise fetched from upstream and stored on the way.
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] when upstream does not offer it;
    /// [`IndexError::UpstreamFileMismatch`] when its bytes do not match upstream's sha256;
    /// upstream and storage errors.
    pub(super) async fn open_cached(
        &self,
        caller: &Caller,
        route: &UpstreamRoute,
        cache: &Namespace,
        project: &ProjectName,
        filename: &str,
        (metadata, request): (bool, FileRequest<'_>),
    ) -> Result<FileDownload, IndexError> {
        let not_found = || IndexError::FileNotFound {
            filename: filename.escape_default().to_string(),
        };
        let parsed = DistFilename::parse(filename)?;
        if parsed.name() != project {
            return Err(not_found());
        }
        let location = Location {
            target: route.target.clone(),
            namespace: cache.clone(),
        };
        let store = self.cache_store(caller, &location)?;
        let repository = layout::repository(cache, project)?;
        if let Some(stored) = stored_file(store.as_ref(), &repository, &parsed).await? {
            if !metadata || stored.core_metadata.is_some() {
                let key = usage::usage_key(store.as_ref(), &location);
                self.usages.touch(&key, filename);
                let stale = route.index.is_failing();
                self.metrics
                    .record_upstream_cache(if stale { "stale_file" } else { "hit" });
                let wanted = (metadata, request);
                let download = self.serve_stored(&store, &repository, stored, wanted);
                return download.await.map(|mut download| {
                    download.stale = stale;
                    download
                });
            }
        }
        let page = route.index.project(project).await?.ok_or_else(not_found)?;
        let file = page
            .files
            .iter()
            .find(|f| f.filename == filename && Listing::offers_file(f, true))
            .ok_or_else(not_found)?;
        if metadata || request.head || request.range.is_some() {
            return self.proxy_upstream(route, file, metadata, request).await;
        }
        let job = Job {
            store,
            location,
            repository,
            filename: parsed,
            sha256: file.sha256().ok_or_else(not_found)?,
            file: file.clone(),
            source: page.page_url.clone(),
            upstream: Arc::clone(&route.index),
        };
        self.fetch_once(route, job).await
    }

    /// The provenance kept with a cached upstream file, if the cache has the file.
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] when it has the file without provenance; storage errors.
    pub(super) async fn cached_provenance(
        &self,
        caller: &Caller,
        route: &UpstreamRoute,
        cache: &Namespace,
        project: &ProjectName,
        (filename, request): (&str, FileRequest<'_>),
    ) -> Result<Option<FileDownload>, IndexError> {
        let parsed = DistFilename::parse(filename)?;
        if parsed.name() != project {
            return Ok(None);
        }
        let location = Location {
            target: route.target.clone(),
            namespace: cache.clone(),
        };
        let store = self.cache_store(caller, &location)?;
        let repository = layout::repository(cache, project)?;
        let Some(stored) = stored_file(store.as_ref(), &repository, &parsed).await? else {
            return Ok(None);
        };
        open_stored_provenance(store.as_ref(), &repository, stored, request)
            .await
            .map(Some)
    }

    async fn serve_stored(
        &self,
        store: &Arc<dyn Store>,
        repository: &Repository,
        stored: StoredFile,
        (metadata, request): (bool, FileRequest<'_>),
    ) -> Result<FileDownload, IndexError> {
        let filename = stored.filename.clone();
        if metadata {
            open_stored_metadata(store.as_ref(), repository, stored, &filename, request).await
        } else {
            self.open_stored_file(store.as_ref(), repository, stored, &filename, request)
                .await
        }
    }

    /// Leads the fetch of `job`'s file or waits for the one in progress.
    async fn fetch_once(
        &self,
        route: &UpstreamRoute,
        job: Job,
    ) -> Result<FileDownload, IndexError> {
        let key = format!(
            "{}/{}/{}",
            job.store.location(),
            job.repository,
            job.filename
        );
        for _ in 0..MAX_ROUNDS {
            let (mut outcome, tee) = match self.flights.join(&key) {
                Role::Lead(landing) => return self.lead(route, job, landing).await,
                Role::Follow(flight) => flight,
            };
            self.metrics.record_upstream_cache("joined");
            let streaming = outcome
                .wait_for(|outcome| *outcome != Outcome::Running)
                .await
                .is_ok_and(|outcome| *outcome == Outcome::Streaming);
            if let Some((body, content_length)) = streaming.then(|| tee.join()).flatten() {
                return Ok(FileDownload {
                    socket: None,
                    stale: false,
                    sha256: job.sha256.clone(),
                    content_type: content_type(job.filename.as_str()),
                    status: 200,
                    redirect: None,
                    content_length,
                    content_range: None,
                    body,
                });
            }
            let ended = outcome
                .wait_for(|outcome| !outcome.in_progress())
                .await
                .map(|outcome| outcome.clone());
            match ended {
                Ok(Outcome::Refused(expected, computed)) => {
                    return Err(IndexError::UpstreamFileMismatch {
                        filename: job.filename.to_string(),
                        expected,
                        computed,
                    });
                }
                Ok(Outcome::Stored) => {
                    let stored = stored_file(job.store.as_ref(), &job.repository, &job.filename);
                    if let Some(stored) = stored.await? {
                        let wanted = (false, FileRequest::default());
                        return self
                            .serve_stored(&job.store, &job.repository, stored, wanted)
                            .await;
                    }
                }
                _ => {}
            }
        }
        self.proxy_upstream(route, &job.file, false, FileRequest::default())
            .await
    }

    /// Fetches `job`'s file from upstream, streams it to this request while storing it.
    async fn lead(
        &self,
        route: &UpstreamRoute,
        job: Job,
        landing: Landing,
    ) -> Result<FileDownload, IndexError> {
        // Another request may have stored it between this one's look and its joining.
        if let Some(stored) =
            stored_file(job.store.as_ref(), &job.repository, &job.filename).await?
        {
            landing.finish(Outcome::Stored);
            self.metrics.record_upstream_cache("hit");
            let wanted = (false, FileRequest::default());
            return self
                .serve_stored(&job.store, &job.repository, stored, wanted)
                .await;
        }
        let download = route.index.download(&job.file.url, None, false).await?;
        if download.status != 200 {
            return Err(UpstreamError::Status {
                url: route.index.url().to_owned(),
                status: download.status,
            }
            .into());
        }
        let limit = match self.options.upstreams.cache_max_size {
            0 => self.options.max_upload_size,
            cap => cap,
        };
        let too_large = job.file.size.is_some_and(|size| size > limit);
        let session = if too_large {
            tracing::info!("not caching `{}`: larger than {limit} bytes", job.filename);
            None
        } else {
            match job.store.start_upload(&job.repository).await {
                Ok(mut session) => {
                    session.keep_copy();
                    Some(session)
                }
                Err(error) => {
                    tracing::warn!(
                        oci.repository = %job.repository,
                        "not caching `{}`: {error}",
                        job.filename
                    );
                    None
                }
            }
        };
        let content_length = download.content_length;
        let leader = landing.stream(content_length);
        let sha256 = job.sha256.clone();
        let content_type = content_type(job.filename.as_str());
        let index = self.clone();
        let upstream = route.index.url().to_owned();
        let body = download.response.bytes_stream().map(move |chunk| {
            chunk.map_err(|error| StorageError::InvalidResponse {
                registry: upstream.clone(),
                reason: crate::net::redact_error(error).to_string(),
            })
        });
        let tee = Arc::clone(&landing.tee);
        tokio::spawn(async move {
            let fill = Fill {
                session,
                limit,
                sample: Sample::for_file(&job.filename),
                hasher: Sha256Hasher::new(),
                size: 0,
                tee,
            };
            let (outcome, size) = index.fill(&job, fill, Box::pin(body)).await;
            let stored = outcome == Outcome::Stored;
            landing.finish(outcome);
            if stored {
                index.account(&job, size).await;
            }
        });
        Ok(FileDownload {
            socket: None,
            stale: false,
            sha256,
            content_type,
            status: 200,
            redirect: None,
            content_length,
            content_range: None,
            body: leader,
        })
    }

    /// Copies the upstream body to its readers and the upload session, then stores the file
    /// when its sha256 checks out.
    async fn fill(
        &self,
        job: &Job,
        mut fill: Fill,
        mut body: crate::storage::ByteStream,
    ) -> (Outcome, u64) {
        let mut held: Option<Bytes> = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    tracing::warn!("fetching `{}` from upstream failed: {error}", job.filename);
                    fill.cancel().await;
                    let reason = error.to_string();
                    fill.tee
                        .fail(|| StorageError::InvalidResponse {
                            registry: job.source.clone(),
                            reason: reason.clone(),
                        })
                        .await;
                    return (Outcome::NotStored, fill.size);
                }
            };
            fill.take(&job.filename, &chunk).await;
            if let Some(previous) = held.replace(chunk) {
                // Readers gone away do not stop the fetch: the file is still stored.
                fill.tee.send(&previous).await;
            }
        }
        let computed = Sha256::from_hasher(fill.hasher.clone());
        if computed != job.sha256 {
            fill.cancel().await;
            self.metrics.record_upstream_cache("refused");
            tracing::error!(
                project.name = %job.filename.name(),
                "refused `{}` from {}: its bytes hash to {computed}, its page says {}",
                job.filename,
                job.source,
                job.sha256
            );
            let reason = format!(
                "`{}` does not match its sha256 `{}`",
                job.filename, job.sha256
            );
            fill.tee
                .fail(|| StorageError::InvalidResponse {
                    registry: job.source.clone(),
                    reason: reason.clone(),
                })
                .await;
            return (Outcome::Refused(job.sha256.clone(), computed), fill.size);
        }
        let outcome = match fill.session.take() {
            Some(session) => match self
                .store_cached(job, session, &mut fill.sample, fill.size)
                .await
            {
                Ok(()) => Outcome::Stored,
                Err(error) => {
                    tracing::warn!(
                        oci.repository = %job.repository,
                        "caching `{}` failed: {error}",
                        job.filename
                    );
                    Outcome::NotStored
                }
            },
            None => Outcome::NotStored,
        };
        self.metrics.record_upstream_cache(match outcome {
            Outcome::Stored => "stored",
            _ => "not_stored",
        });
        if let Some(last) = held {
            fill.tee.send(&last).await;
        }
        drop(fill.tee.close());
        (outcome, fill.size)
    }

    /// Stores upstream's provenance of `job`'s file, if any, beside the file manifest `entry`
    /// describes, and records it on the entry.
    async fn keep_upstream_provenance(
        &self,
        job: &Job,
        entry: &mut crate::storage::oci::Descriptor,
    ) {
        let Some(provenance) = self.upstream_provenance(job).await else {
            return;
        };
        let digest = Digest::of(&provenance);
        let filename = job.filename.as_str();
        let store = job.store.as_ref();
        let stored = super::provenance::store_provenance(
            store,
            &job.repository,
            entry,
            filename,
            provenance,
        );
        match stored.await {
            Ok(()) => layout::record_provenance(entry, &digest),
            Err(error) => tracing::warn!(
                oci.repository = %job.repository,
                "`{}` is cached without its provenance: {error}",
                job.filename
            ),
        }
    }

    /// Upstream's PEP 740 provenance of `job`'s file, when its page links one that has the
    /// shape of a provenance object: kept as upstream served it (clients verify attestations
    /// themselves, as they would have from upstream), so that it is still there when upstream
    /// is not. Nothing when there is none or it cannot be had (the file is cached anyway).
    async fn upstream_provenance(&self, job: &Job) -> Option<Bytes> {
        let url = job.file.provenance.as_deref()?;
        let fetched = job
            .upstream
            .fetch_document(url, MAX_UPSTREAM_PROVENANCE)
            .await;
        let reason = match fetched {
            Ok(bytes) if crate::packaging::attestation::is_provenance_object(&bytes) => {
                return Some(bytes);
            }
            Ok(_) => "upstream's is not a PEP 740 provenance object".to_owned(),
            Err(error) => error.to_string(),
        };
        tracing::info!(
            "`{}` is cached without its provenance: {reason}",
            job.filename
        );
        None
    }

    /// Commits the verified blob, pushes its core metadata and manifest, and adds it to its
    /// release index in the cache.
    async fn store_cached(
        &self,
        job: &Job,
        session: Box<dyn BlobWriter>,
        sample: &mut Sample,
        size: u64,
    ) -> Result<(), IndexError> {
        let digest = Digest::from(&job.sha256);
        session.commit(&digest).await?;
        let core = inspect::core_metadata(&job.filename, sample, size).unwrap_or_else(|error| {
            tracing::info!(
                "`{}` is cached without its core metadata: {error}",
                job.filename
            );
            None
        });
        let core_digest = core.as_deref().map(Digest::of);
        let created = job
            .file
            .upload_time
            .as_deref()
            .and_then(rfc3339_seconds)
            .unwrap_or_else(now_rfc3339);
        let mut manifest = layout::file_manifest(&NewFile {
            filename: &job.filename,
            digest: &digest,
            size,
            created: &created,
            requires_python: job.file.requires_python.as_deref(),
            project_urls: &[],
            classifiers: &[],
            core_metadata: core_digest
                .as_ref()
                .zip(core.as_ref().map(|c| c.len() as u64)),
        })?;
        let annotations = &mut manifest.entry.annotations;
        annotations.insert(
            layout::ANNOTATION_CACHED_FROM.to_owned(),
            job.source.clone(),
        );
        annotations.insert(layout::ANNOTATION_CACHED_AT.to_owned(), now_rfc3339());
        if let Some(reason) = &job.file.yanked {
            annotations.insert(layout::ANNOTATION_YANKED.to_owned(), reason.clone());
        }
        let config = core.map_or_else(|| Bytes::from_static(EMPTY_BLOB), Bytes::from);
        let store = job.store.as_ref();
        store
            .push_small_blob(&job.repository, config, false)
            .await?;
        let reference = Reference::Digest(Digest::parse(&manifest.entry.digest)?);
        store
            .put_manifest(
                &job.repository,
                &reference,
                MEDIA_TYPE_MANIFEST,
                manifest.bytes.clone(),
            )
            .await?;
        self.keep_upstream_provenance(job, &mut manifest.entry)
            .await;
        let version = job.filename.version().clone();
        let tag = layout::tag_for(&version)?;
        let entry = manifest.entry;
        let filename = job.filename.clone();
        let decide = move |current: Option<&ReleaseIndex>| {
            let version_text = filename.version().to_string();
            let present = current.is_some_and(|index| {
                index
                    .file(filename.name(), &version_text, filename.as_str())
                    .is_some()
            });
            if present {
                return Ok(Plan::Done);
            }
            let mut index = current
                .cloned()
                .unwrap_or_else(|| ReleaseIndex::new(&now_rfc3339()));
            index.upsert(entry.clone());
            Ok(Plan::Put(index))
        };
        update_release(&self.locks, store, &job.repository, &tag, &version, decide).await?;
        self.changed(&job.store, &job.location, job.filename.name(), Some(&tag))?;
        tracing::info!(
            project.name = %job.filename.name(),
            oci.repository = %job.repository,
            oci.digest = %digest,
            size,
            "cached `{}` from {}",
            job.filename,
            job.source
        );
        Ok(())
    }
}

/// The state of one fetch: what is hashed, sampled and sent on.
struct Fill {
    session: Option<Box<dyn BlobWriter>>,
    /// The largest file kept: past it the session is given up.
    limit: u64,
    sample: Sample,
    hasher: Sha256Hasher,
    size: u64,
    /// The leader and the followers that joined.
    tee: Arc<tee::Tee>,
}

impl Fill {
    /// Hashes, samples and stores the next chunk; a session that fails is given up (the file
    /// is then served, not kept).
    async fn take(&mut self, filename: &DistFilename, chunk: &Bytes) {
        self.hasher.update(chunk);
        self.sample.push(chunk);
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            if self.session.is_some() {
                tracing::info!("not caching `{filename}`: larger than {} bytes", self.limit);
            }
            self.cancel().await;
        }
        let Some(session) = &mut self.session else {
            return;
        };
        if let Err(error) = session.write(chunk.clone()).await {
            tracing::warn!("not caching `{filename}`: {error}");
            self.cancel().await;
        }
    }

    async fn cancel(&mut self) {
        if let Some(session) = self.session.take() {
            session.cancel().await;
        }
    }
}

/// An upstream upload time (PEP 700: ISO 8601, often with fractions of a second) as RFC 3339
/// UTC with seconds, as the layout records it.
fn rfc3339_seconds(text: &str) -> Option<String> {
    let parsed =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .ok()?
            .to_offset(time::UtcOffset::UTC);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    parsed.format(&format).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_times_are_kept_to_the_second() {
        for (input, expected) in [
            ("2024-01-02T03:04:05.123456Z", Some("2024-01-02T03:04:05Z")),
            ("2024-01-02T03:04:05Z", Some("2024-01-02T03:04:05Z")),
            ("2024-01-02T05:04:05+02:00", Some("2024-01-02T03:04:05Z")),
            ("yesterday", None),
        ] {
            assert_eq!(rfc3339_seconds(input).as_deref(), expected, "{input}");
        }
    }

    #[tokio::test]
    async fn followers_wait_for_the_leader_and_never_hang() {
        let flights = Arc::new(Flights::default());
        let Role::Lead(landing) = flights.join("k") else {
            panic!("the first request leads");
        };
        let Role::Follow((mut follower, _)) = flights.join("k") else {
            panic!("the second request follows");
        };
        landing.finish(Outcome::Stored);
        let seen = follower
            .wait_for(|o| *o != Outcome::Running)
            .await
            .unwrap()
            .clone();
        assert_eq!(seen, Outcome::Stored);
        // Finished: the next request leads again (and finds the file stored).
        let Role::Lead(dropped) = flights.join("k") else {
            panic!("a finished fetch is not joined");
        };
        let Role::Follow((mut follower, tee)) = flights.join("k") else {
            panic!("follows");
        };
        drop(dropped);
        let seen = follower
            .wait_for(|o| *o != Outcome::Running)
            .await
            .unwrap()
            .clone();
        assert_eq!(seen, Outcome::NotStored);
        assert!(
            tee.join().is_none(),
            "a fetch that ended takes no followers"
        );
        assert!(flights.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_streaming_fetch_is_joined_and_still_counts_as_running() {
        let flights = Arc::new(Flights::default());
        let Role::Lead(landing) = flights.join("k") else {
            panic!("the first request leads");
        };
        let _leader = landing.stream(Some(3));
        let Role::Follow((outcome, tee)) = flights.join("k") else {
            panic!("a streaming fetch is followed");
        };
        assert_eq!(*outcome.borrow(), Outcome::Streaming);
        assert_eq!(tee.join().map(|(_, length)| length), Some(Some(3)));
        drop(landing);
        assert_eq!(*outcome.borrow(), Outcome::NotStored);
        assert!(tee.join().is_none());
    }
}
