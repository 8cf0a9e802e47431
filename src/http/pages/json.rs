//! The JSON page of a project (PEP 691, with PEP 700's `versions`, `size`, `upload-time` and
//! PEP 792's `project-status`), serialized straight from the page: no `serde_json::Value` is
//! built for each file. Keys come in sorted order, as a `Value` writes them.

use serde::Serialize;

use super::{API_VERSION, encode_path_segment, provenance_url};
use crate::index::ProjectPage;
use crate::packaging::StatusMarker;

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

/// `hashes`: the sha256 only.
#[derive(Serialize)]
struct Hashes<'a> {
    sha256: &'a str,
}

/// `core-metadata` (PEP 714): `false`, or the metadata file's hashes.
#[derive(Serialize)]
#[serde(untagged)]
enum CoreMetadata<'a> {
    Absent(bool),
    Present(Hashes<'a>),
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
                CoreMetadata::Absent(false),
                |sha256| {
                    CoreMetadata::Present(Hashes {
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
