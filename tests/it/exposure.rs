//! The server reachable by strangers (issue 15): the local store takes no anonymous writes
//! when it listens beyond loopback, its users (an htpasswd file) guard writes and reads,
//! browsers cannot be made to write across sites, and no redirect leaves this host.
//!
//! "Listening beyond loopback" is the configured `host`; the test servers are still bound
//! to 127.0.0.1, so nothing here leaves loopback.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::harness::raw;
use crate::harness::{Backend, DistSpec, TestEnv, UploadForm, assert_status};

const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery";
/// How long an answer given from the request head alone may take.
const PROMPT: Duration = Duration::from_secs(10);

async fn wheel(env: &TestEnv, spec: &DistSpec) -> anyhow::Result<Vec<u8>> {
    Ok(std::fs::read(env.sandbox.wheel(spec).await?)?)
}

/// An htpasswd file with [`USER`] (bcrypt, as `htpasswd -B` writes it) in `dir`.
fn htpasswd(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("htpasswd");
    let hash = bcrypt::hash(PASSWORD, 4)?.replacen("$2b$", "$2y$", 1);
    std::fs::write(&path, format!("# local store users\n\n{USER}:{hash}\n"))?;
    Ok(path)
}

fn every_interface(config: &mut oci_pypi::config::Config) {
    config.server.host = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
}

/// Every kind of write the API has, anonymous; their statuses and bodies.
async fn every_write(
    env: &TestEnv,
    spec: &DistSpec,
) -> anyhow::Result<Vec<(String, StatusCode, String)>> {
    let base = env.base_path();
    let project = spec.project_name();
    let file = spec.wheel_filename();
    let other = DistSpec::new(&spec.name, "9.0");
    let requests = vec![
        (
            "upload",
            env.http(Method::POST, &format!("{base}/"), false)
                .multipart(UploadForm::wheel(&other, &wheel(env, &other).await?).form()),
        ),
        (
            "delete file",
            env.http(Method::DELETE, &format!("{base}/{project}/{file}"), false),
        ),
        (
            "delete release",
            env.http(
                Method::DELETE,
                &format!("{base}/{project}/{}", spec.version),
                false,
            ),
        ),
        (
            "yank",
            env.http(
                Method::POST,
                &format!("{base}/+yank/{project}/{}", spec.version),
                false,
            ),
        ),
        (
            "promote with move",
            env.http(
                Method::POST,
                &format!("{base}/+promote/{project}/{}", spec.version),
                false,
            )
            .query(&[("to", "local/elsewhere"), ("move", "true")]),
        ),
    ];
    let mut answers = Vec::new();
    for (name, request) in requests {
        let response = request.send().await?;
        answers.push((name.to_owned(), response.status(), response.text().await?));
    }
    Ok(answers)
}

/// The files the project page lists.
async fn listed(
    env: &TestEnv,
    spec: &DistSpec,
    auth: Option<(&str, &str)>,
) -> anyhow::Result<String> {
    let path = format!("{}/{}/", env.base_path(), spec.project_name());
    let mut request = env.http(Method::GET, &path, false);
    if let Some((user, password)) = auth {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(response.text().await?)
}

/// Listening on every interface with neither users nor the opt-in, the local store refuses
/// every write (upload, delete, yank, promote) with a 403 saying how to enable writes, the
/// upload before its body is read; reads still work; the opt-in restores anonymous writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposed_local_store_refuses_anonymous_writes() -> anyhow::Result<()> {
    let mut env = TestEnv::start_backend(Backend::Local).await?;
    let spec = DistSpec::new("exposed", "1.0");
    let bytes = wheel(&env, &spec).await?;
    // On loopback (the default), anonymous writes work as they always did.
    let response = env.upload(&UploadForm::wheel(&spec, &bytes), false).await?;
    assert_status(response, StatusCode::OK).await?;

    env.reconfigure(every_interface).await?;
    let mut stream = raw::send(
        &env.server.authority(),
        &raw::announced_upload(&env, 10 << 20, None),
    )
    .await?;
    let answer = raw::read_response(&mut stream, PROMPT).await?;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    for advice in ["--local-users", "--local-allow-anonymous-writes"] {
        assert!(answer.body.contains(advice), "{}", answer.body);
    }
    assert_eq!(answer.body.trim_end().lines().count(), 1, "{}", answer.body);
    for (name, status, body) in every_write(&env, &spec).await? {
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
        assert!(body.contains("--local-users"), "{name}: {body}");
    }
    // Nothing changed, and reads still work.
    let page = listed(&env, &spec, None).await?;
    assert!(page.contains(&spec.wheel_filename()), "{page}");
    assert!(!page.contains("9.0"), "{page}");
    assert!(!page.contains("data-yanked"), "{page}");
    let file = format!(
        "{}/{}/{}",
        env.base_path(),
        spec.project_name(),
        spec.wheel_filename()
    );
    let response = env.get(&file, false).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await?.as_ref(), bytes.as_slice());

    // The explicit opt-in gives anonymous writes back.
    env.reconfigure(|config| {
        every_interface(config);
        config.local_store.local_allow_anonymous_writes = true;
    })
    .await?;
    let second = DistSpec::new("exposed", "2.0");
    let upload = UploadForm::wheel(&second, &wheel(&env, &second).await?);
    let response = env.upload(&upload, false).await?;
    assert_status(response, StatusCode::OK).await
}

/// With `--local-users`, writes and reads of the local store need one of its users: an
/// anonymous upload is answered 401 (with a Basic challenge) before its body is read, a wrong
/// password is 401, twine and pip work with the user's credentials; `--local-public-reads`
/// opens reads only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_users_guard_writes_and_reads() -> anyhow::Result<()> {
    let secrets = tempfile::tempdir()?;
    let users = htpasswd(secrets.path())?;
    let configured = users.clone();
    let mut env = TestEnv::start_backend_with(Backend::Local, move |config| {
        every_interface(config);
        config.local_store.local_users = Some(configured);
    })
    .await?;
    let spec = DistSpec::new("guarded", "1.0");

    let mut stream = raw::send(
        &env.server.authority(),
        &raw::announced_upload(&env, 10 << 20, None),
    )
    .await?;
    let answer = raw::read_response(&mut stream, PROMPT).await?;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Basic realm=\"oci-pypi\"")
    );
    let wrong = raw::announced_upload(&env, 10 << 20, Some((USER, "wrong password")));
    let mut stream = raw::send(&env.server.authority(), &wrong).await?;
    let answer = raw::read_response(&mut stream, PROMPT).await?;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    for (name, status, body) in every_write(&env, &spec).await? {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
    }

    let path = env.sandbox.wheel(&spec).await?;
    env.sandbox
        .twine_upload(&env.index_url(), USER, PASSWORD, &[&path])
        .await?
        .assert_success();
    let page = format!("{}/{}/", env.base_path(), spec.project_name());
    let anonymous = env.get(&page, false).await?;
    assert_status(anonymous, StatusCode::UNAUTHORIZED).await?;
    env.sandbox
        .assert_pip_installs(&env.index_url_as(USER, PASSWORD), &["guarded==1.0"], &[])
        .await?;

    env.reconfigure(move |config| {
        every_interface(config);
        config.local_store.local_users = Some(users);
        config.local_store.local_public_reads = true;
    })
    .await?;
    let listing = listed(&env, &spec, None).await?;
    assert!(listing.contains(&spec.wheel_filename()), "{listing}");
    for (name, status, body) in every_write(&env, &spec).await? {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
    }
    let delete = format!(
        "{}/{}/{}",
        env.base_path(),
        spec.project_name(),
        spec.version
    );
    let response = env
        .http(Method::DELETE, &delete, false)
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await?;
    assert_status(response, StatusCode::OK).await
}

/// State-changing requests that a browser marks as cross-site (`Sec-Fetch-Site`) or sends from
/// another origin (`Origin`) are refused with 403 and change nothing; same-origin ones and
/// requests without these headers (twine, uv, curl) pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_writes_are_refused() -> anyhow::Result<()> {
    let env = TestEnv::start_backend(Backend::Local).await?;
    let spec = DistSpec::new("csrf", "1.0");
    let bytes = wheel(&env, &spec).await?;
    let upload_path = format!("{}/", env.base_path());
    let project = spec.project_name();
    let file = format!("{}/{project}/{}", env.base_path(), spec.wheel_filename());
    let cross_site: [(&str, &str); 4] = [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://evil.example"),
        ("origin", "null"),
    ];
    for (header, value) in cross_site {
        let response = env
            .http(Method::POST, &upload_path, false)
            .header(header, value)
            .multipart(UploadForm::wheel(&spec, &bytes).form())
            .send()
            .await?;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{header}: {value}"
        );
        let body = response.text().await?;
        assert!(body.contains(value), "{header}: {value}: {body}");
    }
    let page = format!("{}/{project}/", env.base_path());
    let response = env.get(&page, false).await?;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "nothing was uploaded"
    );

    // Same origin: as the browser says it, or as the Origin matches the Host.
    let own_origin = env.server.url();
    let response = env
        .http(Method::POST, &upload_path, false)
        .header("origin", own_origin.as_str())
        .multipart(UploadForm::wheel(&spec, &bytes).form())
        .send()
        .await?;
    assert_status(response, StatusCode::OK).await?;

    let writes = [
        (Method::DELETE, file.clone(), ""),
        (
            Method::POST,
            format!("{}/+yank/{project}/1.0", env.base_path()),
            "",
        ),
        (
            Method::POST,
            format!("{}/+promote/{project}/1.0", env.base_path()),
            "to=local/elsewhere&move=true",
        ),
    ];
    for (method, path, query) in &writes {
        let url = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        };
        for (header, value) in [
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
        ] {
            let response = env
                .http(method.clone(), &url, false)
                .header(header, value)
                .send()
                .await?;
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{method} {path} {header}"
            );
        }
    }
    let listing = listed(&env, &spec, None).await?;
    assert!(listing.contains(&spec.wheel_filename()), "{listing}");
    assert!(!listing.contains("data-yanked"), "{listing}");
    // Reads are not affected, and browsers' same-origin and direct requests pass.
    let response = env
        .http(Method::GET, &file, false)
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://evil.example")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let yank = format!("{}/+yank/{project}/1.0", env.base_path());
    for value in ["same-origin", "none"] {
        let response = env
            .http(Method::POST, &yank, false)
            .header("sec-fetch-site", value)
            .header("origin", "https://evil.example")
            .send()
            .await?;
        assert_status(response, StatusCode::OK).await?;
    }
    let response = env.http(Method::DELETE, &file, false).send().await?;
    assert_status(response, StatusCode::OK).await
}

/// The trailing-slash redirect never sends a browser to another host: a path starting with a
/// backslash (which browsers read as `/`) or with several slashes is redirected within this
/// server. Checked with the WHATWG URL parser (the `url` crate), as a browser resolves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_slash_redirects_stay_on_this_host() -> anyhow::Result<()> {
    let env = TestEnv::start_backend(Backend::Local).await?;
    let base = url::Url::parse(&format!("{}/", env.server.url()))?;
    for path in [
        "/\\evil.example/ns",
        "/\\\\evil.example/ns",
        "/\\/evil.example/ns",
        "//evil.example/ns",
        "/%5Cevil.example/ns",
        "/local/\\evil.example",
        "/\\evil.example",
    ] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            env.server.authority()
        );
        let mut stream = raw::send(&env.server.authority(), request.as_bytes()).await?;
        let answer = raw::read_response(&mut stream, PROMPT).await?;
        let Some(location) = answer.header("location") else {
            assert!(answer.status.is_client_error(), "{path}: {answer:?}");
            continue;
        };
        let target = base.join(location)?;
        assert_eq!(
            target.origin(),
            base.origin(),
            "{path} redirects to {location}, which a browser opens as {target}"
        );
    }
    Ok(())
}
