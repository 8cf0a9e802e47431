//! The sdist side: a `.tar.gz` inflated as it streams (gzip members, RFC 1952), its tar
//! headers (ustar, GNU long names, pax `path`/`size`) walked to the end of the archive, and its
//! single top-level `PKG-INFO` kept, wherever it lies.

use super::gzip::{Inflater, Sink};
use super::{
    MAX_METADATA_SIZE, MetadataError, check_entry_name, display, is_top_level_member,
    parse_decimal, split_once, to_u64, until_nul,
};

/// The largest GNU long name or pax header data read from a tar archive.
const MAX_TAR_EXTENSION: u64 = 1 << 20;
/// What may always be inflated from an sdist, whatever its size.
pub const MIN_INFLATE_ALLOWANCE: u64 = 64 << 20;
/// How many times its compressed size an sdist may inflate to, past [`MIN_INFLATE_ALLOWANCE`]
/// (the threshold PyPI applies to zip uploads): a bound on the work a compression bomb costs.
pub const MAX_INFLATE_RATIO: u64 = 50;
const TAR_BLOCK: usize = 512;

/// An sdist (`.tar.gz`) read as it streams: every tar header is seen, and the one top-level
/// `*/PKG-INFO` kept (16 MiB at most). Memory stays bounded: the inflater's window, one tar
/// header, a GNU long name or pax header (1 MiB at most) and PKG-INFO.
pub struct SdistReader {
    inflater: Inflater,
    walker: TarWalker,
    received: u64,
    /// The first failure; what follows it is not read.
    failure: Option<MetadataError>,
}

impl std::fmt::Debug for SdistReader {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SdistReader")
            .field("received", &self.received)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl SdistReader {
    /// A reader expecting `{top_dir}/PKG-INFO` (e.g. `foo_bar-1.0`); another single top-level
    /// `*/PKG-INFO` is accepted too (`Foo-Bar-1.0/PKG-INFO`).
    #[must_use]
    pub fn new(top_dir: &str) -> Self {
        Self {
            inflater: Inflater::new(),
            walker: TarWalker::new(format!("{top_dir}/PKG-INFO").into_bytes()),
            received: 0,
            failure: None,
        }
    }

    /// Reads the next chunk of the file. A failure is kept for [`Self::finish`].
    pub fn push(&mut self, chunk: &[u8]) {
        if self.failure.is_some() {
            return;
        }
        self.received += to_u64(chunk.len());
        let allowance = self
            .received
            .saturating_mul(MAX_INFLATE_RATIO)
            .max(MIN_INFLATE_ALLOWANCE);
        if let Err(error) = self.inflater.push(chunk, allowance, &mut self.walker) {
            self.failure = Some(error);
        }
    }

    /// The PKG-INFO found, once the whole file was pushed.
    ///
    /// # Errors
    /// A [`MetadataError`] when the file is not gzip, the gzip or tar stream is corrupt or cut
    /// short, inflates to more than 50 times its size (and 64 MiB), an entry name is unsafe,
    /// or PKG-INFO is missing, ambiguous (two top-level `*/PKG-INFO`) or larger than 16 MiB.
    pub fn finish(self) -> Result<Vec<u8>, MetadataError> {
        if let Some(error) = self.failure {
            return Err(error);
        }
        self.inflater.finish()?;
        self.walker.finish()
    }
}

/// Inspects a whole `.tar.gz` sdist in memory: [`SdistReader`] fed at once.
///
/// # Errors
/// As [`SdistReader::finish`].
pub fn inspect_sdist(file: &[u8], top_dir: &str) -> Result<Vec<u8>, MetadataError> {
    let mut reader = SdistReader::new(top_dir);
    reader.push(file);
    reader.finish()
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

/// Where the walk is in the tar stream.
enum Position {
    /// Collecting the next 512-byte header.
    Header,
    /// Skipping data (and padding).
    Skip(u64),
    /// Collecting a GNU long name or pax header of `size` bytes.
    Extension { kind: u8, size: u64 },
    /// Collecting a top-level PKG-INFO of `size` bytes.
    Member { path: Vec<u8>, size: u64 },
    /// Past the end-of-archive block: what follows is not part of the archive.
    End,
}

/// The tar stream walked as it is inflated.
struct TarWalker {
    expected: Vec<u8>,
    position: Position,
    /// The header block, extension data or PKG-INFO being collected.
    buffer: Vec<u8>,
    overrides: Overrides,
    /// The first top-level PKG-INFO: its path and content.
    found: Option<(Vec<u8>, Vec<u8>)>,
}

impl Sink for TarWalker {
    fn write(&mut self, mut bytes: &[u8]) -> Result<(), MetadataError> {
        while !bytes.is_empty() {
            let used = match &mut self.position {
                Position::End => return Ok(()),
                Position::Skip(remaining) => {
                    let used =
                        usize::try_from(*remaining).map_or(bytes.len(), |r| r.min(bytes.len()));
                    *remaining -= to_u64(used);
                    if *remaining == 0 {
                        self.position = Position::Header;
                    }
                    used
                }
                Position::Header => self.collect(bytes, TAR_BLOCK as u64),
                Position::Extension { size, .. } | Position::Member { size, .. } => {
                    let size = *size;
                    self.collect(bytes, size)
                }
            };
            bytes = bytes.get(used..).unwrap_or_default();
            self.advance()?;
        }
        Ok(())
    }
}

impl TarWalker {
    fn new(expected: Vec<u8>) -> Self {
        Self {
            expected,
            position: Position::Header,
            buffer: Vec::new(),
            overrides: Overrides::default(),
            found: None,
        }
    }

    /// Adds to the buffer until it holds `size` bytes; returns how many of `bytes` it took.
    fn collect(&mut self, bytes: &[u8], size: u64) -> usize {
        let missing = size - to_u64(self.buffer.len());
        let used = usize::try_from(missing).map_or(bytes.len(), |m| m.min(bytes.len()));
        self.buffer
            .extend_from_slice(bytes.get(..used).unwrap_or_default());
        used
    }

    /// Acts on a complete buffer: a header, an extension or PKG-INFO.
    fn advance(&mut self) -> Result<(), MetadataError> {
        let complete = match &self.position {
            Position::Header => self.buffer.len() == TAR_BLOCK,
            Position::Extension { size, .. } | Position::Member { size, .. } => {
                to_u64(self.buffer.len()) == *size
            }
            Position::Skip(_) | Position::End => false,
        };
        if !complete {
            return Ok(());
        }
        let buffer = std::mem::take(&mut self.buffer);
        match std::mem::replace(&mut self.position, Position::Header) {
            Position::Header => self.read_header(&buffer)?,
            Position::Extension { kind, size } => {
                match kind {
                    b'L' => self.overrides.long_name = Some(until_nul(&buffer).to_vec()),
                    b'x' => parse_pax(
                        &buffer,
                        &mut self.overrides.pax_path,
                        &mut self.overrides.pax_size,
                    )?,
                    b'g' => parse_pax(&buffer, &mut self.overrides.global_path, &mut None)?,
                    _ => {}
                }
                self.skip(tar_padding(size));
            }
            Position::Member { path, size } => {
                self.found = Some((path, buffer));
                self.skip(tar_padding(size));
            }
            Position::Skip(_) | Position::End => {}
        }
        Ok(())
    }

    fn skip(&mut self, length: u64) {
        self.position = if length == 0 {
            Position::Header
        } else {
            Position::Skip(length)
        };
    }

    /// Reads a 512-byte header and decides what its data is.
    fn read_header(&mut self, block: &[u8]) -> Result<(), MetadataError> {
        if block.iter().all(|byte| *byte == 0) {
            self.position = Position::End;
            return Ok(());
        }
        let header = parse_tar_header(block)?;
        if matches!(header.kind, b'L' | b'K' | b'x' | b'g') {
            if header.size > MAX_TAR_EXTENSION {
                let (kind, size) = (char::from(header.kind), header.size);
                return Err(MetadataError::CorruptTar(format!(
                    "a `{kind}` header of {size} bytes is larger than 1 MiB"
                )));
            }
            self.position = Position::Extension {
                kind: header.kind,
                size: header.size,
            };
            return self.advance();
        }
        let overrides = &mut self.overrides;
        let long_name = overrides.long_name.take();
        let path = overrides
            .pax_path
            .take()
            .or(long_name)
            .or_else(|| overrides.global_path.clone())
            .unwrap_or(header.name);
        let size = overrides.pax_size.take().unwrap_or(header.size);
        check_entry_name(&path)?;
        let path = path.strip_prefix(b"./").unwrap_or(&path).to_vec();
        let regular = matches!(header.kind, b'0' | b'\0' | b'7');
        if regular && is_top_level_member(&path, b"", b"PKG-INFO") {
            return self.start_member(path, size);
        }
        // Links, devices, directories and FIFOs have no data, whatever their size says.
        let size = if matches!(header.kind, b'1'..=b'6') {
            0
        } else {
            size
        };
        let skipped = size.checked_add(tar_padding(size)).ok_or_else(|| {
            MetadataError::CorruptTar(format!("invalid size of `{}`", display(&path)))
        })?;
        self.skip(skipped);
        Ok(())
    }

    /// Starts collecting a top-level PKG-INFO; a second one makes the archive ambiguous.
    fn start_member(&mut self, path: Vec<u8>, size: u64) -> Result<(), MetadataError> {
        if let Some((first, _)) = &self.found {
            return Err(if *first == path {
                MetadataError::DuplicateEntry(display(&path))
            } else {
                MetadataError::SeveralPkgInfo(display(first), display(&path))
            });
        }
        if size > MAX_METADATA_SIZE {
            return Err(MetadataError::TooLarge(display(&path)));
        }
        self.position = Position::Member { path, size };
        self.advance()
    }

    /// The PKG-INFO, once the stream has ended at an entry boundary.
    fn finish(self) -> Result<Vec<u8>, MetadataError> {
        let boundary = match self.position {
            Position::Header => self.buffer.is_empty(),
            Position::End => true,
            _ => false,
        };
        if !boundary {
            return Err(MetadataError::CorruptTar(
                "the archive ends inside an entry".to_owned(),
            ));
        }
        self.found
            .map(|(_, content)| content)
            .ok_or_else(|| MetadataError::MissingMember("sdist", display(&self.expected)))
    }
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::DeflateEncoder;
    use flate2::{Compress, Compression, FlushCompress};

    use super::super::testkit::{
        ZipOptions, gzip, gzip_with, noise, pax_record, sdist, tar_entry, tar_file, tar_header,
        wheel, zeros_deflated,
    };
    use super::*;

    const PKG_INFO: &[u8] = b"Metadata-Version: 2.2\nName: foo-bar\nVersion: 1.0\n";
    const TOP: &str = "foo_bar-1.0";

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
        assert_eq!(inspect_sdist(&file, TOP), Ok(PKG_INFO.to_vec()));
        let file = sdist(&[("./foo_bar-1.0/PKG-INFO", PKG_INFO)]);
        assert_eq!(inspect_sdist(&file, TOP), Ok(PKG_INFO.to_vec()));
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
        assert_eq!(inspect_sdist(&file, &top), Ok(PKG_INFO.to_vec()));
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
        assert_eq!(inspect_sdist(&gzip(&tar), &top), Ok(PKG_INFO.to_vec()));
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
        assert_eq!(inspect_sdist(&gzip(&tar), &top), Ok(PKG_INFO.to_vec()));
    }

    #[test]
    fn finds_pkg_info_across_gzip_members() {
        let mut tar = Vec::new();
        tar_file(&mut tar, "foo_bar-1.0/setup.py", &noise(5000));
        tar_file(&mut tar, "foo_bar-1.0/PKG-INFO", PKG_INFO);
        let file = [gzip(&tar[..1000]), gzip(&tar[1000..])].concat();
        assert_eq!(inspect_sdist(&file, TOP), Ok(PKG_INFO.to_vec()));
    }

    #[test]
    fn falls_back_to_the_single_top_level_pkg_info() {
        let file = sdist(&[
            ("Foo-Bar-1.0/PKG-INFO", PKG_INFO),
            ("Foo-Bar-1.0/a/PKG-INFO", b"x"),
        ]);
        assert_eq!(inspect_sdist(&file, TOP), Ok(PKG_INFO.to_vec()));
        let file = sdist(&[("foo_bar-1.0/setup.py", b"")]);
        let error = MetadataError::MissingMember("sdist", "foo_bar-1.0/PKG-INFO".to_owned());
        assert_eq!(inspect_sdist(&file, TOP), Err(error));
    }

    #[test]
    fn refuses_a_second_top_level_pkg_info_wherever_it_lies() {
        let lie = b"Metadata-Version: 2.2\nName: totally-other\nVersion: 9.9\n";
        let padding = noise(2 << 20);
        let file = sdist(&[
            ("foo_bar-1.0/PKG-INFO", PKG_INFO),
            ("foo_bar-1.0/payload.bin", &padding),
            ("foo_bar-1.0/PKG-INFO", lie),
        ]);
        let duplicate = MetadataError::DuplicateEntry("foo_bar-1.0/PKG-INFO".to_owned());
        assert_eq!(inspect_sdist(&file, TOP), Err(duplicate));
        let file = sdist(&[
            ("foo_bar-1.0/PKG-INFO", PKG_INFO),
            ("foo_bar-1.0/payload.bin", &padding),
            ("other-9.9/PKG-INFO", lie),
        ]);
        let several = MetadataError::SeveralPkgInfo(
            "foo_bar-1.0/PKG-INFO".to_owned(),
            "other-9.9/PKG-INFO".to_owned(),
        );
        assert_eq!(inspect_sdist(&file, TOP), Err(several));
        // PKG-INFO after 2 MiB (beyond what used to be read) is the one returned: its lie shows.
        let file = sdist(&[
            ("foo_bar-1.0/payload.bin", &padding),
            ("foo_bar-1.0/PKG-INFO", lie),
        ]);
        assert_eq!(inspect_sdist(&file, TOP), Ok(lie.to_vec()));
    }

    #[test]
    fn reads_the_same_in_any_chunks() {
        let mut long = Vec::new();
        let path = format!("{}/PKG-INFO", "g".repeat(150));
        let long_name = [path.as_bytes(), b"\0"].concat();
        tar_entry(
            &mut long,
            &tar_header(b"././@LongLink", long_name.len() as u64, b'L', b""),
            &long_name,
        );
        tar_entry(
            &mut long,
            &tar_header(&path.as_bytes()[..100], PKG_INFO.len() as u64, b'0', b""),
            PKG_INFO,
        );
        let files = [
            sdist(&[
                ("foo_bar-1.0/a", &noise(3000)),
                ("foo_bar-1.0/PKG-INFO", PKG_INFO),
            ]),
            [gzip(&long[..700]), vec![0; 3], gzip(&long[700..])].concat(),
            sdist(&[("foo_bar-1.0/setup.py", b"")]),
            sdist(&[("foo_bar-1.0/a", &noise(3000))])[..2000].to_vec(),
        ];
        for file in files {
            let whole = inspect_sdist(&file, TOP);
            for chunk in [1, 7, 511, 512, 513, 4096] {
                let mut reader = SdistReader::new(TOP);
                for piece in file.chunks(chunk) {
                    reader.push(piece);
                }
                assert_eq!(reader.finish(), whole, "chunk {chunk}");
            }
        }
    }

    #[test]
    fn refuses_truncated_streams() {
        let file = sdist(&[
            ("foo_bar-1.0/data.bin", &noise(300_000)),
            ("foo_bar-1.0/PKG-INFO", PKG_INFO),
        ]);
        assert_eq!(inspect_sdist(&file, TOP), Ok(PKG_INFO.to_vec()));
        let truncated = MetadataError::CorruptGzip("the stream is truncated");
        for head in [32_768, 100, 11, 2] {
            assert_eq!(
                inspect_sdist(&file[..head], TOP),
                Err(truncated.clone()),
                "{head}"
            );
        }
        for head in [1, 0] {
            assert_eq!(
                inspect_sdist(&file[..head], TOP),
                Err(MetadataError::NotGzip)
            );
        }
    }

    #[test]
    fn ignores_what_follows_the_archive_and_zero_padding() {
        let mut tar = Vec::new();
        tar_file(&mut tar, "foo_bar-1.0/PKG-INFO", PKG_INFO);
        tar.extend_from_slice(&[0; 1024]);
        // Past the end-of-archive block, tar readers stop: so does the walk.
        tar_file(&mut tar, "other-9.9/PKG-INFO", b"Name: other");
        let file = [gzip(&tar), vec![0; 100]].concat();
        assert_eq!(inspect_sdist(&file, TOP), Ok(PKG_INFO.to_vec()));
        let garbage = [gzip(&tar), b"garbage".to_vec()].concat();
        assert_eq!(
            inspect_sdist(&garbage, TOP),
            Err(MetadataError::CorruptGzip(
                "trailing data after the last member"
            ))
        );
    }

    #[test]
    fn reads_gzip_headers_with_every_optional_field() {
        let mut tar = Vec::new();
        tar_file(&mut tar, "foo_bar-1.0/PKG-INFO", PKG_INFO);
        let plain = gzip(&tar);
        // FHCRC, FEXTRA, FNAME, FCOMMENT: flags 0x1e, then the fields in that order.
        let mut file = plain[..10].to_vec();
        file[3] = 0x1e;
        file.extend_from_slice(&[4, 0, b'a', b'b', 2, 0]);
        file.extend_from_slice(b"foo_bar-1.0.tar\0a comment\0");
        file.extend_from_slice(&[0x12, 0x34]);
        file.extend_from_slice(&plain[10..]);
        for chunk in [1, 3, file.len()] {
            let mut reader = SdistReader::new(TOP);
            for piece in file.chunks(chunk) {
                reader.push(piece);
            }
            assert_eq!(reader.finish(), Ok(PKG_INFO.to_vec()), "chunk {chunk}");
        }
        let mut reserved = plain.clone();
        reserved[3] = 0x80;
        let invalid = MetadataError::CorruptGzip("invalid member header");
        assert_eq!(inspect_sdist(&reserved, TOP), Err(invalid));
        let mut length = plain.clone();
        let at = length.len() - 1;
        length[at] ^= 1;
        let mismatch = MetadataError::CorruptGzip("length mismatch");
        assert_eq!(inspect_sdist(&length, TOP), Err(mismatch));
    }

    #[test]
    fn refuses_archives_that_inflate_too_much() {
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
        assert!(file.len() as u64 * MAX_INFLATE_RATIO < MIN_INFLATE_ALLOWANCE);
        assert_eq!(
            inspect_sdist(&file, TOP),
            Err(MetadataError::InflatesTooMuch(MIN_INFLATE_ALLOWANCE))
        );
    }

    #[test]
    fn refuses_files_that_are_not_gzip() {
        let zip = wheel(ZipOptions::default());
        for file in [&zip[..], b"", b"x"] {
            assert_eq!(inspect_sdist(file, TOP), Err(MetadataError::NotGzip));
        }
        let not_deflate = [
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        let error = MetadataError::CorruptGzip("invalid compressed data");
        assert_eq!(inspect_sdist(&not_deflate, TOP), Err(error));
    }

    #[test]
    fn refuses_corrupt_tar_headers_and_streams() {
        let mut tar = tar_header(b"foo_bar-1.0/PKG-INFO", 5, b'0', b"");
        tar[0] = b'F';
        let error = MetadataError::CorruptTar("header checksum mismatch".to_owned());
        assert_eq!(inspect_sdist(&gzip(&tar), TOP), Err(error));
        // A stream that ends inside an entry.
        let mut tar = tar_header(b"foo_bar-1.0/setup.py", 5000, b'0', b"");
        tar.extend_from_slice(&[b'x'; 100]);
        let error = MetadataError::CorruptTar("the archive ends inside an entry".to_owned());
        assert_eq!(inspect_sdist(&gzip(&tar), TOP), Err(error));
        // A damaged gzip trailer, read when the tar has no end-of-archive marker.
        let mut tar = Vec::new();
        tar_file(&mut tar, "foo_bar-1.0/setup.py", b"");
        let mut file = gzip(&tar);
        let at = file.len() - 6;
        file[at] ^= 1;
        assert!(matches!(
            inspect_sdist(&file, TOP),
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
        assert_eq!(inspect_sdist(&gzip(&tar), TOP), Err(error));
    }

    #[test]
    fn refuses_oversized_members_and_headers() {
        let tar = tar_header(b"foo_bar-1.0/PKG-INFO", 17 << 20, b'0', b"");
        let error = MetadataError::TooLarge("foo_bar-1.0/PKG-INFO".to_owned());
        assert_eq!(inspect_sdist(&gzip(&tar), TOP), Err(error));
        let tar = tar_header(b"PaxHeaders/x", 2 << 20, b'x', b"");
        let error = inspect_sdist(&gzip(&tar), TOP).unwrap_err();
        assert_eq!(
            error.to_string(),
            "corrupt tar archive: a `x` header of 2097152 bytes is larger than 1 MiB"
        );
    }

    #[test]
    fn refuses_sdist_path_traversal() {
        let file = sdist(&[("../evil", b"x"), ("foo_bar-1.0/PKG-INFO", PKG_INFO)]);
        assert_eq!(
            inspect_sdist(&file, TOP),
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
            let whole = inspect_sdist(&mutated, TOP);
            let mut reader = SdistReader::new(TOP);
            for piece in mutated.chunks(7) {
                reader.push(piece);
            }
            assert_eq!(reader.finish(), whole, "byte {at}");
            let _ = inspect_sdist(&file[..at], TOP);
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
                    let _ = inspect_sdist(&gzip_with(&mutated, Compression::none()), TOP);
                }
            }
        }
    }
}
