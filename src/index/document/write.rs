//! The write protocol of listing documents: read the document and the tags, decide what the
//! document should say, write it, confirm (docs/design.md, "Listing documents", writing
//! rules).

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use tokio::time::Instant;

use super::ChangedTags;
use crate::index::snapshot::{ProjectRef, read_blob};
use crate::index::update::{CONFIRMATIONS, MAX_ROUNDS, pause};
use crate::index::{Index, IndexError};
use crate::layout::{self, ListedTag, ProjectListing, ReleaseIndex};
use crate::packaging::Version;
use crate::storage::oci::{EMPTY_BLOB, ImageManifest, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::storage::{Digest, Reference, StorageError, Tag, TagChange};

/// Our last change of the listing tag, which the next looks confirm.
struct OurWrite {
    /// When it landed (the store answered).
    landed: Instant,
    /// What the tag points at since (`None`: we removed the document).
    digest: Option<Digest>,
    /// It landed more than the confirmation pause after the round's first read: another
    /// writer's confirmation may have come and gone between, so ours also checks that the
    /// changed tags did not move since.
    slow: bool,
    /// What we wrote (`None`: another writer's document, taken as ours).
    decided: Option<ProjectListing>,
    /// Young releases left behind when another writer's document was taken as ours.
    again: Vec<Tag>,
}

/// What a rewrite of the document did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Rewrite {
    /// Whether it wrote anything.
    pub wrote: bool,
    /// Changed releases that moved again after the document was decided and that it records
    /// as they were (young ones, which readers read from the registry anyway): for another
    /// rewrite.
    pub again: Vec<Tag>,
}

/// How a change of the listing tag went.
enum TagWrite {
    /// Done over what was read, in one step with the check (a store that can check); what
    /// the tag points at now.
    Swapped(Option<Digest>),
    /// Not done: the tag moved since it was read.
    Moved,
    /// Done unconditionally (a registry): to be confirmed.
    Written(Option<Digest>),
}

impl Index {
    /// Brings the document in step with the tags, re-reading the `changed` tags from the
    /// registry, then confirms that the document written holds, at once and after a pause;
    /// when another writer replaced it, merges again.
    ///
    /// A release that changes again after the document was decided is not waited for: the
    /// writer of that change brings it into the document (in this process, the next round of
    /// [`Index::run_rewrites`]), so a release that keeps changing cannot keep this write from
    /// ending. Only one job per project writes in this process (`run_rewrites`), so no lock
    /// is taken: the release locks are for release writers, whose uploads must not wait out
    /// this job's pauses.
    ///
    /// # Errors
    /// Storage errors; [`IndexError::Contended`] when writers keep overwriting each other.
    pub(super) async fn write_document(
        &self,
        target: ProjectRef<'_>,
        changed: &ChangedTags,
    ) -> Result<Rewrite, IndexError> {
        let jitter_key = format!("{}:{}", target.repository, layout::LISTING_TAG);
        let mut confirmations = 0;
        let mut ours: Option<OurWrite> = None;
        let mut backed_off = false;
        let mut legacy = false;
        for round in 0..MAX_ROUNDS {
            let started = Instant::now();
            let Some((current_digest, current)) = self.current_document(target).await? else {
                // Foreign content or a newer server's document: not ours to replace.
                return Ok(Rewrite::default());
            };
            let current = current.as_ref();
            let mut wanted = None;
            if let Some(write) = ours.as_ref().filter(|write| write.digest == current_digest) {
                if write.slow {
                    let decided = self.decide(target, current, changed, &mut legacy);
                    wanted = Some(decided.await?);
                }
                let behind = match &wanted {
                    None => Some(Vec::new()),
                    Some(wanted) if settled(current, wanted) => Some(Vec::new()),
                    Some(wanted) => self.behind_only_where_read(target, current, wanted),
                };
                if let Some(mut behind) = behind {
                    confirmations += 1;
                    if confirmations >= CONFIRMATIONS {
                        // Releases that moved since our read but are young are not written
                        // now (they may keep moving): another rewrite brings them in.
                        behind.extend(write.again.iter().cloned());
                        return Ok(self.finish(target, legacy, true, behind).await);
                    }
                    self.documents.windows.second_look(write.landed).await;
                    continue;
                }
            } else if ours.is_some() && !backed_off {
                // Another writer replaced our document: back off (with jitter), then read
                // again and merge what is there then, so competing writers drift apart.
                self.locks.record_merge();
                tokio::time::sleep(pause(round, &jitter_key)).await;
                backed_off = true;
                continue;
            }
            backed_off = false;
            confirmations = 0;
            let wanted = match wanted {
                Some(wanted) => wanted,
                None => self.decide(target, current, changed, &mut legacy).await?,
            };
            let taken = if settled(current, &wanted) {
                Some(Vec::new())
            } else {
                let decided = ours.as_ref().and_then(|write| write.decided.as_ref());
                decided.and_then(|decided| self.moved_on(target, current, &wanted, decided))
            };
            if let Some(again) = taken {
                if ours.is_none() {
                    return Ok(self.finish(target, legacy, false, Vec::new()).await);
                }
                // The document another writer left says what ours would, or differs only in
                // young releases that moved since we decided (uploads still coming, which
                // another rewrite brings in): confirm it as ours.
                confirmations = 1;
                let landed = Instant::now();
                ours = Some(OurWrite {
                    landed,
                    digest: current_digest,
                    slow: false,
                    decided: None,
                    again,
                });
                self.documents.windows.second_look(landed).await;
                continue;
            }
            match self
                .store_document(target, &wanted, current_digest.as_ref())
                .await?
            {
                TagWrite::Swapped(_) => {
                    return Ok(self.finish(target, legacy, true, Vec::new()).await);
                }
                TagWrite::Moved => self.locks.record_merge(),
                TagWrite::Written(digest) => {
                    let landed = Instant::now();
                    let pause = self.documents.windows.record(started, landed);
                    ours = Some(OurWrite {
                        landed,
                        digest,
                        slow: landed - started > pause,
                        decided: Some(wanted),
                        again: Vec::new(),
                    });
                }
            }
        }
        Err(IndexError::Contended {
            version: layout::LISTING_TAG.to_owned(),
        })
    }

    /// When `current` lists the releases `wanted` does and differs from it only in releases
    /// that readers read from the registry whatever it records (young ones): those releases.
    /// Such a document is as good as `wanted` to any reader until they age; a release that
    /// keeps changing (uploads of a build matrix) is young.
    fn behind_only_where_read(
        &self,
        target: ProjectRef<'_>,
        current: Option<&ProjectListing>,
        wanted: &ProjectListing,
    ) -> Option<Vec<Tag>> {
        let current = current?;
        if current.tags.len() != wanted.tags.len() {
            return None;
        }
        let mut behind = Vec::new();
        for (tag, want) in &wanted.tags {
            let have = current.tags.get(tag)?;
            if have != want {
                if !self.read_past_document(target, tag, have) {
                    return None;
                }
                behind.push(tag.clone());
            }
        }
        Some(behind)
    }

    /// When another writer's document (`current`) differs from `wanted` only in young
    /// releases that also moved since we `decided` ours (uploads still coming to them, the
    /// two writers each a step behind): those releases. Writing again would only start the
    /// same race with the next upload.
    fn moved_on(
        &self,
        target: ProjectRef<'_>,
        current: Option<&ProjectListing>,
        wanted: &ProjectListing,
        decided: &ProjectListing,
    ) -> Option<Vec<Tag>> {
        let behind = self.behind_only_where_read(target, current, wanted)?;
        let moved = |tag: &Tag| decided.tags.get(tag) != wanted.tags.get(tag);
        behind.iter().all(moved).then_some(behind)
    }

    /// [`Index::wanted_document`], noting whether a legacy document is there to retire.
    async fn decide(
        &self,
        target: ProjectRef<'_>,
        current: Option<&ProjectListing>,
        changed: &ChangedTags,
        legacy: &mut bool,
    ) -> Result<ProjectListing, IndexError> {
        let (wanted, has_legacy) = self.wanted_document(target, current, changed).await?;
        *legacy = has_legacy;
        Ok(wanted)
    }

    /// Ends a rewrite once the document holds (retiring a legacy one).
    async fn finish(
        &self,
        target: ProjectRef<'_>,
        legacy: bool,
        wrote: bool,
        again: Vec<Tag>,
    ) -> Rewrite {
        if legacy {
            self.retire_legacy_document(target).await;
        }
        Rewrite { wrote, again }
    }

    /// Writes `wanted` over the document `current` names, or removes that one when no release
    /// is left; deletes the manifest it replaces.
    async fn store_document(
        &self,
        target: ProjectRef<'_>,
        wanted: &ProjectListing,
        current: Option<&Digest>,
    ) -> Result<TagWrite, IndexError> {
        if wanted.tags.is_empty() {
            // No release left: the repository keeps nothing of ours.
            return self.remove_document(target, current).await;
        }
        let written = self.put_document(target, wanted, current).await?;
        if let TagWrite::Swapped(new) | TagWrite::Written(new) = &written {
            if let Some(old) = current.filter(|old| Some(*old) != new.as_ref()) {
                // The superseded manifest is untagged garbage (shown as an "untagged version"
                // by some registries): remove it, best effort.
                let _ = target.store.delete_manifest(target.repository, old).await;
            }
        }
        Ok(written)
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

    /// Stores `listing` under the listing tag, over `expected` (what the tag pointed at when
    /// read). The reserved index form when the document fits in one and the registry takes
    /// it; else the manifest form.
    async fn put_document(
        &self,
        target: ProjectRef<'_>,
        listing: &ProjectListing,
        expected: Option<&Digest>,
    ) -> Result<TagWrite, IndexError> {
        let document = listing.to_bytes(target.repository);
        let created = crate::index::upload::now_rfc3339();
        if let Some(index) = layout::listing_index(&document, &created) {
            match put_listing_tag(target, expected, MEDIA_TYPE_INDEX, index).await {
                Ok(written) => return Ok(written),
                Err(StorageError::Upstream { status: 400, .. }) => {
                    tracing::debug!(oci.repository = %target.repository, "the registry refuses the listing index; storing the manifest form");
                }
                Err(error) => return Err(error.into()),
            }
        }
        let store = target.store;
        futures_util::future::try_join(
            store.push_small_blob(target.repository, document.clone(), false),
            store.push_small_blob(target.repository, Bytes::from_static(EMPTY_BLOB), false),
        )
        .await?;
        let manifest = layout::listing_manifest(&document, &created);
        match put_listing_tag(target, expected, MEDIA_TYPE_MANIFEST, manifest).await {
            Ok(written) => Ok(written),
            // A registry that refuses the embedded copy (`data`, OCI 1.1) still takes the
            // manifest without it.
            Err(StorageError::Upstream { status: 400, .. }) => {
                let plain = layout::listing_manifest_without_data(&document, &created);
                Ok(put_listing_tag(target, expected, MEDIA_TYPE_MANIFEST, plain).await?)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Deletes the document `expected` names (none: there is nothing to delete).
    async fn remove_document(
        &self,
        target: ProjectRef<'_>,
        expected: Option<&Digest>,
    ) -> Result<TagWrite, IndexError> {
        let Some(digest) = expected else {
            return Ok(TagWrite::Written(None));
        };
        let tag = layout::listing_tag();
        let store = target.store;
        Ok(
            match store.delete_tag_if(target.repository, &tag, digest).await? {
                TagChange::Done => TagWrite::Swapped(None),
                TagChange::Moved => TagWrite::Moved,
                TagChange::Unsupported => {
                    store.delete_manifest(target.repository, digest).await?;
                    TagWrite::Written(None)
                }
            },
        )
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

/// Whether the document read says what the one decided would.
fn settled(current: Option<&ProjectListing>, wanted: &ProjectListing) -> bool {
    current == Some(wanted) || (current.is_none() && wanted.tags.is_empty())
}

/// Points the listing tag at the manifest `body`: only while it still points at `expected`
/// where the store can check that in the same step, else unconditionally (to be confirmed).
async fn put_listing_tag(
    target: ProjectRef<'_>,
    expected: Option<&Digest>,
    media_type: &str,
    body: Bytes,
) -> Result<TagWrite, StorageError> {
    let tag = layout::listing_tag();
    let store = target.store;
    let swap = store.put_tag_if(target.repository, &tag, expected, media_type, body.clone());
    match swap.await? {
        TagChange::Done => Ok(TagWrite::Swapped(Some(Digest::of(&body)))),
        TagChange::Moved => Ok(TagWrite::Moved),
        TagChange::Unsupported => {
            let reference = Reference::Tag(tag);
            let digest = store
                .put_manifest(target.repository, &reference, media_type, body)
                .await?;
            Ok(TagWrite::Written(Some(digest)))
        }
    }
}
