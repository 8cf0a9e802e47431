//! Operations: metrics move with traffic, readiness follows the registry, request ids are
//! propagated.

use reqwest::{Method, StatusCode};

use crate::harness::{AuthMode, DistSpec, Server, TestEnv};

fn value(metrics: &str, line_start: &str) -> f64 {
    metrics
        .lines()
        .find(|line| line.starts_with(line_start))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// `/metrics` is Prometheus text whose counters move with uploads, pages, downloads and
/// registry requests, and that never carries a credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_traffic() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    let before = env
        .http(Method::GET, "/metrics", false)
        .send()
        .await?
        .text()
        .await?;
    let spec = DistSpec::new("metered", "1.0");
    let wheel = env.sandbox.wheel(&spec).await?;
    let size = std::fs::metadata(&wheel)?.len() as f64;
    env.twine_upload(&[&wheel]).await?.assert_success();
    let page = format!("{}/metered/", env.base_path());
    for _ in 0..3 {
        assert_eq!(
            env.http(Method::GET, &page, true).send().await?.status(),
            StatusCode::OK
        );
    }
    let file = format!("{page}{}", spec.wheel_filename());
    env.http(Method::GET, &file, true)
        .send()
        .await?
        .bytes()
        .await?;

    let response = env.http(Method::GET, "/metrics", false).send().await?;
    assert!(
        response.headers()["content-type"]
            .to_str()?
            .starts_with("text/plain; version=0.0.4")
    );
    let after = response.text().await?;
    let pages =
        "oci_pypi_http_requests_total{route=\"project_page\",method=\"GET\",status=\"200\"}";
    assert_eq!(value(&after, pages) - value(&before, pages), 3.0, "{after}");
    let uploads = "oci_pypi_http_requests_total{route=\"upload\",method=\"POST\",status=\"200\"}";
    assert_eq!(value(&after, uploads), 1.0, "{after}");
    assert_eq!(value(&after, "oci_pypi_upload_bytes_total"), size);
    assert_eq!(value(&after, "oci_pypi_download_bytes_total"), size);
    assert_eq!(value(&after, "oci_pypi_uploads_in_flight"), 0.0);
    assert!(
        value(&after, "oci_pypi_registry_requests_total{outcome=\"2xx\"}")
            > value(&before, "oci_pypi_registry_requests_total{outcome=\"2xx\"}")
    );
    assert!(
        value(
            &after,
            "oci_pypi_cache_lookups_total{cache=\"page\",result=\"hit\"}"
        ) >= 1.0,
        "{after}"
    );
    assert!(
        value(
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
    let ready = env.http(Method::GET, "/ready", false).send().await?;
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
    let response = env.http(Method::GET, "/health", false).send().await?;
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
