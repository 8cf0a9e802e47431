//! Wheel inspection from the last bytes of an upload (hostile zips): `inspect_wheel` never
//! panics; METADATA it returns is at most 16 MiB and parses without panicking; with the whole
//! file in hand the answer is never "out of reach".
//!
//! Input: byte 0 picks the expected `.dist-info` directory, bytes 1-2 (little-endian) are how
//! many bytes of the file lie before the kept tail, the rest is the tail.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_pypi::packaging::{CoreMetadata, MAX_METADATA_SIZE, WheelInspection, inspect_wheel};

const DIST_INFO: [&str; 4] = [
    "foo_bar-1.0.dist-info",
    "Foo_Bar-1.0.dist-info",
    "other-2.0.dist-info",
    "",
];

fuzz_target!(|data: &[u8]| {
    let [selector, low, high, tail @ ..] = data else {
        return;
    };
    let dist_info = DIST_INFO[usize::from(*selector) % DIST_INFO.len()];
    let before = u64::from(u16::from_le_bytes([*low, *high]));
    let total = tail.len() as u64 + before;
    match inspect_wheel(tail, total, dist_info) {
        Ok(WheelInspection::Metadata(metadata)) => {
            assert!(metadata.len() as u64 <= MAX_METADATA_SIZE);
            let _ = CoreMetadata::parse(&metadata);
        }
        Ok(WheelInspection::OutOfReach) => {
            assert!(before > 0, "out of reach although the whole file was given");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
