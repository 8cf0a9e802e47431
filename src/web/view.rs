//! What the templates show, shaped from the index's records: URLs built for the browser,
//! dates and sizes made readable, links kept to http and https.

use crate::index::Release;
use crate::layout::StoredFile;
use crate::packaging::{ProjectStatus, Sha256, StatusMarker};

use super::{Place, Site};

/// Percent-encodes what cannot appear raw in a path segment.
pub fn encode_segment(segment: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'!')
        .remove(b'+')
        .remove(b':');
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

/// The URLs of one namespace, as the browser reaches them.
#[derive(Debug, Clone)]
pub struct Urls {
    /// The absolute path of the namespace, `/prefix/registry/namespace` (no trailing slash).
    base_path: String,
    /// The origin of the site.
    origin: String,
}

impl Urls {
    pub fn new(site: &Site, place: &Place) -> Self {
        let mut base_path = site.prefix.clone();
        base_path.push('/');
        base_path.push_str(&encode_segment(&place.registry));
        for segment in place.namespace.split('/') {
            base_path.push('/');
            base_path.push_str(&encode_segment(segment));
        }
        Self {
            base_path,
            origin: site.origin.clone(),
        }
    }

    /// The namespace's page (its project list): `.../+simple/`.
    pub fn namespace(&self) -> String {
        format!("{}/+simple/", self.base_path)
    }

    /// A project's page.
    pub fn project(&self, project: &str) -> String {
        format!("{}/{}/", self.base_path, encode_segment(project))
    }

    /// A file of a project.
    pub fn file(&self, project: &str, filename: &str) -> String {
        format!(
            "{}/{}/{}",
            self.base_path,
            encode_segment(project),
            encode_segment(filename)
        )
    }

    /// The index URL installers are given (`pip --index-url`): absolute, with a slash.
    pub fn index_url(&self) -> String {
        format!("{}{}/", self.origin, self.base_path)
    }
}

/// A date and time for people: `2026-12-05` shown, the full RFC 3339 value kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    /// The RFC 3339 value, for `<time datetime>`.
    pub machine: String,
    /// The date (`YYYY-MM-DD`).
    pub date: String,
}

impl When {
    pub fn new(rfc3339: &str) -> Self {
        Self {
            machine: rfc3339.to_owned(),
            date: rfc3339.chars().take(10).collect(),
        }
    }
}

/// The earliest upload time of a release's files.
pub fn released(release: &Release) -> Option<When> {
    release
        .files
        .iter()
        .filter_map(|file| file.uploaded.as_deref())
        .min()
        .map(When::new)
}

/// The latest upload time of any file of any of `releases`.
pub fn last_upload(releases: &[Release]) -> Option<When> {
    releases
        .iter()
        .flat_map(|release| release.files.iter())
        .filter_map(|file| file.uploaded.as_deref())
        .max()
        .map(When::new)
}

/// `Some(reason)` when every file of the release is yanked (the first reason given, else
/// empty).
pub fn yanked(release: &Release) -> Option<String> {
    if release.files.is_empty() || release.files.iter().any(|file| file.yanked.is_none()) {
        return None;
    }
    let reason = release
        .files
        .iter()
        .filter_map(|file| file.yanked.as_deref())
        .find(|reason| !reason.is_empty())
        .unwrap_or_default();
    Some(reason.to_owned())
}

/// A size in bytes for people: `812 B`, `12.3 KiB`, `4.0 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes;
    let mut unit = 0;
    // Tenths, in integers: 1 decimal without floating point.
    while value >= 1024 * 1024 && unit + 1 < UNITS.len() {
        value /= 1024;
        unit += 1;
    }
    let tenths = value * 10 / 1024;
    format!(
        "{}.{} {}",
        tenths / 10,
        tenths % 10,
        UNITS.get(unit).unwrap_or(&"B")
    )
}

/// A link a page may make clickable: only http and https URLs.
pub fn safe_link(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.to_string())
}

/// A project status other than active (PEP 792), for a banner: `(status, reason)`.
pub fn status_note(marker: &StatusMarker) -> Option<(String, String)> {
    (marker.status != ProjectStatus::Active)
        .then(|| (marker.status.as_str().to_owned(), marker.reason.clone()))
}

/// One file, as a table row shows it.
#[derive(Debug, Clone)]
pub struct FileRow {
    pub filename: String,
    pub href: String,
    pub size: Option<String>,
    pub bytes: Option<u64>,
    pub sha256: Sha256,
    pub uploaded: Option<When>,
    pub yanked: Option<String>,
    pub requires_python: Option<String>,
    /// Where it was promoted from, and when.
    pub promoted: Option<(String, Option<When>)>,
    /// Its provenance object (PEP 740), when it has verified attestations.
    pub provenance: Option<String>,
}

impl FileRow {
    pub fn new(urls: &Urls, project: &str, file: &StoredFile) -> Self {
        let href = urls.file(project, &file.filename);
        Self {
            filename: file.filename.clone(),
            provenance: file
                .provenance
                .as_ref()
                .map(|_| format!("{href}.provenance")),
            href,
            size: file.size.map(human_size),
            bytes: file.size,
            sha256: file.sha256.clone(),
            uploaded: file.uploaded.as_deref().map(When::new),
            yanked: file.yanked.clone(),
            requires_python: file.requires_python.clone(),
            promoted: file.promoted.as_ref().map(|promotion| {
                (
                    promotion.from.clone(),
                    promotion.at.as_deref().map(When::new),
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 << 20), "5.0 MiB");
        assert_eq!(human_size(3 << 40), "3.0 TiB");
        assert!(human_size(u64::MAX).ends_with(" TiB"));
    }

    #[test]
    fn only_web_links_are_clickable() {
        assert_eq!(
            safe_link(" https://example.org/x "),
            Some("https://example.org/x".to_owned())
        );
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "/relative",
            "file:///etc",
        ] {
            assert_eq!(safe_link(bad), None, "{bad}");
        }
    }

    #[test]
    fn urls_keep_the_prefix_and_encode_segments() {
        let site = Site {
            origin: "https://pkgs.example".to_owned(),
            prefix: "/pypi".to_owned(),
        };
        let place = Place {
            registry: "http://127.0.0.1:5000".to_owned(),
            namespace: "team/python".to_owned(),
        };
        let urls = Urls::new(&site, &place);
        assert_eq!(
            urls.namespace(),
            "/pypi/http:%2F%2F127.0.0.1:5000/team/python/+simple/"
        );
        assert_eq!(
            urls.index_url(),
            "https://pkgs.example/pypi/http:%2F%2F127.0.0.1:5000/team/python/"
        );
        assert_eq!(
            urls.file("demo", "demo-1.0.tar.gz"),
            "/pypi/http:%2F%2F127.0.0.1:5000/team/python/demo/demo-1.0.tar.gz"
        );
    }
}
