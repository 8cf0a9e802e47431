//! Why webhooks cannot be set up.

/// Why the webhooks file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The file cannot be read.
    #[error("cannot read the webhooks file `{path}`")]
    ReadFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A value in it is wrong; the reason names the line and the field.
    #[error("webhooks file `{path}`: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, where.
        reason: String,
    },
    /// The spool directory cannot be created, written or read.
    #[error("cannot use the webhooks spool `{path}`")]
    Spool {
        /// The directory.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client cannot be built (no TLS roots, ...).
    #[error("cannot build the webhook client")]
    Client(#[source] reqwest::Error),
}
