//! The wheel side while it streams: every local file header of a top-level
//! `*.dist-info/METADATA` entry met anywhere in the stream is kept with the bytes behind it, so
//! that the central directory, read from the tail once the stream has ended, finds its METADATA
//! wherever the archive puts it (first, or before a large payload). Which candidate is the real
//! one only the central directory says: every signature `PK\x03\x04` is examined, whatever
//! precedes it, and what is kept is bounded ([`CAPTURE_LIMIT`] bytes in all).

use std::sync::LazyLock;

use memchr::memmem::Finder;

use super::{MAX_METADATA_SIZE, is_top_level_member, to_u64, u16_at, u32_at};

/// Bytes kept of all METADATA candidates together: local headers, names, extra fields, data.
/// A deflated METADATA of [`MAX_METADATA_SIZE`] bytes fits, with room for its headers.
pub const CAPTURE_LIMIT: u64 = MAX_METADATA_SIZE + (1 << 20);
/// The longest entry name followed: `<name>-<version>.dist-info/METADATA`.
pub const MAX_CAPTURED_NAME: usize = 1024;
/// The most METADATA candidates kept.
const MAX_CANDIDATES: usize = 1024;
const LOCAL_SIGNATURE: [u8; 4] = *b"PK\x03\x04";
const LOCAL_SIZE: usize = 30;
/// `a.dist-info/METADATA`.
const SHORTEST_NAME: usize = 20;
/// General purpose flag bit 3: CRC-32 and sizes follow the data (zeros in the local header).
const DATA_DESCRIPTOR: u16 = 1 << 3;
const U32_SENTINEL: u32 = u32::MAX;

/// The METADATA candidates of a wheel, gathered as its bytes stream by (see the module docs).
#[derive(Default)]
pub struct MetadataCapture {
    /// The last bytes of the stream, when they may start a signature or hold a local header
    /// the next chunk completes (at most a header and its name).
    carry: Vec<u8>,
    /// Bytes seen so far.
    position: u64,
    candidates: Vec<Candidate>,
    /// Bytes kept in `candidates`.
    kept: u64,
    /// Candidates met after [`MAX_CANDIDATES`] or once [`CAPTURE_LIMIT`] was reached.
    dropped: usize,
}

/// Offsets and sizes, not the bytes kept.
impl std::fmt::Debug for MetadataCapture {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let offsets: Vec<u64> = self.candidates.iter().map(|c| c.offset).collect();
        formatter
            .debug_struct("MetadataCapture")
            .field("position", &self.position)
            .field("candidates", &offsets)
            .field("kept", &self.kept)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

/// A local file header and the bytes from it on, up to `wanted`.
struct Candidate {
    offset: u64,
    bytes: Vec<u8>,
    /// Header, name, extra field and data: how many bytes this entry needs from `offset`.
    wanted: u64,
}

/// How far a scan of local headers got.
#[derive(Clone, Copy)]
enum Scan {
    /// Every signature before the limit was examined; the next one may start at this position.
    Done(usize),
    /// The local header at this position needs bytes that have not arrived yet.
    Waiting(usize),
}

impl MetadataCapture {
    /// Examines the next chunk of the stream. A chunk longer than a local header is scanned
    /// where it lies; only its last bytes (a signature or local header it cuts) are copied, to
    /// be completed by the next chunk.
    pub fn push(&mut self, chunk: &[u8]) {
        self.extend_candidates(chunk);
        let carry = std::mem::take(&mut self.carry);
        let carry_start = self.position - to_u64(carry.len());
        self.position += to_u64(chunk.len());
        let longest = LOCAL_SIZE + MAX_CAPTURED_NAME;
        if chunk.len() < longest {
            let joined = [carry.as_slice(), chunk].concat();
            let scan = self.examine(&joined, carry_start, joined.len(), &[]);
            self.carry = joined
                .get(keep_from(&joined, scan)..)
                .unwrap_or_default()
                .to_vec();
            return;
        }
        if !carry.is_empty() {
            // Headers that start in the carry, completed by the first bytes of the chunk (enough
            // for any header followed, so none is left waiting).
            let (head, rest) = chunk.split_at(longest);
            let joined = [carry.as_slice(), head].concat();
            self.examine(&joined, carry_start, carry.len(), rest);
        }
        let chunk_start = carry_start + to_u64(carry.len());
        let scan = self.examine(chunk, chunk_start, chunk.len(), &[]);
        self.carry = chunk
            .get(keep_from(chunk, scan)..)
            .unwrap_or_default()
            .to_vec();
    }

    /// Gives every candidate still short of what it wants the chunk's bytes, within the limit.
    fn extend_candidates(&mut self, chunk: &[u8]) {
        for candidate in &mut self.candidates {
            let missing = candidate.wanted - to_u64(candidate.bytes.len());
            let room = CAPTURE_LIMIT - self.kept;
            let take =
                usize::try_from(missing.min(room)).map_or(chunk.len(), |n| n.min(chunk.len()));
            candidate
                .bytes
                .extend_from_slice(chunk.get(..take).unwrap_or_default());
            self.kept += to_u64(take);
        }
    }

    /// Examines the local headers starting in `bytes` before `limit` (`bytes` starts at stream
    /// offset `start`; `rest` is what follows it in the stream so far).
    fn examine(&mut self, bytes: &[u8], start: u64, limit: usize, rest: &[u8]) -> Scan {
        let mut at = 0;
        while let Some(found) = find_signature(bytes, at).filter(|found| *found < limit) {
            let Some(header) = bytes.get(found..found + LOCAL_SIZE) else {
                return Scan::Waiting(found);
            };
            let name_length = usize::from(u16_at(header, 26));
            if (SHORTEST_NAME..=MAX_CAPTURED_NAME).contains(&name_length) {
                let name_end = found + LOCAL_SIZE + name_length;
                let Some(name) = bytes.get(found + LOCAL_SIZE..name_end) else {
                    return Scan::Waiting(found);
                };
                if is_top_level_member(name, b".dist-info", b"METADATA") {
                    let from_header = bytes.get(found..).unwrap_or_default();
                    self.add_candidate(start + to_u64(found), from_header, rest);
                }
            }
            at = found + LOCAL_SIGNATURE.len();
        }
        Scan::Done(at)
    }

    /// Keeps a candidate whose local header starts `first` (`first` then `rest`: the stream
    /// from it so far).
    fn add_candidate(&mut self, offset: u64, first: &[u8], rest: &[u8]) {
        if self.candidates.len() >= MAX_CANDIDATES || self.kept >= CAPTURE_LIMIT {
            self.dropped += 1;
            return;
        }
        let flags = u16_at(first, 6);
        let compressed = u32_at(first, 18);
        let headers =
            to_u64(LOCAL_SIZE) + u64::from(u16_at(first, 26)) + u64::from(u16_at(first, 28));
        // Without sizes in the local header (data descriptor, zip64), keep what METADATA may need.
        let data = if flags & DATA_DESCRIPTOR != 0 || compressed == U32_SENTINEL {
            CAPTURE_LIMIT
        } else {
            u64::from(compressed)
        };
        let wanted = headers.saturating_add(data);
        let room = usize::try_from((CAPTURE_LIMIT - self.kept).min(wanted)).unwrap_or(usize::MAX);
        let mut bytes = Vec::new();
        for part in [first, rest] {
            let take = (room - bytes.len()).min(part.len());
            bytes.extend_from_slice(part.get(..take).unwrap_or_default());
        }
        self.kept += to_u64(bytes.len());
        self.candidates.push(Candidate {
            offset,
            bytes,
            wanted,
        });
    }

    /// The bytes kept from the candidate whose local header is at `offset`, if any.
    pub fn candidate(&self, offset: u64) -> Option<&[u8]> {
        let candidate = self.candidates.iter().find(|c| c.offset == offset)?;
        Some(&candidate.bytes)
    }

    /// How many candidates were not kept for lack of room.
    pub fn dropped(&self) -> usize {
        self.dropped
    }
}

/// Where the bytes to examine again with the next chunk begin: a waiting header, or the last
/// bytes that may start a signature.
fn keep_from(bytes: &[u8], scan: Scan) -> usize {
    match scan {
        Scan::Done(next) => next.max(bytes.len().saturating_sub(LOCAL_SIGNATURE.len() - 1)),
        Scan::Waiting(at) => at,
    }
}

/// The first `PK\x03\x04` at or after `at`, found by `memchr`'s vectorized substring search
/// (every byte of a wheel upload passes here; a scan of eight bytes at a time cost an upload
/// half as much CPU as its sha256).
fn find_signature(bytes: &[u8], at: usize) -> Option<usize> {
    static FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(&LOCAL_SIGNATURE));
    let found = FINDER.find(bytes.get(at..)?)?;
    Some(at + found)
}

#[cfg(test)]
mod tests {
    use super::super::MetadataError;
    use super::super::testkit::{
        DIST_INFO, METADATA, PATH, ZipEntry, ZipOptions, noise, wheel_entries, write_zip,
    };
    use super::super::zip::inspect_wheel;
    use super::*;

    /// Streams `file` in `chunk`-byte pieces and inspects it keeping only its central
    /// directory and end records (the last `tail` bytes).
    fn streamed(file: &[u8], chunk: usize, tail: usize) -> Result<Vec<u8>, MetadataError> {
        let mut capture = MetadataCapture::default();
        for piece in file.chunks(chunk) {
            capture.push(piece);
        }
        assert!(capture.carry.len() < LOCAL_SIZE + MAX_CAPTURED_NAME);
        let start = file.len().saturating_sub(tail);
        inspect_wheel(&file[start..], file.len() as u64, &capture, DIST_INFO)
    }

    /// The bytes of a zip from its central directory on.
    fn directory_length(entries: &[ZipEntry], options: ZipOptions) -> usize {
        let local: usize = entries
            .iter()
            .map(|entry| 30 + entry.name.len())
            .sum::<usize>()
            + entries.iter().map(|entry| entry.data.len()).sum::<usize>();
        let extra = if options.zip64 { 20 } else { 0 };
        let descriptor = if options.descriptor {
            if options.zip64 { 24 } else { 16 }
        } else {
            0
        };
        write_zip(entries, options).len() - local - entries.len() * (extra + descriptor)
    }

    #[test]
    fn finds_metadata_anywhere_in_the_stream() {
        let payload = ZipEntry::stored("foo_bar/payload.bin", &noise(200_000));
        let options = [
            ZipOptions::default(),
            ZipOptions {
                zip64: false,
                descriptor: true,
            },
            ZipOptions {
                zip64: true,
                descriptor: false,
            },
            ZipOptions {
                zip64: true,
                descriptor: true,
            },
        ];
        for metadata in [
            ZipEntry::stored(PATH, METADATA),
            ZipEntry::deflated(PATH, METADATA),
        ] {
            for place in 0..=4 {
                let mut entries = wheel_entries(metadata.clone());
                entries.retain(|entry| entry.name != PATH.as_bytes());
                entries.insert(3.min(place), payload.clone());
                entries.insert(place, metadata.clone());
                for options in options {
                    let file = write_zip(&entries, options);
                    let tail = directory_length(&entries, options);
                    for chunk in [1, 29, 4096, file.len()] {
                        assert_eq!(
                            streamed(&file, chunk, tail),
                            Ok(METADATA.to_vec()),
                            "place {place}, method {}, zip64 {}, descriptor {}, chunk {chunk}",
                            metadata.method,
                            options.zip64,
                            options.descriptor,
                        );
                    }
                }
            }
        }
    }

    /// Finding 5 of the security review: `evil-1.0`'s METADATA, first in the file, then 9 MiB.
    #[test]
    fn the_padded_evil_wheel_shows_its_metadata() {
        let lie = b"Metadata-Version: 2.1\nName: totally-other\nVersion: 9.9\n";
        let entries = [
            ZipEntry::deflated("evil-1.0.dist-info/METADATA", lie),
            ZipEntry::stored("evil/payload.bin", &noise(9 << 20)),
            ZipEntry::stored("evil-1.0.dist-info/RECORD", b""),
        ];
        let file = write_zip(&entries, ZipOptions::default());
        let mut capture = MetadataCapture::default();
        for piece in file.chunks(65_536) {
            capture.push(piece);
        }
        let tail = &file[file.len() - (8 << 20)..];
        let found = inspect_wheel(tail, file.len() as u64, &capture, "evil-1.0.dist-info");
        assert_eq!(found, Ok(lie.to_vec()));
        assert!(capture.kept < 1024, "{} bytes kept", capture.kept);
    }

    #[test]
    fn a_truncated_stream_is_refused() {
        let mut entries = wheel_entries(ZipEntry::stored(PATH, METADATA));
        entries.insert(0, entries[2].clone());
        entries.remove(3);
        entries.push(ZipEntry::stored("foo_bar/payload.bin", &noise(100_000)));
        let file = write_zip(&entries, ZipOptions::default());
        let tail = directory_length(&entries, ZipOptions::default());
        assert_eq!(streamed(&file, 4096, tail), Ok(METADATA.to_vec()));
        for cut in [1, 21, 22, tail - 1, tail, tail + 1000] {
            let short = &file[..file.len() - cut];
            assert!(streamed(short, 4096, tail).is_err(), "{cut} bytes cut");
        }
    }

    #[test]
    fn headers_across_chunk_boundaries_are_found() {
        let mut file = noise(2000);
        let header_at = file.len();
        file.extend(write_zip(
            &[ZipEntry::stored(PATH, METADATA)],
            ZipOptions::default(),
        ));
        file.extend(noise(2000));
        let wanted = 30 + PATH.len() + METADATA.len();
        let check = |pieces: &[&[u8]], case: &str| {
            let mut capture = MetadataCapture::default();
            for piece in pieces {
                capture.push(piece);
            }
            let kept = capture.candidate(header_at as u64).unwrap_or_default();
            assert_eq!(kept, &file[header_at..header_at + wanted], "{case}");
            assert_eq!(capture.candidates.len(), 1, "{case}");
            assert!(capture.carry.len() < LOCAL_SIGNATURE.len(), "{case}");
        };
        // Small chunks, copied whole.
        for chunk in 1..=wanted + 5 {
            let pieces: Vec<&[u8]> = file.chunks(chunk).collect();
            check(&pieces, &format!("chunk {chunk}"));
        }
        // Long chunks cut anywhere in the signature, header or name; with a short one between.
        for cut in header_at - 5..header_at + 70 {
            let (first, second) = file.split_at(cut);
            check(&[first, second], &format!("cut at {cut}"));
            let (second, third) = second.split_at(2);
            check(
                &[first, second, third],
                &format!("cut at {cut}, then 2 bytes"),
            );
        }
    }

    #[test]
    fn the_signature_search_finds_every_occurrence() {
        let mut bytes = noise(50_000);
        for at in [0, 4, 8, 13, 700, 49_996] {
            bytes[at..at + 4].copy_from_slice(&LOCAL_SIGNATURE);
        }
        // Near misses around a match.
        bytes[1000..1008].copy_from_slice(b"PPK\x03\x03\x04PK");
        let naive: Vec<usize> = (0..bytes.len() - 3)
            .filter(|&at| bytes[at..at + 4] == LOCAL_SIGNATURE)
            .collect();
        let mut found = Vec::new();
        let mut at = 0;
        while let Some(next) = find_signature(&bytes, at) {
            found.push(next);
            at = next + 1;
        }
        assert_eq!(found, naive);
        assert!(naive.len() >= 6, "{naive:?}");
    }

    #[test]
    fn metadata_of_a_vendored_wheel_does_not_mislead() {
        let vendored = write_zip(
            &[ZipEntry::stored(
                "other-2.0.dist-info/METADATA",
                b"Name: other",
            )],
            ZipOptions::default(),
        );
        let mut entries = vec![ZipEntry::stored("foo_bar/_vendor/other.whl", &vendored)];
        entries.extend(wheel_entries(ZipEntry::stored(PATH, METADATA)));
        entries.push(ZipEntry::stored("foo_bar/payload.bin", &noise(100_000)));
        let options = ZipOptions::default();
        let file = write_zip(&entries, options);
        let tail = directory_length(&entries, options);
        assert_eq!(streamed(&file, 4096, tail), Ok(METADATA.to_vec()));
    }

    /// Local headers naming METADATA, declaring `compressed` bytes of data; `None`: with a
    /// data descriptor, asking for the most METADATA may need.
    fn fake_headers(count: usize, name: &str, compressed: Option<u32>) -> Vec<u8> {
        let mut fakes = Vec::new();
        for _ in 0..count {
            let mut header = vec![0; LOCAL_SIZE];
            header[..4].copy_from_slice(&LOCAL_SIGNATURE);
            match compressed {
                Some(size) => header[18..22].copy_from_slice(&size.to_le_bytes()),
                None => header[6] = 8,
            }
            header[26..28].copy_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
            fakes.extend(header);
            fakes.extend(name.as_bytes());
        }
        fakes
    }

    #[test]
    fn refuses_metadata_that_was_not_kept() {
        let payload = |bytes: &[u8]| ZipEntry::stored("foo_bar/payload.bin", bytes);
        let late = |fakes: Vec<u8>| {
            let mut entries = vec![payload(&fakes)];
            entries.extend(wheel_entries(ZipEntry::stored(PATH, METADATA)));
            entries.push(payload(&noise(10_000)));
            entries
        };
        let unreadable = |entries: &[ZipEntry]| {
            let file = write_zip(entries, ZipOptions::default());
            let tail = directory_length(entries, ZipOptions::default());
            match streamed(&file, 65_536, tail) {
                Err(MetadataError::Unreadable(message)) => message,
                other => panic!("{other:?}"),
            }
        };
        // More candidates than are kept come first.
        let fakes = fake_headers(MAX_CANDIDATES, "x.dist-info/METADATA", Some(0));
        let message = unreadable(&late(fakes));
        assert!(
            message.contains("was not kept: other `.dist-info/METADATA` headers filled"),
            "{message}"
        );
        // A candidate without sizes takes all the room.
        let limit = usize::try_from(CAPTURE_LIMIT).unwrap();
        let mut fakes = fake_headers(1, "x.dist-info/METADATA", None);
        fakes.resize(limit + 10, 0);
        let message = unreadable(&late(fakes));
        assert!(message.contains("was not kept"), "{message}");
        // Room runs out inside METADATA: 70 bytes are left for its 60 bytes of header and name.
        let declared = u32::try_from(limit - 120).unwrap();
        let mut fakes = fake_headers(1, "x.dist-info/METADATA", Some(declared));
        fakes.resize(limit - 60, 0);
        let message = unreadable(&late(fakes));
        assert!(
            message.starts_with(&format!("only 70 bytes of `{PATH}` (at offset ")),
            "{message}"
        );
        // A METADATA name longer than followed.
        let long = format!("{}.dist-info/METADATA", "a".repeat(MAX_CAPTURED_NAME));
        let mut entries = vec![ZipEntry::stored(&long, METADATA)];
        entries.push(payload(&noise(10_000)));
        let message = unreadable(&entries);
        assert!(
            message.contains("has a name longer than 1024 bytes"),
            "{message}"
        );
    }

    #[test]
    fn memory_stays_bounded_on_hostile_streams() {
        for (compressed, full) in [(None, "room"), (Some(0), "count")] {
            let fakes = fake_headers(4096, "x.dist-info/METADATA", compressed);
            let mut capture = MetadataCapture::default();
            for _ in 0..10 {
                for piece in fakes.chunks(7000) {
                    capture.push(piece);
                }
            }
            assert!(capture.kept <= CAPTURE_LIMIT);
            assert!(capture.candidates.len() <= MAX_CANDIDATES);
            assert!(capture.dropped > 0);
            let kept: usize = capture.candidates.iter().map(|c| c.bytes.len()).sum();
            assert_eq!(kept as u64, capture.kept);
            match full {
                "room" => assert_eq!(capture.kept, CAPTURE_LIMIT),
                _ => assert_eq!(capture.candidates.len(), MAX_CANDIDATES),
            }
        }
        // A name at the limit held across chunks stays in the carry, no more.
        let mut capture = MetadataCapture::default();
        let name = format!("{}.dist-info/METADATA", "a".repeat(MAX_CAPTURED_NAME - 20));
        let header = fake_headers(1, &name, Some(0));
        for piece in header[..header.len() - 1].chunks(100) {
            capture.push(piece);
            assert!(capture.carry.len() <= header.len());
        }
        assert!(capture.candidates.is_empty());
        capture.push(&header[header.len() - 1..]);
        assert_eq!(capture.candidates.len(), 1);
    }
}
