//! Core metadata (METADATA, PKG-INFO) of an uploaded file: `CoreMetadata::parse` never panics;
//! what it accepts has non-empty `Metadata-Version`, `Name` and `Version`, values trimmed.
//!
//! Input: the file's bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_pypi::packaging::CoreMetadata;

fuzz_target!(|data: &[u8]| {
    let Ok(metadata) = CoreMetadata::parse(data) else {
        return;
    };
    for value in [
        &metadata.metadata_version,
        &metadata.name,
        &metadata.version,
    ] {
        assert!(!value.is_empty());
        assert_eq!(value.trim(), value.as_str());
    }
    let _ = metadata.is_reliable_for_sdist();
});
