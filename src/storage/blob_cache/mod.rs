//! A bounded cache of registry blobs on the server's disk, so that a blob downloaded once is
//! sent again from a local file instead of crossing the network and the registry again.
//! It fills from downloads (`fill.rs`: small blobs copied as they pass, large ones fetched
//! again once their download is over) and from uploads through this server (`upload.rs`:
//! small blobs, kept once the registry accepted them).
//!
//! Blobs are content-addressed: the bytes of `sha256:<hex>` are the same in every repository
//! of every registry, so the cache is keyed by digest alone. It never decides who may read a
//! blob: before a cached blob is sent, the registry is asked (`HEAD`, with the caller's
//! credentials) whether that caller may read it in that repository; only the bytes come from
//! the disk (see `Registry::get_blob`).
//!
//! On disk, under its directory: `sha256/<hex>` for each blob, written only after its bytes
//! were checked against the digest, and `tmp/` for fills and copies in progress (emptied at
//! start).
//! The least recently used blobs are removed when a new one needs room; the order of use
//! survives restarts through each file's modification time. Processes may share a directory
//! (a blob one of them removed is fetched again by the others), but one that starts empties
//! `tmp/`, which loses the others' fills in progress: give each process its own.

mod fill;
mod upload;
mod writer;

pub use fill::{BlobFetch, FetchedBytes};
pub use upload::UploadCopy;

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use super::error::StorageError;
use super::file_body::file_download;
use super::private_dir::create_private_dir;
use super::reference::Digest;
use super::store::BlobDownload;
use crate::lru::Lru;
use crate::telemetry::Metrics;

/// The blob cache of one server.
#[derive(Debug)]
pub struct BlobCache {
    root: PathBuf,
    capacity: u64,
    /// The largest blob copied as its download passes (larger ones are fetched apart).
    copied_max: u64,
    state: Mutex<State>,
    metrics: Arc<Metrics>,
}

/// What the cache holds, in memory.
#[derive(Debug, Default)]
struct State {
    /// Stored blobs: their sizes by hex digest, weighing their sizes.
    stored: Lru<String, u64>,
    /// Bytes promised to fills in progress.
    reserved: u64,
    /// Hex digests being filled.
    filling: HashSet<String>,
    /// Copies of uploads in progress.
    copies: usize,
}

/// A blob found in the cache.
#[derive(Debug, Clone)]
pub struct CachedBlob {
    path: PathBuf,
    size: u64,
}

impl CachedBlob {
    /// Its size in bytes.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl BlobCache {
    /// Opens (creating it if needed) the cache in `root`, holding at most `capacity` bytes:
    /// fills left by a previous run are removed, and the blobs found are kept, the least
    /// recently used removed first if they exceed `capacity`.
    ///
    /// # Errors
    /// [`StorageError::CacheIo`] when the directory cannot be created or read.
    pub fn open(
        root: impl Into<PathBuf>,
        capacity: u64,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, StorageError> {
        Self::open_copying(root, capacity, fill::COPIED_MAX, metrics)
    }

    /// [`BlobCache::open`], copying blobs of at most `copied_max` bytes as their downloads
    /// or uploads pass (larger ones are fetched by the cache itself once their download is
    /// over, and not copied from uploads; with 0, no blob is copied). A copy more than 16 MiB
    /// behind its download is finished by such a fetch, one behind its upload given up.
    ///
    /// # Errors
    /// [`StorageError::CacheIo`] when the directory cannot be created or read.
    pub fn open_copying(
        root: impl Into<PathBuf>,
        capacity: u64,
        copied_max: u64,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, StorageError> {
        let root = root.into();
        let io_at = |path: &Path| {
            let shown = path.display().to_string();
            move |source| StorageError::CacheIo {
                path: shown,
                source,
            }
        };
        for dir in [root.clone(), root.join("sha256"), root.join("tmp")] {
            create_private_dir(&dir).map_err(io_at(&dir))?;
        }
        let tmp = root.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(io_at(&tmp))? {
            let path = entry.map_err(io_at(&tmp))?.path();
            let _ = fs::remove_file(&path);
        }
        let blobs = root.join("sha256");
        let mut found = Vec::new();
        for entry in fs::read_dir(&blobs).map_err(io_at(&blobs))? {
            let entry = entry.map_err(io_at(&blobs))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if !metadata.is_file() || Digest::from_sha256_hex(&name).is_err() {
                continue;
            }
            let used = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            found.push((used, name, metadata.len()));
        }
        found.sort();
        let cache = Self {
            root,
            capacity,
            copied_max,
            state: Mutex::new(State::default()),
            metrics,
        };
        let victims = {
            let mut state = cache.lock();
            for (_, hex, size) in found {
                state.stored.insert(hex, size, size);
            }
            state.make_room(0, capacity)
        };
        cache.remove_blobs(&victims);
        cache.report_size();
        Ok(Arc::new(cache))
    }

    /// The blob `digest`, when the cache holds it; counts as a use.
    #[must_use]
    pub fn lookup(&self, digest: &Digest) -> Option<CachedBlob> {
        let hex = digest.hex();
        let size = *self.lock().stored.get(hex)?;
        let path = self.blob_path(hex);
        let touched = path.clone();
        // The order of use outlives the process through the modification time.
        let touch = move || {
            let _ = fs::File::open(&touched).and_then(|file| file.set_modified(SystemTime::now()));
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn_blocking(touch);
        } else {
            touch();
        }
        Some(CachedBlob { path, size })
    }

    /// Drops `digest` and its file: found not to be what the registry holds under that
    /// digest, or its file gone (another process sharing the directory made room).
    pub fn forget(&self, digest: &Digest) {
        let hex = digest.hex();
        if self.lock().stored.remove(hex).is_some() {
            self.remove_blobs(&[hex.to_owned()]);
            self.report_size();
        }
    }

    /// The download of a cached blob, as `range` (an HTTP `Range` value) asks; `None` when its
    /// file went away in the meantime (removed to make room).
    ///
    /// # Errors
    /// [`StorageError::CacheIo`] when the file cannot be read.
    pub async fn download(
        &self,
        blob: &CachedBlob,
        range: Option<&str>,
    ) -> Result<Option<BlobDownload>, StorageError> {
        let shown = blob.path.display().to_string();
        let io_error = move |source| StorageError::CacheIo {
            path: shown.clone(),
            source,
        };
        file_download(&blob.path, blob.size, (range, false), io_error).await
    }

    /// Counts a lookup of a download (`hit` or `miss`).
    pub fn record_lookup(&self, result: &'static str) {
        self.metrics.record_blob_cache_lookup(result);
    }

    fn blob_path(&self, hex: &str) -> PathBuf {
        self.root.join("sha256").join(hex)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes the files of blobs already forgotten.
    fn remove_blobs(&self, hexes: &[String]) {
        for hex in hexes {
            let path = self.blob_path(hex);
            if let Err(error) = fs::remove_file(&path) {
                if error.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), "the blob cache could not remove a file: {error}");
                }
            }
        }
    }

    fn report_size(&self) {
        let stored = self.lock().stored.weight();
        self.metrics.blob_cache_bytes(stored);
    }
}

impl State {
    /// Fills and upload copies in progress (each has a writer).
    fn writers(&self) -> usize {
        self.filling.len() + self.copies
    }

    /// Forgets the least recently used blobs until `more` bytes fit under `capacity` beside
    /// the fills in progress; the hex digests forgotten, whose files are to be removed.
    fn make_room(&mut self, more: u64, capacity: u64) -> Vec<String> {
        let gone = self.stored.make_room(self.reserved + more, capacity);
        gone.into_iter().map(|(hex, _)| hex).collect()
    }
}

#[cfg(test)]
mod tests;
