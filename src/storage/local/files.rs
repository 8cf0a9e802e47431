//! Durable file operations on the store's tree: directories created and synced, sizes of
//! regular files (never following symbolic links), and files replaced atomically.

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::Path;

use super::LocalStore;
use crate::storage::error::StorageError;

/// The error for a name that must be a real directory and is not.
pub(super) fn not_a_directory() -> io::Error {
    io::Error::other("not a directory (symbolic links are not followed)")
}

/// Creates the directory `path` unless it exists; either way it must then be a real
/// directory. A new directory is made durable in its parent.
pub(super) fn create_dir(store: &LocalStore, path: &Path) -> Result<(), StorageError> {
    match fs::create_dir(path) {
        Ok(()) => {
            if let Some(parent) = path.parent() {
                sync_dir(store, parent)?;
            }
        }
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(store.io_at(path)(error)),
    }
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(store.io_at(path)(not_a_directory())),
        Err(error) => Err(store.io_at(path)(error)),
    }
}

/// The size of the regular file `path`; `None` when absent. Anything else under that name (a
/// directory, a symbolic link) is an error.
pub(super) fn file_size(store: &LocalStore, path: &Path) -> Result<Option<u64>, StorageError> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_file() => Ok(Some(metadata.len())),
        Ok(_) => Err(store.io_at(path)(io::Error::other(
            "not a regular file (symbolic links are not followed)",
        ))),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(store.io_at(path)(error)),
    }
}

/// Replaces `dir/name` with `bytes` atomically: a hidden temporary file in the same directory
/// is written, synced, renamed over the target, and the directory synced.
pub(super) fn write_atomically(
    store: &LocalStore,
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<(), StorageError> {
    let target = dir.join(name);
    let temp = dir.join(format!(".{name}.{}.tmp", super::unique_name()));
    let written = File::create_new(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp, &target));
    if let Err(error) = written {
        let _ = fs::remove_file(&temp);
        return Err(store.io_at(&target)(error));
    }
    sync_dir(store, dir)
}

/// Makes the entries of `dir` (new names, renames) durable.
pub(super) fn sync_dir(store: &LocalStore, dir: &Path) -> Result<(), StorageError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|handle| handle.sync_all())
            .map_err(store.io_at(dir))
    }
    #[cfg(not(unix))]
    {
        let _ = (store, dir);
        Ok(())
    }
}
