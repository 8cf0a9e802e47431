//! The web UI on the index's own URLs: a browser's navigation (its `Accept` names `text/html`
//! and `application/xhtml+xml`, and no simple-API type) gets the pages of [`crate::web`];
//! installers, which name the simple-API types or send `*/*` or a lone `text/html`, get exactly
//! what they got before, and `?format=` always means the simple page.
//!
//! Every page carries a Content-Security-Policy (no inline script but the page's own, by
//! hash), `X-Content-Type-Options: nosniff`, no framing and no referrer. The install commands
//! name the URL the browser used: its host, a proxy's `X-Forwarded-Proto`, `-Host` and
//! `-Prefix` (or `Forwarded`), and `--subpath`.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};

use super::AppState;
use super::encoding;
use super::error::ApiError;
use super::negotiate::Format;
use super::route::{ProjectPath, Scope};
use crate::index::{Caller, IndexError};
use crate::web::{self, NamespaceQuery, Place, Site, WebError};

/// Whether the request is a browser's navigation that gets the UI.
pub fn wanted(uri: &Uri, headers: &HeaderMap) -> bool {
    if uri
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair.starts_with("format=")))
    {
        return false;
    }
    let Some(accept) = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    accept.contains("application/xhtml+xml")
        && accept.contains("text/html")
        && !accept.contains("application/vnd.pypi.")
}

/// The namespace page.
///
/// # Errors
/// What locating or listing the namespace fails with.
pub async fn namespace(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    (uri, headers): (&Uri, &HeaderMap),
) -> Result<Response, ApiError> {
    let location = scope.locate(&state.index)?;
    let query = uri.query().unwrap_or_default();
    let query = NamespaceQuery::new(
        super::params::form_field(query, "q").as_deref(),
        super::params::form_field(query, "page").as_deref(),
    );
    let place = place(scope);
    let site = site(&state.subpath, headers);
    let body =
        web::namespace_page(&state.index, caller, &location, (&place, &site), &query).await?;
    // Never compressed: the page repeats the search typed into it next to the names of
    // private projects (BREACH; docs/security.md).
    Ok(html(Bytes::from(body), None))
}

/// The project page. For a name the namespace does not have, the simple page (an upstream's
/// project), else the namespace that the whole path names (`/<registry>/a/b/` is project `b`
/// of `a` to installers, and may be namespace `a/b` to a person).
///
/// # Errors
/// What locating or listing fails with; 404 when neither the project nor the namespace exist.
pub async fn project(
    state: &AppState,
    caller: &Caller,
    path: &ProjectPath,
    (uri, headers): (&Uri, &HeaderMap),
) -> Result<Response, ApiError> {
    let (location, name) = path.resolve(&state.index)?;
    let place = place(&path.scope);
    let site = site(&state.subpath, headers);
    let missing =
        match web::project_page(&state.index, caller, &location, (&place, &site), &name).await {
            Ok(body) => {
                let gzip = encoding::request_accepts_gzip(headers);
                let (body, coding) = encoding::code_once(Bytes::from(body), gzip).await;
                return Ok(html(body, coding));
            }
            Err(WebError::Index(missing @ IndexError::ProjectNotFound { .. })) => missing,
            Err(error) => return Err(error.into()),
        };
    let simple = super::pages::project_page(state, caller, path, headers, Format::TextHtml).await;
    if !matches!(
        &simple,
        Err(ApiError::Index(IndexError::ProjectNotFound { .. }))
    ) {
        return simple;
    }
    let whole = Scope {
        registry: path.scope.registry.clone(),
        namespace: format!("{}/{}", path.scope.namespace, path.project),
    };
    let has_projects = match whole.locate(&state.index) {
        Ok(location) => state
            .index
            .project_list(caller, &location)
            .await
            .is_ok_and(|projects| !projects.is_empty()),
        Err(_) => false,
    };
    if !has_projects {
        return Err(missing.into());
    }
    namespace(state, caller, &whole, (uri, headers)).await
}

fn place(scope: &Scope) -> Place {
    Place {
        registry: scope.registry.clone(),
        namespace: scope.namespace.clone(),
    }
}

/// A UI page with its security headers, in the content coding `coding` when it has one;
/// never cached by shared caches.
fn html(body: Bytes, coding: Option<&'static str>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    if let Some(coding) = coding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(policy) = HeaderValue::from_str(&web::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding, Authorization"),
    );
    response
}

/// Where the browser reached this server: scheme and host from a proxy's `Forwarded` or
/// `X-Forwarded-*` headers when present, else `Host`; the prefix a proxy strips
/// (`X-Forwarded-Prefix`) before `--subpath`. Values that are not plain hosts or paths are
/// ignored.
fn site(subpath: &str, headers: &HeaderMap) -> Site {
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .map(str::trim)
    };
    let forwarded = |key: &str| {
        header_text("forwarded").and_then(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case(key)
                    .then(|| value.trim().trim_matches('"'))
            })
        })
    };
    let scheme = forwarded("proto")
        .or_else(|| header_text("x-forwarded-proto"))
        .map(str::to_ascii_lowercase)
        .filter(|scheme| scheme == "http" || scheme == "https")
        .unwrap_or_else(|| "http".to_owned());
    let host = [
        forwarded("host"),
        header_text("x-forwarded-host"),
        header_text("host"),
    ]
    .into_iter()
    .flatten()
    .find(|host| is_host(host))
    .unwrap_or("localhost");
    let forwarded_prefix = header_text("x-forwarded-prefix")
        .filter(|prefix| is_path(prefix))
        .unwrap_or_default()
        .trim_end_matches('/');
    Site {
        origin: format!("{scheme}://{host}"),
        prefix: format!("{forwarded_prefix}{subpath}"),
    }
}

/// `host[:port]`, a bracketed IPv6 literal included.
fn is_host(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 255
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
        })
}

/// An absolute path of plain segments.
fn is_path(value: &str) -> bool {
    value.starts_with('/')
        && !value.starts_with("//")
        && value.len() <= 255
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_' | b'~' | b'%')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted_by(accept: Option<&str>, query: &str) -> bool {
        let uri: Uri = format!("/r/ns/{query}").parse().unwrap();
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        }
        wanted(&uri, &headers)
    }

    #[test]
    fn browsers_get_the_ui_and_installers_do_not() {
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";
        let firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(wanted_by(Some(chrome), ""));
        assert!(wanted_by(Some(firefox), "?q=x"));
        assert!(!wanted_by(Some(firefox), "?format=text/html"));
        for installer in [
            "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01",
            "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01",
            "text/html",
            "*/*",
        ] {
            assert!(!wanted_by(Some(installer), ""), "{installer}");
        }
        assert!(!wanted_by(None, ""));
    }

    #[test]
    fn the_site_follows_proxies_and_the_subpath() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("internal:8080"));
        assert_eq!(
            site("", &headers),
            Site {
                origin: "http://internal:8080".to_owned(),
                prefix: String::new()
            }
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        headers.insert("x-forwarded-host", HeaderValue::from_static("pkgs.example"));
        headers.insert("x-forwarded-prefix", HeaderValue::from_static("/python/"));
        assert_eq!(
            site("/pypi", &headers),
            Site {
                origin: "https://pkgs.example".to_owned(),
                prefix: "/python/pypi".to_owned()
            }
        );
        headers.insert(
            "forwarded",
            HeaderValue::from_static("for=1.2.3.4;proto=http;host=\"front.example:81\""),
        );
        headers.insert(
            "x-forwarded-prefix",
            HeaderValue::from_static("\"><script>"),
        );
        assert_eq!(
            site("", &headers),
            Site {
                origin: "http://front.example:81".to_owned(),
                prefix: String::new()
            }
        );
    }
}
