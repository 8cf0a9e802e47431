//! The legacy upload form: from any list of fields, `UploadForm::action` and `finish` never
//! panic, and what `finish` accepts is sound: a normalized name, a version that survives
//! normalization, digests as lowercase hex of the right length, non-empty project URL parts.
//! `check_filename` accepts a filename only when it names the same project and version.
//!
//! Input: structured (`arbitrary`): fields named from the upload API's vocabulary or freely,
//! with values from a few meaningful ones or freely, and a filename.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use oci_pypi::packaging::{Action, DistFilename, Sha256, UploadForm, Version};

const NAMES: [&str; 16] = [
    ":action",
    "protocol_version",
    "name",
    "version",
    "sha256_digest",
    "md5_digest",
    "blake2_256_digest",
    "requires_python",
    "summary",
    "project_urls",
    "classifiers",
    "filetype",
    "pyversion",
    "metadata_version",
    "content",
    "gpg_signature",
];

const VALUES: [&str; 14] = [
    "file_upload",
    "submit",
    "doc_upload",
    "1",
    "2",
    "foo",
    "Foo.Bar",
    "1.0",
    "1!2.0rc1.post3.dev4+local.7",
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "CY9rzUYh03PK3k6DJie09g",
    "098f6bcd4621d373cade4e832627b4f6",
    "Homepage, https://example.org",
    "",
];

#[derive(Debug, Arbitrary)]
enum Text {
    Known(u8),
    Free(String),
}

impl Text {
    fn resolve(&self, table: &[&str]) -> String {
        match self {
            Self::Known(index) => table[usize::from(*index) % table.len()].to_owned(),
            Self::Free(text) => text.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    fields: Vec<(Text, Text)>,
    filename: String,
}

fuzz_target!(|input: Input| {
    let mut form = UploadForm::default();
    for (name, value) in &input.fields {
        form.add(&name.resolve(&NAMES), value.resolve(&VALUES));
    }
    match form.action() {
        Ok(Action::FileUpload | Action::Retired(_)) => {}
        Err(error) => drop(error.to_string()),
    }
    let metadata = match form.finish() {
        Ok(metadata) => metadata,
        Err(error) => return drop(error.to_string()),
    };
    let name = metadata.name.as_str();
    assert!(
        name.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    );
    let normalized = metadata.version.to_string();
    assert_eq!(Version::parse(&normalized).as_ref(), Ok(&metadata.version));
    for (digest, length) in [
        (metadata.sha256.as_ref().map(Sha256::as_str), 64),
        (metadata.blake2_256.as_deref(), 64),
        (metadata.md5.as_deref(), 32),
    ] {
        if let Some(digest) = digest {
            assert_eq!(digest.len(), length, "digest `{digest}`");
            assert!(
                digest
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
        }
    }
    for (label, url) in &metadata.project_urls {
        assert!(!label.is_empty() && !url.is_empty());
    }
    if let Ok(filename) = DistFilename::parse(&input.filename) {
        let matches = filename.name() == &metadata.name && filename.version() == &metadata.version;
        assert_eq!(metadata.check_filename(&filename).is_ok(), matches);
    }
});
