//! Where a file's provenance (PEP 740) lives: the provenance object is a blob; an image
//! manifest whose `subject` is the file's manifest holds it as its layer (OCI 1.1 referrers:
//! registries with the referrers API list it there); and, because many registries lack that
//! API (CNCF distribution, ghcr.io, Docker Hub), the referrers tag schema is written too: an
//! image index under the tag `sha256-<hex of the file manifest digest>` lists it. The release
//! index entry records the object's sha256, so pages know which files have provenance without
//! a request. docs/design.md is the contract.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::annotations::{ANNOTATION_CREATED, ANNOTATION_TITLE};
use crate::storage::oci::{Descriptor, ImageManifest, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::storage::{Digest, Tag};

/// Index-entry annotation: the sha256 (hex) of the file's provenance object.
pub const ANNOTATION_PROVENANCE: &str = "dev.oci-pypi.provenance.sha256";
/// `artifactType` of provenance manifests.
pub const ARTIFACT_TYPE_PROVENANCE: &str = "application/vnd.oci-pypi.provenance.v1";
/// Media type of the provenance layer: the object as PyPI's integrity API serves it.
pub const MEDIA_TYPE_PROVENANCE_LAYER: &str = "application/vnd.pypi.integrity.v1+json";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Referrers {
    schema_version: u32,
    media_type: String,
    manifests: Vec<Descriptor>,
}

/// The descriptor of a file manifest, as a `subject`.
#[must_use]
pub fn subject_of(file_manifest: &Descriptor) -> Descriptor {
    Descriptor {
        media_type: MEDIA_TYPE_MANIFEST.to_owned(),
        digest: file_manifest.digest.clone(),
        size: file_manifest.size,
        platform: None,
        annotations: BTreeMap::new(),
        artifact_type: None,
    }
}

/// The manifest holding `provenance` (the object's bytes) for the file `filename` whose
/// manifest is `subject`.
#[must_use]
pub fn provenance_manifest(
    provenance: &[u8],
    subject: Descriptor,
    filename: &str,
    created: &str,
) -> Bytes {
    let mut layer = Descriptor::of(MEDIA_TYPE_PROVENANCE_LAYER, provenance);
    layer.annotations.insert(
        ANNOTATION_TITLE.to_owned(),
        format!("{filename}.provenance"),
    );
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.to_owned()),
        artifact_type: Some(ARTIFACT_TYPE_PROVENANCE.to_owned()),
        config: Descriptor::empty(),
        layers: vec![layer],
        subject: Some(subject),
        annotations: BTreeMap::from([
            (ANNOTATION_CREATED.to_owned(), created.to_owned()),
            (ANNOTATION_TITLE.to_owned(), filename.to_owned()),
        ]),
    };
    Bytes::from(serde_json::to_vec(&manifest).unwrap_or_default())
}

/// The referrers tag of a manifest (`sha256-<hex>`, the OCI distribution spec's fallback
/// when a registry has no referrers API). Never a release tag.
///
/// # Errors
/// Never for a sha256 digest (the tag grammar allows it).
pub fn referrers_tag(subject: &Digest) -> Result<Tag, crate::storage::StorageError> {
    Tag::parse(&format!("sha256-{}", subject.hex()))
}

/// The referrers index under the referrers tag, with `referrer` (a provenance manifest's
/// bytes) listed, keeping what `existing` (the index there now, if any) lists besides.
#[must_use]
pub fn with_referrer(existing: Option<&[u8]>, referrer: &[u8]) -> Bytes {
    let mut manifests = existing.map(listed).unwrap_or_default();
    let mut descriptor = Descriptor::of(MEDIA_TYPE_MANIFEST, referrer);
    descriptor.artifact_type = Some(ARTIFACT_TYPE_PROVENANCE.to_owned());
    manifests.retain(|m| m.digest != descriptor.digest);
    manifests.push(descriptor);
    index_of(manifests)
}

/// The referrers index without `referrer`; `None` when nothing is left.
#[must_use]
pub fn without_referrer(existing: &[u8], referrer: &Digest) -> Option<Bytes> {
    let mut manifests = listed(existing);
    manifests.retain(|m| m.digest != referrer.as_str());
    (!manifests.is_empty()).then(|| index_of(manifests))
}

/// The provenance manifests a referrers index lists.
#[must_use]
pub fn provenance_referrers(index: &[u8]) -> Vec<Digest> {
    listed(index)
        .iter()
        .filter(|m| m.artifact_type.as_deref() == Some(ARTIFACT_TYPE_PROVENANCE))
        .filter_map(|m| Digest::parse(&m.digest).ok())
        .collect()
}

fn listed(index: &[u8]) -> Vec<Descriptor> {
    serde_json::from_slice::<Referrers>(index)
        .map(|r| r.manifests)
        .unwrap_or_default()
}

fn index_of(manifests: Vec<Descriptor>) -> Bytes {
    let index = Referrers {
        schema_version: 2,
        media_type: MEDIA_TYPE_INDEX.to_owned(),
        manifests,
    };
    Bytes::from(serde_json::to_vec(&index).unwrap_or_default())
}

/// Records on a release index entry that the file has the provenance object `provenance`.
pub fn record_provenance(entry: &mut Descriptor, provenance: &Digest) {
    entry.annotations.insert(
        ANNOTATION_PROVENANCE.to_owned(),
        provenance.hex().to_owned(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_referrers_tag_is_not_a_release_tag() {
        let tag = referrers_tag(&Digest::of(b"manifest")).unwrap();
        assert!(tag.as_str().starts_with("sha256-"));
        assert!(super::super::version_of(&tag).is_none());
    }

    #[test]
    fn manifests_name_their_subject_and_layer() {
        let subject = subject_of(&Descriptor::of(MEDIA_TYPE_MANIFEST, b"file manifest"));
        let bytes = provenance_manifest(
            b"{}",
            subject.clone(),
            "a-1.0.tar.gz",
            "2026-12-05T07:00:00Z",
        );
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["subject"]["digest"], subject.digest);
        assert_eq!(value["artifactType"], ARTIFACT_TYPE_PROVENANCE);
        assert_eq!(value["layers"][0]["digest"], Digest::of(b"{}").as_str());
        assert_eq!(value["layers"][0]["mediaType"], MEDIA_TYPE_PROVENANCE_LAYER);
    }

    #[test]
    fn referrers_indexes_merge_and_shrink() {
        let first = with_referrer(None, b"one");
        let both = with_referrer(Some(&first), b"two");
        let again = with_referrer(Some(&both), b"two");
        assert_eq!(both, again);
        assert_eq!(
            provenance_referrers(&both),
            [Digest::of(b"one"), Digest::of(b"two")]
        );
        let left = without_referrer(&both, &Digest::of(b"one")).unwrap();
        assert_eq!(provenance_referrers(&left), [Digest::of(b"two")]);
        assert_eq!(without_referrer(&left, &Digest::of(b"two")), None);
    }
}
