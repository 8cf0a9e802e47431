//! One file of a release as an index entry: what a page shows of it ([`StoredFile`]) and how
//! it is read, from an owned [`Descriptor`] (when a release is changed) or from a borrowed view
//! of the index's bytes (when a page is built: no index, no annotation map and no string copy
//! is made for what the page does not keep).
//!
//! Both readings go through one function, [`stored_file`], so they cannot disagree on which
//! entries are files. The view accepts exactly the JSON that
//! [`ImageIndex`](crate::storage::oci::ImageIndex) accepts (the same required fields, of the
//! same types); whatever it does not read, the caller reads the slow way.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::annotations::{
    ANNOTATION_CORE_METADATA, ANNOTATION_CREATED, ANNOTATION_PROJECT_URLS, ANNOTATION_PROMOTED_AT,
    ANNOTATION_PROMOTED_FROM, ANNOTATION_REQUIRES_PYTHON, ANNOTATION_SHA256, ANNOTATION_SIZE,
    ANNOTATION_TITLE, ANNOTATION_YANKED, ARTIFACT_TYPE,
};
use crate::packaging::{DistFilename, DistKind, ProjectName, Sha256};
use crate::storage::Digest;
use crate::storage::oci::Descriptor;

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
    pub project_urls: ProjectUrls,
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

/// The project URLs recorded with a file, as the JSON object its annotation holds, read only
/// when asked: pages do not show them, and reading a map of them for each file of a release
/// took a third of the time a page spends reading its files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectUrls(Option<Box<str>>);

impl ProjectUrls {
    /// The URLs of the annotation's JSON text `json`.
    #[must_use]
    pub fn recorded(json: &str) -> Self {
        Self(Some(json.into()))
    }

    /// The URLs by label; none when nothing, or no JSON object of strings, was recorded.
    #[must_use]
    pub fn read(&self) -> BTreeMap<String, String> {
        self.0
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default()
    }
}

/// Where a promoted file came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// The source, `<registry>/<repository>:<tag>`.
    pub from: String,
    /// When, RFC 3339 UTC, when recorded.
    pub at: Option<String>,
}

/// What [`stored_file`] reads of an index entry.
pub(super) trait Entry {
    /// The digest of the manifest it points at, as written.
    fn digest(&self) -> &str;
    /// Its `platform.architecture`, when it has a platform.
    fn architecture(&self) -> Option<&str>;
    /// The value of annotation `key` (the last one, when the JSON repeats it).
    fn annotation(&self, key: &str) -> Option<&str>;
}

impl Entry for Descriptor {
    fn digest(&self) -> &str {
        &self.digest
    }

    fn architecture(&self) -> Option<&str> {
        self.platform.as_ref().map(|p| p.architecture.as_str())
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }
}

/// Reads one index entry; the filename comes from the title annotation or, for PyOCI's
/// entries, from `<project>-<version>-<platform.architecture>`. `None` when the entry does not
/// describe a file (no sha256, no name, a name that is not a distribution's, a bad digest).
pub(super) fn stored_file(
    entry: &impl Entry,
    project: &ProjectName,
    version_text: &str,
) -> Option<StoredFile> {
    let sha256 = Sha256::parse(entry.annotation(ANNOTATION_SHA256)?).ok()?;
    let filename = if let Some(title) = entry.annotation(ANNOTATION_TITLE) {
        title.to_owned()
    } else {
        let suffix = entry.architecture()?;
        let stem = format!("{}-{version_text}", project.filename_form());
        if suffix.starts_with('.') {
            format!("{stem}{suffix}")
        } else {
            format!("{stem}-{suffix}")
        }
    };
    let parsed = DistFilename::parse(&filename).ok()?;
    let owned = |key: &str| entry.annotation(key).map(str::to_owned);
    Some(StoredFile {
        sha256,
        size: entry
            .annotation(ANNOTATION_SIZE)
            .and_then(|s| s.parse().ok()),
        uploaded: owned(ANNOTATION_CREATED),
        requires_python: owned(ANNOTATION_REQUIRES_PYTHON),
        project_urls: entry
            .annotation(ANNOTATION_PROJECT_URLS)
            .map_or_else(ProjectUrls::default, ProjectUrls::recorded),
        yanked: owned(ANNOTATION_YANKED),
        core_metadata: entry
            .annotation(ANNOTATION_CORE_METADATA)
            .and_then(|hex| Sha256::parse(hex).ok()),
        provenance: entry
            .annotation(super::provenance::ANNOTATION_PROVENANCE)
            .and_then(|hex| Sha256::parse(hex).ok()),
        manifest: Digest::parse(entry.digest()).ok()?,
        kind: parsed.kind(),
        promoted: owned(ANNOTATION_PROMOTED_FROM).map(|from| Promotion {
            from,
            at: owned(ANNOTATION_PROMOTED_AT),
        }),
        filename,
    })
}

/// What [`files_in`] made of a release index's bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Viewed {
    /// A release index, with these files.
    Files(Vec<StoredFile>),
    /// An index of something else (another artifact type).
    Foreign,
    /// Not an index as [`ImageIndex`](crate::storage::oci::ImageIndex) reads one: the caller
    /// parses it the slow way, which tells why.
    Unread,
}

/// The files of the release index in `bytes`, read through a borrowed view.
pub(super) fn files_in(bytes: &[u8], project: &ProjectName, version_text: &str) -> Viewed {
    let Ok(index) = serde_json::from_slice::<IndexView<'_>>(bytes) else {
        return Viewed::Unread;
    };
    if index.artifact_type.as_ref().map(|t| t.0.as_ref()) != Some(ARTIFACT_TYPE) {
        return Viewed::Foreign;
    }
    Viewed::Files(
        index
            .manifests
            .iter()
            .filter_map(|entry| stored_file(entry, project, version_text))
            .collect(),
    )
}

/// An image index as [`ImageIndex`](crate::storage::oci::ImageIndex) reads it (the same
/// fields required, of the same types), its strings borrowed from the bytes where they need
/// no unescaping. The fields a page does not use are read only to be checked.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexView<'a> {
    #[serde(rename = "schemaVersion")]
    _schema_version: u32,
    #[serde(default, borrow, rename = "mediaType")]
    _media_type: Option<Text<'a>>,
    #[serde(default, borrow)]
    artifact_type: Option<Text<'a>>,
    #[serde(borrow)]
    manifests: Vec<EntryView<'a>>,
    #[serde(default, borrow, rename = "annotations")]
    _annotations: Annotations<'a>,
}

/// A [`Descriptor`] as read by [`IndexView`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryView<'a> {
    #[serde(borrow, rename = "mediaType")]
    _media_type: Text<'a>,
    #[serde(borrow)]
    digest: Text<'a>,
    #[serde(rename = "size")]
    _size: u64,
    #[serde(default, borrow)]
    platform: Option<PlatformView<'a>>,
    #[serde(default, borrow)]
    annotations: Annotations<'a>,
    #[serde(default, borrow, rename = "artifactType")]
    _artifact_type: Option<Text<'a>>,
}

/// A [`Platform`](crate::storage::oci::Platform) as read by [`IndexView`] (its other fields,
/// of any type, are skipped).
#[derive(Deserialize)]
struct PlatformView<'a> {
    #[serde(borrow)]
    architecture: Text<'a>,
    #[serde(borrow, rename = "os")]
    _os: Text<'a>,
}

impl Entry for EntryView<'_> {
    fn digest(&self) -> &str {
        &self.digest.0
    }

    fn architecture(&self) -> Option<&str> {
        self.platform.as_ref().map(|p| p.architecture.0.as_ref())
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key)
    }
}

/// A JSON string, borrowed when it has no escapes. (`Option<Cow<str>>` would always copy:
/// serde borrows a `Cow` only when it is the field itself.)
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(value)))
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(value)))
    }
}

/// Annotations as a list in document order: a handful per entry, looked up a few times each,
/// so a scan beats building a map. Like the map, a repeated key means its last value.
#[derive(Default)]
struct Annotations<'a>(Vec<(Text<'a>, Text<'a>)>);

impl Annotations<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.0 == key)
            .map(|(_, v)| v.0.as_ref())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Annotations<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(AnnotationsVisitor)
    }
}

struct AnnotationsVisitor;

impl<'de> Visitor<'de> for AnnotationsVisitor {
    type Value = Annotations<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a map of strings to strings")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(pair) = map.next_entry::<Text<'de>, Text<'de>>()? {
            pairs.push(pair);
        }
        Ok(Annotations(pairs))
    }
}
