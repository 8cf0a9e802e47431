//! The namespace page: its projects with their latest version, summary and last upload, a
//! name filter (a plain GET form), and pages of [`PAGE_SIZE`] projects.

use askama::Template;
use futures_util::StreamExt as _;

use super::view::{Urls, When, last_upload, status_note};
use super::{Place, Site, WebError, assets};
use crate::index::{Caller, Index, IndexError, Location};
use crate::packaging::ProjectName;

/// Projects shown on one page.
pub const PAGE_SIZE: usize = 50;
/// The longest filter taken from the URL (characters).
const MAX_QUERY: usize = 200;

/// What the browser asked the namespace page for (`?q=` and `?page=`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceQuery {
    /// A part of the names to show (any spelling: compared normalized).
    pub filter: String,
    /// The page, from 1.
    pub page: usize,
}

impl NamespaceQuery {
    /// From the decoded `q` and `page` query parameters; bad values read as absent.
    #[must_use]
    pub fn new(filter: Option<&str>, page: Option<&str>) -> Self {
        Self {
            filter: filter
                .unwrap_or_default()
                .trim()
                .chars()
                .take(MAX_QUERY)
                .collect(),
            page: page
                .and_then(|page| page.trim().parse().ok())
                .filter(|page| *page >= 1)
                .unwrap_or(1),
        }
    }

    /// The filter in the form of normalized names (PEP 503): lowercase, runs of `-_.` as `-`.
    fn normalized(&self) -> String {
        let mut normalized = String::with_capacity(self.filter.len());
        for character in self.filter.chars().map(|c| c.to_ascii_lowercase()) {
            if matches!(character, '-' | '_' | '.') {
                if !normalized.ends_with('-') {
                    normalized.push('-');
                }
            } else {
                normalized.push(character);
            }
        }
        normalized
    }
}

/// One project in the list.
#[derive(Debug, Clone)]
struct ProjectRow {
    name: String,
    href: String,
    latest: Option<String>,
    summary: Option<String>,
    uploaded: Option<When>,
    status: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "web/namespace.html")]
struct NamespaceTemplate {
    style: &'static str,
    script: &'static str,
    namespace: String,
    registry: String,
    namespace_href: String,
    index_url: String,
    filter: String,
    projects: Vec<ProjectRow>,
    total: usize,
    matching: usize,
    first: usize,
    previous: Option<String>,
    next: Option<String>,
}

/// The namespace page, as HTML.
///
/// # Errors
/// What listing the namespace fails with (a registry that refuses the caller: 401 or 403).
pub async fn namespace_page(
    index: &Index,
    caller: &Caller,
    location: &Location,
    (place, site): (&Place, &Site),
    query: &NamespaceQuery,
) -> Result<String, WebError> {
    let urls = Urls::new(site, place);
    let projects = index.project_list(caller, location).await?;
    let total = projects.len();
    let wanted = query.normalized();
    let matching: Vec<ProjectName> = projects
        .into_iter()
        .filter(|name| name.as_str().contains(&wanted))
        .collect();
    let first = (query.page - 1).saturating_mul(PAGE_SIZE);
    let shown: Vec<ProjectName> = matching
        .iter()
        .skip(first)
        .take(PAGE_SIZE)
        .cloned()
        .collect();
    let concurrency = index.options().listing_concurrency.max(1);
    let rows: Vec<ProjectRow> = futures_util::stream::iter(shown)
        .map(|name| project_row(index, caller, location, &urls, name))
        .buffered(concurrency)
        .collect()
        .await;
    let page_link = |page: usize| {
        let filter =
            url::form_urlencoded::byte_serialize(query.filter.as_bytes()).collect::<String>();
        format!("{}?q={filter}&page={page}", urls.namespace())
    };
    let template = NamespaceTemplate {
        style: assets::STYLE,
        script: assets::SCRIPT,
        namespace: place.namespace.clone(),
        registry: place.registry.clone(),
        namespace_href: urls.namespace(),
        index_url: urls.index_url(),
        filter: query.filter.clone(),
        total,
        matching: matching.len(),
        first: first + 1,
        previous: (query.page > 1 && first <= matching.len()).then(|| page_link(query.page - 1)),
        next: (first + PAGE_SIZE < matching.len()).then(|| page_link(query.page + 1)),
        projects: rows,
    };
    Ok(template.render()?)
}

/// A project's row: what its page and its latest release's metadata say. A project the
/// caller cannot read, or that has no release, still shows its name.
async fn project_row(
    index: &Index,
    caller: &Caller,
    location: &Location,
    urls: &Urls,
    name: ProjectName,
) -> ProjectRow {
    let mut row = ProjectRow {
        href: urls.project(name.as_str()),
        name: name.to_string(),
        latest: None,
        summary: None,
        uploaded: None,
        status: None,
    };
    let page = match index.project_page(caller, location, &name).await {
        Ok(page) => page,
        Err(error) => {
            log_skipped(&name, &error);
            return row;
        }
    };
    row.uploaded = last_upload(&page.releases);
    row.status = status_note(&page.status);
    if page.status.status.hides_files() {
        return row;
    }
    let Some(latest) = page.latest() else {
        return row;
    };
    row.latest = Some(latest.version.to_string());
    let Some(file) = latest.files.iter().find(|f| f.core_metadata.is_some()) else {
        return row;
    };
    match index.release_details(caller, location, &name, file).await {
        Ok(details) => row.summary = details.and_then(|d| d.summary.clone()),
        Err(error) => log_skipped(&name, &error),
    }
    row
}

fn log_skipped(name: &ProjectName, error: &IndexError) {
    tracing::debug!(project.name = %name, "namespace page shows the project without details: {error}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_read_leniently() {
        let query = NamespaceQuery::new(Some("  Foo_Bar..baz "), Some("x"));
        assert_eq!(query.filter, "Foo_Bar..baz");
        assert_eq!(query.normalized(), "foo-bar-baz");
        assert_eq!(query.page, 1);
        assert_eq!(NamespaceQuery::new(None, Some("0")).page, 1);
        assert_eq!(NamespaceQuery::new(None, Some("3")).page, 3);
        let long = "a".repeat(1000);
        assert_eq!(
            NamespaceQuery::new(Some(&long), None).filter.len(),
            MAX_QUERY
        );
    }
}
