//! One release as OCI content: an image index tagged with the version, one entry per file,
//! each entry an image manifest whose single layer is the file itself. Compatible with PyOCI:
//! its entries (no title, no size) are read as well as ours.
//!
//! See docs/design.md for the full contract.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::annotations::{
    ANNOTATION_CORE_METADATA, ANNOTATION_CREATED, ANNOTATION_PROJECT_URLS, ANNOTATION_PROMOTED_AT,
    ANNOTATION_PROMOTED_FROM, ANNOTATION_REQUIRES_PYTHON, ANNOTATION_SHA256, ANNOTATION_SIZE,
    ANNOTATION_TITLE, ANNOTATION_YANKED, ARTIFACT_TYPE,
};
use super::error::LayoutError;
use super::file::{malformed, to_json};
use crate::packaging::{DistFilename, DistKind, ProjectName, Sha256, Version};
use crate::storage::Digest;
use crate::storage::oci::{Descriptor, ImageIndex, MEDIA_TYPE_INDEX};

/// One distribution file as recorded in a release index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// The file's name.
    pub filename: String,
    /// Its sha256.
    pub sha256: Sha256,
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
    pub core_metadata: Option<Sha256>,
    /// The sha256 of its provenance object (PEP 740), when it has verified attestations.
    pub provenance: Option<Sha256>,
    /// The manifest holding it.
    pub manifest: Digest,
    /// Whether it is a wheel or an sdist.
    pub kind: DistKind,
    /// Where and when it was promoted from, when it came by promotion.
    pub promoted: Option<Promotion>,
}

/// Where a promoted file came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// The source, `<registry>/<repository>:<tag>`.
    pub from: String,
    /// When, RFC 3339 UTC, when recorded.
    pub at: Option<String>,
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
        // The common case in one pass; anything unusual takes the path below, which tells a
        // foreign document from a malformed release.
        if let Ok(index) = serde_json::from_slice::<ImageIndex>(bytes) {
            return Ok(
                (index.artifact_type.as_deref() == Some(ARTIFACT_TYPE)).then_some(Self { index })
            );
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
        self.index
            .manifests
            .iter()
            .filter_map(|entry| stored_file(entry, project, version_text))
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

/// Reads one index entry; the filename comes from the title annotation or, for PyOCI's
/// entries, from `<project>-<version>-<platform.architecture>`.
fn stored_file(
    entry: &Descriptor,
    project: &ProjectName,
    version_text: &str,
) -> Option<StoredFile> {
    let annotations = &entry.annotations;
    let sha256 = Sha256::parse(annotations.get(ANNOTATION_SHA256)?).ok()?;
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
            .and_then(|hex| Sha256::parse(hex).ok()),
        provenance: annotations
            .get(super::provenance::ANNOTATION_PROVENANCE)
            .and_then(|hex| Sha256::parse(hex).ok()),
        manifest: Digest::parse(&entry.digest).ok()?,
        kind: parsed.kind(),
        promoted: annotations
            .get(ANNOTATION_PROMOTED_FROM)
            .map(|from| Promotion {
                from: from.clone(),
                at: annotations.get(ANNOTATION_PROMOTED_AT).cloned(),
            }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::file::{NewFile, file_manifest};

    const CREATED: &str = "2024-11-20T20:23:36Z";

    fn version(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn project() -> ProjectName {
        ProjectName::parse("hello-world").unwrap()
    }

    /// An index exactly as PyOCI 0.1.40 writes it: no title, no size.
    fn pyoci_index() -> Vec<u8> {
        let sha = "ab".repeat(32);
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "artifactType": "application/pyoci.package.v1",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": format!("sha256:{}", "01".repeat(32)),
                    "size": 500,
                    "platform": { "architecture": "py3-none-any.whl", "os": "any" },
                    "annotations": {
                        "com.pyoci.sha256_digest": sha,
                        "com.pyoci.project_urls": "{\"Homepage\":\"https://example.org\"}",
                        "org.opencontainers.image.created": CREATED
                    }
                },
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": format!("sha256:{}", "02".repeat(32)),
                    "size": 500,
                    "platform": { "architecture": ".tar.gz", "os": "any" },
                    "annotations": { "com.pyoci.sha256_digest": sha }
                },
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": format!("sha256:{}", "03".repeat(32)),
                    "size": 500,
                    "platform": { "architecture": "amd64", "os": "linux" }
                }
            ]
        }))
        .unwrap()
    }

    #[test]
    fn reads_pyoci_indexes() {
        let index = ReleaseIndex::parse(MEDIA_TYPE_INDEX, &pyoci_index(), &version("1.0.0+abc.1"))
            .unwrap()
            .unwrap();
        let files = index.files(&project(), "1.0.0+abc.1");
        let names: Vec<&str> = files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(
            names,
            [
                "hello_world-1.0.0+abc.1-py3-none-any.whl",
                "hello_world-1.0.0+abc.1.tar.gz"
            ]
        );
        let wheel = &files[0];
        assert_eq!(wheel.kind, DistKind::Wheel);
        assert_eq!(wheel.size, None);
        assert_eq!(wheel.uploaded.as_deref(), Some(CREATED));
        assert_eq!(wheel.project_urls["Homepage"], "https://example.org");
        assert_eq!(wheel.core_metadata, None);
        assert_eq!(files[1].kind, DistKind::Sdist);
    }

    #[test]
    fn other_content_is_foreign_not_an_error() {
        let plain = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(
            ReleaseIndex::parse(MEDIA_TYPE_INDEX, plain, &version("1"))
                .unwrap()
                .is_none()
        );
        let manifest = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        let media = "application/vnd.oci.image.manifest.v1+json";
        assert!(
            ReleaseIndex::parse(media, manifest, &version("1"))
                .unwrap()
                .is_none()
        );
        let broken =
            br#"{"schemaVersion":2,"artifactType":"application/pyoci.package.v1","manifests":7}"#;
        assert!(ReleaseIndex::parse(MEDIA_TYPE_INDEX, broken, &version("1")).is_err());
        let error = ReleaseIndex::parse(MEDIA_TYPE_INDEX, b"{nope", &version("1")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the release index of `1` is malformed: not JSON"
        );
    }

    fn new_entry(filename: &str, sha_byte: &str) -> Descriptor {
        let parsed = DistFilename::parse(filename).unwrap();
        let digest = Digest::from_sha256_hex(&sha_byte.repeat(32)).unwrap();
        let file = NewFile {
            filename: &parsed,
            digest: &digest,
            size: 10,
            created: CREATED,
            requires_python: Some(">=3.9"),
            project_urls: &[],
            classifiers: &[],
            core_metadata: None,
        };
        file_manifest(&file).unwrap().entry
    }

    #[test]
    fn edits_round_trip_through_bytes() {
        let v = version("2.0");
        let mut index = ReleaseIndex::new(CREATED);
        index.upsert(new_entry("hello_world-2.0-py3-none-any.whl", "aa"));
        index.upsert(new_entry("hello_world-2.0.tar.gz", "bb"));
        // The same file again replaces its entry instead of adding one.
        index.upsert(new_entry("hello_world-2.0-py3-none-any.whl", "cc"));
        let bytes = index.to_bytes(&v).unwrap();
        let mut read = ReleaseIndex::parse(MEDIA_TYPE_INDEX, &bytes, &v)
            .unwrap()
            .unwrap();
        assert_eq!(read, index);
        let files = read.files(&project(), "2.0");
        assert_eq!(files.len(), 2);
        assert_eq!(files[1].sha256.as_str(), "cc".repeat(32));
        assert_eq!(files[1].requires_python.as_deref(), Some(">=3.9"));

        assert_eq!(
            read.set_yanked(&project(), "2.0", None, Some("bad")),
            Some(true)
        );
        assert_eq!(
            read.set_yanked(&project(), "2.0", None, Some("bad")),
            Some(false)
        );
        assert!(
            read.files(&project(), "2.0")
                .iter()
                .all(|f| f.yanked.as_deref() == Some("bad"))
        );
        assert_eq!(
            read.set_yanked(&project(), "2.0", Some("hello_world-2.0.tar.gz"), None),
            Some(true)
        );
        assert_eq!(
            read.set_yanked(&project(), "2.0", Some("nope-2.0.tar.gz"), None),
            None
        );

        let replacement = new_entry("hello_world-2.0.tar.gz", "dd");
        assert!(read.replace(&project(), "2.0", "hello_world-2.0.tar.gz", replacement));
        assert_eq!(
            read.files(&project(), "2.0")[0].sha256.as_str(),
            "dd".repeat(32)
        );

        let removed = read.remove(&project(), "2.0", "hello_world-2.0.tar.gz");
        assert!(removed.is_some());
        assert!(
            read.remove(&project(), "2.0", "hello_world-2.0.tar.gz")
                .is_none()
        );
        assert!(!read.is_empty());
        assert!(
            read.remove(&project(), "2.0", "hello_world-2.0-py3-none-any.whl")
                .is_some()
        );
        assert!(read.is_empty());
    }
}
