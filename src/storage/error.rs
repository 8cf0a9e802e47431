//! The errors of the storage layer. Messages never carry credentials or raw registry bodies.

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A repository, tag or digest that the OCI grammar does not allow.
    #[error("invalid {kind} `{input}`: {reason}")]
    InvalidReference {
        /// `repository`, `tag` or `digest`.
        kind: &'static str,
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The registry wants credentials, or refused the ones given.
    #[error("registry `{registry}` refused the credentials (or needs some)")]
    Unauthorized {
        /// The registry's origin.
        registry: String,
    },
    /// The credentials are valid but do not allow this operation.
    #[error("registry `{registry}` denied access to `{repository}`")]
    Forbidden {
        /// The registry's origin.
        registry: String,
        /// The repository asked for.
        repository: String,
    },
    /// The registry rate-limited us.
    #[error("registry `{registry}` is rate limiting requests")]
    RateLimited {
        /// The registry's origin.
        registry: String,
        /// Seconds from its `Retry-After`, if any.
        retry_after: Option<u64>,
    },
    /// The registry answered with an unexpected status.
    #[error("registry `{registry}` answered {status} to {operation}{code}")]
    Upstream {
        /// The registry's origin.
        registry: String,
        /// What we asked for.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// The OCI error code from the body, as ` (CODE)`, or empty.
        code: String,
    },
    /// The registry could not be reached.
    #[error("registry `{registry}` is unreachable")]
    Unreachable {
        /// The registry's origin.
        registry: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The registry stopped sending a body it had started (closed early, went silent).
    #[error("registry `{registry}` stopped sending")]
    Interrupted {
        /// The registry's origin.
        registry: String,
        /// What the connection said.
        #[source]
        source: std::io::Error,
    },
    /// The registry did not answer in time.
    #[error("registry `{registry}` timed out")]
    Timeout {
        /// The registry's origin.
        registry: String,
    },
    /// The registry's answer made no sense (bad JSON, missing header, wrong digest).
    #[error("registry `{registry}` sent an invalid response: {reason}")]
    InvalidResponse {
        /// The registry's origin.
        registry: String,
        /// What was wrong.
        reason: String,
    },
    /// The registry origin is not allowed, or resolves to an address we must not contact.
    #[error("registry `{registry}` is not allowed: {reason}")]
    NotAllowed {
        /// The registry as named.
        registry: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client cannot be built (no TLS roots, ...).
    #[error("cannot build the HTTP client of the registries")]
    ClientSetup(#[source] reqwest::Error),
    /// The upload session failed on our side (the body stream ended with an error).
    #[error("the upload was interrupted: {0}")]
    UploadAborted(String),
    /// The blob cache could not read or write one of its files.
    #[error("the blob cache cannot use `{path}`")]
    CacheIo {
        /// The file or directory.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The upload spool (`--upload-spool-dir`) could not be set up.
    #[error("the upload spool cannot use `{path}`")]
    SpoolIo {
        /// The directory.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The local store could not read or write one of its files.
    #[error("the local store cannot use `{path}`")]
    Io {
        /// The file or directory, relative to the store's root.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Content of the local store is damaged (bytes that do not match their digest, a file
    /// that is not what its name says).
    #[error("the local store holds corrupted content at `{path}`: {reason}")]
    Corrupted {
        /// The file, relative to the store's root.
        path: String,
        /// What is wrong, naming the digest concerned.
        reason: String,
    },
    /// The bytes of an upload or a manifest do not have the digest they were stored under.
    #[error("the content has digest `{actual}`, not the `{expected}` given")]
    DigestMismatch {
        /// The digest given.
        expected: String,
        /// The digest of the bytes.
        actual: String,
    },
    /// A manifest larger than the store accepts.
    #[error("the manifest is {size} bytes, more than the {limit} bytes allowed")]
    ManifestTooLarge {
        /// Its size.
        size: usize,
        /// The largest size accepted.
        limit: usize,
    },
}
