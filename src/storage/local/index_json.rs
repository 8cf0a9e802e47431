//! A layout's `index.json`: the image index whose entries are the tagged manifests, each
//! carrying its tag as the `org.opencontainers.image.ref.name` annotation.
//!
//! Specification: "index.json file" of
//! <https://github.com/opencontainers/image-spec/blob/main/image-layout.md> and
//! <https://github.com/opencontainers/image-spec/blob/main/image-index.md>. Entries and fields
//! this store does not understand (written by skopeo or oras) are kept as read.

use std::fs;
use std::io::{self, Read as _};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::LocalStore;
use super::files::write_atomically;
use crate::storage::error::StorageError;
use crate::storage::oci::{Descriptor, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::storage::reference::{Digest, Tag};

/// The image index of a layout: its tagged manifests.
pub(super) const INDEX_JSON: &str = "index.json";

/// The annotation that names an entry's tag.
pub(super) const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The largest `index.json` read (about 100 000 tags).
const MAX_INDEX_SIZE: u64 = 64 * 1024 * 1024;

/// The content of `index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IndexJson {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Value>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// What a tag points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TaggedManifest {
    /// The manifest's digest.
    pub(super) digest: Digest,
    /// Its media type, from the entry.
    pub(super) media_type: String,
}

impl IndexJson {
    /// An index with no entries.
    pub(super) fn empty() -> Self {
        Self {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_INDEX.to_owned()),
            manifests: Vec::new(),
            other: Map::new(),
        }
    }

    /// Reads the `index.json` of `layout`; a missing one is empty. Takes no lock: the file is
    /// only ever replaced whole, by rename.
    pub(super) fn read(store: &LocalStore, dir: &Path) -> Result<Self, StorageError> {
        let path = dir.join(INDEX_JSON);
        let mut bytes = Vec::new();
        match fs::File::open(&path) {
            Ok(file) => file
                .take(MAX_INDEX_SIZE + 1)
                .read_to_end(&mut bytes)
                .map_err(store.io_at(&path))?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Self::empty()),
            Err(error) => return Err(store.io_at(&path)(error)),
        };
        let corrupted = |reason: &str| StorageError::Corrupted {
            path: store.display_path(&path),
            reason: reason.to_owned(),
        };
        if bytes.len() as u64 > MAX_INDEX_SIZE {
            return Err(corrupted("it is larger than 64 MiB"));
        }
        let index: Self = serde_json::from_slice(&bytes)
            .map_err(|_| corrupted("it is not an OCI image index"))?;
        if index.schema_version != 2 {
            return Err(corrupted("its `schemaVersion` is not 2"));
        }
        Ok(index)
    }

    /// Replaces `index.json` atomically. The caller holds the layout's lock.
    pub(super) fn write(&self, store: &LocalStore, dir: &Path) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(self).map_err(|error| StorageError::Io {
            path: store.display_path(&dir.join(INDEX_JSON)),
            source: io::Error::other(error),
        })?;
        write_atomically(store, dir, INDEX_JSON, &bytes)
    }

    /// The valid tags, in index order, each once.
    pub(super) fn tags(&self) -> Vec<Tag> {
        let mut tags: Vec<Tag> = Vec::new();
        let valid = self.manifests.iter().filter_map(ref_name);
        for tag in valid.filter_map(|name| Tag::parse(name).ok()) {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        tags
    }

    /// What `tag` points at; entries without a valid digest are ignored.
    pub(super) fn find(&self, tag: &Tag) -> Option<TaggedManifest> {
        self.manifests
            .iter()
            .filter(|entry| ref_name(entry) == Some(tag.as_str()))
            .find_map(|entry| {
                let digest = Digest::parse(entry.get("digest")?.as_str()?).ok()?;
                let media_type = entry
                    .get("mediaType")
                    .and_then(Value::as_str)
                    .unwrap_or(MEDIA_TYPE_MANIFEST)
                    .to_owned();
                Some(TaggedManifest { digest, media_type })
            })
    }

    /// Points `tag` at `descriptor`, replacing any entry of the same tag (in place, so that
    /// the order of the index is kept). Returns whether anything changed.
    pub(super) fn set_tag(&mut self, tag: &Tag, mut descriptor: Descriptor) -> bool {
        descriptor
            .annotations
            .insert(REF_NAME.to_owned(), tag.as_str().to_owned());
        let Ok(entry) = serde_json::to_value(descriptor) else {
            return false;
        };
        let same_tag = |value: &Value| ref_name(value) == Some(tag.as_str());
        let position = self.manifests.iter().position(same_tag);
        let count = self
            .manifests
            .iter()
            .filter(|value| same_tag(value))
            .count();
        if count == 1 && position.and_then(|p| self.manifests.get(p)) == Some(&entry) {
            return false;
        }
        self.manifests.retain(|value| !same_tag(value));
        let position = position.unwrap_or(self.manifests.len());
        self.manifests.insert(position, entry);
        true
    }

    /// Removes every entry pointing at `digest` (all of its tags). Returns whether anything
    /// changed.
    pub(super) fn remove_digest(&mut self, digest: &Digest) -> bool {
        let before = self.manifests.len();
        self.manifests
            .retain(|entry| entry.get("digest").and_then(Value::as_str) != Some(digest.as_str()));
        self.manifests.len() != before
    }
}

fn ref_name(entry: &Value) -> Option<&str> {
    entry.get("annotations")?.get(REF_NAME)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str) -> Tag {
        Tag::parse(name).unwrap()
    }

    #[test]
    fn empty_index_is_compact_and_valid() {
        assert_eq!(
            serde_json::to_string(&IndexJson::empty()).unwrap(),
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#
        );
    }

    #[test]
    fn set_tag_replaces_in_place_and_keeps_foreign_fields() {
        let text = r#"{"schemaVersion":2,"manifests":[
            {"mediaType":"m","digest":"sha256:00","size":1,"annotations":{"org.opencontainers.image.ref.name":"a"}},
            {"mediaType":"m","digest":"sha256:01","size":1,"urls":["x"],"annotations":{"org.opencontainers.image.ref.name":"b"}},
            {"mediaType":"m","digest":"sha256:02","size":1}
        ],"annotations":{"k":"v"}}"#;
        let mut index: IndexJson = serde_json::from_str(text).unwrap();
        assert_eq!(index.tags(), [tag("a"), tag("b")]);
        let descriptor = Descriptor::of(MEDIA_TYPE_MANIFEST, b"new");
        assert!(index.set_tag(&tag("a"), descriptor.clone()));
        assert!(!index.set_tag(&tag("a"), descriptor.clone()));
        assert_eq!(index.tags(), [tag("a"), tag("b")]);
        assert_eq!(
            index.find(&tag("a")).unwrap().digest.as_str(),
            descriptor.digest
        );
        let written = serde_json::to_value(&index).unwrap();
        assert_eq!(written["annotations"]["k"], "v");
        assert_eq!(written["manifests"][1]["urls"][0], "x");
        assert!(index.remove_digest(&Digest::parse(&descriptor.digest).unwrap()));
        assert_eq!(index.tags(), [tag("b")]);
    }

    #[test]
    fn entries_without_a_valid_tag_or_digest_are_ignored() {
        let text = r#"{"schemaVersion":2,"manifests":[
            {"mediaType":"m","digest":"sha256:00","size":1,"annotations":{"org.opencontainers.image.ref.name":"a"}},
            {"mediaType":"m","digest":"x","size":1,"annotations":{"org.opencontainers.image.ref.name":"not a tag!"}},
            {"mediaType":"m","digest":"sha256:02","size":1,"annotations":{"org.opencontainers.image.ref.name":"a"}}
        ]}"#;
        let index: IndexJson = serde_json::from_str(text).unwrap();
        assert_eq!(index.tags(), [tag("a")]);
        assert_eq!(index.find(&tag("a")), None);
    }
}
