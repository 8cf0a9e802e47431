//! Keeping each project's listing document (see `layout::listing`) in step with its tags.
//!
//! Every change through this server (upload, yank, delete, promotion, backfill) marks the
//! release tag it changed, and a reader that finds the document missing, unusable or behind
//! the tags asks for it to be rewritten. One background job per project then rewrites the
//! document with an optimistic protocol like that of release indexes: read, merge, write,
//! then see the document written still there at once and after a pause, and merge again if
//! another writer replaced it (on a store that changes tags conditionally, the write is
//! conditional instead and needs no looks). So changes made at once through several replicas
//! all end up in it. Changed tags are always read from the registry, never taken from the
//! document. A release that changes again once the document is decided does not hold the
//! write up: that change's writer brings it in (in this process, the job's next round). Only
//! a write that took longer than the pause to land, when another writer's confirmation may
//! have come and gone meanwhile, also reads the changed tags again at its looks, and writes
//! again where one moved and the document records it as an old release; a young one (which
//! readers read from the registry anyway, and which may keep moving) is marked changed again
//! for the job's next round instead. So is a young release in which another replica's
//! document, put over ours, is a step behind, when it moved since ours was decided.
//!
//! Until the job has confirmed a change, readers of this process read the changed tags
//! directly (read-your-writes). The job never delays or fails the change that caused it: the
//! release index is the truth, the document a cache of it. When the job cannot write, it
//! removes the document (readers fall back to the tags) or, failing that, stops trusting it
//! in this process.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

#[cfg(test)]
mod tests;
mod write;

use super::cache::ProjectKey;
use super::snapshot::ProjectRef;
use super::update::Windows;
use super::{Index, IndexError, ListingDocuments};
use crate::layout;
use crate::packaging::ProjectName;
use crate::storage::{Reference, Repository, StorageError, Store, Tag};

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
    /// The read-to-write windows of this process's document writes, which set their
    /// confirmation pause (release writes keep their own).
    windows: Windows,
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

    /// The tags, when they are not every tag of the project.
    pub(super) fn some(&self) -> Option<impl Iterator<Item = &Tag>> {
        (!self.all).then(|| self.tags.iter())
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
            let mut again = Vec::new();
            match self.write_document(target, &tags).await {
                Ok(rewrite) => {
                    let result = if rewrite.wrote {
                        "written"
                    } else {
                        "unchanged"
                    };
                    self.metrics.record_document_write(result);
                    lock(&self.documents.distrusted).remove(&key);
                    again = rewrite.again;
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
            for tag in again {
                entry.sequence += 1;
                entry.changed.insert(tag, entry.sequence);
            }
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
        let mut removed = true;
        for tag in [layout::listing_tag(), layout::legacy_listing_tag()] {
            removed &= match target
                .store
                .get_manifest(target.repository, &Reference::Tag(tag))
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
        }
        if !removed {
            self.distrust(target.key);
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
