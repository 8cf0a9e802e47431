//! A namespace with an upstream index (a real pypiserver on loopback): names the namespace
//! lacks come from upstream, names it has never do.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{AuthMode, DistSpec, TestEnv};

/// A pypiserver serving a directory, stopped on drop.
pub(crate) struct PypiServer {
    child: tokio::process::Child,
    port: u16,
}

impl PypiServer {
    pub(crate) async fn start(env: &TestEnv, packages: &std::path::Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let program = env.sandbox.venv().join("bin/pypi-server");
        let child = tokio::process::Command::new(program)
            .args([
                "run",
                "-p",
                &port.to_string(),
                "-i",
                "127.0.0.1",
                "-a",
                ".",
                "-P",
                ".",
            ])
            .args(["--disable-fallback"])
            .arg(packages)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting pypi-server")?;
        let server = Self { child, port };
        let client = reqwest::Client::builder().no_proxy().build()?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if client.get(server.url()).send().await.is_ok() {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("pypi-server did not start")
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }
}

impl Drop for PypiServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// One `--index-url` installs a private package with its public dependency; a public name that
/// also exists privately is served only from the namespace; denied names never come from
/// upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_packages_with_public_dependencies() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Htpasswd).await?;
    let public = env.sandbox.fresh_dir("public")?;
    for spec in [
        DistSpec::new("public-dep", "3.1").requires_python(">=3.8"),
        DistSpec::new("shadowed", "9.0"),
        DistSpec::new("denied-thing", "1.0"),
    ] {
        env.sandbox.wheel_into(&spec, &public).await?;
    }
    let upstream = PypiServer::start(&env, &public).await?;
    let place = format!("{}/{}", env.registry.host(), env.namespace);
    let upstreams = vec![format!("{place}={}", upstream.url())];
    env.reconfigure(|config| {
        config.upstream.upstreams = upstreams;
        config.upstream.upstream_deny = vec!["denied-*".to_owned()];
    })
    .await?;

    let app = DistSpec::new("private-app", "1.0")
        .requires("public-dep>=3")
        .requires("shadowed");
    let shadowed = DistSpec::new("shadowed", "1.0");
    for spec in [&app, &shadowed] {
        env.publish_wheel(spec).await?;
    }

    let url = env.index_url_with_credentials();
    env.assert_pip_installs(
        &["private-app"],
        &[
            (&app.module(), "1.0"),
            ("public_dep", "3.1"),
            (&shadowed.module(), "1.0"),
        ],
    )
    .await?;
    env.sandbox
        .assert_uv_installs(&url, &["private-app"], &[("public_dep", "3.1")])
        .await?;

    // The upstream page passes data through and says where it comes from.
    let page = format!("{}/public-dep/", env.base_path());
    let json: Value = env.get_pep691(&page, true).await?;
    assert_eq!(json["versions"], serde_json::json!(["3.1"]));
    assert_eq!(
        json["meta"]["tracks"][0],
        format!("{}public-dep/", upstream.url())
    );
    let file = &json["files"][0];
    assert!(
        file["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("http://127.0.0.1:{}/", upstream.port))
    );
    assert_eq!(file["hashes"]["sha256"].as_str().unwrap().len(), 64);
    // `Requires-Python` (public-dep is built with >=3.8) comes through exactly as upstream
    // gives it: pypiserver 2.4 does not emit it, and then none is made up.
    let upstream_page = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .get(format!("{}public-dep/", upstream.url()))
        .send()
        .await?
        .text()
        .await?;
    let expected = if upstream_page.contains("data-requires-python=\"&gt;=3.8\"") {
        Value::from(">=3.8")
    } else {
        Value::Null
    };
    assert_eq!(file["requires-python"], expected, "{upstream_page}");

    // A name the namespace has: never the upstream version, even the newer 9.0.
    let html = env
        .get_text(&format!("{}/shadowed/", env.base_path()), true)
        .await?;
    assert!(
        html.contains("shadowed-1.0-py3-none-any.whl") && !html.contains("9.0"),
        "{html}"
    );
    env.assert_pip_installs(&["shadowed"], &[(&shadowed.module(), "1.0")])
        .await?;

    // Denied names and names upstream lacks: 404.
    for name in ["denied-thing", "nowhere-at-all"] {
        let response = env
            .get(&format!("{}/{name}/", env.base_path()), true)
            .await?;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{name}");
    }
    // Without credentials the registry answers first: no upstream page for anonymous callers.
    let anonymous = env.get(&page, false).await?;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

/// With `--upstream-files proxy`, upstream files are served through the server: page URLs are
/// its own, bytes are checked against the upstream sha256, and pip installs through it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_files_can_be_proxied() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Anonymous).await?;
    let public = env.sandbox.fresh_dir("public")?;
    let dependency = DistSpec::new("proxied-dep", "2.0");
    let wheel = env.sandbox.wheel_into(&dependency, &public).await?;
    let upstream = PypiServer::start(&env, &public).await?;
    let upstreams = vec![format!(
        "{}/{}={}",
        env.registry.host(),
        env.namespace,
        upstream.url()
    )];
    env.reconfigure(|config| {
        config.upstream.upstreams = upstreams;
        config.upstream.upstream_files = oci_pypi::config::UpstreamFiles::Proxy;
    })
    .await?;
    let app = DistSpec::new("proxy-app", "1.0").requires("proxied-dep");
    env.publish_wheel(&app).await?;

    let page = format!("{}/proxied-dep/", env.base_path());
    let json: Value = env.get_pep691(&page, false).await?;
    let url = json["files"][0]["url"].as_str().context("url")?;
    assert_eq!(url, dependency.wheel_filename(), "{json}");
    // pypiserver offers no core metadata: none is advertised, and none is served.
    assert_eq!(json["files"][0]["core-metadata"], false, "{json}");
    let metadata = env.get(&format!("{page}{url}.metadata"), false).await?;
    assert_eq!(metadata.status(), StatusCode::NOT_FOUND);
    let response = env.get(&format!("{page}{url}"), false).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.bytes().await?.as_ref(),
        std::fs::read(&wheel)?.as_slice()
    );
    let missing = env
        .get(&format!("{page}proxied_dep-9.9-py3-none-any.whl"), false)
        .await?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // pip sees only this server: stop pypiserver's direct use by checking the install works
    // through the proxied URLs.
    env.assert_pip_installs(&["proxy-app"], &[(&dependency.module(), "2.0")])
        .await?;
    Ok(())
}
