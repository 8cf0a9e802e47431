//! Index pages: the project list and project pages in both simple-API serializations (PEP 503
//! HTML, PEP 691 JSON with PEP 700 fields), and the releases JSON that Renovate's pypi
//! datasource reads (the shape of PyPI's `/pypi/<project>/json`).
//!
//! Specifications: <https://packaging.python.org/en/latest/specifications/simple-repository-api/>
//! (PEP 503, 592, 629, 658, 691, 700, 714).

use std::fmt::{self, Write as _};

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::AppState;
use super::encoding;
use super::error::ApiError;
use super::negotiate::Format;
use super::route::{ProjectPath, Scope};
use crate::index::{Caller, Listing, ProjectPage};
use crate::packaging::{ProjectName, StatusMarker};
use crate::renders::Rendered;

/// The simple API version our pages follow (PEP 629): 1.1 has `versions`, `size`,
/// `upload-time`; 1.4 the project status (PEP 792).
const API_VERSION: &str = "1.4";

/// Room made in a project page's HTML for each file at the start (an anchor with its data
/// attributes is about 300 bytes), so that a page of thousands of files is not copied
/// again each time it outgrows its buffer.
const HTML_BYTES_PER_FILE: usize = 320;
/// How long clients may reuse a page before asking again.
const PAGE_MAX_AGE: u32 = 30;

/// GET of a project page, in the negotiated format.
///
/// # Errors
/// What locating, naming or listing fails with; 406 when no format is acceptable.
pub async fn project_page(
    state: &AppState,
    caller: &Caller,
    path: &ProjectPath,
    headers: &HeaderMap,
    format: Format,
) -> Result<Response, ApiError> {
    let (location, name) = path.resolve(&state.index)?;
    let listing = state.index.listing(caller, &location, &name).await?;
    // A page is rendered once per version and format, then reused while fresh.
    let rendered = match (&listing, format) {
        (Listing::Local(page) | Listing::Cached(page), Format::Json) => page
            .renders
            .get_or_render("json", || rendered(render_project_json(page))),
        (Listing::Local(page) | Listing::Cached(page), Format::Html | Format::TextHtml) => page
            .renders
            .get_or_render("html", || rendered(render_project_html(page))),
        (Listing::Upstream { page, proxied, .. }, Format::Json) => {
            let key = if *proxied { "json, proxied" } else { "json" };
            page.renders.get_or_render(key, || {
                rendered(upstream::render_json(&name, page, *proxied))
            })
        }
        (Listing::Upstream { page, proxied, .. }, Format::Html | Format::TextHtml) => {
            let key = if *proxied { "html, proxied" } else { "html" };
            page.renders.get_or_render(key, || {
                rendered(upstream::render_html(&name, page, *proxied))
            })
        }
    };
    let mut response = cacheable(state, (headers, caller), format.content_type(), &rendered).await;
    if matches!(
        listing,
        Listing::Cached(_) | Listing::Upstream { stale: true, .. }
    ) {
        super::warn_stale(&mut response);
    }
    Ok(response)
}

/// GET of the project list, in the negotiated format.
///
/// # Errors
/// What locating or listing fails with.
pub async fn project_list(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    headers: &HeaderMap,
    format: Format,
) -> Result<Response, ApiError> {
    let location = scope.locate(&state.index)?;
    let projects = state.index.project_list(caller, &location).await?;
    let body = match format {
        Format::Json => render_list_json(&projects).to_string(),
        Format::Html | Format::TextHtml => render_list_html(&projects),
    };
    Ok(cacheable(
        state,
        (headers, caller),
        format.content_type(),
        &rendered(body),
    )
    .await)
}

/// GET of the releases JSON. File URLs are absolute paths next to the JSON's own path.
///
/// # Errors
/// What locating, naming or listing fails with.
pub async fn releases_json(
    state: &AppState,
    caller: &Caller,
    path: &ProjectPath,
    request_path: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let (location, name) = path.resolve(&state.index)?;
    let page = state.index.project_page(caller, &location, &name).await?;
    let base = request_path.strip_suffix("json").unwrap_or(request_path);
    let body = render_releases_json(&page, base);
    Ok(cacheable(
        state,
        (headers, caller),
        "application/json",
        &rendered(body),
    )
    .await)
}

/// The page up to its `<h1>`; `meta` (whole lines) goes into the head.
fn page_head(title: &str, meta: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n{meta}    <title>{title}</title>\n  </head>\n  <body>\n    <h1>{title}</h1>\n"
    )
}

/// The HTML page of a project: one anchor per file with the `#sha256=` fragment, relative
/// href, and the data attributes of PEP 503/592 (`data-requires-python` HTML-escaped,
/// `data-yanked`), PEP 658/714 `data-core-metadata` (and its legacy twin) when the metadata is
/// stored, plus `data-size` and `data-upload-time`, which uv reads.
#[must_use]
pub fn render_project_html(page: &ProjectPage) -> String {
    let title = format!("Links for {}", escape(page.name.as_str()));
    let mut body = page_head(&title, &status_meta(&page.status));
    let files: usize = page.releases.iter().map(|r| r.files.len()).sum();
    body.reserve(files.saturating_mul(HTML_BYTES_PER_FILE));
    for file in page.files() {
        // A percent-encoded segment holds nothing HTML must escape.
        let href = path_segment(&file.filename);
        let _ = write!(body, "    <a href=\"{href}#sha256={}\"", file.sha256);
        let core_metadata = file
            .core_metadata
            .as_ref()
            .map(|sha256| format!("sha256={sha256}"));
        write_data_attributes(
            &mut body,
            file.requires_python.as_deref(),
            core_metadata.as_deref(),
            file.yanked.as_deref(),
            (file.size, file.uploaded.as_deref()),
        );
        if file.provenance.is_some() {
            let url = provenance_url(&file.filename);
            let _ = write!(body, " data-provenance=\"{url}\"");
        }
        let _ = writeln!(body, ">{}</a><br>", Escaped(&file.filename));
    }
    body.push_str("  </body>\n</html>\n");
    body
}

/// The data attributes of a file's anchor, after its `href`: PEP 503's
/// `data-requires-python`, PEP 658/714's `data-core-metadata` (and its legacy twin), PEP 592's
/// `data-yanked`, and the `data-size` and `data-upload-time` that uv reads. Values are
/// HTML-escaped.
fn write_data_attributes(
    body: &mut String,
    requires_python: Option<&str>,
    core_metadata: Option<&str>,
    yanked: Option<&str>,
    (size, upload_time): (Option<u64>, Option<&str>),
) {
    if let Some(requires_python) = requires_python {
        let _ = write!(
            body,
            " data-requires-python=\"{}\"",
            Escaped(requires_python)
        );
    }
    if let Some(metadata) = core_metadata {
        let value = Escaped(metadata);
        let _ = write!(
            body,
            " data-core-metadata=\"{value}\" data-dist-info-metadata=\"{value}\""
        );
    }
    if let Some(reason) = yanked {
        let _ = write!(body, " data-yanked=\"{}\"", Escaped(reason));
    }
    if let Some(size) = size {
        let _ = write!(body, " data-size=\"{size}\"");
    }
    if let Some(time) = upload_time {
        let _ = write!(body, " data-upload-time=\"{}\"", Escaped(time));
    }
}

/// Where a file's provenance object is served (PEP 740), relative to the page like every
/// link here.
fn provenance_url(filename: &str) -> String {
    format!("{}.provenance", encode_path_segment(filename))
}

/// PEP 792's meta tags: the status when it is not the default, and its reason when there is
/// one.
fn status_meta(marker: &StatusMarker) -> String {
    let mut meta = String::new();
    if marker.is_default() {
        return meta;
    }
    let _ = writeln!(
        meta,
        "    <meta name=\"pypi:project-status\" content=\"{}\">",
        marker.status.as_str()
    );
    if !marker.reason.is_empty() {
        let _ = writeln!(
            meta,
            "    <meta name=\"pypi:project-status-reason\" content=\"{}\">",
            escape(&marker.reason)
        );
    }
    meta
}

/// The HTML project list (PEP 503): one anchor per project, relative to the list's URL.
#[must_use]
pub fn render_list_html(projects: &[ProjectName]) -> String {
    let mut body = page_head("Simple index", "");
    for project in projects {
        let name = escape(project.as_str());
        let _ = writeln!(body, "    <a href=\"{name}/\">{name}</a><br>");
    }
    body.push_str("  </body>\n</html>\n");
    body
}

/// The JSON project list (PEP 691).
#[must_use]
pub fn render_list_json(projects: &[ProjectName]) -> serde_json::Value {
    json!({
        "meta": { "api-version": API_VERSION },
        "projects": projects.iter().map(|p| json!({ "name": p.as_str() })).collect::<Vec<_>>(),
    })
}

/// A body with its `ETag` (the SHA-256 of the bytes).
fn rendered(body: String) -> Rendered {
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(body.as_bytes())));
    Rendered::new(Bytes::from(body), etag)
}

/// A 200 with an `ETag`, a short `Cache-Control` (private for authenticated callers) and
/// `Vary`, gzip-compressed when the client accepts it; or a 304 when the client already has
/// this version.
async fn cacheable(
    state: &AppState,
    (headers, caller): (&HeaderMap, &Caller),
    content_type: &'static str,
    rendered: &Rendered,
) -> Response {
    let gzip = encoding::request_accepts_gzip(headers);
    let etag = encoding::etag(rendered, gzip);
    let cache_control = if caller.is_authenticated() {
        format!("private, max-age={PAGE_MAX_AGE}")
    } else {
        format!("max-age={PAGE_MAX_AGE}")
    };
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| super::lists_etag(v, &etag));
    let (mut response, etag, coding) = if matches {
        (StatusCode::NOT_MODIFIED.into_response(), etag, None)
    } else {
        let (body, coding) = encoding::code(rendered, gzip).await;
        state.metrics.record_page(coding.is_some(), body.len());
        let etag = encoding::etag(rendered, coding.is_some());
        ((StatusCode::OK, body).into_response(), etag, coding)
    };
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response_headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding, Authorization"),
    );
    if let Some(coding) = coding {
        response_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
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
    let _ = write!(escaped, "{}", Escaped(text));
    escaped
}

/// Text that formats HTML-escaped (`&`, `<`, `>`, `"`, `'`), written straight into the page
/// in runs between the characters it replaces.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        let mut start = 0;
        // The five are ASCII, which no byte of a multi-byte UTF-8 character is.
        for (at, byte) in text.bytes().enumerate() {
            let entity = match byte {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#x27;",
                _ => continue,
            };
            formatter.write_str(&text[start..at])?;
            formatter.write_str(entity)?;
            start = at + 1;
        }
        formatter.write_str(&text[start..])
    }
}

/// What a path segment keeps raw: letters, digits and `-._~!+` (filenames are mostly safe);
/// everything else, every character HTML escapes included, is percent-encoded.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'+');

/// Percent-encodes what cannot appear raw in a path segment.
pub(super) fn encode_path_segment(segment: &str) -> String {
    path_segment(segment).to_string()
}

/// [`encode_path_segment`], formatted where it is written.
fn path_segment(segment: &str) -> percent_encoding::PercentEncode<'_> {
    percent_encoding::utf8_percent_encode(segment, SEGMENT)
}

mod json;
#[cfg(test)]
mod tests;
mod upstream;

pub use json::{render_project_json, render_releases_json};
