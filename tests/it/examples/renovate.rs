//! Renovate's pypi datasource against the server, request for request, its answers read the way
//! Renovate reads them (`lib/modules/datasource/pypi/index.ts` and `schema.ts` in
//! renovatebot/renovate):
//!
//! - a registry URL that does not end in `/simple/` or `/+simple/` is asked
//!   `GET <registry>/<normalized name>/json` (PyPI's JSON API): `releases` maps each version to
//!   its files, whose `yanked` must be a boolean, `requires_python` a string or null,
//!   `upload_time` a timestamp (the earliest is the release time);
//! - one ending in `/+simple/` is asked `GET <registry>/<normalized name>/` with pip's `Accept`,
//!   read as PEP 691 JSON when the content type contains `json`, else as HTML anchors; after a
//!   406 the request is made once more without `Accept`;
//! - versions come from the file names, by Renovate's own rule.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context as _, ensure};
use reqwest::{StatusCode, header};
use serde_json::Value;
use time::PrimitiveDateTime;
use time::macros::format_description;

use super::{EXAMPLE_INDEX_URL, Examples, PACKAGE, example_dir};
use crate::harness::DistSpec;

/// The `Accept` of Renovate's simple-API request.
const RENOVATE_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

/// What Renovate keeps of one version.
#[derive(Debug, Default, PartialEq, Eq)]
struct Release {
    deprecated: bool,
    python: BTreeSet<String>,
    timestamp: Option<String>,
}

/// `normalizePythonDepName`: lowercase, runs of `-`, `_`, `.` become `-`.
fn normalize(name: &str) -> String {
    crate::harness::clients::normalize_name(name, '-')
}

/// `extractVersionFromLinkText`: the version in a distribution's file name.
fn version_of(filename: &str, project: &str) -> Option<String> {
    let lower = filename.to_lowercase();
    let normalized = normalize(filename);
    let prefix = format!("{project}-");
    if !normalized.starts_with(&prefix) {
        return None;
    }
    let rest = lower.get(prefix.len() + lower.len() - normalized.len()..)?;
    for suffix in [".tar.gz", ".tar.bz2", ".tar.xz", ".zip", ".tgz"] {
        if lower.ends_with(suffix) {
            return rest.strip_suffix(suffix).map(str::to_owned);
        }
    }
    (lower.ends_with(".whl") && lower.split('-').count() > 2)
        .then(|| rest.split('-').next().map(str::to_owned))
        .flatten()
}

/// `asTimestamp` succeeds on what the server sends (ISO 8601, UTC).
fn timestamp(value: &str) -> anyhow::Result<String> {
    let format = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    let bare = value.strip_suffix('Z').unwrap_or(value);
    PrimitiveDateTime::parse(bare, format)
        .with_context(|| format!("`{value}` is not an ISO 8601 time"))?;
    Ok(bare.to_owned())
}

/// Adds one file's facts to its version, as `toReleases` does.
fn add_file(
    releases: &mut BTreeMap<String, Release>,
    version: String,
    yanked: bool,
    requires_python: Option<&str>,
    upload_time: Option<&str>,
) -> anyhow::Result<()> {
    let release = releases.entry(version).or_default();
    release.deprecated |= yanked;
    if let Some(python) = requires_python.filter(|p| !p.is_empty()) {
        release.python.insert(python.to_owned());
    }
    if let Some(time) = upload_time {
        let time = timestamp(time)?;
        if release.timestamp.as_ref().is_none_or(|t| &time < t) {
            release.timestamp = Some(time);
        }
    }
    Ok(())
}

/// The JSON API answer (`PypiResponse`), strictly typed as Renovate's schema types it.
fn releases_from_json_api(body: &Value) -> anyhow::Result<BTreeMap<String, Release>> {
    let info = &body["info"];
    ensure!(info.is_object(), "no info: {body}");
    ensure!(
        info["name"].is_string() || info["name"].is_null(),
        "info.name: {info}"
    );
    ensure!(info["version"].is_string(), "info.version: {info}");
    let mut releases = BTreeMap::new();
    for (version, files) in body["releases"].as_object().context("releases")? {
        releases
            .entry(version.clone())
            .or_insert_with(Release::default);
        for file in files.as_array().context("a release is not an array")? {
            let yanked = file["yanked"]
                .as_bool()
                .context("yanked must be a boolean")?;
            let python = &file["requires_python"];
            ensure!(
                python.is_string() || python.is_null(),
                "requires_python: {file}"
            );
            let upload_time = file["upload_time"].as_str().context("upload_time")?;
            let iso = file["upload_time_iso_8601"]
                .as_str()
                .context("upload_time_iso_8601")?;
            ensure!(iso.ends_with('Z'), "upload_time_iso_8601 is not UTC: {iso}");
            timestamp(iso)?;
            add_file(
                &mut releases,
                version.clone(),
                yanked,
                python.as_str(),
                Some(upload_time),
            )?;
        }
    }
    Ok(releases)
}

/// A PEP 691 page (`PypiSimpleResponse`): `yanked` may be a boolean or a reason.
fn releases_from_simple_json(
    body: &Value,
    project: &str,
) -> anyhow::Result<BTreeMap<String, Release>> {
    let mut releases = BTreeMap::new();
    for file in body["files"].as_array().context("files")? {
        let filename = file["filename"].as_str().context("filename")?;
        let Some(version) = version_of(filename, project) else {
            continue;
        };
        let yanked = match &file["yanked"] {
            Value::Bool(b) => *b,
            Value::String(reason) => !reason.is_empty(),
            Value::Null => false,
            other => anyhow::bail!("yanked is neither a boolean nor a string: {other}"),
        };
        add_file(
            &mut releases,
            version,
            yanked,
            file["requires-python"].as_str(),
            file["upload-time"].as_str(),
        )?;
    }
    Ok(releases)
}

/// An HTML page: every anchor's text is a file name; `data-yanked` marks it yanked, and
/// `data-requires-python` is HTML-escaped. HTML carries no upload time for Renovate.
fn releases_from_html(html: &str, project: &str) -> anyhow::Result<BTreeMap<String, Release>> {
    let mut releases = BTreeMap::new();
    let mut rest = html;
    while let Some(start) = rest.find("<a ") {
        let tail = &rest[start..];
        let open_end = tail.find('>').context("an unterminated <a>")?;
        let attributes = &tail[..open_end];
        let close = tail.find("</a>").context("an <a> without </a>")?;
        let text = tail[open_end + 1..close].trim();
        if let Some(version) = version_of(text, project) {
            let python = attributes
                .split("data-requires-python=\"")
                .nth(1)
                .and_then(|v| v.split('"').next())
                .map(|v| {
                    v.replace("&gt;", ">")
                        .replace("&lt;", "<")
                        .replace("&amp;", "&")
                });
            add_file(
                &mut releases,
                version,
                attributes.contains("data-yanked"),
                python.as_deref(),
                None,
            )?;
        }
        rest = &tail[close..];
    }
    Ok(releases)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renovate_datasource() -> anyhow::Result<()> {
    // The example configuration: credentials for the index host, the index as the registry of
    // the private packages.
    let config: Value = serde_json::from_str(&std::fs::read_to_string(
        example_dir("renovate").join("renovate.json"),
    )?)?;
    let rule = &config["hostRules"][0];
    assert_eq!(rule["matchHost"], EXAMPLE_INDEX_URL);
    assert_eq!(rule["hostType"], "pypi");
    assert!(
        rule["username"].is_string() && rule["password"].is_string(),
        "{rule}"
    );
    let package_rule = &config["packageRules"][0];
    assert_eq!(
        package_rule["matchDatasources"],
        serde_json::json!(["pypi"])
    );
    assert_eq!(
        package_rule["registryUrls"],
        serde_json::json!([EXAMPLE_INDEX_URL])
    );
    let pattern = package_rule["matchPackageNames"][0]
        .as_str()
        .context("a name pattern")?;
    assert!(
        PACKAGE.starts_with(pattern.trim_end_matches('*')),
        "{pattern}"
    );

    let ex = Examples::start().await?;
    let namespace = ex.env.namespace.clone();
    ex.publish(
        &DistSpec::new(PACKAGE, "1.0.0").requires_python(">=3.9"),
        &namespace,
    )
    .await?;
    ex.publish(&DistSpec::new("Acme.Greeting", "1.1.0"), &namespace)
        .await?;
    let yank = format!("{}/+yank/{PACKAGE}/1.1.0", ex.env.base_path());
    let response = ex
        .env
        .http(reqwest::Method::POST, &yank, true)
        .send()
        .await?;
    assert!(
        response.status().is_success(),
        "yank: {}",
        response.status()
    );

    let client = reqwest::Client::builder().no_proxy().build()?;
    let get = |url: String| client.get(url).basic_auth(&ex.username, Some(&ex.password));
    let registry = ex.index_url(&namespace);
    let project = normalize("Acme_Greeting");

    // JSON API mode (the example's registry URL does not end in /simple/).
    let response = get(format!("{registry}{project}/json")).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await?;
    let from_json = releases_from_json_api(&body)?;
    // The yanked 1.1.0 is not the latest.
    assert_eq!(body["info"]["version"], "1.0.0", "{body}");
    check_releases(&from_json, true);

    // Simple mode (a registry URL ending in /+simple/): JSON by content negotiation.
    let response = get(format!("{registry}+simple/{project}/"))
        .header(header::ACCEPT, RENOVATE_ACCEPT)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()?
        .to_owned();
    assert!(content_type.contains("json"), "{content_type}");
    let from_simple = releases_from_simple_json(&response.json().await?, &project)?;
    assert_eq!(from_simple, from_json);
    // The fallback after a JSON API error asks the project page under the registry URL itself.
    let response = get(format!("{registry}{project}/"))
        .header(header::ACCEPT, RENOVATE_ACCEPT)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        releases_from_simple_json(&response.json().await?, &project)?,
        from_json
    );

    // A registry that serves none of the types asked for answers 406; Renovate then asks once
    // more without `Accept` and reads HTML.
    let response = get(format!("{registry}+simple/{project}/"))
        .header(header::ACCEPT, "application/vnd.pypi.simple.v2+json")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
    let response = get(format!("{registry}+simple/{project}/")).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()?
        .to_owned();
    assert!(!content_type.contains("json"), "{content_type}");
    let from_html = releases_from_html(&response.text().await?, &project)?;
    check_releases(&from_html, false);

    // An unknown package is a 404 both ways (Renovate: not found), and without the host rule's
    // credentials the answer is 401.
    let response = get(format!("{registry}no-such-package/json"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = get(format!("{registry}no-such-package/"))
        .header(header::ACCEPT, RENOVATE_ACCEPT)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = client
        .get(format!("{registry}{project}/json"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

/// 1.0.0 (requires Python >= 3.9) and 1.1.0 (yanked: deprecated), with release times when the
/// format carries them.
fn check_releases(releases: &BTreeMap<String, Release>, with_times: bool) {
    let versions: Vec<&str> = releases.keys().map(String::as_str).collect();
    assert_eq!(versions, ["1.0.0", "1.1.0"]);
    let first = &releases["1.0.0"];
    assert!(!first.deprecated);
    assert_eq!(first.python, BTreeSet::from([">=3.9".to_owned()]));
    let second = &releases["1.1.0"];
    assert!(second.deprecated, "a yanked version is deprecated");
    assert!(second.python.is_empty());
    for release in releases.values() {
        assert_eq!(release.timestamp.is_some(), with_times, "{release:?}");
    }
}

#[test]
fn renovate_version_rule() {
    assert_eq!(
        version_of("acme_greeting-1.0.0-py3-none-any.whl", "acme-greeting").as_deref(),
        Some("1.0.0")
    );
    assert_eq!(
        version_of("Acme.Greeting-2.0rc1.tar.gz", "acme-greeting").as_deref(),
        Some("2.0rc1")
    );
    assert_eq!(version_of("other-1.0.tar.gz", "acme-greeting"), None);
    assert_eq!(normalize("Acme__Greeting.x"), "acme-greeting-x");
}
