//! Filling the cache from downloads. A blob of at most [`COPIED_MAX`] bytes is copied as
//! its download passes: the bytes go on unchanged and a copy goes to a writer thread, never
//! making the download wait. A larger blob is fetched again by the cache itself once its
//! download has passed its last byte (see [`BlobFetch`]): copying it on the way would cost
//! the download the CPU of a copy into the page cache, which made first downloads of large
//! files a third slower on a busy 2-core machine (docs/benchmarks.md, "Blob cache"). Either
//! way the writer keeps the blob only once all of it is on disk and hashes to its digest.

use std::fs;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use tokio::sync::{Semaphore, mpsc};

use super::BlobCache;
use super::writer::{Message, Outcome, WRITE_AHEAD, room_for};
use crate::storage::error::StorageError;
use crate::storage::reference::Digest;
use crate::storage::store::ByteStream;
use crate::telemetry::Metrics;

/// The largest blob (bytes) copied to the cache as its download (or upload) passes; it is
/// also the most one fill holds in memory, when the disk is slower than the download.
pub(super) const COPIED_MAX: u64 = 16 << 20;
/// Fills and upload copies in progress at most (each has a thread of its own while it
/// writes); downloads and uploads beyond them are not kept.
pub(super) const FILLS_AT_ONCE: usize = 8;

/// The whole blob, as a request of the cache's own (with the downloading caller's access)
/// brings it: how the cache gets a blob too large to be copied as its download passes. It
/// is run once that download is over, and not at all for a blob copied on the way.
pub type BlobFetch = BoxFuture<'static, Result<ByteStream, StorageError>>;

/// The download side of a fill.
struct Tee {
    body: ByteStream,
    /// The blob's hex digest.
    hex: String,
    to_writer: Option<mpsc::UnboundedSender<Message>>,
    /// Set for a blob too large to be copied: run once the download is over.
    fetch: Option<BlobFetch>,
    /// Where the bytes that fetch brings are counted.
    metrics: Arc<Metrics>,
    /// Bytes still to come; at zero the writer is told all went by (the HTTP server stops
    /// reading a body once it has sent its `Content-Length`, so the end may never be seen).
    left: u64,
    done: bool,
}

impl Tee {
    fn new(
        body: ByteStream,
        (hex, size): (&str, u64),
        to_writer: mpsc::UnboundedSender<Message>,
        (fetch, metrics): (Option<BlobFetch>, Arc<Metrics>),
    ) -> Self {
        Self {
            body,
            hex: hex.to_owned(),
            to_writer: Some(to_writer),
            fetch,
            metrics,
            left: size,
            done: false,
        }
    }

    /// Copies the next bytes to the writer (for a blob copied on the way).
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
        if self.fetch.is_none() && sender.send(Message::Bytes(chunk.clone(), None)).is_err() {
            // The writer failed: left behind.
            self.to_writer = None;
            return;
        }
        if left == 0 {
            self.finish();
        }
    }

    /// Tells the writer all the bytes went by, or starts the fetch that sends them.
    fn finish(&mut self) {
        let Some(sender) = self.to_writer.take() else {
            return;
        };
        let end = Message::End(std::mem::take(&mut self.hex));
        match self.fetch.take() {
            None => {
                let _ = sender.send(end);
            }
            Some(fetch) => {
                // Without a runtime, the sender is dropped: the fill is abandoned.
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(forward(fetch, (sender, end), Arc::clone(&self.metrics)));
                }
            }
        }
    }
}

/// Sends the bytes `fetch` brings to the writer, waiting when [`WRITE_AHEAD`] of them wait
/// for it, then `end`. A failure (or the runtime shutting down, which drops this task) drops
/// `sender` without `end`, which abandons the fill.
async fn forward(
    fetch: BlobFetch,
    (sender, end): (mpsc::UnboundedSender<Message>, Message),
    metrics: Arc<Metrics>,
) {
    let room = Arc::new(Semaphore::new(WRITE_AHEAD as usize));
    let sent = async {
        let mut body = fetch.await?;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            let Ok(taken) = Arc::clone(&room).acquire_many_owned(room_for(&chunk)).await else {
                return Ok(());
            };
            let len = chunk.len() as u64;
            if sender.send(Message::Bytes(chunk, Some(taken))).is_err() {
                // The writer failed.
                return Ok(());
            }
            metrics.blob_cache_fetched_bytes(len);
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
        let fetch = (size > self.copied_max).then(fetch);
        let tee = Tee::new(
            body,
            (digest.hex(), size),
            to_writer,
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

    fn refused() -> BlobFetch {
        Box::pin(async { Err(StorageError::UploadAborted("fetched".to_owned())) })
    }

    fn tee_of(size: u64, copied_max: u64) -> (Tee, mpsc::UnboundedReceiver<Message>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let body = Box::pin(futures_util::stream::empty());
        let fetch = (size > copied_max).then(refused);
        (
            Tee::new(body, ("ab", size), sender, (fetch, Arc::default())),
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
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&started);
        let fetch: BlobFetch = Box::pin(async move {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            let chunks = ["abcd", "efgh"].map(|chunk| Ok(Bytes::from_static(chunk.as_bytes())));
            Ok(Box::pin(futures_util::stream::iter(chunks)) as ByteStream)
        });
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let body = Box::pin(futures_util::stream::empty());
        let mut tee = Tee::new(body, ("ab", 8), sender, (Some(fetch), Arc::default()));
        tee.push(&Bytes::from_static(b"abcd"));
        tokio::task::yield_now().await;
        assert!(receiver.try_recv().is_err(), "nothing copied");
        assert!(
            !started.load(std::sync::atomic::Ordering::SeqCst),
            "nothing fetched yet"
        );
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
}
