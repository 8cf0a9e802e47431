//! An upload's bytes kept on disk until the registry has committed them
//! (`--upload-spool-dir`), so that an upload too large to keep in memory can still be sent
//! again whole when the registry refuses or fails its `PATCH` or its commit (see
//! `registry/blobs.rs`, which decides when).
//!
//! Each upload gets a file of its own, removed from the directory as soon as it is open: it
//! has no name, so it goes with its upload, even when the process dies. The bytes are
//! written by a blocking thread as they pass; the upload waits for the disk only when
//! [`WRITE_AHEAD`] chunks are queued. A write that fails ends the spool: the upload goes on
//! without it, as it would without the option.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::error::StorageError;
use super::file_body::stream_range;
use super::private_dir::create_private_dir;
use super::store::ByteStream;
use super::temp_name::unique_name;

/// Chunks that may wait for the disk before the upload waits for it.
const WRITE_AHEAD: usize = 16;
/// How a spool file's name starts (it has one only between its creation and its removal, or
/// where files cannot be removed while open).
const FILE_PREFIX: &str = "upload-";

/// The directory uploads are spooled to.
#[derive(Debug, Clone)]
pub struct SpoolDir {
    path: PathBuf,
}

impl SpoolDir {
    /// The directory at `path`, created readable by this user only if missing, and checked
    /// by spooling nothing in it. Files an earlier process could not remove are removed.
    ///
    /// # Errors
    /// [`StorageError::SpoolIo`] when the directory cannot be made, read or written.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let path = path.into();
        let shown = path.display().to_string();
        let io_error = |source| StorageError::SpoolIo {
            path: shown.clone(),
            source,
        };
        create_private_dir(&path).map_err(io_error)?;
        for entry in fs::read_dir(&path).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            if entry.file_name().to_string_lossy().starts_with(FILE_PREFIX) {
                let _ = fs::remove_file(entry.path());
            }
        }
        let dir = Self { path };
        drop(SpoolFile::create(&dir.path).map_err(io_error)?);
        Ok(dir)
    }

    /// A spool for one upload; `None` (logged) when its file cannot be made.
    #[must_use]
    pub fn spool(&self) -> Option<Spool> {
        match SpoolFile::create(&self.path).and_then(Spool::start) {
            Ok(spool) => Some(spool),
            Err(error) => {
                tracing::warn!(
                    "cannot spool an upload to `{}` ({error}): it goes on without",
                    self.path.display()
                );
                None
            }
        }
    }
}

/// A file without a name, or (where an open file cannot be removed) one removed when dropped.
#[derive(Debug)]
struct SpoolFile {
    file: File,
    named: Option<PathBuf>,
}

impl SpoolFile {
    fn create(dir: &Path) -> io::Result<Self> {
        let path = dir.join(format!("{FILE_PREFIX}{}", unique_name()));
        let mut options = OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        let named = fs::remove_file(&path).is_err().then_some(path);
        Ok(Self { file, named })
    }
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        if let Some(path) = &self.named {
            let _ = fs::remove_file(path);
        }
    }
}

/// What the writer thread is sent.
enum Message {
    /// The next bytes.
    Bytes(Bytes),
    /// Answer how many bytes are written, once those sent before are.
    Written(oneshot::Sender<u64>),
}

/// The bytes of one upload, on their way to disk.
#[derive(Debug)]
pub struct Spool {
    /// `None` once a write failed.
    to_writer: Option<mpsc::Sender<Message>>,
    /// Where bytes are read back (the writer has its own handle).
    file: Arc<File>,
    /// Bytes sent to the writer.
    pushed: u64,
}

impl Spool {
    /// Starts the writer of `spool`; fails when the file cannot be opened again for reading.
    fn start(spool: SpoolFile) -> io::Result<Self> {
        let (to_writer, messages) = mpsc::channel(WRITE_AHEAD);
        let file = Arc::new(spool.file.try_clone()?);
        tokio::task::spawn_blocking(move || write_all(spool, messages));
        Ok(Self {
            to_writer: Some(to_writer),
            file,
            pushed: 0,
        })
    }

    /// Appends `chunk`, waiting only while the disk is behind; `false` once the spool has
    /// failed (it then holds too little to be of use).
    pub async fn push(&mut self, chunk: Bytes) -> bool {
        let Some(to_writer) = &self.to_writer else {
            return false;
        };
        self.pushed += chunk.len() as u64;
        if to_writer.send(Message::Bytes(chunk)).await.is_err() {
            self.to_writer = None;
        }
        self.to_writer.is_some()
    }

    /// Every byte pushed, from the first, read back once they are all on disk; `None` when
    /// the spool failed.
    pub async fn read_back(&mut self) -> Option<ByteStream> {
        let to_writer = self.to_writer.as_ref()?;
        let (answer, written) = oneshot::channel();
        let written = match to_writer.send(Message::Written(answer)).await {
            Ok(()) => written.await.ok(),
            Err(_) => None,
        };
        if written != Some(self.pushed) {
            self.to_writer = None;
            return None;
        }
        let io_error = |error: io::Error| {
            StorageError::UploadAborted(format!("the upload spool could not be read: {error}"))
        };
        Some(stream_range(
            Arc::clone(&self.file),
            0,
            self.pushed,
            io_error,
        ))
    }
}

/// The writer thread: writes what it is sent until the spool is dropped or a write fails.
fn write_all(mut spool: SpoolFile, mut messages: mpsc::Receiver<Message>) {
    let mut written = 0;
    while let Some(message) = messages.blocking_recv() {
        match message {
            Message::Bytes(chunk) => {
                if let Err(error) = spool.file.write_all(&chunk) {
                    tracing::warn!(
                        bytes = written,
                        "an upload spool failed to write ({error}): the upload goes on without"
                    );
                    return;
                }
                written += chunk.len() as u64;
            }
            Message::Written(answer) => {
                let _ = answer.send(written);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::TryStreamExt as _;

    use super::*;

    /// Everything `spool` gives back, in one buffer.
    async fn read_back_all(spool: &mut Spool) -> Vec<u8> {
        let stream = spool.read_back().await.unwrap();
        let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
        chunks.concat()
    }

    fn names(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[tokio::test]
    async fn bytes_come_back_whole_from_a_file_without_a_name() {
        let root = tempfile::tempdir().unwrap();
        let dir = SpoolDir::open(root.path().join("spool")).unwrap();
        let mut spool = dir.spool().unwrap();
        assert!(names(&root.path().join("spool")).is_empty());
        let mut expected = Vec::new();
        for n in 0..40u8 {
            // Chunks of odd sizes, some larger than a read-back chunk.
            let chunk = Bytes::from(vec![n; usize::from(n) * 97_001]);
            expected.extend_from_slice(&chunk);
            assert!(spool.push(chunk).await);
        }
        for _ in 0..2 {
            assert_eq!(read_back_all(&mut spool).await, expected);
        }
        assert!(spool.push(Bytes::from_static(b"more")).await);
        expected.extend_from_slice(b"more");
        assert_eq!(read_back_all(&mut spool).await, expected);
        drop(spool);
        assert!(names(&root.path().join("spool")).is_empty());
    }

    #[tokio::test]
    async fn an_empty_spool_reads_back_nothing() {
        let root = tempfile::tempdir().unwrap();
        let mut spool = SpoolDir::open(root.path()).unwrap().spool().unwrap();
        assert!(read_back_all(&mut spool).await.is_empty());
    }

    #[test]
    fn files_left_behind_are_removed_and_others_kept() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("upload-123-abc-0"), b"left").unwrap();
        fs::write(root.path().join("notes.txt"), b"mine").unwrap();
        SpoolDir::open(root.path()).unwrap();
        assert_eq!(names(root.path()), ["notes.txt"]);
    }

    #[test]
    fn a_path_that_cannot_be_a_directory_is_refused_at_start() {
        let root = tempfile::tempdir().unwrap();
        let taken = root.path().join("a-file");
        fs::write(&taken, b"").unwrap();
        for path in [taken.clone(), taken.join("below")] {
            let error = SpoolDir::open(&path).unwrap_err();
            assert!(
                error.to_string().contains(&path.display().to_string()),
                "{error}"
            );
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_spool_whose_disk_is_full_fails_without_failing_its_upload() {
        // `/dev/full` takes the open and refuses every write, as a full disk does.
        let file = OpenOptions::new().write(true).open("/dev/full").unwrap();
        let mut spool = Spool::start(SpoolFile { file, named: None }).unwrap();
        let chunk = Bytes::from(vec![7; 1 << 20]);
        let mut pushes = 0;
        while spool.push(chunk.clone()).await {
            pushes += 1;
            assert!(pushes < 1000, "the writer never noticed its failure");
        }
        assert!(spool.read_back().await.is_none());
        assert!(!spool.push(chunk).await);
    }
}
