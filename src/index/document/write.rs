//! The write protocol of listing documents: read the document and the tags, decide what the
//! document should say, write it, confirm (docs/design.md, "Listing documents", writing
//! rules).

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use tokio::time::Instant;

use super::ChangedTags;
use crate::index::snapshot::{ProjectRef, read_blob};
use crate::index::update::{CONFIRMATIONS, MAX_ROUNDS, pause, second_look};
use crate::index::{Index, IndexError};
use crate::layout::{self, ListedTag, ProjectListing, ReleaseIndex};
use crate::packaging::Version;
use crate::storage::oci::{EMPTY_BLOB, ImageManifest, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::storage::{Digest, Reference, StorageError, Tag};

impl Index {
    /// Brings the document in step with the tags, re-reading the `changed` tags from the
    /// registry at every round, until it is seen to hold twice (at once and after a pause).
    ///
    /// Whether it wrote anything.
    ///
    /// # Errors
    /// Storage errors; [`IndexError::Contended`] when writers keep overwriting each other.
    pub(super) async fn write_document(
        &self,
        target: ProjectRef<'_>,
        changed: &ChangedTags,
    ) -> Result<bool, IndexError> {
        let lock_key = format!(
            "{}/{}:{}",
            target.store.location(),
            target.repository,
            layout::LISTING_TAG
        );
        let _guard = self.locks.of(&lock_key).lock().await;
        let mut confirmations = 0;
        let mut written = None;
        let mut backed_off = false;
        for round in 0..MAX_ROUNDS {
            let Some((current_digest, current)) = self.current_document(target).await? else {
                // Foreign content or a newer server's document: not ours to replace.
                return Ok(false);
            };
            let (wanted, legacy) = self
                .wanted_document(target, current.as_ref(), changed)
                .await?;
            let done =
                current.as_ref() == Some(&wanted) || (current.is_none() && wanted.tags.is_empty());
            if done && legacy {
                self.retire_legacy_document(target).await;
            }
            let wrote = written.is_some();
            if wrote && !backed_off && !done {
                self.locks.record_merge();
                tokio::time::sleep(pause(round, &lock_key)).await;
                backed_off = true;
                continue;
            }
            backed_off = false;
            if done {
                if !wrote {
                    return Ok(false);
                }
                confirmations += 1;
                if confirmations >= CONFIRMATIONS {
                    return Ok(true);
                }
                if let Some(written) = written {
                    second_look(written).await;
                }
                continue;
            }
            confirmations = 0;
            if wanted.tags.is_empty() {
                // No release left: the repository keeps nothing of ours.
                if let Some(digest) = &current_digest {
                    target
                        .store
                        .delete_manifest(target.repository, digest)
                        .await?;
                }
                written = Some(Instant::now());
            } else {
                let new = self.put_document(target, &wanted).await?;
                written = Some(Instant::now());
                if let Some(old) = current_digest.filter(|old| *old != new) {
                    // The superseded manifest is untagged garbage (shown as an "untagged
                    // version" by some registries): remove it, best effort.
                    let _ = target.store.delete_manifest(target.repository, &old).await;
                }
            }
        }
        Err(IndexError::Contended {
            version: layout::LISTING_TAG.to_owned(),
        })
    }

    /// The document now in the registry: `Some((digest, document))` when there is one that
    /// may be replaced, `Some((None, None))` when there is none or it is unusable but ours,
    /// `None` when it is not ours to replace.
    async fn current_document(
        &self,
        target: ProjectRef<'_>,
    ) -> Result<Option<(Option<Digest>, Option<ProjectListing>)>, IndexError> {
        let reference = Reference::Tag(layout::listing_tag());
        let Some(manifest) = target
            .store
            .get_manifest(target.repository, &reference)
            .await?
        else {
            return Ok(Some((None, None)));
        };
        let parsed = match layout::read_listing_manifest(&manifest.media_type, &manifest.bytes) {
            Ok(parsed) => parsed,
            Err(problem) if problem.replaceable() => {
                return Ok(Some((Some(manifest.digest), None)));
            }
            Err(_) => return Ok(None),
        };
        let bytes = match parsed.inline {
            Some(bytes) => Some(bytes),
            None => read_blob(target, &parsed.document).await?,
        };
        let listing = bytes.map(|bytes| ProjectListing::parse(&bytes, target.repository));
        match listing {
            Some(Ok(listing)) => Ok(Some((Some(manifest.digest), Some(listing)))),
            Some(Err(problem)) if !problem.replaceable() => Ok(None),
            _ => Ok(Some((Some(manifest.digest), None))),
        }
    }

    /// What the document should say: every release-shaped tag, from `current` when it has
    /// it (and it did not change through this server), else read from the registry; and the
    /// layer sizes its files lack.
    async fn wanted_document(
        &self,
        target: ProjectRef<'_>,
        current: Option<&ProjectListing>,
        changed: &ChangedTags,
    ) -> Result<(ProjectListing, bool), IndexError> {
        let tags = target
            .store
            .list_tags(target.repository)
            .await?
            .unwrap_or_default();
        let legacy = tags.contains(&layout::legacy_listing_tag());
        let versions: Vec<(Tag, Version)> = tags
            .into_iter()
            .filter_map(|tag| layout::version_of(&tag).map(|version| (tag, version)))
            .collect();
        let reads = versions.into_iter().map(|(tag, version)| {
            let listed = current.and_then(|c| c.tags.get(&tag)).cloned();
            let keep = listed.is_some() && !changed.contains(&tag);
            async move {
                if keep {
                    return Ok::<_, IndexError>(listed.map(|listed| (tag, listed)));
                }
                // A changed tag is read unconditionally: after a half-done delete,
                // distribution answers 304 for a tag whose manifest is gone.
                let known = if changed.contains(&tag) {
                    None
                } else {
                    self.known_tag(target, &tag, listed.as_ref())
                };
                let read = self.read_tag(target, &tag, &version, known).await?;
                Ok(read.map(|cached| {
                    let listed = ListedTag {
                        digest: cached.digest,
                        index: cached.index,
                    };
                    (tag, listed)
                }))
            }
        });
        let tags: BTreeMap<Tag, ListedTag> = stream::iter(reads)
            .buffer_unordered(self.options.listing_concurrency.max(1))
            .try_filter_map(|found| async move { Ok(found) })
            .try_collect()
            .await?;
        let sizes = self.document_sizes(target, current, &tags).await?;
        Ok((ProjectListing { tags, sizes }, legacy))
    }

    /// The layer sizes of the files whose index entry records none: known before, or read
    /// from their manifests.
    async fn document_sizes(
        &self,
        target: ProjectRef<'_>,
        current: Option<&ProjectListing>,
        tags: &BTreeMap<Tag, ListedTag>,
    ) -> Result<BTreeMap<Digest, u64>, IndexError> {
        let origin = target.key.0.as_str();
        let mut sizes = BTreeMap::new();
        let mut missing = Vec::new();
        for (tag, listed) in tags {
            let Some(version) = layout::version_of(tag) else {
                continue;
            };
            let Some(bytes) = &listed.index else { continue };
            let Ok(Some(index)) = ReleaseIndex::parse(MEDIA_TYPE_INDEX, bytes, &version) else {
                continue;
            };
            for file in index.files(target.project, &version.to_string()) {
                if file.size.is_some() {
                    continue;
                }
                let known = self
                    .cache
                    .size(origin, &file.manifest)
                    .or_else(|| current?.sizes.get(&file.manifest).copied());
                match known {
                    Some(size) => {
                        sizes.insert(file.manifest, size);
                    }
                    None => missing.push(file.manifest),
                }
            }
        }
        let learnt: Vec<(Digest, Option<u64>)> = stream::iter(missing)
            .map(|digest| async move {
                let size = self.layer_size(target, &digest).await?;
                Ok::<_, IndexError>((digest, size))
            })
            .buffer_unordered(self.options.listing_concurrency.max(1))
            .try_collect()
            .await?;
        sizes.extend(learnt.into_iter().filter_map(|(d, s)| Some((d, s?))));
        Ok(sizes)
    }

    /// The size of a file manifest's layer, read from the manifest (and remembered).
    pub(in crate::index) async fn layer_size(
        &self,
        target: ProjectRef<'_>,
        manifest: &Digest,
    ) -> Result<Option<u64>, IndexError> {
        let reference = Reference::Digest(manifest.clone());
        let fetched = target
            .store
            .get_manifest(target.repository, &reference)
            .await?;
        let size = fetched
            .and_then(|m| serde_json::from_slice::<ImageManifest>(&m.bytes).ok())
            .and_then(|m| m.layers.first().map(|layer| layer.size));
        if let Some(size) = size {
            self.cache.store_size(&target.key.0, manifest.clone(), size);
        }
        Ok(size)
    }

    /// Stores `listing` under the listing tag; returns the manifest's digest. The reserved
    /// index form when the document fits in one and the registry takes it; else the manifest
    /// form.
    async fn put_document(
        &self,
        target: ProjectRef<'_>,
        listing: &ProjectListing,
    ) -> Result<Digest, IndexError> {
        let document = listing.to_bytes(target.repository);
        let store = target.store;
        let reference = Reference::Tag(layout::listing_tag());
        let created = crate::index::upload::now_rfc3339();
        if let Some(index) = layout::listing_index(&document, &created) {
            match store
                .put_manifest(target.repository, &reference, MEDIA_TYPE_INDEX, index)
                .await
            {
                Ok(digest) => return Ok(digest),
                Err(StorageError::Upstream { status: 400, .. }) => {
                    tracing::debug!(oci.repository = %target.repository, "the registry refuses the listing index; storing the manifest form");
                }
                Err(error) => return Err(error.into()),
            }
        }
        futures_util::future::try_join(
            store.push_small_blob(target.repository, document.clone(), false),
            store.push_small_blob(target.repository, Bytes::from_static(EMPTY_BLOB), false),
        )
        .await?;
        let manifest = layout::listing_manifest(&document, &created);
        match store
            .put_manifest(target.repository, &reference, MEDIA_TYPE_MANIFEST, manifest)
            .await
        {
            Ok(digest) => Ok(digest),
            // A registry that refuses the embedded copy (`data`, OCI 1.1) still takes the
            // manifest without it.
            Err(StorageError::Upstream { status: 400, .. }) => {
                let plain = layout::listing_manifest_without_data(&document, &created);
                Ok(store
                    .put_manifest(target.repository, &reference, MEDIA_TYPE_MANIFEST, plain)
                    .await?)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Removes the document under the legacy tag once the current one holds, when it is
    /// ours (best effort: readers prefer the current tag anyway).
    async fn retire_legacy_document(&self, target: ProjectRef<'_>) {
        let reference = Reference::Tag(layout::legacy_listing_tag());
        let Ok(Some(manifest)) = target
            .store
            .get_manifest(target.repository, &reference)
            .await
        else {
            return;
        };
        let ours = match layout::read_listing_manifest(&manifest.media_type, &manifest.bytes) {
            Ok(_) => true,
            Err(problem) => problem.replaceable(),
        };
        if ours {
            let _ = target
                .store
                .delete_manifest(target.repository, &manifest.digest)
                .await;
        }
    }
}
