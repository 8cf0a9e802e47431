//! Round trips through [`LocalStore`] as the index layer uses it, on temporary directories.

use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::TryStreamExt as _;

use super::LocalStore;
use crate::storage::oci::{Descriptor, ImageManifest, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::storage::{
    BlobDownload, BlobRequest, Blobs, Digest, ManifestFetch, Manifests, Reference, Repository,
    StorageError, Store, Tag, TagChange,
};

fn repository(name: &str) -> Repository {
    Repository::parse(name).unwrap()
}

fn tag(name: &str) -> Reference {
    Reference::Tag(Tag::parse(name).unwrap())
}

fn tags(names: &[&str]) -> Vec<Tag> {
    names.iter().map(|name| Tag::parse(name).unwrap()).collect()
}

fn open() -> (tempfile::TempDir, LocalStore) {
    let root = tempfile::tempdir().unwrap();
    let store = LocalStore::open(root.path()).unwrap();
    (root, store)
}

/// A small image manifest whose annotation makes it unique.
fn manifest(note: &str) -> Bytes {
    let mut manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.to_owned()),
        artifact_type: Some("application/pyoci.package.v1".to_owned()),
        config: Descriptor::empty(),
        layers: vec![Descriptor::of("application/pyoci.package.v1", b"file")],
        subject: None,
        annotations: std::collections::BTreeMap::new(),
    };
    manifest
        .annotations
        .insert("note".to_owned(), note.to_owned());
    Bytes::from(serde_json::to_vec(&manifest).unwrap())
}

async fn push_blob(store: &LocalStore, repository: &Repository, bytes: &[u8]) -> Digest {
    let digest = Digest::of(bytes);
    let mut upload = store.start_upload(repository).await.unwrap();
    for chunk in bytes.chunks(1000) {
        upload.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    upload.commit(&digest).await.unwrap();
    digest
}

async fn body(download: BlobDownload) -> Vec<u8> {
    download
        .body
        .try_fold(Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
        .unwrap()
}

async fn fetch(
    store: &LocalStore,
    repository: &Repository,
    digest: &Digest,
    range: Option<&str>,
    head: bool,
) -> BlobDownload {
    let request = BlobRequest {
        range,
        head,
        pass_redirects: true,
        socket: false,
    };
    store
        .get_blob(repository, digest, request)
        .await
        .unwrap()
        .unwrap()
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[tokio::test]
async fn blob_round_trip_with_ranges() {
    let (_root, store) = open();
    let repository = repository("team/python/hello_world");
    let bytes: Vec<u8> = (0..200_000u32).map(|n| (n % 251) as u8).collect();
    let digest = push_blob(&store, &repository, &bytes).await;
    assert!(store.blob_exists(&repository, &digest).await.unwrap());
    let size = bytes.len() as u64;

    let whole = fetch(&store, &repository, &digest, None, false).await;
    assert_eq!(
        (
            whole.status,
            whole.content_length,
            whole.content_range.clone()
        ),
        (200, Some(size), None)
    );
    assert_eq!(body(whole).await, bytes);

    for (range, start, end) in [
        ("bytes=10-19", 10, 19),
        ("bytes=199990-", 199_990, 199_999),
        ("bytes=-100000", 100_000, 199_999),
        ("bytes=65530-70000", 65_530, 70_000),
    ] {
        let part = fetch(&store, &repository, &digest, Some(range), false).await;
        assert_eq!(part.status, 206, "{range}");
        assert_eq!(part.content_length, Some(end - start + 1));
        assert_eq!(
            part.content_range.as_deref(),
            Some(format!("bytes {start}-{end}/{size}").as_str())
        );
        let (start, end) = (
            usize::try_from(start).unwrap(),
            usize::try_from(end).unwrap(),
        );
        assert_eq!(body(part).await, &bytes[start..=end], "{range}");
    }

    let unsatisfiable = fetch(&store, &repository, &digest, Some("bytes=200000-"), false).await;
    assert_eq!(unsatisfiable.status, 416);
    assert_eq!(
        unsatisfiable.content_range.as_deref(),
        Some("bytes */200000")
    );
    assert!(body(unsatisfiable).await.is_empty());

    let several = fetch(&store, &repository, &digest, Some("bytes=0-1,5-6"), false).await;
    assert_eq!((several.status, several.content_length), (200, Some(size)));

    let head = fetch(&store, &repository, &digest, None, true).await;
    assert_eq!((head.status, head.content_length), (200, Some(size)));
    assert!(body(head).await.is_empty());
    let head_range = fetch(&store, &repository, &digest, Some("bytes=0-9"), true).await;
    assert_eq!(
        (head_range.status, head_range.content_length),
        (206, Some(10))
    );

    let absent = Digest::of(b"absent");
    assert!(!store.blob_exists(&repository, &absent).await.unwrap());
    let none = store
        .get_blob(&repository, &absent, BlobRequest::default())
        .await
        .unwrap();
    assert!(none.is_none());
    let elsewhere = store
        .get_blob(&self::repository("other"), &digest, BlobRequest::default())
        .await
        .unwrap();
    assert!(elsewhere.is_none());
}

#[tokio::test]
async fn small_blobs_and_empty_blobs() {
    let (_root, store) = open();
    let repository = repository("ns/app");
    let digest = store
        .push_small_blob(&repository, Bytes::from_static(b"{}"), false)
        .await
        .unwrap();
    assert_eq!(digest, Digest::of(b"{}"));
    // Pushing it again (forced) replaces nothing visible.
    store
        .push_small_blob(&repository, Bytes::from_static(b"{}"), true)
        .await
        .unwrap();
    let empty = push_blob(&store, &repository, b"").await;
    let download = fetch(&store, &repository, &empty, None, false).await;
    assert_eq!((download.status, download.content_length), (200, Some(0)));
    let range = fetch(&store, &repository, &empty, Some("bytes=0-"), false).await;
    assert_eq!(range.status, 416);
    assert_eq!(range.content_range.as_deref(), Some("bytes */0"));
}

#[tokio::test]
async fn manifests_by_digest_and_by_tag() {
    let (_root, store) = open();
    let repository = repository("team/python/hello_world");
    let first = manifest("first");
    let digest = Digest::of(&first);
    let stored = store
        .put_manifest(
            &repository,
            &Reference::Digest(digest.clone()),
            MEDIA_TYPE_MANIFEST,
            first.clone(),
        )
        .await
        .unwrap();
    assert_eq!(stored, digest);
    let by_digest = store
        .get_manifest(&repository, &Reference::Digest(digest.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (by_digest.bytes.clone(), by_digest.media_type.as_str()),
        (first.clone(), MEDIA_TYPE_MANIFEST)
    );
    assert_eq!(
        store.list_tags(&repository).await.unwrap(),
        Some(Vec::new())
    );

    store
        .put_manifest(&repository, &tag("1.0"), MEDIA_TYPE_MANIFEST, first.clone())
        .await
        .unwrap();
    let by_tag = store
        .get_manifest(&repository, &tag("1.0"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (by_tag.digest.clone(), by_tag.bytes.clone()),
        (digest.clone(), first.clone())
    );
    let unchanged = store
        .get_manifest_if_changed(&repository, &tag("1.0"), Some(&digest))
        .await
        .unwrap();
    assert!(matches!(unchanged, ManifestFetch::Unchanged));
    let missing = store
        .get_manifest_if_changed(&repository, &tag("2.0"), None)
        .await
        .unwrap();
    assert!(matches!(missing, ManifestFetch::Missing));

    // An index, stored with its media type; replacing the tag keeps one entry.
    let index = Bytes::from_static(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#);
    store
        .put_manifest(&repository, &tag("2.0"), MEDIA_TYPE_INDEX, index.clone())
        .await
        .unwrap();
    let second = manifest("second");
    store
        .put_manifest(
            &repository,
            &tag("1.0"),
            MEDIA_TYPE_MANIFEST,
            second.clone(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.list_tags(&repository).await.unwrap(),
        Some(tags(&["1.0", "2.0"]))
    );
    let replaced = store
        .get_manifest(&repository, &tag("1.0"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replaced.bytes, second);
    let changed = store
        .get_manifest_if_changed(&repository, &tag("1.0"), Some(&digest))
        .await
        .unwrap();
    assert!(matches!(changed, ManifestFetch::Fetched(m) if m.bytes == second));
    let by_index_tag = store
        .get_manifest(&repository, &tag("2.0"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_index_tag.media_type, MEDIA_TYPE_INDEX);
    let index_digest = Reference::Digest(Digest::of(&index));
    let by_index_digest = store
        .get_manifest(&repository, &index_digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_index_digest.media_type, MEDIA_TYPE_INDEX);
}

#[tokio::test]
async fn refused_manifests() {
    let (_root, store) = open();
    let repository = repository("ns/app");
    let wrong = Reference::Digest(Digest::of(b"other"));
    let error = store
        .put_manifest(&repository, &wrong, MEDIA_TYPE_MANIFEST, manifest("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, StorageError::DigestMismatch { .. }),
        "{error}"
    );
    let huge = Bytes::from(vec![b' '; 4 * 1024 * 1024 + 1]);
    let error = store
        .put_manifest(&repository, &tag("1.0"), MEDIA_TYPE_MANIFEST, huge)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the manifest is 4194305 bytes, more than the 4194304 bytes allowed"
    );
    let reserved = self::repository("ns/index.json");
    assert!(
        store
            .put_manifest(&reserved, &tag("1.0"), MEDIA_TYPE_MANIFEST, manifest("x"))
            .await
            .is_err()
    );
    assert!(store.start_upload(&reserved).await.is_err());
}

#[tokio::test]
async fn delete_removes_every_tag_and_the_blob() {
    let (root, store) = open();
    let repository = repository("ns/app");
    assert_eq!(store.list_tags(&repository).await.unwrap(), None);
    let bytes = manifest("one");
    let digest = Digest::of(&bytes);
    for name in ["1.0", "latest"] {
        store
            .put_manifest(&repository, &tag(name), MEDIA_TYPE_MANIFEST, bytes.clone())
            .await
            .unwrap();
    }
    let other = manifest("two");
    store
        .put_manifest(&repository, &tag("2.0"), MEDIA_TYPE_MANIFEST, other)
        .await
        .unwrap();
    store.delete_manifest(&repository, &digest).await.unwrap();
    assert_eq!(
        store.list_tags(&repository).await.unwrap(),
        Some(tags(&["2.0"]))
    );
    assert!(
        !root
            .path()
            .join("ns/app/blobs/sha256")
            .join(digest.hex())
            .exists()
    );
    assert!(
        store
            .get_manifest(&repository, &Reference::Digest(digest.clone()))
            .await
            .unwrap()
            .is_none()
    );
    // Deleting what is gone succeeds, in a repository that exists or not.
    store.delete_manifest(&repository, &digest).await.unwrap();
    store
        .delete_manifest(&self::repository("ns/none"), &digest)
        .await
        .unwrap();
    let last = store
        .get_manifest(&repository, &tag("2.0"))
        .await
        .unwrap()
        .unwrap();
    store
        .delete_manifest(&repository, &last.digest)
        .await
        .unwrap();
    assert_eq!(
        store.list_tags(&repository).await.unwrap(),
        Some(Vec::new())
    );
}

/// Tags changed only while they point where the caller read them: in one step under the
/// layout's lock, refused (and nothing changed) when another writer moved them.
#[tokio::test]
async fn tags_change_only_while_they_point_where_they_did() {
    let (root, store) = open();
    let repository = repository("ns/app");
    let release = Tag::parse("1.0").unwrap();
    let (one, two, three) = (manifest("one"), manifest("two"), manifest("three"));
    let (one_digest, two_digest) = (Digest::of(&one), Digest::of(&two));
    let tagged = || async {
        let found = store.get_manifest(&repository, &tag("1.0")).await.unwrap();
        found.map(|manifest| manifest.digest)
    };
    let put_if = |expected: Option<Digest>, body: Bytes| {
        let (store, repository, release) = (store.clone(), repository.clone(), release.clone());
        async move {
            let change = store.put_tag_if(
                &repository,
                &release,
                expected.as_ref(),
                MEDIA_TYPE_MANIFEST,
                body,
            );
            change.await.unwrap()
        }
    };
    // Created only where there is no such tag.
    assert_eq!(put_if(None, one.clone()).await, TagChange::Done);
    assert_eq!(tagged().await, Some(one_digest.clone()));
    assert_eq!(put_if(None, two.clone()).await, TagChange::Moved);
    assert_eq!(tagged().await, Some(one_digest.clone()));
    // Moved only from where it points.
    assert_eq!(
        put_if(Some(two_digest.clone()), three.clone()).await,
        TagChange::Moved
    );
    assert_eq!(
        put_if(Some(one_digest.clone()), two.clone()).await,
        TagChange::Done
    );
    assert_eq!(tagged().await, Some(two_digest.clone()));
    // Deleted only from where it points; then the manifest and every tag on it go.
    let delete_if = |expected: Digest| {
        let (store, repository, release) = (store.clone(), repository.clone(), release.clone());
        async move {
            store
                .delete_tag_if(&repository, &release, &expected)
                .await
                .unwrap()
        }
    };
    store
        .put_manifest(
            &repository,
            &tag("latest"),
            MEDIA_TYPE_MANIFEST,
            two.clone(),
        )
        .await
        .unwrap();
    assert_eq!(delete_if(one_digest.clone()).await, TagChange::Moved);
    assert_eq!(tagged().await, Some(two_digest.clone()));
    assert_eq!(delete_if(two_digest.clone()).await, TagChange::Done);
    assert_eq!(
        store.list_tags(&repository).await.unwrap(),
        Some(Vec::new())
    );
    assert_eq!(delete_if(two_digest.clone()).await, TagChange::Moved);
    let absent = self::repository("ns/none");
    let change = store
        .delete_tag_if(&absent, &release, &two_digest)
        .await
        .unwrap();
    assert_eq!(change, TagChange::Moved);
    // A tag whose manifest is gone (a hand-edited directory) counts as no tag.
    assert_eq!(put_if(None, one.clone()).await, TagChange::Done);
    let blob = root
        .path()
        .join("ns/app/blobs/sha256")
        .join(one_digest.hex());
    std::fs::remove_file(blob).unwrap();
    assert_eq!(
        put_if(Some(one_digest.clone()), two.clone()).await,
        TagChange::Moved
    );
    assert_eq!(put_if(None, two.clone()).await, TagChange::Done);
    assert_eq!(tagged().await, Some(two_digest));
}

#[tokio::test]
async fn catalog_finds_nested_repositories() {
    let (root, store) = open();
    assert!(store.catalog().await.unwrap().is_empty());
    for name in ["a/b", "a/b/c", "team/python/hello_world", "x"] {
        push_blob(&store, &repository(name), b"{}").await;
    }
    // Neither plain directories, nor hidden ones, nor blobs make repositories.
    std::fs::create_dir_all(root.path().join("plain/dir")).unwrap();
    std::fs::create_dir_all(root.path().join(".hidden/repo")).unwrap();
    std::fs::write(root.path().join(".hidden/repo/oci-layout"), "{}").unwrap();
    let found: Vec<String> = store
        .catalog()
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(found, ["a/b", "a/b/c", "team/python/hello_world", "x"]);
    store.ping().await.unwrap();
    assert_eq!(
        (
            store.location().as_str(),
            store.credentials_fingerprint().as_str()
        ),
        ("local store", "local")
    );
}

#[tokio::test]
async fn digest_mismatch_leaves_nothing_visible() {
    let (root, store) = open();
    let repository = repository("ns/app");
    let mut upload = store.start_upload(&repository).await.unwrap();
    upload
        .write(Bytes::from_static(b"actual bytes"))
        .await
        .unwrap();
    let claimed = Digest::of(b"claimed bytes");
    let error = upload.commit(&claimed).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the content has digest `{}`, not the `{claimed}` given",
            Digest::of(b"actual bytes")
        )
    );
    assert!(!store.blob_exists(&repository, &claimed).await.unwrap());
    assert!(
        !store
            .blob_exists(&repository, &Digest::of(b"actual bytes"))
            .await
            .unwrap()
    );
    assert_eq!(store.list_tags(&repository).await.unwrap(), None);
    assert_eq!(entries(&root.path().join(".uploads")), 0);
}

#[tokio::test]
async fn cancelled_and_dropped_uploads_leave_nothing_visible() {
    let (root, store) = open();
    let repository = repository("ns/app");
    let mut cancelled = store.start_upload(&repository).await.unwrap();
    cancelled.write(Bytes::from_static(b"abc")).await.unwrap();
    cancelled.cancel().await;
    let mut dropped = store.start_upload(&repository).await.unwrap();
    dropped.write(Bytes::from_static(b"abc")).await.unwrap();
    drop(dropped);
    assert!(
        !store
            .blob_exists(&repository, &Digest::of(b"abc"))
            .await
            .unwrap()
    );
    assert!(store.catalog().await.unwrap().is_empty());
    assert_eq!(entries(&root.path().join(".uploads")), 0);
}

#[tokio::test]
async fn corrupted_manifests_are_detected() {
    let (root, store) = open();
    let repository = repository("ns/app");
    let bytes = manifest("one");
    let digest = store
        .put_manifest(&repository, &tag("1.0"), MEDIA_TYPE_MANIFEST, bytes)
        .await
        .unwrap();
    let path = root.path().join("ns/app/blobs/sha256").join(digest.hex());
    std::fs::write(&path, b"{\"tampered\":true}").unwrap();
    for reference in [tag("1.0"), Reference::Digest(digest.clone())] {
        let error = store
            .get_manifest(&repository, &reference)
            .await
            .unwrap_err();
        assert!(matches!(error, StorageError::Corrupted { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains(digest.as_str()), "{message}");
        assert!(message.contains("`ns/app/blobs/sha256/"), "{message}");
        assert!(
            !message.contains(&root.path().display().to_string()),
            "{message}"
        );
    }
    std::fs::write(root.path().join("ns/app/index.json"), b"garbage").unwrap();
    let error = store.list_tags(&repository).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the local store holds corrupted content at `ns/app/index.json`: it is not an OCI image index"
    );
}

#[tokio::test]
async fn the_layout_follows_the_image_layout_spec() {
    let (root, store) = open();
    let repository = repository("team/python/hello_world");
    let bytes = manifest("one");
    let config = store
        .push_small_blob(&repository, Bytes::from_static(b"{}"), false)
        .await
        .unwrap();
    let digest = store
        .put_manifest(&repository, &tag("1.0"), MEDIA_TYPE_MANIFEST, bytes.clone())
        .await
        .unwrap();
    let layout = root.path().join("team/python/hello_world");
    assert_eq!(
        std::fs::read_to_string(layout.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index,
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": MEDIA_TYPE_MANIFEST,
                "digest": digest.as_str(),
                "size": bytes.len(),
                "annotations": { "org.opencontainers.image.ref.name": "1.0" },
                "artifactType": "application/pyoci.package.v1",
            }],
        })
    );
    for (digest, expected) in [(digest, &bytes[..]), (config, b"{}")] {
        assert_eq!(
            std::fs::read(layout.join("blobs/sha256").join(digest.hex())).unwrap(),
            expected
        );
    }
    // Nothing else is visible but the lock file.
    let mut names: Vec<String> = std::fs::read_dir(&layout)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["blobs", "index.json", "index.json.lock", "oci-layout"]
    );
}

#[test]
fn open_refuses_a_file_and_cleans_stale_uploads() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let error = LocalStore::open(&file).unwrap_err();
    assert!(matches!(error, StorageError::Io { .. }), "{error}");

    let store_root = root.path().join("new/store");
    LocalStore::open(&store_root).unwrap();
    let uploads = store_root.join(".uploads");
    let stale = std::fs::File::create(uploads.join("stale")).unwrap();
    stale
        .set_modified(SystemTime::now() - Duration::from_secs(2 * 60 * 60))
        .unwrap();
    drop(stale);
    std::fs::write(uploads.join("fresh"), b"in progress elsewhere").unwrap();
    LocalStore::open(&store_root).unwrap();
    assert!(!uploads.join("stale").exists());
    assert!(
        uploads.join("fresh").exists(),
        "another process's upload is left alone"
    );
}

/// Two OS threads, each with eight tasks that each open their own store (as separate
/// processes would), add 50 tags each to one repository: no tag is lost.
#[test]
fn concurrent_writers_lose_no_tag() {
    const TASKS_PER_THREAD: usize = 8;
    const TAGS_PER_TASK: usize = 50;
    let root = tempfile::tempdir().unwrap();
    let threads: Vec<_> = (0..2)
        .map(|thread| {
            let root = root.path().to_owned();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let tasks = (0..TASKS_PER_THREAD).map(|task| {
                        let store = LocalStore::open(&root).unwrap();
                        async move {
                            let repository = repository("ns/contended");
                            for number in 0..TAGS_PER_TASK {
                                let name = format!("t{thread}-{task}-{number}");
                                let reference = tag(&name);
                                store
                                    .put_manifest(
                                        &repository,
                                        &reference,
                                        MEDIA_TYPE_MANIFEST,
                                        manifest(&name),
                                    )
                                    .await
                                    .unwrap();
                            }
                        }
                    });
                    futures_util::future::join_all(tasks).await;
                });
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = LocalStore::open(root.path()).unwrap();
    let mut found = runtime
        .block_on(store.list_tags(&repository("ns/contended")))
        .unwrap()
        .unwrap();
    found.sort();
    let mut expected: Vec<Tag> = (0..2)
        .flat_map(|thread| {
            (0..TASKS_PER_THREAD).flat_map(move |task| {
                (0..TAGS_PER_TASK)
                    .map(move |n| Tag::parse(&format!("t{thread}-{task}-{n}")).unwrap())
            })
        })
        .collect();
    expected.sort();
    assert_eq!(found, expected);
}

/// `skopeo` (Debian package `skopeo`) reads the layout written: the exact manifest bytes.
#[tokio::test]
async fn skopeo_reads_the_layout() {
    let skopeo = Path::new("/usr/bin/skopeo");
    if !skopeo.exists() {
        eprintln!("note: /usr/bin/skopeo is not installed; skipping the skopeo check");
        return;
    }
    let (root, store) = open();
    let repository = repository("team/python/hello_world");
    store
        .push_small_blob(&repository, Bytes::from_static(b"{}"), false)
        .await
        .unwrap();
    push_blob(&store, &repository, b"file").await;
    let bytes = manifest("skopeo");
    store
        .put_manifest(&repository, &tag("1.0"), MEDIA_TYPE_MANIFEST, bytes.clone())
        .await
        .unwrap();
    store
        .put_manifest(
            &repository,
            &tag("other"),
            MEDIA_TYPE_MANIFEST,
            manifest("other"),
        )
        .await
        .unwrap();
    let layout = root.path().join("team/python/hello_world");
    let output = tokio::process::Command::new(skopeo)
        .arg("inspect")
        .arg("--raw")
        .arg(format!("oci:{}:1.0", layout.display()))
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, bytes);
}

#[tokio::test]
async fn blobs_mount_between_repositories() {
    let (_root, store) = open();
    let (from, to) = (repository("dev/app"), repository("prod/app"));
    let digest = push_blob(&store, &from, b"wheel bytes").await;
    assert!(store.mount_blob(&to, &from, &digest).await.unwrap());
    assert!(
        store.mount_blob(&to, &from, &digest).await.unwrap(),
        "mounting twice is fine"
    );
    let download = fetch(&store, &to, &digest, None, false).await;
    assert_eq!(body(download).await, b"wheel bytes");
    // Deleting from one repository leaves the other's copy.
    let manifest = manifest("m");
    let manifest_digest = store
        .put_manifest(&from, &tag("1.0"), MEDIA_TYPE_MANIFEST, manifest.clone())
        .await
        .unwrap();
    assert!(
        store
            .mount_blob(&to, &from, &manifest_digest)
            .await
            .unwrap()
    );
    store
        .delete_manifest(&from, &manifest_digest)
        .await
        .unwrap();
    assert!(store.blob_exists(&to, &manifest_digest).await.unwrap());
    let absent = Digest::of(b"absent");
    assert!(!store.mount_blob(&to, &from, &absent).await.unwrap());
    assert!(
        !store
            .mount_blob(&to, &repository("none"), &digest)
            .await
            .unwrap()
    );
}
