//! The writer of a fill or of an upload copy: a blocking thread that writes the bytes it is
//! sent to a temporary file of its own, then checks them against the digest named with the
//! last message, before the blob is moved into place.

use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::path::Path;

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::BlobCache;
use crate::storage::temp_name::unique_name;

/// Bytes that may wait for the disk in a writer's queue, where its sender counts them: the
/// cache's own fetch then waits, an upload copy is given up.
pub(super) const WRITE_AHEAD: u32 = 16 << 20;
/// Size of the reads that check a written blob's digest.
const HASH_READ: usize = 1 << 20;

/// What a writer is sent.
pub(super) enum Message {
    /// The next bytes, with the room they take in the sender's queue when it counts it
    /// (freed once they are written).
    Bytes(Bytes, Option<OwnedSemaphorePermit>),
    /// All the bytes were sent: they are those of the blob of this hex digest.
    End(String),
}

/// How a fill or an upload copy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Kept.
    Stored,
    /// Its transfer stopped early or failed (or was refused), or the blob was held already.
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

/// The room `chunk` takes in a writer's queue (all of it, for a chunk larger than it).
pub(super) fn room_for(chunk: &Bytes) -> u32 {
    u32::try_from(chunk.len()).map_or(WRITE_AHEAD, |len| len.min(WRITE_AHEAD))
}

impl BlobCache {
    /// Writes what `messages` bring to a new file in `tmp/` until `End`, checks it (`size`
    /// bytes when announced, hashing to the digest `End` names), `fsync`s it and hands it to
    /// `keep` with that hex digest and its size. The file is removed unless kept.
    pub(super) fn write_blob(
        &self,
        messages: mpsc::UnboundedReceiver<Message>,
        size: Option<u64>,
        keep: impl FnOnce(&Path, &str, u64) -> io::Result<Outcome>,
    ) -> Outcome {
        let temp = self.root.join("tmp").join(unique_name());
        let outcome = write_checked(&temp, messages, size)
            .and_then(|checked| match checked {
                Ok((hex, written)) => keep(&temp, &hex, written),
                Err(outcome) => Ok(outcome),
            })
            .unwrap_or_else(|error| {
                tracing::warn!(path = %temp.display(), "the blob cache could not write a blob: {error}");
                Outcome::Failed
            });
        if outcome != Outcome::Stored {
            let _ = fs::remove_file(&temp);
        }
        outcome
    }
}

/// The hex digest and size of the bytes `messages` bring, written to `temp` and checked;
/// or how the writing ended.
fn write_checked(
    temp: &Path,
    mut messages: mpsc::UnboundedReceiver<Message>,
    size: Option<u64>,
) -> io::Result<Result<(String, u64), Outcome>> {
    let mut file = create_private_file(temp)?;
    let mut written = 0_u64;
    let hex = loop {
        match messages.blocking_recv() {
            Some(Message::Bytes(chunk, _room)) => {
                written += chunk.len() as u64;
                if size.is_some_and(|size| written > size) {
                    return Ok(Err(Outcome::Mismatch));
                }
                file.write_all(&chunk)?;
            }
            Some(Message::End(hex)) => break hex,
            None => return Ok(Err(Outcome::Abandoned)),
        }
    };
    if size.is_some_and(|size| written != size) || !hashes_to(temp, &hex)? {
        tracing::warn!(
            oci.digest = %format!("sha256:{hex}"),
            "bytes that are not those of the blob's digest: not cached"
        );
        return Ok(Err(Outcome::Mismatch));
    }
    file.sync_all()?;
    Ok(Ok((hex, written)))
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
