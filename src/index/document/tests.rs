//! The listing document's write protocol against writers acting meanwhile.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::ChangedTags;
use super::write::Rewrite;
use crate::index::snapshot::ProjectRef;
use crate::index::test_store::{Meanwhile, TestStore, file_entry};
use crate::index::update::{CONFIRMATION_PAUSE, Plan, read_release, update_release};
use crate::index::{Index, IndexError, IndexOptions, ListingDocuments};
use crate::layout::{self, ListedTag, ProjectListing, ReleaseIndex};
use crate::layout::{ANNOTATION_CREATED, ANNOTATION_SHA256, ANNOTATION_TITLE};
use crate::packaging::{ProjectName, Version};
use crate::storage::local::LocalStore;
use crate::storage::oci::{Descriptor, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::storage::registry::{ClientOptions, RegistryClient};
use crate::storage::{Manifests as _, Reference, Repository, Store, Tag};
use crate::telemetry::Metrics;

fn repository() -> Repository {
    Repository::parse("team/python/pkg").unwrap()
}

/// Release `version`: its version and tag.
fn release(version: &str) -> (Version, Tag) {
    let version: Version = version.parse().unwrap();
    let tag = layout::tag_for(&version).unwrap();
    (version, tag)
}

fn index() -> Index {
    let metrics = Arc::new(Metrics::default());
    let options = ClientOptions {
        metrics: Arc::clone(&metrics),
        ..ClientOptions::default()
    };
    Index::new(
        RegistryClient::new(&options).unwrap(),
        metrics,
        IndexOptions {
            listing_documents: ListingDocuments::Write,
            listing_concurrency: 8,
            listing_audit_interval: Duration::from_secs(600),
            ..IndexOptions::default()
        },
    )
}

/// Writes the document of `team/python/pkg` after a change of the releases `changed`.
async fn write_document(
    index: &Index,
    store: &dyn Store,
    changed: &[&str],
) -> Result<Rewrite, IndexError> {
    let repository = repository();
    let project = ProjectName::parse("pkg").unwrap();
    let key = (store.location(), repository.to_string());
    let target = ProjectRef {
        store,
        key: &key,
        repository: &repository,
        project: &project,
    };
    let changed = ChangedTags {
        all: false,
        tags: changed.iter().map(|version| release(version).1).collect(),
    };
    index.write_document(target, &changed).await
}

/// Adds a file to release `version` the way another writer does, straight to the store.
async fn add_file(store: &LocalStore, version: &str, file: &str) {
    add_entry(store, version, file_entry(file)).await;
}

/// Adds the wheel `pkg-1.0-py3-none-linux_<n>.whl`, uploaded now, to release 1.0 the way
/// another writer does: the release is young.
async fn upload_wheel(store: &LocalStore, n: usize) {
    let filename = format!("pkg-1.0-py3-none-linux_{n}.whl");
    let mut entry = Descriptor::of(MEDIA_TYPE_MANIFEST, filename.as_bytes());
    let uploaded = crate::index::upload::now_rfc3339();
    for (key, value) in [
        (ANNOTATION_TITLE, filename.clone()),
        (ANNOTATION_SHA256, format!("{n:064x}")),
        (ANNOTATION_CREATED, uploaded),
    ] {
        entry.annotations.insert(key.to_owned(), value);
    }
    add_entry(store, "1.0", entry).await;
}

/// Adds `entry` to release `version`, straight to the store.
async fn add_entry(store: &LocalStore, version: &str, entry: Descriptor) {
    let repository = repository();
    let (version, tag) = release(version);
    let current = read_release(store, &repository, &tag, &version)
        .await
        .unwrap();
    let mut index = current.map_or_else(
        || ReleaseIndex::new("2026-01-01T00:00:00Z"),
        |(index, _)| index,
    );
    index.upsert(entry);
    let bytes = index.to_bytes(&version).unwrap();
    let reference = Reference::Tag(tag);
    let put = store.put_manifest(&repository, &reference, MEDIA_TYPE_INDEX, bytes);
    put.await.unwrap();
}

/// The document stored now.
async fn stored_document(store: &LocalStore) -> ProjectListing {
    let reference = Reference::Tag(layout::listing_tag());
    let manifest = store.get_manifest(&repository(), &reference).await.unwrap();
    let manifest = manifest.expect("a document");
    let parsed = layout::read_listing_manifest(&manifest.media_type, &manifest.bytes).unwrap();
    ProjectListing::parse(&parsed.inline.expect("inline"), &repository()).unwrap()
}

/// What release `version` is stored as: its manifest digest.
async fn stored_release(store: &LocalStore, version: &str) -> ListedTag {
    let reference = Reference::Tag(release(version).1);
    let manifest = store.get_manifest(&repository(), &reference).await.unwrap();
    let manifest = manifest.expect("the release");
    ListedTag {
        digest: manifest.digest,
        index: Some(manifest.bytes),
    }
}

/// Stores a document of `releases` the way another writer does.
async fn put_document(store: &LocalStore, releases: Vec<(&str, ListedTag)>) {
    let tags = releases
        .into_iter()
        .map(|(version, listed)| (release(version).1, listed))
        .collect();
    let listing = ProjectListing {
        tags,
        sizes: BTreeMap::new(),
    };
    let repository = repository();
    let document = listing.to_bytes(&repository);
    let manifest = layout::listing_index(&document, "2026-01-01T00:00:00Z").unwrap();
    let reference = Reference::Tag(layout::listing_tag());
    let put = store.put_manifest(&repository, &reference, MEDIA_TYPE_INDEX, manifest);
    put.await.unwrap();
}

/// A hook that uploads a new wheel to release 1.0 each time, from the `first`-th call on.
fn uploads_to_one_release(first: usize) -> Meanwhile {
    let calls = Arc::new(AtomicUsize::new(0));
    Box::new(move |store| {
        let call = calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if call >= first {
                upload_wheel(&store, call).await;
            }
        })
    })
}

/// Another writer keeps adding files to the changed release, a new one between any two
/// reads of the document. The document written still holds through both looks, so the write
/// ends: the later changes are their writers' to bring in (for changes through this process,
/// the next round of the job). It used to be taken for a lost write at every look, until the
/// job gave up and deleted the document.
#[tokio::test(start_paused = true)]
async fn a_release_that_keeps_changing_does_not_keep_its_document_from_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = TestStore::registry(dir.path())
        .before_reads_of(layout::listing_tag(), uploads_to_one_release(0));
    add_file(&store.inner(), "1.0", "ours.whl").await;
    let index = index();
    let written = write_document(&index, &store, &["1.0"]).await;
    assert!(
        matches!(written, Ok(Rewrite { wrote: true, .. })),
        "{written:?}"
    );
    let document = stored_document(&store.inner()).await;
    let listed = &document.tags[&release("1.0").1];
    let index_text = String::from_utf8_lossy(listed.index.as_deref().unwrap()).into_owned();
    assert!(index_text.contains("ours.whl"), "{index_text}");
}

/// The job writing a document holds no lock a release writer takes: an upload to any release
/// (here one whose lock shares its stripe with the key the job used to lock) goes on while a
/// document write takes 5 s to land.
#[tokio::test(start_paused = true)]
async fn a_document_being_written_holds_up_no_release_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = TestStore::registry(dir.path())
        .slow_writes_of(layout::listing_tag(), Duration::from_secs(5));
    add_file(&store.inner(), "1.0", "ours.whl").await;
    let index = index();
    let repository = repository();
    let lock_key = |tag: &str| format!("{}/{repository}:{tag}", store.location());
    let document_lock = index.locks.of(&lock_key(layout::LISTING_TAG));
    let sharing = (1..1_000)
        .map(|minor| format!("2.{minor}"))
        .find(|version| std::ptr::eq(index.locks.of(&lock_key(version)), document_lock))
        .expect("a release whose lock shares the stripe");
    let (version, tag) = release(&sharing);
    let upload = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let started = Instant::now();
        let added = update_release(
            &index.locks,
            &store,
            &repository,
            &tag,
            &version,
            |current| {
                if current.is_some() {
                    return Ok(Plan::Done);
                }
                let mut index = ReleaseIndex::new("2026-01-01T00:00:00Z");
                index.upsert(file_entry("new.whl"));
                Ok(Plan::Put(index))
            },
        );
        added.await.unwrap();
        started.elapsed()
    };
    let (written, took) = tokio::join!(write_document(&index, &store, &["1.0"]), upload);
    assert!(
        matches!(written, Ok(Rewrite { wrote: true, .. })),
        "{written:?}"
    );
    // Its own write and confirmation pause, not the document's 5 s.
    assert!(took < CONFIRMATION_PAUSE * 2, "{took:?}");
}

/// Two processes sharing a local store: the other one adds release 2.0 and writes its own
/// document (with release 1.0 as it read it, before our change) between this job's read of
/// the document and its write. The write is refused rather than made over it; the job reads
/// again and merges, and the document lists both releases, 1.0 with our change, with no
/// confirmation pause.
#[tokio::test(start_paused = true)]
async fn a_document_written_over_another_processs_is_refused_and_merged() {
    let dir = tempfile::tempdir().unwrap();
    let seeded = LocalStore::open(dir.path()).unwrap();
    add_file(&seeded, "1.0", "first.whl").await;
    let before_ours = stored_release(&seeded, "1.0").await;
    add_file(&seeded, "1.0", "ours.whl").await;
    let mut raced = false;
    let other_writer: Meanwhile = Box::new(move |store| {
        let first = !std::mem::replace(&mut raced, true);
        let before_ours = before_ours.clone();
        Box::pin(async move {
            if first {
                add_file(&store, "2.0", "theirs.whl").await;
                let theirs = stored_release(&store, "2.0").await;
                put_document(&store, vec![("1.0", before_ours), ("2.0", theirs)]).await;
            }
        })
    });
    let store = TestStore::local(dir.path()).before_reads_of(release("1.0").1, other_writer);
    let index = index();
    let started = Instant::now();
    let written = write_document(&index, &store, &["1.0"]).await;
    assert!(
        matches!(written, Ok(Rewrite { wrote: true, .. })),
        "{written:?}"
    );
    assert!(
        started.elapsed() < CONFIRMATION_PAUSE,
        "{:?}",
        started.elapsed()
    );
    let document = stored_document(&store.inner()).await;
    let listed: Vec<&str> = document.tags.keys().map(Tag::as_str).collect();
    assert_eq!(listed, ["1.0", "2.0"]);
    assert_eq!(
        document.tags[&release("1.0").1],
        stored_release(&store.inner(), "1.0").await
    );
}

/// A registry where documents take longer than the confirmation pause to land, and
/// `meanwhile` runs before each read of the document.
fn slow_document_writes(dir: &std::path::Path, meanwhile: Meanwhile) -> TestStore {
    let slow = CONFIRMATION_PAUSE + Duration::from_millis(100);
    TestStore::registry(dir)
        .slow_writes_of(layout::listing_tag(), slow)
        .before_reads_of(layout::listing_tag(), meanwhile)
}

/// A document write that took longer than the confirmation pause to land may have come
/// after another writer's confirmation of a later change: its looks also check that the
/// changed releases did not move since, and write again when one did.
#[tokio::test(start_paused = true)]
async fn a_document_written_slowly_is_checked_against_its_releases_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut calls = 0;
    let one_later_upload: Meanwhile = Box::new(move |store| {
        calls += 1;
        let second = calls == 2;
        Box::pin(async move {
            if second {
                add_file(&store, "1.0", "later.whl").await;
            }
        })
    });
    let store = slow_document_writes(dir.path(), one_later_upload);
    add_file(&store.inner(), "1.0", "ours.whl").await;
    let written = write_document(&index(), &store, &["1.0"]).await;
    assert!(
        matches!(written, Ok(Rewrite { wrote: true, .. })),
        "{written:?}"
    );
    let document = stored_document(&store.inner()).await;
    assert_eq!(
        document.tags[&release("1.0").1],
        stored_release(&store.inner(), "1.0").await
    );
}

/// The rewrite ended after one write of the document, release 1.0 left for another rewrite.
fn assert_wrote_once_leaving_a_young_release(
    store: &TestStore,
    written: Result<Rewrite, IndexError>,
) {
    let wanted = Rewrite {
        wrote: true,
        again: vec![release("1.0").1],
    };
    assert_eq!(written.unwrap(), wanted);
    assert_eq!(store.writes.lock().unwrap().len(), 1);
}

/// A slow write while uploads keep coming to the changed release: the document written
/// differs from the release at every look, but only in a young release, which readers read
/// from the registry whatever the document says. So the write ends and hands the release to
/// another rewrite (the job's next round), where re-checking the release at every look
/// would write again until the job gave up and deleted the document.
#[tokio::test(start_paused = true)]
async fn a_slow_document_write_ends_while_its_young_release_keeps_changing() {
    let dir = tempfile::tempdir().unwrap();
    let store = slow_document_writes(dir.path(), uploads_to_one_release(0));
    upload_wheel(&store.inner(), 1_000).await;
    let written = write_document(&index(), &store, &["1.0"]).await;
    assert_wrote_once_leaving_a_young_release(&store, written);
}

/// Two replicas' rewrites while uploads keep coming to one release: the other one replaces
/// our document, a step behind the release (as ours is by then). Its document differs from
/// what we would write only in that young release, which moved since we decided ours: it is
/// taken as ours and the release handed to another rewrite, rather than written over and
/// replaced again, round after round, until one side gives up.
#[tokio::test(start_paused = true)]
async fn another_replicas_document_a_step_behind_a_young_release_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let other_replica: Meanwhile = Box::new(move |store| {
        let call = calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if call >= 1 {
                upload_wheel(&store, 2 * call).await;
            }
            if call == 1 {
                let theirs = stored_release(&store, "1.0").await;
                put_document(&store, vec![("1.0", theirs)]).await;
                upload_wheel(&store, 2 * call + 1).await;
            }
        })
    });
    let store =
        TestStore::registry(dir.path()).before_reads_of(layout::listing_tag(), other_replica);
    upload_wheel(&store.inner(), 1_000).await;
    let written = write_document(&index(), &store, &["1.0"]).await;
    assert_wrote_once_leaving_a_young_release(&store, written);
}

/// The same later change, after a write that landed at once: the document stays as written
/// (the change is its own writer's to bring in), and no second write is made.
#[tokio::test(start_paused = true)]
async fn a_change_after_a_quick_document_write_is_left_to_its_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = TestStore::registry(dir.path())
        .before_reads_of(layout::listing_tag(), uploads_to_one_release(1));
    add_file(&store.inner(), "1.0", "ours.whl").await;
    let written = write_document(&index(), &store, &["1.0"]).await;
    assert!(
        matches!(written, Ok(Rewrite { wrote: true, .. })),
        "{written:?}"
    );
    let listing_writes = store.writes.lock().unwrap().len();
    assert_eq!(listing_writes, 1);
    let document = stored_document(&store.inner()).await;
    assert_ne!(
        document.tags[&release("1.0").1],
        stored_release(&store.inner(), "1.0").await
    );
}
