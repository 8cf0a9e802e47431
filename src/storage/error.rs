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
    /// The upload session failed on our side (the body stream ended with an error).
    #[error("the upload was interrupted: {0}")]
    UploadAborted(String),
}
