//! Sdist inspection as an upload streams (hostile gzip and tar): `SdistReader` never panics,
//! PKG-INFO it returns is at most 16 MiB and parses without panicking, and the chunks the file
//! arrives in make no difference.
//!
//! Input: byte 0 holds flags (bit 0: cut byte 1's count of bytes from the end of a gzipped raw
//! tar; bit 1: the rest is raw tar, gzipped here first, so that mutations reach the tar walker;
//! bits 2-3: the expected top directory), byte 1 is that count and, plus one, the chunk size;
//! the rest is the file.

#![no_main]

use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use oci_pypi::packaging::{CoreMetadata, MAX_METADATA_SIZE, SdistReader, inspect_sdist};

const TOP_DIR: [&str; 4] = ["foo_bar-1.0", "Foo-Bar-1.0", "other-2.0", ""];

fuzz_target!(|data: &[u8]| {
    let [flags, count, rest @ ..] = data else {
        return;
    };
    let top_dir = TOP_DIR[usize::from((flags >> 2) & 3)];
    let gzipped;
    let file = if flags & 2 != 0 {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        if encoder.write_all(rest).is_err() {
            return;
        }
        let Ok(mut bytes) = encoder.finish() else {
            return;
        };
        if flags & 1 != 0 {
            bytes.truncate(bytes.len().saturating_sub(usize::from(*count)));
        }
        gzipped = bytes;
        gzipped.as_slice()
    } else {
        rest
    };
    let whole = inspect_sdist(file, top_dir);
    let mut reader = SdistReader::new(top_dir);
    for piece in file.chunks(usize::from(*count) + 1) {
        reader.push(piece);
    }
    assert_eq!(reader.finish(), whole, "the chunk size mattered");
    match whole {
        Ok(metadata) => {
            assert!(metadata.len() as u64 <= MAX_METADATA_SIZE);
            let _ = CoreMetadata::parse(&metadata);
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
