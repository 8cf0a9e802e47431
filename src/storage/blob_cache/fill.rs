//! Filling the cache from a download on its way to the client: the bytes pass through
//! unchanged and a copy goes to a writer thread, which keeps the blob only once all of it is
//! on disk and hashes to its digest (checked after the last byte, off the download's path).
//! The download waits for the writer when it is [`FILL_QUEUE_BYTES`] behind, so a fill
//! completes even on a busy machine: the first download of a blob runs at the speed of the
//! disk's page cache at worst, and every later one is sent from the disk. When the writer
//! fails, the download goes on without it.

use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use super::BlobCache;
use crate::storage::reference::Digest;
use crate::storage::store::ByteStream;

/// How far (bytes) the writer may fall behind a download before the download waits for it.
const FILL_QUEUE_BYTES: usize = 16 << 20;
/// Bytes gathered before they go to the writer together.
const FILL_BATCH: usize = 512 << 10;
/// Size of the reads that check a filled blob's digest.
const HASH_READ: usize = 1 << 20;

/// What the download tells the writer.
pub(super) enum Message {
    /// The next bytes.
    Bytes(Vec<Bytes>),
    /// All the bytes were sent.
    End,
}

/// How a fill ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Kept.
    Stored,
    /// The download stopped early or failed.
    Abandoned,
    /// The bytes were not those of the digest (or not as many as announced).
    Mismatch,
    /// The disk refused.
    Failed,
}

impl Outcome {
    fn label(self) -> &'static str {
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
    to_writer: Option<mpsc::Sender<Message>>,
    batch: Vec<Bytes>,
    batched: usize,
    /// Bytes still to come; at zero the writer is told all were sent (the HTTP server stops
    /// reading a body once it has sent its `Content-Length`, so the end may never be seen).
    left: u64,
    done: bool,
}

impl Tee {
    fn new(body: ByteStream, size: u64, to_writer: mpsc::Sender<Message>) -> Self {
        Self {
            body,
            to_writer: Some(to_writer),
            batch: Vec::new(),
            batched: 0,
            left: size,
            done: false,
        }
    }

    /// Takes a copy of the next bytes for the writer, while it works.
    async fn push(&mut self, chunk: &Bytes) {
        if self.to_writer.is_none() {
            return;
        }
        self.batched += chunk.len();
        self.batch.push(chunk.clone());
        match self.left.checked_sub(chunk.len() as u64) {
            Some(0) => self.finish().await,
            Some(left) => {
                self.left = left;
                if self.batched >= FILL_BATCH {
                    self.send_batch().await;
                }
            }
            // More than announced: the fill is given up.
            None => self.to_writer = None,
        }
    }

    /// Hands the gathered bytes to the writer; a writer gone (it failed) is left behind.
    async fn send_batch(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        self.batched = 0;
        if let (Some(sender), false) = (&self.to_writer, batch.is_empty()) {
            if sender.send(Message::Bytes(batch)).await.is_err() {
                self.to_writer = None;
            }
        }
    }

    /// Tells the writer all the bytes were sent.
    async fn finish(&mut self) {
        self.send_batch().await;
        if let Some(sender) = self.to_writer.take() {
            let _ = sender.send(Message::End).await;
        }
    }
}

impl BlobCache {
    /// `body`, the whole blob `digest` of `size` bytes as a registry sends it, passed through
    /// unchanged while a copy fills the cache; `body` alone when the cache already holds the
    /// blob, is filling it, or could never hold it.
    #[must_use]
    pub fn tee(self: &Arc<Self>, digest: &Digest, size: u64, body: ByteStream) -> ByteStream {
        let Some(to_writer) = self.start_fill(digest, size) else {
            return body;
        };
        let tee = Tee::new(body, size, to_writer);
        Box::pin(futures_util::stream::unfold(tee, |mut tee| async move {
            if tee.done {
                return None;
            }
            match tee.body.next().await {
                Some(Ok(chunk)) => {
                    tee.push(&chunk).await;
                    Some((Ok(chunk), tee))
                }
                Some(Err(error)) => {
                    // Dropping the sender without `End` abandons the fill.
                    tee.to_writer = None;
                    tee.done = true;
                    Some((Err(error), tee))
                }
                None => {
                    tee.finish().await;
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
    ) -> Option<mpsc::Sender<Message>> {
        let hex = digest.hex().to_owned();
        if size > self.capacity {
            self.metrics.record_blob_cache_fill("too_large");
            return None;
        }
        let victims = {
            let mut state = self.lock();
            if state.stored.contains(&hex) || !state.filling.insert(hex.clone()) {
                return None;
            }
            let victims = state.make_room(size, self.capacity);
            state.reserved += size;
            victims
        };
        let (to_writer, messages) = mpsc::channel(FILL_QUEUE_BYTES / FILL_BATCH);
        let cache = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            cache.remove_blobs(&victims);
            let outcome = cache.write(&hex, size, messages);
            cache.end_fill(&hex, size, outcome);
        });
        Some(to_writer)
    }

    /// Writes the blob to a temporary file, then checks and keeps it.
    fn write(&self, hex: &str, size: u64, messages: mpsc::Receiver<Message>) -> Outcome {
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

    /// Writes what `messages` bring to `temp` and, when they end as announced with the
    /// bytes of `hex`, renames it into place.
    fn write_to(
        &self,
        temp: &Path,
        hex: &str,
        size: u64,
        mut messages: mpsc::Receiver<Message>,
    ) -> io::Result<Outcome> {
        let mut file = create_private_file(temp)?;
        let mut written = 0_u64;
        loop {
            match messages.blocking_recv() {
                Some(Message::Bytes(chunks)) => {
                    for chunk in chunks {
                        file.write_all(&chunk)?;
                        written += chunk.len() as u64;
                    }
                }
                Some(Message::End) => break,
                None => return Ok(Outcome::Abandoned),
            }
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
fn hashes_to(path: &Path, hex: &str) -> io::Result<bool> {
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
fn create_private_file(path: &Path) -> io::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_writer_does_not_stop_the_download() {
        let (sender, receiver) = mpsc::channel(1);
        let mut tee = Tee::new(Box::pin(futures_util::stream::empty()), 1 << 30, sender);
        let batch = Bytes::from(vec![0; FILL_BATCH]);
        tee.push(&batch).await;
        assert!(tee.to_writer.is_some(), "room for one batch");
        drop(receiver);
        tee.push(&batch).await;
        assert!(tee.to_writer.is_none(), "the writer is gone: left behind");
        tee.push(&batch).await;
        assert!(tee.batch.is_empty(), "nothing more is copied");
        tee.finish().await;
    }

    #[tokio::test]
    async fn the_writer_hears_of_the_end_with_the_last_announced_byte() {
        let (sender, mut receiver) = mpsc::channel(4);
        let mut tee = Tee::new(Box::pin(futures_util::stream::empty()), 5, sender);
        tee.push(&Bytes::from_static(b"abc")).await;
        tee.push(&Bytes::from_static(b"de")).await;
        assert!(matches!(receiver.recv().await, Some(Message::Bytes(batch)) if batch.len() == 2));
        assert!(matches!(receiver.recv().await, Some(Message::End)));
        assert!(receiver.recv().await.is_none());

        let (sender, mut receiver) = mpsc::channel(4);
        let mut tee = Tee::new(Box::pin(futures_util::stream::empty()), 2, sender);
        tee.push(&Bytes::from_static(b"abc")).await;
        assert!(
            receiver.recv().await.is_none(),
            "more than announced: given up"
        );
    }
}
