//! Core metadata of an uploaded distribution, read from the few bytes the server keeps of it:
//! the end of a wheel (the central directory, and `.dist-info`, which the wheel spec recommends
//! placing last) and the start of a `.tar.gz` sdist. It feeds PEP 658 `<file>.metadata` and
//! upload validation. Pure and synchronous; memory and CPU stay bounded whatever the input, and
//! hostile archives (zip bombs, path traversal, lying sizes) end in an error, never a panic.
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

use std::io::{self, Read};

use flate2::bufread::{DeflateDecoder, MultiGzDecoder};

/// The largest METADATA or PKG-INFO accepted, decompressed (16 MiB).
pub const MAX_METADATA_SIZE: u64 = 16 << 20;
/// The most central directory entries a wheel may declare.
const MAX_ZIP_ENTRIES: u64 = 1_000_000;
/// The largest GNU long name or pax header data read from a tar archive.
const MAX_TAR_EXTENSION: u64 = 1 << 20;
/// How much of an sdist head is inflated before giving up on finding PKG-INFO.
const MAX_SDIST_INFLATE: u64 = 64 << 20;
const INFLATE_CHUNK: usize = 64 << 10;
const TAR_BLOCK: usize = 512;
/// How many characters of a hostile name or line an error message shows.
const MAX_SHOWN: usize = 200;

const MAX_COMMENT: usize = 0xFFFF;
const EOCD_SIGNATURE: u32 = 0x0605_4b50;
const EOCD_SIZE: usize = 22;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const ZIP64_LOCATOR_SIZE: usize = 20;
const ZIP64_EOCD_SIGNATURE: u32 = 0x0606_4b50;
const ZIP64_EOCD_SIZE: u64 = 56;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const CENTRAL_SIZE: usize = 46;
const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const LOCAL_SIZE: u64 = 30;
const ZIP64_EXTRA_ID: u16 = 0x0001;
const U32_SENTINEL: u64 = 0xFFFF_FFFF;

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
    /// The expected metadata file appears twice.
    #[error("the archive has more than one `{0}`")]
    DuplicateEntry(String),
    /// Neither the expected metadata file (second) nor a single fallback is in the archive
    /// (first: `wheel` or `sdist`).
    #[error("the {0} has no `{1}`")]
    MissingMember(&'static str, String),
    /// The expected metadata file (second) is absent and several candidates match the pattern
    /// (third) in the archive (first: `wheel` or `sdist`).
    #[error("the {0} has no `{1}` and more than one `{2}`")]
    AmbiguousMember(&'static str, String, &'static str),
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

/// What a wheel's tail says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WheelInspection {
    /// `<name>.dist-info/METADATA` found and decompressed (exact bytes, unchanged).
    Metadata(Vec<u8>),
    /// The archive looks valid as far as the tail shows, but the METADATA entry (or part of the
    /// central directory) lies before the tail: it cannot be extracted from the tail alone.
    OutOfReach,
}

/// What an sdist's head says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdistInspection {
    /// `<top_dir>/PKG-INFO` found (exact bytes, unchanged).
    Metadata(Vec<u8>),
    /// The head ended (or 64 MiB were inflated) before PKG-INFO or the end of the archive.
    OutOfReach,
}

/// How a step ends early: the data lies outside the kept bytes, or the input is invalid.
enum Failure {
    OutOfReach,
    Invalid(MetadataError),
}

impl From<MetadataError> for Failure {
    fn from(error: MetadataError) -> Self {
        Self::Invalid(error)
    }
}

type Step<T> = Result<T, Failure>;

/// Inspects a wheel from its last bytes: `tail` holds the last `tail.len()` bytes of a file of
/// `total_size` bytes. Looks for `{dist_info}/METADATA` (e.g. `foo_bar-1.0.dist-info`) and, when
/// it is absent, for the single top-level `*.dist-info/METADATA`.
///
/// # Errors
/// A [`MetadataError`] when the archive is not a zip, is corrupt or unsafe (entry names with
/// `..` components or absolute paths), lacks METADATA, or its METADATA is unsupported, larger
/// than 16 MiB, or fails its CRC-32.
pub fn inspect_wheel(
    tail: &[u8],
    total_size: u64,
    dist_info: &str,
) -> Result<WheelInspection, MetadataError> {
    match read_wheel_metadata(tail, total_size, dist_info) {
        Ok(bytes) => Ok(WheelInspection::Metadata(bytes)),
        Err(Failure::OutOfReach) => Ok(WheelInspection::OutOfReach),
        Err(Failure::Invalid(error)) => Err(error),
    }
}

/// Inspects a `.tar.gz` sdist from its first bytes (`complete` when `head` is the whole file):
/// inflates incrementally and walks the tar headers (ustar, GNU long names, pax `path`/`size`)
/// looking for `{top_dir}/PKG-INFO` and, when it is absent, the single top-level `*/PKG-INFO`.
///
/// # Errors
/// A [`MetadataError`] when the file is not gzip, the gzip or tar stream is corrupt, an entry
/// name is unsafe, or PKG-INFO is missing, ambiguous or larger than 16 MiB.
pub fn inspect_sdist(
    head: &[u8],
    complete: bool,
    top_dir: &str,
) -> Result<SdistInspection, MetadataError> {
    let expected = format!("{top_dir}/PKG-INFO");
    let found = TarStream::new(head, complete)
        .and_then(|mut stream| find_pkg_info(&mut stream, expected.as_bytes()));
    match found {
        Ok(bytes) => Ok(SdistInspection::Metadata(bytes)),
        Err(Failure::OutOfReach) => Ok(SdistInspection::OutOfReach),
        Err(Failure::Invalid(error)) => Err(error),
    }
}

// ---------------------------------------------------------------------------------------------
// Zip

/// The kept last bytes of a file, addressed by absolute file offsets.
struct Window<'a> {
    bytes: &'a [u8],
    base: u64,
    total: u64,
}

impl<'a> Window<'a> {
    fn new(bytes: &'a [u8], total: u64) -> Result<Self, MetadataError> {
        let tail = to_u64(bytes.len());
        let base = total
            .checked_sub(tail)
            .ok_or(MetadataError::TailTooLong(tail, total))?;
        Ok(Self { bytes, base, total })
    }

    /// The bytes at `offset..offset + length`; out of reach when they start before the tail.
    fn slice(&self, offset: u64, length: u64, what: &str) -> Step<&'a [u8]> {
        let past_end = || corrupt_zip(format!("{what} extends past the end of the file"));
        let end = offset
            .checked_add(length)
            .filter(|end| *end <= self.total)
            .ok_or_else(past_end)?;
        let start = offset.checked_sub(self.base).ok_or(Failure::OutOfReach)?;
        let start = usize::try_from(start).ok();
        let end = usize::try_from(end - self.base).ok();
        start
            .zip(end)
            .and_then(|(start, end)| self.bytes.get(start..end))
            .ok_or_else(past_end)
    }
}

/// Where the central directory is, per the (zip64) end-of-central-directory record.
struct Directory {
    offset: u64,
    size: u64,
    entries: u64,
    /// The end record's offset: the directory must end before it.
    end: u64,
}

/// One central directory entry, with zip64 sizes applied.
struct Entry<'a> {
    name: &'a [u8],
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    local_offset: u64,
}

fn read_wheel_metadata(tail: &[u8], total_size: u64, dist_info: &str) -> Step<Vec<u8>> {
    let window = Window::new(tail, total_size)?;
    let directory = locate_directory(&window)?;
    let central = window.slice(directory.offset, directory.size, "the central directory")?;
    let expected = format!("{dist_info}/METADATA");
    let entry = select_metadata(central, directory.entries, expected.as_bytes())?;
    extract_entry(&window, directory.offset, &entry)
}

fn locate_directory(window: &Window) -> Step<Directory> {
    let eocd = find_eocd(window)?;
    let record = window.bytes.get(eocd..).unwrap_or_default();
    let size = u64::from(u32_at(record, 12));
    let offset = u64::from(u32_at(record, 16));
    let needs_zip64 = size == U32_SENTINEL || offset == U32_SENTINEL;
    let directory = match read_zip64_end(window, eocd)? {
        Some(directory) => directory,
        None if needs_zip64 && eocd < ZIP64_LOCATOR_SIZE && window.base > 0 => {
            return Err(Failure::OutOfReach);
        }
        None if needs_zip64 => return Err(corrupt_zip("zip64 sizes without a zip64 locator")),
        None => {
            let entries = u16_at(record, 10);
            if u16_at(record, 4) != 0 || u16_at(record, 6) != 0 || u16_at(record, 8) != entries {
                return Err(unsupported_zip("the archive spans several disks"));
            }
            let end = window.base + to_u64(eocd);
            let entries = u64::from(entries);
            Directory {
                offset,
                size,
                entries,
                end,
            }
        }
    };
    check_directory(&directory)?;
    Ok(directory)
}

/// Scans backwards for the end-of-central-directory record whose comment ends the file.
fn find_eocd(window: &Window) -> Step<usize> {
    let bytes = window.bytes;
    let last = bytes.len().checked_sub(EOCD_SIZE);
    let first = last.map_or(0, |last| last.saturating_sub(MAX_COMMENT));
    let found = last.and_then(|last| {
        (first..=last).rev().find(|&at| {
            u32_at(bytes, at) == EOCD_SIGNATURE && usize::from(u16_at(bytes, at + 20)) == last - at
        })
    });
    match found {
        Some(at) => Ok(at),
        None if window.base > 0 && last.is_none_or(|last| last < MAX_COMMENT) => {
            Err(Failure::OutOfReach)
        }
        None => Err(MetadataError::NotZip("no end-of-central-directory record").into()),
    }
}

/// Reads the zip64 end record when a zip64 locator precedes the end record at `eocd`.
fn read_zip64_end(window: &Window, eocd: usize) -> Step<Option<Directory>> {
    let Some(at) = eocd.checked_sub(ZIP64_LOCATOR_SIZE) else {
        return Ok(None);
    };
    let locator = window.bytes.get(at..eocd).unwrap_or_default();
    if u32_at(locator, 0) != ZIP64_LOCATOR_SIGNATURE {
        return Ok(None);
    }
    if u32_at(locator, 4) != 0 || u32_at(locator, 16) > 1 {
        return Err(unsupported_zip("the archive spans several disks"));
    }
    let offset = u64_at(locator, 8);
    let what = "the zip64 end-of-central-directory record";
    let record = window.slice(offset, ZIP64_EOCD_SIZE, what)?;
    if u32_at(record, 0) != ZIP64_EOCD_SIGNATURE
        || offset + ZIP64_EOCD_SIZE > window.base + to_u64(at)
    {
        return Err(corrupt_zip(format!(
            "no {what} where the zip64 locator points"
        )));
    }
    if u32_at(record, 16) != 0
        || u32_at(record, 20) != 0
        || u64_at(record, 24) != u64_at(record, 32)
    {
        return Err(unsupported_zip("the archive spans several disks"));
    }
    Ok(Some(Directory {
        entries: u64_at(record, 32),
        size: u64_at(record, 40),
        offset: u64_at(record, 48),
        end: offset,
    }))
}

fn check_directory(directory: &Directory) -> Result<(), MetadataError> {
    let &Directory {
        offset,
        size,
        entries,
        end,
    } = directory;
    if offset
        .checked_add(size)
        .is_none_or(|directory_end| directory_end > end)
    {
        return Err(MetadataError::CorruptZip(format!(
            "the central directory (offset {offset}, {size} bytes) extends past its end record at {end}"
        )));
    }
    if entries > MAX_ZIP_ENTRIES {
        return Err(MetadataError::TooManyEntries(entries));
    }
    if entries.saturating_mul(to_u64(CENTRAL_SIZE)) > size {
        return Err(MetadataError::CorruptZip(format!(
            "{entries} entries do not fit in a central directory of {size} bytes"
        )));
    }
    Ok(())
}

/// Walks every entry (refusing unsafe names) and picks the exact METADATA, else the single
/// top-level `*.dist-info/METADATA`.
fn select_metadata<'a>(central: &'a [u8], count: u64, expected: &[u8]) -> Step<Entry<'a>> {
    let (mut exact, mut fallback, mut candidates) = (None, None, 0_usize);
    let mut at = 0;
    for _ in 0..count {
        let (entry, next) = read_entry(central, at)?;
        at = next;
        check_entry_name(entry.name)?;
        if entry.name == expected {
            if exact.is_some() {
                return Err(MetadataError::DuplicateEntry(display(expected)).into());
            }
            exact = Some(entry);
        } else if is_top_level_member(entry.name, b".dist-info", b"METADATA") {
            candidates += 1;
            fallback = Some(entry);
        }
    }
    exact
        .or(fallback.filter(|_| candidates == 1))
        .ok_or_else(|| missing_member("wheel", expected, candidates, "*.dist-info/METADATA"))
}

/// Parses the central directory header at `at`; returns it and where the next one starts.
fn read_entry(central: &[u8], at: usize) -> Result<(Entry<'_>, usize), MetadataError> {
    let corrupt = |what: &str| {
        MetadataError::CorruptZip(format!("{what} at offset {at} of the central directory"))
    };
    let fixed = central
        .get(at..at.saturating_add(CENTRAL_SIZE))
        .filter(|fixed| u32_at(fixed, 0) == CENTRAL_SIGNATURE)
        .ok_or_else(|| corrupt("no central directory header"))?;
    let name_end = at + CENTRAL_SIZE + usize::from(u16_at(fixed, 28));
    let extra_end = name_end + usize::from(u16_at(fixed, 30));
    let next = extra_end + usize::from(u16_at(fixed, 32));
    let name = central.get(at + CENTRAL_SIZE..name_end);
    let extra = central.get(name_end..extra_end);
    let (Some(name), Some(extra), true) = (name, extra, next <= central.len()) else {
        return Err(corrupt("a truncated central directory header"));
    };
    let mut entry = Entry {
        name,
        flags: u16_at(fixed, 8),
        method: u16_at(fixed, 10),
        crc: u32_at(fixed, 16),
        compressed: u64::from(u32_at(fixed, 20)),
        size: u64::from(u32_at(fixed, 24)),
        local_offset: u64::from(u32_at(fixed, 42)),
    };
    apply_zip64_extra(&mut entry, extra)?;
    Ok((entry, next))
}

/// Replaces the sizes and offset saturated at `0xFFFFFFFF` with the zip64 extra field's values.
fn apply_zip64_extra(entry: &mut Entry, mut extra: &[u8]) -> Result<(), MetadataError> {
    let wanted = [entry.size, entry.compressed, entry.local_offset].map(|v| v == U32_SENTINEL);
    if !wanted.contains(&true) {
        return Ok(());
    }
    let corrupt = |what| MetadataError::CorruptZip(format!("{what} for `{}`", display(entry.name)));
    while let Some(header) = extra.get(..4) {
        let length = usize::from(u16_at(header, 2));
        let data = extra
            .get(4..4 + length)
            .ok_or_else(|| corrupt("a truncated extra field"))?;
        if u16_at(header, 0) == ZIP64_EXTRA_ID {
            let mut values = data.chunks_exact(8).map(|chunk| u64_at(chunk, 0));
            let fields = [
                &mut entry.size,
                &mut entry.compressed,
                &mut entry.local_offset,
            ];
            for (field, _) in fields.into_iter().zip(wanted).filter(|(_, wanted)| *wanted) {
                *field = values
                    .next()
                    .ok_or_else(|| corrupt("a short zip64 extra field"))?;
            }
            return Ok(());
        }
        extra = extra.get(4 + length..).unwrap_or_default();
    }
    Err(corrupt("no zip64 extra field"))
}

/// Decompresses the chosen entry and checks its size and CRC-32.
fn extract_entry(window: &Window, directory_offset: u64, entry: &Entry) -> Step<Vec<u8>> {
    let name = display(entry.name);
    let corrupt = |reason| MetadataError::CorruptEntry(name.clone(), reason);
    if entry.flags & 1 != 0 {
        return Err(unsupported_zip(format!("`{name}` is encrypted")));
    }
    if entry.method != 0 && entry.method != 8 {
        return Err(MetadataError::UnsupportedCompression(entry.method, name).into());
    }
    if entry.size > MAX_METADATA_SIZE {
        return Err(MetadataError::TooLarge(name).into());
    }
    let data = locate_data(window, directory_offset, entry, &name)?;
    let content = if entry.method == 0 {
        data.to_vec()
    } else {
        inflate(data, entry.size).map_err(corrupt)?
    };
    if to_u64(content.len()) != entry.size {
        return Err(corrupt("its size differs from the central directory's").into());
    }
    if crc32fast::hash(&content) != entry.crc {
        return Err(corrupt("CRC-32 mismatch").into());
    }
    Ok(content)
}

/// Finds an entry's compressed data behind its local file header.
fn locate_data<'a>(
    window: &Window<'a>,
    directory: u64,
    entry: &Entry,
    name: &str,
) -> Step<&'a [u8]> {
    let header = window.slice(entry.local_offset, LOCAL_SIZE, "a local file header")?;
    if u32_at(header, 0) != LOCAL_SIGNATURE {
        return Err(corrupt_zip(format!("no local file header for `{name}`")));
    }
    let name_offset = entry.local_offset + LOCAL_SIZE;
    let name_length = u64::from(u16_at(header, 26));
    if window.slice(name_offset, name_length, "a local file name")? != entry.name {
        return Err(corrupt_zip(format!(
            "the local file header of `{name}` names another file"
        )));
    }
    let start = name_offset + name_length + u64::from(u16_at(header, 28));
    if start
        .checked_add(entry.compressed)
        .is_none_or(|end| end > directory)
    {
        return Err(corrupt_zip(format!(
            "the data of `{name}` overlaps the central directory"
        )));
    }
    window.slice(start, entry.compressed, "entry data")
}

/// Inflates raw deflate data, refusing to produce more than `limit` bytes.
fn inflate(input: &[u8], limit: u64) -> Result<Vec<u8>, &'static str> {
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

// ---------------------------------------------------------------------------------------------
// Gzip and tar

/// The tar bytes of an sdist, inflated on demand from the kept head (gzip, RFC 1952).
struct TarStream<'a> {
    decoder: MultiGzDecoder<&'a [u8]>,
    complete: bool,
    buffer: Vec<u8>,
    start: usize,
    produced: u64,
}

impl<'a> TarStream<'a> {
    fn new(head: &'a [u8], complete: bool) -> Step<Self> {
        if !head.starts_with(&[0x1f, 0x8b]) {
            let short = head.len() < 2 && !complete;
            return Err(if short {
                Failure::OutOfReach
            } else {
                MetadataError::NotGzip.into()
            });
        }
        let decoder = MultiGzDecoder::new(head);
        Ok(Self {
            decoder,
            complete,
            buffer: Vec::new(),
            start: 0,
            produced: 0,
        })
    }

    fn available(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// Exactly `length` bytes; `None` at a clean end of the stream.
    fn read(&mut self, length: usize) -> Step<Option<Vec<u8>>> {
        while self.available() < length {
            if !self.inflate_more()? {
                return if self.available() == 0 {
                    Ok(None)
                } else {
                    Err(truncated_tar())
                };
            }
        }
        let end = self.start + length;
        let bytes = self
            .buffer
            .get(self.start..end)
            .unwrap_or_default()
            .to_vec();
        self.start = end;
        Ok(Some(bytes))
    }

    fn skip(&mut self, mut length: u64) -> Step<()> {
        while length > 0 {
            if self.available() == 0 && !self.inflate_more()? {
                return Err(truncated_tar());
            }
            let step = self
                .available()
                .min(usize::try_from(length).unwrap_or(usize::MAX));
            self.start += step;
            length -= to_u64(step);
        }
        Ok(())
    }

    /// Inflates one more chunk; `false` at the end of the last gzip member. Running out of
    /// head, or past [`MAX_SDIST_INFLATE`], is out of reach.
    fn inflate_more(&mut self) -> Step<bool> {
        if self.produced >= MAX_SDIST_INFLATE {
            return Err(Failure::OutOfReach);
        }
        self.buffer.drain(..self.start);
        self.start = 0;
        let filled = self.buffer.len();
        self.buffer.resize(filled + INFLATE_CHUNK, 0);
        let result = self
            .decoder
            .read(self.buffer.get_mut(filled..).unwrap_or_default());
        let read = *result.as_ref().unwrap_or(&0);
        self.buffer.truncate(filled + read);
        self.produced += to_u64(read);
        let exhausted = self.decoder.get_ref().is_empty();
        match result {
            Ok(0) | Err(_) if exhausted && !self.complete => Err(Failure::OutOfReach),
            Ok(read) => Ok(read > 0),
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                Err(MetadataError::CorruptGzip("the stream is truncated").into())
            }
            Err(_) => Err(MetadataError::CorruptGzip("invalid compressed data").into()),
        }
    }
}

/// One tar header (ustar, with the GNU and pre-POSIX variants).
struct TarHeader {
    name: Vec<u8>,
    size: u64,
    kind: u8,
}

/// Names and sizes carried over from GNU long-name and pax headers to the next entry.
#[derive(Default)]
struct Overrides {
    long_name: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_size: Option<u64>,
    global_path: Option<Vec<u8>>,
}

fn find_pkg_info(stream: &mut TarStream, expected: &[u8]) -> Step<Vec<u8>> {
    let mut overrides = Overrides::default();
    let (mut fallback, mut candidates) = (None, 0_usize);
    while let Some(block) = stream.read(TAR_BLOCK)? {
        if block.iter().all(|byte| *byte == 0) {
            break;
        }
        let header = parse_tar_header(&block)?;
        if read_extension(stream, &header, &mut overrides)? {
            continue;
        }
        let long_name = overrides.long_name.take();
        let path = overrides
            .pax_path
            .take()
            .or(long_name)
            .or_else(|| overrides.global_path.clone());
        let path = path.unwrap_or(header.name);
        let size = overrides.pax_size.take().unwrap_or(header.size);
        check_entry_name(&path)?;
        let path = path.strip_prefix(b"./").unwrap_or(&path);
        let regular = matches!(header.kind, b'0' | b'\0' | b'7');
        if regular && path == expected {
            return read_member(stream, path, size);
        }
        if regular && is_top_level_member(path, b"", b"PKG-INFO") {
            candidates += 1;
            if candidates == 1 {
                fallback = Some(read_member(stream, path, size)?);
                stream.skip(tar_padding(size))?;
                continue;
            }
        }
        stream.skip(
            size.checked_add(tar_padding(size))
                .ok_or_else(truncated_tar)?,
        )?;
    }
    fallback
        .filter(|_| candidates == 1)
        .ok_or_else(|| missing_member("sdist", expected, candidates, "*/PKG-INFO"))
}

fn read_member(stream: &mut TarStream, path: &[u8], size: u64) -> Step<Vec<u8>> {
    if size > MAX_METADATA_SIZE {
        return Err(MetadataError::TooLarge(display(path)).into());
    }
    let length = usize::try_from(size).unwrap_or(usize::MAX);
    stream.read(length)?.ok_or_else(truncated_tar)
}

/// Consumes a GNU long-name (`L`, `K`) or pax (`x`, `g`) header; `false` for any other entry.
fn read_extension(
    stream: &mut TarStream,
    header: &TarHeader,
    overrides: &mut Overrides,
) -> Step<bool> {
    if !matches!(header.kind, b'L' | b'K' | b'x' | b'g') {
        return Ok(false);
    }
    if header.size > MAX_TAR_EXTENSION {
        let (kind, size) = (char::from(header.kind), header.size);
        return Err(corrupt_tar(format!(
            "a `{kind}` header of {size} bytes is larger than 1 MiB"
        )));
    }
    let data = read_member(stream, &header.name, header.size)?;
    stream.skip(tar_padding(header.size))?;
    match header.kind {
        b'L' => overrides.long_name = Some(until_nul(&data).to_vec()),
        b'x' => parse_pax(&data, &mut overrides.pax_path, &mut overrides.pax_size)?,
        b'g' => parse_pax(&data, &mut overrides.global_path, &mut None)?,
        _ => {}
    }
    Ok(true)
}

fn parse_tar_header(block: &[u8]) -> Result<TarHeader, MetadataError> {
    let field = |start: usize, length: usize| block.get(start..start + length).unwrap_or_default();
    let stored = parse_tar_number(field(148, 8));
    let (mut unsigned, mut signed) = (0_u64, 0_i64);
    for (index, byte) in block.iter().enumerate() {
        let byte = if (148..156).contains(&index) {
            b' '
        } else {
            *byte
        };
        unsigned += u64::from(byte);
        signed += i64::from(i8::from_ne_bytes([byte]));
    }
    if stored != Some(unsigned) && stored.and_then(|sum| i64::try_from(sum).ok()) != Some(signed) {
        return Err(MetadataError::CorruptTar(
            "header checksum mismatch".to_owned(),
        ));
    }
    let name = until_nul(field(0, 100));
    let prefix = until_nul(field(345, 155));
    let name = if field(257, 6) == b"ustar\0" && !prefix.is_empty() {
        [prefix, b"/", name].concat()
    } else {
        name.to_vec()
    };
    let size = parse_tar_number(field(124, 12)).ok_or_else(|| {
        MetadataError::CorruptTar(format!("invalid size of `{}`", display(&name)))
    })?;
    let kind = block.get(156).copied().unwrap_or_default();
    Ok(TarHeader { name, size, kind })
}

/// A numeric tar field: octal text, or GNU base-256 when the high bit is set.
fn parse_tar_number(field: &[u8]) -> Option<u64> {
    if let Some((first, rest)) = field.split_first().filter(|(first, _)| **first & 0x80 != 0) {
        if first & 0x40 != 0 {
            return None;
        }
        let start = u64::from(first & 0x7f);
        return rest.iter().try_fold(start, |value, byte| {
            value.checked_mul(256)?.checked_add(u64::from(*byte))
        });
    }
    let text = field.iter().skip_while(|byte| **byte == b' ');
    text.take_while(|byte| **byte != 0 && **byte != b' ')
        .try_fold(0_u64, |value, byte| {
            let digit = byte.checked_sub(b'0').filter(|digit| *digit < 8)?;
            value.checked_mul(8)?.checked_add(u64::from(digit))
        })
}

/// Parses pax records (`"%d %s=%s\n"`), keeping `path` and `size`.
fn parse_pax(
    mut data: &[u8],
    path: &mut Option<Vec<u8>>,
    size: &mut Option<u64>,
) -> Result<(), MetadataError> {
    let invalid = || MetadataError::CorruptTar("malformed pax record".to_owned());
    while data.first().is_some_and(|byte| *byte != 0) {
        let space = data
            .iter()
            .position(|byte| *byte == b' ')
            .ok_or_else(invalid)?;
        let length = parse_decimal(data.get(..space).unwrap_or_default())
            .and_then(|length| usize::try_from(length).ok())
            .filter(|length| *length > space + 1)
            .ok_or_else(invalid)?;
        let record = data
            .get(space + 1..length)
            .and_then(|record| record.strip_suffix(b"\n"));
        let (key, value) = record
            .and_then(|record| split_once(record, b'='))
            .ok_or_else(invalid)?;
        match key {
            b"path" => *path = Some(value.to_vec()).filter(|value| !value.is_empty()),
            b"size" => *size = Some(parse_decimal(value).ok_or_else(invalid)?),
            _ => {}
        }
        data = data.get(length..).unwrap_or_default();
    }
    Ok(())
}

fn tar_padding(size: u64) -> u64 {
    let block = to_u64(TAR_BLOCK);
    (block - size % block) % block
}

fn truncated_tar() -> Failure {
    corrupt_tar("the archive ends inside an entry")
}

fn corrupt_tar(reason: impl Into<String>) -> Failure {
    MetadataError::CorruptTar(reason.into()).into()
}

// ---------------------------------------------------------------------------------------------
// Core metadata

/// The few core-metadata fields the index needs, from a METADATA or PKG-INFO file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreMetadata {
    /// `Metadata-Version`, e.g. `2.3`.
    pub metadata_version: String,
    /// `Name`, as written (not normalized).
    pub name: String,
    /// `Version`, as written (not normalized).
    pub version: String,
    /// `Requires-Python`, a version specifier set.
    pub requires_python: Option<String>,
    /// Every `Requires-Dist`, a PEP 508 requirement each.
    pub requires_dist: Vec<String>,
    /// Every `Provides-Extra`.
    pub provides_extra: Vec<String>,
    /// Every `Dynamic` field name (PEP 643).
    pub dynamic: Vec<String>,
    /// `Summary`, a one-line description.
    pub summary: Option<String>,
}

impl CoreMetadata {
    /// Parses the RFC 822-style header block of a METADATA or PKG-INFO file: `Field: value`
    /// lines, folded continuation lines (leading whitespace), up to the first empty line (the
    /// rest is the description). Field names are case-insensitive; unknown fields are ignored.
    ///
    /// # Errors
    /// [`MetadataError::NotUtf8`], [`MetadataError::InvalidLine`], a missing or empty
    /// `Metadata-Version`, `Name` or `Version` ([`MetadataError::MissingField`]), or a repeated
    /// single-use field ([`MetadataError::RepeatedField`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        let text = std::str::from_utf8(bytes).map_err(|_| MetadataError::NotUtf8)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let (mut metadata_version, mut name, mut version) = (None, None, None);
        let (mut requires_python, mut summary) = (None, None);
        let (mut requires_dist, mut provides_extra, mut dynamic) = (vec![], vec![], vec![]);
        for (field, value) in parse_headers(text)? {
            match field.to_ascii_lowercase().as_str() {
                "requires-dist" => requires_dist.push(value),
                "provides-extra" => provides_extra.push(value),
                "dynamic" => dynamic.push(value),
                "metadata-version" => set_once(&mut metadata_version, "Metadata-Version", value)?,
                "name" => set_once(&mut name, "Name", value)?,
                "version" => set_once(&mut version, "Version", value)?,
                "requires-python" => set_once(&mut requires_python, "Requires-Python", value)?,
                "summary" => set_once(&mut summary, "Summary", value)?,
                _ => {}
            }
        }
        let required = |value: Option<String>, field| {
            value
                .filter(|value| !value.is_empty())
                .ok_or(MetadataError::MissingField(field))
        };
        Ok(Self {
            metadata_version: required(metadata_version, "Metadata-Version")?,
            name: required(name, "Name")?,
            version: required(version, "Version")?,
            requires_python: requires_python.filter(|value| !value.is_empty()),
            requires_dist,
            provides_extra,
            dynamic,
            summary: summary.filter(|value| !value.is_empty()),
        })
    }

    /// PEP 643: an sdist's metadata is reliable when `Metadata-Version` is at least 2.2 and none
    /// of `Name`, `Version`, `Requires-Dist`, `Requires-Python`, `Provides-Extra` is `Dynamic`.
    pub fn is_reliable_for_sdist(&self) -> bool {
        const FIXED: [&str; 5] = [
            "Name",
            "Version",
            "Requires-Dist",
            "Requires-Python",
            "Provides-Extra",
        ];
        let version = self
            .metadata_version
            .split_once('.')
            .and_then(|(major, minor)| {
                Some((major.parse::<u64>().ok()?, minor.parse::<u64>().ok()?))
            });
        let is_dynamic = |field: &str| {
            self.dynamic
                .iter()
                .any(|name| name.eq_ignore_ascii_case(field))
        };
        version.is_some_and(|version| version >= (2, 2)) && !FIXED.into_iter().any(is_dynamic)
    }
}

fn set_once(
    slot: &mut Option<String>,
    field: &'static str,
    value: String,
) -> Result<(), MetadataError> {
    match slot.replace(value) {
        Some(_) => Err(MetadataError::RepeatedField(field)),
        None => Ok(()),
    }
}

/// Splits the header block into `(field, value)` pairs, unfolding continuation lines.
fn parse_headers(text: &str) -> Result<Vec<(&str, String)>, MetadataError> {
    let mut headers: Vec<(&str, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let invalid = || MetadataError::InvalidLine(display(line.as_bytes()));
        if line.starts_with([' ', '\t']) {
            let (_, value) = headers.last_mut().ok_or_else(invalid)?;
            value.push_str(line);
            continue;
        }
        let (field, value) = line.split_once(':').ok_or_else(invalid)?;
        if field.is_empty() || !field.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(invalid());
        }
        headers.push((field, value.to_owned()));
    }
    Ok(headers
        .into_iter()
        .map(|(field, value)| (field, value.trim().to_owned()))
        .collect())
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

fn missing_member(
    archive: &'static str,
    expected: &[u8],
    candidates: usize,
    pattern: &'static str,
) -> Failure {
    let member = display(expected);
    if candidates == 0 {
        MetadataError::MissingMember(archive, member).into()
    } else {
        MetadataError::AmbiguousMember(archive, member, pattern).into()
    }
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

fn corrupt_zip(reason: impl Into<String>) -> Failure {
    MetadataError::CorruptZip(reason.into()).into()
}

fn unsupported_zip(reason: impl Into<String>) -> Failure {
    MetadataError::UnsupportedZip(reason.into()).into()
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
