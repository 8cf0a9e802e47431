//! The image manifest of one distribution file (its single layer is the file, its config the
//! core metadata when known) and the release-index entry pointing at it.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::annotations::{
    ANNOTATION_CORE_METADATA, ANNOTATION_CREATED, ANNOTATION_PROJECT_URLS, ANNOTATION_PROMOTED_AT,
    ANNOTATION_PROMOTED_FROM, ANNOTATION_REQUIRES_PYTHON, ANNOTATION_SHA256, ANNOTATION_SIZE,
    ANNOTATION_TITLE, ARTIFACT_TYPE, LABEL_CLASSIFIER, MEDIA_TYPE_CORE_METADATA,
};
use super::error::LayoutError;
use crate::packaging::{DistFilename, Version};
use crate::storage::Digest;
use crate::storage::oci::{Descriptor, ImageManifest, MEDIA_TYPE_MANIFEST, Platform};

/// What is recorded about a file at upload.
#[derive(Debug, Clone)]
pub struct NewFile<'a> {
    /// The file's name.
    pub filename: &'a DistFilename,
    /// The committed layer blob.
    pub digest: &'a Digest,
    /// The layer's size.
    pub size: u64,
    /// Upload time, RFC 3339 UTC with seconds.
    pub created: &'a str,
    /// `requires_python` from the form.
    pub requires_python: Option<&'a str>,
    /// `project_urls` from the form.
    pub project_urls: &'a [(String, String)],
    /// `classifiers` from the form.
    pub classifiers: &'a [String],
    /// The committed core-metadata blob and its size, when extracted.
    pub core_metadata: Option<(&'a Digest, u64)>,
}

/// The image manifest of one file, and the index entry pointing at it.
#[derive(Debug, Clone)]
pub struct FileManifest {
    /// The manifest's exact bytes (its digest is computed over them).
    pub bytes: Bytes,
    /// The entry to put in the release index.
    pub entry: Descriptor,
}

/// Builds the manifest of a file and its index entry.
///
/// # Errors
/// Never in practice: serialization of these plain structures cannot fail.
pub fn file_manifest(file: &NewFile<'_>) -> Result<FileManifest, LayoutError> {
    let mut layer = Descriptor {
        media_type: ARTIFACT_TYPE.to_owned(),
        digest: file.digest.as_str().to_owned(),
        size: file.size,
        platform: None,
        annotations: BTreeMap::new(),
        artifact_type: None,
    };
    layer
        .annotations
        .insert(ANNOTATION_TITLE.to_owned(), file.filename.to_string());
    let mut annotations = labels(file.classifiers);
    annotations.insert(ANNOTATION_CREATED.to_owned(), file.created.to_owned());
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.to_owned()),
        artifact_type: Some(ARTIFACT_TYPE.to_owned()),
        config: match file.core_metadata {
            Some((digest, size)) => Descriptor {
                media_type: MEDIA_TYPE_CORE_METADATA.to_owned(),
                digest: digest.as_str().to_owned(),
                size,
                platform: None,
                annotations: BTreeMap::new(),
                artifact_type: None,
            },
            None => Descriptor::empty(),
        },
        layers: vec![layer],
        subject: None,
        annotations,
    };
    let bytes = to_json(&manifest, file.filename.version())?;
    let mut entry = Descriptor::of(MEDIA_TYPE_MANIFEST, &bytes);
    entry.platform = Some(Platform {
        architecture: file.filename.distinguishing_suffix().to_owned(),
        os: "any".to_owned(),
        other: BTreeMap::new(),
    });
    let urls: BTreeMap<&str, &str> = file
        .project_urls
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let annotations = &mut entry.annotations;
    annotations.insert(ANNOTATION_SHA256.to_owned(), file.digest.hex().to_owned());
    annotations.insert(
        ANNOTATION_PROJECT_URLS.to_owned(),
        serde_json::to_string(&urls).unwrap_or_default(),
    );
    annotations.insert(ANNOTATION_CREATED.to_owned(), file.created.to_owned());
    annotations.insert(ANNOTATION_TITLE.to_owned(), file.filename.to_string());
    annotations.insert(ANNOTATION_SIZE.to_owned(), file.size.to_string());
    if let Some((digest, _)) = file.core_metadata {
        annotations.insert(ANNOTATION_CORE_METADATA.to_owned(), digest.hex().to_owned());
    }
    if let Some(requires_python) = file.requires_python {
        annotations.insert(
            ANNOTATION_REQUIRES_PYTHON.to_owned(),
            requires_python.to_owned(),
        );
    }
    Ok(FileManifest {
        bytes: Bytes::from(bytes),
        entry,
    })
}

/// Manifest annotations from `PyOCI :: Label :: <key> :: <value>` classifiers.
fn labels(classifiers: &[String]) -> BTreeMap<String, String> {
    classifiers
        .iter()
        .filter_map(|c| c.strip_prefix(LABEL_CLASSIFIER)?.split_once(" :: "))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

pub(super) fn to_json<T: serde::Serialize>(
    value: &T,
    version: &Version,
) -> Result<Vec<u8>, LayoutError> {
    serde_json::to_vec(value).map_err(|error| LayoutError::MalformedIndex {
        version: version.to_string(),
        reason: error.to_string(),
    })
}

/// A file's manifest and index entry once its core metadata is known after the fact (a
/// backfill): the manifest's config becomes the metadata blob, everything else is kept, and
/// the entry points at the new manifest and advertises the metadata.
///
/// # Errors
/// [`LayoutError::MalformedIndex`] when `manifest` is not a JSON object.
pub fn with_core_metadata(
    manifest: &[u8],
    entry: &Descriptor,
    (digest, size): (&Digest, u64),
    version: &Version,
) -> Result<FileManifest, LayoutError> {
    let mut value: serde_json::Value = serde_json::from_slice(manifest)
        .ok()
        .filter(serde_json::Value::is_object)
        .ok_or_else(|| malformed(version, "a file manifest is not a JSON object"))?;
    let config = Descriptor {
        media_type: MEDIA_TYPE_CORE_METADATA.to_owned(),
        digest: digest.as_str().to_owned(),
        size,
        platform: None,
        annotations: BTreeMap::new(),
        artifact_type: None,
    };
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "config".to_owned(),
            serde_json::to_value(config).unwrap_or_default(),
        );
    }
    let bytes = to_json(&value, version)?;
    let mut entry = entry.clone();
    let described = Descriptor::of(&entry.media_type, &bytes);
    entry.digest = described.digest;
    entry.size = described.size;
    entry
        .annotations
        .insert(ANNOTATION_CORE_METADATA.to_owned(), digest.hex().to_owned());
    Ok(FileManifest {
        bytes: Bytes::from(bytes),
        entry,
    })
}

/// The entry of a promoted file: the source's entry (digest, upload time, metadata kept) with
/// where and when it was promoted from.
#[must_use]
pub fn promoted_entry(mut entry: Descriptor, source: &str, at: &str) -> Descriptor {
    entry
        .annotations
        .insert(ANNOTATION_PROMOTED_FROM.to_owned(), source.to_owned());
    entry
        .annotations
        .insert(ANNOTATION_PROMOTED_AT.to_owned(), at.to_owned());
    entry
}

pub(super) fn malformed(version: &Version, reason: &str) -> LayoutError {
    LayoutError::MalformedIndex {
        version: version.to_string(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(byte: &str) -> Digest {
        Digest::from_sha256_hex(&byte.repeat(32)).unwrap()
    }

    #[test]
    fn manifests_and_entries_carry_the_layout() {
        let filename =
            DistFilename::parse("hello_world-1.0-1-cp311-cp311-manylinux_2_28_x86_64.whl").unwrap();
        let (layer, metadata) = (digest("ab"), digest("cd"));
        let urls = [("Source".to_owned(), "https://example.org".to_owned())];
        let classifiers = [
            "PyOCI :: Label :: org.opencontainers.image.source :: https://github.com/o/r"
                .to_owned(),
            "Programming Language :: Python".to_owned(),
        ];
        let file = file_manifest(&NewFile {
            filename: &filename,
            digest: &layer,
            size: 1234,
            created: "2026-11-23T14:02:11Z",
            requires_python: Some(">=3.11"),
            project_urls: &urls,
            classifiers: &classifiers,
            core_metadata: Some((&metadata, 99)),
        })
        .unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&file.bytes).unwrap();
        assert_eq!(manifest["artifactType"], ARTIFACT_TYPE);
        assert_eq!(manifest["config"]["mediaType"], MEDIA_TYPE_CORE_METADATA);
        assert_eq!(manifest["config"]["digest"], metadata.as_str());
        assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
        assert_eq!(manifest["layers"][0]["mediaType"], ARTIFACT_TYPE);
        assert_eq!(manifest["layers"][0]["digest"], layer.as_str());
        assert_eq!(manifest["layers"][0]["size"], 1234);
        assert_eq!(
            manifest["annotations"]["org.opencontainers.image.source"],
            "https://github.com/o/r"
        );
        assert_eq!(manifest["annotations"].as_object().unwrap().len(), 2);

        let entry = &file.entry;
        assert_eq!(entry.digest, Digest::of(&file.bytes).as_str());
        assert_eq!(entry.size, file.bytes.len() as u64);
        let platform = entry.platform.as_ref().unwrap();
        assert_eq!(
            platform.architecture,
            "1-cp311-cp311-manylinux_2_28_x86_64.whl"
        );
        assert_eq!(platform.os, "any");
        let annotations = &entry.annotations;
        assert_eq!(annotations[ANNOTATION_SHA256], layer.hex());
        assert_eq!(
            annotations[ANNOTATION_PROJECT_URLS],
            r#"{"Source":"https://example.org"}"#
        );
        assert_eq!(annotations[ANNOTATION_SIZE], "1234");
        assert_eq!(annotations[ANNOTATION_REQUIRES_PYTHON], ">=3.11");
        assert_eq!(annotations[ANNOTATION_CORE_METADATA], metadata.hex());
        assert_eq!(annotations[ANNOTATION_TITLE], filename.as_str());

        let promoted = promoted_entry(entry.clone(), "http://r/a/b:1.0", "2026-12-01T00:00:00Z");
        assert_eq!(promoted.digest, entry.digest);
        assert_eq!(
            promoted.annotations[ANNOTATION_PROMOTED_FROM],
            "http://r/a/b:1.0"
        );
        assert_eq!(
            promoted.annotations[ANNOTATION_CREATED],
            "2026-11-23T14:02:11Z"
        );
    }

    #[test]
    fn backfilled_metadata_becomes_the_config() {
        let filename = DistFilename::parse("hello-1.0.tar.gz").unwrap();
        let layer = digest("ab");
        let file = file_manifest(&NewFile {
            filename: &filename,
            digest: &layer,
            size: 7,
            created: "2026-11-23T14:02:11Z",
            requires_python: None,
            project_urls: &[],
            classifiers: &[],
            core_metadata: None,
        })
        .unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&file.bytes).unwrap();
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        let version = Version::parse("1.0").unwrap();
        let metadata = digest("ef");
        let rebuilt =
            with_core_metadata(&file.bytes, &file.entry, (&metadata, 42), &version).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&rebuilt.bytes).unwrap();
        assert_eq!(manifest["config"]["digest"], metadata.as_str());
        assert_eq!(manifest["layers"][0]["digest"], layer.as_str());
        assert_eq!(rebuilt.entry.digest, Digest::of(&rebuilt.bytes).as_str());
        assert_eq!(
            rebuilt.entry.annotations[ANNOTATION_CORE_METADATA],
            metadata.hex()
        );
        assert_eq!(rebuilt.entry.annotations[ANNOTATION_SHA256], layer.hex());
        assert!(with_core_metadata(b"[]", &file.entry, (&metadata, 42), &version).is_err());
    }
}
