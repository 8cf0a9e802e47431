//! The catalog: every directory under the root that is an image layout (holds `oci-layout`).
//!
//! Specification: <https://github.com/opencontainers/image-spec/blob/main/image-layout.md>.
//! The walk is bounded in depth, never follows symbolic links, skips hidden entries (such as
//! `.uploads`) and never descends into a layout's `blobs`.

use std::fs;
use std::io;
use std::path::Path;

use super::LocalStore;
use super::layout::OCI_LAYOUT;
use crate::storage::error::StorageError;
use crate::storage::reference::{Repository, is_path_component};

/// The deepest repository found (components of its name).
const MAX_DEPTH: usize = 16;

impl LocalStore {
    /// Every repository under the root, sorted.
    pub(super) fn catalog_blocking(&self) -> Result<Vec<Repository>, StorageError> {
        let mut found = Vec::new();
        self.visit(&self.root.clone(), &mut Vec::new(), &mut found)?;
        found.sort();
        Ok(found)
    }

    fn visit(
        &self,
        dir: &Path,
        names: &mut Vec<String>,
        found: &mut Vec<Repository>,
    ) -> Result<(), StorageError> {
        let is_layout = !names.is_empty()
            && fs::symlink_metadata(dir.join(OCI_LAYOUT)).is_ok_and(|m| m.is_file());
        if is_layout {
            found.extend(Repository::parse(&names.join("/")).ok());
        }
        if names.len() >= MAX_DEPTH {
            return Ok(());
        }
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            // Removed while we walked.
            Err(error) if error.kind() == io::ErrorKind::NotFound && !names.is_empty() => {
                return Ok(());
            }
            Err(error) => return Err(self.io_at(dir)(error)),
        };
        for entry in entries {
            let entry = entry.map_err(self.io_at(dir))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            // Hidden names (`.uploads`, temporary files) are never repository components.
            if !is_path_component(&name) || (is_layout && name == "blobs") {
                continue;
            }
            // `file_type` does not follow symbolic links.
            if !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                continue;
            }
            names.push(name);
            let visited = self.visit(&entry.path(), names, found);
            names.pop();
            visited?;
        }
        Ok(())
    }
}
