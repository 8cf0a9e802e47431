//! The project page: the latest release's README, requirements, classifiers and links; the
//! release history with dates and yanked releases marked with their reason; every file with
//! its size and sha256; install commands for pip, uv and poetry.

use std::sync::Arc;

use askama::Template;

use super::readme_cache::READMES;
use super::view::{FileRow, Urls, When, released, safe_link, status_note, yanked};
use super::{Place, Site, WebError, assets};
use crate::index::{Caller, Index, Location, ProjectPage, Release};
use crate::packaging::{ProjectName, ReleaseDetails};

/// One release in the history.
#[derive(Debug, Clone)]
struct ReleaseRow {
    version: String,
    released: Option<When>,
    yanked: Option<String>,
    prerelease: bool,
    latest: bool,
    files: Vec<FileRow>,
}

/// A project URL: clickable when it is an http or https URL.
#[derive(Debug, Clone)]
struct Link {
    label: String,
    text: String,
    href: Option<String>,
}

/// An install command with its label.
#[derive(Debug, Clone)]
struct Snippet {
    tool: &'static str,
    command: String,
}

#[derive(Template)]
#[template(path = "web/project.html")]
struct ProjectTemplate {
    style: &'static str,
    script: &'static str,
    name: String,
    namespace: String,
    registry: String,
    namespace_href: String,
    version: Option<String>,
    latest_yanked: Option<String>,
    status: Option<(String, String)>,
    quarantined: bool,
    summary: Option<String>,
    readme: Option<Arc<str>>,
    requires_python: Option<String>,
    dependencies: Vec<String>,
    extras: Vec<String>,
    classifiers: Vec<String>,
    links: Vec<Link>,
    author: Option<String>,
    license: Option<String>,
    snippets: Vec<Snippet>,
    releases: Vec<ReleaseRow>,
}

/// The project page, as HTML.
///
/// # Errors
/// [`crate::index::IndexError::ProjectNotFound`] when the namespace has no release of it;
/// what reading the registry fails with.
pub async fn project_page(
    index: &Index,
    caller: &Caller,
    location: &Location,
    (place, site): (&Place, &Site),
    project: &ProjectName,
) -> Result<String, WebError> {
    let page = index.project_page(caller, location, project).await?;
    let urls = Urls::new(site, place);
    let latest = page.latest();
    // A quarantined project offers nothing of its releases (PEP 792): not even its README.
    let file = latest
        .filter(|_| !page.status.status.hides_files())
        .and_then(|release| release.files.iter().find(|f| f.core_metadata.is_some()));
    let details = match file {
        Some(file) => {
            index
                .release_details(caller, location, project, file)
                .await?
        }
        None => None,
    };
    let details = details.unwrap_or_else(|| Arc::new(ReleaseDetails::default()));
    let template = view(&page, latest, &details, &urls, place);
    Ok(template.render()?)
}

fn view(
    page: &ProjectPage,
    latest: Option<&Release>,
    details: &ReleaseDetails,
    urls: &Urls,
    place: &Place,
) -> ProjectTemplate {
    let name = page.name.as_str();
    let quarantined = page.status.status.hides_files();
    let version = latest.map(|release| release.version.to_string());
    let requires_python = details
        .requires_python
        .clone()
        .or_else(|| latest.and_then(|r| r.files.iter().find_map(|f| f.requires_python.clone())));
    let links = details
        .project_urls
        .iter()
        .map(|(label, url)| Link {
            label: label.clone(),
            text: url.clone(),
            href: safe_link(url),
        })
        .collect();
    let releases = page
        .releases
        .iter()
        .rev()
        .map(|release| ReleaseRow {
            version: release.version.to_string(),
            released: released(release),
            yanked: yanked(release),
            prerelease: release.version.is_prerelease(),
            latest: latest.is_some_and(|l| l.version == release.version),
            files: release
                .files
                .iter()
                .filter(|_| !quarantined)
                .map(|file| FileRow::new(urls, name, file))
                .collect(),
        })
        .collect();
    ProjectTemplate {
        style: assets::STYLE,
        script: assets::SCRIPT,
        name: name.to_owned(),
        namespace: place.namespace.clone(),
        registry: place.registry.clone(),
        namespace_href: urls.namespace(),
        latest_yanked: latest.and_then(yanked),
        status: status_note(&page.status),
        quarantined,
        snippets: if quarantined {
            Vec::new()
        } else {
            snippets(name, version.as_deref(), &urls.index_url(), place)
        },
        version,
        summary: details.summary.clone(),
        readme: details
            .description
            .as_deref()
            .map(|text| READMES.render(text, details.description_content_type.as_deref())),
        requires_python,
        dependencies: details.requires_dist.clone(),
        extras: details.provides_extra.clone(),
        classifiers: details.classifiers.clone(),
        links,
        author: details.author.clone(),
        license: details.license.clone(),
        releases,
    }
}

/// `pip`, `uv` and `poetry` commands that install the project (its latest version) from
/// this index.
fn snippets(name: &str, version: Option<&str>, index_url: &str, place: &Place) -> Vec<Snippet> {
    let requirement = match version {
        Some(version) => format!("{name}=={version}"),
        None => name.to_owned(),
    };
    let source = source_name(&place.namespace);
    vec![
        Snippet {
            tool: "pip",
            command: format!("pip install --index-url {index_url} {requirement}"),
        },
        Snippet {
            tool: "uv",
            command: format!("uv pip install --index-url {index_url} {requirement}"),
        },
        Snippet {
            tool: "poetry",
            command: format!(
                "poetry source add --priority=explicit {source} {index_url}\npoetry add --source {source} {requirement}"
            ),
        },
    ]
}

/// A name for the index in tools' configuration (`[A-Za-z0-9._-]`): the namespace's last
/// segment.
fn source_name(namespace: &str) -> String {
    let last = namespace.rsplit('/').next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "private".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_name_the_index_and_pin_the_version() {
        let place = Place {
            registry: "ghcr.io".to_owned(),
            namespace: "org/Team Py".to_owned(),
        };
        let snippets = snippets(
            "demo",
            Some("1.2"),
            "https://x.example/ghcr.io/org/team/",
            &place,
        );
        let commands: Vec<&str> = snippets.iter().map(|s| s.command.as_str()).collect();
        assert_eq!(
            commands,
            [
                "pip install --index-url https://x.example/ghcr.io/org/team/ demo==1.2",
                "uv pip install --index-url https://x.example/ghcr.io/org/team/ demo==1.2",
                "poetry source add --priority=explicit Team-Py https://x.example/ghcr.io/org/team/\npoetry add --source Team-Py demo==1.2",
            ]
        );
    }
}
