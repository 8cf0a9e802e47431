//! Filling the cache from downloads. A blob of at most the cache's copy limit
//! ([`COPIED_MAX`] unless configured) is copied as its download passes: the bytes go on
//! unchanged and a copy goes to a writer thread, never making the download wait. A larger blob
//! is fetched again by the cache itself once its download has passed its last byte (see
//! [`BlobFetch`]): copying it on the way would cost the download the CPU of a copy into the
//! page cache, which made first downloads of large files a third slower on a busy 2-core
//! machine (docs/benchmarks.md, "Blob cache"). Where the limit is raised above [`WRITE_AHEAD`],
//! a copy that falls that far behind its download stops, and the fetch brings the bytes it
//! had not copied. Either way the writer keeps the blob only once all of it is on disk and
//! hashes to its digest.

use std::fs;
use std::sync::Arc;

use bytes::{Buf as _, Bytes};
use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use tokio::sync::{Semaphore, mpsc};

use super::BlobCache;
use super::writer::{Message, Outcome, WRITE_AHEAD, room_for};
use crate::storage::error::StorageError;
use crate::storage::reference::Digest;
use crate::storage::store::ByteStream;
use crate::telemetry::Metrics;

/// The largest blob (bytes) copied to the cache as its download (or upload) passes, unless
/// configured otherwise; it is also the most one such copy holds in memory, when the disk is
/// slower than the download.
pub(super) const COPIED_MAX: u64 = WRITE_AHEAD as u64;
/// Fills and upload copies in progress at most (each has a thread of its own while it
/// writes); downloads and uploads beyond them are not kept.
pub(super) const FILLS_AT_ONCE: usize = 8;

/// How the cache gets the bytes of a blob that were not copied as its download passed: a
/// request of its own (with the downloading caller's access), made once that download is
/// over, and not at all for a blob copied whole on the way. It is given the offset of the
/// first byte the cache still needs (0 for a blob not copied at all), and brings the bytes
/// from there on, or the whole blob where the registry does not send ranges.
pub type BlobFetch =
    Box<dyn FnOnce(u64) -> BoxFuture<'static, Result<FetchedBytes, StorageError>> + Send>;

/// What a [`BlobFetch`] brought.
pub struct FetchedBytes {
    /// The offset in the blob of the first byte of `body`: the one asked for, or 0.
    pub start: u64,
    /// The bytes, to the blob's end.
    pub body: ByteStream,
}

/// The download side of a fill.
struct Tee {
    body: ByteStream,
    /// The blob's hex digest.
    hex: String,
    to_writer: Option<mpsc::UnboundedSender<Message>>,
    /// How the bytes reach the writer.
    copy: Copy,
    /// Made for a blob that is not copied, or whose copy may fall behind: run once the
    /// download is over, when the copy did not bring every byte.
    fetch: Option<BlobFetch>,
    /// Where the bytes that fetch brings are counted.
    metrics: Arc<Metrics>,
    /// Bytes still to come; at zero the writer is told all went by (the HTTP server stops
    /// reading a body once it has sent its `Content-Length`, so the end may never be seen).
    left: u64,
    done: bool,
}

/// How a fill's bytes reach its writer.
enum Copy {
    /// Copied as they pass, all of them: the blob is no larger than [`WRITE_AHEAD`], the
    /// most that may wait for the disk.
    Whole,
    /// Copied as they pass while fewer than [`WRITE_AHEAD`] bytes wait for the disk in
    /// `room`; `copied` bytes so far.
    Counted { room: Arc<Semaphore>, copied: u64 },
    /// Not (any more) copied: the fetch brings the bytes past the first `skip`, which the
    /// writer has already been sent, and counts them in `room` (shared with the copy).
    Fetched { room: Arc<Semaphore>, skip: u64 },
}

impl Copy {
    /// How a blob of `size` bytes is filled with a copy limit of `copied_max` bytes.
    fn of(size: u64, copied_max: u64) -> Self {
        let room = || Arc::new(Semaphore::new(WRITE_AHEAD as usize));
        if size > copied_max {
            Self::Fetched {
                room: room(),
                skip: 0,
            }
        } else if size <= u64::from(WRITE_AHEAD) {
            Self::Whole
        } else {
            Self::Counted {
                room: room(),
                copied: 0,
            }
        }
    }

    /// Whether the fill may need the cache's own fetch.
    fn may_fetch(&self) -> bool {
        !matches!(self, Self::Whole)
    }
}

impl Tee {
    fn new(
        body: ByteStream,
        (hex, size): (&str, u64),
        (to_writer, copy): (mpsc::UnboundedSender<Message>, Copy),
        (fetch, metrics): (Option<BlobFetch>, Arc<Metrics>),
    ) -> Self {
        Self {
            body,
            hex: hex.to_owned(),
            to_writer: Some(to_writer),
            copy,
            fetch,
            metrics,
            left: size,
            done: false,
        }
    }

    /// Copies the next bytes to the writer (while they are copied).
    fn push(&mut self, chunk: &Bytes) {
        let Some(sender) = &self.to_writer else {
            return;
        };
        let Some(left) = self.left.checked_sub(chunk.len() as u64) else {
            // More than announced: the fill is given up.
            self.to_writer = None;
            return;
        };
        self.left = left;
        let sent = match &mut self.copy {
            Copy::Whole => sender.send(Message::Bytes(chunk.clone(), None)),
            Copy::Counted { room, copied } => {
                if let Ok(taken) = Arc::clone(room).try_acquire_many_owned(room_for(chunk)) {
                    *copied += chunk.len() as u64;
                    sender.send(Message::Bytes(chunk.clone(), Some(taken)))
                } else {
                    // The disk is behind: the download does not wait, the fetch brings the rest.
                    let (room, skip) = (Arc::clone(room), *copied);
                    self.copy = Copy::Fetched { room, skip };
                    Ok(())
                }
            }
            Copy::Fetched { .. } => Ok(()),
        };
        if sent.is_err() {
            // The writer failed: left behind.
            self.to_writer = None;
            return;
        }
        if left == 0 {
            self.finish();
        }
    }

    /// Tells the writer all the bytes went by, or starts the fetch that sends the rest.
    fn finish(&mut self) {
        let Some(sender) = self.to_writer.take() else {
            return;
        };
        let end = Message::End(std::mem::take(&mut self.hex));
        let Copy::Fetched { room, skip } = &self.copy else {
            let _ = sender.send(end);
            return;
        };
        // Without a fetch or a runtime, the sender is dropped: the fill is abandoned.
        let (Some(fetch), Ok(runtime)) = (self.fetch.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let rest = Rest {
            room: Arc::clone(room),
            skip: *skip,
        };
        runtime.spawn(forward(
            fetch,
            rest,
            (sender, end),
            Arc::clone(&self.metrics),
        ));
    }
}

/// What the cache's own fetch sends its writer: the bytes past the first `skip`, counted in
/// `room`.
struct Rest {
    room: Arc<Semaphore>,
    skip: u64,
}

/// Sends the bytes `fetch` brings from `rest.skip` on to the writer, waiting when
/// [`WRITE_AHEAD`] of them wait for it, then `end`. A failure (or the runtime shutting down,
/// which drops this task) drops `sender` without `end`, which abandons the fill.
async fn forward(
    fetch: BlobFetch,
    rest: Rest,
    (sender, end): (mpsc::UnboundedSender<Message>, Message),
    metrics: Arc<Metrics>,
) {
    let Rest { room, skip: from } = rest;
    let sent = async {
        let FetchedBytes { start, mut body } = fetch(from).await?;
        let Some(mut skip) = from.checked_sub(start) else {
            // Bytes past those missing: abandoned.
            tracing::info!("the blob cache was sent bytes from {start} on, not from {from}");
            return Ok(());
        };
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk?;
            let len = chunk.len() as u64;
            metrics.blob_cache_fetched_bytes(len);
            if skip >= len {
                skip -= len;
                continue;
            }
            #[expect(
                clippy::cast_possible_truncation,
                reason = "skip < len, a chunk's length"
            )]
            chunk.advance(skip as usize);
            skip = 0;
            let Ok(taken) = Arc::clone(&room).acquire_many_owned(room_for(&chunk)).await else {
                return Ok(());
            };
            if sender.send(Message::Bytes(chunk, Some(taken))).is_err() {
                // The writer failed.
                return Ok(());
            }
        }
        let _ = sender.send(end);
        Ok::<(), StorageError>(())
    };
    if let Err(error) = sent.await {
        tracing::info!("the blob cache could not fetch a blob: {error}");
    }
}

impl BlobCache {
    /// `body`, the whole blob `digest` of `size` bytes as a registry sends it, passed through
    /// unchanged while the cache fills: from a copy of it, or (a large blob) from the fetch
    /// `fetch` makes, once it is over. `body` alone when the cache already holds the blob, is
    /// filling it, or could never hold it.
    #[must_use]
    pub fn tee(
        self: &Arc<Self>,
        digest: &Digest,
        size: u64,
        body: ByteStream,
        fetch: impl FnOnce() -> BlobFetch,
    ) -> ByteStream {
        let Some(to_writer) = self.start_fill(digest, size) else {
            return body;
        };
        let copy = Copy::of(size, self.copied_max);
        let fetch = copy.may_fetch().then(fetch);
        let tee = Tee::new(
            body,
            (digest.hex(), size),
            (to_writer, copy),
            (fetch, Arc::clone(&self.metrics)),
        );
        Box::pin(futures_util::stream::unfold(tee, |mut tee| async move {
            if tee.done {
                return None;
            }
            match tee.body.next().await {
                Some(Ok(chunk)) => {
                    tee.push(&chunk);
                    Some((Ok(chunk), tee))
                }
                Some(Err(error)) => {
                    // Dropping the sender without `End` abandons the fill.
                    tee.to_writer = None;
                    tee.done = true;
                    Some((Err(error), tee))
                }
                None => {
                    tee.finish();
                    None
                }
            }
        }))
    }

    /// Reserves room for `digest` and starts its writer; `None` when it is not to be filled.
    pub(super) fn start_fill(
        self: &Arc<Self>,
        digest: &Digest,
        size: u64,
    ) -> Option<mpsc::UnboundedSender<Message>> {
        let hex = digest.hex().to_owned();
        if size > self.capacity {
            self.metrics.record_blob_cache_fill("too_large");
            return None;
        }
        let victims = {
            let mut state = self.lock();
            if state.stored.contains(&hex) || state.filling.contains(&hex) {
                return None;
            }
            if state.writers() >= FILLS_AT_ONCE {
                drop(state);
                self.metrics.record_blob_cache_fill("busy");
                return None;
            }
            state.filling.insert(hex.clone());
            let victims = state.make_room(size, self.capacity);
            state.reserved += size;
            victims
        };
        let (to_writer, messages) = mpsc::unbounded_channel();
        let cache = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            cache.remove_blobs(&victims);
            let outcome = cache.write_blob(messages, Some(size), |temp, hex, _| {
                fs::rename(temp, cache.blob_path(hex))?;
                Ok(Outcome::Stored)
            });
            cache.end_fill(&hex, size, outcome);
        });
        Some(to_writer)
    }

    /// Releases the fill's reservation and records the blob when kept.
    fn end_fill(&self, hex: &str, size: u64, outcome: Outcome) {
        {
            let mut state = self.lock();
            state.reserved -= size;
            state.filling.remove(hex);
            if outcome == Outcome::Stored {
                state.stored.insert(hex.to_owned(), size, size);
            }
        }
        self.metrics.record_blob_cache_fill(outcome.label());
        self.report_size();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fetch that brings `chunks` as the bytes from `start` on, noting the offset it was
    /// asked for in `asked` (`u64::MAX` until then).
    fn fetch_of(
        chunks: Vec<Bytes>,
        start: Option<u64>,
        asked: Arc<std::sync::atomic::AtomicU64>,
    ) -> BlobFetch {
        Box::new(move |from| {
            Box::pin(async move {
                asked.store(from, std::sync::atomic::Ordering::SeqCst);
                let body = Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)));
                Ok(FetchedBytes {
                    start: start.unwrap_or(from),
                    body,
                })
            })
        })
    }

    fn not_asked() -> Arc<std::sync::atomic::AtomicU64> {
        Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX))
    }

    fn asked_for(asked: &std::sync::atomic::AtomicU64) -> Option<u64> {
        Some(asked.load(std::sync::atomic::Ordering::SeqCst)).filter(|from| *from != u64::MAX)
    }

    fn refused() -> BlobFetch {
        Box::new(|_from| Box::pin(async { Err(StorageError::UploadAborted("fetched".to_owned())) }))
    }

    fn tee_of(size: u64, copied_max: u64) -> (Tee, mpsc::UnboundedReceiver<Message>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let body = Box::pin(futures_util::stream::empty());
        let copy = Copy::of(size, copied_max);
        let fetch = copy.may_fetch().then(refused);
        (
            Tee::new(body, ("ab", size), (sender, copy), (fetch, Arc::default())),
            receiver,
        )
    }

    #[tokio::test]
    async fn a_failed_writer_does_not_stop_the_download() {
        let (mut tee, receiver) = tee_of(1 << 30, 1 << 30);
        let chunk = Bytes::from(vec![0; 4]);
        tee.push(&chunk);
        assert!(tee.to_writer.is_some());
        drop(receiver);
        tee.push(&chunk);
        assert!(tee.to_writer.is_none(), "the writer is gone: left behind");
        tee.push(&chunk);
        tee.finish();
    }

    #[tokio::test]
    async fn the_writer_hears_of_the_end_with_the_last_announced_byte() {
        let (mut tee, mut receiver) = tee_of(5, 5);
        tee.push(&Bytes::from_static(b"abc"));
        tee.push(&Bytes::from_static(b"de"));
        assert!(
            matches!(receiver.recv().await, Some(Message::Bytes(chunk, None)) if chunk == "abc")
        );
        assert!(
            matches!(receiver.recv().await, Some(Message::Bytes(chunk, None)) if chunk == "de")
        );
        assert!(matches!(receiver.recv().await, Some(Message::End(hex)) if hex == "ab"));
        assert!(receiver.recv().await.is_none());

        let (mut tee, mut receiver) = tee_of(2, 5);
        tee.push(&Bytes::from_static(b"abc"));
        assert!(
            receiver.recv().await.is_none(),
            "more than announced: given up"
        );
    }

    #[tokio::test]
    async fn a_blob_too_large_to_copy_is_fetched_once_its_download_is_over() {
        let asked = not_asked();
        let chunks = vec![Bytes::from_static(b"abcd"), Bytes::from_static(b"efgh")];
        let fetch = fetch_of(chunks, None, Arc::clone(&asked));
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let body = Box::pin(futures_util::stream::empty());
        let copy = Copy::of(8, 0);
        let mut tee = Tee::new(
            body,
            ("ab", 8),
            (sender, copy),
            (Some(fetch), Arc::default()),
        );
        tee.push(&Bytes::from_static(b"abcd"));
        tokio::task::yield_now().await;
        assert!(receiver.try_recv().is_err(), "nothing copied");
        assert_eq!(asked_for(&asked), None, "nothing fetched yet");
        tee.push(&Bytes::from_static(b"efgh"));
        for expected in ["abcd", "efgh"] {
            let Some(Message::Bytes(chunk, Some(_room))) = receiver.recv().await else {
                panic!("the fetched bytes do not reach the writer");
            };
            assert_eq!(chunk, expected);
        }
        assert!(matches!(receiver.recv().await, Some(Message::End(hex)) if hex == "ab"));

        let (mut tee, mut receiver) = tee_of(8, 7);
        tee.push(&Bytes::from_static(b"abcdefgh"));
        assert!(
            receiver.recv().await.is_none(),
            "the fetch failed: abandoned, without `End`"
        );

        let (mut tee, mut receiver) = tee_of(8, 7);
        tee.push(&Bytes::from_static(b"abcd"));
        drop(tee);
        assert!(
            receiver.recv().await.is_none(),
            "a download cut short: nothing fetched"
        );
    }

    #[test]
    fn the_copy_limit_decides_how_a_blob_is_filled() {
        let ahead = u64::from(WRITE_AHEAD);
        assert!(matches!(Copy::of(ahead, COPIED_MAX), Copy::Whole));
        assert!(matches!(
            Copy::of(ahead + 1, COPIED_MAX),
            Copy::Fetched { skip: 0, .. }
        ));
        assert!(matches!(Copy::of(1, 0), Copy::Fetched { skip: 0, .. }));
        assert!(matches!(
            Copy::of(ahead + 1, 1 << 30),
            Copy::Counted { copied: 0, .. }
        ));
        assert!(matches!(Copy::of(1 << 30, 1 << 30), Copy::Counted { .. }));
        assert!(!Copy::of(ahead, 1 << 30).may_fetch());
        assert!(Copy::of(ahead + 1, 1 << 30).may_fetch());
    }

    /// A blob under a raised copy limit but larger than the write-ahead: copied while the
    /// writer keeps up; once it is `WRITE_AHEAD` behind, the download goes on without copying,
    /// and the cache's fetch asks for the bytes from there on, and sends the writer only
    /// those, then the end: from a registry that sends ranges, and from one that sends the
    /// whole blob again (in chunks that do not fall where the copy stopped).
    #[tokio::test]
    async fn a_copy_that_falls_behind_is_finished_by_the_fetch() {
        let ahead = WRITE_AHEAD as usize;
        let size = (ahead + 8) as u64;
        let rest = || vec![Bytes::from_static(b"efghijkl")];
        let whole = || {
            vec![
                Bytes::from(vec![7; ahead - 2]),
                Bytes::from_static(b"\x07\x07ef"),
                Bytes::from_static(b"ghijkl"),
            ]
        };
        for (chunks, start, fetched) in [(rest(), None, 8), (whole(), Some(0), size)] {
            let asked = not_asked();
            let fetch = fetch_of(chunks, start, Arc::clone(&asked));
            let (sender, mut receiver) = mpsc::unbounded_channel();
            let body = Box::pin(futures_util::stream::empty());
            let copy = Copy::of(size, 1 << 30);
            let metrics = Arc::new(Metrics::default());
            let mut tee = Tee::new(
                body,
                ("ab", size),
                (sender, copy),
                (Some(fetch), Arc::clone(&metrics)),
            );

            tee.push(&Bytes::from(vec![7; ahead]));
            assert!(matches!(tee.copy, Copy::Counted { copied, .. } if copied == ahead as u64));
            // The writer has not written a byte: no room for more.
            tee.push(&Bytes::from_static(b"efgh"));
            assert!(matches!(tee.copy, Copy::Fetched { skip, .. } if skip == ahead as u64));
            tee.push(&Bytes::from_static(b"ijkl"));

            let Some(Message::Bytes(first, Some(room))) = receiver.recv().await else {
                panic!("the copied bytes do not reach the writer");
            };
            assert_eq!(first.len(), ahead);
            tokio::task::yield_now().await;
            assert!(receiver.try_recv().is_err(), "the fetch waits for room");
            assert_eq!(asked_for(&asked), Some(ahead as u64));
            drop(room);
            let mut sent = Vec::new();
            loop {
                match receiver.recv().await {
                    Some(Message::Bytes(chunk, Some(_room))) => sent.extend_from_slice(&chunk),
                    Some(Message::End(hex)) => {
                        assert_eq!(hex, "ab");
                        break;
                    }
                    _ => panic!("the fetch did not end the fill"),
                }
            }
            assert_eq!(sent, b"efghijkl", "only the bytes the copy did not have");
            assert!(receiver.recv().await.is_none());
            let line = format!("oci_pypi_blob_cache_fetched_bytes_total {fetched}");
            assert!(metrics.render().contains(&line), "{}", metrics.render());
        }
    }

    /// Bytes from past the offset asked for cannot finish the copy: the fill is abandoned.
    #[tokio::test]
    async fn bytes_from_past_the_offset_asked_for_are_not_written() {
        let ahead = WRITE_AHEAD as usize;
        let size = (ahead + 8) as u64;
        let asked = not_asked();
        let late = fetch_of(vec![Bytes::from_static(b"ijkl")], Some(size - 4), asked);
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let body = Box::pin(futures_util::stream::empty());
        let copy = Copy::of(size, 1 << 30);
        let mut tee = Tee::new(
            body,
            ("ab", size),
            (sender, copy),
            (Some(late), Arc::default()),
        );
        tee.push(&Bytes::from(vec![7; ahead]));
        tee.push(&Bytes::from_static(b"efghijkl"));
        assert!(matches!(receiver.recv().await, Some(Message::Bytes(..))));
        assert!(receiver.recv().await.is_none(), "abandoned, without `End`");
    }

    /// Under a raised limit, a writer that keeps up gets every byte from the download
    /// itself: no fetch is made.
    #[tokio::test]
    async fn a_copy_that_keeps_up_needs_no_fetch() {
        let ahead = WRITE_AHEAD as usize;
        let size = (2 * ahead) as u64;
        let asked = not_asked();
        let fetch = fetch_of(Vec::new(), None, Arc::clone(&asked));
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let body = Box::pin(futures_util::stream::empty());
        let copy = Copy::of(size, size);
        let mut tee = Tee::new(
            body,
            ("ab", size),
            (sender, copy),
            (Some(fetch), Arc::default()),
        );
        for _ in 0..2 {
            tee.push(&Bytes::from(vec![1; ahead]));
            // The writer writes (and frees) each chunk before the next passes.
            let Some(Message::Bytes(chunk, Some(_room))) = receiver.recv().await else {
                panic!("not copied");
            };
            assert_eq!(chunk.len(), ahead);
        }
        assert!(matches!(receiver.recv().await, Some(Message::End(hex)) if hex == "ab"));
        drop(tee);
        tokio::task::yield_now().await;
        assert_eq!(asked_for(&asked), None, "a fetch was run");
    }
}
