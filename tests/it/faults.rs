//! Fault injection: the server in front of a fake registry that fails in ways a real one will
//! not (errors, stalls, cut or corrupted bodies, malformed or foreign content, rate limits,
//! unusable challenges). For a project page, a file download and an upload, every fault must
//! map to the documented status (`src/http/error.rs`), never reflect the registry's body or the
//! caller's credentials, never be a 500, and never take the server down.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use oci_pypi::config::{Config, ListingDocumentsMode};
use oci_pypi::net::Origin;
use reqwest::header::{CONTENT_LENGTH, HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, StatusCode};
use sha2::{Digest as _, Sha256};

use crate::harness::fake_registry::{
    self, Endpoint, FILENAME, FakeRegistry, Fault, NAMESPACE, PROJECT, REPOSITORY, SECRET_MARKER,
    TAG,
};
use crate::harness::{DistSpec, Sandbox, Server, UploadForm, impatient_client};

const USERNAME: &str = "fault-tester";
/// The caller's password: it must never come back in an answer.
const PASSWORD: &str = "pw-FAULTS-never-echo-8d2f61";
/// A stall far beyond the read timeout of the slow cases (the fake is dropped long before).
const STALL: Duration = Duration::from_secs(30);
/// The challenge the server answers 401 with.
const OUR_CHALLENGE: &str = "Basic realm=\"oci-pypi\"";
/// Payload of a wheel that streams: more than the server holds back before it opens the
/// upload's `PATCH` (1 MiB; a smaller file goes up with the `PUT` that commits it).
const STREAMED_PAYLOAD: u64 = 3 << 19;
/// Payload of a wheel larger than the bytes the server keeps to send a refused `PATCH`
/// again (4 MiB).
const UNREPLAYABLE_PAYLOAD: u64 = 6 << 20;

/// The upload-session requests the fake received so far: POST, PATCH, DELETE and PUT.
fn session_requests(rig: &Rig) -> [usize; 4] {
    [
        Endpoint::UploadPost,
        Endpoint::UploadPatch,
        Endpoint::UploadDelete,
        Endpoint::UploadPut,
    ]
    .map(|endpoint| rig.fake.requests(endpoint))
}

/// The upload-session requests between two counts of [`session_requests`].
fn session_delta(before: [usize; 4], after: [usize; 4]) -> [usize; 4] {
    [0, 1, 2, 3].map(|i| after[i] - before[i])
}

/// A registry failing for now: 503 `UNAVAILABLE`.
fn unavailable() -> Fault {
    let body = r#"{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}"#;
    Fault::Status(503, body.to_owned())
}

/// A fake registry and the server in front of it.
struct Rig {
    fake: FakeRegistry,
    server: Server,
    /// The registry segment of the server's URLs.
    host: String,
    client: reqwest::Client,
}

impl Rig {
    async fn start() -> anyhow::Result<Rig> {
        Self::start_with(|_| {}).await
    }

    async fn start_with(configure: impl FnOnce(&mut Config)) -> anyhow::Result<Rig> {
        let fake = FakeRegistry::start()?;
        let origin = fake.origin();
        Self::start_towards(fake, &origin, configure).await
    }

    /// A server whose one registry is `origin` (not necessarily the fake).
    async fn start_towards(
        fake: FakeRegistry,
        origin: &str,
        configure: impl FnOnce(&mut Config),
    ) -> anyhow::Result<Rig> {
        let mut config = Config::for_registries(vec![Origin::parse(origin)?]);
        configure(&mut config);
        Ok(Rig {
            fake,
            server: Server::start(config).await?,
            host: origin.trim_start_matches("http://").to_owned(),
            client: impatient_client()?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}/{path}", self.server.url(), self.host)
    }

    fn authenticate(request: RequestBuilder, authenticated: bool) -> RequestBuilder {
        if authenticated {
            request.basic_auth(USERNAME, Some(PASSWORD))
        } else {
            request
        }
    }

    /// GET of the project page, with credentials.
    async fn page(&self) -> anyhow::Result<Answer> {
        self.page_as(true).await
    }

    async fn page_as(&self, authenticated: bool) -> anyhow::Result<Answer> {
        let request = self
            .client
            .get(self.url(&format!("{NAMESPACE}/{PROJECT}/")));
        self.send("project page", Self::authenticate(request, authenticated))
            .await
    }

    /// GET of the release's one file, with credentials.
    async fn file(&self) -> anyhow::Result<Answer> {
        self.file_as(true).await
    }

    async fn file_as(&self, authenticated: bool) -> anyhow::Result<Answer> {
        let request = self
            .client
            .get(self.url(&format!("{NAMESPACE}/{PROJECT}/{FILENAME}")));
        self.send("file download", Self::authenticate(request, authenticated))
            .await
    }

    /// POST of a small valid wheel of `demo` at `version`, with credentials.
    async fn upload(&self, version: &str) -> anyhow::Result<Answer> {
        self.upload_as(version, true).await
    }

    /// [`Rig::upload`] of a wheel large enough to stream (a `PATCH` before the commit).
    async fn upload_streamed(&self, version: &str) -> anyhow::Result<Answer> {
        let built = wheel(version, Some(STREAMED_PAYLOAD)).await?;
        self.upload_wheel(version, built, true).await
    }

    async fn upload_as(&self, version: &str, authenticated: bool) -> anyhow::Result<Answer> {
        let built = wheel(version, None).await?;
        self.upload_wheel(version, built, authenticated).await
    }

    async fn upload_wheel(
        &self,
        version: &str,
        (filename, bytes): (String, Vec<u8>),
        authenticated: bool,
    ) -> anyhow::Result<Answer> {
        let upload = UploadForm::new(PROJECT, version, &filename, &bytes)
            .field("metadata_version", "2.1")
            .field("filetype", "bdist_wheel")
            .field("pyversion", "py3")
            .sha256();
        let request = self
            .client
            .post(self.url(&format!("{NAMESPACE}/")))
            .multipart(upload.form());
        let what = format!("upload of `{filename}`");
        self.send(&what, Self::authenticate(request, authenticated))
            .await
    }

    /// Sends, reads the whole body (recording a cut instead of failing), and checks that the
    /// answer is clean.
    async fn send(&self, what: &str, request: RequestBuilder) -> anyhow::Result<Answer> {
        let mut response = request.send().await.with_context(|| {
            format!("{what}: no HTTP answer from the server (did a handler panic?)")
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        let mut body_error = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(error) => {
                    body_error = Some(format!("{error:?}"));
                    break;
                }
            }
        }
        let answer = Answer {
            what: what.to_owned(),
            status,
            headers,
            body: Bytes::from(body),
            body_error,
        };
        answer.assert_clean();
        Ok(answer)
    }

    /// Makes the endpoints the three operations reach first misbehave in the same way: the tag
    /// list (page), the release index (file), the upload session (upload).
    fn fail_first_steps(&self, fault: &Fault) {
        for endpoint in [
            Endpoint::TagsList,
            Endpoint::ManifestGet,
            Endpoint::UploadPost,
        ] {
            self.fake.set_fault(endpoint, fault.clone());
        }
    }

    /// After the faults are gone, everything works again (no poisoned cache or state).
    async fn assert_recovers(&self) -> anyhow::Result<()> {
        self.fake.clear_faults();
        self.page().await?.expect(StatusCode::OK).mentions(FILENAME);
        let file = self.file().await?;
        file.expect(StatusCode::OK);
        assert_eq!(file.body, fake_registry::file_bytes(), "{}", file.what);
        self.upload("2.0").await?.expect(StatusCode::OK);
        Ok(())
    }

    /// The server is alive: `/health` answers 200, and its task stops cleanly (a panicked or
    /// failed serve task makes `stop` fail).
    async fn finish(self) -> anyhow::Result<()> {
        let Rig {
            fake,
            server,
            client,
            ..
        } = self;
        let health = client
            .get(format!("{}/health", server.url()))
            .send()
            .await
            .context("the server does not answer /health any more")?;
        anyhow::ensure!(health.status() == StatusCode::OK, "/health: {health:?}");
        drop(client);
        tokio::time::timeout(Duration::from_secs(5), server.stop())
            .await
            .context("the server did not stop within 5 s")?
            .context("the server task failed or panicked")?;
        drop(fake);
        Ok(())
    }
}

/// The three requests every fault is tried on.
#[derive(Debug, Clone, Copy)]
enum Operation {
    Page,
    File,
    Upload,
    StreamedUpload,
}

/// What the server answered.
struct Answer {
    what: String,
    status: StatusCode,
    headers: HeaderMap,
    /// The bytes that arrived.
    body: Bytes,
    /// Why the body stopped before its end, if it did.
    body_error: Option<String>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn expect(&self, expected: StatusCode) -> &Self {
        assert_eq!(self.status, expected, "{}: {}", self.what, self.text());
        self
    }

    fn expect_one_of(&self, expected: &[StatusCode]) -> &Self {
        assert!(
            expected.contains(&self.status),
            "{}: expected one of {expected:?}, got {}: {}",
            self.what,
            self.status,
            self.text()
        );
        self
    }

    fn mentions(&self, text: &str) -> &Self {
        assert!(
            self.text().contains(text),
            "{}: expected `{text}` in: {}",
            self.what,
            self.text()
        );
        self
    }

    fn header(&self, name: reqwest::header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A 401 must ask for credentials the way pip and uv understand, never relay the
    /// registry's challenge.
    fn expect_our_challenge_if_401(&self) -> &Self {
        if self.status == StatusCode::UNAUTHORIZED {
            assert_eq!(
                self.header(WWW_AUTHENTICATE),
                Some(OUR_CHALLENGE),
                "{}",
                self.what
            );
        }
        self
    }

    /// Never a 500; never the registry's secret text or the caller's credentials, in the body
    /// or in a header.
    fn assert_clean(&self) {
        assert_ne!(
            self.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}: {}",
            self.what,
            self.text()
        );
        let basic = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(format!("{USERNAME}:{PASSWORD}"))
        };
        let text = self.text();
        for secret in [SECRET_MARKER, PASSWORD, basic.as_str()] {
            assert!(
                !text.contains(secret),
                "{}: the body leaks `{secret}`: {text}",
                self.what
            );
            for (name, value) in &self.headers {
                let value = String::from_utf8_lossy(value.as_bytes());
                assert!(
                    !value.contains(secret),
                    "{}: header `{name}` leaks `{secret}`",
                    self.what
                );
            }
        }
    }

    /// The body arrived whole: no cut, and as long as announced.
    fn is_complete(&self) -> bool {
        let declared = self
            .header(CONTENT_LENGTH)
            .and_then(|v| v.parse::<usize>().ok());
        self.body_error.is_none() && declared.is_none_or(|n| n == self.body.len())
    }
}

/// A small valid wheel of `demo` (built once per version by `make_dist.py`): its filename and
/// bytes.
async fn wheel(version: &str, payload: Option<u64>) -> anyhow::Result<(String, Vec<u8>)> {
    type Built = (String, Vec<u8>);
    static WHEELS: Mutex<BTreeMap<(String, Option<u64>), Built>> = Mutex::new(BTreeMap::new());
    let key = (version.to_owned(), payload);
    if let Some(hit) = WHEELS.lock().unwrap().get(&key).cloned() {
        return Ok(hit);
    }
    let sandbox = Sandbox::new()?;
    let mut spec = DistSpec::new(PROJECT, version);
    if let Some(payload) = payload {
        spec = spec.payload_bytes(payload);
    }
    let path = sandbox.wheel(&spec).await?;
    let built = (spec.wheel_filename(), std::fs::read(path)?);
    WHEELS.lock().unwrap().insert(key, built.clone());
    Ok(built)
}

/// The faults' fixture itself: with no fault the fake registry serves the page, the file and
/// uploads like a registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_fake_registry_serves_page_file_and_upload() -> anyhow::Result<()> {
    let rig = Rig::start().await?;
    rig.page()
        .await?
        .expect(StatusCode::OK)
        .mentions(FILENAME)
        .mentions(&fake_registry::file_sha256());
    let file = rig.file().await?;
    file.expect(StatusCode::OK);
    assert!(file.is_complete());
    assert_eq!(file.body, fake_registry::file_bytes());
    rig.upload("2.0").await?.expect(StatusCode::OK);
    assert!(rig.fake.has_tag(REPOSITORY, "2.0"));
    rig.page()
        .await?
        .expect(StatusCode::OK)
        .mentions("demo-2.0-py3-none-any.whl");
    rig.upload("2.0")
        .await?
        .expect(StatusCode::OK)
        .mentions("already stored");
    // The canned 1.0 file has other bytes than a fresh wheel of 1.0.
    rig.upload("1.0")
        .await?
        .expect(StatusCode::CONFLICT)
        .mentions("File already exists");
    rig.finish().await
}

/// A file no larger than what the server holds back goes up with the `PUT` that commits it
/// (no `PATCH`: one round trip fewer); a larger one streams in a `PATCH` as it arrives. Both
/// are served back intact, and an upload of a file already stored commits nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_file_goes_up_with_its_commit_and_a_large_one_streams() -> anyhow::Result<()> {
    let rig = Rig::start().await?;
    for (version, payload, patches) in [("2.0", None, 0), ("3.0", Some(STREAMED_PAYLOAD), 1)] {
        let (filename, bytes) = wheel(version, payload).await?;
        let patched = rig.fake.requests(Endpoint::UploadPatch);
        rig.upload_wheel(version, (filename.clone(), bytes.clone()), true)
            .await?
            .expect(StatusCode::OK);
        assert_eq!(
            rig.fake.requests(Endpoint::UploadPatch) - patched,
            patches,
            "PATCHes for {} bytes",
            bytes.len()
        );
        let request = rig
            .client
            .get(rig.url(&format!("{NAMESPACE}/{PROJECT}/{filename}")))
            .basic_auth(USERNAME, Some(PASSWORD));
        let file = rig.send(&filename, request).await?;
        file.expect(StatusCode::OK);
        assert!(file.body == bytes, "{}: other bytes served", file.what);
    }
    let committed = rig.fake.requests(Endpoint::UploadPut);
    rig.upload("2.0")
        .await?
        .expect(StatusCode::OK)
        .mentions("already stored");
    assert_eq!(rig.fake.requests(Endpoint::UploadPut), committed);
    rig.finish().await
}

/// Nothing listens where the registry should be: 502, and the reason names the registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_down_is_502_naming_the_registry() -> anyhow::Result<()> {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let rig = Rig::start_towards(
        FakeRegistry::start()?,
        &format!("http://{dead}"),
        |config| {
            config.registry.connect_timeout = 1;
        },
    )
    .await?;
    let host = dead.to_string();
    rig.page()
        .await?
        .expect(StatusCode::BAD_GATEWAY)
        .mentions(&host);
    rig.file()
        .await?
        .expect(StatusCode::BAD_GATEWAY)
        .mentions(&host);
    rig.upload("2.0")
        .await?
        .expect(StatusCode::BAD_GATEWAY)
        .mentions(&host);
    rig.finish().await
}

/// A registry 500 whose body holds secrets: 502 naming the registry, with none of that body
/// (only the OCI error code may be kept); at every step of a download and an upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_500_is_502_without_its_body() -> anyhow::Result<()> {
    let rig = Rig::start().await?;
    let host = rig.fake.host();
    rig.fail_first_steps(&Fault::ErrorBodyWithSecretText);
    for answer in [
        rig.page().await?,
        rig.file().await?,
        rig.upload("2.0").await?,
    ] {
        answer.expect(StatusCode::BAD_GATEWAY).mentions(&host);
    }
    for endpoint in [
        Endpoint::TagsList,
        Endpoint::ManifestGet,
        Endpoint::UploadPost,
    ] {
        assert!(
            rig.fake.requests(endpoint) > 0,
            "{endpoint:?} never reached"
        );
    }

    // Later steps: a release index behind a good tag list (a release must not silently
    // vanish from the page), the blob, the streamed upload, its commit (with the bytes of a
    // small file, after those of a large one), the file manifest.
    let later = [
        (Endpoint::ManifestGet, Operation::Page),
        (Endpoint::BlobGet, Operation::File),
        (Endpoint::UploadPatch, Operation::StreamedUpload),
        (Endpoint::UploadPut, Operation::Upload),
        (Endpoint::UploadPut, Operation::StreamedUpload),
        (Endpoint::ManifestPut, Operation::Upload),
    ];
    for (endpoint, operation) in later {
        rig.fake.clear_faults();
        rig.fake.set_fault(endpoint, Fault::ErrorBodyWithSecretText);
        let before = rig.fake.requests(endpoint);
        let answer = match operation {
            Operation::Page => rig.page().await?,
            Operation::File => rig.file().await?,
            Operation::Upload => rig.upload("2.0").await?,
            Operation::StreamedUpload => rig.upload_streamed("2.0").await?,
        };
        answer.expect(StatusCode::BAD_GATEWAY).mentions(&host);
        assert!(
            rig.fake.requests(endpoint) > before,
            "{endpoint:?} never reached"
        );
        assert!(
            !rig.fake.has_tag(REPOSITORY, "2.0"),
            "a failed upload left a release behind ({endpoint:?})"
        );
    }
    rig.assert_recovers().await?;
    rig.finish().await
}

/// A registry 503 (and other statuses): 503 and 500 become 502; 403 stays 403; a registry 401
/// with a Basic challenge becomes our own 401 challenge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_statuses_map_to_ours() -> anyhow::Result<()> {
    let rig = Rig::start().await?;
    let body = |code: &str| format!(r#"{{"errors":[{{"code":"{code}","message":"nope"}}]}}"#);
    let cases = [
        (
            Fault::Status(503, body("UNAVAILABLE")),
            StatusCode::BAD_GATEWAY,
        ),
        (
            Fault::Status(500, "plain text".to_owned()),
            StatusCode::BAD_GATEWAY,
        ),
        (Fault::Status(504, String::new()), StatusCode::BAD_GATEWAY),
        (Fault::Status(403, body("DENIED")), StatusCode::FORBIDDEN),
        (
            Fault::Challenge("Basic realm=\"fake-registry\"".to_owned()),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (fault, expected) in cases {
        rig.fail_first_steps(&fault);
        for answer in [
            rig.page().await?,
            rig.file().await?,
            rig.upload("2.0").await?,
        ] {
            answer.expect(expected).expect_our_challenge_if_401();
            if expected == StatusCode::BAD_GATEWAY {
                answer.mentions(&rig.fake.host());
            }
        }
    }
    rig.assert_recovers().await?;
    rig.finish().await
}

/// A registry that stays silent longer than the read timeout: 504, in about the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_registry_is_504() -> anyhow::Result<()> {
    let rig = Rig::start_with(fast_timeouts).await?;
    wheel("2.0", None).await?;
    wheel("2.0", Some(STREAMED_PAYLOAD)).await?;
    rig.fail_first_steps(&Fault::Delay(STALL));
    let started = Instant::now();
    let (page, file, upload) = tokio::join!(rig.page(), rig.file(), rig.upload("2.0"));
    for answer in [page?, file?, upload?] {
        answer
            .expect(StatusCode::GATEWAY_TIMEOUT)
            .mentions(&rig.fake.host());
    }
    // Reads may be tried again after a stall (at most three attempts of one read timeout).
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    rig.assert_recovers().await?;
    rig.finish().await
}

/// Stalls at later steps: the blob download, and the streamed upload then its commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_blob_and_upload_steps_are_504() -> anyhow::Result<()> {
    let rig = Rig::start_with(fast_timeouts).await?;
    wheel("2.0", None).await?;
    wheel("2.0", Some(STREAMED_PAYLOAD)).await?;
    rig.fake.set_fault(Endpoint::BlobGet, Fault::Delay(STALL));
    rig.fake
        .set_fault(Endpoint::UploadPatch, Fault::Delay(STALL));
    let uploads = async {
        let stalled_patch = rig.upload_streamed("2.0").await?;
        rig.fake.set_fault(Endpoint::UploadPatch, Fault::None);
        rig.fake.set_fault(Endpoint::UploadPut, Fault::Delay(STALL));
        let stalled_commit = rig.upload("2.0").await?;
        anyhow::Ok([stalled_patch, stalled_commit])
    };
    let (file, uploads) = tokio::join!(rig.file(), uploads);
    file?.expect(StatusCode::GATEWAY_TIMEOUT);
    for upload in uploads? {
        upload.expect(StatusCode::GATEWAY_TIMEOUT);
    }
    assert!(rig.fake.requests(Endpoint::UploadPut) > 0);
    assert!(!rig.fake.has_tag(REPOSITORY, "2.0"));
    rig.assert_recovers().await?;
    rig.finish().await
}

/// One-second timeouts towards the registry, for the slow cases.
fn fast_timeouts(config: &mut Config) {
    config.registry.read_timeout = 1;
    config.registry.connect_timeout = 1;
}

/// A registry that stalls is given one read timeout, not one per retry: a stall is not a
/// dropped connection, and with the default 60 s read timeout three attempts keep a client
/// (pip gives up after 15 s) and a server task waiting for three minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_reads_are_not_retried() -> anyhow::Result<()> {
    let rig = Rig::start_with(fast_timeouts).await?;
    rig.fake.set_fault(Endpoint::TagsList, Fault::Delay(STALL));
    let started = Instant::now();
    rig.page().await?.expect(StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(rig.fake.requests(Endpoint::TagsList), 1);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    rig.finish().await
}

/// A registry 429 with `Retry-After`: 503 with a `Retry-After` (the registry's seconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_503_with_retry_after() -> anyhow::Result<()> {
    let rig = Rig::start().await?;
    rig.fail_first_steps(&Fault::RetryAfter(7));
    let first = [
        rig.page().await?,
        rig.file().await?,
        rig.upload("2.0").await?,
    ];
    rig.fake.clear_faults();
    rig.fake.set_fault(Endpoint::BlobGet, Fault::RetryAfter(7));
    rig.fake
        .set_fault(Endpoint::UploadPatch, Fault::RetryAfter(7));
    let later = [rig.file().await?, rig.upload_streamed("2.0").await?];
    for answer in first.iter().chain(&later) {
        answer.expect(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.header(RETRY_AFTER), Some("7"), "{}", answer.what);
    }
    rig.assert_recovers().await?;
    rig.finish().await
}

/// A registry that refuses requests beyond a few at once (429 without `Retry-After`, as
/// registries answer under their rate limits): a page of PyOCI's data, one GET per release and
/// many at once, is still served whole. The server lowers how many it sends at once, so the
/// next page meets less than half as many refusals. A registry that asks for a long wait is not waited for:
/// 503 with its `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_refusing_crowds_still_gets_whole_pages() -> anyhow::Result<()> {
    let rig = Rig::start_with(|config| {
        // One GET per release at every page: no document is written, none kept.
        config.listing.listing_documents = ListingDocumentsMode::Read;
        config.listing.listing_cache_ttl = 0;
    })
    .await?;
    let versions: Vec<String> = (1..=40).map(|n| format!("1.{n}")).collect();
    for version in &versions {
        rig.fake.add_release(version)?;
    }
    // Each accepted GET is held long enough for all 40 of a page to arrive while the first
    // are held, even on a loaded machine: with 20 ms, a slow first page met few refusals and
    // lowered the limit little, and the second could meet as many (45 against 39).
    let crowded = |most, retry_after| Fault::Crowded {
        most,
        hold: Duration::from_millis(100),
        retry_after,
    };
    rig.fake.set_fault(Endpoint::ManifestGet, crowded(4, None));
    let page = rig.page().await?;
    page.expect(StatusCode::OK).mentions(FILENAME);
    for version in &versions {
        page.mentions(&fake_registry::release_filename(version));
    }
    let first = rig.fake.refused();
    assert!(
        first > 0,
        "the page's reads went all at once: some were refused"
    );

    let page = rig.page().await?;
    page.expect(StatusCode::OK);
    for version in &versions {
        page.mentions(&fake_registry::release_filename(version));
    }
    let second = rig.fake.refused() - first;
    assert!(
        second * 2 < first,
        "the second page met {second} refusals, the first {first}: not half as many"
    );

    rig.fake
        .set_fault(Endpoint::ManifestGet, crowded(0, Some(9)));
    let long = rig.page().await?;
    long.expect(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(long.header(RETRY_AFTER), Some("9"));
    rig.assert_recovers().await?;
    rig.finish().await
}

/// A registry that asks for a short wait (429 with `Retry-After: 1`, once) at every step of an
/// upload that sends no streamed bytes (the release index read, the upload session, its
/// commit with the bytes, the file manifest and the release index written): each step is
/// tried again after the wait, and the upload succeeds, whole. The same 429 to the streamed
/// `PATCH` of a file of a few MiB is sent again with all its bytes; past the 4 MiB the server
/// keeps, they are gone: 503 with the registry's `Retry-After`, and nothing is tagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_rate_limits_during_an_upload_are_waited_out() -> anyhow::Result<()> {
    let rig = Rig::start().await?;
    let steps = [
        Endpoint::ManifestGet,
        Endpoint::UploadPost,
        Endpoint::UploadPut,
        Endpoint::ManifestPut,
    ];
    let before: Vec<usize> = steps.iter().map(|&e| rig.fake.requests(e)).collect();
    for endpoint in steps {
        rig.fake
            .set_fault(endpoint, Fault::Once(Box::new(Fault::RetryAfter(1))));
    }
    rig.upload("2.0").await?.expect(StatusCode::OK);
    for (endpoint, before) in steps.iter().zip(before) {
        let sent = rig.fake.requests(*endpoint) - before;
        assert!(
            sent >= 2,
            "{endpoint:?}: {sent} requests; the 429 was not met and tried again"
        );
    }
    assert!(rig.fake.has_tag(REPOSITORY, "2.0"));
    let page = rig.page().await?;
    page.expect(StatusCode::OK)
        .mentions(&fake_registry::release_filename("2.0"));

    // A streamed PATCH refused with 429 is sent again whole while the server still has all
    // its bytes (the fake checks the committed blob against its digest).
    rig.fake.clear_faults();
    let patches = rig.fake.requests(Endpoint::UploadPatch);
    rig.fake.set_fault(
        Endpoint::UploadPatch,
        Fault::Once(Box::new(Fault::RetryAfter(1))),
    );
    rig.upload_streamed("2.1").await?.expect(StatusCode::OK);
    assert_eq!(rig.fake.requests(Endpoint::UploadPatch) - patches, 2);
    assert!(rig.fake.has_tag(REPOSITORY, "2.1"));

    // Past what is kept, the bytes are gone: the refusal reaches the client, nothing is
    // tagged.
    let patches = rig.fake.requests(Endpoint::UploadPatch);
    rig.fake.set_fault(
        Endpoint::UploadPatch,
        Fault::Once(Box::new(Fault::RetryAfter(1))),
    );
    let built = wheel("2.2", Some(UNREPLAYABLE_PAYLOAD)).await?;
    let streamed = rig.upload_wheel("2.2", built, true).await?;
    streamed.expect(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(streamed.header(RETRY_AFTER), Some("1"));
    assert_eq!(rig.fake.requests(Endpoint::UploadPatch) - patches, 1);
    assert!(!rig.fake.has_tag(REPOSITORY, "2.2"));
    rig.assert_recovers().await?;
    rig.finish().await
}

/// A streamed `PATCH` or a commit that fails (503, once) is sent again whole in a new upload
/// session while the upload is small enough for the server to have kept its bytes (4 MiB),
/// and the failed session is discarded; the fake checks the committed blob against its
/// digest. Past that, the failure reaches the client (502) and nothing is tagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_upload_patches_and_commits_are_sent_again() -> anyhow::Result<()> {
    let rig = Rig::start().await?;
    let unavailable_once = || Fault::Once(Box::new(unavailable()));
    let (count, delta) = (session_requests, session_delta);

    let mut healthy = BTreeMap::new();
    for (version, payload) in [("2.3", Some(STREAMED_PAYLOAD)), ("2.6", None)] {
        let before = count(&rig);
        let built = wheel(version, payload).await?;
        rig.upload_wheel(version, built, true)
            .await?
            .expect(StatusCode::OK);
        healthy.insert(payload.is_some(), delta(before, count(&rig)));
    }
    let [post, patch, delete, put] = healthy[&true];

    // A failed PATCH: one more session and one more PATCH than a healthy upload, and the
    // failed session discarded.
    let before = count(&rig);
    rig.fake
        .set_fault(Endpoint::UploadPatch, unavailable_once());
    rig.upload_streamed("2.1").await?.expect(StatusCode::OK);
    assert_eq!(
        delta(before, count(&rig)),
        [post + 1, patch + 1, delete + 1, put],
        "a failed PATCH (a healthy upload: {healthy:?})"
    );

    // A failed commit: one more session and one more commit, with the whole blob (a small
    // file has no PATCH: its bytes go with the commit; a streamed one is committed with none).
    for (version, payload) in [("2.4", None), ("2.5", Some(STREAMED_PAYLOAD))] {
        let [post, patch, delete, put] = healthy[&payload.is_some()];
        let before = count(&rig);
        let built = wheel(version, payload).await?;
        rig.fake.set_fault(Endpoint::UploadPut, unavailable_once());
        rig.upload_wheel(version, built, true)
            .await?
            .expect(StatusCode::OK);
        assert_eq!(
            delta(before, count(&rig)),
            [post + 1, patch, delete + 1, put + 1],
            "{version}: a failed commit (a healthy upload: {healthy:?})"
        );
    }
    let page = rig.page().await?;
    page.expect(StatusCode::OK);
    for version in ["2.1", "2.4", "2.5"] {
        assert!(rig.fake.has_tag(REPOSITORY, version));
        page.mentions(&fake_registry::release_filename(version));
    }

    let before = count(&rig);
    rig.fake
        .set_fault(Endpoint::UploadPatch, unavailable_once());
    let built = wheel("2.2", Some(UNREPLAYABLE_PAYLOAD)).await?;
    let answer = rig.upload_wheel("2.2", built, true).await?;
    answer
        .expect(StatusCode::BAD_GATEWAY)
        .mentions(&rig.fake.host());
    assert_eq!(rig.fake.requests(Endpoint::UploadPatch) - before[1], 1);
    assert!(!rig.fake.has_tag(REPOSITORY, "2.2"));
    rig.assert_recovers().await?;
    rig.finish().await
}

/// With an upload spool (`--upload-spool-dir`), an upload too large for the server to keep
/// in memory (past 4 MiB) is kept on disk until committed: a `PATCH` failed (503, once) is
/// sent again whole in a new session, one refused with a short 429 in the same session, and a
/// failed commit is followed by the whole blob in a `PATCH` to a new session, then committed;
/// a new session the registry fails to open is one more failed try, not the end. The fake
/// checks each committed blob against its digest. The spool's files have no name:
/// the directory stays empty. A registry that keeps failing still ends the upload with 502,
/// and nothing is tagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_uploads_are_sent_again_from_the_upload_spool() -> anyhow::Result<()> {
    let spool = tempfile::tempdir()?;
    let spool_dir = spool.path().join("spool");
    let configured = spool_dir.clone();
    let rig = Rig::start_with(|config| config.registry.upload_spool_dir = Some(configured)).await?;
    let (count, delta) = (session_requests, session_delta);
    let owned = rig;
    let rig = &owned;
    let upload = |version: &'static str| async move {
        let built = wheel(version, Some(UNREPLAYABLE_PAYLOAD)).await?;
        rig.upload_wheel(version, built, true).await
    };

    let before = count(rig);
    upload("3.0").await?.expect(StatusCode::OK);
    let [post, patch, delete, put] = delta(before, count(rig));

    let cases = [
        (
            "3.1",
            Endpoint::UploadPatch,
            Fault::Once(Box::new(unavailable())),
            [post + 1, patch + 1, delete + 1, put],
        ),
        (
            "3.2",
            Endpoint::UploadPatch,
            Fault::Once(Box::new(Fault::RetryAfter(1))),
            [post, patch + 1, delete, put],
        ),
        (
            "3.3",
            Endpoint::UploadPut,
            // The file's commit, not the config blob's (which goes up alongside).
            Fault::OnceFor {
                query: hex::encode(Sha256::digest(
                    wheel("3.3", Some(UNREPLAYABLE_PAYLOAD)).await?.1,
                )),
                fault: Box::new(unavailable()),
            },
            [post + 1, patch + 1, delete + 1, put + 1],
        ),
    ];
    for (version, endpoint, fault, expected) in cases {
        let before = count(rig);
        rig.fake.set_fault(endpoint, fault);
        upload(version).await?.expect(StatusCode::OK);
        assert_eq!(
            delta(before, count(rig)),
            expected,
            "{version}: {endpoint:?} (a healthy upload: {:?})",
            [post, patch, delete, put]
        );
        assert!(rig.fake.has_tag(REPOSITORY, version), "{version}");
    }
    let page = rig.page().await?;
    page.expect(StatusCode::OK);
    for version in ["3.0", "3.1", "3.2", "3.3"] {
        page.mentions(&fake_registry::release_filename(version));
    }

    // The session a resend opens fails too (a registry coming back from a restart): that is
    // one more failed try, and the next one goes through. The upload's own two sessions are
    // opened before its PATCH.
    for (version, step) in [("3.5", Endpoint::UploadPatch), ("3.6", Endpoint::UploadPut)] {
        let before = count(rig);
        rig.fake.set_fault(
            Endpoint::UploadPost,
            Fault::After {
                skip: 2,
                fault: Box::new(unavailable()),
            },
        );
        let fault = match step {
            Endpoint::UploadPut => Fault::OnceFor {
                query: hex::encode(Sha256::digest(
                    wheel(version, Some(UNREPLAYABLE_PAYLOAD)).await?.1,
                )),
                fault: Box::new(unavailable()),
            },
            _ => Fault::Once(Box::new(unavailable())),
        };
        rig.fake.set_fault(step, fault);
        upload(version).await?.expect(StatusCode::OK);
        let sessions = delta(before, count(rig))[0] - post;
        assert_eq!(
            sessions, 2,
            "{version}: a failed session open, then a good one"
        );
        assert!(rig.fake.has_tag(REPOSITORY, version), "{version}");
    }

    let before = count(rig);
    rig.fake.set_fault(Endpoint::UploadPatch, unavailable());
    upload("3.4")
        .await?
        .expect(StatusCode::BAD_GATEWAY)
        .mentions(&rig.fake.host());
    assert_eq!(rig.fake.requests(Endpoint::UploadPatch) - before[1], 4);
    assert!(!rig.fake.has_tag(REPOSITORY, "3.4"));
    let left: Vec<_> = std::fs::read_dir(&spool_dir)?.collect();
    assert!(left.is_empty(), "files left in the spool: {left:?}");
    rig.assert_recovers().await?;
    owned.finish().await
}

/// A blob cut short: the client must see a failed download, never a complete 200 with the
/// wrong bytes. Cut tag lists and manifests are 502.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_bodies_fail_visibly() -> anyhow::Result<()> {
    let rig = Rig::start().await?;
    rig.fake.set_fault(Endpoint::BlobGet, Fault::TruncatedBody);
    let file = rig.file().await?;
    if file.status == StatusCode::OK {
        assert!(
            !file.is_complete(),
            "a cut blob was served as a complete 200 ({} bytes, Content-Length {:?})",
            file.body.len(),
            file.header(CONTENT_LENGTH)
        );
        assert_ne!(file.body, fake_registry::file_bytes());
    } else {
        file.expect(StatusCode::BAD_GATEWAY);
    }

    rig.fake.clear_faults();
    rig.fake.set_fault(Endpoint::TagsList, Fault::TruncatedBody);
    rig.page().await?.expect(StatusCode::BAD_GATEWAY);
    rig.fake.clear_faults();
    rig.fake
        .set_fault(Endpoint::ManifestGet, Fault::TruncatedBody);
    rig.page().await?.expect(StatusCode::BAD_GATEWAY);
    rig.file().await?.expect(StatusCode::BAD_GATEWAY);
    // The upload reads the release index of 1.0 before deciding anything.
    rig.upload("1.0").await?.expect(StatusCode::BAD_GATEWAY);
    assert_eq!(rig.fake.requests(Endpoint::UploadPut), 0);
    rig.assert_recovers().await?;
    rig.finish().await
}

/// Downloads spliced from the registry's socket (`--download-transfer splice`) fail as
/// visibly as copied ones: a blob cut short or stalled half-way never reaches the client as a
/// complete 200, a registry silent before its answer is 504, and the server serves the next
/// download whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spliced_downloads_fail_visibly() -> anyhow::Result<()> {
    let rig = Rig::start_with(|config| {
        fast_timeouts(config);
        config.server.download_transfer = oci_pypi::config::DownloadTransfer::Splice;
    })
    .await?;
    let whole = rig.file().await?;
    whole.expect(StatusCode::OK);
    assert_eq!(whole.body, fake_registry::file_bytes());
    let metrics = rig.server.metrics().await?;
    assert!(
        metrics.contains("oci_pypi_downloads_total{transfer=\"splice\"} 1"),
        "{metrics}"
    );
    for fault in [Fault::TruncatedBody, Fault::StallMidBody(STALL)] {
        rig.fake.set_fault(Endpoint::BlobGet, fault.clone());
        let started = std::time::Instant::now();
        let file = rig.file().await?;
        assert!(
            file.status != StatusCode::OK || !file.is_complete(),
            "{fault:?}: a cut blob was served as a complete 200 ({} bytes)",
            file.body.len()
        );
        // The stalled registry is given up after its read timeout (1 s), not the stall.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{fault:?}: {:?}",
            started.elapsed()
        );
    }
    rig.fake.set_fault(Endpoint::BlobGet, Fault::Delay(STALL));
    rig.file().await?.expect(StatusCode::GATEWAY_TIMEOUT);
    rig.fake.clear_faults();
    let again = rig.file().await?;
    again.expect(StatusCode::OK);
    assert_eq!(again.body, fake_registry::file_bytes());
    rig.assert_recovers().await?;
    rig.finish().await
}

/// A blob whose bytes do not match its digest. With `--verify-downloads` the client must not
/// get a complete 200 with those bytes (under an `ETag` naming the right sha256, cacheable as
/// immutable). By default the server does not hash downloads fetched by the file's own
/// digest (the registry is content-addressed): the bytes go through, and the page's
/// `#sha256=` is what lets the client refuse them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_blob_is_not_served_as_complete() -> anyhow::Result<()> {
    let rig = Rig::start_with(|config| config.registry.verify_downloads = true).await?;
    rig.fake
        .set_fault(Endpoint::BlobGet, Fault::WrongDigestBlob);
    // The last bytes are held back until the digest is checked: the client sees an error
    // status, a short body, or (when the whole blob fits in one chunk) a connection cut
    // before any byte. Never a complete 200.
    let url = rig.url(&format!("{NAMESPACE}/{PROJECT}/{FILENAME}"));
    let sent = rig
        .client
        .get(&url)
        .basic_auth(USERNAME, Some(PASSWORD))
        .send()
        .await;
    if let Ok(response) = sent {
        let status = response.status();
        let declared = response.content_length();
        let body = response.bytes().await;
        let complete = body
            .as_ref()
            .is_ok_and(|b| declared.is_none_or(|n| n == b.len() as u64));
        assert!(
            status != StatusCode::OK || !complete,
            "a blob that does not match its digest was served as a complete 200"
        );
    }
    rig.assert_recovers().await?;
    rig.finish().await?;

    let rig = Rig::start().await?;
    rig.fake
        .set_fault(Endpoint::BlobGet, Fault::WrongDigestBlob);
    let page = rig.page().await?;
    page.expect(StatusCode::OK);
    let advertised = format!("#sha256={}", fake_registry::file_sha256());
    assert!(
        String::from_utf8_lossy(&page.body).contains(&advertised),
        "the page does not advertise the file's sha256"
    );
    let file = rig.file().await?;
    let served = hex::encode(Sha256::digest(&file.body));
    assert_ne!(
        served,
        fake_registry::file_sha256(),
        "the corrupted blob was not served as it is: the client-side check is not exercised"
    );
    rig.assert_recovers().await?;
    rig.finish().await
}

/// With the blob cache, a registry that sends bytes other than the blob's leaves nothing in
/// the cache: once it sends the right ones, they are kept and sent again from disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_blob_is_not_cached() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cache = dir.path().to_owned();
    let rig = Rig::start_with(|config| config.registry.blob_cache_dir = Some(cache)).await?;
    let metric = async |result: &str| -> anyhow::Result<f64> {
        let line = format!("oci_pypi_blob_cache_fills_total{{result=\"{result}\"}}");
        Ok(crate::harness::metric_value(
            &rig.server.metrics().await?,
            &line,
        ))
    };
    let until = async |result: &str| -> anyhow::Result<()> {
        for _ in 0..200 {
            if metric(result).await? >= 1.0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("no fill ended `{result}`")
    };
    let kept = || std::fs::read_dir(dir.path().join("sha256")).map(Iterator::count);

    rig.fake
        .set_fault(Endpoint::BlobGet, Fault::WrongDigestBlob);
    let wrong = rig.file().await?;
    assert_ne!(wrong.body, fake_registry::file_bytes(), "{}", wrong.what);
    until("mismatch").await?;
    assert_eq!(kept()?, 0, "wrong bytes were kept");

    rig.fake.clear_faults();
    for _ in 0..2 {
        let file = rig.file().await?;
        file.expect(StatusCode::OK);
        assert_eq!(file.body, fake_registry::file_bytes(), "{}", file.what);
        until("stored").await?;
    }
    assert_eq!(kept()?, 1);
    let metrics = rig.server.metrics().await?;
    let hits = "oci_pypi_blob_cache_lookups_total{result=\"hit\"}";
    assert_eq!(
        crate::harness::metric_value(&metrics, hits),
        1.0,
        "{metrics}"
    );
    rig.assert_recovers().await?;
    rig.finish().await
}

/// A release index that is not JSON: skipped on the project page (documented in
/// docs/design.md, "Malformed release indexes are skipped in listings"), so a project whose only
/// release it is answers 404; the file download and an upload to that release are 502 (the
/// upload writes nothing). A tag list that is not JSON is 502.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_index_is_skipped_on_pages_and_502_elsewhere() -> anyhow::Result<()> {
    let rig = Rig::start().await?;
    rig.fake
        .set_fault(Endpoint::ManifestGet, Fault::MalformedJson);
    rig.page().await?.expect(StatusCode::NOT_FOUND);
    let json = rig
        .send(
            "releases JSON",
            rig.client
                .get(rig.url(&format!("{NAMESPACE}/{PROJECT}/json")))
                .basic_auth(USERNAME, Some(PASSWORD)),
        )
        .await?;
    json.expect(StatusCode::NOT_FOUND);
    rig.file().await?.expect(StatusCode::BAD_GATEWAY);
    rig.upload("1.0").await?.expect(StatusCode::BAD_GATEWAY);
    assert_eq!(rig.fake.requests(Endpoint::UploadPut), 0);
    assert_eq!(rig.fake.requests(Endpoint::ManifestPut), 0);

    rig.fake.clear_faults();
    rig.fake.set_fault(Endpoint::TagsList, Fault::MalformedJson);
    rig.page()
        .await?
        .expect(StatusCode::BAD_GATEWAY)
        .mentions(&rig.fake.host());
    rig.assert_recovers().await?;
    rig.finish().await
}

/// The release tag points at a plain container image: the release is skipped (404, as it is the
/// only one), its file is not found, and an upload to that version is refused (409) rather than
/// overwriting the image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_container_image_at_the_tag_is_skipped() -> anyhow::Result<()> {
    let rig = Rig::start().await?;
    rig.fake
        .set_fault(Endpoint::ManifestGet, Fault::PlainContainerImage);
    rig.fake
        .set_fault(Endpoint::ManifestHead, Fault::PlainContainerImage);
    rig.page().await?.expect(StatusCode::NOT_FOUND);
    rig.file().await?.expect(StatusCode::NOT_FOUND);
    rig.upload("1.0")
        .await?
        .expect(StatusCode::CONFLICT)
        .mentions("not a Python release");
    assert_eq!(rig.fake.requests(Endpoint::ManifestPut), 0);
    assert_eq!(rig.fake.requests(Endpoint::UploadPut), 0);
    rig.assert_recovers().await?;
    rig.finish().await
}

/// Challenges the server cannot answer (unparseable, no realm, a realm that is no URL, other
/// schemes): 401 with our Basic challenge (so clients retry with credentials) or 502, never 500;
/// anonymous or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_challenges_are_401_or_502() -> anyhow::Result<()> {
    let allowed = [StatusCode::UNAUTHORIZED, StatusCode::BAD_GATEWAY];
    for challenge in UNUSABLE_CHALLENGES {
        // A server of its own each time: each challenge is judged on its own.
        let rig = Rig::start().await?;
        rig.fail_first_steps(&Fault::Challenge((*challenge).to_owned()));
        for authenticated in [false, true] {
            let answers = [
                rig.page_as(authenticated).await?,
                rig.file_as(authenticated).await?,
                rig.upload_as("2.0", authenticated).await?,
            ];
            for answer in answers {
                answer.expect_one_of(&allowed).expect_our_challenge_if_401();
            }
        }
        rig.finish().await?;
    }
    Ok(())
}

/// `WWW-Authenticate` values no client can answer.
const UNUSABLE_CHALLENGES: &[&str] = &[
    "garbage",
    "!!! ,,, ===",
    "Bearer",
    "Bearer realm=\"\"",
    "Bearer service=\"fake\",scope=\"repository:ns/demo:pull\"",
    "Bearer realm=\"unterminated",
    "Bearer realm=\"/token\",service=\"fake\"",
    "Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXag",
    "Digest realm=\"fake\", nonce=\"abc\", qop=\"auth\"",
];

/// Token realms that are not http(s) URLs: refused (401 or 502, never 500), and nothing
/// connects to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_realm_on_another_scheme_is_refused() -> anyhow::Result<()> {
    let trap = std::net::TcpListener::bind("127.0.0.1:0")?;
    trap.set_nonblocking(true)?;
    let port = trap.local_addr()?.port();
    let allowed = [StatusCode::UNAUTHORIZED, StatusCode::BAD_GATEWAY];
    for realm in foreign_realms(port) {
        let rig = Rig::start().await?;
        let challenge = format!("Bearer realm=\"{realm}\",service=\"fake\"");
        rig.fail_first_steps(&Fault::Challenge(challenge));
        for answer in [
            rig.page().await?,
            rig.file().await?,
            rig.upload("2.0").await?,
        ] {
            answer.expect_one_of(&allowed).expect_our_challenge_if_401();
        }
        rig.finish().await?;
        match trap.accept() {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("something connected to the realm `{realm}`: {other:?}"),
        }
    }
    Ok(())
}

/// Realms on schemes other than http(s), pointing at `port` where they can.
fn foreign_realms(port: u16) -> Vec<String> {
    vec![
        format!("ftp://127.0.0.1:{port}/token"),
        format!("gopher://127.0.0.1:{port}/_token"),
        format!("ws://127.0.0.1:{port}/token"),
        format!("//127.0.0.1:{port}/token"),
        "file:///etc/passwd".to_owned(),
        "data:text/plain,token".to_owned(),
    ]
}

/// Once the registry stops sending a challenge the server could not use, requests work again:
/// one bad 401 must not make a registry unusable for every caller until a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_after_unusable_challenges() -> anyhow::Result<()> {
    let mut challenges: Vec<String> = UNUSABLE_CHALLENGES
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
    challenges.extend(
        foreign_realms(1)
            .into_iter()
            .map(|realm| format!("Bearer realm=\"{realm}\",service=\"fake\"")),
    );
    let mut stuck = Vec::new();
    for challenge in challenges {
        let rig = Rig::start().await?;
        rig.fail_first_steps(&Fault::Challenge(challenge.clone()));
        rig.page()
            .await?
            .expect_one_of(&[StatusCode::UNAUTHORIZED, StatusCode::BAD_GATEWAY]);
        rig.fake.clear_faults();
        let page = rig.page().await?;
        if page.status != StatusCode::OK {
            stuck.push(format!(
                "`{challenge}` → {} {}",
                page.status,
                page.text().trim()
            ));
        }
        rig.finish().await?;
    }
    assert!(
        stuck.is_empty(),
        "still failing once the registry behaves:\n{}",
        stuck.join("\n")
    );
    Ok(())
}

/// Text from the registry's challenge is the registry's answer too: a rejected realm (here one
/// carrying credentials in its userinfo) must not be quoted back to the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_realm_is_not_quoted_back() -> anyhow::Result<()> {
    let rig = Rig::start().await?;
    let challenge =
        format!("Bearer realm=\"ftp://admin:{SECRET_MARKER}@127.0.0.1:1/token\",service=\"fake\"");
    rig.fail_first_steps(&Fault::Challenge(challenge));
    rig.page()
        .await?
        .expect_one_of(&[StatusCode::UNAUTHORIZED, StatusCode::BAD_GATEWAY]);
    rig.finish().await
}

/// The fake's content faults do what they say, so that the tests above are not vacuous.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_registry_faults_do_what_they_say() -> anyhow::Result<()> {
    let fake = FakeRegistry::start()?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    let origin = fake.origin();
    let blob = format!(
        "{origin}/v2/{REPOSITORY}/blobs/sha256:{}",
        fake_registry::file_sha256()
    );
    let expected = fake_registry::file_bytes();

    fake.set_fault(Endpoint::BlobGet, Fault::TruncatedBody);
    let response = client.get(&blob).send().await?;
    assert_eq!(response.content_length(), Some(expected.len() as u64));
    assert!(response.bytes().await.is_err(), "the body was not cut");

    fake.set_fault(Endpoint::BlobGet, Fault::WrongDigestBlob);
    let corrupted = client.get(&blob).send().await?.bytes().await?;
    assert_eq!(corrupted.len(), expected.len());
    assert_ne!(corrupted, expected);

    fake.set_fault(Endpoint::ManifestGet, Fault::MalformedJson);
    let index = client
        .get(format!(
            "{origin}/v2/{REPOSITORY}/manifests/{}",
            fake_registry::TAG
        ))
        .send()
        .await?
        .bytes()
        .await?;
    assert!(serde_json::from_slice::<serde_json::Value>(&index).is_err());
    assert_eq!(fake.requests(Endpoint::BlobGet), 2);
    assert_eq!(fake.requests(Endpoint::ManifestGet), 1);
    Ok(())
}

/// Distribution deletes a manifest, then the tags on it; when the second step fails (500, as
/// when another writer changes a tag of the repository at the same moment) the tag is left
/// pointing at nothing, and deleting again answers 404. The server puts the manifest back by
/// digest and deletes it again, so the release's tag is really gone; a registry that keeps
/// failing is a 502.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_done_manifest_delete_is_repaired() -> anyhow::Result<()> {
    let rig = Rig::start().await?;
    let delete = |version: &str| {
        let url = rig.url(&format!(
            "{NAMESPACE}/{PROJECT}/{}",
            fake_registry::release_filename(version)
        ));
        rig.send(
            "file delete",
            Rig::authenticate(rig.client.delete(url), true),
        )
    };
    // The release's only file: the release index goes, and with it the tag.
    rig.page().await?.expect(StatusCode::OK).mentions(FILENAME);
    rig.fake.set_fault(
        Endpoint::ManifestDelete,
        Fault::Once(Box::new(Fault::HalfDelete)),
    );
    let before = rig.fake.requests(Endpoint::ManifestDelete);
    delete(TAG).await?.expect(StatusCode::OK);
    assert!(
        rig.fake.requests(Endpoint::ManifestDelete) >= before + 2,
        "the half-done delete was not done again"
    );
    assert!(
        !rig.fake.has_tag(REPOSITORY, TAG),
        "the tag was left behind, pointing at a deleted index"
    );
    rig.file().await?.expect(StatusCode::NOT_FOUND);

    rig.upload("2.0").await?.expect(StatusCode::OK);
    rig.fake.set_fault(
        Endpoint::ManifestDelete,
        Fault::Status(
            500,
            r#"{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}"#.to_owned(),
        ),
    );
    delete("2.0")
        .await?
        .expect(StatusCode::BAD_GATEWAY)
        .mentions(&rig.fake.host());
    rig.finish().await
}
