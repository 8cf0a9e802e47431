//! Keeping blobs uploaded through this server, so that a file published here is sent from
//! the disk from its first download on. The upload's bytes are copied to a temporary file as
//! they pass, never making the upload wait: a copy `WRITE_AHEAD` bytes behind its upload (a
//! stalled disk) is given up. Once the registry has accepted the blob, the file is kept under
//! the blob's digest if its bytes hash to it.
//!
//! Only blobs of up to the cache's copy limit are copied, as for downloads (`COPIED_MAX`,
//! 16 MiB, unless configured): copying a 1 GiB upload made it 4% slower on a busy 2-core
//! machine (the write's CPU, taken from the registry's); a larger file is kept by its first
//! download instead.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc};

use super::BlobCache;
use super::fill::FILLS_AT_ONCE;
use super::writer::{Message, Outcome, WRITE_AHEAD, room_for};
use crate::storage::reference::Digest;

/// The copy of one upload, on its way to the cache.
#[derive(Debug)]
pub struct UploadCopy {
    to_writer: Option<mpsc::UnboundedSender<Message>>,
    room: Arc<Semaphore>,
    copied: u64,
    /// Past this many bytes, the copy is given up.
    limit: u64,
}

impl BlobCache {
    /// A copy for an upload starting now; `None` when as many fills and copies as allowed
    /// are under way.
    #[must_use]
    pub fn copy_upload(self: &Arc<Self>) -> Option<UploadCopy> {
        {
            let mut state = self.lock();
            if state.writers() >= FILLS_AT_ONCE {
                drop(state);
                self.metrics.record_blob_cache_fill("busy");
                return None;
            }
            state.copies += 1;
        }
        let (to_writer, messages) = mpsc::unbounded_channel();
        let cache = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let outcome = cache.write_blob(messages, None, |temp, hex, size| {
                cache.adopt(temp, hex, size)
            });
            cache.lock().copies -= 1;
            cache.metrics.record_blob_cache_fill(outcome.label());
            cache.report_size();
        });
        Some(UploadCopy {
            to_writer: Some(to_writer),
            room: Arc::new(Semaphore::new(WRITE_AHEAD as usize)),
            copied: 0,
            limit: self.capacity.min(self.copied_max),
        })
    }

    /// Moves the checked file `temp` of `size` bytes into place as `hex`, making room; an
    /// abandoned outcome when the cache holds it already or a download is filling it.
    fn adopt(&self, temp: &Path, hex: &str, size: u64) -> io::Result<Outcome> {
        let victims = {
            let mut state = self.lock();
            if state.stored.contains(hex) || state.filling.contains(hex) {
                return Ok(Outcome::Abandoned);
            }
            let victims = state.make_room(size, self.capacity);
            // Renamed under the lock: a lookup never finds the blob before its file.
            fs::rename(temp, self.blob_path(hex))?;
            state.stored.insert(hex.to_owned(), size, size);
            victims
        };
        self.remove_blobs(&victims);
        Ok(Outcome::Stored)
    }
}

impl UploadCopy {
    /// Copies the next bytes of the upload, unless the copy was given up: the disk is
    /// `WRITE_AHEAD` bytes behind, the blob outgrew `COPIED_MAX` or the cache, or the writer
    /// failed.
    pub fn push(&mut self, chunk: &Bytes) {
        let Some(sender) = &self.to_writer else {
            return;
        };
        self.copied += chunk.len() as u64;
        let room = if self.copied > self.limit {
            None
        } else {
            Arc::clone(&self.room)
                .try_acquire_many_owned(room_for(chunk))
                .ok()
        };
        let sent = room.is_some_and(|room| {
            sender
                .send(Message::Bytes(chunk.clone(), Some(room)))
                .is_ok()
        });
        if !sent {
            self.to_writer = None;
        }
    }

    /// The registry accepted the blob as `digest`: the copy is kept once its bytes are
    /// checked against it. Dropping a copy without this abandons it.
    pub fn keep(mut self, digest: &Digest) {
        if let Some(sender) = self.to_writer.take() {
            let _ = sender.send(Message::End(digest.hex().to_owned()));
        }
    }
}
