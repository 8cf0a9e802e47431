//! PEP 440 versions: `Version::parse` never panics; a parsed version's normalized string parses
//! back to an equal version with the same normalized string; ordering agrees with equality and
//! hashing; a version's tag (layout) decodes to the same version.
//!
//! Input: UTF-8 text. With a `|`, the two sides are parsed and compared as well.

#![no_main]

use std::cmp::Ordering;
use std::hash::{DefaultHasher, Hash, Hasher};

use libfuzzer_sys::fuzz_target;
use oci_pypi::layout;
use oci_pypi::packaging::Version;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.split_once('|') {
        None => {
            check_one(text);
        }
        Some((left, right)) => {
            if let (Some(a), Some(b)) = (check_one(left), check_one(right)) {
                check_pair(&a, &b);
            }
        }
    }
});

fn check_one(input: &str) -> Option<Version> {
    let version = Version::parse(input).ok()?;
    let normalized = version.to_string();
    let again = match Version::parse(&normalized) {
        Ok(again) => again,
        Err(error) => {
            panic!("`{input}` normalizes to `{normalized}`, which does not parse: {error}")
        }
    };
    assert_eq!(
        again, version,
        "`{input}` → `{normalized}` parses to another version"
    );
    assert_eq!(
        again.to_string(),
        normalized,
        "normalizing `{input}` twice differs"
    );
    assert_eq!(hash(&again), hash(&version));
    if let Ok(tag) = layout::tag_for(&version) {
        let decoded = layout::version_of(&tag);
        assert!(
            decoded
                .as_ref()
                .is_some_and(|d| *d == version && d.to_string() == normalized),
            "the tag `{}` of `{normalized}` decodes to {decoded:?}",
            tag.as_str()
        );
    }
    Some(version)
}

fn check_pair(a: &Version, b: &Version) {
    let forward = a.cmp(b);
    assert_eq!(
        forward.reverse(),
        b.cmp(a),
        "ordering of `{a}` and `{b}` is not antisymmetric"
    );
    assert_eq!(forward == Ordering::Equal, a == b);
    if a == b {
        assert_eq!(hash(a), hash(b), "`{a}` == `{b}` but their hashes differ");
    }
}

fn hash(version: &Version) -> u64 {
    let mut hasher = DefaultHasher::new();
    version.hash(&mut hasher);
    hasher.finish()
}
