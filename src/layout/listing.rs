//! The listing document: one per project, kept in the project's repository under the reserved
//! tag [`LISTING_TAG`], so that a project page costs a handful of registry requests whatever
//! the number of releases.
//!
//! It records, for every release-shaped tag of the repository, the digest of what the tag
//! pointed at and, when that is a release index, the index's exact bytes (so each entry can be
//! checked against its digest), plus the layer sizes of files whose index entry records none
//! (PyOCI's). It is a cache of what the tags say, never the truth: readers check it against the
//! tag list and read the releases it lacks from their tags. docs/design.md is the contract.
//!
//! Stored as an OCI image manifest (any registry accepts one under a tag) whose single layer is
//! the document; when small, the layer descriptor also carries the document inline in its
//! `data` field (OCI image-spec 1.1, "Embedded content"), so one manifest GET reads it.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::annotations::ANNOTATION_CREATED;
use crate::storage::oci::{EMPTY_BLOB, MEDIA_TYPE_EMPTY, MEDIA_TYPE_MANIFEST};
use crate::storage::{Digest, Repository, Tag};

/// The tag the listing document lives under. Not a PEP 440 version, so never a release tag.
pub const LISTING_TAG: &str = "oci-pypi.listing";
/// `artifactType` of the listing manifest.
pub const ARTIFACT_TYPE_LISTING: &str = "application/vnd.oci-pypi.listing.v1";
/// Media type of the listing document (the manifest's layer).
pub const MEDIA_TYPE_LISTING: &str = "application/vnd.oci-pypi.listing.v1+json";
/// The schema version written; documents with another one are not used (nor overwritten when
/// newer: a newer server keeps its own format).
pub const LISTING_SCHEMA: u32 = 1;
/// Documents up to this size are also embedded in the manifest (base64 makes the manifest a
/// third larger; registries accept manifests of 4 MiB).
const INLINE_LIMIT: usize = 768 << 10;

/// The listing tag.
#[must_use]
pub fn listing_tag() -> Tag {
    match Tag::parse(LISTING_TAG) {
        Ok(tag) => tag,
        Err(_) => unreachable!("`{LISTING_TAG}` satisfies the tag grammar (tested)"),
    }
}

/// What one release-shaped tag pointed at when the document was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTag {
    /// The digest of the manifest under the tag.
    pub digest: Digest,
    /// The release index's exact bytes; `None` when the tag holds something else (a container
    /// image, a malformed index), which listings skip.
    pub index: Option<Bytes>,
}

/// The listing of one project: every release-shaped tag, and the known layer sizes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProjectListing {
    /// By tag.
    pub tags: BTreeMap<Tag, ListedTag>,
    /// Layer sizes of file manifests whose index entry records none, by manifest digest.
    pub sizes: BTreeMap<Digest, u64>,
}

/// Why a stored listing cannot be used. Every case means: read the tags instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListingProblem {
    /// The tag holds something that is not a listing (another tool's content).
    #[error("the `{LISTING_TAG}` tag holds foreign content")]
    Foreign,
    /// Written by a newer server, in a format this one does not read.
    #[error("the listing has schema {0}, newer than {LISTING_SCHEMA}")]
    Newer(u32),
    /// Written for another repository (copied along with its tag).
    #[error("the listing describes repository `{0}`")]
    OtherRepository(String),
    /// Not what a listing must be.
    #[error("the listing is malformed: {0}")]
    Malformed(String),
}

impl ListingProblem {
    /// Whether a writer may replace the document: not someone else's content, and not a
    /// newer server's.
    #[must_use]
    pub fn replaceable(&self) -> bool {
        !matches!(self, Self::Foreign | Self::Newer(_))
    }
}

fn malformed(reason: impl Into<String>) -> ListingProblem {
    ListingProblem::Malformed(reason.into())
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    schema_version: u32,
    media_type: String,
    repository: String,
    tags: Vec<DocumentTag>,
    #[serde(default)]
    sizes: BTreeMap<String, u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DocumentTag {
    tag: String,
    digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<String>,
}

impl ProjectListing {
    /// The document's bytes (compact JSON, tags in order, so equal listings give equal bytes).
    #[must_use]
    pub fn to_bytes(&self, repository: &Repository) -> Bytes {
        let document = Document {
            schema_version: LISTING_SCHEMA,
            media_type: MEDIA_TYPE_LISTING.to_owned(),
            repository: repository.to_string(),
            tags: self
                .tags
                .iter()
                .map(|(tag, listed)| DocumentTag {
                    tag: tag.to_string(),
                    digest: listed.digest.to_string(),
                    index: listed
                        .index
                        .as_ref()
                        .map(|bytes| String::from_utf8_lossy(bytes).into_owned()),
                })
                .collect(),
            sizes: self
                .sizes
                .iter()
                .map(|(digest, size)| (digest.to_string(), *size))
                .collect(),
        };
        Bytes::from(serde_json::to_vec(&document).unwrap_or_default())
    }

    /// Reads a document written for `repository`, checking every release index it holds
    /// against its digest.
    ///
    /// # Errors
    /// A [`ListingProblem`] when it cannot be used.
    pub fn parse(bytes: &[u8], repository: &Repository) -> Result<Self, ListingProblem> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|error| malformed(error.to_string()))?;
        let schema = value
            .get("schemaVersion")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| malformed("no `schemaVersion`"))?;
        if schema != u64::from(LISTING_SCHEMA) {
            return Err(match u32::try_from(schema) {
                Ok(newer) if newer > LISTING_SCHEMA => ListingProblem::Newer(newer),
                _ => malformed(format!("unknown schema {schema}")),
            });
        }
        let document: Document =
            serde_json::from_value(value).map_err(|error| malformed(error.to_string()))?;
        if document.media_type != MEDIA_TYPE_LISTING {
            return Err(malformed(format!("media type `{}`", document.media_type)));
        }
        if document.repository != repository.as_str() {
            return Err(ListingProblem::OtherRepository(document.repository));
        }
        let mut listing = Self::default();
        for entry in document.tags {
            let tag = Tag::parse(&entry.tag).map_err(|error| malformed(error.to_string()))?;
            let digest =
                Digest::parse(&entry.digest).map_err(|error| malformed(error.to_string()))?;
            let index = entry.index.map(Bytes::from);
            if let Some(bytes) = &index {
                if Digest::of(bytes) != digest {
                    return Err(malformed(format!(
                        "the index recorded for tag `{tag}` does not match its digest"
                    )));
                }
            }
            listing.tags.insert(tag, ListedTag { digest, index });
        }
        for (digest, size) in document.sizes {
            let digest = Digest::parse(&digest).map_err(|error| malformed(error.to_string()))?;
            listing.sizes.insert(digest, size);
        }
        Ok(listing)
    }
}

/// The manifest holding a listing document, as read from the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingManifest {
    /// The document's digest (the layer blob).
    pub document: Digest,
    /// The document, when the manifest embeds it (checked against its digest).
    pub inline: Option<Bytes>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    media_type: String,
    artifact_type: String,
    config: Layer,
    layers: Vec<Layer>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layer {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<String>,
}

/// The manifest to store for a document: an image manifest with the empty config and the
/// document as its layer, embedded too when it is small.
#[must_use]
pub fn listing_manifest(document: &[u8], created: &str) -> Bytes {
    manifest_of(document, created, document.len() <= INLINE_LIMIT)
}

/// The manifest of a document without the embedded copy, for registries that refuse the
/// descriptor's `data` field.
#[must_use]
pub fn listing_manifest_without_data(document: &[u8], created: &str) -> Bytes {
    manifest_of(document, created, false)
}

fn manifest_of(document: &[u8], created: &str, inline: bool) -> Bytes {
    let data = inline.then(|| base64::engine::general_purpose::STANDARD.encode(document));
    let manifest = Manifest {
        schema_version: 2,
        media_type: MEDIA_TYPE_MANIFEST.to_owned(),
        artifact_type: ARTIFACT_TYPE_LISTING.to_owned(),
        config: Layer {
            media_type: MEDIA_TYPE_EMPTY.to_owned(),
            digest: Digest::of(EMPTY_BLOB).to_string(),
            size: EMPTY_BLOB.len() as u64,
            data: None,
        },
        layers: vec![Layer {
            media_type: MEDIA_TYPE_LISTING.to_owned(),
            digest: Digest::of(document).to_string(),
            size: document.len() as u64,
            data,
        }],
        annotations: BTreeMap::from([(ANNOTATION_CREATED.to_owned(), created.to_owned())]),
    };
    Bytes::from(serde_json::to_vec(&manifest).unwrap_or_default())
}

/// Reads the manifest under the listing tag.
///
/// # Errors
/// [`ListingProblem::Foreign`] when it is not a listing manifest; `Malformed` when it claims
/// to be one but cannot be read, or embeds a document that does not match its digest.
pub fn read_listing_manifest(
    media_type: &str,
    bytes: &[u8],
) -> Result<ListingManifest, ListingProblem> {
    if !(media_type == MEDIA_TYPE_MANIFEST || media_type.is_empty()) {
        return Err(ListingProblem::Foreign);
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| ListingProblem::Foreign)?;
    if value
        .get("artifactType")
        .and_then(serde_json::Value::as_str)
        != Some(ARTIFACT_TYPE_LISTING)
    {
        return Err(ListingProblem::Foreign);
    }
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|error| malformed(error.to_string()))?;
    let [layer] = manifest.layers.as_slice() else {
        return Err(malformed("the manifest must have exactly one layer"));
    };
    if layer.media_type != MEDIA_TYPE_LISTING {
        return Err(malformed(format!(
            "layer media type `{}`",
            layer.media_type
        )));
    }
    let document = Digest::parse(&layer.digest).map_err(|error| malformed(error.to_string()))?;
    let inline = match &layer.data {
        None => None,
        Some(data) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|_| malformed("the embedded document is not base64"))?;
            if Digest::of(&bytes) != document || bytes.len() as u64 != layer.size {
                return Err(malformed(
                    "the embedded document does not match its descriptor",
                ));
            }
            Some(Bytes::from(bytes))
        }
    };
    Ok(ListingManifest { document, inline })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::oci::MEDIA_TYPE_INDEX;

    fn repository() -> Repository {
        Repository::parse("team/python/demo").unwrap()
    }

    fn sample() -> ProjectListing {
        let index = Bytes::from_static(br#"{"schemaVersion":2,"manifests":[]}"#);
        let mut listing = ProjectListing::default();
        listing.tags.insert(
            Tag::parse("1.0").unwrap(),
            ListedTag {
                digest: Digest::of(&index),
                index: Some(index),
            },
        );
        listing.tags.insert(
            Tag::parse("2.0").unwrap(),
            ListedTag {
                digest: Digest::of(b"a container image"),
                index: None,
            },
        );
        listing.sizes.insert(Digest::of(b"manifest"), 1234);
        listing
    }

    #[test]
    fn the_listing_tag_is_valid_and_never_a_release_tag() {
        let tag = listing_tag();
        assert_eq!(tag.as_str(), LISTING_TAG);
        assert!(crate::layout::version_of(&tag).is_none());
    }

    #[test]
    fn documents_round_trip_and_are_deterministic() {
        let listing = sample();
        let bytes = listing.to_bytes(&repository());
        assert_eq!(bytes, sample().to_bytes(&repository()));
        assert_eq!(
            ProjectListing::parse(&bytes, &repository()).unwrap(),
            listing
        );
    }

    #[test]
    fn unusable_documents_are_told_apart() {
        let bytes = sample().to_bytes(&repository());
        let other = Repository::parse("team/python/other").unwrap();
        assert_eq!(
            ProjectListing::parse(&bytes, &other),
            Err(ListingProblem::OtherRepository(
                "team/python/demo".to_owned()
            ))
        );
        let newer = String::from_utf8(bytes.to_vec())
            .unwrap()
            .replace("\"schemaVersion\":1", "\"schemaVersion\":2");
        assert_eq!(
            ProjectListing::parse(newer.as_bytes(), &repository()),
            Err(ListingProblem::Newer(2))
        );
        assert!(!ListingProblem::Newer(2).replaceable());
        let tampered = String::from_utf8(bytes.to_vec())
            .unwrap()
            .replace("\\\"manifests\\\":[]", "\\\"manifests\\\":[ ]");
        let problem = ProjectListing::parse(tampered.as_bytes(), &repository()).unwrap_err();
        assert!(
            problem.to_string().contains("does not match its digest"),
            "{problem}"
        );
        assert!(problem.replaceable());
        for garbage in [&b"not json"[..], b"{}", b"[]", br#"{"schemaVersion":"1"}"#] {
            assert!(matches!(
                ProjectListing::parse(garbage, &repository()),
                Err(ListingProblem::Malformed(_))
            ));
        }
    }

    #[test]
    fn small_documents_are_embedded_in_their_manifest() {
        let document = sample().to_bytes(&repository());
        let manifest = listing_manifest(&document, "2026-12-04T00:00:00Z");
        let read = read_listing_manifest(MEDIA_TYPE_MANIFEST, &manifest).unwrap();
        assert_eq!(read.document, Digest::of(&document));
        assert_eq!(read.inline, Some(document));
    }

    #[test]
    fn large_documents_are_only_referenced() {
        let document = vec![b' '; INLINE_LIMIT + 1];
        let manifest = listing_manifest(&document, "2026-12-04T00:00:00Z");
        let read = read_listing_manifest(MEDIA_TYPE_MANIFEST, &manifest).unwrap();
        assert_eq!(read.document, Digest::of(&document));
        assert_eq!(read.inline, None);
    }

    #[test]
    fn foreign_and_tampered_manifests_are_refused() {
        assert_eq!(
            read_listing_manifest(MEDIA_TYPE_INDEX, b"{}"),
            Err(ListingProblem::Foreign)
        );
        let image = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:00","size":1},"layers":[]}"#;
        assert_eq!(
            read_listing_manifest(MEDIA_TYPE_MANIFEST, image),
            Err(ListingProblem::Foreign)
        );
        let document = sample().to_bytes(&repository());
        let manifest = String::from_utf8(listing_manifest(&document, "t").to_vec()).unwrap();
        let tampered = manifest.replace("\"data\":\"ey", "\"data\":\"eX");
        assert!(matches!(
            read_listing_manifest(MEDIA_TYPE_MANIFEST, tampered.as_bytes()),
            Err(ListingProblem::Malformed(_))
        ));
    }
}
