//! Index pages: the project list and project pages (PEP 503 HTML), and the releases JSON that
//! Renovate's pypi datasource reads (the shape of PyPI's `/pypi/<project>/json`).
//!
//! Specifications: <https://peps.python.org/pep-0503/>, <https://peps.python.org/pep-0629/>.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::AppState;
use super::error::ApiError;
use super::route::Scope;
use crate::index::{Caller, ProjectPage};
use crate::layout::StoredFile;
use crate::packaging::ProjectName;

/// The simple API version our pages follow (PEP 629).
const API_VERSION: &str = "1.0";
/// How long clients may reuse a page before asking again.
const PAGE_MAX_AGE: u32 = 30;

/// GET of a project page.
///
/// # Errors
/// What locating, naming or listing fails with.
pub async fn project_page(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    project: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let location = state.index.locate(&scope.registry, &scope.namespace)?;
    let name = ProjectName::parse(project).map_err(crate::index::IndexError::from)?;
    let page = state.index.project_page(caller, &location, &name).await?;
    let body = render_project_html(&page);
    Ok(cacheable(headers, caller, "text/html; charset=utf-8", body))
}

/// GET of the project list.
///
/// # Errors
/// What locating or listing fails with.
pub async fn project_list(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let location = state.index.locate(&scope.registry, &scope.namespace)?;
    let projects = state.index.project_list(caller, &location).await?;
    let mut body = page_head("Simple index");
    for project in &projects {
        let name = escape(project.as_str());
        let _ = writeln!(body, "    <a href=\"{name}/\">{name}</a><br>");
    }
    body.push_str("  </body>\n</html>\n");
    Ok(cacheable(headers, caller, "text/html; charset=utf-8", body))
}

/// GET of the releases JSON. File URLs are absolute paths next to the JSON's own path.
///
/// # Errors
/// What locating, naming or listing fails with.
pub async fn releases_json(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    project: &str,
    request_path: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let location = state.index.locate(&scope.registry, &scope.namespace)?;
    let name = ProjectName::parse(project).map_err(crate::index::IndexError::from)?;
    let page = state.index.project_page(caller, &location, &name).await?;
    let base = request_path.strip_suffix("json").unwrap_or(request_path);
    let body = render_releases_json(&page, base).to_string();
    Ok(cacheable(headers, caller, "application/json", body))
}

fn page_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n    <title>{title}</title>\n  </head>\n  <body>\n    <h1>{title}</h1>\n"
    )
}

/// The PEP 503 page of a project: one anchor per file, `#sha256=` fragment,
/// `data-requires-python` HTML-escaped, hrefs relative to the page.
#[must_use]
pub fn render_project_html(page: &ProjectPage) -> String {
    let mut body = page_head(&format!("Links for {}", escape(page.name.as_str())));
    for release in &page.releases {
        for file in &release.files {
            let filename = escape(&file.filename);
            let href = escape(&encode_path_segment(&file.filename));
            let _ = write!(body, "    <a href=\"{href}#sha256={}\"", file.sha256);
            if let Some(requires_python) = &file.requires_python {
                let _ = write!(
                    body,
                    " data-requires-python=\"{}\"",
                    escape(requires_python)
                );
            }
            let _ = writeln!(body, ">{filename}</a><br>");
        }
    }
    body.push_str("  </body>\n</html>\n");
    body
}

/// The releases JSON, in the shape of PyPI's JSON API.
#[must_use]
pub fn render_releases_json(page: &ProjectPage, base: &str) -> serde_json::Value {
    let file_json = |file: &StoredFile| {
        let upload_time = file
            .uploaded
            .as_deref()
            .map(|t| t.trim_end_matches('Z').to_owned());
        json!({
            "filename": file.filename,
            "url": format!("{base}{}", encode_path_segment(&file.filename)),
            "digests": { "sha256": file.sha256 },
            "size": file.size,
            "packagetype": crate::packaging::DistFilename::parse(&file.filename)
                .map_or("sdist", |f| f.packagetype()),
            "python_version": crate::packaging::DistFilename::parse(&file.filename)
                .map(|f| f.python_version().to_owned()).unwrap_or_default(),
            "requires_python": file.requires_python,
            "upload_time": upload_time,
            "upload_time_iso_8601": file.uploaded,
            "yanked": false,
            "yanked_reason": null,
        })
    };
    let releases: BTreeMap<String, Vec<serde_json::Value>> = page
        .releases
        .iter()
        .map(|r| {
            (
                r.version.to_string(),
                r.files.iter().map(file_json).collect(),
            )
        })
        .collect();
    let latest = page.latest();
    let latest_file = latest.and_then(|r| r.files.first());
    json!({
        "info": {
            "name": page.name.as_str(),
            "version": latest.map(|r| r.version.to_string()),
            "requires_python": latest_file.and_then(|f| f.requires_python.clone()),
            "project_urls": latest_file.map(|f| f.project_urls.clone()).unwrap_or_default(),
            "yanked": false,
        },
        "releases": releases,
        "urls": latest.map(|r| r.files.iter().map(file_json).collect::<Vec<_>>()).unwrap_or_default(),
        "vulnerabilities": [],
    })
}

/// A 200 with an `ETag`, a short `Cache-Control` (private for authenticated callers), or a
/// 304 when the client already has this version.
fn cacheable(
    headers: &HeaderMap,
    caller: &Caller,
    content_type: &'static str,
    body: String,
) -> Response {
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(body.as_bytes())));
    let cache_control = if caller.is_authenticated() {
        format!("private, max-age={PAGE_MAX_AGE}")
    } else {
        format!("max-age={PAGE_MAX_AGE}")
    };
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim().trim_start_matches("W/") == etag)
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, body).into_response()
    };
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&cache_control) {
        response_headers.insert(header::CACHE_CONTROL, value);
    }
    response
}

/// HTML-escapes text for element content and double-quoted attributes.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Percent-encodes what cannot appear raw in a path segment (filenames are mostly safe).
fn encode_path_segment(segment: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'!')
        .remove(b'+');
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Release;
    use crate::packaging::{DistKind, Version};
    use crate::storage::Digest;

    fn file(filename: &str, requires_python: Option<&str>) -> StoredFile {
        StoredFile {
            filename: filename.to_owned(),
            sha256: "ab".repeat(32),
            size: Some(10),
            uploaded: Some("2024-11-20T20:23:36Z".to_owned()),
            requires_python: requires_python.map(str::to_owned),
            project_urls: BTreeMap::from([("Homepage".to_owned(), "https://x".to_owned())]),
            manifest: Digest::of(b"m"),
            kind: if filename.ends_with(".whl") {
                DistKind::Wheel
            } else {
                DistKind::Sdist
            },
        }
    }

    fn page() -> ProjectPage {
        ProjectPage {
            name: ProjectName::parse("Hello_World").unwrap(),
            releases: vec![
                Release {
                    version: Version::parse("1.0").unwrap(),
                    files: vec![file("hello_world-1.0.tar.gz", None)],
                },
                Release {
                    version: Version::parse("2.0+local.1").unwrap(),
                    files: vec![file(
                        "hello_world-2.0+local.1-py3-none-any.whl",
                        Some(">=3.8,<4"),
                    )],
                },
            ],
        }
    }

    #[test]
    fn html_snapshot() {
        let sha = "ab".repeat(32);
        let expected = format!(
            "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.0\">\n    <title>Links for hello-world</title>\n  </head>\n  <body>\n    <h1>Links for hello-world</h1>\n    <a href=\"hello_world-1.0.tar.gz#sha256={sha}\">hello_world-1.0.tar.gz</a><br>\n    <a href=\"hello_world-2.0+local.1-py3-none-any.whl#sha256={sha}\" data-requires-python=\"&gt;=3.8,&lt;4\">hello_world-2.0+local.1-py3-none-any.whl</a><br>\n  </body>\n</html>\n"
        );
        assert_eq!(render_project_html(&page()), expected);
    }

    #[test]
    fn releases_json_shape() {
        let value = render_releases_json(&page(), "/r/ns/hello-world/");
        assert_eq!(value["info"]["name"], "hello-world");
        assert_eq!(value["info"]["version"], "2.0+local.1");
        assert_eq!(value["info"]["project_urls"]["Homepage"], "https://x");
        let file = &value["releases"]["1.0"][0];
        assert_eq!(file["url"], "/r/ns/hello-world/hello_world-1.0.tar.gz");
        assert_eq!(file["packagetype"], "sdist");
        assert_eq!(file["python_version"], "source");
        assert_eq!(file["upload_time"], "2024-11-20T20:23:36");
        assert_eq!(file["upload_time_iso_8601"], "2024-11-20T20:23:36Z");
        assert_eq!(file["yanked"], false);
        assert_eq!(value["urls"][0]["packagetype"], "bdist_wheel");
        assert_eq!(value["urls"][0]["requires_python"], ">=3.8,<4");
    }
}
