//! A local directory as a [`Store`]: one OCI image layout per repository.
//!
//! Specification: the OCI image layout,
//! <https://github.com/opencontainers/image-spec/blob/main/image-layout.md>. Repository
//! `team/python/hello_world` lives in `<root>/team/python/hello_world/`, which holds
//! `oci-layout`, `index.json` (an image index whose `manifests` are the tagged manifests, each
//! annotated with `org.opencontainers.image.ref.name` = its tag) and `blobs/sha256/<hex>` (every
//! blob and every manifest, by content). This is what `skopeo copy oci:<dir>:<tag>` and `oras`
//! read and write. A repository exists when its `oci-layout` does.
//!
//! Crash safety: files only become visible by `rename` after `fsync`, so every visible file is
//! complete. `index.json` is rewritten under an exclusive advisory lock on
//! `<layout>/index.json.lock`, so concurrent writers (other processes included) never lose an
//! update, and readers, who take no lock, only ever see a whole `index.json`. Uploads in
//! progress live in `<root>/.uploads/`. Paths inside the root are never followed through
//! symbolic links. Knows nothing of Python.

mod blobs;
mod catalog;
mod files;
mod index_json;
mod layout;
mod manifests;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

pub use blobs::LocalUpload;

use super::error::StorageError;
use super::store::Store;
use super::temp_name::unique_name;

/// The directory of in-progress uploads, under the root.
const UPLOADS_DIR: &str = ".uploads";
/// Uploads untouched for this long are left over from a crash and deleted at [`LocalStore::open`].
const STALE_UPLOAD_AGE: Duration = Duration::from_secs(60 * 60);

/// An OCI image-layout directory per repository, under one root. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Opens (creating it if missing) the store rooted at `root`, creates `<root>/.uploads/`
    /// and deletes uploads left there by a crash more than an hour ago.
    ///
    /// # Errors
    /// [`StorageError::Io`] when `root` is not a directory, cannot be created, or is not
    /// writable.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        let root_error = |source| StorageError::Io {
            path: root.display().to_string(),
            source,
        };
        match std::fs::metadata(&root) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => return Err(root_error(io::Error::other("not a directory"))),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&root).map_err(root_error)?;
            }
            Err(error) => return Err(root_error(error)),
        }
        let store = Self { root };
        files::create_dir(&store, &store.uploads_dir())?;
        let probe = store.temp_path();
        let file = std::fs::File::create_new(&probe).map_err(store.io_at(&probe))?;
        drop(file);
        std::fs::remove_file(&probe).map_err(store.io_at(&probe))?;
        store.remove_stale_uploads();
        Ok(store)
    }

    /// The root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn uploads_dir(&self) -> PathBuf {
        self.root.join(UPLOADS_DIR)
    }

    /// A fresh, unused name in `.uploads`.
    fn temp_path(&self) -> PathBuf {
        self.uploads_dir().join(unique_name())
    }

    /// Best effort: a failure only leaves garbage behind.
    fn remove_stale_uploads(&self) {
        let Ok(entries) = std::fs::read_dir(self.uploads_dir()) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|metadata| metadata.modified())
                .is_ok_and(|modified| {
                    now.duration_since(modified)
                        .is_ok_and(|age| age > STALE_UPLOAD_AGE)
                });
            if stale {
                tracing::info!(path = %entry.path().display(), "removing a stale upload");
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// `path` as named in errors: relative to the root, so that errors do not reveal where the
    /// store lives.
    fn display_path(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Turns I/O errors on `path` into [`StorageError::Io`] (as many as it is called for).
    fn io_at(&self, path: &Path) -> impl Fn(io::Error) -> StorageError + use<> {
        let path = self.display_path(path);
        move |source| StorageError::Io {
            path: path.clone(),
            source,
        }
    }
}

/// Runs blocking file-system work off the async threads.
async fn blocking<T, F>(work: F) -> Result<T, StorageError>
where
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|_| {
        Err(StorageError::Io {
            path: ".".to_owned(),
            source: io::Error::other("a storage task did not finish"),
        })
    })
}

/// The local store as a [`Store`]; its manifests and blobs are in `manifests.rs` and
/// `blobs.rs`.
#[async_trait]
impl Store for LocalStore {
    fn location(&self) -> String {
        "local store".to_owned()
    }

    fn credentials_fingerprint(&self) -> String {
        "local".to_owned()
    }

    async fn ping(&self) -> Result<(), StorageError> {
        let store = self.clone();
        blocking(move || {
            std::fs::read_dir(&store.root)
                .map(drop)
                .map_err(store.io_at(&store.root))
        })
        .await
    }
}
