//! Operations: metrics move with traffic, readiness follows the registry, request ids are
//! propagated, JSON logs are one object per line.

use std::time::Duration;

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::process::ServerProcess;
use crate::harness::{
    AuthMode, DistSpec, Registry, Sandbox, Server, TestEnv, UploadForm, assert_status, metric_value,
};

/// `/metrics` is Prometheus text whose counters move with uploads, pages, downloads and
/// registry requests, and that never carries a credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_traffic() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    let before = env.metrics().await?;
    let spec = DistSpec::new("metered", "1.0");
    let wheel = env.sandbox.wheel(&spec).await?;
    let size = std::fs::metadata(&wheel)?.len() as f64;
    env.twine_upload(&[&wheel]).await?.assert_success();
    let page = format!("{}/metered/", env.base_path());
    let page_miss = "oci_pypi_cache_lookups_total{cache=\"page\",result=\"miss\"}";
    let page_hit = "oci_pypi_cache_lookups_total{cache=\"page\",result=\"hit\"}";
    let release_miss = "oci_pypi_cache_lookups_total{cache=\"release\",result=\"miss\"}";
    let document_fetched = "oci_pypi_cache_lookups_total{cache=\"document\",result=\"fetched\"}";
    // The upload made the page cold: once the listing document records the release (written
    // in the background after the upload), the first view is a miss that reads the document
    // and no release, the next two are hits.
    let repository = format!("{}/metered", env.namespace);
    env.registry
        .direct()
        .wait_for_listing(&repository, &["1.0"])
        .await?;
    env.server.settled().await?;
    let cold = env.metrics().await?;
    let mut seen = Vec::new();
    for _ in 0..3 {
        assert_eq!(env.get(&page, true).await?.status(), StatusCode::OK);
        seen.push(env.metrics().await?);
    }
    assert_eq!(
        metric_value(&seen[0], page_miss) - metric_value(&cold, page_miss),
        1.0,
        "{}",
        seen[0]
    );
    assert_eq!(
        metric_value(&seen[0], page_hit) - metric_value(&cold, page_hit),
        0.0,
        "{}",
        seen[0]
    );
    assert_eq!(
        metric_value(&seen[0], document_fetched) - metric_value(&cold, document_fetched),
        1.0,
        "{}",
        seen[0]
    );
    assert_eq!(
        metric_value(&seen[0], release_miss) - metric_value(&cold, release_miss),
        0.0,
        "{}",
        seen[0]
    );
    assert_eq!(
        metric_value(&seen[2], page_miss),
        metric_value(&seen[0], page_miss),
        "{}",
        seen[2]
    );
    assert_eq!(
        metric_value(&seen[2], page_hit) - metric_value(&seen[0], page_hit),
        2.0,
        "{}",
        seen[2]
    );
    let file = format!("{page}{}", spec.wheel_filename());
    env.get(&file, true).await?.bytes().await?;

    let response = env.get("/metrics", false).await?;
    assert!(
        response.headers()["content-type"]
            .to_str()?
            .starts_with("text/plain; version=0.0.4")
    );
    let after = response.text().await?;
    let pages =
        "oci_pypi_http_requests_total{route=\"project_page\",method=\"GET\",status=\"200\"}";
    assert_eq!(
        metric_value(&after, pages) - metric_value(&before, pages),
        3.0,
        "{after}"
    );
    let uploads = "oci_pypi_http_requests_total{route=\"upload\",method=\"POST\",status=\"200\"}";
    assert_eq!(metric_value(&after, uploads), 1.0, "{after}");
    assert_eq!(metric_value(&after, "oci_pypi_upload_bytes_total"), size);
    assert_eq!(metric_value(&after, "oci_pypi_download_bytes_total"), size);
    assert_eq!(metric_value(&after, "oci_pypi_uploads_in_flight"), 0.0);
    assert!(
        metric_value(&after, "oci_pypi_registry_requests_total{outcome=\"2xx\"}")
            > metric_value(&before, "oci_pypi_registry_requests_total{outcome=\"2xx\"}")
    );
    assert!(
        metric_value(
            &after,
            "oci_pypi_http_request_duration_seconds_count{route=\"project_page\"}"
        ) >= 3.0
    );
    let (_, password) = env.credentials().unwrap();
    assert!(!after.contains(&password));
    Ok(())
}

/// `/ready` answers 200 while the registry is up and 503 naming it once it is gone;
/// `/health` stays 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_registry() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Token).await?;
    let ready = env.get("/ready", false).await?;
    assert_eq!(ready.status(), StatusCode::OK);
    let TestEnv {
        registry, server, ..
    } = env;
    let origin = registry.origin();
    drop(registry);
    let client = reqwest::Client::builder().no_proxy().build()?;
    let ready = client.get(format!("{}/ready", server.url())).send().await?;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.text().await?.contains(&origin));
    let health = client
        .get(format!("{}/health", server.url()))
        .send()
        .await?;
    assert_eq!(health.status(), StatusCode::OK);
    drop::<Server>(server);
    Ok(())
}

/// Every response carries an `x-request-id`, the caller's own when it sent one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_propagated() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    let response = env.get("/health", false).await?;
    let generated = response.headers()["x-request-id"].to_str()?.to_owned();
    assert_eq!(generated.len(), 36, "{generated}");
    let response = env
        .http(Method::GET, "/health", false)
        .header("x-request-id", "ci-job-42")
        .send()
        .await?;
    assert_eq!(response.headers()["x-request-id"], "ci-job-42");
    Ok(())
}

/// The request id travels on to the registry: every registry request made to serve a page or
/// a file carries the `x-request-id` of the request it serves (given by the caller, or
/// generated), so the registry's logs can be joined with ours. Background work a request
/// starts (a listing document written after a page found none) carries that request's id,
/// and may still be running when the next request is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_reach_the_registry() -> anyhow::Result<()> {
    use crate::harness::fake_registry::{FILENAME, FakeRegistry, NAMESPACE, PROJECT};
    let fake = FakeRegistry::start()?;
    let config = oci_pypi::config::Config::for_registries(vec![oci_pypi::net::Origin::parse(
        &fake.origin(),
    )?]);
    let server = Server::start(config).await?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    let base = format!("{}/{}/{NAMESPACE}/{PROJECT}", server.url(), fake.host());
    let mut issued = Vec::new();
    for (id, url) in [
        ("page-7f3a", format!("{base}/")),
        ("file-91c2", format!("{base}/{FILENAME}")),
    ] {
        let before = fake.request_ids().len();
        issued.push(id);
        let response = client.get(&url).header("x-request-id", id).send().await?;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        response.bytes().await?;
        let seen = fake.request_ids().split_off(before);
        assert!(
            seen.iter().any(|seen| seen == id),
            "{url}: no registry request carried `{id}`: {seen:?}"
        );
        assert!(
            seen.iter().all(|seen| issued.contains(&seen.as_str())),
            "{url}: registry requests carried {seen:?}, not `{id}`"
        );
    }
    // An upload: the blob PATCH streams from a task of its own, and carries the id too.
    let sandbox = Sandbox::new()?;
    // Larger than what the server holds back before the PATCH opens (1 MiB).
    let spec = DistSpec::new(PROJECT, "2.0").payload_bytes(3 << 19);
    let wheel = std::fs::read(sandbox.wheel(&spec).await?)?;
    let form = UploadForm::wheel(&spec, &wheel).form();
    let before = fake.request_ids().len();
    let before_patches = fake.requests(crate::harness::fake_registry::Endpoint::UploadPatch);
    let response = client
        .post(format!("{}/{}/{NAMESPACE}/", server.url(), fake.host()))
        .header("x-request-id", "upload-5d1e")
        .multipart(form)
        .send()
        .await?;
    assert_status(response, StatusCode::OK).await?;
    assert!(
        fake.requests(crate::harness::fake_registry::Endpoint::UploadPatch) > before_patches,
        "the upload streamed no PATCH"
    );
    let seen = fake.request_ids().split_off(before);
    issued.push("upload-5d1e");
    assert!(
        seen.iter().any(|seen| seen == "upload-5d1e")
            && seen.iter().all(|seen| issued.contains(&seen.as_str())),
        "upload: registry requests carried {seen:?}"
    );

    // Without one from the caller, the generated id is passed on.
    let before = fake.request_ids().len();
    let response = client.get(format!("{base}/{FILENAME}")).send().await?;
    let generated = response.headers()["x-request-id"].to_str()?.to_owned();
    response.bytes().await?;
    let seen = fake.request_ids().split_off(before);
    assert!(seen.contains(&generated), "{seen:?} vs {generated}");
    assert!(
        seen.iter()
            .all(|seen| *seen == generated || issued.contains(&seen.as_str())),
        "{seen:?} vs {generated}"
    );
    server.stop().await
}

/// With `--log-format json` (`OCI_PYPI_LOG_FORMAT=json`), every line the process writes while
/// serving uploads, pages, downloads and errors is one JSON object with a timestamp and a
/// level, and the lines of each request carry its `x-request-id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_objects_carrying_request_ids() -> anyhow::Result<()> {
    let registry = Registry::start(AuthMode::Anonymous).await?;
    let settings = [("OCI_PYPI_LOG_FORMAT", "json")];
    let mut server = ServerProcess::start(&registry.origin(), &settings).await?;
    let sandbox = Sandbox::new()?;
    let spec = DistSpec::new("journaled", "1.0");
    let wheel = std::fs::read(sandbox.wheel(&spec).await?)?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    let base = format!("{}/{}/ci", server.url(), registry.host());
    let form = UploadForm::wheel(&spec, &wheel).form();
    let requests = [
        (
            "ops-upload-1",
            client.post(format!("{base}/")).multipart(form),
        ),
        ("ops-page-2", client.get(format!("{base}/journaled/"))),
        (
            "ops-file-3",
            client.get(format!("{base}/journaled/{}", spec.wheel_filename())),
        ),
        ("ops-missing-4", client.get(format!("{base}/nothing-here/"))),
        (
            "ops-health-5",
            client.get(format!("{}/health", server.url())),
        ),
    ];
    for (id, request) in requests {
        let response = request.header("x-request-id", id).send().await?;
        assert_eq!(response.headers()["x-request-id"], id);
        response.bytes().await?;
    }
    server.terminate()?;
    server.wait(Duration::from_secs(10)).await?;

    let log = server.log();
    let mut lines = Vec::new();
    for line in log.lines().filter(|line| !line.trim().is_empty()) {
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {line}\n{log}"));
        assert!(parsed.is_object(), "{line}");
        assert!(parsed["timestamp"].is_string(), "{line}");
        assert!(parsed["level"].is_string(), "{line}");
        lines.push(parsed);
    }
    for line in &lines {
        if let Some(id) = request_id(line) {
            assert!(!id.is_empty(), "a request line without its id: {line}");
        }
    }
    for id in [
        "ops-upload-1",
        "ops-page-2",
        "ops-file-3",
        "ops-missing-4",
        "ops-health-5",
    ] {
        assert!(
            lines.iter().any(|line| request_id(line) == Some(id)),
            "no log line carries request id `{id}`:\n{log}"
        );
    }
    Ok(())
}

/// The `request.id` of the request span a JSON log line was written in, if any.
fn request_id(line: &Value) -> Option<&str> {
    let spans = line["spans"].as_array().into_iter().flatten();
    spans
        .chain(std::iter::once(&line["span"]))
        .find(|span| span["name"] == "request")
        .map(|span| span["request.id"].as_str().unwrap_or_default())
}

/// A server started with a soft limit on open files below one page's registry connections
/// (container runtimes start processes with 1024; here 256, under `--listing-concurrency`'s
/// 256) raises it to the hard limit at start, and serves the cold page of a PyOCI project of
/// 300 releases, which asks the registry for 256 release indexes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_open_files_limit_is_raised_for_wide_pages() -> anyhow::Result<()> {
    let registry = Registry::start(AuthMode::Anonymous).await?;
    let direct = registry.direct();
    let repository = "wide/many";
    let releases = 300;
    for i in 0..releases {
        let bytes = format!("wheel {i}").into_bytes();
        let files = [("py3-none-any.whl", bytes)];
        crate::compat::push_pyoci_release(&direct, repository, &format!("1.0.{i}"), &files, "{}")
            .await?;
    }
    let hard = open_files_limits(&std::fs::read_to_string("/proc/self/limits")?)?.1;
    anyhow::ensure!(
        hard > 512,
        "this machine's hard limit on open files is {hard}"
    );
    let hard_text = if hard == u64::MAX {
        "unlimited".to_owned()
    } else {
        hard.to_string()
    };
    let wrapper = ["prlimit", &format!("--nofile=256:{hard_text}"), "--"];
    let settings = [("OCI_PYPI_LISTING_DOCUMENTS", "read")];
    let server = ServerProcess::start_under(&wrapper, &registry.origin(), &settings).await?;
    let pid = server.pid().context("the server exited")?;
    let limits = open_files_limits(&std::fs::read_to_string(format!("/proc/{pid}/limits"))?)?;
    assert_eq!(limits, (hard.min(1 << 20), hard), "{}", server.log());
    let client = reqwest::Client::builder().no_proxy().build()?;
    let url = format!("{}/{}/wide/many/", server.url(), registry.host());
    let response = client.get(&url).send().await?;
    let status = response.status();
    let body = response.text().await?;
    assert_eq!(status, StatusCode::OK, "{body}\n{}", server.log());
    assert_eq!(body.matches("#sha256=").count(), releases);
    Ok(())
}

/// The soft and hard limits of the `Max open files` line of a `/proc/<pid>/limits`.
fn open_files_limits(limits: &str) -> anyhow::Result<(u64, u64)> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .context("no `Max open files` line")?;
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|field| match field {
            "unlimited" => Some(u64::MAX),
            number => number.parse().ok(),
        })
        .collect();
    match numbers[..] {
        [soft, hard] => Ok((soft, hard)),
        _ => anyhow::bail!("unexpected line `{line}`"),
    }
}
