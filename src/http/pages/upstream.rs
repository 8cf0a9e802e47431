//! Project pages of names served from a namespace's upstream index: the upstream's files with
//! their own absolute URLs, hashes, `requires-python`, yanked state, upload time and core
//! metadata passed through, plus a PEP 708 `tracks` pointing at the upstream project.

use std::fmt::Write as _;

use serde_json::json;

use super::{API_VERSION, escape, page_head};
use crate::packaging::{CoreMetadataRef, DistFilename, ProjectName, SimpleFile};
use crate::upstream::UpstreamProject;

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
    let mut body = page_head(&format!("Links for {}", escape(name.as_str())));
    let tracks = format!(
        "    <meta name=\"pypi:tracks\" content=\"{}\">\n",
        escape(&project.page_url)
    );
    body = body.replacen("  </head>\n", &format!("{tracks}  </head>\n"), 1);
    for file in &project.files {
        let mut href = file_url(file, proxied);
        if let Some((algorithm, digest)) = preferred_hash(file) {
            let _ = write!(href, "#{algorithm}={digest}");
        }
        let _ = write!(body, "    <a href=\"{}\"", escape(&href));
        if let Some(requires_python) = &file.requires_python {
            let _ = write!(
                body,
                " data-requires-python=\"{}\"",
                escape(requires_python)
            );
        }
        let metadata = match &file.core_metadata {
            CoreMetadataRef::Absent => None,
            CoreMetadataRef::Present => Some("true".to_owned()),
            CoreMetadataRef::Sha256(hash) => Some(format!("sha256={hash}")),
        };
        if let Some(metadata) = metadata {
            let value = escape(&metadata);
            let _ = write!(
                body,
                " data-core-metadata=\"{value}\" data-dist-info-metadata=\"{value}\""
            );
        }
        if let Some(reason) = &file.yanked {
            let _ = write!(body, " data-yanked=\"{}\"", escape(reason));
        }
        let _ = writeln!(body, ">{}</a><br>", escape(&file.filename));
    }
    body.push_str("  </body>\n</html>\n");
    body
}

/// The JSON page.
#[must_use]
pub fn render_json(
    name: &ProjectName,
    project: &UpstreamProject,
    proxied: bool,
) -> serde_json::Value {
    let mut versions: Vec<_> = project
        .files
        .iter()
        .filter_map(|f| DistFilename::parse(&f.filename).ok())
        .map(|f| f.version().clone())
        .collect();
    versions.sort();
    versions.dedup();
    let files: Vec<serde_json::Value> = project
        .files
        .iter()
        .map(|file| {
            let mut object = json!({
                "filename": file.filename,
                "url": file_url(file, proxied),
                "hashes": file.hashes,
                "requires-python": file.requires_python,
                "yanked": match file.yanked.as_deref() {
                    None => json!(false),
                    Some("") => json!(true),
                    Some(reason) => json!(reason),
                },
                "core-metadata": match &file.core_metadata {
                    CoreMetadataRef::Absent => json!(false),
                    CoreMetadataRef::Present => json!(true),
                    CoreMetadataRef::Sha256(hash) => json!({ "sha256": hash }),
                },
            });
            if let Some(map) = object.as_object_mut() {
                if let Some(size) = file.size {
                    map.insert("size".to_owned(), json!(size));
                }
                if let Some(time) = &file.upload_time {
                    map.insert("upload-time".to_owned(), json!(time));
                }
            }
            object
        })
        .collect();
    json!({
        "meta": { "api-version": API_VERSION, "tracks": [project.page_url] },
        "name": name.as_str(),
        "versions": versions.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "files": files,
    })
}

/// The hash for the URL fragment: sha256 when there is one.
fn preferred_hash(file: &SimpleFile) -> Option<(&str, &str)> {
    file.hashes
        .get_key_value("sha256")
        .or_else(|| file.hashes.iter().next())
        .map(|(k, v)| (k.as_str(), v.as_str()))
}
