//! The errors of trusted publishing: a policy file that cannot be used (at startup), an OIDC
//! token that is refused (at `mint-token`), an upload token that is refused (at upload).
//! Messages never carry a token, a password or a secret.

/// Why trusted publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishingError {
    /// A file named in the configuration cannot be read.
    #[error("cannot read {what} `{path}`")]
    ReadFile {
        /// What the file holds (`the trusted publishers file`, `the token secret`, ...).
        what: String,
        /// Its path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The trusted publishers file, or a secret it names, is not usable.
    #[error("trusted publishers file `{path}`: {reason}")]
    InvalidPolicies {
        /// The file.
        path: String,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// The token secret is too short to sign with.
    #[error("the token secret in `{path}` is too short: it needs at least {minimum} bytes")]
    WeakSecret {
        /// The file.
        path: String,
        /// The least accepted length.
        minimum: usize,
    },
    /// No random bytes could be had for a secret or a token id.
    #[error("the operating system gave no random bytes")]
    NoRandomness,
    /// Trusted publishing is not configured on this server.
    #[error(
        "trusted publishing is not enabled on this server (it has no --trusted-publishers file)"
    )]
    NotEnabled,
    /// The body of `mint-token` is not `{"token": "<OIDC token>"}`.
    #[error("the request body must be a JSON object `{{\"token\": \"<OIDC token>\"}}`: {0}")]
    InvalidPayload(String),
    /// The OIDC token is malformed, expired, not for us, or its signature does not verify.
    #[error("the OIDC token was refused: {0}")]
    InvalidToken(String),
    /// The OIDC token is valid but no trust policy matches its claims.
    #[error(
        "no trusted publisher matches this token (issuer `{issuer}`, subject `{subject}`): check the claims of the policies in the trusted publishers file"
    )]
    NoMatchingPublisher {
        /// The token's issuer.
        issuer: String,
        /// The token's `sub` claim.
        subject: String,
    },
    /// The issuer's discovery document or keys could not be fetched.
    #[error("the signing keys of issuer `{issuer}` could not be fetched: {reason}")]
    IssuerUnavailable {
        /// The issuer.
        issuer: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client that fetches issuers' keys cannot be built (no TLS roots, ...).
    #[error("cannot build the HTTP client of the OIDC issuers")]
    ClientSetup(#[source] reqwest::Error),
    /// An upload token that is malformed, tampered with, or signed by another server.
    #[error("the upload token is not valid: {0}")]
    InvalidUploadToken(&'static str),
    /// An upload token past its expiry.
    #[error(
        "the upload token expired at {expired} (unix time); mint a new one through trusted publishing"
    )]
    UploadTokenExpired {
        /// When it expired, in seconds since the epoch.
        expired: u64,
    },
    /// An upload token minted for a trust policy that is no longer configured.
    #[error(
        "the upload token was minted for trusted publisher `{0}`, which is no longer configured"
    )]
    UnknownPublisher(String),
}
