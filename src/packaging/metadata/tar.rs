//! The sdist side: inflates the kept head of a `.tar.gz` (gzip members, RFC 1952) on demand and
//! walks its tar headers (ustar, GNU long names, pax `path`/`size`) to PKG-INFO.

use std::io::{self, Read};

use flate2::bufread::MultiGzDecoder;

use super::{
    Failure, MAX_METADATA_SIZE, MetadataError, SdistInspection, Step, check_entry_name, display,
    is_top_level_member, missing_member, parse_decimal, split_once, to_u64, until_nul,
};

/// The largest GNU long name or pax header data read from a tar archive.
const MAX_TAR_EXTENSION: u64 = 1 << 20;
/// How much of an sdist head is inflated before giving up on finding PKG-INFO.
const MAX_SDIST_INFLATE: u64 = 64 << 20;
const INFLATE_CHUNK: usize = 16 << 10;
const TAR_BLOCK: usize = 512;

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

    fn sdist_found(bytes: &[u8]) -> SdistInspection {
        SdistInspection::Metadata(bytes.to_vec())
    }

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
}
