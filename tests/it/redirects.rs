//! Blob downloads that the registry redirects to object storage on another host (issues 4
//! and 5): streamed through without the caller's credentials (the default), or passed to the
//! client with `--blob-redirects redirect` while the published file URL stays ours; redirects
//! to internal addresses or to other schemes are refused before any connection.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use oci_pypi::config::{BlobRedirects, Config};
use oci_pypi::net::Origin;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, HeaderMap, LOCATION};

use crate::harness::background::{self, Background};
use crate::harness::fake_registry::{
    self, Endpoint, FILENAME, FakeRegistry, Fault, NAMESPACE, PROJECT,
};
use crate::harness::{Server, header, impatient_client};

const USERNAME: &str = "redirect-tester";
/// The caller's password: it may go to the registry, never to object storage.
const PASSWORD: &str = "pw-REDIRECTS-registry-only-41c7";

/// A stand-in for object storage (S3, GCS, Azure Blob) on its own port: serves the fake
/// registry's one file at `/storage/<digest>` and records the headers of every request.
struct ObjectStorage {
    server: Background,
    seen: Arc<Mutex<Vec<HeaderMap>>>,
}

impl ObjectStorage {
    fn start() -> anyhow::Result<ObjectStorage> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/storage/{digest}", axum::routing::get(serve_object))
            .with_state(Arc::clone(&seen));
        let listener = background::bind("object storage")?;
        let server = Background::serve(listener, "object-storage", app)?;
        Ok(ObjectStorage { server, seen })
    }

    /// `http://127.0.0.1:PORT/storage/`: the fake registry appends the digest.
    fn base(&self) -> String {
        format!("http://{}/storage/", self.server.address())
    }

    /// Where the registry sends a download of the fake's one file.
    fn file_location(&self) -> String {
        format!("{}sha256:{}", self.base(), fake_registry::file_sha256())
    }

    /// The headers of every request received so far.
    fn requests(&self) -> Vec<HeaderMap> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Asserts that no request carried credentials (`Authorization`, or the caller's password
    /// anywhere in a header).
    fn assert_no_credentials(&self) {
        for headers in self.requests() {
            assert!(
                !headers.contains_key(AUTHORIZATION),
                "object storage received an Authorization header: {headers:?}"
            );
            for (name, value) in &headers {
                let value = String::from_utf8_lossy(value.as_bytes());
                assert!(
                    !value.contains(PASSWORD),
                    "object storage received the password in `{name}`"
                );
            }
        }
    }
}

async fn serve_object(
    State(seen): State<Arc<Mutex<Vec<HeaderMap>>>>,
    Path(digest): Path<String>,
    headers: HeaderMap,
) -> Response {
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(headers);
    if digest == format!("sha256:{}", fake_registry::file_sha256()) {
        (
            [(reqwest::header::CONTENT_TYPE, "application/octet-stream")],
            fake_registry::file_bytes(),
        )
            .into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// A fake registry that wants credentials and redirects blob downloads to `location`, and the
/// server in front of it.
struct Rig {
    fake: FakeRegistry,
    server: Server,
    client: reqwest::Client,
}

impl Rig {
    async fn start(location: &str, redirects: BlobRedirects) -> anyhow::Result<Rig> {
        let fake = FakeRegistry::start()?;
        fake.require_basic_auth();
        for endpoint in [Endpoint::BlobGet, Endpoint::BlobHead] {
            fake.set_fault(endpoint, Fault::RedirectBlob(location.to_owned()));
        }
        let mut config = Config::for_registries(vec![Origin::parse(&fake.origin())?]);
        config.registry.blob_redirects = redirects;
        config.registry.connect_timeout = 2;
        config.registry.read_timeout = 5;
        Ok(Rig {
            fake,
            server: Server::start(config).await?,
            client: impatient_client()?,
        })
    }

    fn page_url(&self) -> String {
        format!(
            "{}/{}/{NAMESPACE}/{PROJECT}/",
            self.server.url(),
            self.fake.host()
        )
    }

    fn file_url(&self) -> String {
        format!("{}{FILENAME}", self.page_url())
    }

    async fn file(&self, method: reqwest::Method) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .client
            .request(method, self.file_url())
            .basic_auth(USERNAME, Some(PASSWORD))
            .send()
            .await?)
    }
}

/// The default (`--blob-redirects stream`): the client gets 200 with the file's bytes from
/// the server itself; the registry got the caller's credentials, object storage none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_redirected_blobs_without_credentials() -> anyhow::Result<()> {
    let storage = ObjectStorage::start()?;
    let rig = Rig::start(&storage.base(), BlobRedirects::Stream).await?;

    let response = rig.file(reqwest::Method::GET).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.headers().contains_key(LOCATION));
    let body = response.bytes().await?;
    assert_eq!(
        body,
        fake_registry::file_bytes(),
        "the bytes streamed through"
    );

    let head = rig.file(reqwest::Method::HEAD).await?;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        header(&head, CONTENT_LENGTH),
        Some(fake_registry::file_bytes().len().to_string().as_str()),
        "HEAD announces the file's length"
    );

    assert!(
        rig.fake.requests(Endpoint::BlobGet) + rig.fake.requests(Endpoint::BlobHead) > 0,
        "the download never reached the registry's blob endpoint"
    );
    assert!(
        rig.fake.authorized_requests(Endpoint::BlobGet)
            + rig.fake.authorized_requests(Endpoint::BlobHead)
            > 0,
        "the registry never got the caller's credentials (the check below would be vacuous)"
    );
    assert!(
        !storage.requests().is_empty(),
        "the redirect to object storage was not followed"
    );
    storage.assert_no_credentials();
    Ok(())
}

/// `--blob-redirects redirect`: the client gets 307 to object storage, not cacheable; the
/// project page still publishes the server's own file URL (uv lockfiles store it), and the
/// server itself never contacts object storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_redirects_to_the_client_when_configured() -> anyhow::Result<()> {
    let storage = ObjectStorage::start()?;
    let rig = Rig::start(&storage.base(), BlobRedirects::Redirect).await?;

    let response = rig.file(reqwest::Method::GET).await?;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        header(&response, LOCATION),
        Some(storage.file_location().as_str())
    );
    assert_eq!(header(&response, CACHE_CONTROL), Some("no-store"));
    assert!(
        storage.requests().is_empty(),
        "the server fetched from object storage itself"
    );
    assert!(
        rig.fake.authorized_requests(Endpoint::BlobGet)
            + rig.fake.authorized_requests(Endpoint::BlobHead)
            > 0
    );

    // The client follows the redirect without credentials and gets the bytes.
    let followed = rig.client.get(storage.file_location()).send().await?;
    assert_eq!(followed.status(), StatusCode::OK);
    assert_eq!(followed.bytes().await?, fake_registry::file_bytes());
    storage.assert_no_credentials();

    // The page links the file on the server, never on object storage.
    let page_url = rig.page_url();
    let page = rig
        .client
        .get(&page_url)
        .basic_auth(USERNAME, Some(PASSWORD))
        .header(reqwest::header::ACCEPT, "text/html")
        .send()
        .await?;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await?;
    let href = file_href(&html).unwrap_or_else(|| panic!("no link to {FILENAME} in: {html}"));
    let link = reqwest::Url::parse(&page_url)?.join(&href)?;
    let ours = reqwest::Url::parse(&rig.server.url())?;
    assert_eq!(link.origin(), ours.origin(), "{href}");
    assert_eq!(link.path(), reqwest::Url::parse(&rig.file_url())?.path());
    assert!(
        !html.contains(&storage.server.address().to_string()),
        "{html}"
    );
    Ok(())
}

/// The `href` of the link whose text is [`FILENAME`].
fn file_href(html: &str) -> Option<String> {
    let end = html.find(&format!(">{FILENAME}</a>"))?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    let href = &html[start..end];
    Some(href[..href.find('"')?].replace("&amp;", "&"))
}

/// Redirects to an internal address other than the registry's host, or to a scheme other
/// than http(s), are refused with 502 in both modes. Only the status is asserted: these
/// addresses are never contacted (the server refuses before connecting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_redirects_to_internal_addresses_and_other_schemes() -> anyhow::Result<()> {
    let storage = ObjectStorage::start()?;
    let port = storage.server.address().port();
    let targets = [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "//169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/storage/".to_owned(),
        format!("ftp://127.0.0.1:{port}/storage/"),
        "file:///etc/".to_owned(),
    ];
    for mode in [BlobRedirects::Stream, BlobRedirects::Redirect] {
        for target in &targets {
            let rig = Rig::start(target, mode).await?;
            let response = rig.file(reqwest::Method::GET).await?;
            let status = response.status();
            let location = response
                .headers()
                .get(LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let body = response.text().await?;
            assert_eq!(
                status,
                StatusCode::BAD_GATEWAY,
                "{mode:?}, redirect to `{target}`: {body}"
            );
            assert_eq!(location, None, "{mode:?}, `{target}` passed on");
            assert!(
                body.contains("redirect"),
                "{mode:?}, `{target}`: refused for another reason: {body}"
            );
            assert!(
                rig.fake.requests(Endpoint::BlobGet) > 0,
                "{mode:?}, `{target}`: the blob endpoint was never reached"
            );
        }
    }
    assert!(storage.requests().is_empty());
    Ok(())
}
