//! Followers of a pull-through fetch, and upstream provenance kept in the cache (issue 19): a request for an upstream file that another
//! request is already fetching into the cache receives the bytes as they come, instead of
//! waiting, silent, until the whole file is stored (an installer's read timeout would end it
//! on a large file or a slow upstream).

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::harness::static_index::StaticIndex;
use crate::harness::{AuthMode, DistSpec, TestEnv};

/// The first bytes of `response`, waiting at most `limit` for them.
async fn first_bytes(response: &mut reqwest::Response, limit: Duration) -> anyhow::Result<Vec<u8>> {
    let chunk = tokio::time::timeout(limit, response.chunk())
        .await
        .map_err(|_| anyhow::anyhow!("no byte within {limit:?}"))??;
    Ok(chunk.map(|chunk| chunk.to_vec()).unwrap_or_default())
}

/// Upstream sends half of a file and holds the rest. The leader and a follower who came
/// after the fetch started both receive bytes while upstream holds; once it lets go, both get
/// the whole file, from one upstream fetch, and the file is then served from the registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_receive_bytes_while_the_file_is_fetched() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Anonymous).await?;
    let public = env.sandbox.fresh_path("public");
    std::fs::create_dir_all(&public)?;
    let spec = DistSpec::new("streamed", "1.0").payload_bytes(2 << 20);
    let wheel = env.sandbox.wheel_into(&spec, &public).await?;
    let expected = std::fs::read(&wheel)?;
    let upstream = StaticIndex::start(&public)?;
    let release = upstream.hold_files_midway();
    let place = format!("{}/{}", env.segment(), env.namespace);
    let upstream_url = upstream.url();
    env.reconfigure(|config| {
        config.upstream.upstreams = vec![format!("{place}={upstream_url}")];
        config.upstream.upstream_cache = vec![place];
    })
    .await?;

    let file_url = format!("{}/streamed/{}", env.base_path(), spec.wheel_filename());
    let mut leader = env.http(Method::GET, &file_url, false).send().await?;
    assert_eq!(leader.status(), StatusCode::OK);
    let mut received = [first_bytes(&mut leader, Duration::from_secs(10)).await?];
    let follower = env.http(Method::GET, &file_url, false).send();
    let mut follower = tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .map_err(|_| anyhow::anyhow!("the follower got no answer while upstream holds"))??;
    assert_eq!(follower.status(), StatusCode::OK);
    let follower_first = first_bytes(&mut follower, Duration::from_secs(10)).await?;
    assert!(!follower_first.is_empty(), "the follower's body is empty");
    assert!(!received[0].is_empty(), "the leader's body is empty");
    assert!(
        env.storage()
            .tags(&format!("{}/oci-pypi.cache/streamed", env.namespace))
            .await?
            .is_empty(),
        "the file was stored before upstream sent all of it"
    );

    release.send(true)?;
    let mut follower_bytes = follower_first;
    follower_bytes.extend_from_slice(&follower.bytes().await?);
    received[0].extend_from_slice(&leader.bytes().await?);
    assert!(
        received[0] == expected,
        "the leader's body differs from the file"
    );
    assert!(
        follower_bytes == expected,
        "the follower's body differs from the file"
    );
    let fetched = format!("/files/{}", spec.wheel_filename());
    assert_eq!(
        upstream.requests(&fetched),
        1,
        "{:?}",
        upstream.all_requests()
    );

    // Stored once the fetch checked out: the next request comes from the registry.
    let again = env.http(Method::GET, &file_url, false).send().await?;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(again.bytes().await? == expected);
    assert_eq!(upstream.requests(&fetched), 1);
    Ok(())
}

/// Upstream's PEP 740 provenance of a cached file is kept with it: a server that starts while
/// upstream is down serves the cached page with a provenance URL of its own, which answers
/// upstream's provenance object as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_provenance_is_cached_with_the_file() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Anonymous).await?;
    let public = env.sandbox.fresh_path("public");
    std::fs::create_dir_all(&public)?;
    let spec = DistSpec::new("attested", "1.0");
    env.sandbox.wheel_into(&spec, &public).await?;
    let upstream = StaticIndex::start(&public)?;
    let provenance = serde_json::json!({
        "version": 1,
        "attestation_bundles": [{
            "publisher": {"kind": "GitHub", "repository": "acme/attested", "workflow": "release.yml"},
            "attestations": [{"version": 1, "envelope": {"statement": "e30=", "signature": "c2ln"}}],
        }],
    });
    upstream.provide_provenance(&spec.wheel_filename(), &provenance.to_string());
    let place = format!("{}/{}", env.segment(), env.namespace);
    let upstream_url = upstream.url();
    let configure = move |config: &mut oci_pypi::config::Config| {
        config.upstream.upstreams = vec![format!("{place}={upstream_url}")];
        config.upstream.upstream_cache = vec![place];
    };
    env.reconfigure(configure.clone()).await?;

    let page_url = format!("{}/attested/", env.base_path());
    let file_url = format!("{page_url}{}", spec.wheel_filename());
    let page = env.get_pep691(&page_url, false).await?;
    let linked = page["files"][0]["provenance"].as_str().unwrap_or_default();
    assert!(
        linked.starts_with(&upstream.url().replace("/simple/", "/files/")),
        "{page}"
    );
    let response = env.http(Method::GET, &file_url, false).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    response.bytes().await?;

    drop(upstream);
    env.reconfigure(configure).await?;
    let page = env.get_pep691(&page_url, false).await?;
    let own = page["files"][0]["provenance"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the cached page has no provenance: {page}"))?;
    assert!(own.ends_with(".provenance"), "{own}");
    let url = reqwest::Url::parse(&format!("{}{page_url}", env.server.url()))?.join(own)?;
    let served = env.http(Method::GET, url.path(), false).send().await?;
    assert_eq!(served.status(), StatusCode::OK);
    let served: serde_json::Value = served.json().await?;
    assert_eq!(served, provenance);
    Ok(())
}
