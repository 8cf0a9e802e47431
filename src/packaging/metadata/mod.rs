//! Core metadata of an uploaded distribution, read as its bytes stream by, in bounded memory:
//! a wheel's central directory from the end of the file it keeps, its METADATA from the tail or
//! from the candidates met on the way (`capture`), wherever the archive puts it; a `.tar.gz`
//! sdist inflated and walked to its end (`gzip`, `tar`). It feeds PEP 658 `<file>.metadata` and
//! upload validation. Pure and synchronous; memory and CPU stay bounded whatever the input, and
//! hostile archives (zip bombs, path traversal, lying sizes) end in an error, never a panic.
//! What cannot be read from what was kept is an error too ([`MetadataError::Unreadable`]):
//! a file is never taken unchecked.
//!
//! Specifications:
//! - ZIP, PKWARE APPNOTE 6.3.x: <https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT>
//! - ustar and pax: <https://pubs.opengroup.org/onlinepubs/9799919799/utilities/pax.html>
//! - GNU tar long names: <https://www.gnu.org/software/tar/manual/html_node/Standard.html>
//! - gzip, RFC 1952: <https://www.rfc-editor.org/rfc/rfc1952>
//! - core metadata: <https://packaging.python.org/en/latest/specifications/core-metadata/>
//! - wheels: <https://packaging.python.org/en/latest/specifications/binary-distribution-format/>
//! - sdists: <https://packaging.python.org/en/latest/specifications/source-distribution-format/>
//! - PEP 643, reliable sdist metadata: <https://peps.python.org/pep-0643/>
//! - PEP 658, serving metadata: <https://peps.python.org/pep-0658/>

mod capture;
mod core;
mod details;
mod gzip;
mod tar;
#[cfg(test)]
pub(crate) mod testkit;
mod zip;
mod zip_entry;
mod zip_window;

pub use self::capture::{CAPTURE_LIMIT, MetadataCapture};
pub use self::core::CoreMetadata;
pub use self::details::ReleaseDetails;
pub use self::tar::{MAX_INFLATE_RATIO, MIN_INFLATE_ALLOWANCE, SdistReader, inspect_sdist};
pub use self::zip::inspect_wheel;

/// The largest METADATA or PKG-INFO accepted, decompressed (16 MiB).
pub const MAX_METADATA_SIZE: u64 = 16 << 20;
/// How many characters of a hostile name or line an error message shows.
const MAX_SHOWN: usize = 200;

/// Why a distribution's metadata could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// The caller kept more bytes (first) than the file has (second).
    #[error("a tail of {0} bytes is longer than the file of {1} bytes")]
    TailTooLong(u64, u64),
    /// The file has no zip structure at all.
    #[error("not a zip archive: {0}")]
    NotZip(&'static str),
    /// The zip structure contradicts itself or points outside the file.
    #[error("corrupt zip archive: {0}")]
    CorruptZip(String),
    /// A zip feature wheels do not use (several disks, encryption).
    #[error("unsupported zip archive: {0}")]
    UnsupportedZip(String),
    /// More central directory entries than the limit of 1,000,000.
    #[error("the central directory declares {0} entries, more than 1000000")]
    TooManyEntries(u64),
    /// An entry that would escape the extraction directory (absolute, `..`, drive, NUL).
    #[error("the archive has an unsafe entry name `{0}`")]
    UnsafeEntryName(String),
    /// The metadata file appears twice.
    #[error("the archive has more than one `{0}`")]
    DuplicateEntry(String),
    /// The archive (first: `wheel` or `sdist`) has no metadata file (second: the one expected).
    #[error("the {0} has no `{1}`")]
    MissingMember(&'static str, String),
    /// A wheel with two top-level `.dist-info` directories, which installers refuse.
    #[error("the wheel has more than one `.dist-info` directory: `{0}` and `{1}`")]
    SeveralDistInfo(String, String),
    /// An sdist with two top-level `*/PKG-INFO`.
    #[error("the sdist has more than one top-level `PKG-INFO`: `{0}` and `{1}`")]
    SeveralPkgInfo(String, String),
    /// What the check needs lies outside the bytes kept while the file streamed.
    #[error("its metadata cannot be checked: {0}")]
    Unreadable(String),
    /// An sdist inflating past its allowance (first): 50 times the compressed bytes, 64 MiB
    /// at least.
    #[error("the archive inflates to more than {0} bytes, over 50 times its size")]
    InflatesTooMuch(u64),
    /// A zip compression method (first) other than stored (0) or deflate (8) for an entry.
    #[error("compression method {0} of `{1}` is not supported")]
    UnsupportedCompression(u16, String),
    /// The metadata file decompresses to more than [`MAX_METADATA_SIZE`].
    #[error("`{0}` is larger than 16 MiB")]
    TooLarge(String),
    /// The metadata file's data (first) is damaged (second says how).
    #[error("`{0}` is corrupt: {1}")]
    CorruptEntry(String, &'static str),
    /// The sdist does not start with the gzip magic bytes.
    #[error("not a gzip file")]
    NotGzip,
    /// The gzip stream is damaged or cut short.
    #[error("corrupt gzip stream: {0}")]
    CorruptGzip(&'static str),
    /// The tar stream inside the gzip is damaged.
    #[error("corrupt tar archive: {0}")]
    CorruptTar(String),
    /// The metadata bytes are not UTF-8.
    #[error("metadata is not UTF-8")]
    NotUtf8,
    /// A header line without a colon, or with an invalid field name.
    #[error("metadata line `{0}` is not a `Field: value` header")]
    InvalidLine(String),
    /// A required field is absent or empty.
    #[error("metadata is missing the `{0}` field")]
    MissingField(&'static str),
    /// A single-use field appears more than once.
    #[error("metadata repeats the single-use field `{0}`")]
    RepeatedField(&'static str),
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// Refuses names that escape the extraction directory: absolute paths, drive letters, `..`
/// components (with `/` or `\` separators) and NUL bytes.
fn check_entry_name(name: &[u8]) -> Result<(), MetadataError> {
    let separator = |byte: &u8| matches!(byte, b'/' | b'\\');
    let absolute = name.first().is_some_and(separator)
        || matches!(name, [letter, b':', ..] if letter.is_ascii_alphabetic());
    let escapes = name.split(separator).any(|part| part == b"..");
    if absolute || escapes || name.contains(&0) {
        return Err(MetadataError::UnsafeEntryName(display(name)));
    }
    Ok(())
}

/// Whether `name` is `{dir}/{file}` with a single-component `dir` ending in `directory_suffix`.
fn is_top_level_member(name: &[u8], directory_suffix: &[u8], file: &[u8]) -> bool {
    let directory = name
        .strip_suffix(file)
        .and_then(|rest| rest.strip_suffix(b"/"));
    directory.is_some_and(|directory| {
        directory.len() > directory_suffix.len()
            && directory.ends_with(directory_suffix)
            && !directory.contains(&b'/')
    })
}

/// A hostile name made printable for an error message: lossy UTF-8, control characters escaped,
/// at most [`MAX_SHOWN`] characters.
fn display(name: &[u8]) -> String {
    let mut shown = String::new();
    for character in String::from_utf8_lossy(name).chars().take(MAX_SHOWN) {
        if character.is_control() {
            shown.extend(character.escape_default());
        } else {
            shown.push(character);
        }
    }
    shown
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    bytes.split(|byte| *byte == 0).next().unwrap_or_default()
}

fn split_once(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|byte| *byte == separator)?;
    Some((bytes.get(..at)?, bytes.get(at + 1..)?))
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0_u64, |value, byte| {
        let digit = byte.checked_sub(b'0').filter(|digit| *digit < 10)?;
        value.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

fn to_u64(length: usize) -> u64 {
    u64::try_from(length).unwrap_or(u64::MAX)
}

/// Little-endian integers at `at`; zero when out of range (callers check lengths first).
fn le_bytes<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let chunk = bytes.get(at..).and_then(<[u8]>::first_chunk).copied();
    chunk.unwrap_or([0; N])
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(le_bytes(bytes, at))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(le_bytes(bytes, at))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(le_bytes(bytes, at))
}

#[cfg(test)]
mod tests {
    use super::testkit::PATH;
    use super::*;

    #[test]
    fn error_messages() {
        let path = || PATH.to_owned();
        let cases = [
            (
                MetadataError::TailTooLong(10, 5),
                "a tail of 10 bytes is longer than the file of 5 bytes",
            ),
            (
                MetadataError::NotZip("no end-of-central-directory record"),
                "not a zip archive: no end-of-central-directory record",
            ),
            (
                MetadataError::CorruptZip("x".to_owned()),
                "corrupt zip archive: x",
            ),
            (
                MetadataError::UnsupportedZip("the archive spans several disks".to_owned()),
                "unsupported zip archive: the archive spans several disks",
            ),
            (
                MetadataError::TooManyEntries(2_000_000),
                "the central directory declares 2000000 entries, more than 1000000",
            ),
            (
                MetadataError::UnsafeEntryName("../x".to_owned()),
                "the archive has an unsafe entry name `../x`",
            ),
            (
                MetadataError::DuplicateEntry(path()),
                "the archive has more than one `foo_bar-1.0.dist-info/METADATA`",
            ),
            (
                MetadataError::MissingMember("wheel", path()),
                "the wheel has no `foo_bar-1.0.dist-info/METADATA`",
            ),
            (
                MetadataError::SeveralDistInfo(
                    "a-1.dist-info".to_owned(),
                    "b-1.dist-info".to_owned(),
                ),
                "the wheel has more than one `.dist-info` directory: `a-1.dist-info` and `b-1.dist-info`",
            ),
            (
                MetadataError::SeveralPkgInfo("a-1/PKG-INFO".to_owned(), "b-1/PKG-INFO".to_owned()),
                "the sdist has more than one top-level `PKG-INFO`: `a-1/PKG-INFO` and `b-1/PKG-INFO`",
            ),
            (
                MetadataError::Unreadable("x".to_owned()),
                "its metadata cannot be checked: x",
            ),
            (
                MetadataError::InflatesTooMuch(64 << 20),
                "the archive inflates to more than 67108864 bytes, over 50 times its size",
            ),
            (
                MetadataError::UnsupportedCompression(14, "x/METADATA".to_owned()),
                "compression method 14 of `x/METADATA` is not supported",
            ),
            (
                MetadataError::TooLarge(path()),
                "`foo_bar-1.0.dist-info/METADATA` is larger than 16 MiB",
            ),
            (
                MetadataError::CorruptEntry(path(), "CRC-32 mismatch"),
                "`foo_bar-1.0.dist-info/METADATA` is corrupt: CRC-32 mismatch",
            ),
            (MetadataError::NotGzip, "not a gzip file"),
            (
                MetadataError::CorruptGzip("the stream is truncated"),
                "corrupt gzip stream: the stream is truncated",
            ),
            (
                MetadataError::CorruptTar("header checksum mismatch".to_owned()),
                "corrupt tar archive: header checksum mismatch",
            ),
            (MetadataError::NotUtf8, "metadata is not UTF-8"),
            (
                MetadataError::InvalidLine("Name x".to_owned()),
                "metadata line `Name x` is not a `Field: value` header",
            ),
            (
                MetadataError::MissingField("Name"),
                "metadata is missing the `Name` field",
            ),
            (
                MetadataError::RepeatedField("Version"),
                "metadata repeats the single-use field `Version`",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn hostile_names_are_shown_escaped_and_truncated() {
        assert_eq!(display(b"a\nb\x1b\xff"), "a\\nb\\u{1b}\u{fffd}");
        assert_eq!(display(&[b'a'; 1000]).len(), MAX_SHOWN);
    }
}
