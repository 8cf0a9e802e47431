//! Changing a release index safely when several writers (tasks of this process, or other
//! replicas) change the same release at once. Registries offer no compare-and-swap on tags, so
//! each change is an optimistic loop: read the index, decide, write, then read again until the
//! change is seen twice, once at once and once after a pause; a writer that finds its change overwritten
//! merges and writes again. Within one process, writers of one release also take a lock for
//! their read, decision and write (not for the pause, which they wait out together). A
//! store that can change a tag only while it still points where it did (the local store,
//! under its directory lock) needs no confirmation: the write either lands on what was read
//! or is refused, and the writer reads and merges again. The pause outlasts twice the
//! read-to-write windows this process measured lately ([`Windows`]), and a release that lists
//! a file whose manifest was deleted (a delete overwritten by a stale writer) is written
//! again without it.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt as _, TryStreamExt as _};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::IndexError;
use super::stripes::Stripes;
use crate::layout::ReleaseIndex;
use crate::packaging::Version;
use crate::storage::oci::MEDIA_TYPE_INDEX;
use crate::storage::{Digest, Reference, Repository, StorageError, Store, Tag, TagChange};
use crate::telemetry::Metrics;

/// Lock stripes: writers of one release in this process never race each other.
const STRIPES: usize = 64;
/// Rounds of read-decide-write before giving up with 503.
pub(super) const MAX_ROUNDS: usize = 12;
/// Consecutive confirmations needed after a write: one at once, one after a pause.
pub(super) const CONFIRMATIONS: usize = 2;
/// How long after a write lands the second confirmation looks, at least: longer than another
/// writer takes from reading the index to having its write land, so a write that raced ours
/// is seen and merged. Twice the longest such window this process saw lately when that is
/// longer ([`Windows`]).
pub(super) const CONFIRMATION_PAUSE: Duration = Duration::from_millis(300);
/// The longest confirmation pause, however slow the registry.
const MAX_PAUSE: Duration = Duration::from_secs(10);
/// Read-to-write windows are remembered for between one and two of these.
const WINDOW_SPAN: Duration = Duration::from_secs(30);

/// The read-to-write windows of this process's writes lately (from the start of the read a
/// change was decided on to its write's answer). Other writers of the store (other
/// replicas) reach it through the same registry at the same time, so theirs are about as
/// long: under load, or with a registry far away, a window can outlast the fixed pause, and
/// a write that raced ours would land after our second look. The pause grows with them.
#[derive(Debug, Default)]
pub(super) struct Windows {
    state: std::sync::Mutex<WindowState>,
}

#[derive(Debug, Default)]
struct WindowState {
    /// When the current span began.
    since: Option<Instant>,
    /// The longest window of the current span and of the one before.
    current: Duration,
    previous: Duration,
}

impl Windows {
    /// Notes a write that landed at `landed`, decided on a read that began at `read`; the
    /// confirmation pause as it was before it (what the other writers go by).
    pub(super) fn record(&self, read: Instant, landed: Instant) -> Duration {
        let mut state = self.lock();
        let pause = Self::pause_of(&state);
        state.current = state.current.max(landed - read);
        pause
    }

    /// Waits for the second confirmation's look: the confirmation pause after the write
    /// landed (`written`), the first look's own time included.
    pub(super) async fn second_look(&self, written: Instant) {
        tokio::time::sleep_until(written + self.pause()).await;
    }

    /// [`CONFIRMATION_PAUSE`], or twice the longest recent window, up to [`MAX_PAUSE`].
    fn pause(&self) -> Duration {
        Self::pause_of(&self.lock())
    }

    fn pause_of(state: &WindowState) -> Duration {
        (state.current.max(state.previous) * 2).clamp(CONFIRMATION_PAUSE, MAX_PAUSE)
    }

    /// The state, its spans moved on to now.
    fn lock(&self) -> std::sync::MutexGuard<'_, WindowState> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let since = *state.since.get_or_insert(now);
        let age = now - since;
        if age >= WINDOW_SPAN {
            state.previous = if age >= WINDOW_SPAN * 2 {
                Duration::ZERO
            } else {
                state.current
            };
            state.current = Duration::ZERO;
            state.since = Some(now);
        }
        state
    }
}

/// Striped locks keyed by registry, repository and tag, where merges are counted, and the
/// recent read-to-write windows that set the confirmation pause.
#[derive(Debug)]
pub struct ReleaseLocks {
    stripes: Stripes<Mutex<()>>,
    metrics: Arc<Metrics>,
    windows: Windows,
}

impl Default for ReleaseLocks {
    fn default() -> Self {
        Self::new(Arc::default())
    }
}

impl ReleaseLocks {
    /// Locks whose merges are counted in `metrics`.
    #[must_use]
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            stripes: Stripes::new(STRIPES, || Mutex::new(())),
            metrics,
            windows: Windows::default(),
        }
    }

    /// The lock of the release under `key` (`<store>/<repository>:<tag>`).
    #[cfg(test)]
    pub(super) fn of(&self, key: &str) -> &Mutex<()> {
        self.stripes.get(key)
    }

    /// Counts a change found overwritten by another writer and merged again.
    pub(super) fn record_merge(&self) {
        self.metrics.record_release_merge();
    }
}

/// What a writer wants done to the index it just read.
#[derive(Debug)]
pub enum Plan {
    /// The index already says what the writer wants.
    Done,
    /// Store this index under the tag.
    Put(ReleaseIndex),
    /// Remove the index (the release has no files left).
    Remove,
}

/// The release index under a tag, with its digest; `Ok(None)` when the tag does not exist.
///
/// # Errors
/// [`IndexError::ForeignTag`] when the tag holds something else; storage errors.
pub async fn read_release(
    store: &dyn Store,
    repository: &Repository,
    tag: &Tag,
    version: &Version,
) -> Result<Option<(ReleaseIndex, Digest)>, IndexError> {
    let reference = Reference::Tag(tag.clone());
    let Some(manifest) = store.get_manifest(repository, &reference).await? else {
        return Ok(None);
    };
    match ReleaseIndex::parse(&manifest.media_type, &manifest.bytes, version)? {
        Some(index) => Ok(Some((index, manifest.digest))),
        None => Err(IndexError::ForeignTag {
            tag: tag.to_string(),
        }),
    }
}

/// Applies `decide` to the release until the store holds its result: written only over the
/// index it was decided on where the store can check that ([`Store::put_tag_if`]), else
/// written and confirmed by two reads, at once and [`CONFIRMATION_PAUSE`] after. `decide`
/// must be idempotent: given an index that already reflects the change, it answers
/// [`Plan::Done`].
///
/// # Errors
/// What `decide` returns; [`IndexError::Contended`] when the loop does not converge; storage
/// errors.
pub async fn update_release<F>(
    locks: &ReleaseLocks,
    store: &dyn Store,
    repository: &Repository,
    tag: &Tag,
    version: &Version,
    decide: F,
) -> Result<(), IndexError>
where
    F: FnMut(Option<&ReleaseIndex>) -> Result<Plan, IndexError> + Send,
{
    let nothing_before = async { Ok(()) };
    update_release_after(
        locks,
        store,
        repository,
        tag,
        version,
        nothing_before,
        decide,
    )
    .await
}

/// [`update_release`] for a writer that has something to store first which the index will
/// refer to (an upload's file manifest): `before` runs alongside the first read of the index,
/// under the release's lock, and the index is written only once it is done, so the change
/// costs one round trip to the registry less.
///
/// # Errors
/// What `before` or `decide` returns; as [`update_release`].
pub async fn update_release_after<B, F>(
    locks: &ReleaseLocks,
    store: &dyn Store,
    repository: &Repository,
    tag: &Tag,
    version: &Version,
    before: B,
    mut decide: F,
) -> Result<(), IndexError>
where
    B: Future<Output = Result<(), IndexError>> + Send,
    F: FnMut(Option<&ReleaseIndex>) -> Result<Plan, IndexError> + Send,
{
    let key = format!("{}/{repository}:{tag}", store.location());
    let lock = locks.stripes.get(&key);
    let mut guard = lock.lock().await;
    let started = Instant::now();
    let before = async { (before.await, Instant::now()) };
    let read = async {
        let read = read_release(store, repository, tag, version).await;
        (read, Instant::now())
    };
    let ((done, before_done), (first, read_done)) = tokio::join!(before, read);
    done?;
    // A writer's read-to-write time is what the other writers' second look waits out: the
    // first read is used only if `before` ended within one more read's time of it, else the
    // index is read again.
    let fresh = before_done <= read_done + (read_done - started);
    let mut first = if fresh { Some(first?) } else { None };
    let mut confirmations = 0;
    let mut written = None;
    let mut backed_off = false;
    let mut prune = false;
    for round in 0..MAX_ROUNDS {
        let read = if first.is_some() {
            started
        } else {
            Instant::now()
        };
        let mut current = match first.take() {
            Some(current) => current,
            None => read_release(store, repository, tag, version).await?,
        };
        if std::mem::take(&mut prune) {
            if let Some((index, _)) = &mut current {
                drop_deleted_files(store, repository, index).await?;
            }
        }
        let wrote = written.is_some();
        let plan = decide(current.as_ref().map(|(index, _)| index))?;
        if wrote && !backed_off && !matches!(plan, Plan::Done) {
            // Our change was overwritten: back off (with jitter), then read again and merge
            // what is there then, so competing writers drift apart instead of colliding.
            locks.record_merge();
            tokio::time::sleep(pause(round, &key)).await;
            backed_off = true;
            continue;
        }
        backed_off = false;
        match plan {
            Plan::Done if !wrote => return Ok(()),
            Plan::Done => {
                confirmations += 1;
                if confirmations >= CONFIRMATIONS {
                    return Ok(());
                }
                // The second look comes after another writer's read-to-write time has passed
                // since ours landed. Meanwhile the other writers of this release in this
                // process go on: they read after our write, so what they write keeps it.
                if let Some(written) = written {
                    drop(guard);
                    locks.windows.second_look(written).await;
                    guard = lock.lock().await;
                }
            }
            Plan::Put(index) => {
                confirmations = 0;
                let expected = current.as_ref().map(|(_, digest)| digest);
                let target = (repository, tag, version);
                match put_index(store, target, expected, &index).await? {
                    Put::Swapped => return Ok(()),
                    Put::Moved => locks.record_merge(),
                    Put::Landed(landed) => {
                        locks.windows.record(read, landed);
                        written = Some(landed);
                    }
                    Put::ListsDeleted => {
                        // What we read lists a file whose manifest is gone: a delete another
                        // writer overwrote after removing the manifest. The registry keeps the
                        // index from pointing at it; read again and leave such files out.
                        tracing::warn!(oci.repository = %repository, oci.tag = %tag, "the release lists a file whose manifest was deleted: leaving it out");
                        locks.record_merge();
                        prune = true;
                    }
                }
            }
            Plan::Remove => {
                confirmations = 0;
                let Some((_, digest)) = current else {
                    written = Some(Instant::now());
                    continue;
                };
                match store.delete_tag_if(repository, tag, &digest).await? {
                    TagChange::Done => return Ok(()),
                    TagChange::Moved => locks.record_merge(),
                    TagChange::Unsupported => {
                        store.delete_manifest(repository, &digest).await?;
                        let landed = Instant::now();
                        locks.windows.record(read, landed);
                        written = Some(landed);
                    }
                }
            }
        }
    }
    Err(IndexError::Contended {
        version: version.to_string(),
    })
}

/// How a write of a release index went.
enum Put {
    /// Done over what was read, checked in the same step (a store that can check).
    Swapped,
    /// Not done: the tag moved since it was read.
    Moved,
    /// Written unconditionally (a registry), landed then: to be confirmed.
    Landed(Instant),
    /// Refused: the index lists a manifest the store does not have.
    ListsDeleted,
}

/// Writes `index` under the release's tag, over `expected` (the digest read) where the store
/// can check that.
async fn put_index(
    store: &dyn Store,
    (repository, tag, version): (&Repository, &Tag, &Version),
    expected: Option<&Digest>,
    index: &ReleaseIndex,
) -> Result<Put, IndexError> {
    let bytes = index.to_bytes(version)?;
    let swap = store.put_tag_if(repository, tag, expected, MEDIA_TYPE_INDEX, bytes.clone());
    Ok(match swap.await? {
        TagChange::Done => Put::Swapped,
        TagChange::Moved => Put::Moved,
        TagChange::Unsupported => {
            let reference = Reference::Tag(tag.clone());
            match store
                .put_manifest(repository, &reference, MEDIA_TYPE_INDEX, bytes)
                .await
            {
                Ok(_) => Put::Landed(Instant::now()),
                Err(error) if refers_to_deleted_manifest(&error) => Put::ListsDeleted,
                Err(error) => return Err(error.into()),
            }
        }
    })
}

/// Whether the registry refused an index because it lists a manifest it does not have
/// (distribution: `MANIFEST_BLOB_UNKNOWN`).
fn refers_to_deleted_manifest(error: &StorageError) -> bool {
    matches!(error, StorageError::Upstream { status: 400, code, .. } if code.contains("MANIFEST_BLOB_UNKNOWN"))
}

/// Leaves out of `index` the files whose manifest the store no longer has: deleted, their
/// entry brought back by a writer that read the release before the delete.
async fn drop_deleted_files(
    store: &dyn Store,
    repository: &Repository,
    index: &mut ReleaseIndex,
) -> Result<(), IndexError> {
    let checks = index
        .manifest_digests()
        .into_iter()
        .map(|digest| async move {
            let reference = Reference::Digest(digest.clone());
            let found = store.get_manifest(repository, &reference).await?;
            Ok::<_, StorageError>((digest, found.is_some()))
        });
    let found: Vec<(Digest, bool)> = futures_util::stream::iter(checks)
        .buffer_unordered(8)
        .try_collect()
        .await?;
    let gone: Vec<Digest> = found
        .into_iter()
        .filter_map(|(digest, found)| (!found).then_some(digest))
        .collect();
    index.retain_manifests(|digest| !gone.contains(digest));
    Ok(())
}

/// A pause that grows with the round, with jitter so that competing writers drift apart.
pub(super) fn pause(round: usize, key: &str) -> Duration {
    let jitter = RandomState::new().hash_one((round, key)) % 50;
    let base = 30_u64.saturating_mul(1 << round.min(5));
    Duration::from_millis(base + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::test_store::{TestStore, file_entry};
    use crate::storage::Manifests as _;
    use crate::storage::local::LocalStore;
    use crate::storage::oci::MEDIA_TYPE_MANIFEST;
    use bytes::Bytes;

    /// How long a manifest read takes in these tests: a registry far away.
    const FAR: Duration = Duration::from_millis(120);

    /// A store without conditional tag changes, like a registry, [`FAR`] away, over the local
    /// store in `dir`.
    fn far_registry(dir: &std::path::Path) -> TestStore {
        TestStore::registry(dir).far(FAR)
    }

    /// The architectures of the files of `index`, sorted.
    fn architectures(index: &ReleaseIndex) -> Vec<String> {
        let text = index.to_bytes(&release().1).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let mut found: Vec<String> = value["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| {
                entry["platform"]["architecture"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        found.sort();
        found
    }

    /// Release 1.0 of `team/python/pkg`: its repository, version and tag.
    fn release() -> (Repository, Version, Tag) {
        let repository = Repository::parse("team/python/pkg").unwrap();
        let version: Version = "1.0".parse().unwrap();
        let tag = crate::layout::tag_for(&version).unwrap();
        (repository, version, tag)
    }

    /// What [`release`] holds now.
    async fn stored_release(store: &dyn Store) -> ReleaseIndex {
        let (repository, version, tag) = release();
        let read = read_release(store, &repository, &tag, &version).await;
        read.unwrap().unwrap().0
    }

    /// Makes [`release`] hold `wanted` through the optimistic loop (idempotently: done when
    /// it does); the decisions that took.
    async fn store_release(store: &dyn Store, wanted: &ReleaseIndex) -> usize {
        let (repository, version, tag) = release();
        let mut decisions = 0;
        update_release(
            &ReleaseLocks::default(),
            store,
            &repository,
            &tag,
            &version,
            |current| {
                decisions += 1;
                holding(wanted, current)
            },
        )
        .await
        .unwrap();
        decisions
    }

    /// The decision of a writer that wants `wanted` stored: done once it is.
    #[expect(clippy::unnecessary_wraps, reason = "the shape `update_release` takes")]
    fn holding(wanted: &ReleaseIndex, current: Option<&ReleaseIndex>) -> Result<Plan, IndexError> {
        Ok(match current {
            Some(index) if index == wanted => Plan::Done,
            _ => Plan::Put(wanted.clone()),
        })
    }

    /// The second confirmation looks [`CONFIRMATION_PAUSE`] after the write landed, not later:
    /// the first look's own time counts toward the pause (a far registry's read is not added
    /// to every upload), and never sooner (the guarantee the pause gives).
    #[tokio::test(start_paused = true)]
    async fn the_second_look_comes_a_pause_after_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = far_registry(dir.path());
        let started = Instant::now();
        store_release(&store, &ReleaseIndex::new("2026-01-01T00:00:00Z")).await;
        let reads = store.reads.lock().unwrap().clone();
        let writes = store.writes.lock().unwrap().clone();
        // Read, write, look at once, look again.
        assert_eq!((reads.len(), writes.len()), (3, 1), "{reads:?} {writes:?}");
        let second_look = reads[2] - writes[0];
        assert!(
            second_look >= CONFIRMATION_PAUSE && second_look < CONFIRMATION_PAUSE + FAR,
            "second look {second_look:?} after the write"
        );
        // Three reads and the pause, the first look inside it.
        assert!(
            started.elapsed() < 2 * FAR + CONFIRMATION_PAUSE + FAR / 2,
            "{:?}",
            started.elapsed()
        );
    }

    /// A writer whose change never holds (each read shows an index that is not what it wants,
    /// as when other writers keep overwriting the tag) gives up after [`MAX_ROUNDS`] writes with
    /// [`IndexError::Contended`] (answered 503 with `Retry-After`: see `http::error`).
    #[tokio::test(start_paused = true)]
    async fn a_change_that_never_holds_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = far_registry(dir.path());
        let (repository, version, tag) = release();
        let mut decisions = 0_u32;
        let metrics = Arc::new(Metrics::default());
        let result = update_release(
            &ReleaseLocks::new(Arc::clone(&metrics)),
            &store,
            &repository,
            &tag,
            &version,
            |_current| {
                decisions += 1;
                // Never satisfied by what is there: a new index every time.
                let created = format!("2026-01-01T00:{:02}:{:02}Z", decisions / 60, decisions % 60);
                Ok(Plan::Put(ReleaseIndex::new(&created)))
            },
        )
        .await;
        let Err(error) = result else {
            panic!("converged after {decisions} decisions")
        };
        assert!(
            matches!(&error, IndexError::Contended { version } if version == "1.0"),
            "{error:?}"
        );
        assert_eq!(usize::try_from(decisions).unwrap(), MAX_ROUNDS);
        // Every other round found the last write overwritten and backed off.
        assert!(
            metrics.render().contains(&format!(
                "oci_pypi_release_index_merges_total {}",
                MAX_ROUNDS / 2
            )),
            "{}",
            metrics.render()
        );
    }

    /// An idempotent writer whose change holds writes once and confirms twice.
    #[tokio::test(start_paused = true)]
    async fn a_change_that_holds_is_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let store = far_registry(dir.path());
        let wanted = ReleaseIndex::new("2026-01-01T00:00:00Z");
        // Write, confirm at once, confirm after the pause.
        assert_eq!(store_release(&store, &wanted).await, 3);
        assert_eq!(stored_release(&store).await, wanted);
    }

    /// On a store that changes a tag only while it points where it did (the local store), a
    /// change is written once and not confirmed: no second read, no pause.
    #[tokio::test(start_paused = true)]
    async fn a_store_that_swaps_tags_stores_a_change_without_confirming_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let wanted = ReleaseIndex::new("2026-01-01T00:00:00Z");
        let started = Instant::now();
        assert_eq!(store_release(&store, &wanted).await, 1);
        assert!(
            started.elapsed() < CONFIRMATION_PAUSE,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(stored_release(&store).await, wanted);
    }

    /// Two processes sharing a local store: another one changes the release between this
    /// writer's read and its write. The write is refused, not made over the other's change;
    /// the writer reads again and merges, and both files are kept.
    #[tokio::test]
    async fn a_write_over_another_processs_change_is_refused_and_merged() {
        let dir = tempfile::tempdir().unwrap();
        let ours = LocalStore::open(dir.path()).unwrap();
        let (repository, version, tag) = release();
        let reference = Reference::Tag(tag.clone());
        // The other process: its own store over the same directory, on its own runtime.
        let theirs = |index: &ReleaseIndex| {
            let bytes = index.to_bytes(&version).unwrap();
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    let store = LocalStore::open(dir.path()).unwrap();
                    let put = store.put_manifest(&repository, &reference, MEDIA_TYPE_INDEX, bytes);
                    runtime.block_on(put).unwrap();
                });
            });
        };
        let mut first = ReleaseIndex::new("2026-01-01T00:00:00Z");
        first.upsert(file_entry("first.whl"));
        theirs(&first);
        let mut raced = false;
        let mut decisions = 0;
        let metrics = Arc::new(Metrics::default());
        update_release(
            &ReleaseLocks::new(Arc::clone(&metrics)),
            &ours,
            &repository,
            &tag,
            &version,
            |current| {
                decisions += 1;
                let mut wanted = current.cloned().unwrap();
                if !raced {
                    raced = true;
                    let mut changed = wanted.clone();
                    changed.upsert(file_entry("theirs.whl"));
                    theirs(&changed);
                }
                if architectures(&wanted).contains(&"ours.whl".to_owned()) {
                    return Ok(Plan::Done);
                }
                wanted.upsert(file_entry("ours.whl"));
                Ok(Plan::Put(wanted))
            },
        )
        .await
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(
            architectures(&stored_release(&ours).await),
            ["first.whl", "ours.whl", "theirs.whl"]
        );
        assert_eq!(decisions, 2);
        assert!(
            metrics
                .render()
                .contains("oci_pypi_release_index_merges_total 1"),
            "{}",
            metrics.render()
        );
    }

    /// Makes [`release`] hold `wanted` after `before`; the reads of the index, in order.
    async fn store_release_after(store: &TestStore, wanted: &ReleaseIndex, before: Duration) {
        let (repository, version, tag) = release();
        let before = async move {
            tokio::time::sleep(before).await;
            Ok(())
        };
        update_release_after(
            &ReleaseLocks::default(),
            store,
            &repository,
            &tag,
            &version,
            before,
            |current| holding(wanted, current),
        )
        .await
        .unwrap();
    }

    /// What a change refers to is stored while the index is read: a first read that answered
    /// no more than one read's time before it was done is the one the change is decided on.
    #[tokio::test(start_paused = true)]
    async fn the_first_read_goes_alongside_what_the_change_refers_to() {
        let dir = tempfile::tempdir().unwrap();
        let store = far_registry(dir.path());
        let wanted = ReleaseIndex::new("2026-01-01T00:00:00Z");
        let started = Instant::now();
        store_release_after(&store, &wanted, FAR * 3 / 2).await;
        let reads = store.reads.lock().unwrap().clone();
        let writes = store.writes.lock().unwrap().clone();
        // Read (alongside), write, look at once, look again: no read of its own after `before`.
        assert_eq!((reads.len(), writes.len()), (3, 1), "{reads:?} {writes:?}");
        assert_eq!(reads[0], started);
        assert!(writes[0] - started < FAR * 2, "{:?}", writes[0] - started);
    }

    /// A first read that `before` outlasted by more than one read's time is too old to write
    /// from (other writers' second look waits out a writer's read-to-write time): the index is
    /// read again once `before` is done.
    #[tokio::test(start_paused = true)]
    async fn a_first_read_older_than_another_reads_time_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = far_registry(dir.path());
        let wanted = ReleaseIndex::new("2026-01-01T00:00:00Z");
        let started = Instant::now();
        let before = FAR * 3;
        store_release_after(&store, &wanted, before).await;
        let reads = store.reads.lock().unwrap().clone();
        let writes = store.writes.lock().unwrap().clone();
        assert_eq!((reads.len(), writes.len()), (4, 1), "{reads:?} {writes:?}");
        assert_eq!(reads[0], started);
        assert!(reads[1] - started >= before, "{:?}", reads[1] - started);
    }

    /// Adds a file told apart by `architecture` to [`release`], merging with what is there.
    async fn add_file(locks: &ReleaseLocks, store: &dyn Store, architecture: &str) {
        let (repository, version, tag) = release();
        update_release(locks, store, &repository, &tag, &version, |current| {
            let mut wanted = current
                .cloned()
                .unwrap_or_else(|| ReleaseIndex::new("2026-01-01T00:00:00Z"));
            if architectures(&wanted)
                .iter()
                .any(|found| found == architecture)
            {
                return Ok(Plan::Done);
            }
            wanted.upsert(file_entry(architecture));
            Ok(Plan::Put(wanted))
        })
        .await
        .unwrap();
    }

    /// Two processes (their own locks) add a file to one release at once through a registry
    /// that takes 600 ms (ours) and 1.1 s (theirs) from a read to a landed write: theirs,
    /// decided on a read from before our write, lands after a second look made the fixed
    /// 300 ms after ours. Our pause is twice our own window instead, so that look sees our
    /// file gone and merges it back: both files are kept.
    #[tokio::test(start_paused = true)]
    async fn the_second_look_waits_out_writes_as_slow_as_ours() {
        let dir = tempfile::tempdir().unwrap();
        let tag = release().2;
        let ours = TestStore::registry(dir.path())
            .far(Duration::from_millis(100))
            .slow_writes_of(tag.clone(), Duration::from_millis(500));
        let theirs = TestStore::registry(dir.path())
            .far(Duration::from_millis(100))
            .slow_writes_of(tag, Duration::from_secs(1));
        let (our_locks, their_locks) = (ReleaseLocks::default(), ReleaseLocks::default());
        tokio::join!(
            add_file(&our_locks, &ours, "a.whl"),
            add_file(&their_locks, &theirs, "b.whl")
        );
        assert_eq!(
            architectures(&stored_release(&ours).await),
            ["a.whl", "b.whl"]
        );
    }

    /// A release that lists a file whose manifest is gone (a delete, overwritten by a writer
    /// that read the release before it, after the delete removed the manifest): the
    /// registry refuses every index listing it. The next writer leaves that file out and
    /// stores its change, instead of failing as every writer after it would.
    #[tokio::test(start_paused = true)]
    async fn a_file_whose_manifest_was_deleted_is_left_out_of_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = TestStore::registry(dir.path()).checking_references();
        let (repository, version, tag) = release();
        let inner = store.inner();
        let mut index = ReleaseIndex::new("2026-01-01T00:00:00Z");
        for name in ["kept.whl", "deleted.whl", "new.whl"] {
            let body = Bytes::from(name.as_bytes().to_vec());
            let reference = Reference::Digest(Digest::of(&body));
            let put = inner.put_manifest(&repository, &reference, MEDIA_TYPE_MANIFEST, body);
            put.await.unwrap();
        }
        index.upsert(file_entry("kept.whl"));
        index.upsert(file_entry("deleted.whl"));
        let bytes = index.to_bytes(&version).unwrap();
        let reference = Reference::Tag(tag);
        let put = inner.put_manifest(&repository, &reference, MEDIA_TYPE_INDEX, bytes);
        put.await.unwrap();
        let deleted = Digest::of(b"deleted.whl");
        inner.delete_manifest(&repository, &deleted).await.unwrap();

        add_file(&ReleaseLocks::default(), &store, "new.whl").await;
        assert_eq!(
            architectures(&stored_release(&store).await),
            ["kept.whl", "new.whl"]
        );
    }

    /// Writers of one release in one process (wheels of a build matrix uploaded at once) take
    /// turns to read, decide and write, but wait out their confirmation pauses together:
    /// both files are kept, in less time than two changes one after the other.
    #[tokio::test(start_paused = true)]
    async fn writers_of_one_release_wait_out_their_pauses_together() {
        let dir = tempfile::tempdir().unwrap();
        let store = far_registry(dir.path());
        let locks = ReleaseLocks::default();
        let started = Instant::now();
        tokio::join!(
            add_file(&locks, &store, "a.whl"),
            add_file(&locks, &store, "b.whl")
        );
        let elapsed = started.elapsed();
        assert_eq!(
            architectures(&stored_release(&store).await),
            ["a.whl", "b.whl"]
        );
        // One after the other: two pauses and six reads (1,080 ms here).
        assert!(elapsed < CONFIRMATION_PAUSE * 2 + FAR * 2, "{elapsed:?}");
    }
}
