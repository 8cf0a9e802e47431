//! Pure Python packaging: project names (PEP 503), versions (PEP 440), distribution filenames
//! (wheel and sdist), file sha256s, and the upload form's metadata. Synchronous, no I/O, and
//! knows nothing of OCI or HTTP.
//!
//! Specifications:
//! - <https://packaging.python.org/en/latest/specifications/name-normalization/>
//! - <https://packaging.python.org/en/latest/specifications/version-specifiers/>
//! - <https://packaging.python.org/en/latest/specifications/dependency-specifiers/>
//! - <https://packaging.python.org/en/latest/specifications/platform-compatibility-tags/>
//! - <https://packaging.python.org/en/latest/specifications/binary-distribution-format/>
//! - <https://packaging.python.org/en/latest/specifications/source-distribution-format/>
//! - <https://docs.pypi.org/api/upload/>
//! - <https://packaging.python.org/en/latest/specifications/project-status-markers/>
//! - <https://peps.python.org/pep-0740/>

pub mod attestation;
mod error;
mod filename;
mod metadata;
mod name;
mod requirement;
mod sha256;
mod simple;
mod status;
mod tags;
mod upload;
pub mod version;
mod wildcard;

pub use error::{PackagingError, shown};
pub use filename::{DistFilename, DistKind};
#[cfg(test)]
pub(crate) use metadata::testkit;
pub use metadata::{
    CAPTURE_LIMIT, CoreMetadata, MAX_INFLATE_RATIO, MAX_METADATA_SIZE, MIN_INFLATE_ALLOWANCE,
    MetadataCapture, MetadataError, ReleaseDetails, SdistReader, inspect_sdist, inspect_wheel,
};
pub use name::{NamePattern, ProjectName};
pub use requirement::{
    Environment, Marker, Requirement, RequirementError, Specifiers, parse_requirements_file,
};
pub use sha256::Sha256;
pub use simple::{
    CoreMetadataRef, MAX_PAGE_SIZE, SimpleFile, SimplePage, parse_html_page, parse_json_page,
};
pub use status::{MAX_STATUS_REASON, ProjectStatus, StatusMarker};
pub use tags::Target;
pub use upload::{Action, UploadForm, UploadMetadata};
pub use version::{Version, VersionError};
pub use wildcard::wildcard_matches;
