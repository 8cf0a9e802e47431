//! What clients fetch, seen closely: file downloads as HTTP caches and download managers see
//! them (exact length and media type, a digest ETag with `If-None-Match` revalidation, immutable
//! caching, no content coding, HEAD, byte ranges; RFC 9110) in every backend, and the project
//! page of a project with more releases than one page of a registry's tag list.

use std::path::Path;

use oci_pypi::config::{Config, DownloadTransfer};
use oci_pypi::net::Origin;
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, HeaderMap, IF_NONE_MATCH, RANGE,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::harness::fake_registry::{
    self, Endpoint, FakeRegistry, NAMESPACE, PROJECT, TAG, TAG_PAGE_SIZE,
};
use crate::harness::{AuthMode, Backend, DistSpec, Server, TestEnv, metric_value};
use crate::in_every_backend;

in_every_backend!(
    downloads_are_cacheable_and_ranged,
    spliced_downloads_are_cacheable_and_ranged
);

/// A year, the least a cache should be allowed to keep an immutable file.
const YEAR_SECONDS: u64 = 365 * 24 * 3600;

async fn downloads_are_cacheable_and_ranged(backend: Backend) -> anyhow::Result<()> {
    downloads_checked(backend, DownloadTransfer::Copy).await
}

/// With `--download-transfer splice`, whole files from a registry (plain HTTP here) go from
/// its socket to the client's inside the kernel: the same bytes and headers.
async fn spliced_downloads_are_cacheable_and_ranged(backend: Backend) -> anyhow::Result<()> {
    downloads_checked(backend, DownloadTransfer::Splice).await
}

async fn downloads_checked(backend: Backend, transfer: DownloadTransfer) -> anyhow::Result<()> {
    let configure = |config: &mut Config| config.server.download_transfer = transfer;
    let env = TestEnv::start_backend_with(backend, configure).await?;
    let spec = DistSpec::new("fetched", "1.0").payload_bytes(64 * 1024);
    let wheel = env.sandbox.wheel(&spec).await?;
    let sdist = env.sandbox.sdist(&spec).await?;
    env.twine_upload(&[&wheel, &sdist]).await?.assert_success();
    check_file(&env, &wheel, "application/octet-stream").await?;
    check_file(&env, &sdist, "application/gzip").await?;
    // Whole files from a registry over plain HTTP are spliced when asked (and were checked
    // byte for byte above); the local store's are always copied.
    let metrics = env.server.metrics().await?;
    let spliced = metric_value(&metrics, "oci_pypi_downloads_total{transfer=\"splice\"}");
    let copied = metric_value(&metrics, "oci_pypi_downloads_total{transfer=\"copy\"}");
    let splicing = transfer == DownloadTransfer::Splice && matches!(backend, Backend::Registry(_));
    if splicing {
        assert!(spliced >= 2.0 && copied == 0.0, "{metrics}");
    } else {
        assert!(spliced == 0.0 && copied >= 2.0, "{metrics}");
    }
    Ok(())
}

/// Every header and status of one file's downloads.
async fn check_file(env: &TestEnv, file: &Path, content_type: &str) -> anyhow::Result<()> {
    let bytes = std::fs::read(file)?;
    let size = bytes.len();
    assert!(size > 100, "{} is too small for the ranges", file.display());
    let filename = file.file_name().unwrap().to_str().unwrap();
    let path = format!("{}/fetched/{filename}", env.base_path());
    let get = |headers: &[(reqwest::header::HeaderName, &str)]| {
        let mut request = env.http(Method::GET, &path, true);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        request.send()
    };
    let etag = format!("\"sha256:{}\"", hex::encode(Sha256::digest(&bytes)));
    let private = env.credentials().is_some();

    // The whole file, never content-coded (clients hash the bytes as sent).
    let whole = get(&[(ACCEPT_ENCODING, "gzip, br, deflate")]).await?;
    assert_eq!(whole.status(), StatusCode::OK, "{filename}");
    let headers = whole.headers().clone();
    check_entity_headers(&headers, content_type, &etag, private);
    assert_eq!(header(&headers, CONTENT_LENGTH), size.to_string());
    assert!(headers.get(CONTENT_ENCODING).is_none(), "{headers:?}");
    assert_eq!(whole.bytes().await?.as_ref(), bytes.as_slice());

    // HEAD: the same headers, no body.
    let head = env.http(Method::HEAD, &path, true).send().await?;
    assert_eq!(head.status(), StatusCode::OK);
    let head_headers = head.headers().clone();
    check_entity_headers(&head_headers, content_type, &etag, private);
    assert_eq!(header(&head_headers, CONTENT_LENGTH), size.to_string());
    assert!(head.bytes().await?.is_empty());

    // A range, a suffix range, an unsatisfiable range.
    let part = get(&[(RANGE, "bytes=10-99")]).await?;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    let part_headers = part.headers().clone();
    check_entity_headers(&part_headers, content_type, &etag, private);
    assert_eq!(
        header(&part_headers, CONTENT_RANGE),
        format!("bytes 10-99/{size}")
    );
    assert_eq!(header(&part_headers, CONTENT_LENGTH), "90");
    assert_eq!(part.bytes().await?.as_ref(), &bytes[10..100]);

    let suffix = get(&[(RANGE, "bytes=-16")]).await?;
    assert_eq!(suffix.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(suffix.headers(), CONTENT_RANGE),
        format!("bytes {}-{}/{size}", size - 16, size - 1)
    );
    assert_eq!(suffix.bytes().await?.as_ref(), &bytes[size - 16..]);

    let beyond = get(&[(RANGE, &format!("bytes={size}-"))]).await?;
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        header(beyond.headers(), CONTENT_RANGE),
        format!("bytes */{size}")
    );

    check_revalidation(env, &path, &bytes, &etag).await
}

/// Real installers get spliced files: pip and uv install a wheel of a few MiB (more than the
/// first read of the registry's answer holds) through a token-auth registry, the server
/// splicing both downloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installers_get_spliced_files() -> anyhow::Result<()> {
    let configure =
        |config: &mut Config| config.server.download_transfer = DownloadTransfer::Splice;
    let env = TestEnv::start_backend_with(Backend::Registry(AuthMode::Token), configure).await?;
    let spec = DistSpec::new("spliced", "1.0").payload_bytes(3 * 1024 * 1024);
    let wheel = env.sandbox.wheel(&spec).await?;
    env.twine_upload(&[&wheel]).await?.assert_success();
    let url = env.index_url_with_credentials();
    let expected = [(spec.module(), "1.0")];
    let expected: Vec<(&str, &str)> = expected.iter().map(|(m, v)| (m.as_str(), *v)).collect();
    env.sandbox
        .assert_pip_installs(&url, &["spliced"], &expected)
        .await?;
    env.sandbox
        .assert_uv_installs(&url, &["spliced"], &expected)
        .await?;
    let metrics = env.server.metrics().await?;
    let spliced = metric_value(&metrics, "oci_pypi_downloads_total{transfer=\"splice\"}");
    assert!(spliced >= 2.0, "{metrics}");
    Ok(())
}

/// `If-None-Match` with the file's ETag (strong or weak, alone or in a list, with or without a
/// range, GET or HEAD) gives 304 and no body; another ETag gives the file.
async fn check_revalidation(
    env: &TestEnv,
    path: &str,
    bytes: &[u8],
    etag: &str,
) -> anyhow::Result<()> {
    let weak = format!("W/{etag}");
    let listed = format!("\"sha256:{}\", {etag}", "0".repeat(64));
    let cases: [(Method, &str, Option<&str>); 5] = [
        (Method::GET, etag, None),
        (Method::GET, &weak, None),
        (Method::GET, &listed, None),
        (Method::GET, etag, Some("bytes=0-9")),
        (Method::HEAD, etag, None),
    ];
    for (method, condition, range) in cases {
        let mut request = env
            .http(method.clone(), path, true)
            .header(IF_NONE_MATCH, condition);
        if let Some(range) = range {
            request = request.header(RANGE, range);
        }
        let response = request.send().await?;
        assert_eq!(
            response.status(),
            StatusCode::NOT_MODIFIED,
            "{method} {condition} {range:?}"
        );
        assert_eq!(header(response.headers(), ETAG), etag);
        assert!(header(response.headers(), CACHE_CONTROL).contains("immutable"));
        assert!(response.bytes().await?.is_empty());
    }
    let stale = format!("\"sha256:{}\"", "0".repeat(64));
    let response = env
        .http(Method::GET, path, true)
        .header(IF_NONE_MATCH, &stale)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await?.as_ref(), bytes);
    Ok(())
}

/// The headers every 200 and 206 of a file carries.
fn check_entity_headers(headers: &HeaderMap, content_type: &str, etag: &str, private: bool) {
    assert_eq!(header(headers, CONTENT_TYPE), content_type, "{headers:?}");
    assert_eq!(header(headers, ETAG), etag);
    assert_eq!(header(headers, "accept-ranges"), "bytes");
    let cache_control = header(headers, CACHE_CONTROL);
    let directives: Vec<&str> = cache_control.split(',').map(str::trim).collect();
    assert!(directives.contains(&"immutable"), "{cache_control}");
    assert_eq!(directives.contains(&"private"), private, "{cache_control}");
    let max_age = directives
        .iter()
        .find_map(|d| d.strip_prefix("max-age="))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(max_age >= YEAR_SECONDS, "{cache_control}");
}

fn header(headers: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// 121 releases behind a registry that lists tags [`TAG_PAGE_SIZE`] at a time: the server
/// follows the `Link` pages, and the JSON page (PEP 691) lists every release once, oldest to
/// newest by PEP 440 (not in the registry's lexical tag order), each with its file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_release_is_listed_across_tag_pages() -> anyhow::Result<()> {
    let fake = FakeRegistry::start()?;
    let mut pep440: Vec<String> = (1..=118).map(|minor| format!("0.{minor}")).collect();
    pep440.extend(["1.0rc1", TAG, "1.0.post1"].map(str::to_owned));
    for version in pep440.iter().filter(|v| *v != TAG) {
        fake.add_release(version)?;
    }
    assert!(pep440.len() > 2 * TAG_PAGE_SIZE);
    let server =
        Server::start(Config::for_registries(vec![Origin::parse(&fake.origin())?])).await?;
    let page = format!("{}/{}/{NAMESPACE}/{PROJECT}/", server.url(), fake.host());
    let client = reqwest::Client::builder().no_proxy().build()?;
    let response = client
        .get(&page)
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let json: Value = response.json().await?;
    let strings = |values: &Value, key: &str| -> Vec<String> {
        values
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let v = if key.is_empty() { v } else { &v[key] };
                v.as_str().unwrap().to_owned()
            })
            .collect()
    };
    assert_eq!(strings(&json["versions"], ""), pep440);
    let mut listed = strings(&json["files"], "filename");
    listed.sort_unstable();
    let mut expected: Vec<String> = pep440
        .iter()
        .map(|v| fake_registry::release_filename(v))
        .collect();
    expected.sort_unstable();
    assert_eq!(listed, expected);
    let newest = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|file| file["filename"] == fake_registry::release_filename("1.0.post1"))
        .unwrap();
    assert_eq!(
        newest["hashes"]["sha256"],
        hex::encode(Sha256::digest(fake_registry::release_file_bytes(
            "1.0.post1"
        )))
    );
    let pages = fake.requests(Endpoint::TagsList);
    assert!(
        pages >= 3,
        "{pages} tag-list requests: pagination was not followed"
    );
    Ok(())
}
