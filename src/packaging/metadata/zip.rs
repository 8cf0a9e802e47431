//! The wheel side: finds the end-of-central-directory record (and its zip64 variant) in the
//! kept tail, walks the central directory, picks METADATA, and has `zip_entry` extract it from
//! behind its local file header, in the tail or in the bytes [`MetadataCapture`] kept as the
//! file streamed.

use super::capture::MetadataCapture;
use super::zip_entry::{Entry, entry_content};
use super::zip_window::{Step, Window, corrupt_zip, unsupported_zip};
use super::{
    MetadataError, check_entry_name, display, is_top_level_member, to_u64, u16_at, u32_at, u64_at,
};

/// The most central directory entries a wheel may declare.
const MAX_ZIP_ENTRIES: u64 = 1_000_000;
const MAX_COMMENT: usize = 0xFFFF;
const EOCD_SIGNATURE: u32 = 0x0605_4b50;
const EOCD_SIZE: usize = 22;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const ZIP64_LOCATOR_SIZE: usize = 20;
const ZIP64_EOCD_SIGNATURE: u32 = 0x0606_4b50;
const ZIP64_EOCD_SIZE: u64 = 56;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const CENTRAL_SIZE: usize = 46;
const ZIP64_EXTRA_ID: u16 = 0x0001;
const U32_SENTINEL: u64 = 0xFFFF_FFFF;

/// Inspects a wheel once it has streamed: `tail` holds the last `tail.len()` bytes of a file of
/// `total_size` bytes, `capture` the METADATA candidates met on the way. Reads the central
/// directory from the tail, requires a single top-level `.dist-info` directory (the one
/// installers accept) and returns its `METADATA`, wherever it lies.
///
/// # Errors
/// A [`MetadataError`] when the archive is not a zip, is corrupt or unsafe (entry names with
/// `..` components or absolute paths), has several `.dist-info` directories, lacks METADATA or
/// holds it twice, its METADATA is unsupported, larger than 16 MiB, or fails its CRC-32, or
/// when what is needed was not kept ([`MetadataError::Unreadable`]: a central directory
/// larger than the tail, METADATA beyond what the capture keeps).
pub fn inspect_wheel(
    tail: &[u8],
    total_size: u64,
    capture: &MetadataCapture,
    dist_info: &str,
) -> Result<Vec<u8>, MetadataError> {
    let window = Window::new(tail, total_size)?;
    let directory = locate_directory(&window)?;
    let central = window.slice(directory.offset, directory.size, "the central directory")?;
    let entry = select_metadata(central, directory.entries, dist_info)?;
    entry_content(&window, capture, directory.offset, &entry)
}

/// Where the central directory is, per the (zip64) end-of-central-directory record.
struct Directory {
    offset: u64,
    size: u64,
    entries: u64,
    /// The end record's offset: the directory must end before it.
    end: u64,
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
            let locator = window.base + to_u64(eocd) - to_u64(ZIP64_LOCATOR_SIZE);
            return Err(window.before_tail("the zip64 locator", locator));
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
            Err(MetadataError::Unreadable(format!(
                "no end-of-central-directory record in the last {} bytes kept",
                bytes.len()
            )))
        }
        None => Err(MetadataError::NotZip("no end-of-central-directory record")),
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

/// Walks every entry (refusing unsafe names), requires at most one top-level `.dist-info`
/// directory (as pip and uv do) and picks its `METADATA`, which must be there once.
fn select_metadata<'a>(central: &'a [u8], count: u64, dist_info: &str) -> Step<Entry<'a>> {
    let (mut directory, mut metadata): (Option<&[u8]>, Option<Entry>) = (None, None);
    let mut at = 0;
    for _ in 0..count {
        let (entry, next) = read_entry(central, at)?;
        at = next;
        check_entry_name(entry.name)?;
        let top = entry
            .name
            .split(|byte| *byte == b'/')
            .next()
            .unwrap_or_default();
        if top.len() > b".dist-info".len() && top.ends_with(b".dist-info") {
            match directory {
                Some(seen) if seen != top => {
                    return Err(MetadataError::SeveralDistInfo(display(seen), display(top)));
                }
                _ => directory = Some(top),
            }
        }
        if is_top_level_member(entry.name, b".dist-info", b"METADATA") {
            if metadata.is_some() {
                return Err(MetadataError::DuplicateEntry(display(entry.name)));
            }
            metadata = Some(entry);
        }
    }
    metadata.ok_or_else(|| {
        let directory = directory.map_or_else(|| dist_info.to_owned(), display);
        MetadataError::MissingMember("wheel", format!("{directory}/METADATA"))
    })
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

#[cfg(test)]
mod tests {
    use super::super::MAX_METADATA_SIZE;
    use super::super::testkit::{
        DIST_INFO, METADATA, PATH, ZipEntry, ZipOptions, noise, wheel, wheel_entries, write_zip,
        zeros_deflated,
    };
    use super::super::zip_entry::inflate;
    use super::*;

    /// Streams `file` through a capture (in 4 KiB chunks) and inspects it with its last
    /// `tail` bytes (all of it when larger).
    fn inspect_tail(file: &[u8], tail: usize, dist_info: &str) -> Result<Vec<u8>, MetadataError> {
        let mut capture = MetadataCapture::default();
        for chunk in file.chunks(4096) {
            capture.push(chunk);
        }
        let start = file.len().saturating_sub(tail);
        inspect_wheel(&file[start..], file.len() as u64, &capture, dist_info)
    }

    /// Inspects the last `tail` bytes of `file` with nothing captured on the way.
    fn inspect_uncaptured(file: &[u8], tail: usize) -> Result<Vec<u8>, MetadataError> {
        let start = file.len().saturating_sub(tail);
        let capture = MetadataCapture::default();
        inspect_wheel(&file[start..], file.len() as u64, &capture, DIST_INFO)
    }

    #[test]
    fn finds_stored_and_deflated_metadata_with_exact_bytes() {
        for entry in [
            ZipEntry::stored(PATH, METADATA),
            ZipEntry::deflated(PATH, METADATA),
        ] {
            let file = write_zip(&wheel_entries(entry), ZipOptions::default());
            assert_eq!(
                inspect_tail(&file, file.len(), DIST_INFO),
                Ok(METADATA.to_vec())
            );
            assert_eq!(
                inspect_tail(&file, 1 << 20, DIST_INFO),
                Ok(METADATA.to_vec())
            );
        }
    }

    #[test]
    fn finds_metadata_with_data_descriptors_and_zip64() {
        let cases = [(false, true), (true, false), (true, true)];
        for (zip64, descriptor) in cases {
            let file = wheel(ZipOptions { zip64, descriptor });
            assert_eq!(
                inspect_tail(&file, file.len(), DIST_INFO),
                Ok(METADATA.to_vec()),
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
            assert_eq!(inspect_tail(&file, 4096, DIST_INFO), Ok(METADATA.to_vec()));
        }
    }

    #[test]
    fn reads_the_dist_info_directory_whatever_its_spelling() {
        let entries = [
            ZipEntry::stored("foo_bar/__init__.py", b""),
            ZipEntry::stored("Foo.Bar-1.0.dist-info/METADATA", METADATA),
            ZipEntry::stored("Foo.Bar-1.0.dist-info/RECORD", b""),
            // Nested METADATA files are not candidates.
            ZipEntry::stored("foo_bar/vendor/x-1.dist-info/METADATA", b"other"),
        ];
        let file = write_zip(&entries, ZipOptions::default());
        assert_eq!(
            inspect_tail(&file, file.len(), DIST_INFO),
            Ok(METADATA.to_vec())
        );
        let missing =
            MetadataError::MissingMember("wheel", "Foo.Bar-1.0.dist-info/METADATA".to_owned());
        let file = write_zip(
            &[entries[0].clone(), entries[2].clone()],
            ZipOptions::default(),
        );
        assert_eq!(inspect_tail(&file, file.len(), DIST_INFO), Err(missing));
    }

    #[test]
    fn refuses_several_dist_info_directories() {
        // As pip and uv do: which one would be installed is not clear.
        let mut entries = wheel_entries(ZipEntry::stored(PATH, METADATA));
        entries.insert(
            0,
            ZipEntry::stored("other-2.0.dist-info/METADATA", b"other"),
        );
        let file = write_zip(&entries, ZipOptions::default());
        let several =
            MetadataError::SeveralDistInfo("other-2.0.dist-info".to_owned(), DIST_INFO.to_owned());
        assert_eq!(inspect_tail(&file, file.len(), DIST_INFO), Err(several));
        // A second directory without METADATA counts too.
        let mut entries = wheel_entries(ZipEntry::stored(PATH, METADATA));
        entries.push(ZipEntry::stored("b-1.dist-info/RECORD", b""));
        let file = write_zip(&entries, ZipOptions::default());
        assert!(matches!(
            inspect_tail(&file, file.len(), DIST_INFO),
            Err(MetadataError::SeveralDistInfo(..))
        ));
    }

    #[test]
    fn refuses_missing_ambiguous_and_duplicate_metadata() {
        let file = write_zip(
            &wheel_entries(ZipEntry::stored("foo_bar/x", b"")),
            ZipOptions::default(),
        );
        let missing = MetadataError::MissingMember("wheel", PATH.to_owned());
        assert_eq!(inspect_tail(&file, file.len(), DIST_INFO), Err(missing));

        let entries = [
            ZipEntry::stored("a-1.dist-info/METADATA", METADATA),
            ZipEntry::stored("b-1.dist-info/METADATA", METADATA),
        ];
        let file = write_zip(&entries, ZipOptions::default());
        let error = inspect_tail(&file, file.len(), DIST_INFO).unwrap_err();
        let several =
            MetadataError::SeveralDistInfo("a-1.dist-info".to_owned(), "b-1.dist-info".to_owned());
        assert_eq!(error, several);

        let mut entries = wheel_entries(ZipEntry::stored(PATH, METADATA));
        entries.push(ZipEntry::stored(PATH, b"Name: evil"));
        let file = write_zip(&entries, ZipOptions::default());
        let error = inspect_tail(&file, file.len(), DIST_INFO).unwrap_err();
        assert_eq!(error, MetadataError::DuplicateEntry(PATH.to_owned()));
    }

    #[test]
    fn unreadable_when_the_tail_misses_the_central_directory() {
        let mut entries = wheel_entries(ZipEntry::stored(PATH, METADATA));
        entries.push(ZipEntry::stored("foo_bar/late.bin", &noise(100_000)));
        let file = write_zip(&entries, ZipOptions::default());
        let directory_size =
            5 * 46 + entries.iter().map(|entry| entry.name.len()).sum::<usize>() + 22;
        // The central directory is held, METADATA is not: the capture has it.
        assert_eq!(
            inspect_tail(&file, directory_size + 10, DIST_INFO),
            Ok(METADATA.to_vec())
        );
        // Without the capture, no local header is known there.
        assert!(
            matches!(inspect_uncaptured(&file, directory_size + 10), Err(MetadataError::CorruptZip(message)) if message.contains("no local file header for `foo_bar-1.0.dist-info/METADATA` at offset"))
        );
        // Part of the central directory, only the end record, or not even that.
        for tail in [directory_size - 10, 22] {
            let error = inspect_tail(&file, tail, DIST_INFO).unwrap_err();
            assert!(
                matches!(&error, MetadataError::Unreadable(message) if message.starts_with("the central directory (at offset ")),
                "{tail}: {error}"
            );
        }
        for tail in [21, 5, 0] {
            assert_eq!(
                inspect_tail(&file, tail, DIST_INFO),
                Err(MetadataError::Unreadable(format!(
                    "no end-of-central-directory record in the last {tail} bytes kept"
                ))),
            );
        }
        // The zip64 locator, or the zip64 end record, lies before the tail.
        let file = wheel(ZipOptions {
            zip64: true,
            descriptor: false,
        });
        for (tail, what) in [
            (30, "the zip64 locator"),
            (60, "the zip64 end-of-central-directory record"),
        ] {
            let error = inspect_tail(&file, tail, DIST_INFO).unwrap_err();
            assert!(
                matches!(&error, MetadataError::Unreadable(message) if message.starts_with(what)),
                "{tail}: {error}"
            );
        }
    }

    #[test]
    fn refuses_a_local_header_that_disagrees_with_the_central_directory() {
        let file = write_zip(&[ZipEntry::deflated(PATH, METADATA)], ZipOptions::default());
        // Method, CRC-32, compressed size, size: offsets 8, 14, 18, 22 of the local header.
        for (at, field) in [
            (8, "compression method"),
            (14, "CRC-32"),
            (18, "compressed size"),
            (22, "size"),
        ] {
            let mut patched = file.clone();
            patched[at] ^= 1;
            for tail in [patched.len(), patched.len() - 40] {
                let error = inspect_tail(&patched, tail, DIST_INFO).unwrap_err();
                assert_eq!(
                    error.to_string(),
                    format!(
                        "corrupt zip archive: the local file header of `{PATH}` disagrees with the central directory on its {field}"
                    )
                );
            }
        }
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
            inspect_wheel(b"abc", 2, &MetadataCapture::default(), DIST_INFO),
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
            inspect_tail(cut, cut.len(), DIST_INFO),
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
            Ok(METADATA.to_vec())
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
                    let whole = inspect_tail(&mutated, mutated.len(), DIST_INFO);
                    for tail in [200, 64] {
                        // What the capture finds is what the whole file holds.
                        if let Ok(found) = inspect_tail(&mutated, tail, DIST_INFO) {
                            assert_eq!(whole.as_ref(), Ok(&found), "byte {at} = {value}");
                        }
                    }
                }
                let _ = inspect_tail(&file[..at], at, DIST_INFO);
                let _ = inspect_uncaptured(&file, file.len() - at);
            }
        }
    }
}
