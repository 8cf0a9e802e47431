use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;

use std::sync::atomic::AtomicUsize;

use super::*;
use crate::storage::store::ByteStream;

const BLOB: &[u8] = b"the bytes of a wheel, in three chunks";

fn chunks(bytes: &'static [u8]) -> Vec<Result<Bytes, StorageError>> {
    bytes
        .chunks(13)
        .map(|chunk| Ok(Bytes::from_static(chunk)))
        .collect()
}

fn stream(items: Vec<Result<Bytes, StorageError>>) -> ByteStream {
    Box::pin(futures_util::stream::iter(items))
}

/// A fetch by the cache that must not even be made (a blob copied on the way).
fn no_fetch() -> BlobFetch {
    panic!("a fetch was made for a blob copied on the way")
}

/// A fetch by the cache that brings what `body` does, always from the blob's start (as a
/// registry that does not send ranges).
fn whole(
    body: impl Future<Output = Result<ByteStream, StorageError>> + Send + 'static,
) -> BlobFetch {
    Box::new(|_from| {
        Box::pin(async move {
            let body = body.await?;
            Ok(FetchedBytes { start: 0, body })
        })
    })
}

/// A fetch by the cache that brings `bytes`, counting itself in `asked`.
fn fetch_of(bytes: &'static [u8], asked: Arc<AtomicUsize>) -> BlobFetch {
    whole(async move {
        asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(stream(chunks(bytes)))
    })
}

/// A cache that copies no blob as its download passes: each is fetched apart.
fn open_fetching(dir: &Path) -> Arc<BlobCache> {
    BlobCache::open_copying(dir, 1 << 20, 0, Arc::default()).unwrap()
}

fn open(dir: &Path, capacity: u64) -> Arc<BlobCache> {
    BlobCache::open(dir, capacity, Arc::default()).unwrap()
}

async fn collect(body: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut body = body;
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// Waits until `count` fills ended with `result`.
async fn fills_ended(cache: &BlobCache, result: &str, count: u64) {
    let line = format!("oci_pypi_blob_cache_fills_total{{result=\"{result}\"}} {count}");
    for _ in 0..500 {
        if cache.metrics.render().contains(&line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no `{line}` in:\n{}", cache.metrics.render());
}

fn tmp_is_empty(dir: &Path) -> bool {
    fs::read_dir(dir.join("tmp")).unwrap().next().is_none()
}

#[tokio::test]
async fn a_filled_blob_is_sent_again_whole_or_in_part() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 1 << 20);
    let digest = Digest::of(BLOB);
    assert!(cache.lookup(&digest).is_none());

    let body = cache.tee(&digest, BLOB.len() as u64, stream(chunks(BLOB)), no_fetch);
    assert_eq!(
        collect(body).await,
        BLOB,
        "the download passes through unchanged"
    );
    fills_ended(&cache, "stored", 1).await;

    let cached = cache.lookup(&digest).expect("kept");
    assert_eq!(cached.size(), BLOB.len() as u64);
    let whole = cache.download(&cached, None).await.unwrap().unwrap();
    assert_eq!((whole.status, whole.content_length), (200, Some(37)));
    assert_eq!(collect(whole.body).await, BLOB);
    let part = cache
        .download(&cached, Some("bytes=4-8"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(part.status, 206);
    assert_eq!(part.content_range.as_deref(), Some("bytes 4-8/37"));
    assert_eq!(collect(part.body).await, b"bytes");
    let beyond = cache
        .download(&cached, Some("bytes=99-"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(beyond.status, 416);
    assert!(tmp_is_empty(dir.path()));
    assert!(
        cache
            .metrics
            .render()
            .contains("oci_pypi_blob_cache_bytes 37")
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |path: PathBuf| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.path().join("sha256").join(digest.hex())), 0o600);
        assert_eq!(mode(dir.path().join("sha256")), 0o700);
    }
}

#[tokio::test]
async fn bytes_that_are_not_the_digest_are_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 1 << 20);
    let claimed = Digest::of(b"something else");
    let body = cache.tee(&claimed, BLOB.len() as u64, stream(chunks(BLOB)), no_fetch);
    assert_eq!(collect(body).await, BLOB);
    fills_ended(&cache, "mismatch", 1).await;
    assert!(cache.lookup(&claimed).is_none());
    assert!(tmp_is_empty(dir.path()));

    // Fewer bytes than announced.
    let digest = Digest::of(BLOB);
    let body = cache.tee(
        &digest,
        BLOB.len() as u64 + 1,
        stream(chunks(BLOB)),
        no_fetch,
    );
    collect(body).await;
    fills_ended(&cache, "mismatch", 2).await;
    assert!(cache.lookup(&digest).is_none());
}

#[tokio::test]
async fn a_download_that_stops_early_or_fails_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 1 << 20);
    let digest = Digest::of(BLOB);

    let mut body = cache.tee(&digest, BLOB.len() as u64, stream(chunks(BLOB)), no_fetch);
    body.next().await.unwrap().unwrap();
    drop(body);
    fills_ended(&cache, "abandoned", 1).await;

    let mut items = chunks(BLOB);
    items.insert(
        2,
        Err(StorageError::Timeout {
            registry: "r".into(),
        }),
    );
    let mut body = cache.tee(&digest, BLOB.len() as u64, stream(items), no_fetch);
    while body.next().await.is_some() {}
    fills_ended(&cache, "abandoned", 2).await;

    assert!(cache.lookup(&digest).is_none());
    assert!(tmp_is_empty(dir.path()));
}

#[tokio::test]
async fn one_fill_per_blob_and_none_larger_than_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 40);
    let digest = Digest::of(BLOB);
    let first = cache.start_fill(&digest, 37).expect("a fill starts");
    assert!(cache.start_fill(&digest, 37).is_none(), "already filling");
    drop(first);
    fills_ended(&cache, "abandoned", 1).await;
    assert!(cache.start_fill(&digest, 37).is_some(), "free again");

    let body = cache.tee(&Digest::of(b"big"), 41, stream(chunks(BLOB)), no_fetch);
    assert_eq!(collect(body).await, BLOB);
    assert!(
        cache
            .metrics
            .render()
            .contains("oci_pypi_blob_cache_fills_total{result=\"too_large\"} 1")
    );
}

#[tokio::test]
async fn fills_at_once_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 1 << 20);
    let digests: Vec<Digest> = (0..=fill::FILLS_AT_ONCE)
        .map(|n| Digest::of(n.to_string().as_bytes()))
        .collect();
    let mut fills: Vec<_> = digests
        .iter()
        .take(fill::FILLS_AT_ONCE)
        .map(|digest| cache.start_fill(digest, 1).expect("a fill starts"))
        .collect();
    let last = digests.last().unwrap();
    assert!(cache.start_fill(last, 1).is_none(), "one too many");
    assert!(
        cache
            .metrics
            .render()
            .contains("oci_pypi_blob_cache_fills_total{result=\"busy\"} 1")
    );
    drop(fills.pop());
    fills_ended(&cache, "abandoned", 1).await;
    assert!(cache.start_fill(last, 1).is_some(), "room again");
}

#[test]
fn fills_in_progress_keep_their_room() {
    let mut state = State::default();
    state.stored.insert("a".into(), 4, 4);
    state.stored.insert("b".into(), 4, 4);
    state.reserved = 4;
    assert!(state.make_room(0, 12).is_empty());
    assert_eq!(state.make_room(4, 12), vec!["a".to_owned()]);
    assert_eq!(state.stored.weight(), 4);
}

#[tokio::test]
async fn opening_keeps_blobs_in_order_of_use_and_clears_what_is_not_a_blob() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), 1 << 20));
    let old = Digest::of(b"old");
    let new = Digest::of(b"new!");
    let write = |digest: &Digest, bytes: &[u8], age: u64| {
        let path = dir.path().join("sha256").join(digest.hex());
        fs::write(&path, bytes).unwrap();
        let when = SystemTime::now() - Duration::from_secs(age);
        fs::File::open(&path).unwrap().set_modified(when).unwrap();
    };
    write(&old, b"old", 100);
    write(&new, b"new!", 10);
    fs::write(dir.path().join("sha256").join("not-a-digest"), b"x").unwrap();
    fs::write(dir.path().join("tmp").join("left.123"), b"half").unwrap();

    let cache = open(dir.path(), 5);
    assert!(tmp_is_empty(dir.path()));
    assert!(cache.lookup(&old).is_none(), "the older blob made room");
    assert!(!dir.path().join("sha256").join(old.hex()).exists());
    assert_eq!(cache.lookup(&new).map(|blob| blob.size()), Some(4));
    assert!(dir.path().join("sha256").join("not-a-digest").exists());
}

#[tokio::test]
async fn a_blob_removed_under_the_cache_is_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 1 << 20);
    let digest = Digest::of(BLOB);
    collect(cache.tee(&digest, 37, stream(chunks(BLOB)), no_fetch)).await;
    fills_ended(&cache, "stored", 1).await;
    let cached = cache.lookup(&digest).unwrap();
    fs::remove_file(dir.path().join("sha256").join(digest.hex())).unwrap();
    assert!(cache.download(&cached, None).await.unwrap().is_none());

    cache.forget(&digest);
    assert!(cache.lookup(&digest).is_none());
    assert!(
        cache
            .metrics
            .render()
            .contains("oci_pypi_blob_cache_bytes 0")
    );
}

#[tokio::test]
async fn a_blob_too_large_to_copy_is_fetched_apart_after_its_download() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open_fetching(dir.path());
    let digest = Digest::of(BLOB);
    let asked = Arc::default();
    let fetch = fetch_of(BLOB, Arc::clone(&asked));
    let body = cache.tee(&digest, 37, stream(chunks(BLOB)), || fetch);
    assert_eq!(
        collect(body).await,
        BLOB,
        "the download passes through unchanged"
    );
    fills_ended(&cache, "stored", 1).await;
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
    let cached = cache.lookup(&digest).expect("kept");
    let whole = cache.download(&cached, None).await.unwrap().unwrap();
    assert_eq!(collect(whole.body).await, BLOB);
    assert!(
        cache
            .metrics
            .render()
            .contains("oci_pypi_blob_cache_fetched_bytes_total 37")
    );
    assert!(tmp_is_empty(dir.path()));
}

#[tokio::test]
async fn a_fetch_that_fails_or_brings_other_bytes_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open_fetching(dir.path());
    let digest = Digest::of(BLOB);

    let failing = whole(async {
        Err(StorageError::Timeout {
            registry: "r".into(),
        })
    });
    collect(cache.tee(&digest, 37, stream(chunks(BLOB)), || failing)).await;
    fills_ended(&cache, "abandoned", 1).await;

    let other = fetch_of(b"the bytes of a wheel, in four chunks!", Arc::default());
    collect(cache.tee(&digest, 37, stream(chunks(BLOB)), || other)).await;
    fills_ended(&cache, "mismatch", 1).await;

    let longer = fetch_of(
        b"the bytes of a wheel, in three chunks and more",
        Arc::default(),
    );
    collect(cache.tee(&digest, 37, stream(chunks(BLOB)), || longer)).await;
    fills_ended(&cache, "mismatch", 2).await;

    // A download cut short fetches nothing.
    let asked = Arc::new(AtomicUsize::new(0));
    let unused = fetch_of(BLOB, Arc::clone(&asked));
    let mut body = cache.tee(&digest, 37, stream(chunks(BLOB)), || unused);
    body.next().await.unwrap().unwrap();
    drop(body);
    fills_ended(&cache, "abandoned", 2).await;
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 0);

    assert!(cache.lookup(&digest).is_none());
    assert!(tmp_is_empty(dir.path()));
}

/// A fetch under way when the runtime shuts down (the server stopping) is dropped: the fill
/// is abandoned, leaving nothing in `tmp/` (an earlier build waited for the fetch on the
/// writer's thread, and panicked there when the fetch's timer met the stopped runtime).
#[test]
fn a_fetch_under_way_when_the_runtime_stops_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cache = open_fetching(dir.path());
    let slow = whole(async {
        let drip = futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Some((Ok(Bytes::from_static(b"x")), ()))
        });
        Ok(Box::pin(drip) as ByteStream)
    });
    let digest = Digest::of(BLOB);
    runtime.block_on(async {
        collect(cache.tee(&digest, 37, stream(chunks(BLOB)), || slow)).await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(!tmp_is_empty(dir.path()), "the fetch is under way");
    });
    drop(runtime);
    for _ in 0..200 {
        if tmp_is_empty(dir.path()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(tmp_is_empty(dir.path()), "the fill was abandoned");
    assert!(cache.lookup(&digest).is_none());
}

#[tokio::test]
async fn an_upload_copy_is_kept_under_the_digest_the_registry_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 1 << 20);
    let digest = Digest::of(BLOB);
    let mut copy = cache.copy_upload().expect("a copy starts");
    for chunk in chunks(BLOB) {
        copy.push(&chunk.unwrap());
    }
    copy.keep(&digest);
    fills_ended(&cache, "stored", 1).await;
    let cached = cache.lookup(&digest).expect("kept");
    let whole = cache.download(&cached, None).await.unwrap().unwrap();
    assert_eq!(collect(whole.body).await, BLOB);
    assert!(tmp_is_empty(dir.path()));

    // Held already: the second copy is dropped.
    let mut again = cache.copy_upload().unwrap();
    again.push(&Bytes::from_static(BLOB));
    again.keep(&digest);
    fills_ended(&cache, "abandoned", 1).await;
    assert!(tmp_is_empty(dir.path()));
}

#[tokio::test]
async fn an_upload_copy_of_other_bytes_or_never_accepted_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 40);
    let claimed = Digest::of(b"something else");
    let mut copy = cache.copy_upload().unwrap();
    copy.push(&Bytes::from_static(BLOB));
    copy.keep(&claimed);
    fills_ended(&cache, "mismatch", 1).await;
    assert!(cache.lookup(&claimed).is_none());

    // The upload failed or was cancelled: the copy is dropped without `keep`.
    let mut copy = cache.copy_upload().unwrap();
    copy.push(&Bytes::from_static(BLOB));
    drop(copy);
    fills_ended(&cache, "abandoned", 1).await;

    // Larger than the cache: given up on the way.
    let big = [BLOB, b"and more"].concat();
    let mut copy = cache.copy_upload().unwrap();
    copy.push(&Bytes::from(big.clone()));
    copy.keep(&Digest::of(&big));
    fills_ended(&cache, "abandoned", 2).await;
    assert!(cache.lookup(&Digest::of(&big)).is_none());
    assert!(tmp_is_empty(dir.path()));
}

#[tokio::test]
async fn an_upload_larger_than_copies_may_be_is_not_copied() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open_fetching(dir.path());
    let mut copy = cache.copy_upload().unwrap();
    copy.push(&Bytes::from_static(BLOB));
    copy.keep(&Digest::of(BLOB));
    fills_ended(&cache, "abandoned", 1).await;
    assert!(cache.lookup(&Digest::of(BLOB)).is_none());
    assert!(tmp_is_empty(dir.path()));
}

#[tokio::test]
async fn upload_copies_count_among_the_fills_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 1 << 20);
    let mut copies: Vec<_> = (0..fill::FILLS_AT_ONCE)
        .map(|_| cache.copy_upload().expect("a copy starts"))
        .collect();
    assert!(cache.copy_upload().is_none(), "one too many");
    assert!(
        cache.start_fill(&Digest::of(BLOB), 37).is_none(),
        "no fill either"
    );
    drop(copies.pop());
    fills_ended(&cache, "abandoned", 1).await;
    assert!(cache.copy_upload().is_some(), "room again");
}
