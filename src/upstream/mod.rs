//! Another Python package index (PyPI, or any PEP 503/691 index) that a namespace falls back
//! to for names it does not have. Pages are fetched asking for PEP 691 JSON first, so that
//! `upload-time`, `yanked`, `requires-python` and `core-metadata` pass through intact; HTML
//! (pypiserver, older indexes) is read too. Pages are kept for `--upstream-page-ttl`, then
//! revalidated with `If-None-Match` / `If-Modified-Since` (one fetch of a page at a time); the
//! last page of a project stays at hand, for a pull-through cache to serve stale while upstream
//! fails ([`UpstreamIndex::project_or_stale`]).
//!
//! The upstream URL is operator configuration, so it is trusted; file URLs from its pages are
//! only passed to clients (never fetched here) and only when they are http(s).
//!
//! The URL may carry credentials (`https://user:token@host/simple/`): they are sent to the
//! index only, and every error, log line and `Debug` shows the URL redacted
//! ([`crate::net::redact_url`]). Requests use no proxy, unless one is configured
//! (`--upstream-proxy`): the proxy environment variables are ignored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::{
    ACCEPT, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use reqwest::{StatusCode, Url};

mod names;

pub use names::NameFilter;

use crate::net::read_limited;
use crate::net::{redact_error, redact_url};
use crate::packaging::{MAX_PAGE_SIZE, ProjectName, SimpleFile, parse_html_page, parse_json_page};
use crate::renders::Renders;

/// What clients of simple indexes send, preferring JSON.
const ACCEPT_PAGES: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";
/// How long a fetched page is reused before it is revalidated, unless configured otherwise.
pub const DEFAULT_PAGE_TTL: Duration = Duration::from_secs(30);
/// Pages kept at most.
const MAX_CACHED: usize = 4096;
/// Lock stripes: one fetch of a page at a time.
const FETCH_STRIPES: usize = 64;

/// Why an upstream index could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The configured URL is not an absolute http(s) URL (shown redacted).
    #[error("upstream index `{0}` is not an http(s) URL")]
    BadUrl(String),
    /// The proxy configured for upstream requests cannot be used (shown redacted).
    #[error("upstream proxy `{0}` cannot be used")]
    BadProxy(String),
    /// It could not be reached or did not answer in time.
    #[error("upstream index `{url}` is unreachable")]
    Unreachable {
        /// The index URL, redacted.
        url: String,
        /// The transport error, its URL redacted.
        #[source]
        source: reqwest::Error,
    },
    /// It did not answer in time.
    #[error("upstream index `{url}` did not answer in time")]
    Timeout {
        /// The index URL, redacted.
        url: String,
        /// The transport error, its URL redacted.
        #[source]
        source: reqwest::Error,
    },
    /// It answered with an unexpected status.
    #[error("upstream index `{url}` answered {status}")]
    Status {
        /// The index URL, redacted.
        url: String,
        /// The status.
        status: u16,
    },
    /// Its page could not be read.
    #[error("upstream index `{url}` sent an unreadable page: {reason}")]
    Invalid {
        /// The index URL, redacted.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

/// A project as an upstream index lists it; file URLs are absolute.
#[derive(Debug, Clone)]
pub struct UpstreamProject {
    /// The page's URL (what PEP 708 `tracks` points at).
    pub page_url: String,
    /// Its files.
    pub files: Vec<SimpleFile>,
    /// Serializations of this page made so far, kept with it while it is reused.
    pub renders: Renders,
}

/// A page as last fetched, with what revalidates it.
#[derive(Debug, Clone)]
struct Cached {
    /// When it was fetched or last revalidated.
    checked: Instant,
    page: Option<Arc<UpstreamProject>>,
    etag: Option<String>,
    last_modified: Option<String>,
}

/// A project page as [`UpstreamIndex::project_or_stale`] could get it.
#[derive(Debug)]
pub enum PageLookup {
    /// Upstream's current answer: the page, or `None` when it does not have the project.
    Fresh(Option<Arc<UpstreamProject>>),
    /// Upstream failed with the error; this is the page it gave last.
    Stale(Arc<UpstreamProject>, UpstreamError),
}

/// What a page fetch brought.
enum Fetched {
    /// A new answer.
    Page(Cached),
    /// The page held is still current (304).
    NotModified,
}

/// A file being fetched from upstream for a client (the proxy mode).
#[derive(Debug)]
pub struct UpstreamDownload {
    /// 200, 206 or 416.
    pub status: u16,
    /// Body length, when known.
    pub content_length: Option<u64>,
    /// `Content-Range` of a 206 or 416.
    pub content_range: Option<String>,
    /// The response, to stream.
    pub response: reqwest::Response,
}

/// A client of one upstream index.
pub struct UpstreamIndex {
    /// The index root, with its credentials if it has any.
    base: Url,
    /// The index root as it may be shown.
    shown: String,
    http: reqwest::Client,
    /// For files on the index's host: an idle timeout, not a total one (large files).
    files_http: reqwest::Client,
    /// For file URLs on other hosts than the index: public addresses only.
    public_http: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
    page_ttl: Duration,
    fetching: Vec<tokio::sync::Mutex<()>>,
    /// Since when upstream fails (unreachable, timing out, answering 5xx), if it does.
    failing: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for UpstreamIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamIndex")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl UpstreamIndex {
    /// A client of the simple index at `url` (its root, such as `https://pypi.org/simple/`),
    /// reached through `proxy` when one is given, directly otherwise.
    ///
    /// # Errors
    /// [`UpstreamError::BadUrl`] when it is not an absolute http(s) URL;
    /// [`UpstreamError::BadProxy`] when the proxy cannot be used.
    pub fn new(url: &str, proxy: Option<&str>) -> Result<Self, UpstreamError> {
        let bad_url = || UpstreamError::BadUrl(redact_url(url));
        let mut base = Url::parse(url).map_err(|_| bad_url())?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(bad_url());
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = client(proxy)?
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|_| bad_url())?;
        let files_http = client(proxy)?
            .read_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|_| bad_url())?;
        let public_http = client(proxy)?
            .read_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(crate::net::PublicOnlyResolver))
            .build()
            .map_err(|_| bad_url())?;
        Ok(Self {
            shown: redact_url(base.as_str()),
            base,
            http,
            files_http,
            public_http,
            cache: Mutex::default(),
            page_ttl: DEFAULT_PAGE_TTL,
            fetching: (0..FETCH_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            failing: Mutex::default(),
        })
    }

    /// Reuses fetched pages for `ttl` before revalidating them (0: every time).
    #[must_use]
    pub fn with_page_ttl(mut self, ttl: Duration) -> Self {
        self.page_ttl = ttl;
        self
    }

    /// Whether upstream's last answer was a failure (unreachable, timing out, 5xx).
    #[must_use]
    pub fn is_failing(&self) -> bool {
        lock(&self.failing).is_some()
    }

    /// Records how a request to upstream went.
    fn record(&self, failed: bool) {
        let mut failing = lock(&self.failing);
        match (failed, failing.is_some()) {
            (true, false) => *failing = Some(Instant::now()),
            (false, true) => *failing = None,
            _ => {}
        }
    }

    /// The index root URL as it may be shown (credentials and query masked).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// The project's page; `None` when the index does not have it.
    ///
    /// # Errors
    /// An [`UpstreamError`] when the index fails.
    pub async fn project(
        &self,
        name: &ProjectName,
    ) -> Result<Option<Arc<UpstreamProject>>, UpstreamError> {
        match self.project_or_stale(name).await? {
            PageLookup::Fresh(page) => Ok(page),
            PageLookup::Stale(_, error) => Err(error),
        }
    }

    /// The project's page, revalidated (`If-None-Match`, `If-Modified-Since`) once older than
    /// the page TTL; when upstream fails and a page was fetched before, that page, stale. One
    /// fetch of a page at a time: concurrent callers wait for it.
    ///
    /// # Errors
    /// An [`UpstreamError`] when the index fails and no page of the project is held.
    pub async fn project_or_stale(&self, name: &ProjectName) -> Result<PageLookup, UpstreamError> {
        if let Some(fresh) = self.fresh(name) {
            return Ok(fresh);
        }
        let stripe = stripe_of(name.as_str(), self.fetching.len());
        let _fetching = match self.fetching.get(stripe) {
            Some(mutex) => Some(mutex.lock().await),
            None => None,
        };
        if let Some(fresh) = self.fresh(name) {
            return Ok(fresh);
        }
        let held = lock(&self.cache).get(name.as_str()).cloned();
        let fetched = self.fetch(name, held.as_ref()).await;
        let failed = matches!(
            &fetched,
            Err(UpstreamError::Unreachable { .. }
                | UpstreamError::Timeout { .. }
                | UpstreamError::Status { status: 500.., .. })
        );
        self.record(failed);
        let entry = match (fetched, held) {
            (Ok(Fetched::Page(entry)), _) => entry,
            (Ok(Fetched::NotModified), Some(mut held)) => {
                held.checked = Instant::now();
                held
            }
            (Ok(Fetched::NotModified), None) => {
                return Err(self.invalid("it answered 304 to an unconditional request"));
            }
            (
                Err(error),
                Some(Cached {
                    page: Some(page), ..
                }),
            ) if failed => {
                return Ok(PageLookup::Stale(page, error));
            }
            (Err(error), _) => return Err(error),
        };
        let page = entry.page.clone();
        self.keep(name, entry);
        Ok(PageLookup::Fresh(page))
    }

    /// The page held for `name` when it is younger than the TTL.
    fn fresh(&self, name: &ProjectName) -> Option<PageLookup> {
        let cache = lock(&self.cache);
        let cached = cache.get(name.as_str())?;
        (cached.checked.elapsed() < self.page_ttl).then(|| PageLookup::Fresh(cached.page.clone()))
    }

    /// Keeps a page; when full, drops those past their TTL, then the least recently checked
    /// quarter (pages past their TTL are kept otherwise: they are what is served stale).
    fn keep(&self, name: &ProjectName, entry: Cached) {
        let mut cache = lock(&self.cache);
        if cache.len() >= MAX_CACHED && !cache.contains_key(name.as_str()) {
            let ttl = self.page_ttl;
            cache.retain(|_, cached| cached.checked.elapsed() < ttl);
            if cache.len() >= MAX_CACHED {
                let mut ages: Vec<(Instant, String)> = cache
                    .iter()
                    .map(|(key, cached)| (cached.checked, key.clone()))
                    .collect();
                ages.sort();
                for (_, key) in ages.into_iter().take(MAX_CACHED / 4) {
                    cache.remove(&key);
                }
            }
        }
        cache.insert(name.as_str().to_owned(), entry);
    }

    async fn fetch(
        &self,
        name: &ProjectName,
        held: Option<&Cached>,
    ) -> Result<Fetched, UpstreamError> {
        let url = self
            .base
            .join(&format!("{name}/"))
            .map_err(|_| UpstreamError::BadUrl(self.url().to_owned()))?;
        let mut request = self.http.get(url).header(ACCEPT, ACCEPT_PAGES);
        if let Some(held) = held {
            if let Some(etag) = &held.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(last_modified) = &held.last_modified {
                request = request.header(IF_MODIFIED_SINCE, last_modified);
            }
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (etag, last_modified) = (header(ETAG), header(LAST_MODIFIED));
        let page = match response.status() {
            StatusCode::OK => Some(self.read_page(response).await?),
            StatusCode::NOT_MODIFIED if held.is_some() => return Ok(Fetched::NotModified),
            StatusCode::NOT_FOUND | StatusCode::GONE => None,
            status => {
                return Err(UpstreamError::Status {
                    url: self.url().to_owned(),
                    status: status.as_u16(),
                });
            }
        };
        Ok(Fetched::Page(Cached {
            checked: Instant::now(),
            page: page.map(Arc::new),
            etag,
            last_modified,
        }))
    }

    /// A transport error as an [`UpstreamError`], its URL redacted.
    fn transport(&self, source: reqwest::Error) -> UpstreamError {
        let url = self.url().to_owned();
        if source.is_timeout() {
            UpstreamError::Timeout {
                url,
                source: redact_error(source),
            }
        } else {
            UpstreamError::Unreachable {
                url,
                source: redact_error(source),
            }
        }
    }

    async fn read_page(
        &self,
        response: reqwest::Response,
    ) -> Result<UpstreamProject, UpstreamError> {
        let page_url = response.url().clone();
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        if response
            .content_length()
            .is_some_and(|n| n > MAX_PAGE_SIZE as u64)
        {
            return Err(self.invalid("the page is too large"));
        }
        // A page sent without a length is read no further than one byte past the limit.
        let body = read_limited(response, MAX_PAGE_SIZE + 1)
            .await
            .map_err(|e| self.transport(e))?;
        if body.len() > MAX_PAGE_SIZE {
            return Err(self.invalid("the page is too large"));
        }
        let page = if is_json {
            parse_json_page(&body)
        } else {
            parse_html_page(&body)
        }
        .map_err(|error| self.invalid(&error.to_string()))?;
        let files = page
            .files
            .into_iter()
            .filter_map(|mut file| {
                let absolute = page_url.join(&file.url).ok()?;
                matches!(absolute.scheme(), "http" | "https").then(|| {
                    file.url = absolute.to_string();
                    // PEP 740 provenance passes through, as an absolute http(s) URL.
                    file.provenance = file
                        .provenance
                        .as_deref()
                        .and_then(|url| page_url.join(url).ok())
                        .filter(|url| matches!(url.scheme(), "http" | "https"))
                        .map(|url| url.to_string());
                    file
                })
            })
            .collect();
        Ok(UpstreamProject {
            page_url: page_url.to_string(),
            files,
            renders: Renders::default(),
        })
    }

    /// Fetches a file (or its `.metadata`) that one of this index's pages lists, for a client.
    /// Files on the index's own host are fetched as is; files elsewhere only from public
    /// addresses, without following redirects, so a page cannot point the server at internal
    /// hosts.
    ///
    /// # Errors
    /// An [`UpstreamError`] when the URL is unusable, or the host fails or answers otherwise.
    pub async fn download(
        &self,
        url: &str,
        range: Option<&str>,
        head: bool,
    ) -> Result<UpstreamDownload, UpstreamError> {
        let target = Url::parse(url).map_err(|_| self.invalid("a file URL is not a URL"))?;
        if !matches!(target.scheme(), "http" | "https") {
            return Err(self.invalid("a file URL is not http(s)"));
        }
        let same_host = target.host_str() == self.base.host_str()
            && target.port_or_known_default() == self.base.port_or_known_default();
        if !same_host && crate::net::is_internal_literal(&target) {
            return Err(self.invalid("a file URL points at an internal address"));
        }
        let client = if same_host {
            &self.files_http
        } else {
            &self.public_http
        };
        let method = if head {
            reqwest::Method::HEAD
        } else {
            reqwest::Method::GET
        };
        let mut request = client.request(method, target);
        if let Some(range) = range {
            request = request.header(reqwest::header::RANGE, range);
        }
        let response = request.send().await.map_err(|e| self.transport(e));
        self.record(
            response
                .as_ref()
                .map_or(true, |r| r.status().is_server_error()),
        );
        let response = response?;
        let status = response.status().as_u16();
        if !matches!(status, 200 | 206 | 416) {
            return Err(UpstreamError::Status {
                url: self.url().to_owned(),
                status,
            });
        }
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(UpstreamDownload {
            status,
            content_length: header(reqwest::header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
            content_range: header(reqwest::header::CONTENT_RANGE),
            response,
        })
    }

    /// A small document upstream links to (a PEP 740 provenance object), read whole up to
    /// `limit` bytes.
    ///
    /// # Errors
    /// Upstream errors, and [`UpstreamError::Invalid`] for a body over `limit` bytes.
    pub async fn fetch_document(
        &self,
        url: &str,
        limit: usize,
    ) -> Result<bytes::Bytes, UpstreamError> {
        let download = self.download(url, None, false).await?;
        if download.status != 200 {
            return Err(UpstreamError::Status {
                url: self.url().to_owned(),
                status: download.status,
            });
        }
        let body = read_limited(download.response, limit.saturating_add(1))
            .await
            .map_err(|error| self.transport(error))?;
        if body.len() > limit {
            return Err(self.invalid(&format!("a document larger than {limit} bytes")));
        }
        Ok(bytes::Bytes::from(body))
    }

    fn invalid(&self, reason: &str) -> UpstreamError {
        UpstreamError::Invalid {
            url: self.url().to_owned(),
            reason: reason.to_owned(),
        }
    }
}

/// A client builder with this server's user agent and connect timeout, that uses `proxy` (an
/// http(s) URL) and only it: never one named by the environment (`HTTP_PROXY` and the like).
fn client(proxy: Option<&str>) -> Result<reqwest::ClientBuilder, UpstreamError> {
    let builder = reqwest::Client::builder()
        .user_agent(concat!("oci-pypi/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10));
    let Some(proxy) = proxy else {
        return Ok(builder.no_proxy());
    };
    let bad_proxy = || UpstreamError::BadProxy(redact_url(proxy));
    let url = Url::parse(proxy.trim()).map_err(|_| bad_proxy())?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(bad_proxy());
    }
    let proxy = reqwest::Proxy::all(url).map_err(|_| bad_proxy())?;
    Ok(builder.proxy(proxy))
}

/// The stripe of `key` among `stripes`.
fn stripe_of(key: &str, stripes: usize) -> usize {
    use std::hash::{BuildHasher as _, BuildHasherDefault, DefaultHasher};
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
    usize::try_from(hash % stripes.max(1) as u64).unwrap_or(0)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_urls() {
        assert!(UpstreamIndex::new("ftp://x/simple/", None).is_err());
        assert!(UpstreamIndex::new("pypi.org/simple", None).is_err());
        assert_eq!(
            UpstreamIndex::new("https://pypi.org/simple", None)
                .unwrap()
                .url(),
            "https://pypi.org/simple/"
        );
    }

    #[test]
    fn never_shows_credentials() {
        let index =
            UpstreamIndex::new("https://user:s3cret@pypi.example/simple?key=k3y", None).unwrap();
        assert_eq!(index.url(), "https://***@pypi.example/simple/?***");
        let debug = format!("{index:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("k3y"),
            "{debug}"
        );
        let refused = UpstreamIndex::new("ftp://user:s3cret@pypi.example/", None).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "upstream index `ftp://***@pypi.example/` is not an http(s) URL"
        );
        let unparsable = UpstreamIndex::new("user:s3cret@pypi.example/simple", None).unwrap_err();
        assert!(!unparsable.to_string().contains("s3cret"), "{unparsable}");
    }

    #[test]
    fn takes_only_http_proxies() {
        let proxied = UpstreamIndex::new("https://pypi.org/simple/", Some("http://u:p@proxy:3128"));
        assert!(proxied.is_ok());
        for proxy in ["socks5://u:s3cret@proxy:1080", "u:s3cret@proxy", "http://"] {
            let refused = UpstreamIndex::new("https://pypi.org/simple/", Some(proxy)).unwrap_err();
            assert!(matches!(refused, UpstreamError::BadProxy(_)), "{proxy}");
            assert!(!refused.to_string().contains("s3cret"), "{refused}");
        }
    }
}
