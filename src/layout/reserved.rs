//! The form of what oci-pypi keeps beside a project's releases, under its reserved tags (the
//! listing document, the project status): a release index with no files, its content in
//! annotations. docs/design.md, "Reserved tags", is the contract.
//!
//! PyOCI reads every tag of a repository as a release and fails the whole page (and `/json`)
//! on a tag that is not an image index with `artifactType` [`ARTIFACT_TYPE`]; an index with no
//! manifests is a version with no files to it, which it lists as nothing. Reserved tags also
//! start with `0-`, which sorts them before every release tag: PyOCI's cut to its newest
//! `PYOCI_MAX_VERSIONS` tags, and its `/json` (which reads the last tag's first file), never
//! meet them. No PEP 440 version maps to such a tag (normalized local labels use `.`).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::annotations::ARTIFACT_TYPE;
use crate::storage::Tag;
use crate::storage::oci::{ImageIndex, MEDIA_TYPE_INDEX};

/// `text`, one of the reserved tags (constants of the grammar, tested).
pub(super) fn reserved_tag(text: &str) -> Tag {
    match Tag::parse(text) {
        Ok(tag) => tag,
        Err(_) => unreachable!("`{text}` satisfies the tag grammar (tested)"),
    }
}

/// An index with no manifests, `annotations` its content.
#[must_use]
pub fn reserved_index(annotations: BTreeMap<String, String>) -> Bytes {
    let index = ImageIndex {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_INDEX.to_owned()),
        artifact_type: Some(ARTIFACT_TYPE.to_owned()),
        manifests: Vec::new(),
        annotations,
    };
    Bytes::from(serde_json::to_vec(&index).unwrap_or_default())
}

/// The annotations of a reserved index carrying `marker` (an annotation only its kind of
/// object has); `None` when `bytes` (stored as `media_type`) is not one.
#[must_use]
pub fn read_reserved_index(
    media_type: &str,
    bytes: &[u8],
    marker: &str,
) -> Option<BTreeMap<String, String>> {
    if !(media_type == MEDIA_TYPE_INDEX || media_type.is_empty()) {
        return None;
    }
    let index: ImageIndex = serde_json::from_slice(bytes).ok()?;
    let typed = index
        .media_type
        .as_deref()
        .is_none_or(|t| t == MEDIA_TYPE_INDEX)
        && index.artifact_type.as_deref() == Some(ARTIFACT_TYPE)
        && index.manifests.is_empty();
    (typed && index.annotations.contains_key(marker)).then_some(index.annotations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::oci::MEDIA_TYPE_MANIFEST;

    fn content() -> BTreeMap<String, String> {
        BTreeMap::from([("dev.oci-pypi.thing".to_owned(), "value".to_owned())])
    }

    #[test]
    fn reserved_tags_are_valid_never_release_tags_and_sorted_before_them() {
        use crate::layout::{
            LEGACY_LISTING_TAG, LEGACY_STATUS_TAG, LISTING_TAG, STATUS_TAG, tag_for, version_of,
        };
        for text in [
            LISTING_TAG,
            STATUS_TAG,
            LEGACY_LISTING_TAG,
            LEGACY_STATUS_TAG,
        ] {
            let tag = Tag::parse(text).unwrap();
            assert_eq!(reserved_tag(text), tag);
            assert!(version_of(&tag).is_none(), "{text}");
        }
        let releases = [
            "0.1", "0a1", "0.dev0", "0.post1", "1!0.1", "1.0", "9", "10.0",
        ];
        for version in releases {
            let version = crate::packaging::Version::parse(version).unwrap();
            let tag = tag_for(&version).unwrap();
            for reserved in [LISTING_TAG, STATUS_TAG] {
                assert!(reserved < tag.as_str(), "{reserved} after {tag}");
            }
        }
    }

    #[test]
    fn a_reserved_index_is_a_release_index_without_files() {
        let bytes = reserved_index(content());
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["mediaType"], MEDIA_TYPE_INDEX);
        assert_eq!(value["artifactType"], ARTIFACT_TYPE);
        assert_eq!(value["manifests"], serde_json::json!([]));
        assert_eq!(
            read_reserved_index(MEDIA_TYPE_INDEX, &bytes, "dev.oci-pypi.thing"),
            Some(content())
        );
        assert_eq!(
            read_reserved_index("", &bytes, "dev.oci-pypi.thing"),
            Some(content())
        );
    }

    #[test]
    fn other_content_is_not_read_as_reserved() {
        let bytes = reserved_index(content());
        assert_eq!(read_reserved_index(MEDIA_TYPE_INDEX, &bytes, "other"), None);
        assert_eq!(
            read_reserved_index(MEDIA_TYPE_MANIFEST, &bytes, "dev.oci-pypi.thing"),
            None
        );
        let release = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"application/pyoci.package.v1","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:00","size":1}],"annotations":{"dev.oci-pypi.thing":"x"}}"#;
        assert_eq!(
            read_reserved_index(MEDIA_TYPE_INDEX, release, "dev.oci-pypi.thing"),
            None
        );
        let untyped =
            br#"{"schemaVersion":2,"manifests":[],"annotations":{"dev.oci-pypi.thing":"x"}}"#;
        assert_eq!(
            read_reserved_index(MEDIA_TYPE_INDEX, untyped, "dev.oci-pypi.thing"),
            None
        );
        for garbage in [&b"not json"[..], b"{}", b"[]"] {
            assert_eq!(
                read_reserved_index(MEDIA_TYPE_INDEX, garbage, "dev.oci-pypi.thing"),
                None
            );
        }
    }
}
