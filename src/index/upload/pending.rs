//! The file of an upload: it streams to the registry while it is hashed; only once the form,
//! the filename and every digest check out is the blob committed, its manifest pushed and the
//! release index updated. A refused upload leaves the registry as it was.

use std::sync::Arc;

use blake2::Blake2b;
use blake2::digest::consts::U32;
use bytes::Bytes;
use md5::Md5;
use sha2::{Digest as _, Sha256 as Sha256Hasher};

use super::{UploadOutcome, now_rfc3339};
use crate::events::EventKind;
use crate::index::inspect::{self, Sample};
use crate::index::provenance::Signer;
use crate::index::update::{Plan, read_release, update_release_after};
use crate::index::{Caller, Index, IndexError, Location};
use crate::layout::{self, FileManifest, NewFile, ReleaseIndex};
use crate::packaging::{Action, DistFilename, DistKind, Sha256, UploadForm, UploadMetadata};
use crate::storage::oci::{EMPTY_BLOB, MEDIA_TYPE_MANIFEST};
use crate::storage::{BlobWriter, Digest, Reference, Repository, StorageError, Store};
use crate::telemetry::Metrics;

/// Attempts at pushing a file manifest (CNCF distribution can briefly miss a blob that a
/// parallel upload just pushed).
const MANIFEST_ATTEMPTS: usize = 3;

/// An upload whose bytes are being streamed to the registry.
#[derive(Debug)]
pub(super) struct PendingUpload {
    index: Index,
    store: Arc<dyn Store>,
    location: Location,
    repository: Repository,
    filename: DistFilename,
    session: Option<Box<dyn BlobWriter>>,
    /// A second session, opened with the first, for the config blob: it then goes up with one
    /// `PUT`, alongside the file's commit.
    config_session: Option<Box<dyn BlobWriter>>,
    _in_flight: InFlight,
    sample: Sample,
    sha256: Sha256Hasher,
    md5: Option<Md5>,
    blake2: Option<Blake2b<U32>>,
    size: u64,
    /// For an upload token: the issuer and identity its attestations must name.
    signer: Signer,
    /// The release as read when the upload began (while the session opened): whether the
    /// file is there already is decided from it once the bytes are in. The release index is
    /// written from a fresh read ([`update_release_after`]), never from this one.
    release: Option<ReleaseIndex>,
}

impl Index {
    /// Refuses an anonymous upload to a registry that asks for credentials, before its body
    /// is read (a push needs more rights than `GET /v2/`, so it would be refused at the end).
    ///
    /// # Errors
    /// [`StorageError::Unauthorized`](crate::storage::StorageError::Unauthorized) (answered
    /// 401 with a challenge, so clients send credentials); the registry unreachable.
    pub(super) async fn refuse_anonymous_upload(
        &self,
        caller: &Caller,
        location: &Location,
    ) -> Result<(), IndexError> {
        let (Caller::Anonymous, crate::index::Target::Registry(origin)) =
            (caller, &location.target)
        else {
            return Ok(());
        };
        let registry = self.client.registry(
            origin.clone(),
            crate::storage::registry::RegistryAuth::Anonymous,
        );
        if registry.demands_credentials().await? {
            return Err(crate::storage::StorageError::Unauthorized {
                registry: origin.to_string(),
            }
            .into());
        }
        Ok(())
    }

    /// Starts an upload of `filename`. `form` holds the fields that arrived before the file:
    /// when they already disagree with it, the upload is refused before any byte is sent on.
    ///
    /// # Errors
    /// Bad filename, bad or mismatching form fields, a version that cannot be a tag, or the
    /// registry refusing to open an upload session.
    pub(super) async fn begin_upload(
        &self,
        caller: &Caller,
        location: &Location,
        filename: &str,
        form: &UploadForm,
    ) -> Result<PendingUpload, IndexError> {
        let filename = DistFilename::parse(filename)?;
        if filename.kind() == DistKind::Sdist && !filename.as_str().ends_with(".tar.gz") {
            // PEP 625: new sdists are `.tar.gz`; legacy `.zip` ones are still served, not taken.
            return Err(IndexError::InvalidDistribution {
                filename: filename.to_string(),
                reason: "a source distribution must be a `.tar.gz` (PEP 625)".to_owned(),
            });
        }
        let sample = Sample::for_file(&filename);
        if form.has(":action") {
            check_action(form)?;
        }
        if form.has("name") && form.has("version") {
            form.finish()?.check_filename(&filename)?;
        }
        let tag = layout::tag_for(filename.version())?;
        let repository = layout::repository(&location.namespace, filename.name())?;
        let store = self.upload_store(caller, location, filename.name())?;
        // The project's status and the release are read while the sessions open: no time is
        // lost for them.
        let (file, config, open, release) = futures_util::future::join4(
            store.start_upload(&repository),
            store.start_upload(&repository),
            super::super::status::refuse_closed_project(
                store.as_ref(),
                &repository,
                filename.name(),
            ),
            read_release(store.as_ref(), &repository, &tag, filename.version()),
        )
        .await;
        let sessions = both_open(file, config).await;
        let release = match open.and(release) {
            Ok(release) => release.map(|(index, _)| index),
            Err(refused) => {
                if let Ok((file, config)) = sessions {
                    futures_util::future::join(file.cancel(), config.cancel()).await;
                }
                return Err(refused);
            }
        };
        let (mut session, config_session) = sessions?;
        // A file published here is sent from the blob cache from its first download on.
        session.keep_copy();
        let signer = match caller {
            Caller::Publisher(grant) => Signer::Publisher(grant.signer.clone()),
            _ => Signer::Anyone,
        };
        Ok(PendingUpload {
            signer,
            index: self.clone(),
            store,
            location: location.clone(),
            repository,
            filename,
            session: Some(session),
            config_session: Some(config_session),
            _in_flight: InFlight::start(&self.metrics),
            sample,
            sha256: Sha256Hasher::new(),
            md5: form.has("md5_digest").then(Md5::new),
            blake2: form.has("blake2_256_digest").then(Blake2b::<U32>::new),
            size: 0,
            release,
        })
    }
}

/// Both upload sessions when both opened; otherwise the one that did is cancelled, and the
/// error is the first one's.
async fn both_open(
    file: Result<Box<dyn BlobWriter>, StorageError>,
    config: Result<Box<dyn BlobWriter>, StorageError>,
) -> Result<(Box<dyn BlobWriter>, Box<dyn BlobWriter>), StorageError> {
    match (file, config) {
        (Ok(file), Ok(config)) => Ok((file, config)),
        (Ok(open), Err(error)) | (Err(error), Ok(open)) => {
            open.cancel().await;
            Err(error)
        }
        (Err(error), Err(_)) => Err(error),
    }
}

/// Why a form without a file part is refused: a bad or retired action, else the missing file.
pub(super) fn refuse_without_file(form: &UploadForm) -> IndexError {
    match check_action(form) {
        Err(error) => error,
        Ok(()) => IndexError::MissingContent,
    }
}

fn check_action(form: &UploadForm) -> Result<(), IndexError> {
    match form.action()? {
        Action::FileUpload => Ok(()),
        Action::Retired(action) => Err(IndexError::Retired(action)),
    }
}

impl PendingUpload {
    /// Hashes the next bytes of the file and sends them on.
    ///
    /// # Errors
    /// [`IndexError::TooLarge`] past the size limit; storage errors.
    pub(super) async fn write(&mut self, chunk: Bytes) -> Result<(), IndexError> {
        self.size += chunk.len() as u64;
        self.index.metrics.upload_bytes(chunk.len() as u64);
        let limit = self.index.options.max_upload_size;
        if self.size > limit {
            return Err(IndexError::TooLarge { limit });
        }
        self.sha256.update(&chunk);
        self.sample.push(&chunk);
        if let Some(md5) = &mut self.md5 {
            md5.update(&chunk);
        }
        if let Some(blake2) = &mut self.blake2 {
            blake2.update(&chunk);
        }
        match &mut self.session {
            Some(session) => Ok(session.write(chunk).await?),
            None => Err(StorageError::UploadAborted("the session is closed".to_owned()).into()),
        }
    }

    /// Abandons the upload; nothing becomes visible.
    pub(super) async fn abort(mut self) {
        self.cancel_sessions().await;
    }

    /// Discards the sessions not committed.
    async fn cancel_sessions(&mut self) {
        let open = [self.session.take(), self.config_session.take()];
        futures_util::future::join_all(open.into_iter().flatten().map(BlobWriter::cancel)).await;
    }

    /// Validates the complete form and stores the file.
    ///
    /// # Errors
    /// Every validation failure of the form, filename or digests, an existing different file,
    /// a second sdist, or a registry failure. The upload is abandoned on error.
    pub(super) async fn finish(mut self, form: &UploadForm) -> Result<UploadOutcome, IndexError> {
        let result = self.complete(form).await;
        // A refused upload, or one whose identical file was already there, leaves no trace:
        // the sessions are discarded unless they were committed.
        self.cancel_sessions().await;
        result
    }

    async fn complete(&mut self, form: &UploadForm) -> Result<UploadOutcome, IndexError> {
        check_action(form)?;
        let metadata = form.finish()?;
        metadata.check_filename(&self.filename)?;
        if self.size == 0 {
            return Err(IndexError::EmptyFile {
                filename: self.filename.to_string(),
            });
        }
        let sha256 = self.check_digests(&metadata)?;
        let digest = Digest::from(&sha256);
        let provenance =
            self.index
                .check_attestations(form, &self.filename, &sha256, &self.signer)?;
        let core = inspect::core_metadata(&self.filename, &mut self.sample, self.size)?;
        let core_digest = core.as_deref().map(Digest::of);
        let created = now_rfc3339();
        let mut manifest = layout::file_manifest(&NewFile {
            filename: &self.filename,
            digest: &digest,
            size: self.size,
            created: &created,
            requires_python: metadata.requires_python.as_deref(),
            project_urls: &metadata.project_urls,
            classifiers: &metadata.classifiers,
            core_metadata: core_digest
                .as_ref()
                .zip(core.as_ref().map(|c| c.len() as u64)),
        })?;
        if let Some(provenance) = &provenance {
            layout::record_provenance(&mut manifest.entry, &provenance.digest);
        }
        let version = self.filename.version().clone();
        let tag = layout::tag_for(&version)?;
        let mut decide = self.planner(&manifest, sha256);
        if let Plan::Done = decide(self.release.as_ref())? {
            return Ok(UploadOutcome::AlreadyExists);
        }
        let closed = || StorageError::UploadAborted("the session is closed".to_owned());
        let session = self.session.take().ok_or_else(closed)?;
        let config_session = self.config_session.take().ok_or_else(closed)?;
        let config = core.map_or_else(|| Bytes::from_static(EMPTY_BLOB), Bytes::from);
        Self::commit_with_config(session, &digest, config_session, config.clone()).await?;
        // What the index entry refers to, stored while the index is read.
        let referred = async {
            self.push_file_manifest(&manifest, config).await?;
            if let Some(provenance) = provenance {
                super::super::provenance::store_provenance(
                    self.store.as_ref(),
                    &self.repository,
                    &manifest.entry,
                    self.filename.as_str(),
                    provenance.bytes,
                )
                .await?;
            }
            Ok(())
        };
        let locks = &self.index.locks;
        update_release_after(
            locks,
            self.store.as_ref(),
            &self.repository,
            &tag,
            &version,
            referred,
            decide,
        )
        .await?;
        self.index.changed(
            &self.store,
            &self.location,
            self.filename.name(),
            Some(&tag),
        )?;
        tracing::info!(
            project.name = %self.filename.name(),
            project.version = %version,
            oci.repository = %self.repository,
            oci.digest = %digest,
            size = self.size,
            "stored `{}`",
            self.filename
        );
        let (size, filename) = (self.size, self.filename.to_string());
        self.index.notify(
            &self.location,
            EventKind::Upload,
            (self.filename.name(), &version.to_string()),
            |event| {
                event
                    .with_files(vec![filename])
                    .with_detail("sha256", digest.hex())
                    .with_detail("size", size)
            },
        );
        Ok(UploadOutcome::Created)
    }

    /// Compares the digests the form sent with those computed; returns the file's sha256.
    fn check_digests(&self, metadata: &UploadMetadata) -> Result<Sha256, IndexError> {
        let sha256 = Sha256::from_hasher(self.sha256.clone());
        let computed = [
            (
                "sha256_digest",
                metadata.sha256.as_ref().map(Sha256::as_str),
                Some(sha256.to_string()),
            ),
            (
                "md5_digest",
                metadata.md5.as_deref(),
                self.md5.clone().map(|h| hex::encode(h.finalize())),
            ),
            (
                "blake2_256_digest",
                metadata.blake2_256.as_deref(),
                self.blake2.clone().map(|h| hex::encode(h.finalize())),
            ),
        ];
        for (field, sent, computed) in computed {
            if let (Some(_), None) = (sent, &computed) {
                return Err(IndexError::DigestAfterContent { field });
            }
            if let (Some(sent), Some(computed)) = (sent, computed) {
                if sent != computed {
                    return Err(IndexError::DigestMismatch {
                        field,
                        sent: sent.to_owned(),
                        computed,
                    });
                }
            }
        }
        Ok(sha256)
    }

    /// The idempotent decision for this file: present with the same content → done; present
    /// with other content → conflict; another sdist → refused; else add it.
    fn planner(
        &self,
        manifest: &FileManifest,
        sha256: Sha256,
    ) -> impl FnMut(Option<&ReleaseIndex>) -> Result<Plan, IndexError> + Send + use<> {
        let filename = self.filename.clone();
        let entry = manifest.entry.clone();
        let created = manifest
            .entry
            .annotations
            .get(layout::ANNOTATION_CREATED)
            .cloned()
            .unwrap_or_default();
        move |current| {
            let project = filename.name();
            let version_text = filename.version().to_string();
            let files = current
                .map(|index| index.files(project, &version_text))
                .unwrap_or_default();
            if let Some(existing) = files.iter().find(|f| f.filename == filename.as_str()) {
                if existing.sha256 == sha256 {
                    return Ok(Plan::Done);
                }
                return Err(IndexError::FileExists {
                    filename: filename.to_string(),
                    existing_sha256: existing.sha256.clone(),
                });
            }
            if filename.kind() == DistKind::Sdist {
                if let Some(other) = files.iter().find(|f| f.kind == DistKind::Sdist) {
                    return Err(IndexError::SecondSdist {
                        version: version_text,
                        existing: other.filename.clone(),
                    });
                }
            }
            let mut index = current
                .cloned()
                .unwrap_or_else(|| ReleaseIndex::new(&created));
            index.upsert(entry.clone());
            Ok(Plan::Put(index))
        }
    }

    /// Commits the file's upload while the config blob (core metadata, or the empty blob)
    /// goes up through its own session: the manifest needs both, and each is one `PUT`.
    async fn commit_with_config(
        session: Box<dyn BlobWriter>,
        digest: &Digest,
        config_session: Box<dyn BlobWriter>,
        config: Bytes,
    ) -> Result<(), IndexError> {
        let (committed, config_pushed) =
            futures_util::future::join(session.commit(digest), config_session.write_whole(config))
                .await;
        committed?;
        config_pushed?;
        Ok(())
    }

    /// Pushes the file's manifest (by digest), its config blob (the core metadata, or the
    /// shared empty blob) already pushed; a registry that refuses the manifest as if the blob
    /// were missing is sent the blob again before each retry.
    async fn push_file_manifest(
        &self,
        manifest: &FileManifest,
        config: Bytes,
    ) -> Result<(), IndexError> {
        let repository = &self.repository;
        let digest = Digest::parse(&manifest.entry.digest)?;
        let reference = Reference::Digest(digest);
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                // Pushed before the first attempt; pushed again (not trusting the registry's
                // "exists") before each retry.
                self.store
                    .push_small_blob(repository, config.clone(), true)
                    .await?;
            }
            let pushed = self
                .store
                .put_manifest(
                    repository,
                    &reference,
                    MEDIA_TYPE_MANIFEST,
                    manifest.bytes.clone(),
                )
                .await;
            match pushed {
                Ok(_) => return Ok(()),
                Err(StorageError::Upstream { status: 400, .. }) if attempt < MANIFEST_ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// Counts an upload in flight for as long as it lives.
#[derive(Debug)]
struct InFlight(Arc<Metrics>);

impl InFlight {
    fn start(metrics: &Arc<Metrics>) -> Self {
        metrics.uploads_in_flight(1);
        Self(Arc::clone(metrics))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.uploads_in_flight(-1);
    }
}
