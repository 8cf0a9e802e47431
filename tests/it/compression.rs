//! Pages go gzip-compressed to clients that accept it (RFC 9110 §12.5.3), each coding with
//! its own `ETag`; distribution files and their metadata never do. Real pip and uv install
//! from compressed pages.

use std::io::Read as _;
use std::path::PathBuf;

use flate2::read::GzDecoder;
use reqwest::{Method, StatusCode};

use crate::harness::{AuthMode, DistSpec, TestEnv, header, metric_value};

const JSON: &str = "application/vnd.pypi.simple.v1+json";
const HTML: &str = "application/vnd.pypi.simple.v1+html";
/// What pip and poetry (requests) send.
const GZIP: &str = "gzip, deflate";
/// Enough releases for every page of the project to be worth compressing.
const VERSIONS: [&str; 6] = ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"];
const GZIP_PAGES: &str = "oci_pypi_pages_sent_total{coding=\"gzip\"}";

/// Builds one wheel of `name` per version in [`VERSIONS`] and uploads them all with twine.
async fn publish(env: &TestEnv, name: &str) -> anyhow::Result<Vec<(DistSpec, PathBuf)>> {
    let mut wheels = Vec::new();
    for version in VERSIONS {
        let spec = DistSpec::new(name, version);
        let wheel = env.sandbox.wheel(&spec).await?;
        wheels.push((spec, wheel));
    }
    let paths: Vec<&std::path::Path> = wheels.iter().map(|(_, w)| w.as_path()).collect();
    env.twine_upload(&paths).await?.assert_success();
    Ok(wheels)
}

/// A GET of `path` with these `Accept`, `Accept-Encoding` and `If-None-Match` headers.
async fn fetch(
    env: &TestEnv,
    path: &str,
    accept: &str,
    (accept_encoding, if_none_match): (Option<&str>, Option<&str>),
) -> anyhow::Result<reqwest::Response> {
    let mut request = env.http(Method::GET, path, true).header("accept", accept);
    if let Some(value) = accept_encoding {
        request = request.header("accept-encoding", value);
    }
    if let Some(value) = if_none_match {
        request = request.header("if-none-match", value);
    }
    Ok(request.send().await?)
}

fn gunzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut decoded = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut decoded)?;
    Ok(decoded)
}

/// Checks one page at `path` in the `accept` format: the gzip coding decodes to the page
/// as it is, is smaller, has its own `ETag` and `Vary: Accept-Encoding`, revalidates to a 304
/// without a coding, and is not sent to clients that refuse gzip.
async fn assert_compresses(env: &TestEnv, path: &str, accept: &str) -> anyhow::Result<()> {
    let plain = fetch(env, path, accept, (None, None)).await?;
    assert_eq!(plain.status(), StatusCode::OK, "{path} {accept}");
    assert_eq!(header(&plain, reqwest::header::CONTENT_ENCODING), None);
    let plain_etag = header(&plain, reqwest::header::ETAG).unwrap().to_owned();
    let plain_body = plain.bytes().await?;

    let coded = fetch(env, path, accept, (Some(GZIP), None)).await?;
    assert_eq!(coded.status(), StatusCode::OK);
    let headers = coded.headers().clone();
    assert_eq!(headers["content-encoding"], "gzip", "{path} {accept}");
    assert!(headers["vary"].to_str()?.contains("Accept-Encoding"));
    let coded_etag = headers["etag"].to_str()?.to_owned();
    assert_ne!(coded_etag, plain_etag);
    let coded_body = coded.bytes().await?;
    assert!(coded_body.len() < plain_body.len() / 2, "{path} {accept}");
    assert_eq!(gunzip(&coded_body)?, plain_body.as_ref(), "{path} {accept}");

    let head = env
        .http(Method::HEAD, path, true)
        .header("accept", accept)
        .header("accept-encoding", GZIP)
        .send()
        .await?;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        header(&head, reqwest::header::CONTENT_ENCODING),
        Some("gzip")
    );
    let length = header(&head, reqwest::header::CONTENT_LENGTH).map(str::to_owned);
    assert_eq!(length, Some(coded_body.len().to_string()), "HEAD {path}");

    let revalidated = fetch(env, path, accept, (Some(GZIP), Some(&coded_etag))).await?;
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        header(&revalidated, reqwest::header::CONTENT_ENCODING),
        None
    );
    assert_eq!(
        header(&revalidated, reqwest::header::ETAG),
        Some(&*coded_etag)
    );
    // The plain page's validator does not stand for the compressed one.
    let other = fetch(env, path, accept, (Some(GZIP), Some(&plain_etag))).await?;
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(
        header(&other, reqwest::header::CONTENT_ENCODING),
        Some("gzip")
    );

    for refusing in ["gzip;q=0, *", "br, zstd", "identity"] {
        let response = fetch(env, path, accept, (Some(refusing), None)).await?;
        assert_eq!(header(&response, reqwest::header::CONTENT_ENCODING), None);
        assert_eq!(response.bytes().await?, plain_body, "{refusing}");
    }
    Ok(())
}

/// Project pages in both formats and the releases JSON are compressed; the wheel and its
/// metadata go byte for byte even to a client that accepts gzip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_go_compressed_and_files_as_they_are() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    let wheels = publish(&env, "squeezed").await?;
    let page = format!("{}/squeezed/", env.base_path());
    assert_compresses(&env, &page, JSON).await?;
    assert_compresses(&env, &page, HTML).await?;
    assert_compresses(&env, &page, "text/html").await?;
    assert_compresses(&env, &format!("{page}json"), "*/*").await?;

    let (spec, wheel) = &wheels[2];
    let file_url = format!("{page}{}", spec.wheel_filename());
    let file = fetch(&env, &file_url, "*/*", (Some(GZIP), None)).await?;
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(header(&file, reqwest::header::CONTENT_ENCODING), None);
    assert_eq!(file.bytes().await?.as_ref(), std::fs::read(wheel)?);
    let metadata = fetch(
        &env,
        &format!("{file_url}.metadata"),
        "*/*",
        (Some(GZIP), None),
    )
    .await?;
    assert_eq!(metadata.status(), StatusCode::OK);
    assert_eq!(header(&metadata, reqwest::header::CONTENT_ENCODING), None);
    assert!(String::from_utf8(metadata.bytes().await?.to_vec())?.contains("Name: squeezed"));

    let metrics = env.metrics().await?;
    assert!(metric_value(&metrics, GZIP_PAGES) >= 8.0, "{metrics}");
    Ok(())
}

/// pip and uv ask for gzip, get compressed pages, and install from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_and_uv_install_from_compressed_pages() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    let wheels = publish(&env, "squeezed").await?;
    let module = wheels[0].0.module();
    let url = env.index_url_with_credentials();

    let before = metric_value(&env.metrics().await?, GZIP_PAGES);
    env.sandbox
        .assert_pip_installs_uncached(&url, &["squeezed==1.3"], &[(&module, "1.3")])
        .await?;
    let after_pip = metric_value(&env.metrics().await?, GZIP_PAGES);
    assert!(after_pip > before, "pip got no compressed page");

    env.sandbox
        .assert_uv_installs_uncached(&url, &["squeezed<1.5"], &[(&module, "1.4")])
        .await?;
    let after_uv = metric_value(&env.metrics().await?, GZIP_PAGES);
    assert!(after_uv > after_pip, "uv got no compressed page");
    Ok(())
}

/// A project that comes from the namespace's upstream index is compressed the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_pages_go_compressed_too() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Htpasswd).await?;
    let public = env.sandbox.fresh_dir("public")?;
    for version in VERSIONS {
        let spec = DistSpec::new("public-squeezed", version);
        env.sandbox.wheel_into(&spec, &public).await?;
    }
    let upstream = crate::upstream::PypiServer::start(&env, &public).await?;
    let place = format!("{}/{}", env.registry.host(), env.namespace);
    let upstreams = vec![format!("{place}={}", upstream.url())];
    env.reconfigure(|config| config.upstream.upstreams = upstreams)
        .await?;
    let page = format!("{}/public-squeezed/", env.base_path());
    assert_compresses(&env, &page, JSON).await?;
    assert_compresses(&env, &page, HTML).await?;
    Ok(())
}
