//! A client of the OCI distribution API over reqwest: authentication challenges and tokens,
//! manifests, tags, the catalog, and streamed blob uploads and downloads.
//!
//! Specification: <https://github.com/opencontainers/distribution-spec/blob/main/spec.md>.
//! One [`RegistryClient`] is shared by the whole server (one connection pool, one token cache);
//! a [`Registry`] is that client bound to one registry origin and one caller's credentials.

mod auth;
mod blobs;
mod manifests;
mod tokens;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use tracing::Instrument as _;

pub use auth::{Challenge, RegistryAuth, parse_challenge};
pub use blobs::BlobUpload;

use super::blob_cache::BlobCache;
use super::error::StorageError;
use super::reference::Repository;
use super::spool::SpoolDir;
use super::store::Store;
use crate::net::{Origin, PublicOnlyResolver, Secret, Throttle, read_limited};
use crate::telemetry::Metrics;
use auth::CachedToken;

/// Attempts for a read that meets a transient failure.
const READ_ATTEMPTS: u32 = 3;
/// Times a request answered `429 Too Many Requests` is sent again.
const RATE_LIMITED_RETRIES: u32 = 3;
/// The longest `Retry-After` waited for here; a registry asking for longer is answered
/// `503` with its `Retry-After`, for the client to come back.
const RATE_LIMITED_WAIT_MAX: Duration = Duration::from_secs(2);
/// The longest error body read from a registry (only its OCI error code is kept).
const MAX_ERROR_BODY: usize = 8 * 1024;

/// Time allowed to open a connection to a registry, unless configured otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a registry may stay silent in an answer, unless configured otherwise.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// How the shared client is built.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Refuse every address that is not public (used when no allow-list is configured).
    pub public_addresses_only: bool,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed between two reads of a response (an idle timeout, not a total one).
    pub read_timeout: Duration,
    /// Where registry requests are counted.
    pub metrics: Arc<Metrics>,
    /// Where blobs downloaded whole are kept, to be sent again from disk.
    pub blob_cache: Option<Arc<BlobCache>>,
    /// Where uploads too large to keep in memory are kept until committed, so that a failed
    /// `PATCH` or commit can be sent again.
    pub upload_spool: Option<SpoolDir>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            public_addresses_only: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            metrics: Arc::default(),
            blob_cache: None,
            upload_spool: None,
        }
    }
}

/// What an operation needs from the registry; selects the token scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read manifests, tags and blobs.
    Pull,
    /// Also write them.
    Push,
    /// Delete manifests.
    Delete,
    /// List the repositories of the registry.
    Catalog,
}

impl Access {
    fn scope(self, repository: Option<&Repository>) -> String {
        let name = repository.map_or("", Repository::as_str);
        match self {
            Self::Pull => format!("repository:{name}:pull"),
            Self::Push => format!("repository:{name}:pull,push"),
            Self::Delete => format!("repository:{name}:delete"),
            Self::Catalog => "registry:catalog:*".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    origin: String,
    credentials: String,
    scope: String,
}

/// The server-wide registry client: connection pool, learned challenges and cached tokens.
#[derive(Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    public_addresses_only: bool,
    connect_timeout: Duration,
    read_timeout: Duration,
    blob_cache: Option<Arc<BlobCache>>,
    upload_spool: Option<SpoolDir>,
    /// Origins whose blob answers cannot be spliced (redirects, coded bodies).
    unspliceable: Mutex<HashSet<Origin>>,
    challenges: Mutex<HashMap<String, Challenge>>,
    tokens: Mutex<HashMap<TokenKey, CachedToken>>,
    /// Requests at once to each registry that has answered 429.
    throttles: Mutex<HashMap<Origin, Arc<Throttle>>>,
}

impl RegistryClient {
    /// Builds the shared client.
    ///
    /// # Errors
    /// [`StorageError::InvalidResponse`] if the TLS backend cannot be initialised.
    pub fn new(options: &ClientOptions) -> Result<Arc<Self>, StorageError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("oci-pypi/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .no_proxy();
        if options.public_addresses_only {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        let http = builder.build().map_err(StorageError::ClientSetup)?;
        Ok(Arc::new(Self {
            http,
            metrics: Arc::clone(&options.metrics),
            public_addresses_only: options.public_addresses_only,
            connect_timeout: options.connect_timeout,
            read_timeout: options.read_timeout,
            blob_cache: options.blob_cache.clone(),
            upload_spool: options.upload_spool.clone(),
            unspliceable: Mutex::new(HashSet::new()),
            challenges: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            throttles: Mutex::new(HashMap::new()),
        }))
    }

    fn unspliceable(&self, origin: &Origin) -> bool {
        lock(&self.unspliceable).contains(origin)
    }

    fn remember_unspliceable(&self, origin: &Origin) {
        lock(&self.unspliceable).insert(origin.clone());
    }

    fn throttle(&self, origin: &Origin) -> Arc<Throttle> {
        let mut throttles = lock(&self.throttles);
        Arc::clone(throttles.entry(origin.clone()).or_default())
    }

    /// The client bound to one registry and one caller's credentials.
    #[must_use]
    pub fn registry(self: &Arc<Self>, origin: Origin, auth: RegistryAuth) -> Registry {
        Registry {
            client: Arc::clone(self),
            origin,
            auth,
        }
    }
}

/// One registry, seen with one caller's credentials.
#[derive(Debug, Clone)]
pub struct Registry {
    client: Arc<RegistryClient>,
    origin: Origin,
    auth: RegistryAuth,
}

/// The registry as a [`Store`]; its manifests and blobs are in `manifests.rs` and `blobs.rs`.
#[async_trait]
impl Store for Registry {
    fn location(&self) -> String {
        self.origin.to_string()
    }

    fn credentials_fingerprint(&self) -> String {
        self.auth.fingerprint()
    }

    /// Whether the registry answers at all (`GET /v2/`; a 401 counts as an answer).
    async fn ping(&self) -> Result<(), StorageError> {
        let url = self.url("/v2/");
        let response = self.observe(self.http().get(&url).send().await)?;
        if response.status().is_server_error() {
            return Err(self.unexpected("ping", response).await);
        }
        Ok(())
    }
}

impl Registry {
    /// The registry's origin.
    #[must_use]
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    fn http(&self) -> &reqwest::Client {
        &self.client.http
    }

    /// Sends a request built by `make`, answering an authentication challenge once.
    /// 401 (after the retry), 403 and 429 become errors; other statuses are returned.
    async fn send(
        &self,
        access: Access,
        repository: Option<&Repository>,
        make: &(dyn Fn() -> RequestBuilder + Send + Sync),
    ) -> Result<Response, StorageError> {
        let key = self.token_key(access, repository);
        let header = self.known_authorization(&key).await?;
        let response = self.execute(make, header.as_deref()).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return self.check_denied(response, repository);
        }
        let raw_challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let challenge = parse_challenge(raw_challenge).ok_or_else(|| self.unauthorized())?;
        let Some(header) = self
            .answer_challenge(&challenge, &key, header.is_some())
            .await?
        else {
            // The caller's own token was sent: the registry tells a valid token that does not
            // cover this operation (`insufficient_scope`, RFC 6750) from a bad one.
            let own_token = matches!(self.auth, RegistryAuth::Bearer(_));
            if own_token && raw_challenge.contains("error=\"insufficient_scope\"") {
                return Err(self.forbidden(repository));
            }
            return Err(self.unauthorized());
        };
        // Only a challenge we could answer is worth answering up front next time.
        self.remember_challenge(&challenge);
        let response = self.execute(make, Some(&header)).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            // A token was issued for these credentials but does not cover this operation.
            let identified = !matches!(self.auth, RegistryAuth::Anonymous);
            if identified && matches!(challenge, Challenge::Bearer { .. }) {
                return Err(self.forbidden(repository));
            }
            return Err(self.unauthorized());
        }
        self.check_denied(response, repository)
    }

    /// Sends a request whose body cannot be rebuilt: authorization must already be known
    /// (from an earlier request of the same `access`).
    async fn send_once(
        &self,
        access: Access,
        repository: &Repository,
        request: RequestBuilder,
    ) -> Result<Response, StorageError> {
        let key = self.token_key(access, Some(repository));
        let header = self.known_authorization(&key).await?;
        let request = request.headers(crate::telemetry::outgoing_headers());
        let request = match header {
            Some(value) => request.header(AUTHORIZATION, value),
            None => request,
        };
        // Not held back by the registry's throttle: a streamed body holds its request open
        // as long as it streams, and would hold back every other request with it.
        let result = request.send().await;
        if let Ok(response) = &result {
            self.note_answer(&self.client.throttle(&self.origin), response);
        }
        let response = self.observe(result)?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(self.unauthorized());
        }
        self.check_denied(response, Some(repository))
    }

    /// Tells the registry's throttle how it answered.
    fn note_answer(&self, throttle: &Throttle, response: &Response) {
        if response.status() != StatusCode::TOO_MANY_REQUESTS {
            throttle.passed();
        } else if let Some(limit) = throttle.throttled() {
            tracing::info!(
                registry = %self.origin,
                "the registry answered 429 (too many requests): at most {limit} requests to it at once for now"
            );
        }
    }

    /// Sends one request in a `registry` span (method, path without the query, status).
    async fn execute(
        &self,
        make: &(dyn Fn() -> RequestBuilder + Send + Sync),
        authorization: Option<&str>,
    ) -> Result<Response, StorageError> {
        // Built once here, for the span and to know whether retries are safe.
        let (method, path, idempotent) = make()
            .build()
            .map(|r| {
                let idempotent = matches!(*r.method(), Method::GET | Method::HEAD);
                (
                    r.method().to_string(),
                    r.url().path().to_owned(),
                    idempotent,
                )
            })
            .unwrap_or_default();
        let span = tracing::info_span!("registry", otel.kind = "client", http.method = %method, url.path = %path, http.status = tracing::field::Empty);
        let result = self
            .execute_with_retries(make, authorization, idempotent)
            .instrument(span.clone())
            .await;
        if let Ok(response) = &result {
            span.record("http.status", i64::from(response.status().as_u16()));
        }
        result
    }

    /// Sends one request; reads (`idempotent`: GET, HEAD) that meet a transient server error or
    /// a dropped connection are tried again, a bounded number of times, with a growing pause.
    /// (Manifest deletes have their own repair loop: `delete_manifest`.) Any request answered
    /// `429` is sent again after the registry's short `Retry-After` (the registry did nothing
    /// with it), a bounded number of times, while the registry's [`Throttle`] lowers how many
    /// go at once.
    async fn execute_with_retries(
        &self,
        make: &(dyn Fn() -> RequestBuilder + Send + Sync),
        authorization: Option<&str>,
        idempotent: bool,
    ) -> Result<Response, StorageError> {
        let throttle = self.client.throttle(&self.origin);
        let mut attempt = 0;
        let mut refused = 0;
        loop {
            attempt += 1;
            let mut request = make().headers(crate::telemetry::outgoing_headers());
            if let Some(value) = authorization {
                request = request.header(AUTHORIZATION, value);
            }
            let permit = throttle.acquire().await;
            let result = request.send().await;
            drop(permit);
            if let Ok(response) = &result {
                self.note_answer(&throttle, response);
                if response.status() == StatusCode::TOO_MANY_REQUESTS {
                    let wait = rate_limited_wait(response, refused);
                    match wait.filter(|_| refused < RATE_LIMITED_RETRIES) {
                        Some(wait) => {
                            refused += 1;
                            attempt -= 1;
                            self.client.metrics.record_registry_request("rate_limited");
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        None => return self.observe(result),
                    }
                }
            }
            let transient = match &result {
                Ok(response) => transient_status(response.status()),
                // A timeout is not retried: the registry had its chance, and retrying would
                // multiply the wait.
                Err(error) => !error.is_timeout() && (error.is_connect() || error.is_request()),
            };
            if !(idempotent && transient && attempt < READ_ATTEMPTS) {
                return self.observe(result);
            }
            self.client.metrics.record_registry_request("retried");
            tokio::time::sleep(retry_pause(attempt - 1)).await;
        }
    }

    /// Counts a registry request by outcome and turns transport errors into storage errors.
    fn observe(&self, result: Result<Response, reqwest::Error>) -> Result<Response, StorageError> {
        let outcome = match &result {
            Ok(response) => status_class(response.status()),
            Err(error) if error.is_timeout() => "timeout",
            Err(_) => "error",
        };
        self.client.metrics.record_registry_request(outcome);
        result.map_err(|error| self.transport(error))
    }

    /// Whether the registry asks for credentials before anything: `GET /v2/` without them is
    /// answered 401 (then an anonymous push cannot succeed either).
    ///
    /// # Errors
    /// A [`StorageError`] when it cannot be reached.
    pub async fn demands_credentials(&self) -> Result<bool, StorageError> {
        let url = self.url("/v2/");
        let response = self.execute(&|| self.http().get(&url), None).await?;
        Ok(response.status() == StatusCode::UNAUTHORIZED)
    }

    fn check_denied(
        &self,
        response: Response,
        repository: Option<&Repository>,
    ) -> Result<Response, StorageError> {
        match response.status() {
            StatusCode::FORBIDDEN => Err(self.forbidden(repository)),
            StatusCode::TOO_MANY_REQUESTS => Err(StorageError::RateLimited {
                registry: self.origin.to_string(),
                retry_after: response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok()),
            }),
            _ => Ok(response),
        }
    }

    fn unauthorized(&self) -> StorageError {
        StorageError::Unauthorized {
            registry: self.origin.to_string(),
        }
    }

    fn forbidden(&self, repository: Option<&Repository>) -> StorageError {
        StorageError::Forbidden {
            registry: self.origin.to_string(),
            repository: repository.map_or_else(String::new, ToString::to_string),
        }
    }

    fn invalid(&self, reason: &str) -> StorageError {
        StorageError::InvalidResponse {
            registry: self.origin.to_string(),
            reason: reason.to_owned(),
        }
    }

    fn upstream(&self, operation: &str, status: StatusCode, code: String) -> StorageError {
        StorageError::Upstream {
            registry: self.origin.to_string(),
            operation: operation.to_owned(),
            status: status.as_u16(),
            code,
        }
    }

    /// A transport error, its URL redacted (an upload session's state, a presigned blob
    /// redirect's signature live in the query).
    fn transport(&self, error: reqwest::Error) -> StorageError {
        let error = crate::net::redact_error(error);
        let registry = self.origin.to_string();
        if error.is_timeout() {
            return StorageError::Timeout { registry };
        }
        if self.client.public_addresses_only && error.is_connect() {
            let resolved = std::error::Error::source(&error)
                .map(ToString::to_string)
                .filter(|text| text.contains("no public address"));
            if let Some(reason) = resolved {
                return StorageError::NotAllowed { registry, reason };
            }
        }
        StorageError::Unreachable {
            registry,
            source: error,
        }
    }

    /// Turns an unexpected response into [`StorageError::Upstream`], keeping only the OCI
    /// error code of its body (never the body itself).
    async fn unexpected(&self, operation: &str, response: Response) -> StorageError {
        let status = response.status();
        let code = match read_limited(response, MAX_ERROR_BODY).await {
            Ok(body) => oci_error_code(&body).map_or_else(String::new, |c| format!(" ({c})")),
            Err(_) => String::new(),
        };
        self.upstream(operation, status, code)
    }
}

/// The first `errors[].code` of an OCI error body, if it is a plain identifier.
fn oci_error_code(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = value.get("errors")?.get(0)?.get("code")?.as_str()?;
    let plain = !code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    plain.then(|| code.to_owned())
}

/// The class of a registry answer, as `oci_pypi_registry_requests_total` counts it.
fn status_class(status: StatusCode) -> &'static str {
    if status.is_success() {
        "2xx"
    } else if status.is_redirection() {
        "3xx"
    } else if status.is_client_error() {
        "4xx"
    } else {
        "5xx"
    }
}

/// Whether a registry's answer says it failed for now (it, or a proxy in front of it): worth
/// a new try of a request that is safe to send again.
fn transient_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

/// The pause before the `retry`-th new try (from 0) of a request that failed for now:
/// 100 ms, doubling.
fn retry_pause(retry: u32) -> Duration {
    Duration::from_millis(100 << retry.min(6))
}

/// How long to wait before sending again a request answered 429 for the `refused`-th time:
/// its `Retry-After` in seconds when it has one no longer than [`RATE_LIMITED_WAIT_MAX`]
/// (`None` beyond: not waited for here), else a pause that doubles, with jitter so that the
/// requests of one refused burst do not come back together.
fn rate_limited_wait(response: &Response, refused: u32) -> Option<Duration> {
    let asked = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    wait_after_refusal(asked, refused)
}

/// [`rate_limited_wait`], from the `Retry-After` seconds the registry `asked` for.
fn wait_after_refusal(asked: Option<u64>, refused: u32) -> Option<Duration> {
    use std::hash::BuildHasher as _;
    let jitter = std::collections::hash_map::RandomState::new().hash_one(refused) % 100;
    match asked {
        Some(seconds) => {
            let wait = Duration::from_secs(seconds);
            (wait <= RATE_LIMITED_WAIT_MAX).then(|| wait + Duration::from_millis(jitter))
        }
        None => Some(Duration::from_millis((200 << refused.min(4)) + jitter)),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_plain_error_codes() {
        let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"secret detail"}]}"#;
        assert_eq!(oci_error_code(body).as_deref(), Some("NAME_UNKNOWN"));
        let injected = br#"{"errors":[{"code":"<script>alert(1)</script>"}]}"#;
        assert_eq!(oci_error_code(injected), None);
        assert_eq!(oci_error_code(b"not json"), None);
    }

    #[test]
    fn scopes() {
        let repository = Repository::parse("ns/foo").unwrap();
        assert_eq!(
            Access::Pull.scope(Some(&repository)),
            "repository:ns/foo:pull"
        );
        assert_eq!(
            Access::Push.scope(Some(&repository)),
            "repository:ns/foo:pull,push"
        );
        assert_eq!(
            Access::Delete.scope(Some(&repository)),
            "repository:ns/foo:delete"
        );
        assert_eq!(Access::Catalog.scope(None), "registry:catalog:*");
    }

    fn too_many(retry_after: Option<&str>) -> Response {
        let mut answer = http::Response::builder().status(StatusCode::TOO_MANY_REQUESTS);
        if let Some(value) = retry_after {
            answer = answer.header(reqwest::header::RETRY_AFTER, value);
        }
        Response::from(answer.body(Vec::new()).unwrap())
    }

    #[test]
    fn a_429_is_waited_out_only_when_the_wait_is_short() {
        let jitter = Duration::from_millis(100);
        for (retry_after, refused, from) in [
            (Some("1"), 0, Duration::from_secs(1)),
            (Some(" 2 "), 2, Duration::from_secs(2)),
            (Some("0"), 0, Duration::ZERO),
            // None named (or a date, not read): a pause that doubles.
            (None, 0, Duration::from_millis(200)),
            (None, 1, Duration::from_millis(400)),
            (
                Some("Wed, 21 Oct 2026 07:28:00 GMT"),
                2,
                Duration::from_millis(800),
            ),
        ] {
            let wait = rate_limited_wait(&too_many(retry_after), refused)
                .unwrap_or_else(|| panic!("{retry_after:?} is waited for"));
            assert!(
                wait >= from && wait < from + jitter,
                "{retry_after:?}, refused {refused} times: {wait:?}"
            );
        }
        for long in ["3", "60", "86400"] {
            assert_eq!(rate_limited_wait(&too_many(Some(long)), 0), None, "{long}");
        }
    }
}
