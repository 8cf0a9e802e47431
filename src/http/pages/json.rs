//! The JSON page of a project (PEP 691, with PEP 700's `versions`, `size`, `upload-time` and
//! PEP 792's `project-status`), and the releases JSON in the shape of PyPI's JSON API,
//! serialized straight from the page: no `serde_json::Value` is built for each file. Keys come
//! in sorted order, as a `Value` writes them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{API_VERSION, encode_path_segment, provenance_url};
use crate::index::{ProjectPage, Release};
use crate::layout::StoredFile;
use crate::packaging::{DistFilename, StatusMarker};

/// The page.
#[derive(Serialize)]
struct Page<'a> {
    files: Vec<File<'a>>,
    meta: Meta,
    name: &'a str,
    #[serde(rename = "project-status")]
    project_status: Status<'a>,
    versions: Vec<String>,
}

/// `meta` (PEP 629).
#[derive(Serialize)]
struct Meta {
    #[serde(rename = "api-version")]
    api_version: &'static str,
}

/// PEP 792's `project-status` object: `status`, and `reason` when there is one.
#[derive(Serialize)]
struct Status<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    status: &'a str,
}

impl<'a> Status<'a> {
    fn of(marker: &'a StatusMarker) -> Self {
        Self {
            reason: Some(marker.reason.as_str()).filter(|reason| !reason.is_empty()),
            status: marker.status.as_str(),
        }
    }
}

/// One file.
#[derive(Serialize)]
struct File<'a> {
    #[serde(rename = "core-metadata")]
    core_metadata: CoreMetadata<'a>,
    filename: &'a str,
    hashes: Hashes<'a>,
    provenance: Option<String>,
    #[serde(rename = "requires-python")]
    requires_python: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(rename = "upload-time")]
    upload_time: Option<&'a str>,
    url: String,
    yanked: Yanked<'a>,
}

/// `hashes` (and the core metadata's): the sha256 only.
#[derive(Serialize)]
pub(super) struct Hashes<'a> {
    pub(super) sha256: &'a str,
}

/// `core-metadata` (PEP 714): `false`, `true` (advertised without a hash, as an upstream may
/// give it), or the metadata file's hashes.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum CoreMetadata<'a> {
    Flag(bool),
    Hashes(Hashes<'a>),
}

/// `yanked` (PEP 592, 691): `false`, `true`, or the reason (never an empty string).
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum Yanked<'a> {
    Flag(bool),
    Reason(&'a str),
}

impl<'a> Yanked<'a> {
    pub(super) fn of(yanked: Option<&'a str>) -> Self {
        match yanked {
            None => Self::Flag(false),
            Some("") => Self::Flag(true),
            Some(reason) => Self::Reason(reason),
        }
    }
}

/// The JSON page of a project.
#[must_use]
pub fn render_project_json(page: &ProjectPage) -> String {
    let files = page
        .files()
        .map(|file| File {
            core_metadata: file.core_metadata.as_ref().map_or(
                CoreMetadata::Flag(false),
                |sha256| {
                    CoreMetadata::Hashes(Hashes {
                        sha256: sha256.as_str(),
                    })
                },
            ),
            filename: &file.filename,
            hashes: Hashes {
                sha256: file.sha256.as_str(),
            },
            provenance: file
                .provenance
                .as_ref()
                .map(|_| provenance_url(&file.filename)),
            requires_python: file.requires_python.as_deref(),
            size: file.size,
            upload_time: file.uploaded.as_deref(),
            url: encode_path_segment(&file.filename),
            yanked: Yanked::of(file.yanked.as_deref()),
        })
        .collect();
    let page = Page {
        files,
        meta: Meta {
            api_version: API_VERSION,
        },
        name: page.name.as_str(),
        project_status: Status::of(&page.status),
        versions: page
            .releases
            .iter()
            .map(|r| r.version.to_string())
            .collect(),
    };
    // Plain structures of strings, numbers and booleans: serializing them cannot fail.
    serde_json::to_string(&page).unwrap_or_default()
}

/// The releases JSON, in the shape of PyPI's JSON API (what Renovate's pypi datasource
/// reads). File URLs are `base` followed by the file's name. Rendered at every request (its
/// URLs depend on the request's path), so it too is serialized straight from the page, keys
/// sorted as a `Value` writes them.
#[must_use]
pub fn render_releases_json(page: &ProjectPage, base: &str) -> String {
    // A quarantined project offers no files (PEP 792), here either.
    let hidden = page.status.status.hides_files();
    let releases: BTreeMap<String, Vec<ReleaseFile<'_>>> = page
        .releases
        .iter()
        .map(|release| (release.version.to_string(), files_of(release, base, hidden)))
        .collect();
    let latest = page.latest();
    let latest_file = latest.and_then(|r| r.files.first());
    let project_urls = latest_file
        .map(|f| f.project_urls.read())
        .unwrap_or_default();
    let releases_page = ReleasesPage {
        info: Info {
            name: page.name.as_str(),
            project_urls: &project_urls,
            requires_python: latest_file.and_then(|f| f.requires_python.as_deref()),
            version: latest.map(|r| r.version.to_string()),
            yanked: latest.is_some_and(|r| r.files.iter().all(|f| f.yanked.is_some())),
        },
        releases,
        urls: latest.map_or_else(Vec::new, |release| files_of(release, base, hidden)),
        vulnerabilities: [],
    };
    // Plain structures of strings, numbers and booleans: serializing them cannot fail.
    serde_json::to_string(&releases_page).unwrap_or_default()
}

/// The files of `release` in the releases JSON; none when `hidden`.
fn files_of<'a>(release: &'a Release, base: &str, hidden: bool) -> Vec<ReleaseFile<'a>> {
    if hidden {
        return Vec::new();
    }
    release
        .files
        .iter()
        .map(|file| ReleaseFile::of(file, base))
        .collect()
}

/// The releases JSON.
#[derive(Serialize)]
struct ReleasesPage<'a> {
    info: Info<'a>,
    releases: BTreeMap<String, Vec<ReleaseFile<'a>>>,
    urls: Vec<ReleaseFile<'a>>,
    vulnerabilities: [(); 0],
}

/// `info`: the latest release's version and what its first file records.
#[derive(Serialize)]
struct Info<'a> {
    name: &'a str,
    project_urls: &'a BTreeMap<String, String>,
    requires_python: Option<&'a str>,
    version: Option<String>,
    yanked: bool,
}

/// One file, as PyPI's JSON API describes it.
#[derive(Serialize)]
struct ReleaseFile<'a> {
    digests: Hashes<'a>,
    filename: &'a str,
    packagetype: &'static str,
    python_version: Option<String>,
    requires_python: Option<&'a str>,
    size: Option<u64>,
    upload_time: Option<&'a str>,
    upload_time_iso_8601: Option<&'a str>,
    url: String,
    yanked: bool,
    yanked_reason: Option<&'a str>,
}

impl<'a> ReleaseFile<'a> {
    fn of(file: &'a StoredFile, base: &str) -> Self {
        let parsed = DistFilename::parse(&file.filename).ok();
        Self {
            digests: Hashes {
                sha256: file.sha256.as_str(),
            },
            filename: &file.filename,
            packagetype: parsed.as_ref().map_or("sdist", DistFilename::packagetype),
            python_version: parsed.as_ref().map(|f| f.python_version().to_owned()),
            requires_python: file.requires_python.as_deref(),
            size: file.size,
            upload_time: file.uploaded.as_deref().map(|t| t.trim_end_matches('Z')),
            upload_time_iso_8601: file.uploaded.as_deref(),
            url: format!("{base}{}", super::path_segment(&file.filename)),
            yanked: file.yanked.is_some(),
            yanked_reason: file.yanked.as_deref().filter(|r| !r.is_empty()),
        }
    }
}
