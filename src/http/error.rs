//! The only place an HTTP status is chosen. 4xx bodies say what was wrong (one line); 5xx
//! bodies say which upstream failed, never its raw answer; the cause is logged here, once.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use super::route::RouteError;
use crate::index::IndexError;
use crate::layout::LayoutError;
use crate::publishing::PublishingError;
use crate::storage::StorageError;

/// The realm announced to clients so that pip's keyring and uv's prompts ask for credentials.
pub const REALM: &str = "oci-pypi";

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The path does not route.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The index refused or failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The request itself is unusable (headers, body framing).
    #[error("{0}")]
    BadRequest(String),
    /// The client asked for a format we cannot produce.
    #[error("{0}")]
    NotAcceptable(String),
    /// Trusted publishing refused an OIDC token exchange (answered as PyPI does, in JSON).
    #[error(transparent)]
    TokenExchange(PublishingError),
    /// An upload token from trusted publishing that is not (or no longer) valid.
    #[error(transparent)]
    UploadToken(PublishingError),
    /// A state-changing request that a browser sent from another site (the header that says
    /// so, quoted).
    #[error(
        "cross-site request refused: {0}; state-changing requests are only taken from this server's own origin or from non-browser clients"
    )]
    CrossSite(String),
    /// A web UI page could not be rendered.
    #[error(transparent)]
    Page(crate::web::WebError),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Route(RouteError::BadEncoding(_)) | Self::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Route(RouteError::NotFound(_)) => StatusCode::NOT_FOUND,
            Self::Route(RouteError::MethodNotAllowed(_)) => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Self::Index(error) => index_status(error),
            Self::TokenExchange(error) => token_exchange_status(error),
            Self::UploadToken(_) => StatusCode::UNAUTHORIZED,
            Self::CrossSite(_) => StatusCode::FORBIDDEN,
            Self::Page(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Index(IndexError::Storage(StorageError::RateLimited { retry_after, .. })) => {
                Some(retry_after.unwrap_or(5))
            }
            Self::Index(IndexError::Contended { .. } | IndexError::Busy { .. }) => Some(1),
            _ => None,
        }
    }
}

impl From<crate::web::WebError> for ApiError {
    fn from(error: crate::web::WebError) -> Self {
        match error {
            crate::web::WebError::Index(error) => Self::Index(error),
            other @ crate::web::WebError::Render(_) => Self::Page(other),
        }
    }
}

fn index_status(error: &IndexError) -> StatusCode {
    use IndexError as E;
    match error {
        E::Packaging(_)
        | E::SecondSdist { .. }
        | E::DigestMismatch { .. }
        | E::DigestAfterContent { .. }
        | E::MissingContent
        | E::EmptyFile { .. }
        | E::ProjectClosed { .. }
        | E::Attestation(_)
        | E::AttestationSigner { .. }
        | E::InvalidDistribution { .. }
        | E::BodyIncomplete(_)
        | E::BadForm(_) => StatusCode::BAD_REQUEST,
        E::Layout(LayoutError::MalformedIndex { .. }) => StatusCode::BAD_GATEWAY,
        E::Layout(_) => StatusCode::BAD_REQUEST,
        E::Storage(storage) => storage_status(storage),
        E::RegistryNotAllowed { .. } => StatusCode::FORBIDDEN,
        E::NoUpstreamCache { .. } => StatusCode::BAD_REQUEST,
        E::ProjectNotFound { .. } | E::VersionNotFound { .. } | E::FileNotFound { .. } => {
            StatusCode::NOT_FOUND
        }
        E::FileExists { .. } | E::ForeignTag { .. } => StatusCode::CONFLICT,
        E::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        E::Retired(_) => StatusCode::GONE,
        E::Contended { .. } | E::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        E::Upstream(crate::upstream::UpstreamError::BadUrl(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        E::Upstream(crate::upstream::UpstreamError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
        E::Upstream(_) | E::UpstreamFileMismatch { .. } => StatusCode::BAD_GATEWAY,
        E::PublisherNamespace { .. }
        | E::PublisherProject { .. }
        | E::PublisherPromotion { .. }
        | E::PublisherUploadOnly { .. } => StatusCode::FORBIDDEN,
        E::LocalWritesRefused { .. } => StatusCode::FORBIDDEN,
        E::LocalCredentials { .. } => StatusCode::UNAUTHORIZED,
    }
}

/// PyPI answers every refused exchange with 422; a server without policies has no exchange.
fn token_exchange_status(error: &PublishingError) -> StatusCode {
    use PublishingError as P;
    match error {
        P::NotEnabled => StatusCode::NOT_FOUND,
        P::InvalidPayload(_) | P::InvalidToken(_) | P::NoMatchingPublisher { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        P::IssuerUnavailable { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The `code` of a refused exchange, as PyPI names them.
fn token_exchange_code(error: &PublishingError) -> &'static str {
    use PublishingError as P;
    match error {
        P::NotEnabled => "not-enabled",
        P::InvalidPayload(_) => "invalid-payload",
        P::InvalidToken(_) => "invalid-token",
        P::NoMatchingPublisher { .. } => "invalid-publisher",
        P::IssuerUnavailable { .. } => "issuer-unavailable",
        _ => "server-error",
    }
}

/// `{"message": ..., "errors": [{"code": ..., "description": ...}]}`, PyPI's shape.
fn token_exchange_response(
    status: StatusCode,
    error: &PublishingError,
    message: String,
) -> Response {
    let description = match error {
        PublishingError::IssuerUnavailable { .. } => message,
        _ if status.is_server_error() => {
            "internal error; the cause is in the server log".to_owned()
        }
        _ => message,
    };
    let body = serde_json::json!({
        "message": "Token request failed",
        "errors": [{"code": token_exchange_code(error), "description": description}],
    });
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Why a request was answered with an error, carried on the response to [`log_errors`], which
/// logs it once with the request's span (method, path, request id) around it.
#[derive(Debug, Clone)]
enum LoggedError {
    /// A 4xx: the caller's mistake, logged at `info` with the message the caller got.
    Refused(String),
    /// A 5xx: the whole chain of causes, logged at `error`.
    Failed(String),
}

/// Middleware: logs the error a response was made from, once. 5xx bodies stay short; the
/// cause (every `#[source]` in the chain) goes to the log here, and only here.
pub async fn log_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let status = response.status().as_u16();
    match response.extensions_mut().remove::<LoggedError>() {
        Some(LoggedError::Failed(chain)) => tracing::error!(http.status = status, "{chain}"),
        Some(LoggedError::Refused(message)) => {
            tracing::info!(http.status = status, "refused: {message}");
        }
        None => {}
    }
    response
}

fn storage_status(error: &StorageError) -> StatusCode {
    use StorageError as S;
    match error {
        S::InvalidReference { .. } => StatusCode::BAD_REQUEST,
        S::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
        S::Forbidden { .. } | S::NotAllowed { .. } => StatusCode::FORBIDDEN,
        S::RateLimited { .. } => StatusCode::SERVICE_UNAVAILABLE,
        S::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        S::Upstream { .. }
        | S::Unreachable { .. }
        | S::Interrupted { .. }
        | S::InvalidResponse { .. }
        | S::Corrupted { .. }
        | S::UploadAborted(_) => StatusCode::BAD_GATEWAY,
        S::Io { .. } | S::CacheIo { .. } | S::SpoolIo { .. } | S::ClientSetup(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        S::DigestMismatch { .. } => StatusCode::BAD_REQUEST,
        S::ManifestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.to_string();
        let logged = if status.is_server_error() {
            LoggedError::Failed(crate::telemetry::error_chain(&self))
        } else {
            LoggedError::Refused(message.clone())
        };
        if let Self::TokenExchange(error) = &self {
            let mut response = token_exchange_response(status, error, message);
            response.extensions_mut().insert(logged);
            return response;
        }
        let mut response = (status, format!("{message}\n")).into_response();
        response.extensions_mut().insert(logged);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            let challenge = format!("Basic realm=\"{REALM}\"");
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        if let Some(seconds) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        // Old upload clients show only the reason phrase: put the message there too (PyPI does).
        if status.is_client_error() && message.is_ascii() && message.len() <= 512 {
            if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(message.into_bytes()) {
                response.extensions_mut().insert(reason);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_carries_a_basic_challenge_and_no_secret() {
        let error = ApiError::Index(IndexError::Storage(StorageError::Unauthorized {
            registry: "http://127.0.0.1:5000".to_owned(),
        }));
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Basic realm=\"oci-pypi\""
        );
    }

    #[test]
    fn contention_is_503_with_retry_after() {
        let error = ApiError::Index(IndexError::Contended {
            version: "1.0".to_owned(),
        });
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
    }

    #[test]
    fn upstream_failures_are_gateway_errors_with_their_reason() {
        let (aa, bb) = ("aa".repeat(32), "bb".repeat(32));
        let mismatch = ApiError::Index(IndexError::UpstreamFileMismatch {
            filename: "a-1.0-py3-none-any.whl".to_owned(),
            expected: crate::packaging::Sha256::parse(&aa).unwrap(),
            computed: crate::packaging::Sha256::parse(&bb).unwrap(),
        });
        assert_eq!(mismatch.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            mismatch.to_string(),
            format!(
                "upstream sent `a-1.0-py3-none-any.whl` with sha256 `{bb}`, not the `{aa}` its page lists"
            )
        );
        let status = ApiError::Index(IndexError::Upstream(
            crate::upstream::UpstreamError::Status {
                url: "https://pypi.example/simple/".to_owned(),
                status: 503,
            },
        ));
        assert_eq!(status.status(), StatusCode::BAD_GATEWAY);
    }

    #[test]
    fn conflicts_start_with_file_already_exists() {
        let error = ApiError::Index(IndexError::FileExists {
            filename: "a-1.0.tar.gz".to_owned(),
            existing_sha256: crate::packaging::Sha256::of(b"ab"),
        });
        assert!(error.to_string().starts_with("File already exists"));
        assert_eq!(error.into_response().status(), StatusCode::CONFLICT);
    }
}
