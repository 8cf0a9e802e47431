//! Reading a project from its store, at a cost that does not grow with its releases when it
//! has a listing document: the tag list, then the document (one manifest GET, revalidated
//! with `If-None-Match`), checked against the tags; only the release tags the document lacks
//! (or that changed through this server since it was written, or whose releases are young:
//! [`Young`]) are read one by one. Without
//! a document (PyOCI's data, `skopeo copy`), every release tag is read: N+1 requests, each
//! revalidated against what was read before.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError};

use futures_util::{StreamExt as _, TryStreamExt as _, stream};

use super::cache::{CachedTag, ProjectKey, YoungTag};
use super::page::{ProjectPage, Release};
use super::{Index, IndexError, ListingDocuments};
use crate::layout::{self, ListedTag, ListingProblem, ProjectListing, ReleaseIndex, StoredFile};
use crate::packaging::{ProjectName, StatusMarker, Version};
use crate::storage::oci::MEDIA_TYPE_INDEX;
use crate::storage::{
    BlobRequest, Digest, ManifestFetch, Reference, Repository, StorageError, Store, Tag,
};

/// The largest listing document read (a document beyond it is not used).
const MAX_DOCUMENT_SIZE: usize = 256 << 20;

/// One project in one store, as seen by one caller.
#[derive(Clone, Copy)]
pub(super) struct ProjectRef<'a> {
    /// The store, with the caller's credentials.
    pub store: &'a dyn Store,
    /// Cache key: origin and repository.
    pub key: &'a ProjectKey,
    /// The repository.
    pub repository: &'a Repository,
    /// The project.
    pub project: &'a ProjectName,
}

impl ProjectRef<'_> {
    /// The answer for this project when the store has no release of it (for these
    /// credentials).
    pub(super) fn not_found(&self) -> IndexError {
        IndexError::ProjectNotFound {
            project: self.project.to_string(),
            namespace: layout::namespace_of(self.repository),
        }
    }
}

/// How much of a listing document to trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trust {
    /// Use what it records for every tag it has (the tag list says which tags exist).
    Document,
    /// Revalidate every release tag against the registry (an audit for changes made
    /// behind the server's back, by tools that do not keep the document).
    Tags,
}

/// A project as read.
pub(super) struct Snapshot {
    /// Its page.
    pub page: ProjectPage,
    /// The listing document read, with its manifest digest.
    pub document: Option<(Digest, Arc<ProjectListing>)>,
    /// The document is missing or differs from the tags, and may be (re)written.
    pub document_outdated: bool,
    /// File manifests whose layer size is not known yet.
    pub unknown_sizes: Vec<Digest>,
    /// Release tags the document records otherwise than the registry holds them now
    /// (changed behind its back, or through this server and not recorded yet).
    pub drifted: Vec<Tag>,
    /// Whether one of them is an old release (not young: [`Young`]), whose change the
    /// document alone would have hidden; young releases are read at every read anyway.
    pub drifted_old: bool,
}

/// A listing document as read: `Err(None)` when there is none, `Err(Some(problem))` when it
/// cannot be used.
type DocumentRead = Result<(Digest, Arc<ProjectListing>), Option<ListingProblem>>;

/// The listing document as read alongside the tag list; `None` when it was not.
type EarlyDocument = Option<Result<DocumentRead, IndexError>>;

/// How one release tag was read.
enum Read {
    /// As the document records it.
    Listed(Option<Release>),
    /// From the registry: the document does not record the tag.
    Missing(Option<Release>),
    /// From the registry, which holds something else than the document records; whether
    /// the release is young (read from the registry at every read anyway).
    Drifted(Option<Release>, Tag, bool),
}

/// What the reads of one project's release tags share.
struct Reads {
    young: Young,
    /// Release tags read alongside the tag list ([`Index::read_ahead`]), taken by the read
    /// that would have asked for them.
    ahead: std::sync::Mutex<HashMap<Tag, Result<Option<CachedTag>, IndexError>>>,
    /// The young releases found.
    found: std::sync::Mutex<Vec<YoungTag>>,
}

impl Reads {
    fn new(young: Young) -> Self {
        Self {
            young,
            ahead: std::sync::Mutex::default(),
            found: std::sync::Mutex::default(),
        }
    }

    /// What `tag` holds now: as read ahead, or read now (revalidated against what was read
    /// before, or else against what the document records, `listed`).
    async fn read_tag(
        &self,
        index: &Index,
        target: ProjectRef<'_>,
        (tag, version): (&Tag, &Version),
        listed: Option<&ListedTag>,
    ) -> Result<Option<CachedTag>, IndexError> {
        let early = lock(&self.ahead).remove(tag);
        if let Some(read) = early {
            return read;
        }
        let known = index.known_tag(target, tag, listed);
        index.read_tag(target, tag, version, known).await
    }

    /// Notes the release read under `tag`, if young.
    fn note(&self, tag: Tag, version: Version, release: Option<&Release>) {
        if let Some(uploaded) = release.and_then(|release| self.young.newest(release)) {
            lock(&self.found).push((tag, version, uploaded));
        }
    }

    /// The young releases found.
    fn into_young(self) -> Vec<YoungTag> {
        self.found
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Read {
    /// The release read, if any.
    fn release(&self) -> Option<&Release> {
        match self {
            Self::Listed(release) | Self::Missing(release) | Self::Drifted(release, ..) => {
                release.as_ref()
            }
        }
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// When a release counts as young: one of its files was uploaded less than one audit interval
/// ago (`--listing-audit-interval`). A young release is revalidated at every read instead of
/// being taken from the listing document, so that files added to it in place by a tool that
/// does not keep the document (the rest of a build matrix) are seen within the page cache's
/// TTL rather than at the next audit; older ones are left to the audit.
struct Young {
    /// Uploads after this are young; `None`: no release is (audits are off).
    after: Option<time::OffsetDateTime>,
    /// The day before `after`'s (`YYYY-MM-DD`): upload times on earlier days are old without
    /// being parsed (whatever their offset).
    day_before: String,
}

impl Young {
    /// Young releases as of now, for an audit `interval` (zero: none).
    fn since(interval: std::time::Duration) -> Self {
        Self::at(time::OffsetDateTime::now_utc(), interval)
    }

    /// Young releases as of `now`, for an audit `interval` (zero: none).
    fn at(now: time::OffsetDateTime, interval: std::time::Duration) -> Self {
        let after = (!interval.is_zero())
            .then(|| now.checked_sub(interval.try_into().ok()?))
            .flatten();
        let day_before = after
            .and_then(|after| after.checked_sub(time::Duration::DAY))
            .map(|day| {
                format!(
                    "{:04}-{:02}-{:02}",
                    day.year(),
                    u8::from(day.month()),
                    day.day()
                )
            })
            .unwrap_or_default();
        Self { after, day_before }
    }

    /// Whether one of `release`'s files was uploaded after [`Young::after`].
    fn holds(&self, release: &Release) -> bool {
        self.newest(release).is_some()
    }

    /// The newest upload time of `release`'s files, when it is after [`Young::after`].
    fn newest(&self, release: &Release) -> Option<time::OffsetDateTime> {
        // Upload times on earlier days are old whatever their time and offset: a release
        // with none later is not parsed (most releases of a page).
        let recent_day = release.files.iter().any(|file| {
            file.uploaded
                .as_deref()
                .and_then(|uploaded| uploaded.get(..10))
                .is_some_and(|day| day >= self.day_before.as_str())
        });
        if !recent_day {
            return None;
        }
        release
            .last_upload()
            .filter(|uploaded| self.includes(*uploaded))
    }

    /// Whether an upload at `uploaded` is young.
    fn includes(&self, uploaded: time::OffsetDateTime) -> bool {
        self.after.is_some_and(|after| uploaded > after)
    }
}

impl Index {
    /// Reads `target` from its store.
    ///
    /// # Errors
    /// [`IndexError::ProjectNotFound`] when it has no release; storage errors.
    pub(super) async fn read_project(
        &self,
        target: ProjectRef<'_>,
        trust: Trust,
    ) -> Result<Snapshot, IndexError> {
        self.read_project_or_absent(target, trust)
            .await?
            .ok_or_else(|| target.not_found())
    }

    /// [`Index::read_project`]; `None` when the store has no tag of the repository at all (it
    /// has no such repository, or does not show it to these credentials), as opposed to
    /// tags none of which holds a release ([`IndexError::ProjectNotFound`]).
    ///
    /// # Errors
    /// [`IndexError::ProjectNotFound`] when no tag holds a release; storage errors.
    pub(super) async fn read_project_or_absent(
        &self,
        target: ProjectRef<'_>,
        trust: Trust,
    ) -> Result<Option<Snapshot>, IndexError> {
        let mode = self.options.listing_documents;
        let reads_documents = mode != ListingDocuments::Off && !self.distrusted(target.key);
        let reads = Reads::new(Young::since(self.options.listing_audit_interval));
        let early = reads_documents && self.cache.expects_document(target.key);
        let ahead = (early && trust == Trust::Document).then_some(&reads);
        let Some((tags, early_document)) = self.tags_and_document(target, early, ahead).await?
        else {
            return Ok(None);
        };
        // The legacy forms are read while there is nothing under the current tags.
        let document_tag = [layout::listing_tag(), layout::legacy_listing_tag()]
            .into_iter()
            .filter(|_| reads_documents)
            .find(|tag| tags.contains(tag));
        let legacy_document = document_tag
            .as_ref()
            .is_some_and(|tag| tag.as_str() == layout::LEGACY_LISTING_TAG);
        let status_tag = [layout::status_tag(), layout::legacy_status_tag()]
            .into_iter()
            .find(|tag| tags.contains(tag));
        let mut versions: Vec<(Tag, Version)> = tags
            .into_iter()
            .filter_map(|tag| layout::version_of(&tag).map(|version| (tag, version)))
            .collect();
        let (document, status) = self
            .read_document_and_status(target, (document_tag, early_document), status_tag)
            .await?;
        let (document, mut outdated) = match document {
            // A legacy document is moved under the current tag.
            Ok(found) => (Some(found), legacy_document),
            // Absent, or unusable but ours to replace: write it.
            Err(None) => (None, true),
            Err(Some(problem)) => (None, problem.replaceable() || legacy_document),
        };
        let listing = document.as_ref().map(|(_, listing)| Arc::clone(listing));
        let in_tags: HashSet<&Tag> = versions.iter().map(|(tag, _)| tag).collect();
        if let Some(listing) = &listing {
            outdated |= listing.tags.keys().any(|tag| !in_tags.contains(tag));
        }
        if self.options.max_versions > 0 && versions.len() > self.options.max_versions {
            versions.sort_by(|a, b| b.1.cmp(&a.1));
            versions.truncate(self.options.max_versions);
        }
        let changed = self.documents.changed_tags(target.key);
        let releases = versions.into_iter().map(|(tag, version)| {
            let listed = listing.as_deref().and_then(|l| l.tags.get(&tag));
            let trusted = trust == Trust::Document && !changed.contains(&tag);
            self.read_release(target, (tag, version), listed, trusted, &reads)
        });
        let read: Vec<Read> = stream::iter(releases)
            .buffer_unordered(self.options.listing_concurrency.max(1))
            .try_collect()
            .await?;
        self.cache.store_young_tags(target.key, reads.into_young());
        let mut releases = Vec::new();
        let mut drifted = Vec::new();
        let mut drifted_old = false;
        for read in read {
            let release = match read {
                Read::Listed(release) => release,
                Read::Missing(release) => {
                    outdated = true;
                    release
                }
                Read::Drifted(release, tag, young) => {
                    outdated = true;
                    if !changed.contains(&tag) {
                        drifted_old |= !young;
                        drifted.push(tag);
                    }
                    release
                }
            };
            releases.extend(release);
        }
        if releases.is_empty() {
            return Err(target.not_found());
        }
        let unknown_sizes = self.fill_sizes(target.key, listing.as_deref(), &mut releases);
        outdated |= !unknown_sizes.is_empty();
        Ok(Some(Snapshot {
            page: ProjectPage::new(target.project.clone(), releases).with_status(status),
            document,
            document_outdated: outdated && mode == ListingDocuments::Write,
            unknown_sizes,
            drifted,
            drifted_old,
        }))
    }

    /// One release tag of a page: as the document records it when it is `trusted` for the
    /// tag and the release is not young, else from the registry (revalidated against what the
    /// document records, if anything).
    async fn read_release(
        &self,
        target: ProjectRef<'_>,
        (tag, version): (Tag, Version),
        listed: Option<&ListedTag>,
        trusted: bool,
        reads: &Reads,
    ) -> Result<Read, IndexError> {
        let read = match listed {
            // Not in the document (or none): read it, and the document is behind.
            None => {
                let read = reads.read_tag(self, target, (&tag, &version), None).await?;
                Read::Missing(read.and_then(|c| c.release))
            }
            Some(listed) => {
                if trusted {
                    let release = self.listed_release(target, &tag, &version, listed);
                    if !release.as_ref().is_some_and(|r| reads.young.holds(r)) {
                        return Ok(Read::Listed(release));
                    }
                    // Added to lately: the other files of its build may still be coming from
                    // a tool that does not keep the document (same tag, other content, which
                    // the tag list cannot show), so it is revalidated like a changed tag.
                }
                let read = reads
                    .read_tag(self, target, (&tag, &version), Some(listed))
                    .await?;
                let holds = read.as_ref().is_some_and(|c| c.digest == listed.digest);
                let release = read.and_then(|cached| cached.release);
                if holds {
                    Read::Listed(release)
                } else {
                    // Trusted, yet read: young.
                    Read::Drifted(release, tag.clone(), trusted)
                }
            }
        };
        reads.note(tag, version, read.release());
        Ok(read)
    }

    /// The tag list (`None` when the repository has none), and the document when one is
    /// expected (`early`: [`super::cache::ListingCache::expects_document`]): it is asked for
    /// with the tag list, not after it, so a page waits one round trip to a far registry, not
    /// two (and a document read before usually answers 304). Projects read without one, and
    /// the projects of a namespace where none has one (PyOCI's data), pay no request for a
    /// document they may not have. With `ahead`, the release tags that will be read from the
    /// registry whatever the document says (the young ones as last read, and those changed
    /// through this server) are read at the same time, into it.
    async fn tags_and_document(
        &self,
        target: ProjectRef<'_>,
        early: bool,
        ahead: Option<&Reads>,
    ) -> Result<Option<(Vec<Tag>, EarlyDocument)>, IndexError> {
        let document = async {
            if early {
                Some(self.read_document(target, layout::listing_tag()).await)
            } else {
                None
            }
        };
        let releases = async {
            if let Some(reads) = ahead {
                self.read_ahead(target, reads).await;
            }
        };
        let (tags, document, ()) = futures_util::future::join3(
            target.store.list_tags(target.repository),
            document,
            releases,
        )
        .await;
        Ok(tags?.map(|tags| (tags, document)))
    }

    /// Reads into `reads` the release tags that will be read from the registry whatever the
    /// document says: the young releases as last read, and the tags changed through this
    /// server since the document was written.
    async fn read_ahead(&self, target: ProjectRef<'_>, reads: &Reads) {
        let mut wanted: Vec<(Tag, Version)> = self
            .cache
            .young_tags(target.key)
            .into_iter()
            .filter(|(_, _, uploaded)| reads.young.includes(*uploaded))
            .map(|(tag, version, _)| (tag, version))
            .collect();
        let changed = self.documents.changed_tags(target.key);
        if let Some(tags) = changed.some() {
            wanted.extend(
                tags.filter_map(|tag| {
                    layout::version_of(tag).map(|version| (tag.clone(), version))
                }),
            );
        }
        wanted.sort_by(|a, b| a.0.cmp(&b.0));
        wanted.dedup_by(|a, b| a.0 == b.0);
        let reads_ahead = wanted.into_iter().map(|(tag, version)| async move {
            let known = self.cache.tag(target.key, tag.as_str());
            let read = self.read_tag(target, &tag, &version, known).await;
            (tag, read)
        });
        let read: Vec<_> = stream::iter(reads_ahead)
            .buffer_unordered(self.options.listing_concurrency.max(1))
            .collect()
            .await;
        lock(&reads.ahead).extend(read);
    }

    /// The listing document under `document_tag` (the tag the tags have it under, documents
    /// being read), taken from `early` when it was read alongside the tags, and the status
    /// under `status_tag` (only when the tags have one: projects without it pay nothing), read
    /// at once.
    async fn read_document_and_status(
        &self,
        target: ProjectRef<'_>,
        (document_tag, early): (Option<Tag>, EarlyDocument),
        status_tag: Option<Tag>,
    ) -> Result<(DocumentRead, StatusMarker), IndexError> {
        let read_document = async {
            let Some(tag) = document_tag else {
                return Ok(Err(None));
            };
            if tag.as_str() != layout::LISTING_TAG {
                return self.read_document(target, tag).await;
            }
            match early {
                // Not read alongside the tags, or missing then though the tags have it
                // (written between the two reads): read it now.
                None | Some(Ok(Err(None))) => self.read_document(target, tag).await,
                Some(early) => early,
            }
        };
        let read_status = async {
            match status_tag {
                Some(tag) => {
                    super::status::read_status_under(target.store, target.repository, tag).await
                }
                None => Ok(None),
            }
        };
        let (document, status) = futures_util::future::join(read_document, read_status).await;
        Ok((document?, status?.unwrap_or_default()))
    }

    /// The listing document under `tag`: `Err(None)` when there is none, `Err(Some(problem))`
    /// when it cannot be used.
    async fn read_document(
        &self,
        target: ProjectRef<'_>,
        tag: Tag,
    ) -> Result<Result<(Digest, Arc<ProjectListing>), Option<ListingProblem>>, IndexError> {
        let known = self.cache.document(target.key);
        let reference = Reference::Tag(tag);
        let fetched = target
            .store
            .get_manifest_if_changed(
                target.repository,
                &reference,
                known.as_ref().map(|(d, _)| d),
            )
            .await?;
        let manifest = match fetched {
            ManifestFetch::Unchanged => {
                self.metrics.record_cache("document", "unchanged");
                return Ok(known.ok_or(None));
            }
            ManifestFetch::Missing => return Ok(Err(None)),
            ManifestFetch::Fetched(manifest) => manifest,
        };
        self.metrics.record_cache("document", "fetched");
        let parsed = match layout::read_listing_manifest(&manifest.media_type, &manifest.bytes) {
            Ok(parsed) => parsed,
            Err(problem) => return Ok(Err(Some(unusable(target, problem)))),
        };
        let bytes = match parsed.inline {
            Some(bytes) => Some(bytes),
            None => read_blob(target, &parsed.document).await?,
        };
        let Some(bytes) = bytes else {
            let problem = ListingProblem::Malformed("its document blob is missing".to_owned());
            return Ok(Err(Some(unusable(target, problem))));
        };
        match ProjectListing::parse(&bytes, target.repository) {
            Ok(listing) => Ok(Ok((manifest.digest, Arc::new(listing)))),
            Err(problem) => Ok(Err(Some(unusable(target, problem)))),
        }
    }

    /// Whether readers read `tag` from the registry whatever the document records for it
    /// (`listed`): the release it records is young.
    pub(super) fn read_past_document(
        &self,
        target: ProjectRef<'_>,
        tag: &Tag,
        listed: &ListedTag,
    ) -> bool {
        let Some(version) = layout::version_of(tag) else {
            return false;
        };
        let young = Young::since(self.options.listing_audit_interval);
        self.listed_release(target, tag, &version, listed)
            .is_some_and(|release| young.holds(&release))
    }

    /// The release a listing document records under `tag`.
    fn listed_release(
        &self,
        target: ProjectRef<'_>,
        tag: &Tag,
        version: &Version,
        listed: &ListedTag,
    ) -> Option<Release> {
        if let Some(cached) = self.cache.tag(target.key, tag.as_str()) {
            if cached.digest == listed.digest {
                return cached.release;
            }
        }
        let release = listed
            .index
            .as_deref()
            .and_then(|bytes| release_of(target, version, bytes, &listed.digest));
        let cached = CachedTag {
            digest: listed.digest.clone(),
            index: listed.index.clone(),
            release: release.clone(),
        };
        self.cache.store_tag(target.key, tag.as_str(), cached);
        release
    }

    /// What `tag` held when last read here, or else what the document records.
    pub(super) fn known_tag(
        &self,
        target: ProjectRef<'_>,
        tag: &Tag,
        listed: Option<&ListedTag>,
    ) -> Option<CachedTag> {
        self.cache.tag(target.key, tag.as_str()).or_else(|| {
            listed.map(|listed| CachedTag {
                digest: listed.digest.clone(),
                index: listed.index.clone(),
                release: None,
            })
        })
    }

    /// What `tag` holds now, revalidated against `known` with `If-None-Match`; `None` when
    /// the tag is gone.
    pub(super) async fn read_tag(
        &self,
        target: ProjectRef<'_>,
        tag: &Tag,
        version: &Version,
        known: Option<CachedTag>,
    ) -> Result<Option<CachedTag>, IndexError> {
        let reference = Reference::Tag(tag.clone());
        let fetched = target
            .store
            .get_manifest_if_changed(
                target.repository,
                &reference,
                known.as_ref().map(|k| &k.digest),
            )
            .await?;
        let (digest, index) = match fetched {
            ManifestFetch::Unchanged => {
                self.metrics.record_cache("release", "unchanged");
                let Some(known) = known else { return Ok(None) };
                if known.release.is_some() || known.index.is_none() {
                    return Ok(Some(known));
                }
                (known.digest, known.index)
            }
            ManifestFetch::Missing => return Ok(None),
            ManifestFetch::Fetched(manifest) => {
                self.metrics
                    .record_cache("release", if known.is_some() { "changed" } else { "miss" });
                let files = release_files(
                    target,
                    version,
                    &manifest.media_type,
                    &manifest.bytes,
                    &manifest.digest,
                );
                let (index, release) = match files {
                    Some(files) => (Some(manifest.bytes), release_with(version, files)),
                    None => (None, None),
                };
                let cached = CachedTag {
                    digest: manifest.digest,
                    index,
                    release,
                };
                self.cache
                    .store_tag(target.key, tag.as_str(), cached.clone());
                return Ok(Some(cached));
            }
        };
        let release = index
            .as_deref()
            .and_then(|bytes| release_of(target, version, bytes, &digest));
        let cached = CachedTag {
            digest,
            index,
            release,
        };
        self.cache
            .store_tag(target.key, tag.as_str(), cached.clone());
        Ok(Some(cached))
    }

    /// Gives files whose index entry records no size (PyOCI's) the size learnt before or
    /// recorded in the document; returns the manifests of those still unknown.
    fn fill_sizes(
        &self,
        key: &ProjectKey,
        listing: Option<&ProjectListing>,
        releases: &mut [Release],
    ) -> Vec<Digest> {
        let origin = key.0.as_str();
        let mut unknown = Vec::new();
        let sizeless = releases
            .iter_mut()
            .filter(|r| r.files.iter().any(|file| file.size.is_none()));
        for file in sizeless.flat_map(|r| Arc::make_mut(&mut r.files)) {
            if file.size.is_some() {
                continue;
            }
            file.size = self.cache.size(origin, &file.manifest).or_else(|| {
                let size = listing?.sizes.get(&file.manifest).copied()?;
                self.cache.store_size(origin, file.manifest.clone(), size);
                Some(size)
            });
            if file.size.is_none() {
                unknown.push(file.manifest.clone());
            }
        }
        unknown
    }
}

/// The release in a release index's bytes, if it has files.
fn release_of(
    target: ProjectRef<'_>,
    version: &Version,
    bytes: &[u8],
    digest: &Digest,
) -> Option<Release> {
    let files = release_files(target, version, MEDIA_TYPE_INDEX, bytes, digest)?;
    release_with(version, files)
}

/// The files of the release index in `bytes` (stored as `media_type`); `None` when they are
/// not a release index, or an unreadable one (logged).
fn release_files(
    target: ProjectRef<'_>,
    version: &Version,
    media_type: &str,
    bytes: &[u8],
    digest: &Digest,
) -> Option<Vec<StoredFile>> {
    match ReleaseIndex::read_files(media_type, bytes, version, target.project) {
        Ok(files) => files,
        Err(error) => {
            skipped(target, digest, &error);
            None
        }
    }
}

/// The release of `files`, if there are any.
fn release_with(version: &Version, files: Vec<StoredFile>) -> Option<Release> {
    (!files.is_empty()).then(|| Release {
        version: version.clone(),
        files: files.into(),
    })
}

/// Malformed release indexes are skipped in listings (and logged), never fatal to the page.
fn skipped(target: ProjectRef<'_>, digest: &Digest, error: &crate::layout::LayoutError) {
    tracing::warn!(
        oci.repository = %target.repository,
        oci.digest = %digest,
        "skipping an unreadable release index: {error}"
    );
}

/// Logs why a listing document is not used, and passes the reason on.
fn unusable(target: ProjectRef<'_>, problem: ListingProblem) -> ListingProblem {
    tracing::warn!(
        oci.repository = %target.repository,
        "not using the listing document: {problem}; reading the release tags instead"
    );
    problem
}

/// A small blob, read whole (bounded).
pub(super) async fn read_blob(
    target: ProjectRef<'_>,
    digest: &Digest,
) -> Result<Option<bytes::Bytes>, IndexError> {
    let Some(blob) = target
        .store
        .get_blob(target.repository, digest, BlobRequest::default())
        .await?
    else {
        return Ok(None);
    };
    if blob
        .content_length
        .is_some_and(|length| length > MAX_DOCUMENT_SIZE as u64)
    {
        return Ok(None);
    }
    let mut body = blob.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if bytes.len() + chunk.len() > MAX_DOCUMENT_SIZE {
            return Err(StorageError::InvalidResponse {
                registry: target.store.location(),
                reason: format!("the listing document is larger than {MAX_DOCUMENT_SIZE} bytes"),
            }
            .into());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes.into()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    use super::*;
    use crate::layout::StoredFile;
    use crate::packaging::DistKind;

    fn release(uploaded: &[Option<&str>]) -> Release {
        let files: Arc<[StoredFile]> = uploaded
            .iter()
            .enumerate()
            .map(|(n, uploaded)| StoredFile {
                filename: format!("demo-1.0-{n}-py3-none-any.whl"),
                sha256: crate::packaging::Sha256::of(b""),
                size: Some(1),
                uploaded: uploaded.map(str::to_owned),
                requires_python: None,
                project_urls: crate::layout::ProjectUrls::default(),
                yanked: None,
                core_metadata: None,
                provenance: None,
                manifest: Digest::of(&[u8::try_from(n).unwrap()]),
                kind: DistKind::Wheel,
                promoted: None,
            })
            .collect();
        Release {
            version: Version::parse("1.0").unwrap(),
            files,
        }
    }

    #[test]
    fn releases_added_to_within_one_audit_interval_are_young() {
        let now = OffsetDateTime::parse("2026-12-07T12:00:00Z", &Rfc3339).unwrap();
        let young = Young::at(now, Duration::from_secs(600));
        let holds = |uploaded: &[Option<&str>]| young.holds(&release(uploaded));
        assert!(holds(&[Some("2026-12-07T11:55:00Z")]));
        assert!(
            holds(&[Some("2024-01-01T00:00:00Z"), Some("2026-12-07T11:59:59.5Z")]),
            "its newest file counts"
        );
        assert!(holds(&[Some("2026-12-07T13:55:00+02:00")]), "11:55 UTC");
        assert!(
            holds(&[Some("2026-12-06T23:59:59-13:00")]),
            "12:59:59 UTC, on the day before in its own offset"
        );
        assert!(!holds(&[Some("2026-12-07T11:49:59Z")]));
        assert!(!holds(&[Some("2026-12-08T01:00:00+14:00")]), "11:00 UTC");
        assert!(!holds(&[Some("2026-12-05T23:00:00Z")]));
        assert!(!holds(&[None]), "no upload time recorded");
        assert!(!holds(&[Some("yesterday")]));
        assert!(!holds(&[]));
        let audits_off = Young::at(now, Duration::ZERO);
        assert!(!audits_off.holds(&release(&[Some("2026-12-07T11:59:00Z")])));
    }
}
