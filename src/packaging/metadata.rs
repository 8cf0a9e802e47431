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
const INFLATE_CHUNK: usize = 16 << 10;
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
/// Out of reach when an incomplete head ends first, or after 64 MiB of tar data.
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
    /// Inflated bytes not yet consumed are `buffer[start..end]`; the rest is scratch space.
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    produced: u64,
}

impl<'a> TarStream<'a> {
    fn new(head: &'a [u8], complete: bool) -> Step<Self> {
        if !head.starts_with(&[0x1f, 0x8b]) {
            let short = [0x1f, 0x8b].starts_with(head) && !complete;
            return Err(if short {
                Failure::OutOfReach
            } else {
                MetadataError::NotGzip.into()
            });
        }
        let decoder = MultiGzDecoder::new(head);
        let (buffer, start, end, produced) = (Vec::new(), 0, 0, 0);
        Ok(Self {
            decoder,
            complete,
            buffer,
            start,
            end,
            produced,
        })
    }

    fn available(&self) -> usize {
        self.end - self.start
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
        self.buffer.copy_within(self.start..self.end, 0);
        (self.start, self.end) = (0, self.available());
        if self.buffer.len() < self.end + INFLATE_CHUNK {
            self.buffer.resize(self.end + INFLATE_CHUNK, 0);
        }
        let scratch = self.buffer.get_mut(self.end..).unwrap_or_default();
        let result = self.decoder.read(scratch);
        let read = *result.as_ref().unwrap_or(&0);
        self.end += read;
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
        // Links, devices, directories and FIFOs have no data, whatever their size says.
        let size = if matches!(header.kind, b'1'..=b'6') {
            0
        } else {
            size
        };
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::{DeflateEncoder, GzEncoder};
    use flate2::{Compress, Compression, FlushCompress};

    use super::*;

    const METADATA: &[u8] =
        b"Metadata-Version: 2.1\nName: foo-bar\nVersion: 1.0\n\nThe description.\n";
    const DIST_INFO: &str = "foo_bar-1.0.dist-info";
    const PATH: &str = "foo_bar-1.0.dist-info/METADATA";

    // ---- a tiny zip writer ----------------------------------------------------------------

    /// One zip entry as written: its (compressed) data and what the central directory declares.
    #[derive(Clone)]
    struct ZipEntry {
        name: Vec<u8>,
        method: u16,
        flags: u16,
        data: Vec<u8>,
        size: u64,
        crc: u32,
    }

    impl ZipEntry {
        fn stored(name: &str, content: &[u8]) -> Self {
            let (size, crc) = (content.len() as u64, crc32fast::hash(content));
            let (name, data) = (name.as_bytes().to_vec(), content.to_vec());
            Self {
                name,
                method: 0,
                flags: 0,
                data,
                size,
                crc,
            }
        }

        fn deflated(name: &str, content: &[u8]) -> Self {
            let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(content).unwrap();
            Self {
                data: encoder.finish().unwrap(),
                method: 8,
                ..Self::stored(name, content)
            }
        }
    }

    #[derive(Clone, Copy, Default)]
    struct ZipOptions {
        zip64: bool,
        descriptor: bool,
    }

    fn put16(out: &mut Vec<u8>, value: u16) {
        out.extend_from_slice(&value.to_le_bytes());
    }

    fn put32(out: &mut Vec<u8>, value: u32) {
        out.extend_from_slice(&value.to_le_bytes());
    }

    fn put64(out: &mut Vec<u8>, value: u64) {
        out.extend_from_slice(&value.to_le_bytes());
    }

    fn zip64_extra(values: &[u64]) -> Vec<u8> {
        let mut extra = Vec::new();
        put16(&mut extra, 0x0001);
        put16(&mut extra, u16::try_from(values.len() * 8).unwrap());
        for value in values {
            put64(&mut extra, *value);
        }
        extra
    }

    impl ZipOptions {
        /// A 32-bit size or offset, saturated when writing zip64.
        fn narrow(self, value: u64) -> u32 {
            if self.zip64 {
                u32::MAX
            } else {
                u32::try_from(value).unwrap()
            }
        }

        fn flags(self, entry: &ZipEntry) -> u16 {
            entry.flags | if self.descriptor { 8 } else { 0 }
        }

        fn write_local(self, out: &mut Vec<u8>, entry: &ZipEntry) {
            let compressed = entry.data.len() as u64;
            let extra = if self.zip64 {
                zip64_extra(&[entry.size, compressed])
            } else {
                vec![]
            };
            let (crc, compressed_field, size_field) = if self.descriptor {
                (0, 0, 0)
            } else {
                (entry.crc, self.narrow(compressed), self.narrow(entry.size))
            };
            put32(out, 0x0403_4b50);
            put16(out, 45);
            put16(out, self.flags(entry));
            put16(out, entry.method);
            put32(out, 0x0021_0000);
            put32(out, crc);
            put32(out, compressed_field);
            put32(out, size_field);
            put16(out, u16::try_from(entry.name.len()).unwrap());
            put16(out, u16::try_from(extra.len()).unwrap());
            out.extend_from_slice(&[&entry.name[..], &extra, &entry.data].concat());
            if self.descriptor {
                put32(out, 0x0807_4b50);
                put32(out, entry.crc);
                if self.zip64 {
                    put64(out, compressed);
                    put64(out, entry.size);
                } else {
                    put32(out, self.narrow(compressed));
                    put32(out, self.narrow(entry.size));
                }
            }
        }

        fn write_central(self, central: &mut Vec<u8>, entry: &ZipEntry, offset: u64) {
            let compressed = entry.data.len() as u64;
            let extra = if self.zip64 {
                zip64_extra(&[entry.size, compressed, offset])
            } else {
                vec![]
            };
            put32(central, 0x0201_4b50);
            put16(central, 0x031e);
            put16(central, 45);
            put16(central, self.flags(entry));
            put16(central, entry.method);
            put32(central, 0x0021_0000);
            put32(central, entry.crc);
            put32(central, self.narrow(compressed));
            put32(central, self.narrow(entry.size));
            put16(central, u16::try_from(entry.name.len()).unwrap());
            put16(central, u16::try_from(extra.len()).unwrap());
            central.extend_from_slice(&[0; 10]); // comment length, disk, attributes
            put32(central, self.narrow(offset));
            central.extend_from_slice(&[&entry.name[..], &extra].concat());
        }

        fn write_end(self, out: &mut Vec<u8>, count: u64, directory_offset: u64) {
            let directory_size = out.len() as u64 - directory_offset;
            if self.zip64 {
                let record = out.len() as u64;
                put32(out, 0x0606_4b50);
                put64(out, 44);
                put16(out, 0x031e);
                put16(out, 45);
                put64(out, 0); // disk numbers
                put64(out, count);
                put64(out, count);
                put64(out, directory_size);
                put64(out, directory_offset);
                put32(out, 0x0706_4b50);
                put32(out, 0);
                put64(out, record);
                put32(out, 1);
            }
            put32(out, 0x0605_4b50);
            put32(out, 0); // disk numbers
            let short_count = if self.zip64 {
                0xFFFF
            } else {
                u16::try_from(count).unwrap()
            };
            put16(out, short_count);
            put16(out, short_count);
            put32(out, self.narrow(directory_size));
            put32(out, self.narrow(directory_offset));
            put16(out, 0);
        }
    }

    fn write_zip(entries: &[ZipEntry], options: ZipOptions) -> Vec<u8> {
        let (mut out, mut central) = (Vec::new(), Vec::new());
        for entry in entries {
            options.write_central(&mut central, entry, out.len() as u64);
            options.write_local(&mut out, entry);
        }
        let directory_offset = out.len() as u64;
        out.extend_from_slice(&central);
        options.write_end(&mut out, entries.len() as u64, directory_offset);
        out
    }

    fn wheel_entries(metadata: ZipEntry) -> Vec<ZipEntry> {
        vec![
            ZipEntry::deflated("foo_bar/__init__.py", b"print('hello')\n"),
            ZipEntry::stored("foo_bar-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n"),
            metadata,
            ZipEntry::stored("foo_bar-1.0.dist-info/RECORD", b""),
        ]
    }

    fn wheel(options: ZipOptions) -> Vec<u8> {
        write_zip(&wheel_entries(ZipEntry::deflated(PATH, METADATA)), options)
    }

    /// Inspects the last `tail` bytes of `file` (all of it when larger).
    fn inspect_tail(
        file: &[u8],
        tail: usize,
        dist_info: &str,
    ) -> Result<WheelInspection, MetadataError> {
        let start = file.len().saturating_sub(tail);
        inspect_wheel(&file[start..], file.len() as u64, dist_info)
    }

    fn found(bytes: &[u8]) -> WheelInspection {
        WheelInspection::Metadata(bytes.to_vec())
    }

    /// Pseudo-random, incompressible bytes.
    fn noise(length: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect()
    }

    /// Raw deflate blocks for `mebibytes` MiB of zeros, built by repeating one sync-flushed
    /// MiB: a bomb of any size without compressing it.
    fn zeros_deflated(mebibytes: usize, last: bool) -> Vec<u8> {
        let mut compressor = Compress::new(Compression::fast(), false);
        let mut chunk = Vec::with_capacity(1 << 20);
        compressor
            .compress_vec(&vec![0; 1 << 20], &mut chunk, FlushCompress::Sync)
            .unwrap();
        assert_eq!(compressor.total_in(), 1 << 20);
        let mut stream = chunk.repeat(mebibytes);
        if last {
            stream.extend_from_slice(&[0x03, 0x00]); // an empty final fixed-Huffman block
        }
        stream
    }

    // ---- wheels ----------------------------------------------------------------------------

    #[test]
    fn finds_stored_and_deflated_metadata_with_exact_bytes() {
        for entry in [
            ZipEntry::stored(PATH, METADATA),
            ZipEntry::deflated(PATH, METADATA),
        ] {
            let file = write_zip(&wheel_entries(entry), ZipOptions::default());
            assert_eq!(
                inspect_tail(&file, file.len(), DIST_INFO),
                Ok(found(METADATA))
            );
            assert_eq!(inspect_tail(&file, 1 << 20, DIST_INFO), Ok(found(METADATA)));
        }
    }

    #[test]
    fn finds_metadata_with_data_descriptors_and_zip64() {
        let cases = [(false, true), (true, false), (true, true)];
        for (zip64, descriptor) in cases {
            let file = wheel(ZipOptions { zip64, descriptor });
            assert_eq!(
                inspect_tail(&file, file.len(), DIST_INFO),
                Ok(found(METADATA)),
                "{zip64} {descriptor}"
            );
        }
    }

    #[test]
    fn finds_metadata_behind_a_prefix_the_tail_does_not_hold() {
        for zip64 in [false, true] {
            let mut entries = vec![ZipEntry::stored("foo_bar/data.bin", &noise(300_000))];
            entries.extend(wheel_entries(ZipEntry::deflated(PATH, METADATA)));
            let file = write_zip(
                &entries,
                ZipOptions {
                    zip64,
                    descriptor: false,
                },
            );
            assert_eq!(inspect_tail(&file, 4096, DIST_INFO), Ok(found(METADATA)));
        }
    }

    #[test]
    fn falls_back_to_the_single_dist_info_metadata() {
        let file = write_zip(
            &wheel_entries(ZipEntry::stored("Foo.Bar-1.0.dist-info/METADATA", METADATA)),
            ZipOptions::default(),
        );
        assert_eq!(
            inspect_tail(&file, file.len(), DIST_INFO),
            Ok(found(METADATA))
        );
        // Nested METADATA files are not candidates.
        let mut entries =
            wheel_entries(ZipEntry::stored("Foo.Bar-1.0.dist-info/METADATA", METADATA));
        entries.push(ZipEntry::stored(
            "foo_bar/vendor/x-1.dist-info/METADATA",
            b"other",
        ));
        let file = write_zip(&entries, ZipOptions::default());
        assert_eq!(
            inspect_tail(&file, file.len(), DIST_INFO),
            Ok(found(METADATA))
        );
    }

    #[test]
    fn prefers_the_exact_dist_info() {
        let mut entries = wheel_entries(ZipEntry::stored(PATH, METADATA));
        entries.insert(
            0,
            ZipEntry::stored("other-2.0.dist-info/METADATA", b"other"),
        );
        let file = write_zip(&entries, ZipOptions::default());
        assert_eq!(
            inspect_tail(&file, file.len(), DIST_INFO),
            Ok(found(METADATA))
        );
    }

    #[test]
    fn refuses_missing_ambiguous_and_duplicate_metadata() {
        let file = write_zip(
            &wheel_entries(ZipEntry::stored("foo_bar/x", b"")),
            ZipOptions::default(),
        );
        let missing = MetadataError::MissingMember("wheel", PATH.to_owned());
        assert_eq!(inspect_tail(&file, file.len(), DIST_INFO), Err(missing));

        let mut entries = wheel_entries(ZipEntry::stored("a-1.dist-info/METADATA", METADATA));
        entries.push(ZipEntry::stored("b-1.dist-info/METADATA", METADATA));
        let file = write_zip(&entries, ZipOptions::default());
        let error = inspect_tail(&file, file.len(), DIST_INFO).unwrap_err();
        assert_eq!(
            error,
            MetadataError::AmbiguousMember("wheel", PATH.to_owned(), "*.dist-info/METADATA")
        );

        let mut entries = wheel_entries(ZipEntry::stored(PATH, METADATA));
        entries.push(ZipEntry::stored(PATH, b"Name: evil"));
        let file = write_zip(&entries, ZipOptions::default());
        let error = inspect_tail(&file, file.len(), DIST_INFO).unwrap_err();
        assert_eq!(error, MetadataError::DuplicateEntry(PATH.to_owned()));
    }

    #[test]
    fn out_of_reach_when_the_tail_is_too_short() {
        let mut entries = wheel_entries(ZipEntry::stored(PATH, METADATA));
        entries.push(ZipEntry::stored("foo_bar/late.bin", &noise(100_000)));
        let file = write_zip(&entries, ZipOptions::default());
        let directory_size =
            4 * 46 + entries.iter().map(|entry| entry.name.len()).sum::<usize>() + 22;
        // The central directory is held, METADATA is not.
        assert_eq!(
            inspect_tail(&file, directory_size + 10, DIST_INFO),
            Ok(WheelInspection::OutOfReach)
        );
        // Part of the central directory, only the end record, or not even that.
        for tail in [directory_size - 10, 22, 21, 5, 0] {
            assert_eq!(
                inspect_tail(&file, tail, DIST_INFO),
                Ok(WheelInspection::OutOfReach),
                "{tail}"
            );
        }
        // The zip64 locator lies before the tail.
        let file = wheel(ZipOptions {
            zip64: true,
            descriptor: false,
        });
        assert_eq!(
            inspect_tail(&file, 30, DIST_INFO),
            Ok(WheelInspection::OutOfReach)
        );
        assert_eq!(
            inspect_tail(&file, 60, DIST_INFO),
            Ok(WheelInspection::OutOfReach)
        );
    }

    #[test]
    fn refuses_files_that_are_not_zips() {
        let not_zip = MetadataError::NotZip("no end-of-central-directory record");
        for file in [&b""[..], b"hello", &noise(100_000), &METADATA.repeat(10)] {
            assert_eq!(
                inspect_tail(file, file.len(), DIST_INFO),
                Err(not_zip.clone())
            );
        }
        // A long tail without an end record is not a zip, whatever precedes it.
        let file = noise(200_000);
        assert_eq!(inspect_tail(&file, 70_000, DIST_INFO), Err(not_zip));
        assert_eq!(
            inspect_wheel(b"abc", 2, DIST_INFO),
            Err(MetadataError::TailTooLong(3, 2))
        );
    }

    #[test]
    fn refuses_corrupt_central_directories() {
        let file = wheel(ZipOptions::default());
        let eocd = file.len() - 22;
        let patch = |at: usize, bytes: &[u8]| {
            let mut file = file.clone();
            file[at..at + bytes.len()].copy_from_slice(bytes);
            inspect_tail(&file, file.len(), DIST_INFO).unwrap_err()
        };
        let size = u32::from_le_bytes(file[eocd + 12..eocd + 16].try_into().unwrap());
        let offset = u32::from_le_bytes(file[eocd + 16..eocd + 20].try_into().unwrap());
        assert!(
            matches!(patch(eocd + 12, &(size + 1).to_le_bytes()), MetadataError::CorruptZip(message) if message.contains("extends past its end record"))
        );
        assert!(
            matches!(patch(eocd + 16, &u32::MAX.to_le_bytes()), MetadataError::CorruptZip(message) if message.contains("zip64"))
        );
        assert!(
            matches!(patch(eocd + 16, &(offset - 1).to_le_bytes()), MetadataError::CorruptZip(message) if message.contains("no central directory header"))
        );
        assert!(
            matches!(patch(eocd + 8, &[9, 0, 9, 0]), MetadataError::CorruptZip(message) if message.contains("do not fit"))
        );
        assert!(matches!(
            patch(eocd + 4, &[1, 0]),
            MetadataError::UnsupportedZip(_)
        ));
        // A truncated archive (the start cut off, offsets unchanged) points before the file.
        let cut = &file[100..];
        assert!(matches!(
            inspect_wheel(cut, cut.len() as u64, DIST_INFO),
            Err(MetadataError::CorruptZip(_))
        ));
    }

    #[test]
    fn refuses_too_many_entries() {
        let mut file = wheel(ZipOptions {
            zip64: true,
            descriptor: false,
        });
        let record = file.len() - 22 - 20 - 56;
        file[record + 24..record + 40]
            .copy_from_slice(&[2_000_000_u64.to_le_bytes(), 2_000_000_u64.to_le_bytes()].concat());
        assert_eq!(
            inspect_tail(&file, file.len(), DIST_INFO),
            Err(MetadataError::TooManyEntries(2_000_000))
        );
    }

    #[test]
    fn refuses_a_crc_mismatch_and_a_wrong_local_header() {
        let mut entry = ZipEntry::stored(PATH, METADATA);
        entry.crc ^= 1;
        let file = write_zip(&wheel_entries(entry), ZipOptions::default());
        let error = MetadataError::CorruptEntry(PATH.to_owned(), "CRC-32 mismatch");
        assert_eq!(inspect_tail(&file, file.len(), DIST_INFO), Err(error));

        let mut file = write_zip(&[ZipEntry::stored(PATH, METADATA)], ZipOptions::default());
        file[30] = b'F'; // the local header's name
        assert!(
            matches!(inspect_tail(&file, file.len(), DIST_INFO), Err(MetadataError::CorruptZip(message)) if message.contains("names another file"))
        );
    }

    #[test]
    fn refuses_zip_bombs_without_inflating_them() {
        let bomb = zeros_deflated(100, true);
        let entry = |size: u64| ZipEntry {
            size,
            crc: 0,
            ..ZipEntry {
                data: bomb.clone(),
                method: 8,
                ..ZipEntry::stored(PATH, b"")
            }
        };
        let too_large = MetadataError::TooLarge(PATH.to_owned());
        // Honest sizes are refused before inflating; lying ones when the output passes them.
        let file = write_zip(
            &[entry(100 << 20)],
            ZipOptions {
                zip64: true,
                descriptor: false,
            },
        );
        assert_eq!(
            inspect_tail(&file, file.len(), DIST_INFO),
            Err(too_large.clone())
        );
        let file = write_zip(&[entry(u64::from(u32::MAX) - 1)], ZipOptions::default());
        assert_eq!(inspect_tail(&file, file.len(), DIST_INFO), Err(too_large));
        let lying = MetadataError::CorruptEntry(
            PATH.to_owned(),
            "it inflates to more than its declared size",
        );
        for size in [1000, MAX_METADATA_SIZE] {
            let file = write_zip(&[entry(size)], ZipOptions::default());
            assert_eq!(
                inspect_tail(&file, file.len(), DIST_INFO),
                Err(lying.clone())
            );
        }
    }

    #[test]
    fn the_bomb_builder_makes_valid_deflate() {
        let zeros = inflate(&zeros_deflated(3, true), 4 << 20).unwrap();
        assert!(zeros.len() == 3 << 20 && zeros.iter().all(|byte| *byte == 0));
    }

    #[test]
    fn refuses_path_traversal() {
        for name in [
            "../evil",
            "/etc/passwd",
            "foo/../../evil",
            "\\evil",
            "a\\..\\b",
            "C:/evil",
            "a\0b",
        ] {
            let mut entries = wheel_entries(ZipEntry::stored(PATH, METADATA));
            entries.push(ZipEntry::stored(name, b"x"));
            let file = write_zip(&entries, ZipOptions::default());
            let error = MetadataError::UnsafeEntryName(display(name.as_bytes()));
            assert_eq!(
                inspect_tail(&file, file.len(), DIST_INFO),
                Err(error),
                "{name}"
            );
        }
        // Dots inside a name are fine.
        let mut entries = wheel_entries(ZipEntry::stored(PATH, METADATA));
        entries.push(ZipEntry::stored("foo_bar/a..b/..c", b"x"));
        let file = write_zip(&entries, ZipOptions::default());
        assert_eq!(
            inspect_tail(&file, file.len(), DIST_INFO),
            Ok(found(METADATA))
        );
    }

    #[test]
    fn refuses_unsupported_methods_and_encryption() {
        let mut entry = ZipEntry::stored(PATH, METADATA);
        entry.method = 14;
        let file = write_zip(&[entry.clone()], ZipOptions::default());
        let error = inspect_tail(&file, file.len(), DIST_INFO).unwrap_err();
        assert_eq!(
            error.to_string(),
            "compression method 14 of `foo_bar-1.0.dist-info/METADATA` is not supported"
        );
        entry.method = 0;
        entry.flags = 1;
        let file = write_zip(&[entry], ZipOptions::default());
        assert!(matches!(
            inspect_tail(&file, file.len(), DIST_INFO),
            Err(MetadataError::UnsupportedZip(_))
        ));
    }

    #[test]
    fn refuses_invalid_deflate_data() {
        let mut entry = ZipEntry::deflated(PATH, METADATA);
        entry.data = vec![0xFF; 40];
        let file = write_zip(&[entry.clone()], ZipOptions::default());
        let error = MetadataError::CorruptEntry(PATH.to_owned(), "invalid deflate data");
        assert_eq!(inspect_tail(&file, file.len(), DIST_INFO), Err(error));
        let good = ZipEntry::deflated(PATH, METADATA);
        entry.data = good.data[..good.data.len() / 2].to_vec();
        let file = write_zip(&[entry], ZipOptions::default());
        assert!(matches!(
            inspect_tail(&file, file.len(), DIST_INFO),
            Err(MetadataError::CorruptEntry(..))
        ));
    }

    #[test]
    fn never_panics_on_mutated_or_truncated_wheels() {
        for options in [
            ZipOptions::default(),
            ZipOptions {
                zip64: true,
                descriptor: true,
            },
        ] {
            let file = wheel(options);
            for at in 0..file.len() {
                for value in [0x00, 0xFF, file[at] ^ 0x80] {
                    let mut mutated = file.clone();
                    mutated[at] = value;
                    for tail in [mutated.len(), 200, 64] {
                        let _ = inspect_tail(&mutated, tail, DIST_INFO);
                    }
                }
                let _ = inspect_tail(&file[..at], at, DIST_INFO);
                let _ = inspect_wheel(&file[at..], file.len() as u64, DIST_INFO);
            }
        }
    }

    // ---- a tiny tar writer -----------------------------------------------------------------

    const PKG_INFO: &[u8] = b"Metadata-Version: 2.2\nName: foo-bar\nVersion: 1.0\n";
    const TOP: &str = "foo_bar-1.0";

    fn tar_header(name: &[u8], size: u64, kind: u8, prefix: &[u8]) -> Vec<u8> {
        let mut block = vec![0; 512];
        block[..name.len()].copy_from_slice(name);
        block[100..124].copy_from_slice(b"0000644\x000000000\x000000000\x00");
        block[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        block[136..148].copy_from_slice(b"00000000000\0");
        block[156] = kind;
        block[257..265].copy_from_slice(b"ustar\x0000");
        block[345..345 + prefix.len()].copy_from_slice(prefix);
        block[148..156].copy_from_slice(b"        ");
        let sum: u32 = block.iter().map(|byte| u32::from(*byte)).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        block
    }

    fn tar_entry(tar: &mut Vec<u8>, header: &[u8], content: &[u8]) {
        tar.extend_from_slice(header);
        tar.extend_from_slice(content);
        tar.resize(tar.len().next_multiple_of(512), 0);
    }

    fn tar_file(tar: &mut Vec<u8>, name: &str, content: &[u8]) {
        tar_entry(
            tar,
            &tar_header(name.as_bytes(), content.len() as u64, b'0', b""),
            content,
        );
    }

    fn pax_record(key: &str, value: &str) -> Vec<u8> {
        let body = format!(" {key}={value}\n");
        let mut length = body.len() + 1;
        while format!("{length}{body}").len() != length {
            length += 1;
        }
        format!("{length}{body}").into_bytes()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        gzip_with(bytes, Compression::fast())
    }

    fn gzip_with(bytes: &[u8], level: Compression) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), level);
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// A gzipped tar of regular files, closed by two zero blocks.
    fn sdist(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (name, content) in files {
            tar_file(&mut tar, name, content);
        }
        tar.extend_from_slice(&[0; 1024]);
        gzip(&tar)
    }

    fn sdist_found(bytes: &[u8]) -> SdistInspection {
        SdistInspection::Metadata(bytes.to_vec())
    }

    // ---- sdists ----------------------------------------------------------------------------

    #[test]
    fn finds_pkg_info_in_a_ustar_sdist() {
        let mut tar = Vec::new();
        tar_entry(&mut tar, &tar_header(b"foo_bar-1.0/", 0, b'5', b""), b"");
        // A link's size field is not followed by data.
        tar_entry(
            &mut tar,
            &tar_header(b"foo_bar-1.0/link", 9999, b'2', b""),
            b"",
        );
        tar_file(&mut tar, "foo_bar-1.0/setup.py", b"import setuptools\n");
        tar_file(
            &mut tar,
            "foo_bar-1.0/src/foo_bar.egg-info/PKG-INFO",
            b"nested",
        );
        tar_file(&mut tar, "foo_bar-1.0/PKG-INFO", PKG_INFO);
        tar.extend_from_slice(&[0; 1024]);
        let file = gzip(&tar);
        assert_eq!(inspect_sdist(&file, true, TOP), Ok(sdist_found(PKG_INFO)));
        assert_eq!(inspect_sdist(&file, false, TOP), Ok(sdist_found(PKG_INFO)));
        let file = sdist(&[("./foo_bar-1.0/PKG-INFO", PKG_INFO)]);
        assert_eq!(inspect_sdist(&file, true, TOP), Ok(sdist_found(PKG_INFO)));
    }

    #[test]
    fn finds_pkg_info_under_a_ustar_prefix() {
        let top = "f".repeat(120);
        let mut tar = Vec::new();
        tar_entry(
            &mut tar,
            &tar_header(b"PKG-INFO", PKG_INFO.len() as u64, b'0', top.as_bytes()),
            PKG_INFO,
        );
        let file = gzip(&tar);
        assert_eq!(inspect_sdist(&file, true, &top), Ok(sdist_found(PKG_INFO)));
    }

    #[test]
    fn finds_pkg_info_under_a_gnu_long_name() {
        let top = "g".repeat(150);
        let path = format!("{top}/PKG-INFO");
        let mut tar = Vec::new();
        let long_name = [path.as_bytes(), b"\0"].concat();
        tar_entry(
            &mut tar,
            &tar_header(b"././@LongLink", long_name.len() as u64, b'L', b""),
            &long_name,
        );
        tar_entry(
            &mut tar,
            &tar_header(&path.as_bytes()[..100], PKG_INFO.len() as u64, b'0', b""),
            PKG_INFO,
        );
        tar.extend_from_slice(&[0; 1024]);
        assert_eq!(
            inspect_sdist(&gzip(&tar), true, &top),
            Ok(sdist_found(PKG_INFO))
        );
    }

    #[test]
    fn finds_pkg_info_under_a_pax_path_after_a_pax_size() {
        let top = "p".repeat(150);
        let mut tar = Vec::new();
        let global = pax_record("comment", "made by a test");
        tar_entry(
            &mut tar,
            &tar_header(b"pax_global_header", global.len() as u64, b'g', b""),
            &global,
        );
        // An entry whose real size only the pax header gives.
        let size = pax_record("size", "1000");
        tar_entry(
            &mut tar,
            &tar_header(b"PaxHeaders/big", size.len() as u64, b'x', b""),
            &size,
        );
        tar_entry(&mut tar, &tar_header(b"big", 0, b'0', b""), &[b'x'; 1000]);
        let path = pax_record("path", &format!("{top}/PKG-INFO"));
        tar_entry(
            &mut tar,
            &tar_header(b"PaxHeaders/PKG-INFO", path.len() as u64, b'x', b""),
            &path,
        );
        tar_entry(
            &mut tar,
            &tar_header(b"truncated-name", PKG_INFO.len() as u64, b'0', b""),
            PKG_INFO,
        );
        assert_eq!(
            inspect_sdist(&gzip(&tar), true, &top),
            Ok(sdist_found(PKG_INFO))
        );
    }

    #[test]
    fn finds_pkg_info_across_gzip_members() {
        let mut tar = Vec::new();
        tar_file(&mut tar, "foo_bar-1.0/setup.py", &noise(5000));
        tar_file(&mut tar, "foo_bar-1.0/PKG-INFO", PKG_INFO);
        let file = [gzip(&tar[..1000]), gzip(&tar[1000..])].concat();
        assert_eq!(inspect_sdist(&file, true, TOP), Ok(sdist_found(PKG_INFO)));
    }

    #[test]
    fn falls_back_to_the_single_top_level_pkg_info() {
        let file = sdist(&[
            ("Foo-Bar-1.0/PKG-INFO", PKG_INFO),
            ("Foo-Bar-1.0/a/PKG-INFO", b"x"),
        ]);
        assert_eq!(inspect_sdist(&file, true, TOP), Ok(sdist_found(PKG_INFO)));
        let file = sdist(&[("a-1.0/PKG-INFO", PKG_INFO), ("b-1.0/PKG-INFO", PKG_INFO)]);
        let error = MetadataError::AmbiguousMember(
            "sdist",
            "foo_bar-1.0/PKG-INFO".to_owned(),
            "*/PKG-INFO",
        );
        assert_eq!(inspect_sdist(&file, true, TOP), Err(error));
        let file = sdist(&[("foo_bar-1.0/setup.py", b"")]);
        let error = MetadataError::MissingMember("sdist", "foo_bar-1.0/PKG-INFO".to_owned());
        assert_eq!(inspect_sdist(&file, true, TOP), Err(error.clone()));
        // The end-of-archive marker settles it even in a partial head.
        assert_eq!(inspect_sdist(&file, false, TOP), Err(error));
    }

    #[test]
    fn out_of_reach_when_the_head_ends_first() {
        let file = sdist(&[
            ("foo_bar-1.0/data.bin", &noise(300_000)),
            ("foo_bar-1.0/PKG-INFO", PKG_INFO),
        ]);
        for head in [32_768, 100, 11, 2, 1, 0] {
            assert_eq!(
                inspect_sdist(&file[..head], false, TOP),
                Ok(SdistInspection::OutOfReach),
                "{head}"
            );
        }
        let truncated = inspect_sdist(&file[..32_768], true, TOP);
        assert_eq!(
            truncated,
            Err(MetadataError::CorruptGzip("the stream is truncated"))
        );
        assert_eq!(inspect_sdist(&file, false, TOP), Ok(sdist_found(PKG_INFO)));
    }

    #[test]
    fn out_of_reach_after_64_mib_of_output() {
        let mut prefix = Compress::new(Compression::fast(), false);
        let header = tar_header(b"foo_bar-1.0/zeros", 70 << 20, b'0', b"");
        let mut stream = Vec::with_capacity(4096);
        prefix
            .compress_vec(&header, &mut stream, FlushCompress::Sync)
            .unwrap();
        stream.extend(zeros_deflated(70, false));
        let mut rest = Vec::new();
        tar_file(&mut rest, "foo_bar-1.0/PKG-INFO", PKG_INFO);
        let mut suffix = DeflateEncoder::new(Vec::new(), Compression::fast());
        suffix.write_all(&rest).unwrap();
        stream.extend(suffix.finish().unwrap());
        let file = [
            &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff][..],
            &stream,
            &[0; 8],
        ]
        .concat();
        assert_eq!(
            inspect_sdist(&file, true, TOP),
            Ok(SdistInspection::OutOfReach)
        );
    }

    #[test]
    fn refuses_files_that_are_not_gzip() {
        let zip = wheel(ZipOptions::default());
        for (file, complete) in [
            (&zip[..], true),
            (&zip[..], false),
            (b"", true),
            (b"x", false),
        ] {
            assert_eq!(
                inspect_sdist(file, complete, TOP),
                Err(MetadataError::NotGzip)
            );
        }
        let not_deflate = [
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        let error = MetadataError::CorruptGzip("invalid compressed data");
        assert_eq!(inspect_sdist(&not_deflate, true, TOP), Err(error));
    }

    #[test]
    fn refuses_corrupt_tar_headers_and_streams() {
        let mut tar = tar_header(b"foo_bar-1.0/PKG-INFO", 5, b'0', b"");
        tar[0] = b'F';
        let error = MetadataError::CorruptTar("header checksum mismatch".to_owned());
        assert_eq!(inspect_sdist(&gzip(&tar), true, TOP), Err(error));
        // A stream that ends inside an entry.
        let mut tar = tar_header(b"foo_bar-1.0/setup.py", 5000, b'0', b"");
        tar.extend_from_slice(&[b'x'; 100]);
        let error = MetadataError::CorruptTar("the archive ends inside an entry".to_owned());
        assert_eq!(inspect_sdist(&gzip(&tar), true, TOP), Err(error));
        // A damaged gzip trailer, read when the tar has no end-of-archive marker.
        let mut tar = Vec::new();
        tar_file(&mut tar, "foo_bar-1.0/setup.py", b"");
        let mut file = gzip(&tar);
        let at = file.len() - 6;
        file[at] ^= 1;
        assert!(matches!(
            inspect_sdist(&file, true, TOP),
            Err(MetadataError::CorruptGzip(_))
        ));
        // A malformed pax record.
        let mut tar = Vec::new();
        tar_entry(
            &mut tar,
            &tar_header(b"PaxHeaders/x", 9, b'x', b""),
            b"99 path=x",
        );
        let error = MetadataError::CorruptTar("malformed pax record".to_owned());
        assert_eq!(inspect_sdist(&gzip(&tar), true, TOP), Err(error));
    }

    #[test]
    fn refuses_oversized_members_and_headers() {
        let tar = tar_header(b"foo_bar-1.0/PKG-INFO", 17 << 20, b'0', b"");
        let error = MetadataError::TooLarge("foo_bar-1.0/PKG-INFO".to_owned());
        assert_eq!(inspect_sdist(&gzip(&tar), false, TOP), Err(error));
        let tar = tar_header(b"PaxHeaders/x", 2 << 20, b'x', b"");
        let error = inspect_sdist(&gzip(&tar), false, TOP).unwrap_err();
        assert_eq!(
            error.to_string(),
            "corrupt tar archive: a `x` header of 2097152 bytes is larger than 1 MiB"
        );
    }

    #[test]
    fn refuses_sdist_path_traversal() {
        let file = sdist(&[("../evil", b"x"), ("foo_bar-1.0/PKG-INFO", PKG_INFO)]);
        assert_eq!(
            inspect_sdist(&file, true, TOP),
            Err(MetadataError::UnsafeEntryName("../evil".to_owned()))
        );
    }

    #[test]
    fn parses_tar_numbers() {
        let cases: [(&[u8], Option<u64>); 7] = [
            (b"00000001750\0", Some(1000)),
            (b"  1750 \0", Some(1000)),
            (b"\0\0\0", Some(0)),
            (b"0000000008\0", None),
            (&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00], Some(256)),
            (&[0xff, 0xff, 0xff, 0xff], None),
            (
                &[
                    0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                ],
                None,
            ),
        ];
        for (field, expected) in cases {
            assert_eq!(parse_tar_number(field), expected, "{field:?}");
        }
    }

    #[test]
    fn never_panics_on_mutated_or_truncated_sdists() {
        let mut tar = Vec::new();
        let path = pax_record("path", "foo_bar-1.0/PKG-INFO");
        tar_entry(
            &mut tar,
            &tar_header(b"PaxHeaders/x", path.len() as u64, b'x', b""),
            &path,
        );
        tar_file(&mut tar, "x", PKG_INFO);
        let file = gzip(&tar);
        for at in 0..file.len() {
            let mut mutated = file.clone();
            mutated[at] ^= 0x55;
            let _ = inspect_sdist(&mutated, true, TOP);
            let _ = inspect_sdist(&file[..at], false, TOP);
            let _ = inspect_sdist(&file[..at], true, TOP);
        }
        // Mutate every byte of both headers, keeping their checksums valid.
        for header in [0, 1024] {
            for at in (header..header + 512).filter(|at| !(header + 148..header + 156).contains(at))
            {
                for value in [0x80, 0xFF, b'7'] {
                    let mut mutated = tar.clone();
                    mutated[at] = value;
                    let block = &mut mutated[header..header + 512];
                    block[148..156].copy_from_slice(b"        ");
                    let sum: u32 = block.iter().map(|byte| u32::from(*byte)).sum();
                    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
                    let _ = inspect_sdist(&gzip_with(&mutated, Compression::none()), true, TOP);
                }
            }
        }
    }

    // ---- core metadata ---------------------------------------------------------------------

    const FULL: &str = "Metadata-Version: 2.2\n\
        Name: foo-bar\n\
        Version: 1.0\n\
        Summary: A summary\n  folded over two lines\n\
        Requires-Python: >=3.8\n\
        Requires-Dist: requests>=2\n\
        requires-dist: tomli; python_version < \"3.11\"\n\
        Provides-Extra: test\n\
        Requires-Dist: pytest; extra == \"test\"\n\
        Dynamic: Classifier\n\
        Classifier: Programming Language :: Python\n\
        Description-Content-Type: text/markdown\n\
        \n\
        Name: not-a-header\n\
        # The description\n";

    #[test]
    fn parses_core_metadata() {
        let metadata = CoreMetadata::parse(FULL.as_bytes()).unwrap();
        assert_eq!(
            metadata,
            CoreMetadata {
                metadata_version: "2.2".to_owned(),
                name: "foo-bar".to_owned(),
                version: "1.0".to_owned(),
                requires_python: Some(">=3.8".to_owned()),
                requires_dist: vec![
                    "requests>=2".to_owned(),
                    "tomli; python_version < \"3.11\"".to_owned(),
                    "pytest; extra == \"test\"".to_owned(),
                ],
                provides_extra: vec!["test".to_owned()],
                dynamic: vec!["Classifier".to_owned()],
                summary: Some("A summary  folded over two lines".to_owned()),
            }
        );
        let crlf = FULL.replace('\n', "\r\n");
        assert_eq!(CoreMetadata::parse(crlf.as_bytes()), Ok(metadata));
    }

    #[test]
    fn parses_minimal_metadata() {
        let metadata =
            CoreMetadata::parse(b"metadata-version: 1.0\nNAME: x\nVersion:1\nSummary: \n").unwrap();
        assert_eq!(
            (metadata.name.as_str(), metadata.version.as_str()),
            ("x", "1")
        );
        assert_eq!((metadata.summary, metadata.requires_python), (None, None));
        assert!(metadata.requires_dist.is_empty() && metadata.dynamic.is_empty());
    }

    #[test]
    fn refuses_invalid_metadata() {
        let cases: [(&[u8], MetadataError); 8] = [
            (
                b"Metadata-Version: 2.1\nVersion: 1.0\n",
                MetadataError::MissingField("Name"),
            ),
            (
                b"Metadata-Version: 2.1\nName: x\nVersion: \n",
                MetadataError::MissingField("Version"),
            ),
            (
                b"Name: x\nVersion: 1\n",
                MetadataError::MissingField("Metadata-Version"),
            ),
            (
                b"Metadata-Version: 2.1\nName: x\n\nVersion: 1\n",
                MetadataError::MissingField("Version"),
            ),
            (
                b"Metadata-Version: 2.1\nName: \xff\nVersion: 1\n",
                MetadataError::NotUtf8,
            ),
            (
                b"Metadata-Version: 2.1\nName: x\nVersion: 1\n\n\xff",
                MetadataError::NotUtf8,
            ),
            (
                b"Metadata-Version: 2.1\nName x\n",
                MetadataError::InvalidLine("Name x".to_owned()),
            ),
            (b"Name: a\nname: b\n", MetadataError::RepeatedField("Name")),
        ];
        for (bytes, error) in cases {
            assert_eq!(
                CoreMetadata::parse(bytes),
                Err(error),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
        let continuation = CoreMetadata::parse(b"  folded\nName: x\n").unwrap_err();
        assert_eq!(
            continuation,
            MetadataError::InvalidLine("  folded".to_owned())
        );
        let bad_name = CoreMetadata::parse(b"Bad Field: x\n").unwrap_err();
        assert_eq!(
            bad_name,
            MetadataError::InvalidLine("Bad Field: x".to_owned())
        );
    }

    #[test]
    fn judges_sdist_reliability() {
        let cases: [(&str, &[&str], bool); 13] = [
            ("2.2", &[], true),
            ("2.4", &["Classifier", "License"], true),
            ("2.10", &[], true),
            ("3.0", &[], true),
            ("2.1", &[], false),
            ("1.0", &[], false),
            ("2", &[], false),
            ("two", &[], false),
            ("2.2", &["Requires-Dist"], false),
            ("2.2", &["requires-python"], false),
            ("2.2", &["Provides-Extra"], false),
            ("2.2", &["Name"], false),
            ("2.3", &["Classifier", "VERSION"], false),
        ];
        for (version, dynamic, reliable) in cases {
            let dynamic_lines: String = dynamic
                .iter()
                .map(|field| ["Dynamic: ", field, "\n"].concat())
                .collect();
            let text = format!("Metadata-Version: {version}\nName: x\nVersion: 1\n{dynamic_lines}");
            let metadata = CoreMetadata::parse(text.as_bytes()).unwrap();
            assert_eq!(
                metadata.is_reliable_for_sdist(),
                reliable,
                "{version} {dynamic:?}"
            );
        }
    }

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
                MetadataError::AmbiguousMember("sdist", "a-1/PKG-INFO".to_owned(), "*/PKG-INFO"),
                "the sdist has no `a-1/PKG-INFO` and more than one `*/PKG-INFO`",
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
