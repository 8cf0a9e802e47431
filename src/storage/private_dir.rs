//! Directories that hold copies of private packages.

use std::fs;
use std::io;
use std::path::Path;

/// Creates `dir` (and its missing parents) if needed, readable by this user only (it holds
/// private packages).
pub(super) fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
