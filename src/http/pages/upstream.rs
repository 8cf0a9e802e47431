//! Project pages of names served from a namespace's upstream index: the upstream's files with
//! their own absolute URLs, hashes, `requires-python`, yanked state, upload time, core
//! metadata and provenance (PEP 740) passed through, plus a PEP 708 `tracks` pointing at the upstream project. In
//! proxy mode only what the server can serve is offered ([`Listing::offers_file`],
//! [`Listing::offered_core_metadata`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::json::{CoreMetadata, Hashes, Yanked};
use super::{API_VERSION, escape, page_head, write_data_attributes};
use crate::index::Listing;
use crate::packaging::{CoreMetadataRef, DistFilename, ProjectName, SimpleFile};
use crate::upstream::UpstreamProject;

/// The files a page lists.
fn offered(project: &UpstreamProject, proxied: bool) -> impl Iterator<Item = &SimpleFile> {
    project
        .files
        .iter()
        .filter(move |file| Listing::offers_file(file, proxied))
}

/// Where a client gets a file: upstream, or through this server (proxied: relative to the page).
fn file_url(file: &SimpleFile, proxied: bool) -> String {
    if proxied {
        super::encode_path_segment(&file.filename)
    } else {
        file.url.clone()
    }
}

/// The HTML page.
#[must_use]
pub fn render_html(name: &ProjectName, project: &UpstreamProject, proxied: bool) -> String {
    let mut body = page_head(&format!("Links for {}", escape(name.as_str())), "");
    let tracks = format!(
        "    <meta name=\"pypi:tracks\" content=\"{}\">\n",
        escape(&project.page_url)
    );
    body = body.replacen("  </head>\n", &format!("{tracks}  </head>\n"), 1);
    for file in offered(project, proxied) {
        let mut href = file_url(file, proxied);
        if let Some((algorithm, digest)) = preferred_hash(file) {
            let _ = write!(href, "#{algorithm}={digest}");
        }
        let _ = write!(body, "    <a href=\"{}\"", escape(&href));
        let metadata = match Listing::offered_core_metadata(file, proxied) {
            CoreMetadataRef::Absent => None,
            CoreMetadataRef::Present => Some("true".to_owned()),
            CoreMetadataRef::Sha256(hash) => Some(format!("sha256={hash}")),
        };
        write_data_attributes(
            &mut body,
            file.requires_python.as_deref(),
            metadata.as_deref(),
            file.yanked.as_deref(),
            (file.size, file.upload_time.as_deref()),
        );
        if let Some(provenance) = &file.provenance {
            let _ = write!(body, " data-provenance=\"{}\"", escape(provenance));
        }
        let _ = writeln!(body, ">{}</a><br>", escape(&file.filename));
    }
    body.push_str("  </body>\n</html>\n");
    body
}

/// The JSON page, serialized straight from the upstream's files (no `serde_json::Value` per
/// file: a pull-through page may list thousands), keys sorted as a `Value` writes them.
#[must_use]
pub fn render_json(name: &ProjectName, project: &UpstreamProject, proxied: bool) -> String {
    let mut versions: Vec<_> = offered(project, proxied)
        .filter_map(|f| DistFilename::parse(&f.filename).ok())
        .map(|f| f.version().clone())
        .collect();
    versions.sort();
    versions.dedup();
    let files = offered(project, proxied)
        .map(|file| JsonFile {
            core_metadata: match Listing::offered_core_metadata(file, proxied) {
                CoreMetadataRef::Absent => CoreMetadata::Flag(false),
                CoreMetadataRef::Present => CoreMetadata::Flag(true),
                CoreMetadataRef::Sha256(hash) => CoreMetadata::Hashes(Hashes {
                    sha256: hash.as_str(),
                }),
            },
            filename: &file.filename,
            hashes: &file.hashes,
            provenance: file.provenance.as_deref(),
            requires_python: file.requires_python.as_deref(),
            size: file.size,
            upload_time: file.upload_time.as_deref(),
            url: file_url(file, proxied),
            yanked: Yanked::of(file.yanked.as_deref()),
        })
        .collect();
    let page = JsonPage {
        files,
        meta: JsonMeta {
            api_version: API_VERSION,
            tracks: [&project.page_url],
        },
        name: name.as_str(),
        versions: versions.iter().map(ToString::to_string).collect(),
    };
    // Plain structures of strings, numbers and booleans: serializing them cannot fail.
    serde_json::to_string(&page).unwrap_or_default()
}

/// The JSON page (PEP 691, with PEP 708's `tracks`).
#[derive(Serialize)]
struct JsonPage<'a> {
    files: Vec<JsonFile<'a>>,
    meta: JsonMeta<'a>,
    name: &'a str,
    versions: Vec<String>,
}

/// `meta`: the API version and the upstream project this one tracks (PEP 708).
#[derive(Serialize)]
struct JsonMeta<'a> {
    #[serde(rename = "api-version")]
    api_version: &'static str,
    tracks: [&'a str; 1],
}

/// One file; what upstream left out stays out.
#[derive(Serialize)]
struct JsonFile<'a> {
    #[serde(rename = "core-metadata")]
    core_metadata: CoreMetadata<'a>,
    filename: &'a str,
    hashes: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provenance: Option<&'a str>,
    #[serde(rename = "requires-python")]
    requires_python: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(rename = "upload-time", skip_serializing_if = "Option::is_none")]
    upload_time: Option<&'a str>,
    url: String,
    yanked: Yanked<'a>,
}

/// The hash for the URL fragment: sha256 when there is one.
fn preferred_hash(file: &SimpleFile) -> Option<(&str, &str)> {
    file.hashes
        .get_key_value("sha256")
        .or_else(|| file.hashes.iter().next())
        .map(|(k, v)| (k.as_str(), v.as_str()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::packaging::parse_json_page;

    const PAGE_URL: &str = "https://upstream.example/simple/demo/";
    /// Where upstream serves the wheel's provenance (PEP 740): passed through as is.
    const PROVENANCE: &str =
        "https://upstream.example/integrity/demo/1.0/demo-1.0-py3-none-any.whl/provenance";

    /// A PEP 691 page as PyPI serves it: a wheel with everything, an sdist yanked without a
    /// reason whose metadata is a bare `true`, and an old wheel with only an md5.
    fn fixture() -> UpstreamProject {
        let page = json!({
            "meta": { "api-version": "1.1" },
            "name": "demo",
            "files": [
                {
                    "filename": "demo-1.0-py3-none-any.whl",
                    "url": "https://files.example/demo-1.0-py3-none-any.whl",
                    "hashes": { "sha256": "aa".repeat(32) },
                    "requires-python": ">=3.8,<4",
                    "yanked": "broken <build>",
                    "upload-time": "2024-11-20T20:23:36.123456Z",
                    "size": 1234,
                    "core-metadata": { "sha256": "bb".repeat(32) },
                    "data-dist-info-metadata": { "sha256": "bb".repeat(32) },
                    "provenance": PROVENANCE,
                },
                {
                    "filename": "demo-1.0.tar.gz",
                    "url": "https://files.example/demo-1.0.tar.gz",
                    "hashes": { "sha256": "cc".repeat(32) },
                    "requires-python": null,
                    "yanked": true,
                    "upload-time": "2024-11-21T00:00:00Z",
                    "size": 99,
                    "core-metadata": true,
                },
                {
                    "filename": "demo-0.9-py3-none-any.whl",
                    "url": "https://files.example/demo-0.9-py3-none-any.whl",
                    "hashes": { "md5": "dd".repeat(16) },
                    "size": 5,
                    "core-metadata": false,
                },
            ],
        });
        let parsed = parse_json_page(page.to_string().as_bytes()).unwrap();
        UpstreamProject {
            page_url: PAGE_URL.to_owned(),
            files: parsed.files,
            renders: crate::renders::Renders::default(),
        }
    }

    fn name() -> ProjectName {
        ProjectName::parse("Demo").unwrap()
    }

    fn wheel_json(url: &str) -> serde_json::Value {
        json!({
            "filename": "demo-1.0-py3-none-any.whl",
            "url": url,
            "hashes": { "sha256": "aa".repeat(32) },
            "requires-python": ">=3.8,<4",
            "yanked": "broken <build>",
            "upload-time": "2024-11-20T20:23:36.123456Z",
            "size": 1234,
            "core-metadata": { "sha256": "bb".repeat(32) },
            "provenance": PROVENANCE,
        })
    }

    fn sdist_json(url: &str, core_metadata: bool) -> serde_json::Value {
        json!({
            "filename": "demo-1.0.tar.gz",
            "url": url,
            "hashes": { "sha256": "cc".repeat(32) },
            "requires-python": null,
            "yanked": true,
            "upload-time": "2024-11-21T00:00:00Z",
            "size": 99,
            "core-metadata": core_metadata,
        })
    }

    /// `rendered` is `expected`, byte for byte as a `Value` writes it (compact, keys sorted):
    /// as before the page was serialized without one.
    fn assert_json(rendered: &str, expected: &serde_json::Value) {
        let value: serde_json::Value = serde_json::from_str(rendered).unwrap();
        assert_eq!(&value, expected);
        assert_eq!(rendered, expected.to_string());
    }

    #[test]
    fn json_links_pass_everything_through() {
        let expected = json!({
            "meta": { "api-version": "1.4", "tracks": [PAGE_URL] },
            "name": "demo",
            "versions": ["0.9", "1.0"],
            "files": [
                wheel_json("https://files.example/demo-1.0-py3-none-any.whl"),
                sdist_json("https://files.example/demo-1.0.tar.gz", true),
                {
                    "filename": "demo-0.9-py3-none-any.whl",
                    "url": "https://files.example/demo-0.9-py3-none-any.whl",
                    "hashes": { "md5": "dd".repeat(16) },
                    "requires-python": null,
                    "yanked": false,
                    "size": 5,
                    "core-metadata": false,
                },
            ],
        });
        assert_json(&render_json(&name(), &fixture(), false), &expected);
    }

    /// Proxied: URLs are relative (this server), and only what the server can check against a
    /// sha256 is offered: no md5-only file, no hash-less core metadata.
    #[test]
    fn json_proxied_offers_only_what_is_served() {
        let expected = json!({
            "meta": { "api-version": "1.4", "tracks": [PAGE_URL] },
            "name": "demo",
            "versions": ["1.0"],
            "files": [
                wheel_json("demo-1.0-py3-none-any.whl"),
                sdist_json("demo-1.0.tar.gz", false),
            ],
        });
        assert_json(&render_json(&name(), &fixture(), true), &expected);
    }

    fn html(anchors: &[String]) -> String {
        let mut page = format!(
            "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.4\">\n    <title>Links for demo</title>\n    <meta name=\"pypi:tracks\" content=\"{PAGE_URL}\">\n  </head>\n  <body>\n    <h1>Links for demo</h1>\n"
        );
        for anchor in anchors {
            let _ = writeln!(page, "    {anchor}<br>");
        }
        page + "  </body>\n</html>\n"
    }

    fn wheel_html(base: &str) -> String {
        let (sha, meta) = ("aa".repeat(32), "bb".repeat(32));
        format!(
            r#"<a href="{base}demo-1.0-py3-none-any.whl#sha256={sha}" data-requires-python="&gt;=3.8,&lt;4" data-core-metadata="sha256={meta}" data-dist-info-metadata="sha256={meta}" data-yanked="broken &lt;build&gt;" data-size="1234" data-upload-time="2024-11-20T20:23:36.123456Z" data-provenance="{PROVENANCE}">demo-1.0-py3-none-any.whl</a>"#
        )
    }

    fn sdist_html(base: &str, core_metadata: &str) -> String {
        let sha = "cc".repeat(32);
        format!(
            r#"<a href="{base}demo-1.0.tar.gz#sha256={sha}"{core_metadata} data-yanked="" data-size="99" data-upload-time="2024-11-21T00:00:00Z">demo-1.0.tar.gz</a>"#
        )
    }

    #[test]
    fn html_links_pass_everything_through() {
        let base = "https://files.example/";
        let md5 = "dd".repeat(16);
        let expected = html(&[
            wheel_html(base),
            sdist_html(
                base,
                r#" data-core-metadata="true" data-dist-info-metadata="true""#,
            ),
            format!(
                r#"<a href="{base}demo-0.9-py3-none-any.whl#md5={md5}" data-size="5">demo-0.9-py3-none-any.whl</a>"#
            ),
        ]);
        assert_eq!(render_html(&name(), &fixture(), false), expected);
    }

    #[test]
    fn html_proxied_offers_only_what_is_served() {
        let expected = html(&[wheel_html(""), sdist_html("", "")]);
        assert_eq!(render_html(&name(), &fixture(), true), expected);
    }

    /// The page's JSON round-trips through the parser a client would use (ours).
    #[test]
    fn rendered_json_parses_back() {
        let fixture = fixture();
        let rendered = render_json(&name(), &fixture, false);
        let parsed = parse_json_page(rendered.as_bytes()).unwrap();
        assert_eq!(parsed.files, fixture.files);
    }
}
