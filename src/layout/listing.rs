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
//! Stored as a reserved index (see [`super::reserved`]: a release index without files, which
//! PyOCI lists as nothing) carrying the document gzipped in an annotation, so one manifest GET
//! reads it. A document too large for that, or a registry that refuses such an index, gets the
//! earlier form: an image manifest whose single layer is the document, also embedded in the
//! layer descriptor's `data` field (OCI image-spec 1.1, "Embedded content") when small. PyOCI
//! fails on that form, but only lists it when told to read every tag.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};

use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::annotations::ANNOTATION_CREATED;
use super::reserved::{read_reserved_index, reserved_index, reserved_tag};
use crate::storage::oci::{EMPTY_BLOB, MEDIA_TYPE_EMPTY, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::storage::{Digest, Repository, Tag};

/// The tag the listing document lives under: a reserved tag (never a release tag, sorted
/// before every release tag; see [`super::reserved`]).
pub const LISTING_TAG: &str = "0-oci-pypi.listing";
/// Where servers before the reserved form kept the document (PyOCI fails on it): read while
/// there is no document under [`LISTING_TAG`], removed by the next write.
pub const LEGACY_LISTING_TAG: &str = "oci-pypi.listing";
/// Annotation of the listing index: the document, gzipped, in base64.
pub const ANNOTATION_LISTING: &str = "dev.oci-pypi.listing";
/// Annotation of the listing index: the digest of the (uncompressed) document.
pub const ANNOTATION_LISTING_DIGEST: &str = "dev.oci-pypi.listing.digest";
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
/// Documents whose gzipped base64 is larger than this take the manifest form (the index must
/// stay under the 4 MiB registries accept for a manifest).
const ENCODED_LIMIT: usize = 3 << 20;
/// A document larger than this once unzipped is not read (a zip bomb under the tag).
const DOCUMENT_LIMIT: u64 = 256 << 20;

/// The listing tag.
#[must_use]
pub fn listing_tag() -> Tag {
    reserved_tag(LISTING_TAG)
}

/// The tag of the legacy form.
#[must_use]
pub fn legacy_listing_tag() -> Tag {
    reserved_tag(LEGACY_LISTING_TAG)
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
        // The common case in one pass; anything unusual takes the path below, which tells
        // a newer schema from a malformed document.
        match serde_json::from_slice::<Document>(bytes) {
            Ok(document) if document.schema_version == LISTING_SCHEMA => {
                Self::from_document(document, repository)
            }
            _ => Self::parse_slowly(bytes, repository),
        }
    }

    fn parse_slowly(bytes: &[u8], repository: &Repository) -> Result<Self, ListingProblem> {
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
        Self::from_document(document, repository)
    }

    fn from_document(document: Document, repository: &Repository) -> Result<Self, ListingProblem> {
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

/// The reserved index holding `document` (gzipped, in an annotation); `None` when the
/// document is too large for that, to be stored with [`listing_manifest`] instead.
#[must_use]
pub fn listing_index(document: &[u8], created: &str) -> Option<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(document).ok()?;
    let zipped = encoder.finish().ok()?;
    if zipped.len() / 3 * 4 > ENCODED_LIMIT {
        return None;
    }
    Some(reserved_index(BTreeMap::from([
        (ANNOTATION_CREATED.to_owned(), created.to_owned()),
        (
            ANNOTATION_LISTING.to_owned(),
            base64::engine::general_purpose::STANDARD.encode(zipped),
        ),
        (
            ANNOTATION_LISTING_DIGEST.to_owned(),
            Digest::of(document).to_string(),
        ),
    ])))
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

/// Reads what is under the listing tag (either form).
///
/// # Errors
/// [`ListingProblem::Foreign`] when it is not a listing; `Malformed` when it claims to be one
/// but cannot be read, or holds a document that does not match its digest.
pub fn read_listing_manifest(
    media_type: &str,
    bytes: &[u8],
) -> Result<ListingManifest, ListingProblem> {
    let declared;
    let media_type = if media_type.is_empty() {
        declared = serde_json::from_slice::<Declared>(bytes)
            .map_err(|_| ListingProblem::Foreign)?
            .media_type;
        declared.as_deref().unwrap_or(MEDIA_TYPE_MANIFEST)
    } else {
        media_type
    };
    match media_type {
        MEDIA_TYPE_INDEX => read_index_form(bytes),
        MEDIA_TYPE_MANIFEST => {
            let value = serde_json::from_slice(bytes).map_err(|_| ListingProblem::Foreign)?;
            read_manifest_form(value)
        }
        _ => Err(ListingProblem::Foreign),
    }
}

/// The media type a manifest declares (read when the registry does not say).
#[derive(Deserialize)]
struct Declared {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
}

fn read_index_form(bytes: &[u8]) -> Result<ListingManifest, ListingProblem> {
    let annotations = read_reserved_index(MEDIA_TYPE_INDEX, bytes, ANNOTATION_LISTING)
        .ok_or(ListingProblem::Foreign)?;
    let digest = annotations
        .get(ANNOTATION_LISTING_DIGEST)
        .ok_or_else(|| malformed("no document digest"))?;
    let document = Digest::parse(digest).map_err(|error| malformed(error.to_string()))?;
    let zipped = annotations
        .get(ANNOTATION_LISTING)
        .map(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded))
        .and_then(Result::ok)
        .ok_or_else(|| malformed("the document is not base64"))?;
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(zipped.as_slice())
        .take(DOCUMENT_LIMIT + 1)
        .read_to_end(&mut unzipped)
        .map_err(|_| malformed("the document is not gzip"))?;
    if unzipped.len() as u64 > DOCUMENT_LIMIT {
        return Err(malformed("the document is larger than 256 MiB"));
    }
    if Digest::of(&unzipped) != document {
        return Err(malformed("the document does not match its digest"));
    }
    Ok(ListingManifest {
        document,
        inline: Some(Bytes::from(unzipped)),
    })
}

fn read_manifest_form(value: serde_json::Value) -> Result<ListingManifest, ListingProblem> {
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
    fn documents_are_stored_gzipped_in_a_reserved_index() {
        let document = sample().to_bytes(&repository());
        let index = listing_index(&document, "2026-12-07T00:00:00Z").unwrap();
        let value: serde_json::Value = serde_json::from_slice(&index).unwrap();
        assert_eq!(value["artifactType"], crate::layout::ARTIFACT_TYPE);
        assert_eq!(value["manifests"], serde_json::json!([]));
        let read = read_listing_manifest(MEDIA_TYPE_INDEX, &index).unwrap();
        assert_eq!(read.document, Digest::of(&document));
        assert_eq!(read.inline, Some(document.clone()));
        assert_eq!(
            read_listing_manifest("", &index).unwrap().inline,
            Some(document)
        );
    }

    #[test]
    fn documents_too_large_for_an_index_take_the_manifest_form() {
        // Random bytes do not compress: 3 MiB of them is over the limit once in base64.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let document: Vec<u8> = (0..(3 << 20))
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        assert_eq!(listing_index(&document, "t"), None);
        let compressible = vec![b'a'; 8 << 20];
        assert!(listing_index(&compressible, "t").is_some());
    }

    #[test]
    fn tampered_listing_indexes_are_malformed() {
        let document = sample().to_bytes(&repository());
        let index = String::from_utf8(listing_index(&document, "t").unwrap().to_vec()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&index).unwrap();
        let encoded = value["annotations"][ANNOTATION_LISTING].as_str().unwrap();
        let other = listing_index(b"{}", "t").unwrap();
        let other: serde_json::Value = serde_json::from_slice(&other).unwrap();
        let swapped = index.replace(
            encoded,
            other["annotations"][ANNOTATION_LISTING].as_str().unwrap(),
        );
        let not_gzip = index.replace(encoded, "bm90IGd6aXA=");
        let not_base64 = index.replace(encoded, "!!");
        for (tampered, reason) in [
            (swapped, "does not match its digest"),
            (not_gzip, "not gzip"),
            (not_base64, "not base64"),
        ] {
            let problem = read_listing_manifest(MEDIA_TYPE_INDEX, tampered.as_bytes()).unwrap_err();
            assert!(problem.to_string().contains(reason), "{problem}");
            assert!(problem.replaceable());
        }
        let release =
            br#"{"schemaVersion":2,"artifactType":"application/pyoci.package.v1","manifests":[]}"#;
        assert_eq!(
            read_listing_manifest(MEDIA_TYPE_INDEX, release),
            Err(ListingProblem::Foreign)
        );
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
        assert_eq!(
            read_listing_manifest("application/octet-stream", b"{}"),
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
