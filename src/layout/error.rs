//! The errors of the layout layer.

/// Why something cannot be mapped between the Python and the OCI world.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// A namespace that is not a valid OCI repository path.
    #[error("invalid namespace `{input}`: {reason}")]
    InvalidNamespace {
        /// The namespace as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A version whose tag would exceed the 128 characters OCI allows.
    #[error("version `{0}` is too long to be stored as an OCI tag (at most 128 characters)")]
    VersionTooLong(String),
    /// A repository name that the registry would not accept.
    #[error("project `{project}` in namespace `{namespace}` makes an invalid repository name")]
    InvalidRepository {
        /// The namespace.
        namespace: String,
        /// The project.
        project: String,
    },
    /// A release index that is not the JSON we expect.
    #[error("the release index of `{version}` is malformed: {reason}")]
    MalformedIndex {
        /// The version whose index it is.
        version: String,
        /// What is wrong with it.
        reason: String,
    },
}
