//! Reading another index's simple-API project page, in either serialization: PEP 691 JSON or
//! PEP 503 HTML (which indexes such as pypiserver still only speak). Pure: URLs are returned
//! as written, for the caller to resolve against the page's URL.
//!
//! Specification: <https://packaging.python.org/en/latest/specifications/simple-repository-api/>.

use std::collections::BTreeMap;

use super::error::PackagingError;
use super::sha256::Sha256;

/// The largest page accepted.
pub const MAX_PAGE_SIZE: usize = 32 << 20;

/// A project page of another index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimplePage {
    /// Its files.
    pub files: Vec<SimpleFile>,
}

/// Whether and how a file's core metadata is available (PEP 658/714).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CoreMetadataRef {
    /// Not advertised.
    #[default]
    Absent,
    /// Advertised without a hash.
    Present,
    /// Advertised with its sha256.
    Sha256(Sha256),
}

/// One file of a project page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimpleFile {
    /// The filename.
    pub filename: String,
    /// Its URL as written (relative or absolute), without the hash fragment.
    pub url: String,
    /// Hashes by lowercase algorithm name, lowercase, as given (see [`SimpleFile::sha256`]).
    pub hashes: BTreeMap<String, String>,
    /// `Requires-Python`.
    pub requires_python: Option<String>,
    /// `Some(reason)` when yanked (the reason may be empty).
    pub yanked: Option<String>,
    /// Core metadata availability.
    pub core_metadata: CoreMetadataRef,
    /// Size in bytes (PEP 700).
    pub size: Option<u64>,
    /// Upload time (PEP 700).
    pub upload_time: Option<String>,
    /// Where its provenance is served (PEP 740), as written.
    pub provenance: Option<String>,
}

impl SimpleFile {
    /// Its sha256, when the page gives one that is 64 hex digits.
    #[must_use]
    pub fn sha256(&self) -> Option<Sha256> {
        self.hashes
            .get("sha256")
            .and_then(|hex| Sha256::parse(hex).ok())
    }
}

/// Core metadata advertised with `hash` as its sha256: without a usable hash when it is not
/// 64 hex digits.
fn core_metadata_hashed(hash: &str) -> CoreMetadataRef {
    Sha256::parse(hash).map_or(CoreMetadataRef::Present, CoreMetadataRef::Sha256)
}

fn invalid(reason: &'static str) -> PackagingError {
    PackagingError::InvalidPage(reason)
}

/// Parses a PEP 691 JSON project page.
///
/// # Errors
/// [`PackagingError`] when it is not a JSON object with a `files` array.
pub fn parse_json_page(bytes: &[u8]) -> Result<SimplePage, PackagingError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| invalid("is not JSON"))?;
    let files = value
        .get("files")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| invalid("has no `files` array"))?;
    let files = files.iter().filter_map(json_file).collect();
    Ok(SimplePage { files })
}

fn json_file(file: &serde_json::Value) -> Option<SimpleFile> {
    let text = |key: &str| {
        file.get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let hashes = file
        .get("hashes")
        .and_then(serde_json::Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| {
                    Some((k.to_ascii_lowercase(), v.as_str()?.to_ascii_lowercase()))
                })
                .collect()
        })
        .unwrap_or_default();
    let yanked = match file.get("yanked") {
        Some(serde_json::Value::Bool(true)) => Some(String::new()),
        Some(serde_json::Value::String(reason)) => Some(reason.clone()),
        _ => None,
    };
    let metadata = file
        .get("core-metadata")
        .or_else(|| file.get("data-dist-info-metadata"))
        .or_else(|| file.get("dist-info-metadata"));
    let core_metadata = match metadata {
        Some(serde_json::Value::Bool(true)) => CoreMetadataRef::Present,
        Some(serde_json::Value::Object(map)) => match map.get("sha256").and_then(|v| v.as_str()) {
            Some(hash) => core_metadata_hashed(hash),
            None => CoreMetadataRef::Present,
        },
        _ => CoreMetadataRef::Absent,
    };
    Some(SimpleFile {
        filename: text("filename")?,
        url: text("url")?,
        hashes,
        requires_python: text("requires-python").filter(|r| !r.is_empty()),
        yanked,
        core_metadata,
        size: file.get("size").and_then(serde_json::Value::as_u64),
        upload_time: text("upload-time"),
        provenance: text("provenance"),
    })
}

/// Parses a PEP 503 HTML project page: every `<a>` with an `href`.
///
/// # Errors
/// [`PackagingError`] when the page is not UTF-8.
pub fn parse_html_page(bytes: &[u8]) -> Result<SimplePage, PackagingError> {
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("is not UTF-8"))?;
    let mut files = Vec::new();
    let mut rest = text;
    while let Some(start) = find_ignore_case(rest, "<a") {
        let after = rest.get(start + 2..).unwrap_or_default();
        if !after.starts_with(|c: char| c.is_whitespace() || c == '>') {
            rest = after;
            continue;
        }
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let attributes = parse_attributes(after.get(..tag_end).unwrap_or_default());
        let body = after.get(tag_end + 1..).unwrap_or_default();
        let close = find_ignore_case(body, "</a").unwrap_or(body.len());
        let label = unescape(body.get(..close).unwrap_or_default().trim());
        rest = body.get(close..).unwrap_or_default();
        if let Some(file) = html_file(&attributes, &label) {
            files.push(file);
        }
    }
    Ok(SimplePage { files })
}

fn html_file(attributes: &BTreeMap<String, Option<String>>, label: &str) -> Option<SimpleFile> {
    let href = attributes.get("href")?.clone()?;
    let (url, fragment) = href.split_once('#').unwrap_or((href.as_str(), ""));
    let mut hashes = BTreeMap::new();
    if let Some((algorithm, digest)) = fragment.split_once('=') {
        hashes.insert(algorithm.to_ascii_lowercase(), digest.to_ascii_lowercase());
    }
    let filename = if label.is_empty() {
        url.rsplit('/').next().unwrap_or_default().to_owned()
    } else {
        label.to_owned()
    };
    let metadata = attributes
        .get("data-core-metadata")
        .or_else(|| attributes.get("data-dist-info-metadata"));
    let core_metadata = match metadata {
        None => CoreMetadataRef::Absent,
        Some(value) => match value.as_deref().and_then(|v| v.split_once('=')) {
            Some(("sha256", hash)) => core_metadata_hashed(hash),
            _ if value.as_deref() == Some("false") => CoreMetadataRef::Absent,
            _ => CoreMetadataRef::Present,
        },
    };
    let value = |key: &str| attributes.get(key).cloned().flatten();
    Some(SimpleFile {
        filename,
        url: url.to_owned(),
        hashes,
        requires_python: value("data-requires-python").filter(|r| !r.is_empty()),
        yanked: attributes
            .get("data-yanked")
            .map(|v| v.clone().unwrap_or_default()),
        core_metadata,
        size: value("data-size").and_then(|s| s.parse().ok()),
        upload_time: value("data-upload-time"),
        provenance: value("data-provenance"),
    })
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// `name="value" name='value' name=value name` → map (names lowercased, values unescaped).
fn parse_attributes(tag: &str) -> BTreeMap<String, Option<String>> {
    let mut attributes = BTreeMap::new();
    let mut chars = tag.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == '/').is_some() {}
        let name: String =
            std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace() && *c != '=')).collect();
        if name.is_empty() {
            break;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            attributes.insert(name.to_ascii_lowercase(), None);
            continue;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let value: String = match chars.next_if(|c| *c == '"' || *c == '\'') {
            Some(quote) => {
                let value = std::iter::from_fn(|| chars.next_if(|c| *c != quote)).collect();
                chars.next();
                value
            }
            None => std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())).collect(),
        };
        attributes.insert(name.to_ascii_lowercase(), Some(unescape(&value)));
    }
    attributes
}

/// Decodes the character references that appear in simple pages.
fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(position) = rest.find('&') {
        out.push_str(rest.get(..position).unwrap_or_default());
        let tail = rest.get(position..).unwrap_or_default();
        let end = tail.find(';').filter(|end| *end <= 10);
        let decoded = end.and_then(|end| decode_entity(tail.get(1..end)?));
        if let (Some(c), Some(end)) = (decoded, end) {
            out.push(c);
            rest = tail.get(end + 1..).unwrap_or_default();
        } else {
            out.push('&');
            rest = tail.get(1..).unwrap_or_default();
        }
    }
    out.push_str(rest);
    out
}

fn decode_entity(entity: &str) -> Option<char> {
    match entity {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = entity.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pep_503_html() {
        let html = br#"<!DOCTYPE html><html><body>
<a href="/packages/pub-1.0-py3-none-any.whl#sha256=ABCD" data-requires-python="&gt;=3.8" data-core-metadata="sha256=EF01EF01EF01EF01EF01EF01EF01EF01EF01EF01EF01EF01EF01EF01EF01EF01">pub-1.0-py3-none-any.whl</a><br>
<A HREF='pub-0.9.tar.gz#md5=12' data-yanked>pub-0.9.tar.gz</A>
<a href="../x/pub-0.8.tar.gz" data-yanked="bad &amp; broken" data-dist-info-metadata="true"></a>
<a href="pub-0.7.tar.gz" data-core-metadata="sha256=ef01">pub-0.7.tar.gz</a>
<abbr>not a link</abbr>
</body></html>"#;
        let page = parse_html_page(html).unwrap();
        assert_eq!(page.files.len(), 4);
        let first = &page.files[0];
        assert_eq!(first.filename, "pub-1.0-py3-none-any.whl");
        assert_eq!(first.url, "/packages/pub-1.0-py3-none-any.whl");
        assert_eq!(first.hashes["sha256"], "abcd");
        // Not a sha256: the page lists the file, without one.
        assert_eq!(first.sha256(), None);
        assert_eq!(first.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(
            first.core_metadata,
            CoreMetadataRef::Sha256(Sha256::parse(&"ef01".repeat(16)).unwrap())
        );
        assert_eq!(first.yanked, None);
        assert_eq!(page.files[1].yanked.as_deref(), Some(""));
        assert_eq!(page.files[1].hashes["md5"], "12");
        assert_eq!(page.files[2].filename, "pub-0.8.tar.gz");
        assert_eq!(page.files[2].yanked.as_deref(), Some("bad & broken"));
        assert_eq!(page.files[2].core_metadata, CoreMetadataRef::Present);
        // Advertised with a hash that is not a sha256: as good as advertised without one.
        assert_eq!(page.files[3].core_metadata, CoreMetadataRef::Present);
    }

    #[test]
    fn reads_pep_691_json() {
        let json = br#"{"meta":{"api-version":"1.1"},"name":"pub","versions":["1.0"],"files":[
            {"filename":"pub-1.0.tar.gz","url":"https://files.example/pub-1.0.tar.gz","hashes":{"sha256":"ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB"},
             "requires-python":">=3.9","yanked":"oops","core-metadata":{"sha256":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"},"size":10,"upload-time":"2024-01-01T00:00:00Z"},
            {"filename":"pub-0.9.tar.gz","url":"pub-0.9.tar.gz","hashes":{},"yanked":false,"data-dist-info-metadata":true},
            {"url":"no-filename"}]}"#;
        let page = parse_json_page(json).unwrap();
        assert_eq!(page.files.len(), 2);
        assert_eq!(page.files[0].hashes["sha256"], "ab".repeat(32));
        assert_eq!(
            page.files[0].sha256(),
            Some(Sha256::parse(&"ab".repeat(32)).unwrap())
        );
        assert_eq!(page.files[0].yanked.as_deref(), Some("oops"));
        assert_eq!(page.files[0].size, Some(10));
        assert_eq!(
            page.files[0].core_metadata,
            CoreMetadataRef::Sha256(Sha256::parse(&"cd".repeat(32)).unwrap())
        );
        assert_eq!(page.files[1].core_metadata, CoreMetadataRef::Present);
        assert_eq!(page.files[1].yanked, None);
        assert!(parse_json_page(b"[]").is_err());
        assert!(parse_json_page(b"not json").is_err());
    }

    #[test]
    fn unescapes_entities() {
        assert_eq!(
            unescape("a &lt;b&gt; &amp;&#x27;&#39;&quot; & &bogus;"),
            "a <b> &''\" & &bogus;"
        );
    }

    #[test]
    fn provenance_urls_are_read_in_both_forms() {
        let html = br#"<a href="a-1.0.tar.gz#sha256=00" data-provenance="../integrity/a-1.0.tar.gz">a-1.0.tar.gz</a>"#;
        let page = parse_html_page(html).unwrap();
        assert_eq!(
            page.files[0].provenance.as_deref(),
            Some("../integrity/a-1.0.tar.gz")
        );
        let json = br#"{"files":[{"filename":"a-1.0.tar.gz","url":"a","hashes":{},"provenance":"https://x/p"},{"filename":"b-1.0.tar.gz","url":"b","hashes":{},"provenance":null}]}"#;
        let page = parse_json_page(json).unwrap();
        assert_eq!(page.files[0].provenance.as_deref(), Some("https://x/p"));
        assert_eq!(page.files[1].provenance, None);
    }
}
