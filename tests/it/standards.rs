//! The modern simple API: PEP 691 negotiation, PEP 700 fields, PEP 592 yanking and
//! `Requires-Python`, seen through real pip and uv.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::Digest as _;

use crate::harness::{AuthMode, Backend, DistSpec, TestEnv, UploadForm, assert_status, metric_sum};

const JSON: &str = "application/vnd.pypi.simple.v1+json";
const HTML: &str = "application/vnd.pypi.simple.v1+html";

/// GET `url` without an `Accept` header; the body as JSON (the releases JSON).
async fn get_json(env: &TestEnv, url: &str, authenticated: bool) -> anyhow::Result<Value> {
    Ok(env.get(url, authenticated).await?.json().await?)
}

/// POSTs to `yank` (a `+yank/...` URL) with the reason `broken <build>`, authenticated.
async fn yank_broken(env: &TestEnv, yank: &str) -> anyhow::Result<reqwest::Response> {
    Ok(env
        .http(Method::POST, yank, true)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("reason=broken+%3Cbuild%3E")
        .send()
        .await?)
}

/// Runs every `Accept` / `?format=` case against `url`: the serialization chosen,
/// `Vary: Accept`, 406 when nothing fits, and the API version (PEP 629) in both forms.
async fn assert_negotiates(env: &TestEnv, url: &str) -> anyhow::Result<()> {
    let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
    let cases: [(Option<&str>, &str, StatusCode, Option<&str>); 9] = [
        (None, "", StatusCode::OK, Some("text/html")),
        (Some("*/*"), "", StatusCode::OK, Some("text/html")),
        (Some(pip), "", StatusCode::OK, Some(JSON)),
        (Some(HTML), "", StatusCode::OK, Some(HTML)),
        (Some("text/html"), "", StatusCode::OK, Some("text/html")),
        (
            Some("application/vnd.pypi.simple.latest+json"),
            "",
            StatusCode::OK,
            Some(JSON),
        ),
        (
            Some("text/html;q=0.5, application/vnd.pypi.simple.v1+json;q=0.4"),
            "",
            StatusCode::OK,
            Some("text/html"),
        ),
        (
            Some("application/json"),
            "",
            StatusCode::NOT_ACCEPTABLE,
            None,
        ),
        (
            Some("text/html"),
            "?format=application/vnd.pypi.simple.v1%2Bjson",
            StatusCode::OK,
            Some(JSON),
        ),
    ];
    for (accept, query, status, content_type) in cases {
        let mut request = env.http(Method::GET, &format!("{url}{query}"), true);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = request.send().await?;
        assert_eq!(response.status(), status, "{url}: {accept:?} {query}");
        if let Some(expected) = content_type {
            let got = response.headers()["content-type"].to_str()?.to_owned();
            assert!(got.starts_with(expected), "{url}: {accept:?}: {got}");
            assert!(response.headers()["vary"].to_str()?.contains("Accept"));
        }
    }
    let html = env
        .http(Method::GET, url, true)
        .header("accept", HTML)
        .send()
        .await?
        .text()
        .await?;
    assert!(
        html.contains(r#"<meta name="pypi:repository-version" content="1.4">"#),
        "{html}"
    );
    let json = env.get_pep691(url, true).await?;
    assert_eq!(json["meta"]["api-version"], "1.4", "{json}");
    Ok(())
}

/// Every `Accept` combination gets the right serialization of a project page, `Vary: Accept`,
/// and 406 when nothing fits; the JSON validates against the PEP 691/700 shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_negotiation() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    let spec = DistSpec::new("negotiated", "1.0").requires_python(">=3.8");
    let wheel = env.sandbox.wheel(&spec).await?;
    let sdist = env.sandbox.sdist(&spec).await?;
    env.twine_upload(&[&wheel, &sdist]).await?.assert_success();
    let page = format!("{}/negotiated/", env.base_path());
    assert_negotiates(&env, &page).await?;

    let json = env.get_pep691(&page, true).await?;
    assert_eq!(json["name"], "negotiated");
    assert_eq!(json["versions"], serde_json::json!(["1.0"]));
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    for file in files {
        let filename = file["filename"].as_str().unwrap();
        let bytes = std::fs::read(env.sandbox.dist_dir().join(filename))?;
        assert_eq!(file["size"], bytes.len());
        assert_eq!(file["hashes"]["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(file["requires-python"], ">=3.8");
        assert_eq!(file["yanked"], false);
        let upload_time = file["upload-time"].as_str().unwrap();
        assert!(
            upload_time.len() >= 20 && upload_time.ends_with('Z'),
            "{upload_time}"
        );
        let url = format!("{page}{}", file["url"].as_str().unwrap());
        let download = env.get(&url, true).await?;
        assert_eq!(download.bytes().await?.as_ref(), bytes.as_slice());
    }
    Ok(())
}

/// The project list (`+simple/`) negotiates exactly like a project page, and both forms list
/// the namespace's projects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_list_content_negotiation() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    for spec in [
        DistSpec::new("Listed.One", "1.0"),
        DistSpec::new("listed-two", "1.0"),
    ] {
        env.publish_wheel(&spec).await?;
    }
    let list = format!("{}/+simple/", env.base_path());
    assert_negotiates(&env, &list).await?;

    let projects = env.get_pep691(&list, true).await?;
    assert_eq!(
        projects["projects"],
        serde_json::json!([{ "name": "listed-one" }, { "name": "listed-two" }])
    );
    let html = env.get_text(&list, true).await?;
    for name in ["listed-one", "listed-two"] {
        assert!(
            html.contains(&format!("<a href=\"{name}/\">{name}</a>")),
            "{html}"
        );
    }
    Ok(())
}

/// Pages carry an ETag and answer a matching `If-None-Match` with 304.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_revalidate_with_etags() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    let wheel = env.sandbox.wheel(&DistSpec::new("tagged", "1.0")).await?;
    env.twine_upload(&[&wheel]).await?.assert_success();
    let page = format!("{}/tagged/", env.base_path());
    let first = env.get(&page, false).await?;
    let etag = first.headers()["etag"].to_str()?.to_owned();
    assert!(
        first.headers()["cache-control"]
            .to_str()?
            .contains("max-age=")
    );
    let again = env
        .http(Method::GET, &page, false)
        .header("if-none-match", &etag)
        .send()
        .await?;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    // A new upload changes the page (and the ETag) at once through this server.
    let wheel = env.sandbox.wheel(&DistSpec::new("tagged", "1.1")).await?;
    env.twine_upload(&[&wheel]).await?.assert_success();
    let changed = env
        .http(Method::GET, &page, false)
        .header("if-none-match", &etag)
        .send()
        .await?;
    assert_eq!(changed.status(), StatusCode::OK);
    assert!(changed.text().await?.contains("tagged-1.1"));
    Ok(())
}

/// A yanked release is skipped by pip and uv unless pinned exactly; un-yanking restores it;
/// the mark and reason show in HTML, JSON and the releases JSON.
async fn yanked_releases_are_skipped(backend: Backend) -> anyhow::Result<()> {
    let env = TestEnv::start_backend(backend).await?;
    let old = DistSpec::new("yanky", "1.0");
    let new = DistSpec::new("yanky", "1.1");
    for spec in [&old, &new] {
        env.publish_wheel(spec).await?;
    }
    let yank = format!("{}/+yank/yanky/1.1", env.base_path());
    if backend.needs_credentials() {
        let anonymous = env.http(Method::POST, &yank, false).send().await?;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    }
    let response = yank_broken(&env, &yank).await?;
    assert_status(response, StatusCode::OK).await?;

    let url = env.index_url_with_credentials();
    env.assert_pip_installs(&["yanky"], &[(&new.module(), "1.0")])
        .await?;
    env.assert_pip_installs(&["yanky==1.1"], &[(&new.module(), "1.1")])
        .await?;
    env.sandbox
        .assert_uv_installs(&url, &["yanky"], &[(&new.module(), "1.0")])
        .await?;

    let page = format!("{}/yanky/", env.base_path());
    let html = env.get_text(&page, true).await?;
    assert!(
        html.contains("data-yanked=\"broken &lt;build&gt;\""),
        "{html}"
    );
    let json = env.get_pep691(&page, true).await?;
    assert_eq!(json["files"][1]["yanked"], "broken <build>");
    assert_eq!(json["files"][0]["yanked"], false);
    let releases = get_json(&env, &format!("{page}json"), true).await?;
    assert_eq!(releases["releases"]["1.1"][0]["yanked"], true);
    assert_eq!(releases["info"]["version"], "1.0");

    // Yanking again is a no-op; un-yanking restores 1.1 as the default choice.
    let again = yank_broken(&env, &yank).await?;
    assert_eq!(again.status(), StatusCode::OK);
    let unyank = env.http(Method::DELETE, &yank, true).send().await?;
    assert_eq!(unyank.status(), StatusCode::OK);
    env.assert_pip_installs(&["yanky"], &[(&new.module(), "1.1")])
        .await?;

    // Yanking one file by name, and a file that does not exist.
    let by_file = format!("{}/+yank/yanky/{}", env.base_path(), old.wheel_filename());
    let response = env.http(Method::POST, &by_file, true).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    let json = env.get_pep691(&page, true).await?;
    assert_eq!(json["files"][0]["yanked"], true);
    let missing = format!("{}/+yank/yanky/9.9", env.base_path());
    assert_eq!(
        env.http(Method::POST, &missing, true)
            .send()
            .await?
            .status(),
        StatusCode::NOT_FOUND
    );
    Ok(())
}

crate::in_every_backend!(yanked_releases_are_skipped);

/// pip and uv skip a release whose `Requires-Python` excludes their interpreter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requires_python_is_honoured() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    let usable = DistSpec::new("pyreq", "1.0").requires_python(">=3.8");
    let future = DistSpec::new("pyreq", "2.0").requires_python(">=4");
    for spec in [&usable, &future] {
        let wheel = env.sandbox.wheel(spec).await?;
        env.uv_publish(&[&wheel]).await?.assert_success();
    }
    let html = env
        .get_text(&format!("{}/pyreq/", env.base_path()), false)
        .await?;
    assert!(html.contains("data-requires-python=\"&gt;=4\""), "{html}");
    let url = env.index_url();
    env.sandbox
        .assert_pip_installs(&url, &["pyreq"], &[(&usable.module(), "1.0")])
        .await?;
    env.sandbox
        .assert_uv_installs(&url, &["pyreq"], &[(&usable.module(), "1.0")])
        .await?;
    Ok(())
}

/// uv resolves a tree of private dependencies from the PEP 658 metadata files alone: the
/// server sees metadata requests and not one wheel download. The `.metadata` served is the
/// wheel's own `METADATA`, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolution_uses_metadata_files_only() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    let specs = [
        DistSpec::new("meta-app", "1.0")
            .requires("meta-lib-a>=1")
            .requires("meta-lib-b"),
        DistSpec::new("meta-lib-a", "1.2").requires("meta-lib-c==0.5"),
        DistSpec::new("meta-lib-b", "2.0"),
        DistSpec::new("meta-lib-c", "0.5"),
    ];
    for spec in &specs {
        env.publish_wheel(spec).await?;
    }
    let page = format!("{}/meta-lib-a/", env.base_path());
    let json = env.get_pep691(&page, true).await?;
    let advertised = json["files"][0]["core-metadata"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let html = env.get_text(&page, true).await?;
    assert!(
        html.contains(&format!("data-core-metadata=\"sha256={advertised}\"")),
        "{html}"
    );
    assert!(
        html.contains(&format!("data-dist-info-metadata=\"sha256={advertised}\"")),
        "{html}"
    );
    let metadata_url = format!("{page}{}.metadata", specs[1].wheel_filename());
    let metadata = env.get(&metadata_url, true).await?.bytes().await?;
    assert_eq!(hex::encode(sha2::Sha256::digest(&metadata)), advertised);
    let text = String::from_utf8(metadata.to_vec())?;
    assert!(
        text.contains("Name: meta-lib-a") && text.contains("Requires-Dist: meta-lib-c==0.5"),
        "{text}"
    );

    let before = env.metrics().await?;
    let requirements = env.sandbox.path().join("requirements.in");
    std::fs::write(&requirements, "meta-app\n")?;
    let requirements = requirements.display().to_string();
    let url = env.index_url_with_credentials();
    let out = env
        .sandbox
        .uv(&[
            "pip",
            "compile",
            &requirements,
            "--index-url",
            &url,
            "--python-version",
            "3.11",
            "--no-header",
        ])
        .await?;
    out.assert_success();
    for pin in [
        "meta-app==1.0",
        "meta-lib-a==1.2",
        "meta-lib-b==2.0",
        "meta-lib-c==0.5",
    ] {
        assert!(out.stdout.contains(pin), "{pin} missing:\n{}", out.dump());
    }
    let after = env.metrics().await?;
    let files = "oci_pypi_http_requests_total{route=\"file\"";
    let metadata = "oci_pypi_http_requests_total{route=\"metadata\"";
    assert_eq!(
        metric_sum(&after, files) - metric_sum(&before, files),
        0.0,
        "uv downloaded wheels:\n{after}"
    );
    assert!(
        metric_sum(&after, metadata) - metric_sum(&before, metadata) >= 4.0,
        "{after}"
    );
    Ok(())
}

/// An sdist's PKG-INFO is its core metadata (PEP 658) only when it is reliable (PEP 643,
/// Metadata-Version 2.2 or later): then the page advertises its hash and `.metadata` serves
/// exactly those bytes; a 2.1 sdist advertises nothing and has no `.metadata`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdist_metadata_from_pkg_info() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    let reliable = DistSpec::new("sdist-meta", "2.0")
        .metadata_version("2.2")
        .requires_python(">=3.8")
        .requires("meta-dep>=1");
    let legacy = DistSpec::new("sdist-meta", "1.0");
    let reliable_sdist = env.sandbox.sdist(&reliable).await?;
    let legacy_sdist = env.sandbox.sdist(&legacy).await?;
    env.twine_upload(&[&legacy_sdist, &reliable_sdist])
        .await?
        .assert_success();
    let page = format!("{}/sdist-meta/", env.base_path());
    let json = env.get_pep691(&page, false).await?;
    let file = |filename: String| {
        json["files"]
            .as_array()
            .and_then(|files| files.iter().find(|f| f["filename"] == filename.as_str()))
            .cloned()
            .unwrap_or_else(|| panic!("{filename} not listed: {json}"))
    };
    let advertised = file(reliable.sdist_filename())["core-metadata"]["sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("no core-metadata hash: {json}"))
        .to_owned();
    assert_eq!(file(legacy.sdist_filename())["core-metadata"], false);

    let html = env.get_text(&page, false).await?;
    let anchor = |filename: String| {
        html.lines()
            .find(|line| line.contains(&format!(">{filename}</a>")))
            .unwrap_or_else(|| panic!("{filename} not listed: {html}"))
            .to_owned()
    };
    let reliable_anchor = anchor(reliable.sdist_filename());
    for attribute in ["data-core-metadata", "data-dist-info-metadata"] {
        assert!(
            reliable_anchor.contains(&format!("{attribute}=\"sha256={advertised}\"")),
            "{reliable_anchor}"
        );
        assert!(
            !anchor(legacy.sdist_filename()).contains(attribute),
            "{html}"
        );
    }

    let response = env
        .get(
            &format!("{page}{}.metadata", reliable.sdist_filename()),
            false,
        )
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let metadata = response.bytes().await?;
    assert_eq!(hex::encode(sha2::Sha256::digest(&metadata)), advertised);
    let text = String::from_utf8(metadata.to_vec())?;
    assert!(
        text.starts_with("Metadata-Version: 2.2\n")
            && text.contains("Requires-Python: >=3.8")
            && text.contains("Requires-Dist: meta-dep>=1"),
        "{text}"
    );
    let missing = env
        .get(
            &format!("{page}{}.metadata", legacy.sdist_filename()),
            false,
        )
        .await?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    Ok(())
}

/// Content that is not what its name says is refused with 400 and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_distributions_are_refused() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    let impostor = std::fs::read(env.sandbox.wheel(&DistSpec::new("impostor", "1.0")).await?)?;
    let sdist = std::fs::read(env.sandbox.sdist(&DistSpec::new("impostor", "1.0")).await?)?;
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "victim-1.0-py3-none-any.whl",
            impostor.clone(),
            "its metadata describes `impostor` `1.0`",
        ),
        (
            "victim-1.0-py3-none-any.whl",
            b"PK\x03\x04 definitely not a zip".to_vec(),
            "not a zip archive",
        ),
        ("victim-1.0.tar.gz", impostor.clone(), "not a gzip"),
        (
            "victim-1.0.tar.gz",
            sdist,
            "its metadata describes `impostor` `1.0`",
        ),
    ];
    for (filename, bytes, reason) in cases {
        let upload = UploadForm::new("victim", "1.0", filename, &bytes);
        let response = env.upload(&upload, false).await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{filename}");
        let body = response.text().await?;
        assert!(
            body.contains(reason) && body.contains(filename),
            "{filename}: {body}"
        );
    }
    assert!(env.storage().catalog().await?.is_empty());
    Ok(())
}

/// Every field real clients send is accepted: metadata 2.5 fields, repeated fields,
/// `attestations`, no `pyversion` for an sdist, unknown fields, dashed names PyPI ignores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_accept_every_field_clients_send() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    let spec = DistSpec::new("fieldy", "1.0").requires_python(">=3.9");
    let sdist = std::fs::read(env.sandbox.sdist(&spec).await?)?;
    let mut upload = UploadForm::new("Fieldy", "1.0", &spec.sdist_filename(), &sdist)
        .field("metadata_version", "2.5")
        .field("filetype", "sdist")
        .sha256()
        .field("requires_python", ">=3.9")
        .field("summary", "A package with every field")
        .field("description", "# Fieldy\n\nLong text.")
        .field("description_content_type", "text/markdown")
        .field("license_expression", "MIT")
        .field("attestations", "[]")
        .field("comment", "uploaded by a test")
        .field("Description-Content-Type", "ignored by PyPI")
        .field("some_future_field", "whatever");
    for (field, value) in [
        ("classifiers", "Programming Language :: Python :: 3"),
        ("classifiers", "License :: OSI Approved :: MIT License"),
        ("requires_dist", "requests>=2"),
        ("requires_dist", "rich; extra == 'cli'"),
        ("provides_extra", "cli"),
        ("project_urls", "Homepage, https://example.org"),
        ("project_urls", "Issues, https://example.org/issues"),
        ("import_names", "fieldy"),
        ("dynamic", "Classifier"),
        ("license_file", "LICENSE"),
    ] {
        upload = upload.field(field, value);
    }
    let response = env.upload(&upload, false).await?;
    assert_status(response, StatusCode::OK).await?;
    let json = get_json(&env, &format!("{}/fieldy/json", env.base_path()), false).await?;
    assert_eq!(
        json["info"]["project_urls"]["Issues"],
        "https://example.org/issues"
    );
    assert_eq!(json["releases"]["1.0"][0]["requires_python"], ">=3.9");
    assert_eq!(json["releases"]["1.0"][0]["packagetype"], "sdist");
    Ok(())
}

/// Every release is listed (no silent cap); a configured cap keeps the newest by PEP 440, not
/// by tag order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_cap_keeps_the_newest() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Anonymous).await?;
    let versions = ["1.9", "1.10", "2.0rc1", "1.2", "0.1"];
    let mut wheels = Vec::new();
    for version in versions {
        wheels.push(env.sandbox.wheel(&DistSpec::new("capped", version)).await?);
    }
    let paths: Vec<&std::path::Path> = wheels.iter().map(AsRef::as_ref).collect();
    env.twine_upload(&paths).await?.assert_success();
    let page = format!("{}/capped/", env.base_path());
    let listed = |json: &Value| {
        json["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let json = env.get_pep691(&page, false).await?;
    assert_eq!(listed(&json), ["0.1", "1.2", "1.9", "1.10", "2.0rc1"]);
    env.reconfigure(|config| config.listing.max_versions = 2)
        .await?;
    let json = env.get_pep691(&page, false).await?;
    assert_eq!(listed(&json), ["1.10", "2.0rc1"]);
    Ok(())
}
