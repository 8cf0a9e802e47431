//! The web UI in a real headless Chromium against the real registry: browse a namespace,
//! filter it, open a project, read its README, copy an install command, see a yanked release
//! with its reason; a hostile README (Markdown or reStructuredText) stays inert. Installers
//! keep getting the simple pages, byte for byte; the pages follow `--subpath` and proxies; a
//! registry that needs credentials makes the browser prompt; hostile input ends in a clean
//! page or a clear 4xx.

use std::io::Read as _;
use std::path::PathBuf;

use reqwest::header::{
    ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};

use crate::harness::browser::Browser;
use crate::harness::{AuthMode, DistSpec, TestEnv, UploadForm, assert_status};

/// What Chromium sends when it navigates.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8";

/// A GET of `path` as a browser asks for it (its `Accept`), with the main credentials when
/// `authenticated`.
async fn browse(
    env: &TestEnv,
    path: &str,
    authenticated: bool,
) -> anyhow::Result<reqwest::Response> {
    Ok(env
        .http(Method::GET, path, authenticated)
        .header(ACCEPT, BROWSER_ACCEPT)
        .send()
        .await?)
}

/// The `Accept` headers of installers (index-standards.md, section 3).
const INSTALLER_ACCEPTS: [Option<&str>; 6] = [
    // pip, and Renovate's simple mode
    Some(
        "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01",
    ),
    // uv
    Some(
        "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01",
    ),
    // pip before 22.2
    Some("text/html"),
    // curl, poetry's legacy source
    Some("*/*"),
    Some("application/vnd.pypi.simple.v1+html"),
    // Renovate's retry after a 406
    None,
];

fn readme_file(env: &TestEnv, name: &str, text: &[u8]) -> anyhow::Result<PathBuf> {
    let path = env.sandbox.fresh_path(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Uploads `demo` 1.0 (a Markdown README) and 2.0 (yanked: "broken build"), and `other-tool`.
async fn publish_demo(env: &TestEnv) -> anyhow::Result<()> {
    let readme = readme_file(
        env,
        "readme",
        b"# Demo README\n\nSome **bold** words and a [link](https://example.org/docs).\n\n```\ncode block\n```\n",
    )?;
    let first = DistSpec::new("demo", "1.0")
        .requires("requests>=2")
        .requires_python(">=3.9")
        .readme(&readme, "text/markdown");
    let second = DistSpec::new("demo", "2.0");
    let other = DistSpec::new("other-tool", "0.1");
    for spec in [&first, &second, &other] {
        env.publish_wheel(spec).await?;
    }
    let yank = format!("{}/+yank/demo/2.0?reason=broken%20build", env.base_path());
    let response = env.http(Method::POST, &yank, true).send().await?;
    assert_status(response, StatusCode::OK).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_browses_searches_and_copies_an_install_command() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    publish_demo(&env).await?;
    let browser = Browser::start().await?;
    let namespace_page = format!("{}{}/+simple/", env.server.url(), env.base_path());
    browser.open(&namespace_page).await?;
    assert_eq!(browser.find("h1").await?.text().await?, env.namespace);
    assert_eq!(browser.count("tr.project").await?, 2);
    assert_eq!(
        browser.run("return document.documentElement.lang").await?,
        "en"
    );

    // Search, with the plain GET form.
    browser.find("#q").await?.type_text("DEMO").await?;
    browser.find("form.search button").await?.click().await?;
    let searched = browser.url_once(|url| url.contains("q=")).await?;
    assert!(searched.contains("q=DEMO"), "{searched}");
    assert_eq!(browser.count("tr.project").await?, 1);
    browser.save_screenshots("namespace").await?;
    let row = browser.find("tr.project").await?.text().await?;
    assert!(row.contains("demo") && row.contains("1.0"), "{row}");
    assert!(row.contains("Test package demo 1.0"), "the summary: {row}");

    // The project, its README, its yanked release.
    browser.find("a.project-link").await?.click().await?;
    assert_eq!(browser.find("h1").await?.text().await?, "demo 1.0");
    assert_eq!(
        browser.find(".readme h3").await?.text().await?,
        "Demo README"
    );
    assert_eq!(browser.find(".readme strong").await?.text().await?, "bold");
    assert_eq!(
        browser.find(".readme pre").await?.text().await?,
        "code block"
    );
    let yanked = browser
        .find("details.release .yanked")
        .await?
        .text()
        .await?;
    assert_eq!(yanked, "yanked: broken build");
    let history = browser
        .find("details.release summary")
        .await?
        .text()
        .await?;
    assert!(history.starts_with("2.0"), "newest first: {history}");
    let meta = browser.find("aside").await?.text().await?;
    assert!(
        meta.contains(">=3.9") && meta.contains("requests>=2"),
        "{meta}"
    );

    // Copy the pip command; the clipboard holds it.
    browser.grant("clipboard-read").await?;
    browser.grant("clipboard-write").await?;
    let expected = format!("pip install --index-url {} demo==1.0", env.index_url());
    assert_eq!(browser.find("#install-pip").await?.text().await?, expected);
    let button = browser
        .find("button[aria-label='Copy the pip command']")
        .await?;
    button.click().await?;
    let copied = browser
        .run_async(
            "navigator.clipboard.readText().then(arguments[0], e => arguments[0]('error: ' + e))",
        )
        .await?;
    assert_eq!(copied, expected);
    assert_eq!(button.text().await?, "Copied");

    browser.save_screenshots("project").await?;

    // The file links download the files.
    let href = browser.find("tr.file a").await?.property("href").await?;
    let href = href.as_str().unwrap_or_default().to_owned();
    let response = reqwest::get(&href).await?;
    assert_status(response, StatusCode::OK).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_readme_renders_inert() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    let hostile = br#"# Hostile README

<script>window.pwned = "script";</script>
<img src="/nothing.png" onerror="window.pwned = 'onerror'">
<a href="javascript:window.pwned='link'" id="raw-link">raw link</a>
[markdown link](javascript:window.pwned='md')
<iframe src="javascript:parent.pwned='iframe'"></iframe>
<div onmouseover="window.pwned='hover'" style="position:fixed;inset:0">cover</div>
<style>body { display: none }</style>
<svg><script>window.pwned = "svg";</script></svg>
<object data="javascript:window.pwned='object'"></object>
<form action="javascript:window.pwned='form'"><button id="submit">go</button></form>
"#;
    let readme = readme_file(&env, "hostile", hostile)?;
    let spec = DistSpec::new("hostile", "1.0").readme(&readme, "text/markdown");
    env.publish_wheel(&spec).await?;

    let browser = Browser::start().await?;
    let page = format!("{}{}/hostile/", env.server.url(), env.base_path());
    browser.open(&page).await?;
    assert_eq!(
        browser.find(".readme h3").await?.text().await?,
        "Hostile README"
    );
    for selector in [".readme a", ".readme div"] {
        browser.find(selector).await?.click().await?;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pwned = browser
        .run("return window.pwned === undefined ? null : window.pwned")
        .await?;
    assert_eq!(pwned, serde_json::Value::Null, "a script ran");
    for selector in [
        ".readme script",
        ".readme iframe",
        ".readme object",
        ".readme form",
        ".readme style",
        ".readme svg",
    ] {
        assert_eq!(browser.count(selector).await?, 0, "{selector}");
    }
    let visible = browser
        .run("return getComputedStyle(document.body).display")
        .await?;
    assert_eq!(visible, "block");

    let response = browse(&env, &format!("{}/hostile/", env.base_path()), false).await?;
    let policy = response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()?
        .to_owned();
    assert!(
        policy.contains("script-src 'sha256-") && !policy.contains("unsafe-inline"),
        "{policy}"
    );
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let body = response.text().await?;
    assert!(!body.contains("pwned = \"script\""), "{body}");
    Ok(())
}

/// A reStructuredText README (the core metadata default): rendered (its heading, link and
/// note), and whatever it tries (a `raw` directive, event handlers, `javascript:` links and
/// images, a role with HTML in it) stays inert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restructured_text_readme_is_rendered_and_inert() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    let readme = br#"Hostile RST
===========

A `safe link <https://example.org/rst>`_ and `bad link <javascript:window.pwned='link'>`_.

.. raw:: html

   <script>window.pwned = "raw";</script>
   <img src="/nothing.png" onerror="window.pwned = 'raw-onerror'">

<script>window.pwned = "text";</script>

.. image:: /nothing.png
   :alt: x" onerror="window.pwned='alt'
   :target: javascript:window.pwned='target'

.. |evil| image:: javascript:window.pwned='substitution'

|evil| :raw-html:`<img src=x onerror="window.pwned='role'">`

.. note:: <svg onload="window.pwned='svg'"></svg>

Usage
-----

::

    pip install hostile-rst
"#;
    let readme = readme_file(&env, "hostile-rst", readme)?;
    let spec = DistSpec::new("hostile-rst", "1.0").readme(&readme, "text/x-rst");
    let wheel = env.sandbox.wheel(&spec).await?;
    env.twine_upload(&[&wheel]).await?.assert_success();

    let browser = Browser::start().await?;
    let page = format!("{}{}/hostile-rst/", env.server.url(), env.base_path());
    browser.open(&page).await?;
    assert_eq!(
        browser.find(".readme h3").await?.text().await?,
        "Hostile RST"
    );
    assert_eq!(browser.find(".readme h4").await?.text().await?, "Usage");
    let link = browser.find(".readme a").await?;
    assert_eq!(link.text().await?, "safe link");
    assert_eq!(link.property("href").await?, "https://example.org/rst");
    assert_eq!(
        browser
            .find(".readme .admonition-title")
            .await?
            .text()
            .await?,
        "Note"
    );
    assert_eq!(
        browser.find(".readme pre").await?.text().await?,
        "pip install hostile-rst"
    );
    let text = browser.find(".readme").await?.text().await?;
    assert!(text.contains("bad link"), "{text}");
    assert!(
        text.contains("<script>window.pwned = \"text\";</script>"),
        "{text}"
    );
    for image in 0..browser.count(".readme img").await? {
        let script = format!("document.querySelectorAll('.readme img')[{image}].click()");
        browser.run(&script).await?;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pwned = browser
        .run("return window.pwned === undefined ? null : window.pwned")
        .await?;
    assert_eq!(pwned, serde_json::Value::Null, "a script ran");
    for selector in [
        ".readme script",
        ".readme svg",
        ".readme iframe",
        ".readme [onerror]",
        ".readme [onload]",
        ".readme a[href^='javascript']",
        ".readme img[src^='javascript']",
    ] {
        assert_eq!(browser.count(selector).await?, 0, "{selector}");
    }
    browser.save_screenshots("readme-rst").await?;
    Ok(())
}

/// A project's page goes gzip-compressed to a browser that accepts it; the namespace page,
/// which repeats the search next to the projects' names, never does (BREACH).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_project_page_is_compressed_and_the_searchable_one_never() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    publish_demo(&env).await?;
    let get = |path: String| {
        env.http(Method::GET, &path, false)
            .header(ACCEPT, BROWSER_ACCEPT)
            .header(ACCEPT_ENCODING, "gzip, deflate, br, zstd")
            .send()
    };
    let project = get(format!("{}/demo/", env.base_path())).await?;
    assert_eq!(project.status(), StatusCode::OK);
    assert_eq!(project.headers()[CONTENT_ENCODING], "gzip");
    assert!(
        project.headers()["vary"]
            .to_str()?
            .contains("Accept-Encoding")
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(&project.bytes().await?[..]).read_to_string(&mut text)?;
    assert!(text.contains("Demo README"), "{text}");
    for query in ["", "?q=demo"] {
        let namespace = get(format!("{}/+simple/{query}", env.base_path())).await?;
        assert_eq!(namespace.status(), StatusCode::OK);
        assert!(
            !namespace.headers().contains_key(CONTENT_ENCODING),
            "{query}"
        );
        assert!(namespace.text().await?.contains("demo"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installers_get_the_simple_pages_byte_for_byte() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    publish_demo(&env).await?;
    for path in [
        format!("{}/demo/", env.base_path()),
        format!("{}/+simple/", env.base_path()),
    ] {
        let browser_page = browse(&env, &path, false).await?;
        assert!(browser_page.headers().contains_key(CONTENT_SECURITY_POLICY));
        for accept in INSTALLER_ACCEPTS {
            let mut request = env.http(Method::GET, &path, false);
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            let response = request.send().await?;
            assert_eq!(response.status(), StatusCode::OK);
            assert!(
                !response.headers().contains_key(CONTENT_SECURITY_POLICY),
                "{accept:?}"
            );
            let content_type = response.headers()[CONTENT_TYPE].to_str()?.to_owned();
            let body = response.bytes().await?;
            // The same page asked for by `?format=`, which never reaches the UI.
            let format = content_type.split(';').next().unwrap_or_default();
            let reference = env
                .get(&format!("{path}?format={format}"), false)
                .await?
                .bytes()
                .await?;
            assert_eq!(body, reference, "{path} with {accept:?}");
            assert!(
                !String::from_utf8_lossy(&body).contains("<script"),
                "{accept:?}"
            );
        }
    }
    // And the real clients install from it.
    let output = env
        .sandbox
        .pip(&[
            "download",
            "--no-deps",
            "--index-url",
            &env.index_url(),
            "-d",
            &env.sandbox.fresh_path("dl").display().to_string(),
            "demo==1.0",
        ])
        .await?;
    output.assert_success();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_the_subpath_and_proxies() -> anyhow::Result<()> {
    let env = TestEnv::start_with(AuthMode::Anonymous, |config| {
        config.server.subpath = "/pypi".to_owned();
    })
    .await?;
    let spec = DistSpec::new("demo", "1.0");
    let wheel = env.sandbox.wheel(&spec).await?;
    let index = format!("{}/pypi{}/", env.server.url(), env.base_path());
    env.twine_upload_to(&index, &[&wheel])
        .await?
        .assert_success();

    let browser = Browser::start().await?;
    browser.open(&format!("{index}+simple/")).await?;
    browser.find("a.project-link").await?.click().await?;
    let project = browser
        .url_once(|url| url != format!("{index}+simple/"))
        .await?;
    assert_eq!(project, format!("{index}demo/"));
    let pip = browser.find("#install-pip").await?.text().await?;
    assert_eq!(pip, format!("pip install --index-url {index} demo==1.0"));

    let response = env
        .http(
            Method::GET,
            &format!("/pypi{}/demo/", env.base_path()),
            false,
        )
        .header(ACCEPT, BROWSER_ACCEPT)
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "packages.example")
        .header("x-forwarded-prefix", "/python")
        .send()
        .await?;
    let body = response.text().await?;
    let public = format!("https://packages.example/python/pypi{}/", env.base_path());
    assert!(
        body.contains(&format!("pip install --index-url {public} demo==1.0")),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "href=\"/python/pypi{}/+simple/\"",
            env.base_path()
        )),
        "{body}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_with_credentials_makes_the_browser_prompt() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    publish_demo(&env).await?;
    for path in [
        format!("{}/+simple/", env.base_path()),
        format!("{}/demo/", env.base_path()),
    ] {
        let response = browse(&env, &path, false).await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenge = response.headers()[WWW_AUTHENTICATE].to_str()?;
        assert!(challenge.starts_with("Basic "), "{challenge}");
        let response = browse(&env, &path, true).await?;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.text().await?.contains("demo"));
    }
    // The browser, given the credentials in the URL, shows what the registry lets it read.
    let (user, password) = env.credentials().expect("htpasswd credentials");
    let browser = Browser::start().await?;
    let url = format!(
        "http://{user}:{password}@{}{}/+simple/",
        env.server.authority(),
        env.base_path()
    );
    browser.open(&url).await?;
    assert_eq!(browser.count("tr.project").await?, 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_a_clean_page_or_a_clear_refusal() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    // A README of 3 MiB: the page shows its start and says it was cut.
    let huge = format!(
        "# Huge\n\n{}",
        "lorem ipsum dolor sit amet\n\n".repeat(3 << 20 >> 5)
    );
    let readme = readme_file(&env, "huge", huge.as_bytes())?;
    let spec = DistSpec::new("huge", "1.0").readme(&readme, "text/markdown");
    env.publish_wheel(&spec).await?;
    let response = browse(&env, &format!("{}/huge/", env.base_path()), false).await?;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await?;
    assert!(body.contains("the rest is not shown"), "cut");
    assert!(body.len() < 2 << 20, "{} bytes", body.len());

    // A README that is not UTF-8 is refused at upload, with the reason.
    let readme = readme_file(&env, "latin1", b"caf\xe9 \xff\xfe")?;
    let spec = DistSpec::new("latin", "1.0").readme(&readme, "text/plain");
    let wheel = env.sandbox.wheel(&spec).await?;
    let upload = UploadForm::wheel(&spec, &std::fs::read(&wheel)?);
    let response = env.upload(&upload, true).await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let reason = response.text().await?;
    assert!(reason.contains("UTF-8"), "{reason}");

    // Odd names: a clear 4xx, never a 500.
    for (path, expected) in [
        (format!("{}/%FF/", env.base_path()), StatusCode::BAD_REQUEST),
        (
            format!("{}/-bad-/", env.base_path()),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{}/{}/", env.base_path(), "a".repeat(300)),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{}/nothing-here/", env.base_path()),
            StatusCode::NOT_FOUND,
        ),
        (
            format!(
                "{}/+simple/?q=%3Cscript%3E&page=99999999999999999999",
                env.base_path()
            ),
            StatusCode::OK,
        ),
    ] {
        let response = browse(&env, &path, false).await?;
        let status = response.status();
        let body = response.text().await?;
        assert_eq!(status, expected, "{path}: {body}");
        // Only the page's own script.
        assert!(body.matches("<script").count() <= 1, "{path}: {body}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotions_and_project_statuses_are_shown() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    publish_demo(&env).await?;
    let staging = env.base_path();
    let production = format!("{}/team/production", env.segment());
    let promote = format!("{staging}/+promote/demo/1.0");
    let response = env
        .promote(&promote, &[("to", production.as_str())])
        .await?;
    assert_status(response, StatusCode::OK).await?;
    let set_status = |project: &str, body: &'static str| {
        env.http(Method::POST, &format!("{staging}/+status/{project}"), true)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    assert_status(
        set_status("other-tool", "status=archived&reason=use+demo").await?,
        StatusCode::OK,
    )
    .await?;
    assert_status(
        set_status("demo", "status=quarantined&reason=under+review").await?,
        StatusCode::OK,
    )
    .await?;

    let browser = Browser::start().await?;
    // The promoted copy says where it came from, and when.
    browser
        .open(&format!("{}/{production}/demo/", env.server.url()))
        .await?;
    let promoted = browser.find("tr.file .promoted").await?.text().await?;
    assert!(promoted.starts_with("Promoted from "), "{promoted}");
    assert!(promoted.contains("team/python/demo:1.0"), "{promoted}");

    // Statuses: on the namespace page, and the project's banner; a quarantined project
    // offers no file, no README and no install command.
    browser
        .open(&format!("{}{staging}/+simple/", env.server.url()))
        .await?;
    let rows = browser.find("table.projects tbody").await?.text().await?;
    assert!(
        rows.contains("quarantined") && rows.contains("archived"),
        "{rows}"
    );
    browser
        .open(&format!("{}{staging}/other-tool/", env.server.url()))
        .await?;
    let banner = browser.find("p.status").await?.text().await?;
    assert_eq!(banner, "This project is archived: use demo.");
    browser
        .open(&format!("{}{staging}/demo/", env.server.url()))
        .await?;
    let banner = browser.find("p.status").await?.text().await?;
    assert_eq!(
        banner,
        "This project is quarantined: under review; its files are not offered."
    );
    assert_eq!(browser.count("tr.file").await?, 0);
    assert_eq!(browser.count(".readme").await?, 0);
    assert_eq!(browser.count("#install-pip").await?, 0);
    assert_eq!(browser.count("details.release").await?, 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attested_files_link_their_provenance() -> anyhow::Result<()> {
    let keys = tempfile::tempdir()?;
    let ca = keys.path().join("ca");
    crate::attestations::make(&["ca", ca.to_str().unwrap()]).await?;
    let trust_root = ca.join("ca.pem");
    let env = TestEnv::start_with(AuthMode::Anonymous, |config| {
        config.publishing.attestation_trust_root = Some(trust_root);
    })
    .await?;
    let wheel = env.sandbox.wheel(&DistSpec::new("attested", "1.0")).await?;
    let attestation = crate::attestations::attest(&ca, &wheel, &[]).await?;
    let beside = PathBuf::from(format!("{}.publish.attestation", wheel.display()));
    std::fs::write(&beside, &attestation)?;
    env.uv_publish(&[&wheel, &beside]).await?.assert_success();
    let unattested = env.sandbox.sdist(&DistSpec::new("attested", "1.0")).await?;
    env.twine_upload(&[&unattested]).await?.assert_success();

    let browser = Browser::start().await?;
    browser
        .open(&format!(
            "{}{}/attested/",
            env.server.url(),
            env.base_path()
        ))
        .await?;
    assert_eq!(browser.count("tr.file").await?, 2);
    assert_eq!(browser.count("tr.file a.provenance").await?, 1);
    let href = browser
        .find("tr.file a.provenance")
        .await?
        .property("href")
        .await?;
    let href = href.as_str().unwrap_or_default().to_owned();
    let filename = wheel.file_name().unwrap().to_str().unwrap();
    assert!(
        href.ends_with(&format!("/attested/{filename}.provenance")),
        "{href}"
    );
    let provenance: serde_json::Value = reqwest::get(&href).await?.json().await?;
    assert!(provenance["attestation_bundles"].is_array(), "{provenance}");
    Ok(())
}
