//! The web UI: the pages people browse (a namespace's projects, a project's releases, README,
//! files and install commands), server-rendered from askama templates checked at compile
//! time. It builds each page's view from the index and renders it; it knows no HTTP framework
//! (the `http` module decides when a browser gets these pages and sends the headers).
//!
//! What it promises: every value from the registry is escaped by the templates; a README is
//! rendered (Markdown with pulldown-cmark, reStructuredText with [`rst`]) and then sanitized
//! with ammonia (no script, no event handler, no `javascript:` URL survives), once per
//! distinct README while it stays in a bounded in-memory cache ([`readme_cache`]); the only
//! script is the constant copy-button script whose hash the Content-Security-Policy names
//! ([`CONTENT_SECURITY_POLICY`]).
//!
//! Specifications: core metadata's `Description-Content-Type`
//! (<https://packaging.python.org/en/latest/specifications/core-metadata/>), reStructuredText
//! (<https://docutils.sourceforge.io/docs/ref/rst/restructuredtext.html>), CSP level 3
//! (<https://www.w3.org/TR/CSP3/>).

mod assets;
mod namespace;
mod project;
mod readme;
mod readme_cache;
mod rst;
mod view;

use std::sync::LazyLock;

pub use namespace::{NamespaceQuery, namespace_page};
pub use project::project_page;
pub use readme::render_readme;

use crate::index::IndexError;

/// Why a page could not be made.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The index refused or failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A template failed to render.
    #[error("rendering a page failed")]
    Render(#[from] askama::Error),
}

/// Where the browser reaches this index: what the install commands and links are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// `scheme://host[:port]` as the browser sees it.
    pub origin: String,
    /// The path prefix in front of every route (a proxy's and `--subpath`), `""` or `/a/b`.
    pub prefix: String,
}

/// A namespace as it is written in URLs: the registry segment and the namespace path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The registry segment (a host, `local`, or an origin), decoded.
    pub registry: String,
    /// The namespace, segments joined by `/`, decoded.
    pub namespace: String,
}

/// The `Content-Security-Policy` of every UI page: nothing loads but images, and the only
/// style and script are the page's own constant ones, named by their hashes.
pub static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; style-src '{}'; script-src '{}'; img-src 'self' https: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        assets::hash_source(assets::STYLE),
        assets::hash_source(assets::SCRIPT),
    )
});
