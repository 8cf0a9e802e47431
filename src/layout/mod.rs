//! The mapping between the two worlds, and the only module that speaks both vocabularies:
//! project → repository, version → tag, release → image index, file → image manifest whose
//! layer is the file, file metadata → annotations. Pure: no I/O.
//!
//! The layout is PyOCI's (so registries holding PyOCI-published packages are served as they
//! are, and PyOCI can read what we write), with PEP 503 names and reversible tags for every
//! PEP 440 version. docs/design.md is the contract.
//!
//! A file's sha256 ([`Sha256`](crate::packaging::Sha256), hex) and the OCI digest of its blob
//! ([`Digest`](crate::storage::Digest), `sha256:<hex>`) convert into each other with `From`
//! (implemented here, the only module that knows both).

mod annotations;
mod entry;
mod error;
mod file;
mod listing;
mod naming;
mod provenance;
mod release;
mod reserved;
mod sha256;
mod status;

pub use annotations::*;
pub use entry::{ProjectUrls, Promotion, StoredFile};
pub use error::LayoutError;
pub use file::{FileManifest, NewFile, file_manifest, promoted_entry, with_core_metadata};
pub use listing::{
    ANNOTATION_LISTING, ANNOTATION_LISTING_DIGEST, ARTIFACT_TYPE_LISTING, LEGACY_LISTING_TAG,
    LISTING_SCHEMA, LISTING_TAG, ListedTag, ListingManifest, ListingProblem, MEDIA_TYPE_LISTING,
    ProjectListing, legacy_listing_tag, listing_index, listing_manifest,
    listing_manifest_without_data, listing_tag, read_listing_manifest,
};
pub use naming::{Namespace, namespace_of, project_of, repository, tag_for, version_of};
pub use provenance::{
    ANNOTATION_PROVENANCE, ARTIFACT_TYPE_PROVENANCE, MEDIA_TYPE_PROVENANCE_LAYER,
    provenance_manifest, provenance_referrers, record_provenance, referrers_tag, subject_of,
    with_referrer, without_referrer,
};
pub use release::ReleaseIndex;
pub use status::{
    ANNOTATION_STATUS, ANNOTATION_STATUS_REASON, ARTIFACT_TYPE_STATUS, LEGACY_STATUS_TAG,
    STATUS_TAG, legacy_status_tag, read_status_manifest, status_index, status_manifest, status_tag,
};
