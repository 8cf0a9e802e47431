//! Where a project's status (PEP 792) lives: a small image manifest under the reserved tag
//! [`STATUS_TAG`] of the project's repository, the status and reason in its annotations. Not
//! a PEP 440 version, so never a release tag (PyOCI and listings skip it). A project without
//! the tag is active; a page costs nothing more for it (the tag list shows whether there is a
//! status to read). docs/design.md is the contract.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::annotations::ANNOTATION_CREATED;
use crate::packaging::{ProjectStatus, StatusMarker};
use crate::storage::Tag;
use crate::storage::oci::{Descriptor, ImageManifest, MEDIA_TYPE_MANIFEST};

/// The tag the status manifest lives under.
pub const STATUS_TAG: &str = "oci-pypi.status";
/// `artifactType` of the status manifest.
pub const ARTIFACT_TYPE_STATUS: &str = "application/vnd.oci-pypi.project-status.v1";
/// Annotation: the status, as PEP 792 spells it.
pub const ANNOTATION_STATUS: &str = "dev.oci-pypi.project-status";
/// Annotation: the reason, possibly empty.
pub const ANNOTATION_STATUS_REASON: &str = "dev.oci-pypi.project-status-reason";

/// The status tag.
#[must_use]
pub fn status_tag() -> Tag {
    match Tag::parse(STATUS_TAG) {
        Ok(tag) => tag,
        Err(_) => unreachable!("`{STATUS_TAG}` satisfies the tag grammar (tested)"),
    }
}

/// The manifest recording `marker`: the empty config, the empty blob as its only layer (what
/// the image spec asks of artifacts without content), the status in annotations.
#[must_use]
pub fn status_manifest(marker: &StatusMarker, created: &str) -> Bytes {
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.to_owned()),
        artifact_type: Some(ARTIFACT_TYPE_STATUS.to_owned()),
        config: Descriptor::empty(),
        layers: vec![Descriptor::empty()],
        subject: None,
        annotations: BTreeMap::from([
            (ANNOTATION_CREATED.to_owned(), created.to_owned()),
            (
                ANNOTATION_STATUS.to_owned(),
                marker.status.as_str().to_owned(),
            ),
            (ANNOTATION_STATUS_REASON.to_owned(), marker.reason.clone()),
        ]),
    };
    Bytes::from(serde_json::to_vec(&manifest).unwrap_or_default())
}

/// Reads the manifest under the status tag; `None` when it is not a status manifest we can
/// read (another tool's content, an unknown status: treated as no status).
#[must_use]
pub fn read_status_manifest(media_type: &str, bytes: &[u8]) -> Option<StatusMarker> {
    if !(media_type == MEDIA_TYPE_MANIFEST || media_type.is_empty()) {
        return None;
    }
    let manifest: ImageManifest = serde_json::from_slice(bytes).ok()?;
    if manifest.artifact_type.as_deref() != Some(ARTIFACT_TYPE_STATUS) {
        return None;
    }
    let status = ProjectStatus::parse(manifest.annotations.get(ANNOTATION_STATUS)?).ok()?;
    let reason = manifest
        .annotations
        .get(ANNOTATION_STATUS_REASON)
        .map_or("", String::as_str);
    Some(StatusMarker::new(status, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_is_valid_and_not_a_release_tag() {
        let tag = status_tag();
        assert_eq!(tag.as_str(), STATUS_TAG);
        assert!(super::super::version_of(&tag).is_none());
    }

    #[test]
    fn round_trips_every_status() {
        for status in ProjectStatus::ALL {
            let marker = StatusMarker::new(status, "see `other` instead");
            let bytes = status_manifest(&marker, "2026-12-05T07:00:00Z");
            assert_eq!(
                read_status_manifest(MEDIA_TYPE_MANIFEST, &bytes),
                Some(marker)
            );
        }
    }

    #[test]
    fn the_manifest_is_stable_compact_json() {
        let marker = StatusMarker::new(ProjectStatus::Archived, "done");
        let bytes = status_manifest(&marker, "2026-12-05T07:00:00Z");
        let expected = concat!(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
            r#""artifactType":"application/vnd.oci-pypi.project-status.v1","#,
            r#""config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"#,
            r#""layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}],"#,
            r#""annotations":{"dev.oci-pypi.project-status":"archived","dev.oci-pypi.project-status-reason":"done","org.opencontainers.image.created":"2026-12-05T07:00:00Z"}}"#
        );
        assert_eq!(std::str::from_utf8(&bytes).unwrap(), expected);
    }

    #[test]
    fn foreign_content_is_no_status() {
        assert_eq!(read_status_manifest(MEDIA_TYPE_MANIFEST, b"{}"), None);
        assert_eq!(read_status_manifest("application/other", b"{}"), None);
        let other = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.oci-pypi.project-status.v1","config":{"mediaType":"a","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"annotations":{"dev.oci-pypi.project-status":"gone"}}"#;
        assert_eq!(read_status_manifest(MEDIA_TYPE_MANIFEST, other), None);
    }
}
