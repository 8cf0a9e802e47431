//! A small fake OCI registry, only for the faults a real registry will not produce: errors,
//! stalls, truncated or corrupted bodies, malformed JSON, foreign content under a release tag,
//! rate limits, odd authentication challenges and blob redirects to object storage.
//!
//! It serves a minimal OCI distribution API
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md>) from memory: tag
//! lists (paginated [`TAG_PAGE_SIZE`] at a time with `Link: <...>; rel="next"`, as the spec's
//! "Listing Tags" describes), manifests (GET, HEAD, PUT, DELETE), blobs (GET, HEAD) and streamed
//! uploads (POST, PATCH, PUT, DELETE). It starts with ONE release of one project in the layout
//! of docs/design.md: repository [`REPOSITORY`], tag [`TAG`], an image index with one wheel
//! entry ([`FILENAME`], whose bytes are [`file_bytes`]); [`FakeRegistry::add_release`] adds more.
//! Uploads are stored, so the server's write protocol can run against it.
//!
//! Each [`Endpoint`] has a [`Fault`] (none by default) and a request counter. The registry runs
//! on `127.0.0.1:<free port>` in its own OS thread with its own tokio runtime, so it outlives
//! the runtime of any one `#[tokio::test]`; it stops when dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use sha2::{Digest as _, Sha256};

use super::background::{self, Background};

/// The namespace of the one project served.
pub const NAMESPACE: &str = "ns";
/// The one project served.
pub const PROJECT: &str = "demo";
/// Its repository.
pub const REPOSITORY: &str = "ns/demo";
/// The tag of its one release.
pub const TAG: &str = "1.0";
/// The one file of that release.
pub const FILENAME: &str = "demo-1.0-py3-none-any.whl";
/// Text that [`Fault::ErrorBodyWithSecretText`] puts in its error body, and that must never
/// reach a client.
pub const SECRET_MARKER: &str = "FAKE-REGISTRY-SECRET-3c9e51d0";

const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const ARTIFACT_TYPE: &str = "application/pyoci.package.v1";
/// The most tags one tag-list page holds, whatever `n` the client asks for (registries cap it).
pub const TAG_PAGE_SIZE: usize = 50;
/// The largest request body read (manifests and upload chunks).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// The bytes of [`FILENAME`]: not a real wheel (nothing here unpacks it), but deterministic
/// and long enough to be cut in half.
pub fn file_bytes() -> Bytes {
    release_file_bytes(TAG)
}

/// The bytes of the wheel of [`PROJECT`] `version` ([`file_bytes`] for [`TAG`]).
pub fn release_file_bytes(version: &str) -> Bytes {
    let mut bytes = format!("PK\x03\x04 fake wheel of demo {version}\n").into_bytes();
    bytes.extend((0..4096u32).map(|i| (i.wrapping_mul(31) ^ (i >> 3)) as u8));
    Bytes::from(bytes)
}

/// The filename of the wheel of [`PROJECT`] `version` ([`FILENAME`] for [`TAG`]).
pub fn release_filename(version: &str) -> String {
    wheel_filename(PROJECT, version)
}

/// The filename of the wheel of `project` `version`.
pub fn wheel_filename(project: &str, version: &str) -> String {
    format!("{project}-{version}-py3-none-any.whl")
}

/// The sha256 of [`file_bytes`], hex.
pub fn file_sha256() -> String {
    hex::encode(Sha256::digest(file_bytes()))
}

/// A group of requests a fault can be set on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /v2/<name>/tags/list`
    TagsList,
    /// `GET /v2/<name>/manifests/<reference>`
    ManifestGet,
    /// `HEAD /v2/<name>/manifests/<reference>`
    ManifestHead,
    /// `PUT /v2/<name>/manifests/<reference>`
    ManifestPut,
    /// `DELETE /v2/<name>/manifests/<digest>`
    ManifestDelete,
    /// `GET /v2/<name>/blobs/<digest>`
    BlobGet,
    /// `HEAD /v2/<name>/blobs/<digest>`
    BlobHead,
    /// `POST /v2/<name>/blobs/uploads/`
    UploadPost,
    /// `PATCH /v2/<name>/blobs/uploads/<id>`
    UploadPatch,
    /// `PUT /v2/<name>/blobs/uploads/<id>?digest=`
    UploadPut,
    /// `DELETE /v2/<name>/blobs/uploads/<id>`
    UploadDelete,
    /// Anything else (`/v2/`, unknown paths).
    Other,
}

/// What an endpoint does wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: a correct answer.
    #[default]
    None,
    /// This status with this body (as `application/json`).
    Status(u16, String),
    /// Stay silent this long before the correct answer (make it longer than the server's read
    /// timeout).
    Delay(Duration),
    /// The correct headers, `Content-Length` included, but only half of the body before the
    /// connection is cut.
    TruncatedBody,
    /// The correct headers and half of the body, then silence this long, then the rest.
    StallMidBody(Duration),
    /// The correct headers (`Docker-Content-Digest` included) with content of the same length
    /// that does not match the digest.
    WrongDigestBlob,
    /// A successful answer whose body is cut-off JSON (headers kept).
    MalformedJson,
    /// A manifest request by tag, for a tag that exists, answers with a plain container image
    /// manifest.
    PlainContainerImage,
    /// 429 with `Retry-After: <seconds>`.
    RetryAfter(u64),
    /// A registry with a limit on requests at once: each request is held `hold` before its
    /// correct answer, and one that comes while `most` are held is answered 429 (with
    /// `Retry-After: <seconds>` when given).
    Crowded {
        most: usize,
        hold: Duration,
        retry_after: Option<u64>,
    },
    /// 401 with this `WWW-Authenticate`.
    Challenge(String),
    /// 500 whose JSON error body (message, detail, a second error code) holds
    /// [`SECRET_MARKER`].
    ErrorBodyWithSecretText,
    /// On blob GET and HEAD: `307 Temporary Redirect` to this base followed by the blob's
    /// digest (`<base>sha256:<hex>`), as registries that keep blobs in object storage answer.
    /// Other endpoints answer normally.
    RedirectBlob(String),
    /// The inner fault for the next request only; then a correct answer.
    Once(Box<Fault>),
    /// Correct answers to the next `skip` requests, then the inner fault once (the session
    /// a resend opens, after the upload's own).
    After { skip: usize, fault: Box<Fault> },
    /// The inner fault for the next request whose query holds `query` (one blob's commit,
    /// by its `digest=`); other requests are answered correctly meanwhile.
    OnceFor { query: String, fault: Box<Fault> },
    /// On a manifest DELETE by digest: the manifest goes, but the tags on it stay (pointing at
    /// nothing), and the answer is 500, as distribution answers when its tag lookup fails
    /// half-way through a delete. Such a tag stays listed, answers 404, and 304 to an
    /// `If-None-Match` naming the digest it points at.
    HalfDelete,
}

#[derive(Clone)]
struct Stored {
    media_type: String,
    bytes: Bytes,
}

#[derive(Default)]
struct Store {
    /// `(repository, tag or digest)` → manifest.
    manifests: HashMap<(String, String), Stored>,
    /// `(repository, digest)` → blob.
    blobs: HashMap<(String, String), Bytes>,
    /// Upload id → `(repository, bytes so far)`.
    uploads: HashMap<String, (String, Vec<u8>)>,
}

struct Shared {
    faults: Mutex<HashMap<Endpoint, Fault>>,
    counts: Mutex<HashMap<Endpoint, usize>>,
    store: Mutex<Store>,
    next_upload: AtomicUsize,
    /// Whether requests without `Authorization` get a Basic challenge.
    require_auth: AtomicBool,
    /// Whether an image index without manifests is refused.
    refuse_empty_indexes: AtomicBool,
    /// Requests held by [`Fault::Crowded`] now, and the 429s it answered.
    crowded: AtomicUsize,
    refused: AtomicUsize,
    /// Requests per endpoint that carried an `Authorization` header.
    authorized: Mutex<HashMap<Endpoint, usize>>,
    /// The `x-request-id` and `traceparent` of every request (empty when absent), in arrival
    /// order.
    correlation: Mutex<Vec<(String, String)>>,
}

/// The fake registry; stops when dropped.
pub struct FakeRegistry {
    /// First, so that it stops before anything it uses goes.
    server: Background,
    shared: Arc<Shared>,
}

impl FakeRegistry {
    /// Starts the registry with its one release and no faults.
    pub fn start() -> anyhow::Result<FakeRegistry> {
        let shared = Arc::new(Shared {
            faults: Mutex::new(HashMap::new()),
            counts: Mutex::new(HashMap::new()),
            store: Mutex::new(initial_store()?),
            next_upload: AtomicUsize::new(1),
            require_auth: AtomicBool::new(false),
            refuse_empty_indexes: AtomicBool::new(false),
            crowded: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            authorized: Mutex::new(HashMap::new()),
            correlation: Mutex::new(Vec::new()),
        });
        let listener = background::bind("the fake registry")?;
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let server = Background::serve(listener, "fake-registry", app)?;
        Ok(FakeRegistry { shared, server })
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://{}", self.server.address())
    }

    /// `127.0.0.1:PORT`, the registry segment of the server's URLs.
    pub fn host(&self) -> String {
        self.server.address().to_string()
    }

    /// Makes `endpoint` misbehave (until changed or cleared).
    pub fn set_fault(&self, endpoint: Endpoint, fault: Fault) {
        lock(&self.shared.faults).insert(endpoint, fault);
    }

    /// Makes every endpoint behave again.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Requests received so far at `endpoint` (faulty answers included).
    pub fn requests(&self, endpoint: Endpoint) -> usize {
        lock(&self.shared.counts)
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// From now on, answers every request that has no `Authorization` header with 401 and
    /// `WWW-Authenticate: Basic realm="fake"`, as a registry with accounts does (any
    /// credentials are then accepted). Without it the server never needs to send credentials.
    pub fn require_basic_auth(&self) {
        self.shared.require_auth.store(true, Ordering::Relaxed);
    }

    /// From now on, refuses an image index without manifests (400 `MANIFEST_INVALID`), as a
    /// registry may that takes an index only as a list of platform images.
    pub fn refuse_empty_indexes(&self) {
        self.shared
            .refuse_empty_indexes
            .store(true, Ordering::Relaxed);
    }

    /// Requests received so far at `endpoint` that carried an `Authorization` header.
    pub fn authorized_requests(&self, endpoint: Endpoint) -> usize {
        lock(&self.shared.authorized)
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// The `x-request-id` of every request received so far (empty when it had none).
    pub fn request_ids(&self) -> Vec<String> {
        let seen = lock(&self.shared.correlation);
        seen.iter().map(|(id, _)| id.clone()).collect()
    }

    /// The `traceparent` of every request received so far (empty when it had none).
    pub fn traceparents(&self) -> Vec<String> {
        let seen = lock(&self.shared.correlation);
        seen.iter().map(|(_, parent)| parent.clone()).collect()
    }

    /// Adds a release of [`PROJECT`] tagged `version`, laid out like the first one, with one
    /// wheel ([`release_filename`], bytes [`release_file_bytes`]).
    pub fn add_release(&self, version: &str) -> anyhow::Result<()> {
        insert_release(&mut lock(&self.shared.store), PROJECT, version, CREATED)
    }

    /// [`FakeRegistry::add_release`], its file uploaded at `created` (RFC 3339).
    pub fn add_release_at(&self, version: &str, created: &str) -> anyhow::Result<()> {
        insert_release(&mut lock(&self.shared.store), PROJECT, version, created)
    }

    /// Adds project `project` in [`NAMESPACE`], with release [`TAG`] laid out like the first
    /// project's ([`wheel_filename`], bytes [`file_bytes`]).
    pub fn add_project(&self, project: &str) -> anyhow::Result<()> {
        insert_release(&mut lock(&self.shared.store), project, TAG, CREATED)
    }

    /// How many requests [`Fault::Crowded`] answered 429.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Whether `repository` has `tag` (for checking what an upload left behind).
    pub fn has_tag(&self, repository: &str, tag: &str) -> bool {
        lock(&self.shared.store)
            .manifests
            .contains_key(&(repository.to_owned(), tag.to_owned()))
    }

    /// The media type the manifest under `tag` of `repository` was stored with.
    pub fn media_type(&self, repository: &str, tag: &str) -> Option<String> {
        lock(&self.shared.store)
            .manifests
            .get(&(repository.to_owned(), tag.to_owned()))
            .map(|stored| stored.media_type.clone())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn compact(value: &serde_json::Value) -> anyhow::Result<Bytes> {
    Ok(Bytes::from(serde_json::to_vec(value)?))
}

/// The store with its one release.
fn initial_store() -> anyhow::Result<Store> {
    let mut store = Store::default();
    insert_release(&mut store, PROJECT, TAG, CREATED)?;
    Ok(store)
}

/// When the releases of the fake were uploaded, unless told otherwise: long ago.
const CREATED: &str = "2026-01-02T03:04:05Z";

/// A release of `project` in [`NAMESPACE`], uploaded at `created`: the wheel blob, the empty
/// config, the file manifest, the index (by tag and by digest).
fn insert_release(
    store: &mut Store,
    project: &str,
    version: &str,
    created: &str,
) -> anyhow::Result<()> {
    let filename = wheel_filename(project, version);
    let file = release_file_bytes(version);
    let file_digest = digest_of(&file);
    let file_sha256 = hex::encode(Sha256::digest(&file));
    let empty = Bytes::from_static(b"{}");
    let manifest = compact(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": { "mediaType": MEDIA_TYPE_EMPTY, "digest": digest_of(&empty), "size": 2 },
        "layers": [{
            "mediaType": ARTIFACT_TYPE,
            "digest": file_digest,
            "size": file.len(),
            "annotations": { "org.opencontainers.image.title": filename },
        }],
        "annotations": { "org.opencontainers.image.created": created },
    }))?;
    let index = compact(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_INDEX,
        "artifactType": ARTIFACT_TYPE,
        "manifests": [{
            "mediaType": MEDIA_TYPE_MANIFEST,
            "digest": digest_of(&manifest),
            "size": manifest.len(),
            "platform": { "architecture": "py3-none-any.whl", "os": "any" },
            "annotations": {
                "com.pyoci.project_urls": "{}",
                "com.pyoci.sha256_digest": file_sha256,
                "dev.oci-pypi.size": file.len().to_string(),
                "org.opencontainers.image.created": created,
                "org.opencontainers.image.title": filename,
            },
        }],
        "annotations": { "org.opencontainers.image.created": created },
    }))?;
    let repository = format!("{NAMESPACE}/{project}");
    for blob in [file, empty] {
        store
            .blobs
            .insert((repository.clone(), digest_of(&blob)), blob);
    }
    let stored = |media_type: &str, bytes: &Bytes| Stored {
        media_type: media_type.to_owned(),
        bytes: bytes.clone(),
    };
    store.manifests.insert(
        (repository.clone(), digest_of(&manifest)),
        stored(MEDIA_TYPE_MANIFEST, &manifest),
    );
    store.manifests.insert(
        (repository.clone(), digest_of(&index)),
        stored(MEDIA_TYPE_INDEX, &index),
    );
    store.manifests.insert(
        (repository, version.to_owned()),
        stored(MEDIA_TYPE_INDEX, &index),
    );
    Ok(())
}

/// What a request is about.
#[derive(Debug)]
enum Target {
    Tags {
        repository: String,
    },
    Manifest {
        repository: String,
        reference: String,
    },
    Blob {
        repository: String,
        digest: String,
    },
    UploadStart {
        repository: String,
    },
    Upload {
        repository: String,
        id: String,
    },
    Nothing,
}

fn classify(method: &Method, path: &str) -> (Endpoint, Target) {
    let Some(rest) = path.strip_prefix("/v2/") else {
        return (Endpoint::Other, Target::Nothing);
    };
    let owned = |s: &str| s.to_owned();
    let target = if let Some(repository) = rest.strip_suffix("/tags/list") {
        Target::Tags {
            repository: owned(repository),
        }
    } else if let Some((repository, id)) = rest.rsplit_once("/blobs/uploads/") {
        if id.is_empty() {
            Target::UploadStart {
                repository: owned(repository),
            }
        } else {
            Target::Upload {
                repository: owned(repository),
                id: owned(id),
            }
        }
    } else if let Some((repository, reference)) = rest.rsplit_once("/manifests/") {
        Target::Manifest {
            repository: owned(repository),
            reference: owned(reference),
        }
    } else if let Some((repository, digest)) = rest.rsplit_once("/blobs/") {
        Target::Blob {
            repository: owned(repository),
            digest: owned(digest),
        }
    } else {
        Target::Nothing
    };
    let endpoint = match (&target, method.as_str()) {
        (Target::Tags { .. }, "GET") => Endpoint::TagsList,
        (Target::Manifest { .. }, "GET") => Endpoint::ManifestGet,
        (Target::Manifest { .. }, "HEAD") => Endpoint::ManifestHead,
        (Target::Manifest { .. }, "PUT") => Endpoint::ManifestPut,
        (Target::Manifest { .. }, "DELETE") => Endpoint::ManifestDelete,
        (Target::Blob { .. }, "GET") => Endpoint::BlobGet,
        (Target::Blob { .. }, "HEAD") => Endpoint::BlobHead,
        (Target::UploadStart { .. }, "POST") => Endpoint::UploadPost,
        (Target::Upload { .. }, "PATCH") => Endpoint::UploadPatch,
        (Target::Upload { .. }, "PUT") => Endpoint::UploadPut,
        (Target::Upload { .. }, "DELETE") => Endpoint::UploadDelete,
        _ => Endpoint::Other,
    };
    (endpoint, target)
}

/// A complete answer, before a fault may spoil it.
struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, String)>,
    body: Bytes,
}

impl Reply {
    fn new(status: StatusCode) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, content_type: &str, body: Bytes) -> Self {
        self.headers
            .push((header::CONTENT_TYPE, content_type.to_owned()));
        self.body = body;
        self
    }

    fn error(status: StatusCode, code: &str, message: &str) -> Self {
        let body = serde_json::json!({ "errors": [{ "code": code, "message": message }] });
        Self::new(status).body("application/json", Bytes::from(body.to_string()))
    }

    /// The response; for HEAD the body is left out but its length is still announced.
    fn into_response(self, head: bool) -> Response {
        let length = self.body.len();
        let body = if head {
            Body::empty()
        } else {
            Body::from(self.body.clone())
        };
        let mut response = self.headers_onto(Response::new(body));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        response
    }

    /// The response with its full `Content-Length` but half of the body, then a cut.
    /// The first half of the body, then the connection cut, or (with `pause`) the second
    /// half after that long.
    fn into_truncated_response(self, pause: Option<Duration>) -> Response {
        let length = self.body.len();
        let half = self.body.slice(..length / 2);
        let rest = self.body.slice(length / 2..);
        // Stages: 0 the first half, 1 the pause then the rest (or the cut), 2 the end.
        let chunks = futures_util::stream::unfold(0u8, move |stage| {
            let (half, rest) = (half.clone(), rest.clone());
            async move {
                match (stage, pause) {
                    (0, _) => Some((Ok::<Bytes, std::io::Error>(half), 1)),
                    (1, Some(pause)) => {
                        tokio::time::sleep(pause).await;
                        Some((Ok(rest), 2))
                    }
                    (1, None) => {
                        // Let the first half reach the client before the connection is cut.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Some((Err(std::io::Error::other("truncated on purpose")), 2))
                    }
                    _ => None,
                }
            }
        });
        let mut response = self.headers_onto(Response::new(Body::from_stream(chunks)));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        response
    }

    fn headers_onto(&self, mut response: Response) -> Response {
        for (name, value) in &self.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                response.headers_mut().append(name.clone(), value);
            }
        }
        response
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().clone();
    let head = method == Method::HEAD;
    let (endpoint, target) = classify(&method, request.uri().path());
    let by_tag = matches!(&target, Target::Manifest { reference, .. } if !reference.contains(':'));
    *lock(&shared.counts).entry(endpoint).or_insert(0) += 1;
    let correlation = ["x-request-id", "traceparent"].map(|name| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    });
    let [request_id, traceparent] = correlation;
    lock(&shared.correlation).push((request_id, traceparent));
    if request.headers().contains_key(header::AUTHORIZATION) {
        *lock(&shared.authorized).entry(endpoint).or_insert(0) += 1;
    } else if shared.require_auth.load(Ordering::Relaxed) {
        return Reply::error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
        )
        .header(header::WWW_AUTHENTICATE, "Basic realm=\"fake\"")
        .into_response(head);
    }
    let fault = {
        let mut faults = lock(&shared.faults);
        match faults.get(&endpoint).cloned().unwrap_or_default() {
            Fault::Once(inner) => {
                faults.remove(&endpoint);
                *inner
            }
            Fault::After { skip: 0, fault } => {
                faults.remove(&endpoint);
                *fault
            }
            Fault::After { skip, fault } => {
                faults.insert(
                    endpoint,
                    Fault::After {
                        skip: skip - 1,
                        fault,
                    },
                );
                Fault::None
            }
            Fault::OnceFor { query, fault } => {
                let query_holds = request.uri().query().is_some_and(|q| q.contains(&query));
                if !query_holds {
                    Fault::None
                } else {
                    faults.remove(&endpoint);
                    *fault
                }
            }
            fault => fault,
        }
    };
    if let Some(reply) = fault_reply(&fault) {
        // The request is read to its end before the answer, as the real registry does: an
        // answer sent while a PATCH body is still coming, then the connection closed, makes
        // the server's write fail (EPIPE) before it can read the answer, a race between the
        // two that would make these tests flaky (the status mapping is what they check).
        let _ = axum::body::to_bytes(request.into_body(), MAX_BODY).await;
        return reply.into_response(head);
    }
    if let (Fault::RedirectBlob(base), Target::Blob { digest, .. }) = (&fault, &target) {
        return Reply::new(StatusCode::TEMPORARY_REDIRECT)
            .header(header::LOCATION, format!("{base}{digest}"))
            .into_response(head);
    }
    if let Fault::Delay(delay) = &fault {
        tokio::time::sleep(*delay).await;
    }
    if let Fault::Crowded {
        most,
        hold,
        retry_after,
    } = &fault
    {
        if shared.crowded.fetch_add(1, Ordering::SeqCst) >= *most {
            shared.crowded.fetch_sub(1, Ordering::SeqCst);
            shared.refused.fetch_add(1, Ordering::SeqCst);
            let refused = Reply::error(
                StatusCode::TOO_MANY_REQUESTS,
                "TOOMANYREQUESTS",
                "too many requests at once",
            );
            let refused = match retry_after {
                Some(seconds) => refused.header(header::RETRY_AFTER, seconds.to_string()),
                None => refused,
            };
            return refused.into_response(head);
        }
        tokio::time::sleep(*hold).await;
        shared.crowded.fetch_sub(1, Ordering::SeqCst);
    }
    if let (
        Fault::HalfDelete,
        Target::Manifest {
            repository,
            reference,
        },
    ) = (&fault, &target)
    {
        if method == Method::DELETE {
            lock(&shared.store)
                .manifests
                .remove(&(repository.clone(), reference.clone()));
            return Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "unknown error",
            )
            .into_response(head);
        }
    }
    let reply = shared.serve(target, request).await;
    match fault {
        Fault::TruncatedBody if !head => reply.into_truncated_response(None),
        Fault::StallMidBody(pause) if !head => reply.into_truncated_response(Some(pause)),
        Fault::WrongDigestBlob if reply.status.is_success() => corrupt(reply).into_response(head),
        Fault::MalformedJson if reply.status.is_success() => malformed(reply).into_response(head),
        Fault::PlainContainerImage if reply.status.is_success() && by_tag => {
            plain_image().into_response(head)
        }
        _ => reply.into_response(head),
    }
}

/// The answer of a fault that replaces the real answer altogether.
fn fault_reply(fault: &Fault) -> Option<Reply> {
    match fault {
        Fault::Status(status, body) => Some(
            Reply::new(StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                .body("application/json", Bytes::from(body.clone())),
        ),
        Fault::RetryAfter(seconds) => Some(
            Reply::error(
                StatusCode::TOO_MANY_REQUESTS,
                "TOOMANYREQUESTS",
                "slow down",
            )
            .header(header::RETRY_AFTER, seconds.to_string()),
        ),
        Fault::Challenge(challenge) => Some(
            Reply::error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "authentication required",
            )
            .header(header::WWW_AUTHENTICATE, challenge.clone()),
        ),
        Fault::ErrorBodyWithSecretText => {
            let body = serde_json::json!({ "errors": [
                {
                    "code": "UNKNOWN",
                    "message": format!("database password is {SECRET_MARKER}"),
                    "detail": { "dsn": format!("postgres://admin:{SECRET_MARKER}@db/registry") },
                },
                { "code": SECRET_MARKER, "message": SECRET_MARKER },
            ]});
            Some(
                Reply::new(StatusCode::INTERNAL_SERVER_ERROR)
                    .header(HeaderName::from_static("x-debug"), SECRET_MARKER)
                    .body("application/json", Bytes::from(body.to_string())),
            )
        }
        _ => None,
    }
}

/// Same length, other bytes: every byte flipped.
fn corrupt(mut reply: Reply) -> Reply {
    reply.body = reply.body.iter().map(|b| !b).collect::<Vec<u8>>().into();
    reply
}

/// The first half of the body, which for JSON is never JSON.
fn malformed(mut reply: Reply) -> Reply {
    let half = reply.body.len() / 2;
    let cut = reply.body.slice(..half);
    reply.body = if cut.is_empty() {
        Bytes::from_static(b"{\"schemaVersion\": 2, \"manifests\": [")
    } else {
        cut
    };
    reply.headers.retain(|(name, _)| {
        name != HeaderName::from_static("docker-content-digest") && name != header::ETAG
    });
    let digest = digest_of(&reply.body);
    reply.header(HeaderName::from_static("docker-content-digest"), digest)
}

/// A plain container image manifest (what `docker push` leaves under a tag).
fn plain_image() -> Reply {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest_of(config),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": format!("sha256:{}", "ab".repeat(32)),
            "size": 1234,
        }],
    });
    let bytes = Bytes::from(manifest.to_string());
    let digest = digest_of(&bytes);
    Reply::new(StatusCode::OK)
        .header(HeaderName::from_static("docker-content-digest"), digest)
        .body(MEDIA_TYPE_MANIFEST, bytes)
}

impl Shared {
    async fn serve(&self, target: Target, request: Request) -> Reply {
        let method = request.method().clone();
        let query = request.uri().query().unwrap_or_default().to_owned();
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let if_none_match = request
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let needs_body = matches!(method, Method::PUT | Method::PATCH);
        let body = if needs_body {
            match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
                Ok(body) => body,
                Err(_) => return Reply::error(StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", ""),
            }
        } else {
            Bytes::new()
        };
        match (target, method.as_str()) {
            (Target::Nothing, _) => {
                Reply::new(StatusCode::OK).body("application/json", "{}".into())
            }
            (Target::Tags { repository }, "GET") => self.tags(&repository, &query),
            (
                Target::Manifest {
                    repository,
                    reference,
                },
                "GET" | "HEAD",
            ) => self.get_manifest(&repository, &reference, if_none_match.as_deref()),
            (
                Target::Manifest {
                    repository,
                    reference,
                },
                "PUT",
            ) => self.put_manifest(&repository, &reference, &content_type, body),
            (
                Target::Manifest {
                    repository,
                    reference,
                },
                "DELETE",
            ) => self.delete_manifest(&repository, &reference),
            (Target::Blob { repository, digest }, "GET" | "HEAD") => {
                self.get_blob(&repository, &digest)
            }
            (Target::UploadStart { repository }, "POST") => self.start_upload(&repository),
            (Target::Upload { repository, id }, "PATCH") => {
                self.append_upload(&repository, &id, &body)
            }
            (Target::Upload { repository, id }, "PUT") => {
                self.commit_upload(&repository, &id, &query, &body)
            }
            (Target::Upload { id, .. }, "DELETE") => {
                lock(&self.store).uploads.remove(&id);
                Reply::new(StatusCode::NO_CONTENT)
            }
            _ => Reply::error(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "not here"),
        }
    }

    /// One page of the tags in lexical order: at most `n` (and [`TAG_PAGE_SIZE`]) of those
    /// after `last`, with a relative `Link` to the next page when more remain.
    fn tags(&self, repository: &str, query: &str) -> Reply {
        let store = lock(&self.store);
        let mut tags: Vec<&str> = store
            .manifests
            .keys()
            .filter(|(name, reference)| name == repository && !reference.contains(':'))
            .map(|(_, reference)| reference.as_str())
            .collect();
        if tags.is_empty() {
            return Reply::error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "no such repository");
        }
        tags.sort_unstable();
        let parameter = |key: &str| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == key)
                .map(|(_, value)| value.into_owned())
        };
        let size = parameter("n")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .map_or(TAG_PAGE_SIZE, |n| n.min(TAG_PAGE_SIZE));
        let last = parameter("last");
        let after: Vec<&str> = tags
            .into_iter()
            .filter(|tag| last.as_deref().is_none_or(|last| *tag > last))
            .collect();
        let page = &after[..after.len().min(size)];
        let body = serde_json::json!({ "name": repository, "tags": page });
        let reply =
            Reply::new(StatusCode::OK).body("application/json", Bytes::from(body.to_string()));
        match page.last() {
            Some(last) if after.len() > page.len() => {
                let last: String = url::form_urlencoded::byte_serialize(last.as_bytes()).collect();
                reply.header(
                    header::LINK,
                    format!("</v2/{repository}/tags/list?n={size}&last={last}>; rel=\"next\""),
                )
            }
            _ => reply,
        }
    }

    /// As distribution: a tag resolves to a digest, `If-None-Match` is compared with it, and
    /// only then is the manifest itself looked up (so a tag left pointing at a deleted
    /// manifest answers 304 to its old digest, 404 otherwise).
    fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
        if_none_match: Option<&str>,
    ) -> Reply {
        let unknown = || {
            Reply::error(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                "manifest unknown",
            )
        };
        let store = lock(&self.store);
        let key = (repository.to_owned(), reference.to_owned());
        let Some(stored) = store.manifests.get(&key).cloned() else {
            return unknown();
        };
        let digest = digest_of(&stored.bytes);
        if if_none_match.is_some_and(|etag| etag.trim_matches('"') == digest) {
            return Reply::new(StatusCode::NOT_MODIFIED)
                .header(HeaderName::from_static("docker-content-digest"), &*digest)
                .header(header::ETAG, format!("\"{digest}\""));
        }
        if !store
            .manifests
            .contains_key(&(repository.to_owned(), digest.clone()))
        {
            return unknown();
        }
        drop(store);
        Reply::new(StatusCode::OK)
            .header(HeaderName::from_static("docker-content-digest"), &*digest)
            .header(header::ETAG, format!("\"{digest}\""))
            .body(&stored.media_type, stored.bytes)
    }

    fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Reply {
        let digest = digest_of(&body);
        if reference.starts_with("sha256:") && reference != digest {
            return Reply::error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "digest mismatch");
        }
        let empty_index = media_type == "application/vnd.oci.image.index.v1+json"
            && serde_json::from_slice::<serde_json::Value>(&body)
                .is_ok_and(|index| index["manifests"].as_array().is_some_and(Vec::is_empty));
        if empty_index && self.refuse_empty_indexes.load(Ordering::Relaxed) {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "MANIFEST_INVALID",
                "an index must list manifests",
            );
        }
        let stored = Stored {
            media_type: media_type.to_owned(),
            bytes: body,
        };
        let mut store = lock(&self.store);
        for key in [reference, digest.as_str()] {
            store
                .manifests
                .insert((repository.to_owned(), key.to_owned()), stored.clone());
        }
        Reply::new(StatusCode::CREATED)
            .header(
                header::LOCATION,
                format!("/v2/{repository}/manifests/{digest}"),
            )
            .header(HeaderName::from_static("docker-content-digest"), digest)
    }

    fn delete_manifest(&self, repository: &str, reference: &str) -> Reply {
        let mut store = lock(&self.store);
        let Some(deleted) = store
            .manifests
            .remove(&(repository.to_owned(), reference.to_owned()))
        else {
            return Reply::error(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                "manifest unknown",
            );
        };
        // Deleting by digest removes every tag pointing at it.
        store
            .manifests
            .retain(|(name, _), stored| name != repository || stored.bytes != deleted.bytes);
        Reply::new(StatusCode::ACCEPTED)
    }

    fn get_blob(&self, repository: &str, digest: &str) -> Reply {
        let key = (repository.to_owned(), digest.to_owned());
        let Some(blob) = lock(&self.store).blobs.get(&key).cloned() else {
            return Reply::error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "blob unknown");
        };
        Reply::new(StatusCode::OK)
            .header(HeaderName::from_static("docker-content-digest"), digest)
            .body("application/octet-stream", blob)
    }

    fn start_upload(&self, repository: &str) -> Reply {
        let id = format!(
            "upload-{}",
            self.next_upload.fetch_add(1, Ordering::Relaxed)
        );
        lock(&self.store)
            .uploads
            .insert(id.clone(), (repository.to_owned(), Vec::new()));
        upload_accepted(repository, &id, 0)
    }

    fn append_upload(&self, repository: &str, id: &str, body: &[u8]) -> Reply {
        let mut store = lock(&self.store);
        let Some((_, bytes)) = store.uploads.get_mut(id) else {
            return Reply::error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "no session");
        };
        bytes.extend_from_slice(body);
        upload_accepted(repository, id, bytes.len())
    }

    fn commit_upload(&self, repository: &str, id: &str, query: &str, body: &[u8]) -> Reply {
        let expected = url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "digest")
            .map(|(_, value)| value.into_owned());
        let mut store = lock(&self.store);
        let Some((_, mut bytes)) = store.uploads.remove(id) else {
            return Reply::error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "no session");
        };
        bytes.extend_from_slice(body);
        let digest = digest_of(&bytes);
        if expected.as_deref() != Some(digest.as_str()) {
            return Reply::error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "digest mismatch");
        }
        store
            .blobs
            .insert((repository.to_owned(), digest.clone()), Bytes::from(bytes));
        Reply::new(StatusCode::CREATED)
            .header(header::LOCATION, format!("/v2/{repository}/blobs/{digest}"))
            .header(HeaderName::from_static("docker-content-digest"), digest)
    }
}

fn upload_accepted(repository: &str, id: &str, received: usize) -> Reply {
    Reply::new(StatusCode::ACCEPTED)
        .header(
            header::LOCATION,
            format!("/v2/{repository}/blobs/uploads/{id}"),
        )
        .header(header::RANGE, format!("0-{}", received.saturating_sub(1)))
        .header(HeaderName::from_static("docker-upload-uuid"), id)
}
