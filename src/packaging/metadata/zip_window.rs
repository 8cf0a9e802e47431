//! What both sides of wheel reading share: the window of kept bytes addressed by file
//! offsets, and the errors for a corrupt or unsupported archive.

use super::{MetadataError, to_u64};

/// One step of reading an archive.
pub(super) type Step<T> = Result<T, MetadataError>;

/// The kept last bytes of a file, addressed by absolute file offsets.
pub(super) struct Window<'a> {
    pub(super) bytes: &'a [u8],
    /// The offset of `bytes` in the file.
    pub(super) base: u64,
    pub(super) total: u64,
}

impl<'a> Window<'a> {
    pub(super) fn new(bytes: &'a [u8], total: u64) -> Result<Self, MetadataError> {
        let tail = to_u64(bytes.len());
        let base = total
            .checked_sub(tail)
            .ok_or(MetadataError::TailTooLong(tail, total))?;
        Ok(Self { bytes, base, total })
    }

    /// The bytes at `offset..offset + length`; unreadable when they start before the tail.
    pub(super) fn slice(&self, offset: u64, length: u64, what: &str) -> Step<&'a [u8]> {
        let past_end = || corrupt_zip(format!("{what} extends past the end of the file"));
        let end = offset
            .checked_add(length)
            .filter(|end| *end <= self.total)
            .ok_or_else(past_end)?;
        let start = offset
            .checked_sub(self.base)
            .ok_or_else(|| self.before_tail(what, offset))?;
        let start = usize::try_from(start).ok();
        let end = usize::try_from(end - self.base).ok();
        start
            .zip(end)
            .and_then(|(start, end)| self.bytes.get(start..end))
            .ok_or_else(past_end)
    }

    /// The error for `what` starting before the kept bytes.
    pub(super) fn before_tail(&self, what: &str, offset: u64) -> MetadataError {
        MetadataError::Unreadable(format!(
            "{what} (at offset {offset}) lies before the last {} bytes kept to read it",
            self.bytes.len()
        ))
    }
}

/// The archive is corrupt: `reason` says where.
pub(super) fn corrupt_zip(reason: impl Into<String>) -> MetadataError {
    MetadataError::CorruptZip(reason.into())
}

/// The archive uses a feature not supported here: `reason` names it.
pub(super) fn unsupported_zip(reason: impl Into<String>) -> MetadataError {
    MetadataError::UnsupportedZip(reason.into())
}
