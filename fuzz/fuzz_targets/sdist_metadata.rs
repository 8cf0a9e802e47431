//! Sdist inspection from the first bytes of an upload (hostile gzip and tar): `inspect_sdist`
//! never panics, and PKG-INFO it returns is at most 16 MiB and parses without panicking.
//!
//! Input: byte 0 holds flags (bit 0: the head is the whole file; bit 1: the rest is raw tar,
//! gzipped here first, so that mutations reach the tar walker; bits 2-3: the expected top
//! directory), byte 1 is how many bytes to cut from the end of a gzipped raw tar when the
//! head is not the whole file; the rest is the head.

#![no_main]

use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use oci_pypi::packaging::{CoreMetadata, MAX_METADATA_SIZE, SdistInspection, inspect_sdist};

const TOP_DIR: [&str; 4] = ["foo_bar-1.0", "Foo-Bar-1.0", "other-2.0", ""];

fuzz_target!(|data: &[u8]| {
    let [flags, cut, rest @ ..] = data else {
        return;
    };
    let complete = flags & 1 != 0;
    let top_dir = TOP_DIR[usize::from((flags >> 2) & 3)];
    let gzipped;
    let head = if flags & 2 != 0 {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        if encoder.write_all(rest).is_err() {
            return;
        }
        let Ok(mut bytes) = encoder.finish() else {
            return;
        };
        if !complete {
            bytes.truncate(bytes.len().saturating_sub(usize::from(*cut)));
        }
        gzipped = bytes;
        gzipped.as_slice()
    } else {
        rest
    };
    match inspect_sdist(head, complete, top_dir) {
        Ok(SdistInspection::Metadata(metadata)) => {
            assert!(metadata.len() as u64 <= MAX_METADATA_SIZE);
            let _ = CoreMetadata::parse(&metadata);
        }
        Ok(SdistInspection::OutOfReach) => {}
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
