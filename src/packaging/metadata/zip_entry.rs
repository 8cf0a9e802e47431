//! One entry of a wheel's zip: its data found behind its local file header (in the kept tail,
//! or in the bytes [`MetadataCapture`] kept), the local header checked against the central
//! directory, then inflated (stored or deflate) and checked (size, CRC-32).

use std::io::Read;

use flate2::bufread::DeflateDecoder;

use super::capture::{CAPTURE_LIMIT, MAX_CAPTURED_NAME, MetadataCapture};
use super::zip_window::{Step, Window, corrupt_zip, unsupported_zip};
use super::{MAX_METADATA_SIZE, MetadataError, display, to_u64, u16_at, u32_at};

const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const LOCAL_SIZE: usize = 30;
const U32_SENTINEL: u64 = 0xFFFF_FFFF;
/// General purpose flag bit 3: CRC-32 and sizes follow the data (zeros in the local header).
const DATA_DESCRIPTOR: u16 = 1 << 3;

/// One central directory entry, with zip64 sizes applied.
pub(super) struct Entry<'a> {
    pub(super) name: &'a [u8],
    pub(super) flags: u16,
    pub(super) method: u16,
    pub(super) crc: u32,
    pub(super) compressed: u64,
    pub(super) size: u64,
    pub(super) local_offset: u64,
}

/// The entry's content, from behind its local file header wherever it was kept, checked.
pub(super) fn entry_content(
    window: &Window,
    capture: &MetadataCapture,
    directory_offset: u64,
    entry: &Entry,
) -> Step<Vec<u8>> {
    let local = local_bytes(window, capture, entry)?;
    extract_entry(local, directory_offset, entry)
}

/// The bytes from the entry's local file header on: from the tail when it lies there, else
/// from the capture (none when no METADATA local header was met at that offset).
fn local_bytes<'a>(
    window: &Window<'a>,
    capture: &'a MetadataCapture,
    entry: &Entry,
) -> Step<LocalBytes<'a>> {
    let offset = entry.local_offset;
    if offset >= window.total {
        return Err(corrupt_zip(format!(
            "the local file header of `{}` lies past the end of the file",
            display(entry.name)
        )));
    }
    if let Some(start) = offset.checked_sub(window.base) {
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let bytes = window.bytes.get(start..).unwrap_or_default();
        return Ok(LocalBytes { bytes, kept: false });
    }
    let name = display(entry.name);
    match capture.candidate(offset) {
        Some(bytes) => Ok(LocalBytes { bytes, kept: true }),
        None if entry.name.len() > MAX_CAPTURED_NAME => Err(MetadataError::Unreadable(format!(
            "`{name}` has a name longer than {MAX_CAPTURED_NAME} bytes"
        ))),
        None if capture.dropped() > 0 => Err(MetadataError::Unreadable(format!(
            "`{name}` (at offset {offset}) was not kept: other `.dist-info/METADATA` headers filled the {CAPTURE_LIMIT} bytes kept for them"
        ))),
        None => Err(corrupt_zip(format!(
            "no local file header for `{name}` at offset {offset}"
        ))),
    }
}

/// The bytes from a local file header on; `kept` when they come from the capture (which may
/// have cut them short) rather than from the tail (which runs to the end of the file).
#[derive(Clone, Copy)]
struct LocalBytes<'a> {
    bytes: &'a [u8],
    kept: bool,
}

/// Checks the local file header against the central directory, then decompresses the data
/// and checks its size and CRC-32.
fn extract_entry(local: LocalBytes, directory_offset: u64, entry: &Entry) -> Step<Vec<u8>> {
    let name = display(entry.name);
    let corrupt = |reason| MetadataError::CorruptEntry(name.clone(), reason);
    if entry.flags & 1 != 0 {
        return Err(unsupported_zip(format!("`{name}` is encrypted")));
    }
    if entry.method != 0 && entry.method != 8 {
        return Err(MetadataError::UnsupportedCompression(entry.method, name));
    }
    if entry.size > MAX_METADATA_SIZE {
        return Err(MetadataError::TooLarge(name));
    }
    let data = locate_data(&local, directory_offset, entry, &name)?;
    let content = if entry.method == 0 {
        data.to_vec()
    } else {
        inflate(data, entry.size).map_err(corrupt)?
    };
    if to_u64(content.len()) != entry.size {
        return Err(corrupt("its size differs from the central directory's"));
    }
    if crc32fast::hash(&content) != entry.crc {
        return Err(corrupt("CRC-32 mismatch"));
    }
    Ok(content)
}

/// Finds an entry's compressed data behind its local file header.
fn locate_data<'a>(
    local: &LocalBytes<'a>,
    directory: u64,
    entry: &Entry,
    name: &str,
) -> Step<&'a [u8]> {
    let short = || {
        if local.kept {
            MetadataError::Unreadable(format!(
                "only {} bytes of `{name}` (at offset {}) were kept, at most {CAPTURE_LIMIT}",
                local.bytes.len(),
                entry.local_offset
            ))
        } else {
            MetadataError::CorruptZip(format!("`{name}` extends past the end of the file"))
        }
    };
    let header = local.bytes.get(..LOCAL_SIZE).ok_or_else(short)?;
    if u32_at(header, 0) != LOCAL_SIGNATURE {
        return Err(corrupt_zip(format!("no local file header for `{name}`")));
    }
    let name_end = LOCAL_SIZE + usize::from(u16_at(header, 26));
    if local.bytes.get(LOCAL_SIZE..name_end).ok_or_else(short)? != entry.name {
        return Err(corrupt_zip(format!(
            "the local file header of `{name}` names another file"
        )));
    }
    check_local_header(header, entry, name)?;
    let start = name_end + usize::from(u16_at(header, 28));
    if (entry.local_offset + to_u64(start))
        .checked_add(entry.compressed)
        .is_none_or(|end| end > directory)
    {
        return Err(corrupt_zip(format!(
            "the data of `{name}` overlaps the central directory"
        )));
    }
    let length = usize::try_from(entry.compressed).unwrap_or(usize::MAX);
    let end = start.checked_add(length).ok_or_else(short)?;
    local.bytes.get(start..end).ok_or_else(short)
}

/// The local header must describe the entry as the central directory does: same method, and
/// (unless they follow the data, or are left to zip64) the same CRC-32 and sizes. A reader
/// that walks local headers then sees the METADATA that was checked.
fn check_local_header(header: &[u8], entry: &Entry, name: &str) -> Step<()> {
    let disagree = |field: &str| {
        corrupt_zip(format!(
            "the local file header of `{name}` disagrees with the central directory on its {field}"
        ))
    };
    if u16_at(header, 8) != entry.method {
        return Err(disagree("compression method"));
    }
    if u16_at(header, 6) & DATA_DESCRIPTOR != 0 {
        return Ok(());
    }
    if u32_at(header, 14) != entry.crc {
        return Err(disagree("CRC-32"));
    }
    let sizes = [
        (u32_at(header, 18), entry.compressed, "compressed size"),
        (u32_at(header, 22), entry.size, "size"),
    ];
    for (local, central, field) in sizes {
        if u64::from(local) != U32_SENTINEL && u64::from(local) != central {
            return Err(disagree(field));
        }
    }
    Ok(())
}

/// Inflates raw deflate data, refusing to produce more than `limit` bytes.
pub(super) fn inflate(input: &[u8], limit: u64) -> Result<Vec<u8>, &'static str> {
    let mut output = Vec::new();
    let mut decoder = DeflateDecoder::new(input).take(limit.saturating_add(1));
    decoder
        .read_to_end(&mut output)
        .map_err(|_| "invalid deflate data")?;
    if to_u64(output.len()) > limit {
        return Err("it inflates to more than its declared size");
    }
    Ok(output)
}
