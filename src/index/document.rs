//! Keeping each project's listing document (see `layout::listing`) in step with its tags.
//!
//! Every change through this server (upload, yank, delete, promotion, backfill) marks the
//! release tag it changed, and a reader that finds the document missing, unusable or behind
//! the tags asks for it to be rewritten. One background job per project then rewrites the
//! document with the same optimistic protocol as release indexes (read, merge, write, confirm
//! at once and after a pause; a writer whose change was overwritten merges again), so changes
//! made at once through several replicas all end up in it. Changed tags are always read again
//! from the registry at each round, never taken from the document: a confirmation therefore
//! sees a later change of the same release by another writer.
//!
//! Until the job has confirmed a change, readers of this process read the changed tags
//! directly (read-your-writes). The job never delays or fails the change that caused it: the
//! release index is the truth, the document a cache of it. When the job cannot write, it
//! removes the document (readers fall back to the tags) or, failing that, stops trusting it
//! in this process.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use super::cache::ProjectKey;
use super::snapshot::ProjectRef;
use super::update::{CONFIRMATION_PAUSE, CONFIRMATIONS, MAX_ROUNDS, pause};
use super::{Index, IndexError, ListingDocuments};
use crate::layout::{self, ListedTag, ProjectListing, ReleaseIndex};
use crate::packaging::{ProjectName, Version};
use crate::storage::oci::{EMPTY_BLOB, ImageManifest, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::storage::{Digest, Reference, Repository, StorageError, Store, Tag};

/// How long a caller whose rewrite the registry refused is not asked again for the project.
const REFUSAL_MEMORY: Duration = Duration::from_secs(600);
/// How long a document that could neither be updated nor removed is not trusted here.
const DISTRUST: Duration = Duration::from_secs(600);
/// Projects remembered in each of the bounded maps below.
const MAX_REMEMBERED: usize = 16_384;

/// The background rewrites of listing documents, and what readers must know about them.
#[derive(Debug, Default)]
pub(super) struct Documents {
    pending: Mutex<HashMap<ProjectKey, Pending>>,
    refused: Mutex<HashMap<(String, ProjectKey), Instant>>,
    distrusted: Mutex<HashMap<ProjectKey, Instant>>,
    audited: Mutex<HashMap<ProjectKey, Instant>>,
    tasks: TaskTracker,
}

/// A project whose document is to be rewritten.
struct Pending {
    store: Arc<dyn Store>,
    repository: Repository,
    project: ProjectName,
    /// Tags changed through this process, with the sequence number of their last change.
    changed: HashMap<Tag, u64>,
    /// Sequence number of a change to any number of tags (a backfill), if one is pending.
    all_changed: Option<u64>,
    sequence: u64,
    /// A reader found the document behind the tags: the caller whose credentials it has.
    reconcile: Option<String>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("repository", &self.repository)
            .field("changed", &self.changed.len())
            .finish_non_exhaustive()
    }
}

/// Who asks for a rewrite, and why.
#[derive(Debug, Clone)]
pub(super) enum Cause {
    /// A change through this server to this release tag (`None`: to any of them).
    Changed(Option<Tag>),
    /// A reader, with these credentials, found the document missing or behind the tags.
    Outdated(String),
}

/// Tags changed through this process that the listing document may not show yet.
#[derive(Debug, Default)]
pub(super) struct ChangedTags {
    all: bool,
    tags: HashSet<Tag>,
}

impl ChangedTags {
    /// Whether `tag` is one of them.
    pub(super) fn contains(&self, tag: &Tag) -> bool {
        self.all || self.tags.contains(tag)
    }
}

impl Documents {
    /// Tags changed through this process that the document may not show yet.
    pub(super) fn changed_tags(&self, key: &ProjectKey) -> ChangedTags {
        lock(&self.pending)
            .get(key)
            .map_or_else(ChangedTags::default, |pending| ChangedTags {
                all: pending.all_changed.is_some(),
                tags: pending.changed.keys().cloned().collect(),
            })
    }

    /// Whether an audit of the project against its tags is due (one per `interval`); the
    /// first look only starts the clock.
    pub(super) fn audit_due(&self, key: &ProjectKey, interval: Duration) -> bool {
        if interval.is_zero() {
            return false;
        }
        let mut audited = lock(&self.audited);
        forget_old(&mut audited, interval);
        match audited.get(key) {
            Some(at) if at.elapsed() < interval => false,
            Some(_) => {
                audited.insert(key.clone(), Instant::now());
                true
            }
            None => {
                audited.insert(key.clone(), Instant::now());
                false
            }
        }
    }

    /// Waits for the rewrites under way (at shutdown).
    pub(super) async fn finish(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Index {
    /// Whether this process stopped trusting the project's document.
    pub(super) fn distrusted(&self, key: &ProjectKey) -> bool {
        lock(&self.documents.distrusted)
            .get(key)
            .is_some_and(|at| at.elapsed() < DISTRUST)
    }

    /// Stops trusting the project's document in this process for a while.
    pub(super) fn distrust(&self, key: &ProjectKey) {
        let mut map = lock(&self.documents.distrusted);
        forget_old(&mut map, DISTRUST);
        map.insert(key.clone(), Instant::now());
    }

    /// Asks for the project's document to be rewritten in the background.
    pub(super) fn rewrite_document(
        &self,
        target: ProjectRef<'_>,
        store: &Arc<dyn Store>,
        cause: Cause,
    ) {
        if self.options.listing_documents != ListingDocuments::Write {
            return;
        }
        if let Cause::Outdated(caller) = &cause {
            let refused = lock(&self.documents.refused);
            let key = (caller.clone(), target.key.clone());
            if refused
                .get(&key)
                .is_some_and(|at| at.elapsed() < REFUSAL_MEMORY)
            {
                return;
            }
        }
        let mut pending = lock(&self.documents.pending);
        let start = !pending.contains_key(target.key);
        let entry = pending
            .entry(target.key.clone())
            .or_insert_with(|| Pending {
                store: Arc::clone(store),
                repository: target.repository.clone(),
                project: target.project.clone(),
                changed: HashMap::new(),
                all_changed: None,
                sequence: 0,
                reconcile: None,
            });
        entry.sequence += 1;
        match cause {
            Cause::Changed(tag) => {
                // The latest writer's credentials are the ones known to push.
                entry.store = Arc::clone(store);
                match tag {
                    Some(tag) => {
                        entry.changed.insert(tag, entry.sequence);
                    }
                    None => entry.all_changed = Some(entry.sequence),
                }
            }
            Cause::Outdated(caller) => {
                if entry.changed.is_empty() && entry.reconcile.is_none() {
                    entry.store = Arc::clone(store);
                }
                entry.reconcile.get_or_insert(caller);
            }
        }
        if start {
            let index = self.clone();
            let key = target.key.clone();
            let job = crate::telemetry::background(index.run_rewrites(key));
            self.documents.tasks.spawn(job.in_current_span());
        }
    }

    /// Rewrites the document until no change is left pending.
    async fn run_rewrites(self, key: ProjectKey) {
        loop {
            let Some((store, repository, project, changed, all_changed, reconciler)) = ({
                let mut pending = lock(&self.documents.pending);
                pending.get_mut(&key).map(|p| {
                    (
                        Arc::clone(&p.store),
                        p.repository.clone(),
                        p.project.clone(),
                        p.changed.clone(),
                        p.all_changed,
                        p.reconcile.take(),
                    )
                })
            }) else {
                return;
            };
            let target = ProjectRef {
                store: store.as_ref(),
                key: &key,
                repository: &repository,
                project: &project,
            };
            let tags = ChangedTags {
                all: all_changed.is_some(),
                tags: changed.keys().cloned().collect(),
            };
            let reconcile_only = changed.is_empty() && all_changed.is_none();
            match self.write_document(target, &tags).await {
                Ok(wrote) => {
                    let result = if wrote { "written" } else { "unchanged" };
                    self.metrics.record_document_write(result);
                    lock(&self.documents.distrusted).remove(&key);
                }
                Err(error) => {
                    self.write_failed(target, reconcile_only, reconciler, &error)
                        .await;
                }
            }
            let mut pending = lock(&self.documents.pending);
            let Some(entry) = pending.get_mut(&key) else {
                return;
            };
            entry
                .changed
                .retain(|tag, sequence| changed.get(tag) != Some(sequence));
            if entry.all_changed == all_changed {
                entry.all_changed = None;
            }
            if entry.changed.is_empty() && entry.all_changed.is_none() && entry.reconcile.is_none()
            {
                pending.remove(&key);
                return;
            }
        }
    }

    /// After a failed rewrite: a refused reader is not asked again for a while; a document
    /// that may now miss a change is removed, or else no longer trusted here.
    async fn write_failed(
        &self,
        target: ProjectRef<'_>,
        reconcile_only: bool,
        reconciler: Option<String>,
        error: &IndexError,
    ) {
        let refused = matches!(
            error,
            IndexError::Storage(StorageError::Unauthorized { .. } | StorageError::Forbidden { .. })
        );
        self.metrics
            .record_document_write(if refused { "refused" } else { "failed" });
        if reconcile_only {
            tracing::debug!(oci.repository = %target.repository, "listing document not rewritten: {error}");
            if let (true, Some(caller)) = (refused, reconciler) {
                let mut map = lock(&self.documents.refused);
                forget_old(&mut map, REFUSAL_MEMORY);
                map.insert((caller, target.key.clone()), Instant::now());
            }
            return;
        }
        tracing::warn!(
            oci.repository = %target.repository,
            "the listing document could not be updated after a change ({error}); removing it so that readers use the tags"
        );
        let reference = Reference::Tag(layout::listing_tag());
        let removed = match target
            .store
            .get_manifest(target.repository, &reference)
            .await
        {
            Ok(None) => true,
            Ok(Some(manifest)) => target
                .store
                .delete_manifest(target.repository, &manifest.digest)
                .await
                .is_ok(),
            Err(_) => false,
        };
        if !removed {
            self.distrust(target.key);
        }
    }

    /// Brings the document in step with the tags, re-reading the `changed` tags from the
    /// registry at every round, until it is seen to hold twice (at once and after a pause).
    ///
    /// Whether it wrote anything.
    ///
    /// # Errors
    /// Storage errors; [`IndexError::Contended`] when writers keep overwriting each other.
    async fn write_document(
        &self,
        target: ProjectRef<'_>,
        changed: &ChangedTags,
    ) -> Result<bool, IndexError> {
        let lock_key = format!(
            "{}/{}:{}",
            target.store.location(),
            target.repository,
            layout::LISTING_TAG
        );
        let _guard = self.locks.of(&lock_key).lock().await;
        let mut confirmations = 0;
        let mut wrote = false;
        let mut backed_off = false;
        for round in 0..MAX_ROUNDS {
            let Some((current_digest, current)) = self.current_document(target).await? else {
                // Foreign content or a newer server's document: not ours to replace.
                return Ok(false);
            };
            let wanted = self
                .wanted_document(target, current.as_ref(), changed)
                .await?;
            let done =
                current.as_ref() == Some(&wanted) || (current.is_none() && wanted.tags.is_empty());
            if wrote && !backed_off && !done {
                self.locks.record_merge();
                tokio::time::sleep(pause(round, &lock_key)).await;
                backed_off = true;
                continue;
            }
            backed_off = false;
            if done {
                if !wrote {
                    return Ok(false);
                }
                confirmations += 1;
                if confirmations >= CONFIRMATIONS {
                    return Ok(true);
                }
                tokio::time::sleep(CONFIRMATION_PAUSE).await;
                continue;
            }
            confirmations = 0;
            wrote = true;
            if wanted.tags.is_empty() {
                // No release left: the repository keeps nothing of ours.
                if let Some(digest) = &current_digest {
                    target
                        .store
                        .delete_manifest(target.repository, digest)
                        .await?;
                }
            } else {
                let written = self.put_document(target, &wanted).await?;
                if let Some(old) = current_digest.filter(|old| *old != written) {
                    // The superseded manifest is untagged garbage (shown as an "untagged
                    // version" by some registries): remove it, best effort.
                    let _ = target.store.delete_manifest(target.repository, &old).await;
                }
            }
        }
        Err(IndexError::Contended {
            version: layout::LISTING_TAG.to_owned(),
        })
    }

    /// The document now in the registry: `Some((digest, document))` when there is one that
    /// may be replaced, `Some((None, None))` when there is none or it is unusable but ours,
    /// `None` when it is not ours to replace.
    async fn current_document(
        &self,
        target: ProjectRef<'_>,
    ) -> Result<Option<(Option<Digest>, Option<ProjectListing>)>, IndexError> {
        let reference = Reference::Tag(layout::listing_tag());
        let Some(manifest) = target
            .store
            .get_manifest(target.repository, &reference)
            .await?
        else {
            return Ok(Some((None, None)));
        };
        let parsed = match layout::read_listing_manifest(&manifest.media_type, &manifest.bytes) {
            Ok(parsed) => parsed,
            Err(problem) if problem.replaceable() => {
                return Ok(Some((Some(manifest.digest), None)));
            }
            Err(_) => return Ok(None),
        };
        let bytes = match parsed.inline {
            Some(bytes) => Some(bytes),
            None => super::snapshot::read_blob(target, &parsed.document).await?,
        };
        let listing = bytes.map(|bytes| ProjectListing::parse(&bytes, target.repository));
        match listing {
            Some(Ok(listing)) => Ok(Some((Some(manifest.digest), Some(listing)))),
            Some(Err(problem)) if !problem.replaceable() => Ok(None),
            _ => Ok(Some((Some(manifest.digest), None))),
        }
    }

    /// What the document should say: every release-shaped tag, from `current` when it has
    /// it (and it did not change through this server), else read from the registry; and the
    /// layer sizes its files lack.
    async fn wanted_document(
        &self,
        target: ProjectRef<'_>,
        current: Option<&ProjectListing>,
        changed: &ChangedTags,
    ) -> Result<ProjectListing, IndexError> {
        let tags = target
            .store
            .list_tags(target.repository)
            .await?
            .unwrap_or_default();
        let versions: Vec<(Tag, Version)> = tags
            .into_iter()
            .filter_map(|tag| layout::version_of(&tag).map(|version| (tag, version)))
            .collect();
        let reads = versions.into_iter().map(|(tag, version)| {
            let listed = current.and_then(|c| c.tags.get(&tag)).cloned();
            let keep = listed.is_some() && !changed.contains(&tag);
            async move {
                if keep {
                    return Ok::<_, IndexError>(listed.map(|listed| (tag, listed)));
                }
                // A changed tag is read unconditionally: after a half-done delete,
                // distribution answers 304 for a tag whose manifest is gone.
                let known = if changed.contains(&tag) {
                    None
                } else {
                    self.known_tag(target, &tag, listed.as_ref())
                };
                let read = self.read_tag(target, &tag, &version, known).await?;
                Ok(read.map(|cached| {
                    let listed = ListedTag {
                        digest: cached.digest,
                        index: cached.index,
                    };
                    (tag, listed)
                }))
            }
        });
        let tags: BTreeMap<Tag, ListedTag> = stream::iter(reads)
            .buffer_unordered(self.options.listing_concurrency.max(1))
            .try_filter_map(|found| async move { Ok(found) })
            .try_collect()
            .await?;
        let sizes = self.document_sizes(target, current, &tags).await?;
        Ok(ProjectListing { tags, sizes })
    }

    /// The layer sizes of the files whose index entry records none: known before, or read
    /// from their manifests.
    async fn document_sizes(
        &self,
        target: ProjectRef<'_>,
        current: Option<&ProjectListing>,
        tags: &BTreeMap<Tag, ListedTag>,
    ) -> Result<BTreeMap<Digest, u64>, IndexError> {
        let origin = target.key.0.as_str();
        let mut sizes = BTreeMap::new();
        let mut missing = Vec::new();
        for (tag, listed) in tags {
            let Some(version) = layout::version_of(tag) else {
                continue;
            };
            let Some(bytes) = &listed.index else { continue };
            let Ok(Some(index)) = ReleaseIndex::parse(MEDIA_TYPE_INDEX, bytes, &version) else {
                continue;
            };
            for file in index.files(target.project, &version.to_string()) {
                if file.size.is_some() {
                    continue;
                }
                let known = self
                    .cache
                    .size(origin, &file.manifest)
                    .or_else(|| current?.sizes.get(&file.manifest).copied());
                match known {
                    Some(size) => {
                        sizes.insert(file.manifest, size);
                    }
                    None => missing.push(file.manifest),
                }
            }
        }
        let learnt: Vec<(Digest, Option<u64>)> = stream::iter(missing)
            .map(|digest| async move {
                let size = self.layer_size(target, &digest).await?;
                Ok::<_, IndexError>((digest, size))
            })
            .buffer_unordered(self.options.listing_concurrency.max(1))
            .try_collect()
            .await?;
        sizes.extend(learnt.into_iter().filter_map(|(d, s)| Some((d, s?))));
        Ok(sizes)
    }

    /// The size of a file manifest's layer, read from the manifest (and remembered).
    pub(super) async fn layer_size(
        &self,
        target: ProjectRef<'_>,
        manifest: &Digest,
    ) -> Result<Option<u64>, IndexError> {
        let reference = Reference::Digest(manifest.clone());
        let fetched = target
            .store
            .get_manifest(target.repository, &reference)
            .await?;
        let size = fetched
            .and_then(|m| serde_json::from_slice::<ImageManifest>(&m.bytes).ok())
            .and_then(|m| m.layers.first().map(|layer| layer.size));
        if let Some(size) = size {
            self.cache.store_size(&target.key.0, manifest.clone(), size);
        }
        Ok(size)
    }

    /// Stores `listing` under the listing tag; returns the manifest's digest.
    async fn put_document(
        &self,
        target: ProjectRef<'_>,
        listing: &ProjectListing,
    ) -> Result<Digest, IndexError> {
        let document = listing.to_bytes(target.repository);
        let store = target.store;
        store
            .push_small_blob(target.repository, document.clone(), false)
            .await?;
        store
            .push_small_blob(target.repository, Bytes::from_static(EMPTY_BLOB), false)
            .await?;
        let reference = Reference::Tag(layout::listing_tag());
        let created = super::upload::now_rfc3339();
        let manifest = layout::listing_manifest(&document, &created);
        match store
            .put_manifest(target.repository, &reference, MEDIA_TYPE_MANIFEST, manifest)
            .await
        {
            Ok(digest) => Ok(digest),
            // A registry that refuses the embedded copy (`data`, OCI 1.1) still takes the
            // manifest without it.
            Err(StorageError::Upstream { status: 400, .. }) => {
                let plain = layout::listing_manifest_without_data(&document, &created);
                Ok(store
                    .put_manifest(target.repository, &reference, MEDIA_TYPE_MANIFEST, plain)
                    .await?)
            }
            Err(error) => Err(error.into()),
        }
    }
}

fn forget_old<K: Eq + std::hash::Hash>(map: &mut HashMap<K, Instant>, age: Duration) {
    if map.len() >= MAX_REMEMBERED {
        map.retain(|_, at| at.elapsed() < age);
        if map.len() >= MAX_REMEMBERED {
            map.clear();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
