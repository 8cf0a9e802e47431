//! The names the layout writes and reads: media types and annotation keys. Those starting with
//! `com.pyoci.` are PyOCI's, `org.opencontainers.image.` the OCI pre-defined ones, and
//! `dev.oci-pypi.` ours. docs/design.md is the contract.

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
/// Index-entry annotation on a file of a pull-through cache: the upstream page it was fetched
/// from, credentials masked (oci-pypi).
pub const ANNOTATION_CACHED_FROM: &str = "dev.oci-pypi.cached-from";
/// Index-entry annotation on a file of a pull-through cache: when it was fetched, RFC 3339 UTC
/// (the upload time, `org.opencontainers.image.created`, is upstream's) (oci-pypi).
pub const ANNOTATION_CACHED_AT: &str = "dev.oci-pypi.cached-at";
/// Classifier prefix that becomes a manifest annotation (PyOCI: `PyOCI :: Label :: k :: v`).
pub const LABEL_CLASSIFIER: &str = "PyOCI :: Label :: ";
