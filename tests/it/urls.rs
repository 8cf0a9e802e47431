//! The URL scheme: PyOCI-compatible paths, the project list, the releases JSON, redirects,
//! registry segments, the subpath, and refusals of what the server must not serve.

use reqwest::StatusCode;
use serde_json::Value;

use sha2::{Digest as _, Sha256};

use crate::harness::{AuthMode, Backend, DistSpec, TestEnv, UploadForm, assert_status};

crate::in_every_backend!(
    redirects_pages_but_never_uploads,
    project_list_and_simple_root,
    releases_json_for_renovate,
    malformed_uploads_are_refused_and_store_nothing,
);

/// A project page without its trailing slash redirects (GET only); uploads are never
/// redirected, with or without slash, at the namespace or at `legacy/`.
async fn redirects_pages_but_never_uploads(backend: Backend) -> anyhow::Result<()> {
    let env = TestEnv::start_backend(backend).await?;
    let spec = DistSpec::new("slashy", "1.0");
    let wheel = env.sandbox.wheel(&spec).await?;
    let sdist = env.sandbox.sdist(&spec).await?;
    let legacy = format!("{}legacy/", env.index_url());
    env.twine_upload_to(&legacy, &[&wheel])
        .await?
        .assert_success();
    let no_slash = env.index_url().trim_end_matches('/').to_owned();
    env.twine_upload_to(&no_slash, &[&sdist])
        .await?
        .assert_success();

    let page = format!("{}/slashy", env.base_path());
    let response = env.get(&page, false).await?;
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(response.headers()["location"], format!("{page}/").as_str());
    let listed = env.get_text(&format!("{page}/"), true).await?;
    assert!(listed.contains(&spec.wheel_filename()) && listed.contains(&spec.sdist_filename()));

    // A path starting with `//` must not redirect to another host.
    let response = env.get("//evil.example/x", false).await?;
    if response.status() == StatusCode::MOVED_PERMANENTLY {
        let location = response.headers()["location"].to_str()?.to_owned();
        assert!(!location.starts_with("//"), "{location}");
    }
    Ok(())
}

/// The hrefs of a page's anchors, in page order.
fn hrefs(html: &str) -> Vec<String> {
    html.split("<a href=\"")
        .skip(1)
        .filter_map(|anchor| anchor.split_once('"').map(|(href, _)| href.to_owned()))
        .collect()
}

/// The namespace's project list lives at `+simple/` (never a project name) and at the
/// namespace itself for one-segment namespaces; pip can use `+simple/` as its index URL. It
/// lists the namespace's own projects only: not those of a sibling namespace on the same
/// registry, of a namespace nested inside it, or of one whose name merely starts the same.
async fn project_list_and_simple_root(backend: Backend) -> anyhow::Result<()> {
    let mut env = TestEnv::start_backend(backend).await?;
    env.namespace = "org/team1/python".to_owned();
    for name in ["alpha", "Beta.Two"] {
        let wheel = env.sandbox.wheel(&DistSpec::new(name, "1.0")).await?;
        env.twine_upload(&[&wheel]).await?.assert_success();
    }
    // Other namespaces of the same registry, each with a project of its own.
    let others = [
        ("org/team2/python", "gamma"),
        ("org/team1/python/extra", "delta"),
        ("org/team1/python2", "epsilon"),
    ];
    for (namespace, project) in others {
        let wheel = env.sandbox.wheel(&DistSpec::new(project, "1.0")).await?;
        let url = format!("{}/{}/{namespace}/", env.server.url(), env.segment());
        env.twine_upload_to(&url, &[&wheel]).await?.assert_success();
    }
    let mut catalog = env.storage().catalog().await?;
    catalog.sort();
    assert_eq!(
        catalog,
        [
            "org/team1/python/alpha",
            "org/team1/python/beta_two",
            "org/team1/python/extra/delta",
            "org/team1/python2/epsilon",
            "org/team2/python/gamma",
        ]
    );

    let list = format!("{}/+simple/", env.base_path());
    let response = env.get(&list, true).await?;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await?;
    assert!(html.contains("<a href=\"alpha/\">alpha</a>"), "{html}");
    assert!(
        html.contains("<a href=\"beta-two/\">beta-two</a>"),
        "{html}"
    );
    assert_eq!(hrefs(&html), ["alpha/", "beta-two/"], "{html}");
    for (namespace, project) in others {
        let list = format!("/{}/{namespace}/+simple/", env.segment());
        let response = env.get(&list, true).await?;
        assert_eq!(response.status(), StatusCode::OK, "{list}");
        let html = response.text().await?;
        assert_eq!(hrefs(&html), [format!("{project}/")], "{list}: {html}");
    }

    let simple = format!("{}+simple/", env.index_url_with_credentials());
    let (out, target) = env.sandbox.pip_install(&simple, &["beta-two"]).await?;
    out.assert_success();
    let module = DistSpec::new("Beta.Two", "1.0").module();
    assert_eq!(env.sandbox.import_version(&target, &module).await?, "1.0");
    // A sibling's project is not found through this namespace.
    let (out, _) = env.sandbox.pip_install(&simple, &["gamma"]).await?;
    out.assert_failure();
    Ok(())
}

/// PyOCI clients write the registry as a percent-encoded origin; proxies may decode `%2F`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_segment_as_encoded_origin() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    let spec = DistSpec::new("encoded", "1.0");
    env.publish_wheel(&spec).await?;
    let encoded = env
        .registry
        .origin()
        .replace(':', "%3A")
        .replace('/', "%2F");
    let (user, password) = env.credentials().unwrap();
    let url = format!(
        "http://{user}:{password}@{}/{encoded}/{}/",
        env.server.authority(),
        env.namespace
    );
    env.sandbox
        .assert_pip_installs(&url, &["encoded"], &[(&spec.module(), "1.0")])
        .await?;
    let decoded = format!("/{}/{}/encoded/", env.registry.origin(), env.namespace);
    let response = env.get(&decoded, true).await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(())
}

/// Registries off the allow-list are refused with 403 before any connection; bad paths are 4xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_registries_off_the_list_and_bad_paths() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    for registry in [
        "ghcr.io",
        "127.0.0.1:1",
        "https%3A%2F%2F127.0.0.1%3A5000",
        "169.254.169.254",
    ] {
        let path = format!("/{registry}/ns/pkg/");
        let response = env.get(&path, false).await?;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{registry}");
        let body = response.text().await?;
        assert!(body.contains("is not served here"), "{body}");
    }
    let cases = [
        (
            format!("{}/pk%zzg/", env.base_path()),
            StatusCode::BAD_REQUEST,
            "malformed percent-encoding",
        ),
        (
            format!("/{}/Bad Namespace/pkg/", env.registry.host()),
            StatusCode::BAD_REQUEST,
            "invalid namespace",
        ),
        (
            format!("{}/-pkg-/", env.base_path()),
            StatusCode::BAD_REQUEST,
            "invalid project name",
        ),
        (
            "/favicon.ico".to_owned(),
            StatusCode::NOT_FOUND,
            "no such page",
        ),
    ];
    for (path, status, message) in cases {
        let response = env.get(&path, false).await?;
        assert_eq!(response.status(), status, "{path}");
        let body = response.text().await?;
        assert!(body.contains(message), "{path}: {body}");
    }
    assert_eq!(env.get("/health", false).await?.status(), StatusCode::OK);
    Ok(())
}

/// Mounted under a subpath, everything lives below it and pip works through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_under_a_subpath() -> anyhow::Result<()> {
    let env = TestEnv::start_with(AuthMode::Anonymous, |config| {
        config.server.subpath = "/pypi".to_owned();
    })
    .await?;
    let spec = DistSpec::new("nested", "1.0");
    let wheel = env.sandbox.wheel(&spec).await?;
    let url = format!("{}/pypi{}/", env.server.url(), env.base_path());
    env.twine_upload_to(&url, &[&wheel]).await?.assert_success();
    env.sandbox
        .assert_pip_installs(&url, &["nested"], &[(&spec.module(), "1.0")])
        .await?;
    let outside = env
        .get(&format!("{}/nested/", env.base_path()), false)
        .await?;
    assert_eq!(outside.status(), StatusCode::NOT_FOUND);
    Ok(())
}

/// The releases JSON that Renovate's pypi datasource reads carries real release data.
async fn releases_json_for_renovate(backend: Backend) -> anyhow::Result<()> {
    let env = TestEnv::start_backend(backend).await?;
    let mut uploaded = std::collections::BTreeMap::new();
    for version in ["1.0", "1.1", "2.0b1"] {
        let spec = DistSpec::new("renovated", version);
        let wheel = env.sandbox.wheel(&spec).await?;
        let bytes = std::fs::read(&wheel)?;
        uploaded.insert(version, bytes.clone());
        let upload = UploadForm::wheel(&spec, &bytes)
            .field("metadata_version", "2.4")
            .field("filetype", "bdist_wheel")
            .field("pyversion", "py3")
            .field("requires_python", ">=3.9")
            .field("project_urls", "Source, https://example.org/renovated")
            .field("project_urls", "Changelog, https://example.org/changes");
        let response = env.upload(&upload, true).await?;
        assert_status(response, StatusCode::OK).await?;
    }
    let path = format!("{}/renovated/json", env.base_path());
    let response = env.get(&path, true).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()?
            .starts_with("application/json")
    );
    let json: Value = response.json().await?;
    assert_eq!(json["info"]["name"], "renovated");
    assert_eq!(json["info"]["version"], "1.1");
    assert_eq!(
        json["info"]["project_urls"]["Source"],
        "https://example.org/renovated"
    );
    let releases = json["releases"].as_object().unwrap();
    assert_eq!(releases.len(), 3);
    let file = &json["releases"]["2.0b1"][0];
    assert_eq!(file["filename"], "renovated-2.0b1-py3-none-any.whl");
    assert_eq!(file["requires_python"], ">=3.9");
    assert_eq!(file["packagetype"], "bdist_wheel");
    assert_eq!(file["yanked"], false);
    assert!(
        file["upload_time_iso_8601"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let wheel = &uploaded["2.0b1"];
    assert_eq!(
        file["digests"]["sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(wheel))
    );
    let url = file["url"].as_str().unwrap();
    let download = env.get(url, true).await?;
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.bytes().await?.as_ref(), wheel.as_slice());

    // PEP 658: the wheel's core metadata, served next to it with the hash the page advertises.
    let metadata_url = format!("{url}.metadata");
    let response = env.get(&metadata_url, true).await?;
    assert_eq!(response.status(), StatusCode::OK, "{metadata_url}");
    let metadata = response.bytes().await?;
    let text = String::from_utf8_lossy(&metadata);
    assert!(
        text.contains("Name: renovated") && text.contains("Version: 2.0b1"),
        "{text}"
    );
    let page = format!("{}/renovated/", env.base_path());
    let html = env.get_text(&page, true).await?;
    let advertised = format!(
        "renovated-2.0b1-py3-none-any.whl#sha256={}\" data-requires-python=\"&gt;=3.9\" data-core-metadata=\"sha256={}\"",
        hex::encode(Sha256::digest(wheel)),
        hex::encode(Sha256::digest(&metadata))
    );
    assert!(html.contains(&advertised), "{advertised} not in {html}");
    Ok(())
}

/// Malformed uploads are 4xx with a reason naming the bad value, and store nothing.
async fn malformed_uploads_are_refused_and_store_nothing(backend: Backend) -> anyhow::Result<()> {
    let env = TestEnv::start_backend(backend).await?;
    let spec = DistSpec::new("strict", "1.0");
    let wheel = std::fs::read(env.sandbox.wheel(&spec).await?)?;
    let good = UploadForm::new("strict", "1.0", &spec.wheel_filename(), &wheel);
    let cases: Vec<(UploadForm, StatusCode, &str)> = vec![
        (
            good.clone().no_file(),
            StatusCode::BAD_REQUEST,
            "the upload has no file",
        ),
        (
            good.clone()
                .set(":action", "frobnicate")
                .without("protocol_version"),
            StatusCode::BAD_REQUEST,
            "`frobnicate`",
        ),
        (
            good.clone().set("protocol_version", "2"),
            StatusCode::BAD_REQUEST,
            "`protocol_version`",
        ),
        (
            good.clone().set("name", "other"),
            StatusCode::BAD_REQUEST,
            "does not match form field `name`",
        ),
        (
            good.clone().set("version", "1.1"),
            StatusCode::BAD_REQUEST,
            "does not match form field `version`",
        ),
        (
            good.clone()
                .file(Some("../strict-1.0-py3-none-any.whl"), &wheel),
            StatusCode::BAD_REQUEST,
            "cannot contain `/`",
        ),
        (
            good.clone().field("sha256_digest", "0".repeat(64)),
            StatusCode::BAD_REQUEST,
            "does not match the uploaded file",
        ),
        (
            good.clone().file(Some("strict-1.0.exe"), &wheel),
            StatusCode::BAD_REQUEST,
            "`strict-1.0.exe`",
        ),
        (
            UploadForm::empty()
                .field(":action", "submit")
                .field("name", "strict"),
            StatusCode::GONE,
            "no longer supported",
        ),
    ];
    for (upload, status, message) in cases {
        let response = env.upload(&upload, true).await?;
        assert_eq!(response.status(), status, "{message}");
        let body = response.text().await?;
        assert!(body.contains(message), "expected `{message}` in: {body}");
    }
    assert!(
        env.storage().catalog().await?.is_empty(),
        "nothing may be stored"
    );
    Ok(())
}
