//! Falling back to an upstream index for names a namespace does not have. A project that
//! exists in the namespace is served only from it (upstream is never consulted or merged for
//! that name): that is what keeps dependency confusion out.
//!
//! Pages never advertise what cannot be served (PEP 658: a `.metadata` that 404s breaks pip).
//! In proxy mode every file and `.metadata` is checked against its upstream sha256 on the way
//! through, so only what comes with one is offered: a file without a sha256 (or with a hash
//! that is not 64 hex digits) is not listed, and core metadata given as a bare `true` is not
//! advertised (clients then read the wheel).

use std::sync::Arc;

use futures_util::StreamExt as _;

use super::download::{FileDownload, FileRequest, METADATA_CONTENT_TYPE, content_type, verified};
use super::{Caller, Index, IndexError, Location, ProjectPage, Target};
use crate::layout::Namespace;
use crate::packaging::{CoreMetadataRef, ProjectName, SimpleFile};
use crate::storage::{ByteStream, StorageError};
use crate::upstream::{NameFilter, PageLookup, UpstreamIndex, UpstreamProject};

/// A namespace's upstream index.
#[derive(Debug, Clone)]
pub struct UpstreamRoute {
    /// Where the namespace lives.
    pub target: Target,
    /// The namespace.
    pub namespace: Namespace,
    /// Its upstream.
    pub index: Arc<UpstreamIndex>,
    /// Where its upstream files are kept, when the cache is on for it (the namespace's
    /// [`cache_namespace`]).
    pub cache: Option<Namespace>,
}

/// The namespace a namespace's pull-through cache lives in: `<namespace>/oci-pypi.cache`. No
/// project repository can be named so (project repositories never contain `.` or `-`), so its
/// repositories `<namespace>/oci-pypi.cache/<project>` are never taken for published projects.
///
/// # Errors
/// [`crate::layout::LayoutError::InvalidNamespace`] when the namespace already has 16 segments.
pub fn cache_namespace(namespace: &Namespace) -> Result<Namespace, crate::layout::LayoutError> {
    Namespace::parse(&format!("{namespace}/{CACHE_SEGMENT}"))
}

/// The last segment of a pull-through cache's namespace.
pub const CACHE_SEGMENT: &str = "oci-pypi.cache";

/// The upstreams of a server and which names they may serve.
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    /// One per namespace.
    pub routes: Vec<UpstreamRoute>,
    /// Names that may come from upstream.
    pub names: NameFilter,
    /// Serve upstream files through this server (their URLs in pages are ours) instead of
    /// linking to upstream.
    pub proxy_files: bool,
    /// The credentials the pull-through cache writes with; `None`: each caller's own.
    pub cache_credentials: Option<(String, crate::net::Secret)>,
    /// The most bytes of files each namespace's pull-through cache holds; 0: no limit.
    pub cache_max_size: u64,
}

/// What a project page shows: the namespace's own releases, or an upstream's page.
#[derive(Debug, Clone)]
pub enum Listing {
    /// The project lives in the namespace.
    Local(Arc<ProjectPage>),
    /// The project comes from the namespace's upstream index.
    Upstream {
        /// Its upstream page.
        page: Arc<UpstreamProject>,
        /// Whether its files are served through this server.
        proxied: bool,
        /// Upstream failed: this is the page it gave last (pull-through cache).
        stale: bool,
    },
    /// Upstream failed and its page was never fetched by this process: what the namespace's
    /// pull-through cache holds of the project (stale).
    Cached(Arc<ProjectPage>),
}

/// Core metadata that is not advertised.
static NOT_OFFERED: CoreMetadataRef = CoreMetadataRef::Absent;

impl Listing {
    /// Whether an upstream page lists `file`: always when linking upstream; in proxy mode only
    /// when upstream gives its sha256, which every proxied download is checked against.
    #[must_use]
    pub fn offers_file(file: &SimpleFile, proxied: bool) -> bool {
        !proxied || file.sha256().is_some()
    }

    /// The core metadata advertised for an upstream `file`: upstream's own when linking (the
    /// client fetches it there); in proxy mode only with its sha256, since a `.metadata`
    /// without one cannot be checked and is not served.
    #[must_use]
    pub fn offered_core_metadata(file: &SimpleFile, proxied: bool) -> &CoreMetadataRef {
        match &file.core_metadata {
            CoreMetadataRef::Present if proxied => &NOT_OFFERED,
            advertised => advertised,
        }
    }
}

impl Index {
    /// The project page of `project`: from the namespace when it has the project, otherwise
    /// from its upstream index when one is configured and allows the name.
    ///
    /// # Errors
    /// As [`Index::project_page`]; [`IndexError::Upstream`] when the upstream index fails.
    pub async fn listing(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
    ) -> Result<Listing, IndexError> {
        let local = self.project_page(caller, location, project).await;
        let Err(IndexError::ProjectNotFound { .. }) = &local else {
            return local.map(Listing::Local);
        };
        let Some(route) = self.upstream_route(location, project) else {
            return local.map(Listing::Local);
        };
        let proxied = self.options.upstreams.proxy_files || route.cache.is_some();
        let lookup = match &route.cache {
            Some(_) => route.index.project_or_stale(project).await,
            None => route.index.project(project).await.map(PageLookup::Fresh),
        };
        match (lookup, &route.cache) {
            (Ok(PageLookup::Fresh(Some(page))), _) => Ok(Listing::Upstream {
                page,
                proxied,
                stale: false,
            }),
            (Ok(PageLookup::Fresh(None)), _) => local.map(Listing::Local),
            (Ok(PageLookup::Stale(page, error)), _) => {
                tracing::warn!(
                    project.name = %project,
                    "serving the last page of `{project}` fetched from upstream: {error}"
                );
                self.metrics.record_upstream_cache("stale_page");
                Ok(Listing::Upstream {
                    page,
                    proxied,
                    stale: true,
                })
            }
            (Err(error), Some(cache)) => {
                self.cached_listing(caller, route, cache, project, error)
                    .await
            }
            (Err(error), None) => Err(error.into()),
        }
    }

    /// The upstream that may serve `project` in `location`.
    pub(super) fn upstream_route(
        &self,
        location: &Location,
        project: &ProjectName,
    ) -> Option<&UpstreamRoute> {
        let upstreams = &self.options.upstreams;
        upstreams
            .routes
            .iter()
            .find(|r| r.target == location.target && r.namespace == location.namespace)
            .filter(|_| upstreams.names.allows(project))
    }

    /// A file (or its `.metadata`) of an upstream project, fetched through this server: only
    /// in proxy mode, and only when the namespace does not have the project itself.
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] when upstream does not list it or the page does not offer it
    /// ([`Listing::offers_file`], [`Listing::offered_core_metadata`]); upstream and storage
    /// errors.
    pub async fn open_upstream_file(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
        filename: &str,
        (metadata, request): (bool, FileRequest<'_>),
    ) -> Result<Option<FileDownload>, IndexError> {
        let route = self.upstream_route(location, project);
        let proxy_files = self.options.upstreams.proxy_files;
        let Some(route) = route.filter(|route| proxy_files || route.cache.is_some()) else {
            return Ok(None);
        };
        match self.project_page(caller, location, project).await {
            Err(IndexError::ProjectNotFound { .. }) => {}
            Ok(_) => return Ok(None),
            Err(error) => return Err(error),
        }
        if let Some(cache) = &route.cache {
            let wanted = (metadata, request);
            let opened = self.open_cached(caller, route, cache, project, filename, wanted);
            return opened.await.map(Some);
        }
        let not_found = || IndexError::FileNotFound {
            filename: filename.escape_default().to_string(),
        };
        let page = route.index.project(project).await?.ok_or_else(not_found)?;
        let file = page
            .files
            .iter()
            .find(|f| f.filename == filename && Listing::offers_file(f, true))
            .ok_or_else(not_found)?;
        self.proxy_upstream(route, file, metadata, request)
            .await
            .map(Some)
    }

    /// The provenance (PEP 740) kept in the pull-through cache with an upstream file, when the
    /// namespace caches its upstream and does not have the project itself. Upstream's own is
    /// linked from upstream's pages, not served here.
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] when the cache has the file without provenance; storage
    /// errors.
    pub async fn open_upstream_provenance(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
        filename: &str,
        request: FileRequest<'_>,
    ) -> Result<Option<FileDownload>, IndexError> {
        let Some(route) = self.upstream_route(location, project) else {
            return Ok(None);
        };
        let Some(cache) = &route.cache else {
            return Ok(None);
        };
        match self.project_page(caller, location, project).await {
            Err(IndexError::ProjectNotFound { .. }) => {}
            Ok(_) => return Ok(None),
            Err(error) => return Err(error),
        }
        self.cached_provenance(caller, route, cache, project, (filename, request))
            .await
    }

    /// Streams `file` (or its `.metadata`) from upstream, checking a whole body against the
    /// sha256 its page gives.
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] for a `.metadata` the page does not offer; upstream errors.
    pub(super) async fn proxy_upstream(
        &self,
        route: &UpstreamRoute,
        file: &SimpleFile,
        metadata: bool,
        request: FileRequest<'_>,
    ) -> Result<FileDownload, IndexError> {
        let filename = file.filename.as_str();
        let not_found = || IndexError::FileNotFound {
            filename: filename.escape_default().to_string(),
        };
        let (url, sha256, content_type) = if metadata {
            let CoreMetadataRef::Sha256(hash) = Listing::offered_core_metadata(file, true) else {
                return Err(not_found());
            };
            (
                format!("{}.metadata", file.url),
                hash.clone(),
                METADATA_CONTENT_TYPE,
            )
        } else {
            let hash = file.sha256().ok_or_else(not_found)?;
            (file.url.clone(), hash, content_type(filename))
        };
        let download = route
            .index
            .download(&url, request.range, request.head)
            .await?;
        let whole = download.status == 200 && !request.head;
        let source = route.index.url().to_owned();
        let body: ByteStream = Box::pin(download.response.bytes_stream().map(move |chunk| {
            chunk.map_err(|error| StorageError::InvalidResponse {
                registry: source.clone(),
                reason: crate::net::redact_error(error).to_string(),
            })
        }));
        Ok(FileDownload {
            socket: None,
            stale: false,
            content_type,
            status: download.status,
            redirect: None,
            content_length: download.content_length,
            content_range: download.content_range,
            body: if whole {
                verified(body, sha256.clone())
            } else {
                body
            },
            sha256,
        })
    }
}
