//! Thin axum adapters: parse the URL into a [`route::Route`], extract the caller, call one
//! index method, render. No OCI vocabulary here; statuses are chosen in [`error`] only.

pub mod auth;
pub mod error;
mod files;
pub mod negotiate;
mod pages;
pub mod route;
mod upload;
mod yank;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};
use tower_http::trace::TraceLayer;

use crate::index::Index;
use error::ApiError;
use route::Route;

pub use pages::{escape, render_project_html, render_project_json, render_releases_json};

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The index service.
    pub index: Index,
    /// The path prefix the server is mounted under (`""` or `/pypi`).
    pub subpath: String,
}

/// The application: one fallback handler routes every path (namespaces have any number of
/// segments, which fixed route patterns cannot express).
pub fn router(state: AppState) -> Router {
    let body_limit = usize::try_from(state.index.options().max_upload_size)
        .unwrap_or(usize::MAX)
        .saturating_add(32 * 1024 * 1024);
    Router::new()
        .fallback(dispatch)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    match handle(&state, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle(state: &AppState, request: Request) -> Result<Response, ApiError> {
    let raw_path = request.uri().path().to_owned();
    let Some(path) = strip_subpath(&raw_path, &state.subpath) else {
        return Err(route::RouteError::NotFound(raw_path).into());
    };
    let method = request.method().clone();
    let route = route::parse(&method, path)?;
    let caller = auth::caller(request.headers())?;
    let headers = request.headers().clone();
    match route {
        Route::Root => Ok(text(
            StatusCode::OK,
            "oci-pypi: a Python package index on OCI registries; see /<registry>/<namespace>/+simple/\n",
        )),
        Route::Health => Ok(text(StatusCode::OK, "OK\n")),
        Route::AddSlash => Ok(add_slash(request.uri())),
        Route::ProjectList(scope) => {
            let format = page_format(&request)?;
            pages::project_list(state, &caller, &scope, &headers, format).await
        }
        Route::ProjectPage(scope, project) => {
            let format = page_format(&request)?;
            pages::project_page(state, &caller, &scope, &project, &headers, format).await
        }
        Route::Yank(scope, project, target) => {
            yank::yank(state, &caller, &scope, &project, &target, request).await
        }
        Route::ReleasesJson(scope, project) => {
            pages::releases_json(state, &caller, &scope, &project, &raw_path, &headers).await
        }
        Route::File(scope, project, filename) if method == Method::DELETE => {
            files::delete_file(state, &caller, &scope, &project, &filename).await
        }
        Route::File(scope, project, filename) => {
            files::download(
                state, &caller, &scope, &project, &filename, &method, &headers,
            )
            .await
        }
        Route::Version(scope, project, version) => {
            files::delete_version(state, &caller, &scope, &project, &version).await
        }
        Route::Upload(scope) => upload::upload(state, &caller, &scope, request).await,
    }
}

/// The simple-API format a page request asks for (`?format=` or `Accept`).
fn page_format(request: &Request) -> Result<negotiate::Format, ApiError> {
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let query = request.uri().query().unwrap_or_default();
    let format = query.split('&').find_map(|pair| {
        let value = pair.strip_prefix("format=")?;
        percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .ok()
            .map(std::borrow::Cow::into_owned)
    });
    negotiate::negotiate(accept, format.as_deref())
}

/// The path below the configured prefix, or `None` when it is outside it.
fn strip_subpath<'a>(path: &'a str, subpath: &str) -> Option<&'a str> {
    if subpath.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix(subpath)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

fn add_slash(uri: &http::Uri) -> Response {
    // One leading slash only: `//host/x` must not become a redirect to another host.
    let mut location = format!("/{}/", uri.path().trim_start_matches('/'));
    if let Some(query) = uri.query() {
        location.push('?');
        location.push_str(query);
    }
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subpaths() {
        assert_eq!(strip_subpath("/a/b", ""), Some("/a/b"));
        assert_eq!(strip_subpath("/pypi/a/b", "/pypi"), Some("/a/b"));
        assert_eq!(strip_subpath("/pypi", "/pypi"), Some(""));
        assert_eq!(strip_subpath("/pypix/a", "/pypi"), None);
        assert_eq!(strip_subpath("/a/b", "/pypi"), None);
    }
}
