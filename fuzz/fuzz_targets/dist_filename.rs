//! Wheel and sdist filenames: `DistFilename::parse` never panics; a parsed filename keeps the
//! input, parses again to an equal value, never holds a path separator, `..` or a control
//! character, and its project and version survive their own normalization.
//!
//! Input: UTF-8 text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_pypi::packaging::{DistFilename, DistKind, ProjectName, Version};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filename) = DistFilename::parse(input) else {
        return;
    };
    assert_eq!(filename.as_str(), input);
    assert_eq!(filename.to_string(), input);
    assert_eq!(DistFilename::parse(input).as_ref(), Ok(&filename));
    assert!(
        !input.contains(['/', '\\']) && !input.contains("..") && !input.starts_with('.'),
        "`{input}` could escape a directory"
    );
    assert!(
        input.bytes().all(|b| b.is_ascii_graphic()),
        "`{input:?}` has unsafe bytes"
    );
    let name = filename.name();
    assert_eq!(ProjectName::parse(name.as_str()).as_ref(), Ok(name));
    let version = filename.version();
    let normalized = version.to_string();
    assert_eq!(
        Version::parse(&normalized).as_ref(),
        Ok(version),
        "the version of `{input}` does not survive normalization"
    );
    let suffix = filename.distinguishing_suffix();
    assert!(
        !suffix.is_empty() && input.ends_with(suffix),
        "suffix `{suffix}` of `{input}`"
    );
    match filename.kind() {
        DistKind::Wheel => {
            assert!(input.ends_with(".whl"));
            assert_eq!(filename.packagetype(), "bdist_wheel");
            let dist_info = filename.dist_info_dir();
            let stem = dist_info.strip_suffix(".dist-info").unwrap_or_default();
            assert!(
                input.starts_with(&format!("{stem}-")),
                "`{dist_info}` of `{input}`"
            );
        }
        DistKind::Sdist => {
            assert!(input.ends_with(".tar.gz") || input.ends_with(".zip"));
            assert_eq!(filename.python_version(), "source");
            assert!(input.starts_with(filename.sdist_dir()));
        }
    }
});
