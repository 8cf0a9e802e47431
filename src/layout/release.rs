//! One release as OCI content: an image index tagged with the version, one entry per file,
//! each entry an image manifest whose single layer is the file itself. Compatible with PyOCI.
//!
//! See docs/design.md for the full contract.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::error::LayoutError;
use crate::packaging::{DistFilename, DistKind, ProjectName, Version};
use crate::storage::Digest;
use crate::storage::oci::{
    Descriptor, ImageIndex, ImageManifest, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, Platform,
};

/// `artifactType` of release indexes and file manifests, and the media type of file layers.
pub const ARTIFACT_TYPE: &str = "application/pyoci.package.v1";
/// Index-entry annotation: the file's sha256, hex without prefix (PyOCI).
pub const ANNOTATION_SHA256: &str = "com.pyoci.sha256_digest";
/// Index-entry annotation: project URLs as a JSON object in a string (PyOCI).
pub const ANNOTATION_PROJECT_URLS: &str = "com.pyoci.project_urls";
/// Creation time, RFC 3339 UTC with seconds (OCI pre-defined annotation).
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// The file's exact name (OCI pre-defined annotation), on index entries and layers.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// Index-entry annotation: the file's size in bytes (oci-pypi).
pub const ANNOTATION_SIZE: &str = "dev.oci-pypi.size";
/// Index-entry annotation: the upload form's `requires_python` (oci-pypi).
pub const ANNOTATION_REQUIRES_PYTHON: &str = "dev.oci-pypi.requires-python";
/// Index-entry annotation: the sha256 (hex) of the file's core metadata (its `METADATA`), which
/// the file manifest holds as its config blob (oci-pypi).
pub const ANNOTATION_CORE_METADATA: &str = "dev.oci-pypi.core-metadata.sha256";
/// Media type of the config blob holding a file's core metadata (PEP 658).
pub const MEDIA_TYPE_CORE_METADATA: &str = "application/vnd.oci-pypi.core-metadata.v1";
/// Index-entry annotation: where a promoted file came from, `<registry>/<repository>:<tag>`.
pub const ANNOTATION_PROMOTED_FROM: &str = "dev.oci-pypi.promoted-from";
/// Index-entry annotation: when a file was promoted, RFC 3339 UTC.
pub const ANNOTATION_PROMOTED_AT: &str = "dev.oci-pypi.promoted-at";
/// Index-entry annotation: present when the file is yanked (PEP 592); the value is the reason,
/// possibly empty (oci-pypi).
pub const ANNOTATION_YANKED: &str = "dev.oci-pypi.yanked";
/// Classifier prefix that becomes a manifest annotation (PyOCI: `PyOCI :: Label :: k :: v`).
const LABEL_CLASSIFIER: &str = "PyOCI :: Label :: ";

/// One distribution file as recorded in a release index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// The file's name.
    pub filename: String,
    /// Its sha256, lowercase hex.
    pub sha256: String,
    /// Its size, when recorded.
    pub size: Option<u64>,
    /// When it was uploaded (RFC 3339), when recorded.
    pub uploaded: Option<String>,
    /// Its `Requires-Python`, when recorded.
    pub requires_python: Option<String>,
    /// Project URLs recorded with it.
    pub project_urls: BTreeMap<String, String>,
    /// `Some(reason)` when yanked (the reason may be empty).
    pub yanked: Option<String>,
    /// The sha256 of its core metadata, when stored (PEP 658).
    pub core_metadata: Option<String>,
    /// The manifest holding it.
    pub manifest: Digest,
    /// Whether it is a wheel or an sdist.
    pub kind: DistKind,
}

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

fn to_json<T: serde::Serialize>(value: &T, version: &Version) -> Result<Vec<u8>, LayoutError> {
    serde_json::to_vec(value).map_err(|error| LayoutError::MalformedIndex {
        version: version.to_string(),
        reason: error.to_string(),
    })
}

/// The image index of one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseIndex {
    index: ImageIndex,
}

impl ReleaseIndex {
    /// An empty release index, created at `created` (RFC 3339).
    #[must_use]
    pub fn new(created: &str) -> Self {
        let mut annotations = BTreeMap::new();
        annotations.insert(ANNOTATION_CREATED.to_owned(), created.to_owned());
        Self {
            index: ImageIndex {
                schema_version: 2,
                media_type: Some(MEDIA_TYPE_INDEX.to_owned()),
                artifact_type: Some(ARTIFACT_TYPE.to_owned()),
                manifests: Vec::new(),
                annotations,
            },
        }
    }

    /// Reads a release index; `Ok(None)` when the content is something else (a container image,
    /// a signature): foreign content that shares the repository.
    ///
    /// # Errors
    /// [`LayoutError::MalformedIndex`] when it claims to be a release index but cannot be read.
    pub fn parse(
        media_type: &str,
        bytes: &[u8],
        version: &Version,
    ) -> Result<Option<Self>, LayoutError> {
        let declared_index = media_type == MEDIA_TYPE_INDEX || media_type.is_empty();
        if !declared_index {
            return Ok(None);
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return Err(malformed(version, "not JSON"));
        };
        if value.get("artifactType").and_then(|v| v.as_str()) != Some(ARTIFACT_TYPE) {
            return Ok(None);
        }
        serde_json::from_value(value)
            .map(|index| Some(Self { index }))
            .map_err(|error| malformed(version, &error.to_string()))
    }

    /// The exact bytes to store.
    ///
    /// # Errors
    /// Never in practice: serialization of these plain structures cannot fail.
    pub fn to_bytes(&self, version: &Version) -> Result<Bytes, LayoutError> {
        to_json(&self.index, version).map(Bytes::from)
    }

    /// The files of the release, in index order. Entries that do not describe a file (no
    /// digest annotation, no name) are skipped.
    #[must_use]
    pub fn files(&self, project: &ProjectName, version_text: &str) -> Vec<StoredFile> {
        self.index
            .manifests
            .iter()
            .filter_map(|entry| stored_file(entry, project, version_text))
            .collect()
    }

    /// The entry of `filename`, if the release has it.
    #[must_use]
    pub fn file(
        &self,
        project: &ProjectName,
        version_text: &str,
        filename: &str,
    ) -> Option<StoredFile> {
        self.files(project, version_text)
            .into_iter()
            .find(|f| f.filename == filename)
    }

    /// The raw index entry of `filename`.
    #[must_use]
    pub fn entry(
        &self,
        project: &ProjectName,
        version_text: &str,
        filename: &str,
    ) -> Option<Descriptor> {
        self.index
            .manifests
            .iter()
            .find(|entry| {
                stored_file(entry, project, version_text).is_some_and(|f| f.filename == filename)
            })
            .cloned()
    }

    /// Adds (or replaces) the entry of the file that `entry` describes, keyed by its platform.
    pub fn upsert(&mut self, entry: Descriptor) {
        let key = entry.platform.as_ref().map(|p| p.architecture.clone());
        self.index
            .manifests
            .retain(|existing| existing.platform.as_ref().map(|p| &p.architecture) != key.as_ref());
        self.index.manifests.push(entry);
    }

    /// Replaces the entry of `filename` in place; returns whether it was there.
    pub fn replace(
        &mut self,
        project: &ProjectName,
        version_text: &str,
        filename: &str,
        entry: Descriptor,
    ) -> bool {
        let slot = self.index.manifests.iter_mut().find(|existing| {
            stored_file(existing, project, version_text).is_some_and(|f| f.filename == filename)
        });
        match slot {
            Some(slot) => {
                *slot = entry;
                true
            }
            None => false,
        }
    }

    /// Removes the entry of `filename`; returns its manifest digest when it was there.
    pub fn remove(
        &mut self,
        project: &ProjectName,
        version_text: &str,
        filename: &str,
    ) -> Option<Digest> {
        let position = self.index.manifests.iter().position(|entry| {
            stored_file(entry, project, version_text).is_some_and(|f| f.filename == filename)
        })?;
        let removed = self.index.manifests.remove(position);
        Digest::parse(&removed.digest).ok()
    }

    /// Yanks (`Some(reason)`) or un-yanks (`None`) the file named `filename`, or every file
    /// when `filename` is `None`. Returns whether anything changed; `None` when the file is
    /// not in the release.
    pub fn set_yanked(
        &mut self,
        project: &ProjectName,
        version_text: &str,
        filename: Option<&str>,
        yanked: Option<&str>,
    ) -> Option<bool> {
        let mut found = false;
        let mut changed = false;
        for entry in &mut self.index.manifests {
            let Some(file) = stored_file(entry, project, version_text) else {
                continue;
            };
            if filename.is_some_and(|name| name != file.filename) {
                continue;
            }
            found = true;
            if file.yanked.as_deref() != yanked {
                changed = true;
                match yanked {
                    Some(reason) => entry
                        .annotations
                        .insert(ANNOTATION_YANKED.to_owned(), reason.to_owned()),
                    None => entry.annotations.remove(ANNOTATION_YANKED),
                };
            }
        }
        found.then_some(changed)
    }

    /// Whether the release has no entries left.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.index.manifests.is_empty()
    }

    /// The manifest digests of every entry.
    #[must_use]
    pub fn manifest_digests(&self) -> Vec<Digest> {
        self.index
            .manifests
            .iter()
            .filter_map(|e| Digest::parse(&e.digest).ok())
            .collect()
    }
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

fn malformed(version: &Version, reason: &str) -> LayoutError {
    LayoutError::MalformedIndex {
        version: version.to_string(),
        reason: reason.to_owned(),
    }
}

/// Reads one index entry; the filename comes from the title annotation or, for PyOCI's
/// entries, from `<project>-<version>-<platform.architecture>`.
fn stored_file(
    entry: &Descriptor,
    project: &ProjectName,
    version_text: &str,
) -> Option<StoredFile> {
    let annotations = &entry.annotations;
    let sha256 = annotations.get(ANNOTATION_SHA256)?.to_ascii_lowercase();
    Digest::from_sha256_hex(&sha256).ok()?;
    let filename = if let Some(title) = annotations.get(ANNOTATION_TITLE) {
        title.clone()
    } else {
        let suffix = &entry.platform.as_ref()?.architecture;
        let stem = format!("{}-{version_text}", project.filename_form());
        if suffix.starts_with('.') {
            format!("{stem}{suffix}")
        } else {
            format!("{stem}-{suffix}")
        }
    };
    let parsed = DistFilename::parse(&filename).ok()?;
    Some(StoredFile {
        filename,
        sha256,
        size: annotations
            .get(ANNOTATION_SIZE)
            .and_then(|s| s.parse().ok()),
        uploaded: annotations.get(ANNOTATION_CREATED).cloned(),
        requires_python: annotations.get(ANNOTATION_REQUIRES_PYTHON).cloned(),
        project_urls: annotations
            .get(ANNOTATION_PROJECT_URLS)
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default(),
        yanked: annotations.get(ANNOTATION_YANKED).cloned(),
        core_metadata: annotations
            .get(ANNOTATION_CORE_METADATA)
            .filter(|hex| Digest::from_sha256_hex(hex).is_ok())
            .cloned(),
        manifest: Digest::parse(&entry.digest).ok()?,
        kind: parsed.kind(),
    })
}
