//! One release as OCI content: an image index tagged with the version, one entry per file,
//! each entry an image manifest whose single layer is the file itself. Compatible with PyOCI:
//! its entries (no title, no size) are read as well as ours.
//!
//! See docs/design.md for the full contract.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::annotations::{ANNOTATION_CREATED, ANNOTATION_YANKED, ARTIFACT_TYPE};
use super::entry::{StoredFile, Viewed, files_in, stored_file};
use super::error::LayoutError;
use super::file::{malformed, to_json};
use crate::packaging::{ProjectName, Version};
use crate::storage::Digest;
use crate::storage::oci::{Descriptor, ImageIndex, MEDIA_TYPE_INDEX};

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

    /// The files of the release index in `bytes`, as [`ReleaseIndex::parse`] then
    /// [`ReleaseIndex::files`] give them, without building the index (pages read every
    /// release of a project this way).
    ///
    /// # Errors
    /// As [`ReleaseIndex::parse`].
    pub fn read_files(
        media_type: &str,
        bytes: &[u8],
        version: &Version,
        project: &ProjectName,
    ) -> Result<Option<Vec<StoredFile>>, LayoutError> {
        if !(media_type == MEDIA_TYPE_INDEX || media_type.is_empty()) {
            return Ok(None);
        }
        let version_text = version.to_string();
        match files_in(bytes, project, &version_text) {
            Viewed::Files(files) => return Ok(Some(files)),
            Viewed::Foreign => return Ok(None),
            Viewed::Unread => {}
        }
        Ok(Self::parse(media_type, bytes, version)?
            .map(|index| index.files(project, &version_text)))
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
                stored_file(*entry, project, version_text).is_some_and(|f| f.filename == filename)
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
            stored_file(&**existing, project, version_text).is_some_and(|f| f.filename == filename)
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

    /// Keeps only the entries whose manifest digest `keep` accepts.
    pub fn retain_manifests(&mut self, keep: impl Fn(&Digest) -> bool) {
        self.index
            .manifests
            .retain(|entry| Digest::parse(&entry.digest).map_or(true, |digest| keep(&digest)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::file::{NewFile, file_manifest};
    use crate::packaging::{DistFilename, DistKind};

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
        assert_eq!(wheel.project_urls.read()["Homepage"], "https://example.org");
        assert_eq!(wheel.core_metadata, None);
        assert_eq!(files[1].kind, DistKind::Sdist);
    }

    /// An index as this server writes it, with a yank reason and project URLs that need
    /// escaping.
    fn our_index() -> String {
        let parsed = DistFilename::parse("hello_world-2.0-py3-none-any.whl").unwrap();
        let digest = Digest::of(b"a wheel");
        let metadata = Digest::of(b"its metadata");
        let urls = [("Home \"page\"".to_owned(), "https://e.org/é".to_owned())];
        let file = NewFile {
            filename: &parsed,
            digest: &digest,
            size: 1234,
            created: CREATED,
            requires_python: Some(">=3.9, <4"),
            project_urls: &urls,
            classifiers: &[],
            core_metadata: Some((&metadata, 12)),
        };
        let mut index = ReleaseIndex::new(CREATED);
        index.upsert(file_manifest(&file).unwrap().entry);
        index.set_yanked(&project(), "2.0", None, Some("broken \"build\"\n"));
        String::from_utf8(index.to_bytes(&version("2.0")).unwrap().to_vec()).unwrap()
    }

    /// Index bytes at the edges of what [`ImageIndex`] reads: each is read by
    /// [`ReleaseIndex::read_files`] exactly as by [`ReleaseIndex::parse`] then `files`, and its
    /// borrowed view accepts exactly what `ImageIndex` accepts.
    #[test]
    fn reading_files_from_bytes_agrees_with_parsing_the_index() {
        let ours = our_index();
        let pyoci = String::from_utf8(pyoci_index()).unwrap();
        let entry = |extra: &str| {
            format!(
                r#"{{"schemaVersion":2,"artifactType":"application/pyoci.package.v1","manifests":[{{"mediaType":"m","digest":"sha256:{}","size":1{extra}}}]}}"#,
                "01".repeat(32)
            )
        };
        let sha = "ab".repeat(32);
        let annotated = |annotations: &str| {
            entry(&format!(
                r#","platform":{{"architecture":"py3-none-any.whl","os":"any"}},"annotations":{annotations}"#
            ))
        };
        let cases = [
            ours.clone(),
            ours.replace("application/pyoci.package.v1", "application/vnd.other"),
            ours.replace(r#""schemaVersion":2,"#, ""),
            ours.replace(r#""schemaVersion":2"#, r#""schemaVersion":"2""#),
            ours.replacen(r#""size":"#, r#""size":-"#, 1),
            ours.replacen(r#""mediaType":"application/vnd.oci.image.manifest.v1+json","#, "", 1),
            ours.replace(r#""os":"any""#, r#""os":"any","os.features":["x"],"variant":7"#),
            ours.replace(r#""os":"any""#, r#""os":null"#),
            ours.replace(r#""org.opencontainers.image.created""#, r#""org.opencontainers.image.\u0063reated""#),
            format!("{ours} "),
            format!("{ours} x"),
            pyoci.clone(),
            pyoci.replace("py3-none-any.whl", "py3-none-any.whl\\u0000"),
            annotated(&format!(r#"{{"com.pyoci.sha256_digest":"{sha}"}}"#)),
            annotated(&format!(r#"{{"com.pyoci.sha256_digest":"{sha}","com.pyoci.sha256_digest":"{}"}}"#, "CD".repeat(32))),
            annotated(&format!(r#"{{"com.pyoci.sha256_digest":"{sha}","dev.oci-pypi.size":3}}"#)),
            annotated(&format!(r#"{{"com.pyoci.sha256_digest":"{sha}","dev.oci-pypi.size":"x"}}"#)),
            annotated(&format!(r#"{{"com.pyoci.sha256_digest":"{sha}","com.pyoci.project_urls":"not json"}}"#)),
            annotated(&format!(r#"{{"com.pyoci.sha256_digest":"{sha}","org.opencontainers.image.title":"not a dist"}}"#)),
            annotated("null"),
            annotated("[]"),
            entry(r#","platform":null"#),
            annotated(&format!(r#"{{"com.pyoci.sha256_digest":"{sha}"}}"#)).replace(r#""size":1,"#, ""),
            annotated(&format!(r#"{{"com.pyoci.sha256_digest":"{sha}"}}"#)).replace(r#""digest":"#, r#""notDigest":"#),
            entry(r#","platform":{"architecture":".tar.gz"}"#),
            r#"{"schemaVersion":2,"artifactType":"application/pyoci.package.v1","manifests":null}"#.to_owned(),
            r#"{"schemaVersion":2,"artifactType":"application/pyoci.package.v1","manifests":[],"annotations":{"a":1}}"#.to_owned(),
            r#"{"schemaVersion":2,"artifactType":null,"manifests":[]}"#.to_owned(),
            "[]".to_owned(),
            "not json".to_owned(),
        ];
        let v = version("2.0");
        for (number, case) in cases.iter().enumerate() {
            let bytes = case.as_bytes();
            let parsed = ReleaseIndex::parse(MEDIA_TYPE_INDEX, bytes, &v)
                .map(|index| index.map(|index| index.files(&project(), "2.0")));
            let read = ReleaseIndex::read_files(MEDIA_TYPE_INDEX, bytes, &v, &project());
            assert_eq!(read, parsed, "case {number}: {case}");
            assert_eq!(
                files_in(bytes, &project(), "2.0") != Viewed::Unread,
                serde_json::from_slice::<ImageIndex>(bytes).is_ok(),
                "case {number}: {case}"
            );
        }
        let read = |case: &str| {
            ReleaseIndex::read_files(MEDIA_TYPE_INDEX, case.as_bytes(), &v, &project())
                .unwrap()
                .unwrap()
        };
        let file = &read(&ours)[0];
        assert_eq!(file.yanked.as_deref(), Some("broken \"build\"\n"));
        assert_eq!(file.project_urls.read()["Home \"page\""], "https://e.org/é");
        assert_eq!(file.requires_python.as_deref(), Some(">=3.9, <4"));
        assert_eq!(read(&cases[14])[0].sha256.as_str(), "cd".repeat(32));
        assert_eq!(read(&cases[11]).len(), 2);
        assert!(matches!(
            ReleaseIndex::read_files("application/json", ours.as_bytes(), &v, &project()),
            Ok(None)
        ));
    }

    /// Every index one edit away from a real one (a byte changed to each of a few JSON
    /// characters, removed, doubled, or the rest cut off) is read by
    /// [`ReleaseIndex::read_files`] exactly as by [`ReleaseIndex::parse`] then `files`, and its
    /// borrowed view accepts exactly what `ImageIndex` accepts: the view and the parse cannot
    /// drift apart on input no one wrote a case for.
    #[test]
    fn reading_files_agrees_with_parsing_on_every_edit_of_an_index() {
        let v = version("2.0");
        let sha = "ab".repeat(32);
        let pyoci_entry = format!(
            r#"{{"schemaVersion":2,"artifactType":"application/pyoci.package.v1","manifests":[{{"mediaType":"m","digest":"sha256:{}","size":1,"platform":{{"architecture":"py3-none-any.whl","os":"any"}},"annotations":{{"com.pyoci.sha256_digest":"{sha}","com.pyoci.project_urls":"{{\"a\":\"b\"}}"}}}}]}}"#,
            "01".repeat(32)
        );
        let originals = [
            our_index(),
            String::from_utf8(pyoci_index()).unwrap(),
            pyoci_entry,
        ];
        let mut checked = 0;
        for original in &originals {
            let original = original.as_bytes();
            for at in 0..original.len() {
                let mut edits: Vec<Vec<u8>> =
                    [b'"', b'\\', b'{', b'}', b'[', b',', b':', b'0', b'n', b' ']
                        .iter()
                        .map(|&byte| {
                            let mut edited = original.to_vec();
                            edited[at] = byte;
                            edited
                        })
                        .collect();
                let mut removed = original.to_vec();
                removed.remove(at);
                let mut doubled = original.to_vec();
                doubled.insert(at, original[at]);
                edits.extend([removed, doubled, original[..at].to_vec()]);
                for edited in edits.iter().filter(|edited| edited.as_slice() != original) {
                    let parsed = ReleaseIndex::parse(MEDIA_TYPE_INDEX, edited, &v)
                        .map(|index| index.map(|index| index.files(&project(), "2.0")));
                    let read = ReleaseIndex::read_files(MEDIA_TYPE_INDEX, edited, &v, &project());
                    let shown = String::from_utf8_lossy(edited);
                    assert_eq!(read, parsed, "byte {at}: {shown}");
                    assert_eq!(
                        files_in(edited, &project(), "2.0") != Viewed::Unread,
                        serde_json::from_slice::<ImageIndex>(edited).is_ok(),
                        "byte {at}: {shown}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "{checked} edits checked");
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
