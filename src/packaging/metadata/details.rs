//! Core metadata for people to read: every field a project page shows (summary, README,
//! dependencies, classifiers, project URLs, author, license), read leniently. Unlike
//! [`super::CoreMetadata`], which judges uploads, this never fails: bytes that are not UTF-8
//! are replaced, lines that are not headers are skipped, and a repeated single-use field keeps
//! its first value.
//!
//! Specification: <https://packaging.python.org/en/latest/specifications/core-metadata/>
//! (`Description` in the body from 2.1 on, folded with `|` before; `Project-URL`,
//! `Description-Content-Type`, `License-Expression`).

/// The fields of a METADATA or PKG-INFO file that a person reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseDetails {
    /// `Summary`.
    pub summary: Option<String>,
    /// `Requires-Python`.
    pub requires_python: Option<String>,
    /// Every `Requires-Dist`.
    pub requires_dist: Vec<String>,
    /// Every `Provides-Extra`.
    pub provides_extra: Vec<String>,
    /// Every `Classifier`.
    pub classifiers: Vec<String>,
    /// `(label, URL)` pairs: `Home-page`, `Download-URL` and every `Project-URL`.
    pub project_urls: Vec<(String, String)>,
    /// `Author`, else `Author-email`.
    pub author: Option<String>,
    /// `License-Expression`, else the first line of `License`.
    pub license: Option<String>,
    /// `Keywords`.
    pub keywords: Option<String>,
    /// The long description (the body, or the folded `Description` field).
    pub description: Option<String>,
    /// `Description-Content-Type`, e.g. `text/markdown; charset=UTF-8`.
    pub description_content_type: Option<String>,
}

impl ReleaseDetails {
    /// Reads what it can of a METADATA or PKG-INFO file; never fails.
    #[must_use]
    pub fn parse(bytes: &[u8]) -> Self {
        let text = String::from_utf8_lossy(bytes);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let (headers, body) = split_headers(text);
        let mut details = Self::default();
        let (mut author_email, mut license_text, mut folded_description) = (None, None, None);
        for (field, value) in headers {
            let single = |slot: &mut Option<String>| {
                if slot.is_none() && !value.trim().is_empty() {
                    *slot = Some(value.trim().to_owned());
                }
            };
            match field.to_ascii_lowercase().as_str() {
                "summary" => single(&mut details.summary),
                "requires-python" => single(&mut details.requires_python),
                "author" => single(&mut details.author),
                "author-email" => single(&mut author_email),
                "license-expression" => single(&mut details.license),
                "license" => single(&mut license_text),
                "keywords" => single(&mut details.keywords),
                "description-content-type" => single(&mut details.description_content_type),
                "description" if folded_description.is_none() => {
                    folded_description = Some(unfold_description(&value));
                }
                "requires-dist" => push_trimmed(&mut details.requires_dist, &value),
                "provides-extra" => push_trimmed(&mut details.provides_extra, &value),
                "classifier" => push_trimmed(&mut details.classifiers, &value),
                "home-page" => push_url(&mut details.project_urls, "Homepage", &value),
                "download-url" => push_url(&mut details.project_urls, "Download", &value),
                "project-url" => {
                    if let Some((label, url)) = value.split_once(',') {
                        push_url(&mut details.project_urls, label.trim(), url);
                    }
                }
                _ => {}
            }
        }
        details.author = details.author.or(author_email);
        details.license = details.license.or_else(|| {
            license_text.and_then(|text| text.lines().next().map(|line| line.trim().to_owned()))
        });
        let body = body.trim_matches(['\n', '\r']);
        details.description = if body.trim().is_empty() {
            folded_description.filter(|text| !text.trim().is_empty())
        } else {
            Some(body.to_owned())
        };
        details
    }
}

fn push_trimmed(list: &mut Vec<String>, value: &str) {
    let value = value.trim();
    if !value.is_empty() {
        list.push(value.to_owned());
    }
}

fn push_url(list: &mut Vec<(String, String)>, label: &str, url: &str) {
    let url = url.trim();
    if !url.is_empty() && !url.eq_ignore_ascii_case("UNKNOWN") {
        let label = if label.is_empty() { url } else { label };
        list.push((label.to_owned(), url.to_owned()));
    }
}

/// The header block as `(field, value)` pairs, continuation lines kept on their own line
/// (with their indentation), and the body after the first empty line.
fn split_headers(text: &str) -> (Vec<(&str, String)>, &str) {
    let mut headers: Vec<(&str, String)> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            return (headers, after);
        }
        rest = after;
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push('\n');
                value.push_str(line);
            }
            continue;
        }
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        if !field.is_empty() && field.bytes().all(|byte| byte.is_ascii_graphic()) {
            headers.push((field, value.trim_start().to_owned()));
        }
    }
    (headers, "")
}

/// A `Description` field folded the old way: continuation lines start with spaces and a `|`
/// (setuptools) or with spaces only.
fn unfold_description(value: &str) -> String {
    let mut lines = value.split('\n');
    let mut unfolded = lines.next().unwrap_or_default().trim().to_owned();
    for line in lines {
        let line = line.trim_start_matches([' ', '\t']);
        unfolded.push('\n');
        unfolded.push_str(line.strip_prefix('|').unwrap_or(line));
    }
    unfolded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_shown_field() {
        let text = "Metadata-Version: 2.4\nName: demo\nVersion: 1.0\nSummary: A demo\n\
            Requires-Python: >=3.9\nRequires-Dist: requests>=2\nRequires-Dist: rich; extra == \"ui\"\n\
            Provides-Extra: ui\nClassifier: License :: OSI Approved\nClassifier: Typing :: Typed\n\
            Home-page: https://example.org\nProject-URL: Source, https://example.org/src\n\
            Project-URL: broken\nAuthor-email: A <a@example.org>\nLicense-Expression: MIT\n\
            Description-Content-Type: text/markdown\n\n# Demo\n\nBody text.\n";
        let details = ReleaseDetails::parse(text.as_bytes());
        assert_eq!(details.summary.as_deref(), Some("A demo"));
        assert_eq!(details.requires_python.as_deref(), Some(">=3.9"));
        assert_eq!(details.requires_dist.len(), 2);
        assert_eq!(details.provides_extra, ["ui"]);
        assert_eq!(details.classifiers.len(), 2);
        assert_eq!(
            details.project_urls,
            [
                ("Homepage".to_owned(), "https://example.org".to_owned()),
                ("Source".to_owned(), "https://example.org/src".to_owned())
            ]
        );
        assert_eq!(details.author.as_deref(), Some("A <a@example.org>"));
        assert_eq!(details.license.as_deref(), Some("MIT"));
        assert_eq!(details.description.as_deref(), Some("# Demo\n\nBody text."));
        assert_eq!(
            details.description_content_type.as_deref(),
            Some("text/markdown")
        );
    }

    #[test]
    fn unfolds_an_old_description_field() {
        let text = "Metadata-Version: 1.1\nName: old\nVersion: 1\nDescription: Title\n        |\n        |  indented\n        | last\nLicense: BSD\n    second line\n";
        let details = ReleaseDetails::parse(text.as_bytes());
        assert_eq!(
            details.description.as_deref(),
            Some("Title\n\n  indented\n last")
        );
        assert_eq!(details.license.as_deref(), Some("BSD"));
    }

    #[test]
    fn hostile_input_reads_leniently() {
        let mut bytes =
            b"Summary: caf\xff\nnot a header\n\x00: x\nSummary: second\r\n\r\nbody \xfe".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 10));
        let details = ReleaseDetails::parse(&bytes);
        assert_eq!(details.summary.as_deref(), Some("caf\u{fffd}"));
        assert!(details.description.unwrap().starts_with("body \u{fffd}"));
        assert_eq!(ReleaseDetails::parse(b""), ReleaseDetails::default());
        assert_eq!(ReleaseDetails::parse(b"\n\n\n"), ReleaseDetails::default());
    }
}
