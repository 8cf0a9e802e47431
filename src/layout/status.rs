//! Where a project's status (PEP 792) lives: a reserved index (see [`super::reserved`]) under
//! the reserved tag [`STATUS_TAG`] of the project's repository, the status and reason in its
//! annotations. A project without the tag is active; a page costs nothing more for it (the
//! tag list shows whether there is a status to read). Servers before the reserved form wrote
//! an image manifest under [`LEGACY_STATUS_TAG`] (PyOCI fails on it): it is still read, and
//! setting a status replaces it. docs/design.md is the contract.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::annotations::ANNOTATION_CREATED;
use super::reserved::{read_reserved_index, reserved_index, reserved_tag};
use crate::packaging::{ProjectStatus, StatusMarker};
use crate::storage::Tag;
use crate::storage::oci::{Descriptor, ImageManifest, MEDIA_TYPE_MANIFEST};

/// The tag the status lives under.
pub const STATUS_TAG: &str = "0-oci-pypi.status";
/// Where servers before the reserved form kept it.
pub const LEGACY_STATUS_TAG: &str = "oci-pypi.status";
/// `artifactType` of the status manifest.
pub const ARTIFACT_TYPE_STATUS: &str = "application/vnd.oci-pypi.project-status.v1";
/// Annotation: the status, as PEP 792 spells it.
pub const ANNOTATION_STATUS: &str = "dev.oci-pypi.project-status";
/// Annotation: the reason, possibly empty.
pub const ANNOTATION_STATUS_REASON: &str = "dev.oci-pypi.project-status-reason";

/// The status tag.
#[must_use]
pub fn status_tag() -> Tag {
    reserved_tag(STATUS_TAG)
}

/// The tag of the legacy form.
#[must_use]
pub fn legacy_status_tag() -> Tag {
    reserved_tag(LEGACY_STATUS_TAG)
}

fn status_annotations(marker: &StatusMarker, created: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (ANNOTATION_CREATED.to_owned(), created.to_owned()),
        (
            ANNOTATION_STATUS.to_owned(),
            marker.status.as_str().to_owned(),
        ),
        (ANNOTATION_STATUS_REASON.to_owned(), marker.reason.clone()),
    ])
}

/// The reserved index recording `marker`, stored with media type `MEDIA_TYPE_INDEX`.
#[must_use]
pub fn status_index(marker: &StatusMarker, created: &str) -> Bytes {
    reserved_index(status_annotations(marker, created))
}

/// The manifest recording `marker` (the legacy form, for registries that refuse a reserved
/// index): the empty config, the empty blob as its only layer (what the image spec asks of
/// artifacts without content), the status in annotations.
#[must_use]
pub fn status_manifest(marker: &StatusMarker, created: &str) -> Bytes {
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.to_owned()),
        artifact_type: Some(ARTIFACT_TYPE_STATUS.to_owned()),
        config: Descriptor::empty(),
        layers: vec![Descriptor::empty()],
        subject: None,
        annotations: status_annotations(marker, created),
    };
    Bytes::from(serde_json::to_vec(&manifest).unwrap_or_default())
}

/// Reads what is under a status tag (either form); `None` when it is not a status we can
/// read (another tool's content, an unknown status: treated as no status).
#[must_use]
pub fn read_status_manifest(media_type: &str, bytes: &[u8]) -> Option<StatusMarker> {
    let annotations = match read_reserved_index(media_type, bytes, ANNOTATION_STATUS) {
        Some(annotations) => annotations,
        None if media_type == MEDIA_TYPE_MANIFEST || media_type.is_empty() => {
            let manifest: ImageManifest = serde_json::from_slice(bytes).ok()?;
            if manifest.artifact_type.as_deref() != Some(ARTIFACT_TYPE_STATUS) {
                return None;
            }
            manifest.annotations
        }
        None => return None,
    };
    let status = ProjectStatus::parse(annotations.get(ANNOTATION_STATUS)?).ok()?;
    let reason = annotations
        .get(ANNOTATION_STATUS_REASON)
        .map_or("", String::as_str);
    Some(StatusMarker::new(status, reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::oci::MEDIA_TYPE_INDEX;

    #[test]
    fn round_trips_every_status_in_both_forms() {
        for status in ProjectStatus::ALL {
            let marker = StatusMarker::new(status, "see `other` instead");
            let bytes = status_index(&marker, "2026-12-05T07:00:00Z");
            assert_eq!(
                read_status_manifest(MEDIA_TYPE_INDEX, &bytes),
                Some(marker.clone())
            );
            let bytes = status_manifest(&marker, "2026-12-05T07:00:00Z");
            assert_eq!(
                read_status_manifest(MEDIA_TYPE_MANIFEST, &bytes),
                Some(marker)
            );
        }
    }

    #[test]
    fn both_forms_are_stable_compact_json() {
        let marker = StatusMarker::new(ProjectStatus::Archived, "done");
        let created = "2026-12-05T07:00:00Z";
        let annotations = r#""annotations":{"dev.oci-pypi.project-status":"archived","dev.oci-pypi.project-status-reason":"done","org.opencontainers.image.created":"2026-12-05T07:00:00Z"}}"#;
        let empty = r#"{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}"#;
        let index = concat!(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","#,
            r#""artifactType":"application/pyoci.package.v1","manifests":[],"#,
        );
        let manifest = format!(
            concat!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
                r#""artifactType":"application/vnd.oci-pypi.project-status.v1","#,
                r#""config":{empty},"layers":[{empty}],"#,
            ),
            empty = empty
        );
        for (bytes, head) in [
            (status_index(&marker, created), index.to_owned()),
            (status_manifest(&marker, created), manifest),
        ] {
            assert_eq!(
                std::str::from_utf8(&bytes).unwrap(),
                format!("{head}{annotations}")
            );
        }
    }

    #[test]
    fn foreign_content_is_no_status() {
        assert_eq!(read_status_manifest(MEDIA_TYPE_MANIFEST, b"{}"), None);
        assert_eq!(read_status_manifest("application/other", b"{}"), None);
        let other = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.oci-pypi.project-status.v1","config":{"mediaType":"a","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"annotations":{"dev.oci-pypi.project-status":"gone"}}"#;
        assert_eq!(read_status_manifest(MEDIA_TYPE_MANIFEST, other), None);
        let unknown = status_index(&StatusMarker::new(ProjectStatus::Archived, ""), "t");
        let unknown = String::from_utf8(unknown.to_vec())
            .unwrap()
            .replace("archived", "gone");
        assert_eq!(
            read_status_manifest(MEDIA_TYPE_INDEX, unknown.as_bytes()),
            None
        );
    }
}
