//! Wheel inspection as an upload streams (hostile zips): the file goes through a
//! `MetadataCapture` in chunks, then `inspect_wheel` reads it with only its last bytes kept. It
//! never panics; METADATA it returns is at most 16 MiB and parses without panicking; and the
//! capture never changes the answer: any METADATA found with a short tail is the one found with
//! the whole file kept, and the chunk size makes no difference.
//!
//! Input: byte 0 picks the expected `.dist-info` directory, bytes 1-2 (little-endian) are the
//! chunk size (0: one chunk), bytes 3-4 how many bytes of the file the tail keeps (0: all of
//! it), the rest is the file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_pypi::packaging::{
    CoreMetadata, MAX_METADATA_SIZE, MetadataCapture, MetadataError, inspect_wheel,
};

const DIST_INFO: [&str; 4] = [
    "foo_bar-1.0.dist-info",
    "Foo_Bar-1.0.dist-info",
    "other-2.0.dist-info",
    "",
];

fn inspect(
    file: &[u8],
    chunk: usize,
    tail: usize,
    dist_info: &str,
) -> Result<Vec<u8>, MetadataError> {
    let mut capture = MetadataCapture::default();
    for piece in file.chunks(chunk.max(1)) {
        capture.push(piece);
    }
    let start = file.len() - tail.min(file.len());
    inspect_wheel(&file[start..], file.len() as u64, &capture, dist_info)
}

fuzz_target!(|data: &[u8]| {
    let [
        selector,
        chunk_low,
        chunk_high,
        tail_low,
        tail_high,
        file @ ..,
    ] = data
    else {
        return;
    };
    let dist_info = DIST_INFO[usize::from(*selector) % DIST_INFO.len()];
    let chunk = match usize::from(u16::from_le_bytes([*chunk_low, *chunk_high])) {
        0 => file.len(),
        chunk => chunk,
    };
    let tail = match usize::from(u16::from_le_bytes([*tail_low, *tail_high])) {
        0 => file.len(),
        tail => tail,
    };
    let found = inspect(file, chunk, tail, dist_info);
    if let Ok(metadata) = &found {
        assert!(metadata.len() as u64 <= MAX_METADATA_SIZE);
        let _ = CoreMetadata::parse(metadata);
        let whole = inspect(file, file.len(), file.len(), dist_info);
        assert_eq!(
            whole.as_ref(),
            Ok(metadata),
            "the capture found another METADATA"
        );
    }
    assert_eq!(
        inspect(file, file.len(), tail, dist_info),
        found,
        "the chunk size mattered"
    );
    if let Err(error) = found {
        let _ = error.to_string();
    }
});
