//! Another Python package index (PyPI, or any PEP 503/691 index) that a namespace falls back
//! to for names it does not have. Pages are fetched asking for PEP 691 JSON first, so that
//! `upload-time`, `yanked`, `requires-python` and `core-metadata` pass through intact; HTML
//! (pypiserver, older indexes) is read too. Pages are kept for a short while.
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

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{StatusCode, Url};

use crate::net::read_limited;
use crate::net::{redact_error, redact_url};
use crate::packaging::{MAX_PAGE_SIZE, ProjectName, SimpleFile, parse_html_page, parse_json_page};

/// What clients of simple indexes send, preferring JSON.
const ACCEPT_PAGES: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";
/// How long a fetched page is reused.
const PAGE_TTL: Duration = Duration::from_secs(30);
/// Pages kept at most.
const MAX_CACHED: usize = 4096;

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
}

type Cached = (Instant, Option<Arc<UpstreamProject>>);

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
    /// For file URLs on other hosts than the index: public addresses only.
    public_http: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
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
            public_http,
            cache: Mutex::default(),
        })
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
        if let Some((fetched, project)) = lock(&self.cache).get(name.as_str()) {
            if fetched.elapsed() < PAGE_TTL {
                return Ok(project.clone());
            }
        }
        let project = self.fetch(name).await?.map(Arc::new);
        let mut cache = lock(&self.cache);
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, (fetched, _)| fetched.elapsed() < PAGE_TTL);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(name.as_str().to_owned(), (Instant::now(), project.clone()));
        Ok(project)
    }

    async fn fetch(&self, name: &ProjectName) -> Result<Option<UpstreamProject>, UpstreamError> {
        let url = self
            .base
            .join(&format!("{name}/"))
            .map_err(|_| UpstreamError::BadUrl(self.url().to_owned()))?;
        let unreachable = |source| UpstreamError::Unreachable {
            url: self.url().to_owned(),
            source: redact_error(source),
        };
        let response = self
            .http
            .get(url)
            .header(ACCEPT, ACCEPT_PAGES)
            .send()
            .await
            .map_err(unreachable)?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND | StatusCode::GONE => return Ok(None),
            status => {
                return Err(UpstreamError::Status {
                    url: self.url().to_owned(),
                    status: status.as_u16(),
                });
            }
        }
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
            .map_err(unreachable)?;
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
                    file
                })
            })
            .collect();
        Ok(Some(UpstreamProject {
            page_url: page_url.to_string(),
            files,
        }))
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
            &self.http
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
        let unreachable = |source| UpstreamError::Unreachable {
            url: self.url().to_owned(),
            source: redact_error(source),
        };
        let response = request.send().await.map_err(unreachable)?;
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Which names may come from upstream: every name unless an allow-list is given, never a
/// denied one. Patterns are normalized names, with `*` matching any run of characters.
#[derive(Debug, Clone, Default)]
pub struct NameFilter {
    allow: Vec<String>,
    deny: Vec<String>,
}

impl NameFilter {
    /// A filter from allow and deny patterns (normalized on the way in).
    #[must_use]
    pub fn new(allow: &[String], deny: &[String]) -> Self {
        let normalize = |patterns: &[String]| {
            patterns
                .iter()
                .map(|p| p.trim().to_ascii_lowercase().replace(['_', '.'], "-"))
                .filter(|p| !p.is_empty())
                .collect()
        };
        Self {
            allow: normalize(allow),
            deny: normalize(deny),
        }
    }

    /// Whether `name` may be served from upstream.
    #[must_use]
    pub fn allows(&self, name: &ProjectName) -> bool {
        let name = name.as_str();
        let allowed = self.allow.is_empty() || self.allow.iter().any(|p| glob(p, name));
        allowed && !self.deny.iter().any(|p| glob(p, name))
    }
}

/// `*` matches any run of characters; everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(position) => rest = rest.get(position + part.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> ProjectName {
        ProjectName::parse(text).unwrap()
    }

    #[test]
    fn filters_names() {
        let open = NameFilter::default();
        assert!(open.allows(&name("requests")));
        let filter = NameFilter::new(
            &["requests".to_owned(), "urllib3*".to_owned()],
            &["internal-*".to_owned()],
        );
        assert!(filter.allows(&name("Requests")));
        assert!(filter.allows(&name("urllib3_secure")));
        assert!(!filter.allows(&name("numpy")));
        let deny = NameFilter::new(&[], &["internal_*".to_owned(), "*-private".to_owned()]);
        assert!(!deny.allows(&name("internal.tools")));
        assert!(!deny.allows(&name("x-private")));
        assert!(deny.allows(&name("public")));
    }

    #[test]
    fn globs() {
        assert!(glob("a*c", "abc"));
        assert!(glob("a*", "a"));
        assert!(glob("*", "anything"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(!glob("abc", "abcd"));
    }

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
