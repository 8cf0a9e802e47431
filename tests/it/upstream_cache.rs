//! The pull-through cache (`--upstream-cache`): upstream files kept in the real registry, with a
//! real upstream on loopback (pypiserver, or the harness's static index, which counts requests
//! and can tamper with a file).

use std::time::Duration;

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::harness::static_index::StaticIndex;
use crate::harness::{AuthMode, DistSpec, TestEnv, metric_sum};
use crate::upstream::PypiServer;

/// The repository of `project` (normalized, `_` form) in the namespace's cache.
fn cache_repository(env: &TestEnv, project: &str) -> String {
    format!("{}/oci-pypi.cache/{project}", env.namespace)
}

/// Configures `upstream` as the namespace's upstream, with the cache on.
async fn cache_upstream(env: &mut TestEnv, upstream: String) -> anyhow::Result<()> {
    cache_upstream_with(env, upstream, |_| {}).await
}

/// Like [`cache_upstream`], with a chance to change more settings.
async fn cache_upstream_with(
    env: &mut TestEnv,
    upstream: String,
    configure: impl FnOnce(&mut oci_pypi::config::Config),
) -> anyhow::Result<()> {
    let place = format!("{}/{}", env.segment(), env.namespace);
    env.reconfigure(|config| {
        config.upstream.upstreams = vec![format!("{place}={upstream}")];
        config.upstream.upstream_cache = vec![place];
        configure(config);
    })
    .await
}

/// The release index under `tag` of `repository`, as stored.
async fn stored_index(env: &TestEnv, repository: &str, tag: &str) -> anyhow::Result<Value> {
    env.storage().manifest_json(repository, tag).await
}

/// pip installs a private package with its public dependency through the server; upstream
/// stops; a fresh install (no client cache) still works, from the registry. With the blob
/// cache on, the dependency stored by the pull-through cache is also kept on the server's
/// disk as it is stored, and the installs after the outage are sent from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_survive_an_upstream_outage() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Htpasswd).await?;
    let public = env.sandbox.fresh_dir("public")?;
    let dependency = DistSpec::new("cached-dep", "3.1");
    let wheel = env.sandbox.wheel_into(&dependency, &public).await?;
    let upstream = PypiServer::start(&env, &public).await?;
    let blob_cache = tempfile::tempdir()?;
    let blob_cache_dir = blob_cache.path().to_owned();
    cache_upstream_with(&mut env, upstream.url(), move |config| {
        config.registry.blob_cache_dir = Some(blob_cache_dir);
    })
    .await?;
    let app = DistSpec::new("outage-app", "1.0").requires("cached-dep>=3");
    env.publish_wheel(&app).await?;

    let url = env.index_url_with_credentials();
    env.assert_pip_installs(&["outage-app"], &[(&dependency.module(), "3.1")])
        .await?;

    // Stored in the namespace's cache, byte for byte, with what upstream said of it.
    let repository = cache_repository(&env, "cached_dep");
    let index = stored_index(&env, &repository, "3.1").await?;
    let entry = &index["manifests"][0];
    let annotations = &entry["annotations"];
    let sha256 = hex::encode(Sha256::digest(std::fs::read(&wheel)?));
    assert_eq!(annotations["com.pyoci.sha256_digest"], sha256.as_str());
    assert_eq!(
        annotations["org.opencontainers.image.title"],
        dependency.wheel_filename().as_str()
    );
    assert!(
        annotations["dev.oci-pypi.cached-from"]
            .as_str()
            .is_some_and(|from| from.starts_with(&upstream.url())),
        "{annotations}"
    );
    assert_eq!(
        annotations["dev.oci-pypi.core-metadata.sha256"]
            .as_str()
            .map(str::len),
        Some(64)
    );
    let blob = env
        .storage()
        .blob(&repository, &format!("sha256:{sha256}"))
        .await?;
    assert_eq!(blob, std::fs::read(&wheel)?);
    let kept = blob_cache.path().join("sha256").join(&sha256);
    for _ in 0..200 {
        if kept.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        std::fs::read(&kept)?,
        std::fs::read(&wheel)?,
        "in the blob cache"
    );

    let upstream_url = upstream.url();
    drop(upstream);
    let client = reqwest::Client::builder().no_proxy().build()?;
    for attempt in 0.. {
        // pypiserver is gone once its port refuses connections.
        let gone = client.get(&upstream_url).send().await.is_err();
        assert!(attempt < 100, "pypiserver does not stop");
        if gone {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.sandbox
        .assert_pip_installs_uncached(&url, &["outage-app"], &[(&dependency.module(), "3.1")])
        .await?;
    env.sandbox
        .assert_uv_installs_uncached(&url, &["outage-app"], &[(&dependency.module(), "3.1")])
        .await?;
    let hits = "oci_pypi_blob_cache_lookups_total{result=\"hit\"}";
    let hits = crate::harness::metric_value(&env.server.metrics().await?, hits);
    assert!(
        hits >= 4.0,
        "both files, for pip and uv, from the blob cache: {hits}"
    );
    Ok(())
}

/// Sixteen concurrent first requests for one file: one upstream fetch, sixteen identical
/// bodies; later requests come from the registry; what upstream said of the file is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_fetch_once() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Anonymous).await?;
    let public = env.sandbox.fresh_dir("public")?;
    let spec = DistSpec::new("popular", "2.0").payload_bytes(3 << 20);
    let wheel = env.sandbox.wheel_into(&spec, &public).await?;
    let expected = std::fs::read(&wheel)?;
    let upstream = StaticIndex::start(&public)?;
    upstream.pause_files(Duration::from_millis(700));
    upstream.yank(&spec.wheel_filename(), "broken build");
    cache_upstream(&mut env, upstream.url()).await?;

    let file_url = format!("{}/popular/{}", env.base_path(), spec.wheel_filename());
    let requests = (0..16).map(|_| {
        let request = env.http(Method::GET, &file_url, false);
        async move {
            let response = request.send().await?;
            anyhow::ensure!(response.status() == StatusCode::OK, "{}", response.status());
            Ok::<_, anyhow::Error>(response.bytes().await?)
        }
    });
    for body in futures_util::future::join_all(requests).await {
        assert!(body? == expected, "a body differs from the file");
    }
    let fetched = format!("/files/{}", spec.wheel_filename());
    assert_eq!(
        upstream.requests(&fetched),
        1,
        "{:?}",
        upstream.all_requests()
    );
    // One page fetch too: concurrent lookups of a page wait for the one in progress.
    assert_eq!(upstream.requests("/simple/popular/"), 1);

    // From the registry now: no more upstream fetches.
    for _ in 0..3 {
        let response = env.get(&file_url, false).await?;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.bytes().await? == expected);
    }
    assert_eq!(upstream.requests(&fetched), 1);

    let index = stored_index(&env, &cache_repository(&env, "popular"), "2.0").await?;
    let annotations = &index["manifests"][0]["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.created"],
        "2025-03-04T05:06:07Z"
    );
    assert_eq!(annotations["dev.oci-pypi.requires-python"], ">=3.8");
    assert_eq!(annotations["dev.oci-pypi.yanked"], "broken build");
    // Its core metadata is kept and served (PEP 658).
    let metadata = env.get(&format!("{file_url}.metadata"), false).await?;
    assert_eq!(metadata.status(), StatusCode::OK);
    assert!(metadata.text().await?.contains("Name: popular"));
    Ok(())
}

/// A file whose bytes do not match upstream's sha256 is refused and nothing is cached: the
/// clients that joined the fetch see their body end in an error before its last bytes, one
/// that came after it ended gets a 502 naming the file; none gets the whole (wrong) file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_upstream_files_are_refused_and_not_cached() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Anonymous).await?;
    let public = env.sandbox.fresh_dir("public")?;
    let spec = DistSpec::new("tampered", "1.0");
    let wheel = env.sandbox.wheel_into(&spec, &public).await?;
    let expected = std::fs::read(&wheel)?;
    let upstream = StaticIndex::start(&public)?;
    upstream.tamper(&spec.wheel_filename());
    upstream.pause_files(Duration::from_millis(500));
    cache_upstream(&mut env, upstream.url()).await?;

    let file_url = format!("{}/tampered/{}", env.base_path(), spec.wheel_filename());
    let requests = (0..4).map(|_| {
        let request = env.http(Method::GET, &file_url, false);
        async move {
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await;
            Ok::<_, anyhow::Error>((status, body))
        }
    });
    for outcome in futures_util::future::join_all(requests).await {
        let (status, body) = outcome?;
        if status == StatusCode::BAD_GATEWAY {
            let text = String::from_utf8_lossy(&body?).into_owned();
            assert!(text.contains(&spec.wheel_filename()), "{text}");
        } else {
            assert_eq!(status, StatusCode::OK);
            // Cut short: never the whole (wrong) file.
            assert!(body.map_or(true, |b| b.len() < expected.len()));
        }
    }
    let fetched = format!("/files/{}", spec.wheel_filename());
    assert_eq!(upstream.requests(&fetched), 1);
    let tags = env
        .storage()
        .tags(&cache_repository(&env, "tampered"))
        .await
        .unwrap_or_default();
    assert!(tags.is_empty(), "{tags:?}");

    // Not cached: the next request asks upstream again, and is refused again.
    let response = env.get(&file_url, false).await?;
    let complete = response.bytes().await.is_ok_and(|b| b == expected);
    assert!(!complete);
    assert_eq!(upstream.requests(&fetched), 2);
    Ok(())
}

/// A name the namespace publishes never reaches upstream: not its page, not its files, and
/// nothing of it is cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_names_never_reach_upstream() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Anonymous).await?;
    let public = env.sandbox.fresh_dir("public")?;
    let upstream_copy = DistSpec::new("internal-tool", "9.0");
    env.sandbox.wheel_into(&upstream_copy, &public).await?;
    let upstream = StaticIndex::start(&public)?;
    cache_upstream(&mut env, upstream.url()).await?;
    let private = DistSpec::new("internal-tool", "1.0");
    env.publish_wheel(&private).await?;

    env.assert_pip_installs(&["internal-tool"], &[(&private.module(), "1.0")])
        .await?;
    let base = env.base_path();
    let page = env.get(&format!("{base}/internal-tool/"), false).await?;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await?;
    assert!(
        page.contains(&private.wheel_filename()) && !page.contains("9.0"),
        "{page}"
    );
    for path in [
        format!("{base}/internal-tool/{}", upstream_copy.wheel_filename()),
        format!(
            "{base}/internal-tool/{}.metadata",
            upstream_copy.wheel_filename()
        ),
    ] {
        let response = env.get(&path, false).await?;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert!(
        upstream.all_requests().is_empty(),
        "{:?}",
        upstream.all_requests()
    );
    let tags = env
        .storage()
        .tags(&cache_repository(&env, "internal_tool"))
        .await
        .unwrap_or_default();
    assert!(tags.is_empty(), "{tags:?}");
    Ok(())
}

/// Upstream pages are revalidated (`If-None-Match`); while upstream is down, the last page and
/// the cached files are served with a `Warning` and counted, files never cached are answered
/// 502 with the reason; after a restart the page comes from the cache itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_pages_and_files_while_upstream_is_down() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Anonymous).await?;
    let public = env.sandbox.fresh_dir("public")?;
    let old = DistSpec::new("flaky", "1.0");
    let new = DistSpec::new("flaky", "2.0");
    let old_wheel = env.sandbox.wheel_into(&old, &public).await?;
    env.sandbox.wheel_into(&new, &public).await?;
    let upstream = StaticIndex::start(&public)?;
    cache_upstream_with(&mut env, upstream.url(), |config| {
        config.upstream.upstream_page_ttl = 0
    })
    .await?;

    let page_path = format!("{}/flaky/", env.base_path());
    let page = |env: &TestEnv| {
        env.http(Method::GET, &page_path, false)
            .header("accept", "application/vnd.pypi.simple.v1+json")
            .send()
    };
    for _ in 0..2 {
        let response = page(&env).await?;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("warning").is_none());
        let json: Value = response.json().await?;
        assert_eq!(json["versions"], serde_json::json!(["1.0", "2.0"]));
    }
    assert_eq!(upstream.requests("/simple/flaky/"), 2);
    assert_eq!(upstream.requests("304 /simple/flaky/"), 1, "revalidated");
    let old_url = format!("{page_path}{}", old.wheel_filename());
    let new_url = format!("{page_path}{}", new.wheel_filename());
    let response = env.get(&old_url, false).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await? == std::fs::read(&old_wheel)?);

    drop(upstream);
    let response = page(&env).await?;
    assert_eq!(response.status(), StatusCode::OK);
    let warning = response.headers().get("warning").context("no warning")?;
    assert!(warning.to_str()?.starts_with("110 "), "{warning:?}");
    let json: Value = response.json().await?;
    assert_eq!(json["versions"], serde_json::json!(["1.0", "2.0"]));
    let response = env.get(&old_url, false).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("warning").is_some());
    assert!(response.bytes().await? == std::fs::read(&old_wheel)?);
    let response = env.get(&new_url, false).await?;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let reason = response.text().await?;
    assert!(reason.contains("unreachable"), "{reason}");
    let metrics = env.get_text("/metrics", false).await?;
    for event in ["stale_page", "stale_file"] {
        let series = format!("oci_pypi_upstream_cache_total{{event=\"{event}\"}} 1");
        assert!(metrics.contains(&series), "{series} in {metrics}");
    }

    // A new process knows no page: the cache's own, with what it holds, and pip installs it.
    let place = format!("{}/{}", env.segment(), env.namespace);
    let gone = format!("http://127.0.0.1:{}/simple/", free_port()?);
    cache_upstream_with(&mut env, gone, |config| {
        config.upstream.upstream_cache = vec![place]
    })
    .await?;
    let response = page(&env).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("warning").is_some());
    let json: Value = response.json().await?;
    assert_eq!(json["versions"], serde_json::json!(["1.0"]));
    env.sandbox
        .assert_pip_installs_uncached(&env.index_url(), &["flaky"], &[(&old.module(), "1.0")])
        .await?;
    Ok(())
}

/// A loopback port nothing listens on.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Past `--upstream-cache-max-size`, the least recently used cached file is evicted (never a
/// published one, never the file just stored); a file larger than the cap is served, not kept;
/// a name denied later is neither fetched nor served from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_keeps_to_its_size_and_the_name_lists() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Anonymous).await?;
    let public = env.sandbox.fresh_dir("public")?;
    let specs = [
        DistSpec::new("first", "1.0").payload_bytes(1 << 20),
        DistSpec::new("second", "1.0").payload_bytes(1 << 20),
        DistSpec::new("third", "1.0").payload_bytes(1 << 20),
        DistSpec::new("huge", "1.0").payload_bytes(3 << 20),
    ];
    for spec in &specs {
        env.sandbox.wheel_into(spec, &public).await?;
    }
    let upstream = StaticIndex::start(&public)?;
    let cap = (5 << 20) / 2;
    cache_upstream_with(&mut env, upstream.url(), |config| {
        config.upstream.upstream_cache_max_size = cap;
    })
    .await?;
    let private = DistSpec::new("private-thing", "1.0").payload_bytes(1 << 20);
    env.publish_wheel(&private).await?;

    let [first, second, third, huge] = &specs;
    get_file(&env, first).await?;
    get_file(&env, second).await?;
    get_file(&env, first).await?; // from the cache: `first` is now the most recently used
    get_file(&env, third).await?; // over the cap: `second` goes
    crate::harness::listing::eventually("second evicted", || async {
        let metrics = env.get_text("/metrics", false).await?;
        let counted = metrics.contains("oci_pypi_upstream_cache_total{event=\"evicted\"} 1");
        Ok(counted && cached_tags(&env, "second").await?.is_empty())
    })
    .await?;
    assert!(
        cached_tags(&env, "first")
            .await?
            .contains(&"1.0".to_owned())
    );
    assert!(
        cached_tags(&env, "third")
            .await?
            .contains(&"1.0".to_owned())
    );
    let published = env
        .storage()
        .tags(&format!("{}/private_thing", env.namespace))
        .await?;
    assert!(published.contains(&"1.0".to_owned()), "{published:?}");

    // Evicted: fetched from upstream again.
    let fetched = format!("/files/{}", second.wheel_filename());
    assert_eq!(upstream.requests(&fetched), 1);
    get_file(&env, second).await?;
    assert_eq!(upstream.requests(&fetched), 2);

    // Larger than the cap: served, not kept.
    assert!(get_file(&env, huge).await? > cap as usize);
    assert!(cached_tags(&env, "huge").await?.is_empty());

    // A name denied now is neither served from the cache nor fetched.
    let place = format!("{}/{}", env.segment(), env.namespace);
    let url = upstream.url();
    env.reconfigure(|config| {
        config.upstream.upstreams = vec![format!("{place}={url}")];
        config.upstream.upstream_cache = vec![place];
        config.upstream.upstream_deny = vec!["fir*".to_owned()];
    })
    .await?;
    let before = upstream.all_requests();
    let page = env
        .get(&format!("{}/first/", env.base_path()), false)
        .await?;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(get_file(&env, first).await.is_err());
    assert_eq!(upstream.all_requests(), before);
    Ok(())
}

/// GET of `spec`'s wheel through the server: its length, or an error unless 200.
async fn get_file(env: &TestEnv, spec: &DistSpec) -> anyhow::Result<usize> {
    let path = format!(
        "{}/{}/{}",
        env.base_path(),
        spec.project_name(),
        spec.wheel_filename()
    );
    let response = env.get(&path, false).await?;
    anyhow::ensure!(response.status() == StatusCode::OK, "{}", response.status());
    Ok(response.bytes().await?.len())
}

/// The tags of `project`'s repository in the namespace's cache (none when it has none).
async fn cached_tags(env: &TestEnv, project: &str) -> anyhow::Result<Vec<String>> {
    let repository = cache_repository(env, project);
    Ok(env.storage().tags(&repository).await.unwrap_or_default())
}

/// `oci-pypi mirror` fills the cache with a requirement's dependency closure for a target
/// (markers and wheel tags evaluated for it, pre-releases and other platforms left out); with
/// upstream gone, pip installs it all from the registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_prefetches_a_closure_for_offline_installs() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Anonymous).await?;
    let public = env.sandbox.fresh_dir("public")?;
    let arch = std::env::consts::ARCH;
    let specs = [
        DistSpec::new("mirrored-app", "1.0")
            .requires("lib-b>=2")
            .requires("winonly; sys_platform == 'win32'")
            .requires("extra-thing; extra == 'full'")
            .requires("old-py; python_version < '3.8'"),
        DistSpec::new("lib-b", "1.0"),
        DistSpec::new("lib-b", "2.0").requires("native"),
        DistSpec::new("lib-b", "2.1a1"),
        DistSpec::new("native", "1.0").tag(&format!("py3-none-manylinux_2_17_{arch}")),
        DistSpec::new("native", "1.0").tag("py3-none-win_amd64"),
        DistSpec::new("winonly", "1.0"),
        DistSpec::new("extra-thing", "1.0"),
        DistSpec::new("old-py", "1.0"),
    ];
    for spec in &specs {
        env.sandbox.wheel_into(spec, &public).await?;
    }
    let upstream = StaticIndex::start(&public)?;
    cache_upstream(&mut env, upstream.url()).await?;
    let python = env
        .sandbox
        .python(&[
            "-c",
            "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')",
        ])
        .await?;
    python.assert_success();
    let python = python.stdout.trim().to_owned();

    let place = format!("{}/{}", env.segment(), env.namespace);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"))
        .args(["mirror", "--json", "--namespace", &place, "mirrored-app"])
        .args(["--python", &python, "--platform"])
        .arg(format!("manylinux_2_28_{arch}"))
        .env("OCI_PYPI_REGISTRIES", env.registry.origin())
        .env("OCI_PYPI_UPSTREAMS", format!("{place}={}", upstream.url()))
        .env("OCI_PYPI_UPSTREAM_CACHE", &place)
        .env("OCI_PYPI_LOG_LEVEL", "warn")
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&stdout)?;
    let mut expected = vec![
        specs[0].wheel_filename(),
        specs[2].wheel_filename(),
        specs[4].wheel_filename(),
    ];
    expected.sort();
    assert_eq!(report["files"], serde_json::json!(expected), "{report}");
    assert_eq!(report["unresolved"], serde_json::json!([]), "{report}");
    for left_out in [
        &specs[1], &specs[3], &specs[5], &specs[6], &specs[7], &specs[8],
    ] {
        let path = format!("/files/{}", left_out.wheel_filename());
        assert_eq!(upstream.requests(&path), 0, "{path}");
    }

    drop(upstream);
    env.sandbox
        .assert_pip_installs_uncached(
            &env.index_url(),
            &["mirrored-app"],
            &[("mirrored_app", "1.0"), ("lib_b", "2.0"), ("native", "1.0")],
        )
        .await?;

    // Bad input is named.
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"))
        .args([
            "mirror",
            "--namespace",
            &place,
            "x @ https://example.org/x.whl",
        ])
        .args(["--python", "3.12", "--platform", "win_amd64"])
        .env("OCI_PYPI_REGISTRIES", env.registry.origin())
        .output()
        .await?;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("direct references"), "{stderr}");
    Ok(())
}

/// After its page, a file of the cache costs the registry two requests, the cache's release
/// index and the blob: that the namespace itself has no such project, which the page just
/// learnt for this caller, is not asked again for the TTL (it was: the namespace's status,
/// release index and tag list on each download). A release published through this server
/// then is served from the namespace at once: the change ends what was learnt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_file_after_its_page_costs_two_registry_requests() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Htpasswd).await?;
    let public = env.sandbox.fresh_dir("public")?;
    let dependency = DistSpec::new("counted-dep", "1.0");
    let wheel = env.sandbox.wheel_into(&dependency, &public).await?;
    let upstream = PypiServer::start(&env, &public).await?;
    cache_upstream(&mut env, upstream.url()).await?;
    let page = format!("{}/counted-dep/", env.base_path());
    let get = async |path: &str| -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let response = env.http(Method::GET, path, true).send().await?;
        Ok((response.status(), response.bytes().await?.to_vec()))
    };
    let file = format!("{page}{}", dependency.wheel_filename());
    assert_eq!(get(&page).await?.0, StatusCode::OK);
    assert!(
        get(&file).await?.1 == std::fs::read(&wheel)?,
        "fills the cache"
    );
    env.server.settled().await?;

    let requests = async || -> anyhow::Result<f64> {
        let metrics = env.server.metrics().await?;
        Ok(metric_sum(&metrics, "oci_pypi_registry_requests_total"))
    };
    assert_eq!(get(&page).await?.0, StatusCode::OK);
    env.server.settled().await?;
    let before = requests().await?;
    for _ in 0..3 {
        let (status, bytes) = get(&file).await?;
        assert_eq!(status, StatusCode::OK);
        assert!(bytes == std::fs::read(&wheel)?);
    }
    assert_eq!(requests().await? - before, 6.0, "two per download");

    let own = DistSpec::new("counted-dep", "2.0");
    env.publish_wheel(&own).await?;
    let (status, listed) = get(&page).await?;
    assert_eq!(status, StatusCode::OK);
    let listed = String::from_utf8(listed)?;
    assert!(
        listed.contains(&own.wheel_filename()),
        "published here, listed at once: {listed}"
    );
    let own_file = format!("{page}{}", own.wheel_filename());
    assert_eq!(get(&own_file).await?.0, StatusCode::OK);
    Ok(())
}
