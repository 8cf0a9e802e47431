//! Changing a release index safely when several writers (tasks of this process, or other
//! replicas) change the same release at once. Registries offer no compare-and-swap on tags, so
//! each change is an optimistic loop: read the index, decide, write, then read again until the
//! change is seen twice, once at once and once after a pause; a writer that finds its change overwritten
//! merges and writes again. Within one process, writers of one release also take a lock for
//! their read, decision and write (not for the pause, which they wait out together). A
//! store that can change a tag only while it still points where it did (the local store,
//! under its directory lock) needs no confirmation: the write either lands on what was read
//! or is refused, and the writer reads and merges again.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::IndexError;
use super::stripes::Stripes;
use crate::layout::ReleaseIndex;
use crate::packaging::Version;
use crate::storage::oci::MEDIA_TYPE_INDEX;
use crate::storage::{Digest, Reference, Repository, Store, Tag, TagChange};
use crate::telemetry::Metrics;

/// Lock stripes: writers of one release in this process never race each other.
const STRIPES: usize = 64;
/// Rounds of read-decide-write before giving up with 503.
pub(super) const MAX_ROUNDS: usize = 12;
/// Consecutive confirmations needed after a write: one at once, one after a pause.
pub(super) const CONFIRMATIONS: usize = 2;
/// How long after a write lands the second confirmation looks: longer than another writer
/// takes from reading the index to having its write land, so a write that raced ours is seen
/// and merged.
pub(super) const CONFIRMATION_PAUSE: Duration = Duration::from_millis(300);

/// Waits for the second confirmation's look: [`CONFIRMATION_PAUSE`] after the write landed
/// (`written`), the first look's own time included.
pub(super) async fn second_look(written: Instant) {
    tokio::time::sleep_until(written + CONFIRMATION_PAUSE).await;
}

/// Striped locks keyed by registry, repository and tag, and where merges are counted.
#[derive(Debug)]
pub struct ReleaseLocks {
    stripes: Stripes<Mutex<()>>,
    metrics: Arc<Metrics>,
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
    for round in 0..MAX_ROUNDS {
        let current = match first.take() {
            Some(current) => current,
            None => read_release(store, repository, tag, version).await?,
        };
        let wrote = written.is_some();
        let plan = decide(current.as_ref().map(|(index, _)| index))?;
        if wrote && !backed_off && !matches!(plan, Plan::Done) {
            // Our change was overwritten: back off (with jitter), then read again and merge
            // what is there then, so competing writers drift apart instead of colliding.
            locks.metrics.record_release_merge();
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
                    second_look(written).await;
                    guard = lock.lock().await;
                }
            }
            Plan::Put(index) => {
                confirmations = 0;
                let bytes = index.to_bytes(version)?;
                let expected = current.as_ref().map(|(_, digest)| digest);
                let swap =
                    store.put_tag_if(repository, tag, expected, MEDIA_TYPE_INDEX, bytes.clone());
                match swap.await? {
                    TagChange::Done => return Ok(()),
                    TagChange::Moved => locks.metrics.record_release_merge(),
                    TagChange::Unsupported => {
                        let reference = Reference::Tag(tag.clone());
                        store
                            .put_manifest(repository, &reference, MEDIA_TYPE_INDEX, bytes)
                            .await?;
                        written = Some(Instant::now());
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
                    TagChange::Moved => locks.metrics.record_release_merge(),
                    TagChange::Unsupported => {
                        store.delete_manifest(repository, &digest).await?;
                        written = Some(Instant::now());
                    }
                }
            }
        }
    }
    Err(IndexError::Contended {
        version: version.to_string(),
    })
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
