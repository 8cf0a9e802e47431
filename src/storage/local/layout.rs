//! Where a repository's image layout lives on disk, and the file operations every writer
//! shares: directories created without following symbolic links, files made visible by
//! `rename` after `fsync`, and the exclusive lock that serialises `index.json` updates.
//!
//! Specification: <https://github.com/opencontainers/image-spec/blob/main/image-layout.md>.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::LocalStore;
use super::files::{create_dir, file_size, not_a_directory, write_atomically};
use super::index_json::{INDEX_JSON, IndexJson};
use crate::storage::error::StorageError;
use crate::storage::reference::{Digest, Repository};

/// The file whose presence makes a directory an image layout.
pub(super) const OCI_LAYOUT: &str = "oci-layout";
/// The file locked while `index.json` is rewritten.
const INDEX_LOCK: &str = "index.json.lock";
/// The blob directory of a layout.
const BLOBS: &str = "blobs";
/// The content of `oci-layout`.
pub(super) const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// Path components a repository may not use: they name files of the layout itself.
const RESERVED: [&str; 3] = [OCI_LAYOUT, INDEX_JSON, INDEX_LOCK];

/// The image-layout directory of one repository.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// The layout directory.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// `blobs/sha256`.
    pub(super) fn blobs_dir(&self) -> PathBuf {
        self.dir.join(BLOBS).join("sha256")
    }

    /// `blobs/sha256/<hex>`.
    pub(super) fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }

    /// `index.json`.
    pub(super) fn index_path(&self) -> PathBuf {
        self.dir.join(INDEX_JSON)
    }

    /// Takes the exclusive lock on `index.json.lock`, waiting for other holders (threads or
    /// processes). Released when the guard is dropped.
    pub(super) fn lock(&self, store: &LocalStore) -> Result<IndexLock, StorageError> {
        let path = self.dir.join(INDEX_LOCK);
        // Never let `create` follow a symbolic link out of the root.
        file_size(store, &path)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(store.io_at(&path))?;
        // `File::lock` (flock on Unix, LockFileEx on Windows) is stable since Rust 1.89.
        file.lock().map_err(store.io_at(&path))?;
        Ok(IndexLock { file })
    }
}

/// An exclusive advisory lock on a layout's `index.json.lock`.
#[derive(Debug)]
pub(super) struct IndexLock {
    file: File,
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first only makes it prompt.
        let _ = self.file.unlock();
    }
}

impl LocalStore {
    /// The layout of `repository`, when it exists.
    pub(super) fn find_layout(
        &self,
        repository: &Repository,
    ) -> Result<Option<Layout>, StorageError> {
        let Some(dir) = self.walk(repository, false)? else {
            return Ok(None);
        };
        if file_size(self, &dir.join(OCI_LAYOUT))?.is_none() {
            return Ok(None);
        }
        let layout = Layout { dir };
        // The blob directories must be real directories too (when present).
        for blobs in [layout.dir.join(BLOBS), layout.blobs_dir()] {
            match fs::symlink_metadata(&blobs) {
                Ok(metadata) if metadata.is_dir() => {}
                Ok(_) => return Err(self.io_at(&blobs)(not_a_directory())),
                Err(error) if error.kind() == io::ErrorKind::NotFound => break,
                Err(error) => return Err(self.io_at(&blobs)(error)),
            }
        }
        Ok(Some(layout))
    }

    /// The layout of `repository`, created if needed. Creation is safe against concurrent
    /// creators: `oci-layout` appears last, by rename, under the index lock.
    pub(super) fn create_layout(&self, repository: &Repository) -> Result<Layout, StorageError> {
        let Some(dir) = self.walk(repository, true)? else {
            return Err(self.io_at(&self.root)(io::Error::other(
                "a directory vanished",
            )));
        };
        let layout = Layout { dir };
        let marker = layout.dir.join(OCI_LAYOUT);
        let exists = file_size(self, &marker)?.is_some();
        if !exists && file_size(self, &layout.dir.join(BLOBS).join(OCI_LAYOUT))?.is_some() {
            // A repository named `<this>/blobs` exists: this layout's blobs would be its files.
            return Err(reserved(repository));
        }
        create_dir(self, &layout.dir.join(BLOBS))?;
        create_dir(self, &layout.blobs_dir())?;
        if exists {
            return Ok(layout);
        }
        let _lock = layout.lock(self)?;
        if file_size(self, &marker)?.is_some() {
            return Ok(layout);
        }
        if file_size(self, &layout.index_path())?.is_none() {
            IndexJson::empty().write(self, &layout.dir)?;
        }
        write_atomically(self, &layout.dir, OCI_LAYOUT, OCI_LAYOUT_CONTENT)?;
        tracing::info!(oci.repository = %repository, "created the image layout of `{repository}`");
        Ok(layout)
    }

    /// The directory of `repository`, component by component, refusing symbolic links and
    /// names that collide with layout files. Missing directories are created when `create`,
    /// otherwise the answer is `None`.
    fn walk(&self, repository: &Repository, create: bool) -> Result<Option<PathBuf>, StorageError> {
        check_reserved(repository)?;
        let mut dir = self.root.clone();
        for (position, component) in repository.as_str().split('/').enumerate() {
            if position > 0
                && component == BLOBS
                && file_size(self, &dir.join(OCI_LAYOUT))?.is_some()
            {
                return Err(reserved(repository));
            }
            dir.push(component);
            match fs::symlink_metadata(&dir) {
                Ok(metadata) if metadata.is_dir() => {}
                Ok(_) => return Err(self.io_at(&dir)(not_a_directory())),
                Err(error) if error.kind() == io::ErrorKind::NotFound && create => {
                    create_dir(self, &dir)?;
                }
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(error) => return Err(self.io_at(&dir)(error)),
            }
        }
        Ok(Some(dir))
    }
}

/// Refuses repositories whose path would name a file of a layout.
pub(super) fn check_reserved(repository: &Repository) -> Result<(), StorageError> {
    if repository
        .as_str()
        .split('/')
        .any(|component| RESERVED.contains(&component))
    {
        return Err(reserved(repository));
    }
    Ok(())
}

fn reserved(repository: &Repository) -> StorageError {
    StorageError::InvalidReference {
        kind: "repository",
        input: repository.to_string(),
        reason: "uses a name the OCI image layout reserves (`index.json`, `index.json.lock`, \
                 `oci-layout`, or `blobs` inside a repository)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_are_refused() {
        for name in ["a/index.json", "a/oci-layout/b", "index.json.lock"] {
            let repository = Repository::parse(name).unwrap();
            let error = check_reserved(&repository).unwrap_err();
            assert!(error.to_string().contains("reserves"), "{error}");
        }
        check_reserved(&Repository::parse("a/blobs").unwrap()).unwrap();
    }

    #[test]
    fn blobs_inside_a_repository_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalStore::open(root.path()).unwrap();
        store
            .create_layout(&Repository::parse("team/app").unwrap())
            .unwrap();
        let nested = Repository::parse("team/app/blobs").unwrap();
        assert!(store.create_layout(&nested).is_err());
        assert!(store.find_layout(&nested).is_err());
        // `blobs` is an ordinary name where no layout encloses it.
        let free = Repository::parse("other/blobs").unwrap();
        store.create_layout(&free).unwrap();
        assert!(
            store
                .create_layout(&Repository::parse("other").unwrap())
                .is_err()
        );
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let store = LocalStore::open(root.path()).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("team")).unwrap();
        let repository = Repository::parse("team/app").unwrap();
        let error = store.create_layout(&repository).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the local store cannot use `team`",
            "the message names the path relative to the root"
        );
        assert!(store.find_layout(&repository).is_err());
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}
