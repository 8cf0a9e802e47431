//! The errors of the index layer: what went wrong, in terms a package-index user understands.

use crate::layout::LayoutError;
use crate::packaging::{PackagingError, Sha256};
use crate::storage::StorageError;

/// Why an index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Bad input: a name, version, filename or form field.
    #[error(transparent)]
    Packaging(#[from] PackagingError),
    /// A namespace, or a version that cannot be stored.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The registry refused or failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The URL names a registry this server does not serve.
    #[error("registry `{registry}` is not served here: {reason}")]
    RegistryNotAllowed {
        /// The registry segment of the URL.
        registry: String,
        /// Why.
        reason: String,
    },
    /// The namespace's upstream index failed.
    #[error(transparent)]
    Upstream(#[from] crate::upstream::UpstreamError),
    /// An upstream file whose bytes do not hash to the sha256 its upstream page gives: not
    /// served, not cached.
    #[error(
        "upstream sent `{filename}` with sha256 `{computed}`, not the `{expected}` its page lists"
    )]
    UpstreamFileMismatch {
        /// The filename.
        filename: String,
        /// The sha256 upstream's page gives.
        expected: Sha256,
        /// The sha256 of the bytes received.
        computed: Sha256,
    },
    /// A pull-through cache was asked of a namespace that has none.
    #[error("`{namespace}` has no upstream cache: give it in `--upstreams` and `--upstream-cache`")]
    NoUpstreamCache {
        /// `<registry>/<namespace>`.
        namespace: String,
    },
    /// The project has no releases in this namespace.
    #[error("project `{project}` was not found in `{namespace}`")]
    ProjectNotFound {
        /// The normalized project name.
        project: String,
        /// The namespace.
        namespace: String,
    },
    /// The project's status (PEP 792) forbids new files.
    #[error(
        "project `{project}` is {status} and takes no new files{}",
        reason_suffix(reason)
    )]
    ProjectClosed {
        /// The project.
        project: String,
        /// Its status (`archived`, `quarantined`).
        status: &'static str,
        /// Why, as its maintainers wrote it (possibly empty).
        reason: String,
    },
    /// Attestations (PEP 740) that do not check out.
    #[error(transparent)]
    Attestation(#[from] crate::packaging::attestation::AttestationError),
    /// Attestations signed by someone else than the trusted publisher of the upload token.
    #[error("invalid attestations: signed by {found}, but this upload token is for {expected}")]
    AttestationSigner {
        /// Who signed.
        found: String,
        /// Who minted the upload token.
        expected: String,
    },
    /// The release does not exist.
    #[error("version `{version}` of `{project}` was not found")]
    VersionNotFound {
        /// The project.
        project: String,
        /// The version.
        version: String,
    },
    /// The file does not exist.
    #[error("file `{filename}` was not found")]
    FileNotFound {
        /// The filename.
        filename: String,
    },
    /// A different file with this name is already stored.
    #[error(
        "File already exists: `{filename}` is stored with sha256 `{existing_sha256}`; files cannot be replaced, publish a new version instead"
    )]
    FileExists {
        /// The filename.
        filename: String,
        /// The sha256 of the stored file.
        existing_sha256: Sha256,
    },
    /// The release already has a different sdist.
    #[error(
        "release `{version}` already has the sdist `{existing}`: only one sdist may be uploaded per release"
    )]
    SecondSdist {
        /// The release.
        version: String,
        /// The sdist it has.
        existing: String,
    },
    /// A tag named like the release holds something that is not a Python release.
    #[error(
        "tag `{tag}` already holds content that is not a Python release; refusing to overwrite it"
    )]
    ForeignTag {
        /// The tag.
        tag: String,
    },
    /// A digest sent in the form does not match the uploaded bytes.
    #[error("the `{field}` sent (`{sent}`) does not match the uploaded file's (`{computed}`)")]
    DigestMismatch {
        /// The form field.
        field: &'static str,
        /// The value sent.
        sent: String,
        /// The value computed.
        computed: String,
    },
    /// A digest field came after the file part, when the bytes were already streamed on
    /// unhashed (digests are computed on the way, for the fields sent before `content`).
    #[error(
        "the `{field}` field came after the file content, so it could not be checked; send digest fields before `content`"
    )]
    DigestAfterContent {
        /// The form field.
        field: &'static str,
    },
    /// The file's content is not what its name says (not a zip, no metadata, other name).
    #[error("`{filename}` is not a valid distribution: {reason}")]
    InvalidDistribution {
        /// The filename.
        filename: String,
        /// What is wrong.
        reason: String,
    },
    /// The uploaded file has no bytes.
    #[error("the uploaded file `{filename}` is empty")]
    EmptyFile {
        /// The filename.
        filename: String,
    },
    /// The upload has no `content` file part.
    #[error("the upload has no file: send it as the form part `content` with a filename")]
    MissingContent,
    /// The body is larger than the configured limit.
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// `:action` is one that PyPI retired.
    #[error("`:action` = `{0}` is no longer supported: upload files with `file_upload`")]
    Retired(String),
    /// The request body could not be read to the end.
    #[error("the upload body could not be read: {0}")]
    BodyIncomplete(String),
    /// An upload body that is not a usable form (the reason, naming the bad value).
    #[error("{0}")]
    BadForm(String),
    /// Every upload place is taken (`--max-concurrent-uploads`).
    #[error(
        "too many uploads in progress (at most {limit} at once, `--max-concurrent-uploads`); try again shortly"
    )]
    Busy {
        /// The limit.
        limit: usize,
    },
    /// An upload token from trusted publishing used for another registry or namespace.
    #[error(
        "this upload token (trusted publisher `{publisher}`) may publish only to {allowed}, not to `{requested}`"
    )]
    PublisherNamespace {
        /// The trust policy.
        publisher: String,
        /// The registry and namespace of the request.
        requested: String,
        /// Where it may publish.
        allowed: String,
    },
    /// An upload token from trusted publishing used for a project its policy does not name.
    #[error(
        "this upload token (trusted publisher `{publisher}`) may not publish project `{project}`: it may publish {allowed} (the policy's `projects`)"
    )]
    PublisherProject {
        /// The trust policy.
        publisher: String,
        /// The project of the upload.
        project: String,
        /// The projects it may publish.
        allowed: String,
    },
    /// An upload token from trusted publishing used for a promotion its policy does not
    /// allow.
    #[error(
        "this upload token (trusted publisher `{publisher}`) may not make {requested}: its policy's `promotions` allow {allowed} (never a move)"
    )]
    PublisherPromotion {
        /// The trust policy.
        publisher: String,
        /// What was asked.
        requested: String,
        /// The promotions allowed.
        allowed: String,
    },
    /// An upload token from trusted publishing used for anything but an upload.
    #[error(
        "this upload token (trusted publisher `{publisher}`) allows uploads only; use registry credentials to read, delete or yank"
    )]
    PublisherUploadOnly {
        /// The trust policy.
        publisher: String,
    },
    /// Nobody may write to the local store: the server listens beyond loopback and the
    /// operator named no writers.
    #[error(
        "writes to the local store are turned off: this server listens on `{listen}`, beyond loopback, with no `--local-users`; give it an htpasswd file of writers with `--local-users`, or let anyone write with `--local-allow-anonymous-writes`"
    )]
    LocalWritesRefused {
        /// The address the server listens on.
        listen: String,
    },
    /// The local store needs one of its users, and the caller is none.
    #[error(
        "the local store needs the username and password of one of its users (`--local-users`) to {action}"
    )]
    LocalCredentials {
        /// `read` or `write`.
        action: &'static str,
    },
    /// Concurrent writers kept overwriting each other's release index.
    #[error("release `{version}` is being changed by other uploads at the same time; retry")]
    Contended {
        /// The release.
        version: String,
    },
}

/// `: <reason>` when there is one.
fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {}", crate::packaging::shown(reason))
    }
}
