//! Promotion: copying a release (or one of its files) from one namespace to another, within a
//! registry (blobs are mounted, no bytes move) or across registries and stores (blobs are
//! streamed), keeping digests, core metadata and upload time, recording where and when the
//! copy came from. Idempotent; never overwrites a different file of the same name.

use futures_util::StreamExt as _;

use super::release::ReleaseRef;
use super::update::{Plan, read_release, update_release};
use super::upload::now_rfc3339;
use super::{Caller, Index, IndexError, Location, Target};
use crate::events::EventKind;
use crate::layout::{self, ReleaseIndex, StoredFile};
use crate::packaging::{DistFilename, ProjectName, Sha256, Version};
use crate::storage::oci::{ImageManifest, MEDIA_TYPE_MANIFEST};
use crate::storage::{BlobRequest, Digest, Reference, Repository, StorageError, Store};
use crate::telemetry::Metrics;

/// What to promote.
#[derive(Debug, Clone)]
pub struct Promotion<'a> {
    /// Where the release is.
    pub from: &'a Location,
    /// Where it goes.
    pub to: &'a Location,
    /// The release, or the one file of it, to promote.
    pub release: &'a ReleaseRef,
    /// Delete from the source once copied.
    pub remove_source: bool,
}

/// What a promotion did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromotionReport {
    /// Files copied.
    pub copied: Vec<String>,
    /// Files the destination already had, identical.
    pub already_there: Vec<String>,
    /// Whether the source was removed.
    pub removed_source: bool,
}

/// Both ends of a promotion.
struct Ends {
    source: std::sync::Arc<dyn Store>,
    destination: std::sync::Arc<dyn Store>,
    source_repository: Repository,
    destination_repository: Repository,
    same_store: bool,
}

impl Index {
    /// Promotes a release or a file.
    ///
    /// # Errors
    /// [`IndexError::VersionNotFound`] / [`IndexError::FileNotFound`] for what the source lacks;
    /// [`IndexError::FileExists`] when the destination has a different file of one of the
    /// names: every file is checked before any is copied, so the destination is left as it
    /// was; storage errors.
    pub async fn promote(
        &self,
        source_caller: &Caller,
        destination_caller: &Caller,
        promotion: &Promotion<'_>,
    ) -> Result<PromotionReport, IndexError> {
        let release = promotion.release;
        let (version, filename) = (&release.version, release.filename());
        if promotion.to.target == Target::Local {
            self.verify_local_user(destination_caller).await;
        }
        let ends = self.ends(source_caller, destination_caller, promotion)?;
        let tag = layout::tag_for(version)?;
        let version_text = version.to_string();
        let (index, files) = source_files(&ends, &tag, version, &release.project, filename).await?;
        let source = format!("{}/{}:{tag}", promotion.from.target, ends.source_repository);
        // Every file is checked against the destination before anything is copied, so that a
        // refusal leaves the destination as it was.
        let current = read_release(
            ends.destination.as_ref(),
            &ends.destination_repository,
            &tag,
            version,
        )
        .await?
        .map(|(current, _)| current);
        let (to_copy, already_there) =
            check_destination(current.as_ref(), &release.project, &version_text, files)?;
        if !to_copy.is_empty() {
            super::status::refuse_closed_project(
                ends.destination.as_ref(),
                &ends.destination_repository,
                &release.project,
            )
            .await?;
        }
        let mut report = PromotionReport {
            already_there,
            ..PromotionReport::default()
        };
        for file in &to_copy {
            let entry = index
                .entry(&release.project, &version_text, &file.filename)
                .ok_or_else(|| IndexError::FileNotFound {
                    filename: file.filename.clone(),
                })?;
            self.promote_file(
                &ends,
                &tag,
                version,
                (&file.filename, &file.sha256),
                layout::promoted_entry(entry, &source, &now_rfc3339()),
            )
            .await?;
            report.copied.push(file.filename.clone());
        }
        self.changed(
            &ends.destination,
            promotion.to,
            &release.project,
            Some(&tag),
        )?;
        if promotion.remove_source {
            self.delete(source_caller, promotion.from, release).await?;
            report.removed_source = true;
        }
        tracing::info!(
            oci.repository = %ends.destination_repository,
            "promoted {} file(s) of `{}` {version_text} from {source}",
            report.copied.len(),
            &release.project
        );
        let from = super::notify::place(promotion.from);
        self.notify(
            promotion.to,
            EventKind::Promote,
            (&release.project, &version_text),
            |event| {
                let files = report.copied.iter().chain(&report.already_there).cloned().collect();
                event
                    .with_files(files)
                    .with_detail(
                        "from",
                        serde_json::json!({ "registry": from.registry, "namespace": from.namespace }),
                    )
                    .with_detail("copied", report.copied.clone())
                    .with_detail("already_there", report.already_there.clone())
                    .with_detail("moved", report.removed_source)
            },
        );
        Ok(report)
    }

    /// Copies one file's blobs and manifest, then adds its entry to the destination release
    /// (refused there too if a different file of that name arrived meanwhile).
    async fn promote_file(
        &self,
        ends: &Ends,
        tag: &crate::storage::Tag,
        version: &Version,
        (filename, sha256): (&str, &Sha256),
        entry: crate::storage::oci::Descriptor,
    ) -> Result<(), IndexError> {
        let destination = ends.destination.as_ref();
        let repository = &ends.destination_repository;
        let manifest_digest = Digest::parse(&entry.digest)?;
        let manifest = ends
            .source
            .get_manifest(
                &ends.source_repository,
                &Reference::Digest(manifest_digest.clone()),
            )
            .await?
            .ok_or_else(|| IndexError::FileNotFound {
                filename: filename.to_owned(),
            })?;
        let parsed: ImageManifest =
            serde_json::from_slice(&manifest.bytes).map_err(|_| StorageError::InvalidResponse {
                registry: ends.source.location(),
                reason: format!("the manifest of `{filename}` is not an image manifest"),
            })?;
        for blob in std::iter::once(&parsed.config).chain(&parsed.layers) {
            copy_blob(ends, &Digest::parse(&blob.digest)?, &self.metrics).await?;
        }
        let reference = Reference::Digest(manifest_digest.clone());
        destination
            .put_manifest(
                repository,
                &reference,
                MEDIA_TYPE_MANIFEST,
                manifest.bytes.clone(),
            )
            .await?;
        if entry
            .annotations
            .contains_key(layout::ANNOTATION_PROVENANCE)
        {
            // The attestations go along: the same object, referring to the same manifest.
            super::provenance::copy_provenance(
                (ends.source.as_ref(), &ends.source_repository),
                (destination, repository),
                &manifest_digest,
            )
            .await?;
        }
        let owned = (filename.to_owned(), sha256.clone());
        let project = DistFilename::parse(filename)?.name().clone();
        let version_text = version.to_string();
        let decide = move |current: Option<&ReleaseIndex>| {
            if let Some(existing) = current.and_then(|i| i.file(&project, &version_text, &owned.0))
            {
                if existing.sha256 == owned.1 {
                    return Ok(Plan::Done);
                }
                return Err(IndexError::FileExists {
                    filename: owned.0.clone(),
                    existing_sha256: existing.sha256,
                });
            }
            let created = entry
                .annotations
                .get(layout::ANNOTATION_CREATED)
                .cloned()
                .unwrap_or_default();
            let mut index = current
                .cloned()
                .unwrap_or_else(|| ReleaseIndex::new(&created));
            index.upsert(entry.clone());
            Ok(Plan::Put(index))
        };
        update_release(&self.locks, destination, repository, tag, version, decide).await?;
        Ok(())
    }

    /// Both ends of `promotion` as the callers reach them: an upload token's policy
    /// credential on both sides when its policy allows the promotion; else the source
    /// readable (writable for a move) and the destination writable.
    fn ends(
        &self,
        source_caller: &Caller,
        destination_caller: &Caller,
        promotion: &Promotion<'_>,
    ) -> Result<Ends, IndexError> {
        let (source, destination) = match (source_caller, destination_caller) {
            (Caller::Publisher(grant), _) | (_, Caller::Publisher(grant)) => {
                let store = self.promotion_stores(grant, promotion)?;
                (std::sync::Arc::clone(&store), store)
            }
            // A move deletes from the source: it must be writable before anything is copied.
            _ => (
                if promotion.remove_source {
                    self.writable(source_caller, promotion.from)?
                } else {
                    self.store(source_caller, promotion.from)?
                },
                self.writable(destination_caller, promotion.to)?,
            ),
        };
        Ok(Ends {
            source,
            destination,
            source_repository: layout::repository(
                &promotion.from.namespace,
                &promotion.release.project,
            )?,
            destination_repository: layout::repository(
                &promotion.to.namespace,
                &promotion.release.project,
            )?,
            same_store: promotion.from.target == promotion.to.target,
        })
    }
}

/// The source release and the files of it to promote: all, or the one named.
///
/// # Errors
/// [`IndexError::VersionNotFound`] / [`IndexError::FileNotFound`] for what the source lacks.
async fn source_files(
    ends: &Ends,
    tag: &crate::storage::Tag,
    version: &Version,
    project: &ProjectName,
    filename: Option<&str>,
) -> Result<(ReleaseIndex, Vec<StoredFile>), IndexError> {
    let version_text = version.to_string();
    let (index, _) = read_release(ends.source.as_ref(), &ends.source_repository, tag, version)
        .await?
        .ok_or_else(|| IndexError::VersionNotFound {
            project: project.to_string(),
            version: version_text.clone(),
        })?;
    let mut files = index.files(project, &version_text);
    if let Some(name) = filename {
        files.retain(|f| f.filename == name);
        if files.is_empty() {
            return Err(IndexError::FileNotFound {
                filename: name.to_owned(),
            });
        }
    }
    Ok((index, files))
}

/// Splits the files to promote into those to copy and the names of those the destination
/// already has, identical.
///
/// # Errors
/// [`IndexError::FileExists`] when the destination has a different file of one of the names.
fn check_destination(
    current: Option<&ReleaseIndex>,
    project: &ProjectName,
    version_text: &str,
    files: Vec<StoredFile>,
) -> Result<(Vec<StoredFile>, Vec<String>), IndexError> {
    let mut to_copy = Vec::new();
    let mut already_there = Vec::new();
    for file in files {
        match current.and_then(|c| c.file(project, version_text, &file.filename)) {
            None => to_copy.push(file),
            Some(existing) if existing.sha256 == file.sha256 => already_there.push(file.filename),
            Some(existing) => {
                return Err(IndexError::FileExists {
                    filename: file.filename,
                    existing_sha256: existing.sha256,
                });
            }
        }
    }
    Ok((to_copy, already_there))
}

/// Makes a blob present at the destination: nothing when it already is, a mount within one
/// store, otherwise a streamed copy verified against its digest.
async fn copy_blob(ends: &Ends, digest: &Digest, metrics: &Metrics) -> Result<(), IndexError> {
    let destination = ends.destination.as_ref();
    if destination
        .blob_exists(&ends.destination_repository, digest)
        .await?
    {
        return Ok(());
    }
    if ends.same_store
        && destination
            .mount_blob(
                &ends.destination_repository,
                &ends.source_repository,
                digest,
            )
            .await?
    {
        metrics.record_blob_copy("mount");
        return Ok(());
    }
    metrics.record_blob_copy("stream");
    let not_found = || StorageError::InvalidResponse {
        registry: ends.source.location(),
        reason: format!("blob `{digest}` is missing"),
    };
    let download = ends
        .source
        .get_blob(&ends.source_repository, digest, BlobRequest::default())
        .await?
        .ok_or_else(not_found)?;
    let mut upload = destination
        .start_upload(&ends.destination_repository)
        .await?;
    let mut body = download.body;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => upload.write(chunk).await?,
            Err(error) => {
                upload.cancel().await;
                return Err(error.into());
            }
        }
    }
    // The destination checks the bytes against the digest before committing.
    upload.commit(digest).await?;
    Ok(())
}
