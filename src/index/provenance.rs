//! Index-hosted attestations (PEP 740): checking the attestations of an upload, storing the
//! provenance object next to the file (`layout::provenance`), serving it, copying it along
//! with a promoted file and removing it with a deleted one.
//!
//! Specification: <https://peps.python.org/pep-0740/>.

use bytes::Bytes;

use super::{Index, IndexError};
use crate::layout;
use crate::packaging::attestation::{Verified, provenance_object, verify_attestations};
use crate::packaging::{DistFilename, Sha256, UploadForm};
use crate::storage::oci::{Descriptor, EMPTY_BLOB, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::storage::{BlobRequest, Digest, Reference, Repository, Store};

/// Whose signatures an upload's attestations may carry.
#[derive(Debug, Clone)]
pub(super) enum Signer {
    /// Anyone the trust root vouches for (an upload with registry credentials).
    Anyone,
    /// The trusted publisher that minted the upload token: its issuer and identity, when the
    /// token records them.
    Publisher(Option<(String, String)>),
}

/// A provenance object ready to store: its bytes and their digest.
pub(super) struct Provenance {
    pub bytes: Bytes,
    pub digest: Digest,
}

impl Index {
    /// Checks the upload's `attestations` field, when it has one, for `filename` with
    /// `sha256`; the provenance object to store. `signer` is the issuer and identity of the
    /// trusted publisher whose upload token is used, if any: every attestation must name it.
    /// Without a trust root, attestations are ignored.
    ///
    /// # Errors
    /// [`IndexError::Attestation`] for attestations that do not check out;
    /// [`IndexError::AttestationSigner`] for ones signed by someone else than the publisher.
    pub(super) fn check_attestations(
        &self,
        form: &UploadForm,
        filename: &DistFilename,
        sha256: &Sha256,
        signer: &Signer,
    ) -> Result<Option<Provenance>, IndexError> {
        let Some(field) = form.attestations() else {
            return Ok(None);
        };
        let Some(trust) = self.options.attestation_trust.as_deref() else {
            tracing::info!("attestations of `{filename}` ignored: no trust root is configured");
            return Ok(None);
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let verified = verify_attestations(
            field,
            filename.as_str(),
            sha256,
            Some(trust),
            u64::try_from(now).unwrap_or_default(),
        )?;
        if let Signer::Publisher(publisher) = signer {
            check_signer(&verified, publisher.as_ref())?;
        }
        let bytes = Bytes::from(provenance_object(&verified).to_string());
        let digest = Digest::of(&bytes);
        Ok(Some(Provenance { bytes, digest }))
    }
}

/// Every attestation must be signed by the publisher that minted the upload token.
fn check_signer(
    verified: &[Verified],
    signer: Option<&(String, String)>,
) -> Result<(), IndexError> {
    let Some((issuer, identity)) = signer else {
        return Err(IndexError::AttestationSigner {
            found: "an identity".to_owned(),
            expected: "(none recorded in this upload token; mint a new one)".to_owned(),
        });
    };
    for attestation in verified {
        let same_issuer = attestation.issuer.as_deref() == Some(issuer.as_str());
        if !same_issuer || attestation.identity != *identity {
            return Err(IndexError::AttestationSigner {
                found: format!(
                    "{} (issuer {})",
                    crate::packaging::shown(&attestation.identity),
                    crate::packaging::shown(attestation.issuer.as_deref().unwrap_or("none"))
                ),
                expected: format!("{identity} (issuer {issuer})"),
            });
        }
    }
    Ok(())
}

/// Stores `provenance` for the file `filename` whose manifest is described by `entry`: the
/// object as a blob, a manifest with the file's manifest as `subject`, and the referrers tag.
///
/// # Errors
/// Storage errors.
pub(super) async fn store_provenance(
    store: &dyn Store,
    repository: &Repository,
    entry: &Descriptor,
    filename: &str,
    provenance: Bytes,
) -> Result<(), IndexError> {
    futures_util::future::try_join(
        store.push_small_blob(repository, Bytes::from_static(EMPTY_BLOB), false),
        store.push_small_blob(repository, provenance.clone(), false),
    )
    .await?;
    let created = super::clock::now_rfc3339();
    let manifest =
        layout::provenance_manifest(&provenance, layout::subject_of(entry), filename, &created);
    let subject = Digest::parse(&entry.digest)?;
    link_referrer(store, repository, &subject, manifest).await
}

/// Pushes the referrer `manifest` of `subject` by digest and lists it under the referrers
/// tag (read, merge, write: referrers of one file are written by its one upload).
async fn link_referrer(
    store: &dyn Store,
    repository: &Repository,
    subject: &Digest,
    manifest: Bytes,
) -> Result<(), IndexError> {
    let digest = Digest::of(&manifest);
    store
        .put_manifest(
            repository,
            &Reference::Digest(digest),
            MEDIA_TYPE_MANIFEST,
            manifest.clone(),
        )
        .await?;
    let tag = layout::referrers_tag(subject)?;
    let existing = store
        .get_manifest(repository, &Reference::Tag(tag.clone()))
        .await?;
    let index = layout::with_referrer(existing.as_ref().map(|m| m.bytes.as_ref()), &manifest);
    store
        .put_manifest(repository, &Reference::Tag(tag), MEDIA_TYPE_INDEX, index)
        .await?;
    Ok(())
}

/// The provenance manifests listed for the file manifest `subject` (the manifests' bytes).
async fn referrers(
    store: &dyn Store,
    repository: &Repository,
    subject: &Digest,
) -> Result<(Option<Digest>, Vec<Bytes>), IndexError> {
    let tag = layout::referrers_tag(subject)?;
    let Some(index) = store.get_manifest(repository, &Reference::Tag(tag)).await? else {
        return Ok((None, Vec::new()));
    };
    let mut manifests = Vec::new();
    for digest in layout::provenance_referrers(&index.bytes) {
        if let Some(manifest) = store
            .get_manifest(repository, &Reference::Digest(digest))
            .await?
        {
            manifests.push(manifest.bytes);
        }
    }
    Ok((Some(index.digest), manifests))
}

/// Removes the provenance of the file manifest `subject` (after the file is gone): the
/// referrers index and the provenance manifests. Best effort: leftovers are invisible.
pub(super) async fn remove_provenance(
    store: &dyn Store,
    repository: &Repository,
    subject: &Digest,
) {
    let Ok((Some(index), manifests)) = referrers(store, repository, subject).await else {
        return;
    };
    for manifest in manifests {
        let _ = store
            .delete_manifest(repository, &Digest::of(&manifest))
            .await;
    }
    if let Err(error) = store.delete_manifest(repository, &index).await {
        tracing::warn!(oci.repository = %repository, "could not delete a referrers index: {error}");
    }
}

/// Copies the provenance of the file manifest `subject` from one store to another (a
/// promotion): the blobs and manifests, and the referrers tag at the destination.
///
/// # Errors
/// Storage errors.
pub(super) async fn copy_provenance(
    (from, from_repository): (&dyn Store, &Repository),
    (to, to_repository): (&dyn Store, &Repository),
    subject: &Digest,
) -> Result<(), IndexError> {
    let (_, manifests) = referrers(from, from_repository, subject).await?;
    for manifest in manifests {
        let parsed: crate::storage::oci::ImageManifest = serde_json::from_slice(&manifest)
            .map_err(|error| invalid(from, format!("a provenance manifest: {error}")))?;
        for layer in &parsed.layers {
            let digest = Digest::parse(&layer.digest)?;
            let blob = read_small_blob(from, from_repository, &digest).await?;
            to.push_small_blob(to_repository, blob, false).await?;
        }
        to.push_small_blob(to_repository, Bytes::from_static(EMPTY_BLOB), false)
            .await?;
        link_referrer(to, to_repository, subject, manifest).await?;
    }
    Ok(())
}

fn invalid(store: &dyn Store, reason: String) -> IndexError {
    crate::storage::StorageError::InvalidResponse {
        registry: store.location(),
        reason,
    }
    .into()
}

/// The largest provenance object read.
const MAX_PROVENANCE: usize = 4 << 20;

async fn read_small_blob(
    store: &dyn Store,
    repository: &Repository,
    digest: &Digest,
) -> Result<Bytes, IndexError> {
    use futures_util::StreamExt as _;
    let Some(mut blob) = store
        .get_blob(repository, digest, BlobRequest::default())
        .await?
    else {
        return Err(invalid(store, format!("blob `{digest}` is missing")));
    };
    let mut bytes = Vec::new();
    while let Some(chunk) = blob.body.next().await {
        bytes.extend_from_slice(&chunk?);
        if bytes.len() > MAX_PROVENANCE {
            return Err(invalid(store, format!("blob `{digest}` is too large")));
        }
    }
    Ok(Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(identity: &str, issuer: Option<&str>) -> Verified {
        Verified {
            attestation: serde_json::json!({}),
            identity: identity.to_owned(),
            issuer: issuer.map(str::to_owned),
            predicate_type: "https://docs.pypi.org/attestations/publish/v1".to_owned(),
        }
    }

    #[test]
    fn attestations_must_name_the_publisher_of_the_token() {
        const GITHUB: &str = "https://token.actions.githubusercontent.com";
        let identity = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";
        let publisher = (GITHUB.to_owned(), identity.to_owned());
        assert!(check_signer(&[verified(identity, Some(GITHUB))], Some(&publisher)).is_ok());
        let other = "https://github.com/evil/app/.github/workflows/release.yml@refs/tags/v1";
        let error = check_signer(&[verified(other, Some(GITHUB))], Some(&publisher)).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "invalid attestations: signed by {other} (issuer {GITHUB}), but this upload token is for {identity} (issuer {GITHUB})"
            )
        );
        let elsewhere = verified(identity, Some("https://gitlab.com"));
        assert!(check_signer(&[elsewhere], Some(&publisher)).is_err());
        assert!(check_signer(&[verified(identity, None)], Some(&publisher)).is_err());
        // A token that records no publisher identity cannot vouch for any attestation.
        assert!(check_signer(&[verified(identity, Some(GITHUB))], None).is_err());
    }
}
