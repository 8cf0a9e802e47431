//! PEP 503 project names: `ProjectName::parse` never panics; normalization is idempotent (the
//! normalized name parses to itself), the normalized form is lowercase with single `-`
//! separators, and the filename form (`_` for `-`) names the same project.
//!
//! Input: UTF-8 text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_pypi::packaging::ProjectName;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(name) = ProjectName::parse(input) else {
        return;
    };
    let normalized = name.as_str();
    let again = ProjectName::parse(normalized)
        .unwrap_or_else(|error| panic!("`{input}` normalizes to `{normalized}`: {error}"));
    assert_eq!(again, name, "normalizing `{input}` is not idempotent");
    assert_eq!(again.as_str(), normalized);
    assert!(
        normalized
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "`{normalized}` is not lowercase letters, digits and `-`"
    );
    assert!(
        !normalized.contains("--"),
        "`{normalized}` keeps a separator run"
    );
    assert!(normalized.len() <= input.len());
    let filename_form = name.filename_form();
    assert_eq!(
        ProjectName::parse(&filename_form).ok().as_ref(),
        Some(&name)
    );
});
