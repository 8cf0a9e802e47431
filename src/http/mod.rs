//! Thin axum adapters: parse the URL into a [`route::Route`], extract the caller, call one
//! index method, render. No OCI vocabulary here; statuses are chosen in [`error`] only.

pub mod auth;
mod browse;
mod encoding;
pub mod error;
mod files;
pub mod negotiate;
mod oidc;
mod origin;
mod pages;
mod params;
mod promote;
pub mod route;
mod status;
mod upload;
mod yank;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt as _;

use crate::index::Index;
use crate::net::SpliceSlot;
use crate::telemetry::Metrics;
use error::ApiError;
use route::Route;

pub use pages::{escape, render_project_html, render_project_json, render_releases_json};

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The index service.
    pub index: Index,
    /// This server's metrics.
    pub metrics: Arc<Metrics>,
    /// The path prefix the server is mounted under (`""` or `/pypi`).
    pub subpath: String,
    /// Trusted publishing, when trust policies are configured.
    pub publishing: Option<Arc<crate::publishing::TrustedPublishing>>,
}

/// The application: one fallback handler routes every path (namespaces have any number of
/// segments, which fixed route patterns cannot express).
pub fn router(state: AppState) -> Router {
    let body_limit = usize::try_from(state.index.options().max_upload_size)
        .unwrap_or(usize::MAX)
        .saturating_add(32 * 1024 * 1024);
    let request_id = http::HeaderName::from_static("x-request-id");
    let trace = TraceLayer::new_for_http().make_span_with(|request: &Request| {
        let id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        // The path only: a query could carry anything, and credentials never appear in paths.
        let span = tracing::info_span!("request", http.method = %request.method(), http.path = %request.uri().path(), request.id = %id, http.status = tracing::field::Empty, otel.kind = "server");
        crate::telemetry::follow_remote_parent(&span, request.headers());
        span
    });
    // A failed response is logged once, by `error::log_errors`; the trace layer logs only
    // bodies that fail while streaming.
    let trace = trace.on_failure(
        |failure: ServerErrorsFailureClass, latency: std::time::Duration, _: &tracing::Span| {
            if let ServerErrorsFailureClass::Error(error) = failure {
                tracing::error!(
                    duration_ms = latency.as_millis(),
                    "the response body failed: {error}"
                );
            }
        },
    );
    Router::new()
        .fallback(dispatch)
        .layer(axum::middleware::from_fn(error::log_errors))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(trace)
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let (name, response) = match route_of(&state, &request) {
        Err(error) => ("unknown", error.into_response()),
        Ok(route) => {
            let name = route.name();
            let id = request.headers().get("x-request-id").cloned();
            let response = Box::pin(crate::telemetry::with_request_id(
                id,
                handle(&state, route, request),
            ))
            .await;
            (name, response.unwrap_or_else(IntoResponse::into_response))
        }
    };
    let status = response.status().as_u16();
    tracing::Span::current().record("http.status", i64::from(status));
    state
        .metrics
        .record_request(name, method.as_str(), status, started.elapsed());
    response
}

fn route_of(state: &AppState, request: &Request) -> Result<Route, ApiError> {
    let raw_path = request.uri().path();
    // Clients derive the trusted publishing endpoints from the host alone: serve them at
    // the root too.
    let Some(path) = strip_subpath(raw_path, &state.subpath)
        .or_else(|| raw_path.starts_with(route::OIDC_PREFIX).then_some(raw_path))
    else {
        return Err(route::RouteError::NotFound(raw_path.to_owned()).into());
    };
    Ok(route::parse(request.method(), path)?)
}

async fn handle(state: &AppState, route: Route, request: Request) -> Result<Response, ApiError> {
    let raw_path = request.uri().path().to_owned();
    let method = request.method().clone();
    origin::refuse_cross_site(&method, request.uri(), request.headers())?;
    let caller = match route {
        // The exchange takes no credentials: a stale upload token must not stand in its way.
        Route::OidcAudience | Route::MintToken => crate::index::Caller::Anonymous,
        _ => auth::authenticate(request.headers(), state.publishing.as_deref())?,
    };
    if route
        .scope()
        .is_some_and(|scope| scope.registry == crate::index::LOCAL_SEGMENT)
    {
        state.index.verify_local_user(&caller).await;
    }
    let headers = request.headers().clone();
    match route {
        Route::Root => Ok(text(
            StatusCode::OK,
            "oci-pypi: a Python package index on OCI registries; see /<registry>/<namespace>/+simple/\n",
        )),
        Route::Health => Ok(text(StatusCode::OK, "OK\n")),
        Route::Ready => Ok(ready(state).await),
        Route::Metrics => Ok((
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            state.metrics.render(),
        )
            .into_response()),
        Route::AddSlash => Ok(add_slash(request.uri())),
        Route::OidcAudience => oidc::audience(state),
        Route::MintToken => oidc::mint_token(state, request).await,
        Route::ProjectList(scope) if browse::wanted(request.uri(), &headers) => {
            browse::namespace(state, &caller, &scope, (request.uri(), &headers)).await
        }
        Route::ProjectPage(path) if browse::wanted(request.uri(), &headers) => {
            browse::project(state, &caller, &path, (request.uri(), &headers)).await
        }
        Route::ProjectList(scope) => {
            let format = page_format(&request)?;
            pages::project_list(state, &caller, &scope, &headers, format).await
        }
        Route::ProjectPage(path) => {
            let format = page_format(&request)?;
            pages::project_page(state, &caller, &path, &headers, format).await
        }
        Route::Promote(path) => promote::promote(state, &caller, &path, request).await,
        Route::Yank(path) => yank::yank(state, &caller, &path, request).await,
        Route::Status(path) => status::set_status(state, &caller, &path, request).await,
        Route::ReleasesJson(path) => {
            pages::releases_json(state, &caller, &path, &raw_path, &headers).await
        }
        Route::File(path) if method == Method::DELETE => {
            let (location, release) = path.release(&state.index)?;
            files::delete(state, &caller, &location, &release).await
        }
        Route::Version(path) => {
            let (location, release) = path.release(&state.index)?;
            files::delete(state, &caller, &location, &release).await
        }
        Route::File(path) => {
            let wanted = crate::index::Wanted::File;
            let slot = request.extensions().get::<SpliceSlot>();
            let asked = (&method, &headers);
            let response = files::download(state, &caller, &path, wanted, asked, slot).await?;
            Ok(count_bytes(response, &state.metrics))
        }
        Route::Metadata(path) => {
            let wanted = crate::index::Wanted::Metadata;
            files::download(state, &caller, &path, wanted, (&method, &headers), None).await
        }
        Route::Provenance(path) => {
            let wanted = crate::index::Wanted::Provenance;
            files::download(state, &caller, &path, wanted, (&method, &headers), None).await
        }
        Route::Upload(scope) => upload::upload(state, &caller, &scope, request).await,
    }
}

/// 200 when every configured registry answers, 503 naming the ones that do not.
async fn ready(state: &AppState) -> Response {
    let unreachable = state.index.unreachable_registries().await;
    if unreachable.is_empty() {
        return text(StatusCode::OK, "ready\n");
    }
    let body = format!("not ready: cannot reach {}\n", unreachable.join(", "));
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Counts the bytes of a file body as they are sent.
fn count_bytes(response: Response, metrics: &Arc<Metrics>) -> Response {
    let metrics = Arc::clone(metrics);
    let (parts, body) = response.into_parts();
    let counted = body.into_data_stream().inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            metrics.download_bytes(chunk.len() as u64);
        }
    });
    Response::from_parts(parts, Body::from_stream(counted))
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
    // One leading slash only: `//host/x` must not become a redirect to another host. Browsers
    // read `\` as `/` in a path (WHATWG URL), so `/\host/x` would too: backslashes are sent
    // percent-encoded, which browsers keep as they are.
    let path = uri.path().trim_start_matches('/').replace('\\', "%5C");
    let mut location = format!("/{path}/");
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

/// The `Warning` of a page or file served from a pull-through cache while its upstream fails
/// (RFC 7234 section 5.5.1, warn-code 110).
pub const STALE_WARNING: &str =
    "110 oci-pypi \"Response is Stale: the upstream index is unavailable\"";

/// Marks `response` as served stale.
fn warn_stale(response: &mut axum::response::Response) {
    response.headers_mut().insert(
        http::header::WARNING,
        http::HeaderValue::from_static(STALE_WARNING),
    );
}

/// Whether an `If-None-Match` value lists `etag`, compared weakly (RFC 9110 section 13.1.2:
/// a `W/` prefix is ignored).
fn lists_etag(condition: &str, etag: &str) -> bool {
    condition
        .split(',')
        .any(|candidate| candidate.trim().trim_start_matches("W/") == etag)
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
    fn trailing_slash_redirects_stay_on_this_host() {
        for (path, expected) in [
            ("/ghcr.io/org", "/ghcr.io/org/"),
            ("//evil.example/x", "/evil.example/x/"),
            ("/\\evil.example/x", "/%5Cevil.example/x/"),
            ("/\\/evil.example", "/%5C/evil.example/"),
            ("/a\\b/c?x=\\", "/a%5Cb/c/?x=\\"),
        ] {
            let uri: http::Uri = path.parse().unwrap();
            let response = add_slash(&uri);
            assert_eq!(response.headers()[header::LOCATION], expected, "{path}");
        }
    }

    #[test]
    fn subpaths() {
        assert_eq!(strip_subpath("/a/b", ""), Some("/a/b"));
        assert_eq!(strip_subpath("/pypi/a/b", "/pypi"), Some("/a/b"));
        assert_eq!(strip_subpath("/pypi", "/pypi"), Some(""));
        assert_eq!(strip_subpath("/pypix/a", "/pypi"), None);
        assert_eq!(strip_subpath("/a/b", "/pypi"), None);
    }
}
