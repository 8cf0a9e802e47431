//! Filling the cache from downloads. A blob of at most [`COPIED_MAX`] bytes is copied as
//! its download passes: the bytes go on unchanged and a copy goes to a writer thread, never
//! making the download wait. A larger blob is fetched again by the cache itself once its
//! download has passed its last byte (see [`BlobFetch`]): copying it on the way would cost
//! the download the CPU of a copy into the page cache, which made first downloads of large
//! files a third slower on a busy 2-core machine (docs/benchmarks.md, "Blob cache"). Either
//! way the writer keeps the blob only once all of it is on disk and hashes to its digest.

use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use sha2::{Digest as _, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::BlobCache;
use crate::storage::error::StorageError;
use crate::storage::reference::Digest;
use crate::storage::store::ByteStream;

/// The largest blob (bytes) copied to the cache as its download passes; it is also the most
/// one fill holds in memory, when the disk is slower than the download.
pub(super) const COPIED_MAX: u64 = 16 << 20;
/// Fills and upload copies in progress at most (each has a thread of its own while it
/// writes); downloads and uploads beyond them are not kept.
pub(super) const FILLS_AT_ONCE: usize = 8;
/// Bytes of the cache's own fetch that may wait for the writer before the fetch waits.
const FETCH_AHEAD: u32 = 16 << 20;
/// Size of the reads that check a filled blob's digest.
const HASH_READ: usize = 1 << 20;

/// The whole blob, as a request of the cache's own (with the downloading caller's access)
/// brings it: how the cache gets a blob too large to be copied as its download passes. It
/// is run once that download is over, and not at all for a blob copied on the way.
pub type BlobFetch = BoxFuture<'static, Result<ByteStream, StorageError>>;

/// What the download, or the cache's own fetch, tells the writer.
pub(super) enum Message {
    /// The next bytes, copied from the download.
    Bytes(Bytes),
    /// The next bytes of the cache's own fetch, and the room they take in its queue (freed
    /// once they are written).
    Fetched(Bytes, OwnedSemaphorePermit),
    /// All the bytes were sent.
    End,
}

/// How a fill ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Kept.
    Stored,
    /// The download stopped early or failed, or so did the cache's own fetch.
    Abandoned,
    /// The bytes were not those of the digest (or not as many as announced).
    Mismatch,
    /// The disk refused.
    Failed,
}

impl Outcome {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Abandoned => "abandoned",
            Self::Mismatch => "mismatch",
            Self::Failed => "failed",
        }
    }
}

/// The download side of a fill.
struct Tee {
    body: ByteStream,
    to_writer: Option<mpsc::UnboundedSender<Message>>,
    /// Set for a blob too large to be copied: sent to the writer once the download is over.
    fetch: Option<BlobFetch>,
    /// Bytes still to come; at zero the writer is told all went by (the HTTP server stops
    /// reading a body once it has sent its `Content-Length`, so the end may never be seen).
    left: u64,
    done: bool,
}

impl Tee {
    fn new(
        body: ByteStream,
        (size, copied_max): (u64, u64),
        to_writer: mpsc::UnboundedSender<Message>,
        fetch: BlobFetch,
    ) -> Self {
        Self {
            body,
            to_writer: Some(to_writer),
            fetch: (size > copied_max).then_some(fetch),
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
        if self.fetch.is_none() && sender.send(Message::Bytes(chunk.clone())).is_err() {
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
        match self.fetch.take() {
            None => {
                let _ = sender.send(Message::End);
            }
            Some(fetch) => {
                // Without a runtime, the sender is dropped: the fill is abandoned.
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(forward(fetch, sender));
                }
            }
        }
    }
}

/// Sends the bytes `fetch` brings to the writer, waiting when [`FETCH_AHEAD`] of them wait
/// for it, then `End`. A failure (or the runtime shutting down, which drops this task) drops
/// `sender` without `End`, which abandons the fill.
async fn forward(fetch: BlobFetch, sender: mpsc::UnboundedSender<Message>) {
    let room = Arc::new(Semaphore::new(FETCH_AHEAD as usize));
    let sent = async {
        let mut body = fetch.await?;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            let needed = u32::try_from(chunk.len()).map_or(FETCH_AHEAD, |n| n.min(FETCH_AHEAD));
            let Ok(taken) = Arc::clone(&room).acquire_many_owned(needed).await else {
                return Ok(());
            };
            if sender.send(Message::Fetched(chunk, taken)).is_err() {
                // The writer failed.
                return Ok(());
            }
        }
        let _ = sender.send(Message::End);
        Ok::<(), StorageError>(())
    };
    if let Err(error) = sent.await {
        tracing::info!("the blob cache could not fetch a blob: {error}");
    }
}

impl BlobCache {
    /// `body`, the whole blob `digest` of `size` bytes as a registry sends it, passed through
    /// unchanged while the cache fills: from a copy of it, or (a large blob) from `fetch`
    /// once it is over. `body` alone when the cache already holds the blob, is filling it, or
    /// could never hold it.
    #[must_use]
    pub fn tee(
        self: &Arc<Self>,
        digest: &Digest,
        size: u64,
        body: ByteStream,
        fetch: BlobFetch,
    ) -> ByteStream {
        let Some(to_writer) = self.start_fill(digest, size) else {
            return body;
        };
        let tee = Tee::new(body, (size, self.copied_max), to_writer, fetch);
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
            if state.filling.len() + state.copies >= FILLS_AT_ONCE {
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
            let outcome = cache.write(&hex, size, messages);
            cache.end_fill(&hex, size, outcome);
        });
        Some(to_writer)
    }

    /// Writes the blob to a temporary file, then checks and keeps it.
    fn write(&self, hex: &str, size: u64, messages: mpsc::UnboundedReceiver<Message>) -> Outcome {
        let temp = self
            .root
            .join("tmp")
            .join(format!("{hex}.{}", std::process::id()));
        let outcome = self
            .write_to(&temp, hex, size, messages)
            .unwrap_or_else(|error| {
                tracing::warn!(path = %temp.display(), "the blob cache could not write a blob: {error}");
                Outcome::Failed
            });
        if outcome != Outcome::Stored {
            let _ = fs::remove_file(&temp);
        }
        if outcome == Outcome::Mismatch {
            tracing::warn!(
                oci.digest = %format!("sha256:{hex}"),
                "a registry sent bytes that are not those of the blob's digest: not cached"
            );
        }
        outcome
    }

    /// Writes what `messages` bring to `temp` and, when they end as announced with the bytes
    /// of `hex`, renames it into place.
    fn write_to(
        &self,
        temp: &Path,
        hex: &str,
        size: u64,
        mut messages: mpsc::UnboundedReceiver<Message>,
    ) -> io::Result<Outcome> {
        let mut file = create_private_file(temp)?;
        let mut written = 0_u64;
        loop {
            let chunk = match messages.blocking_recv() {
                Some(Message::Bytes(chunk)) => chunk,
                Some(Message::Fetched(chunk, _room)) => {
                    self.metrics.blob_cache_fetched_bytes(chunk.len() as u64);
                    chunk
                }
                Some(Message::End) => break,
                None => return Ok(Outcome::Abandoned),
            };
            written += chunk.len() as u64;
            if written > size {
                return Ok(Outcome::Mismatch);
            }
            file.write_all(&chunk)?;
        }
        if written != size || !hashes_to(temp, hex)? {
            return Ok(Outcome::Mismatch);
        }
        file.sync_all()?;
        fs::rename(temp, self.blob_path(hex))?;
        Ok(Outcome::Stored)
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

/// Whether the file at `path` hashes to the sha256 `hex`.
pub(super) fn hashes_to(path: &Path, hex: &str) -> io::Result<bool> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; HASH_READ];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(buffer.get(..read).unwrap_or_default());
    }
    Ok(hex::encode(hasher.finalize()) == hex)
}

/// Creates a new file readable by this user only.
pub(super) fn create_private_file(path: &Path) -> io::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
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
        (
            Tee::new(body, (size, copied_max), sender, refused()),
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
        assert!(matches!(receiver.recv().await, Some(Message::Bytes(chunk)) if chunk == "abc"));
        assert!(matches!(receiver.recv().await, Some(Message::Bytes(chunk)) if chunk == "de"));
        assert!(matches!(receiver.recv().await, Some(Message::End)));
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
        let mut tee = Tee::new(body, (8, 7), sender, fetch);
        tee.push(&Bytes::from_static(b"abcd"));
        tokio::task::yield_now().await;
        assert!(receiver.try_recv().is_err(), "nothing copied");
        assert!(
            !started.load(std::sync::atomic::Ordering::SeqCst),
            "nothing fetched yet"
        );
        tee.push(&Bytes::from_static(b"efgh"));
        for expected in ["abcd", "efgh"] {
            let Some(Message::Fetched(chunk, _room)) = receiver.recv().await else {
                panic!("the fetched bytes do not reach the writer");
            };
            assert_eq!(chunk, expected);
        }
        assert!(matches!(receiver.recv().await, Some(Message::End)));

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
