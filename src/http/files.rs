//! Distribution files: download (GET, HEAD, ranges) and delete, and release deletes.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::AppState;
use super::error::ApiError;
use super::route::Scope;
use crate::index::{Caller, FileRequest, IndexError, Wanted};
use crate::packaging::{ProjectName, Version};

/// Files never change once stored (overwrites are refused): let clients keep them.
const FILE_CACHE_CONTROL: &str = "max-age=365000000, immutable";

/// GET or HEAD of a file, or of its `.metadata`.
///
/// # Errors
/// What locating or opening the file fails with.
pub async fn download(
    state: &AppState,
    caller: &Caller,
    target: (&Scope, &str, &str),
    wanted: Wanted,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let (scope, project, filename) = target;
    let location = state.index.locate(&scope.registry, &scope.namespace)?;
    let project = ProjectName::parse(project).map_err(IndexError::from)?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let head = method == Method::HEAD;
    let request = FileRequest { range, head };
    let file = state
        .index
        .open(caller, &location, &project, filename, (wanted, request))
        .await?;
    let content_type = file.content_type;
    if let Some(target) = &file.redirect {
        return Ok(redirect(target));
    }
    let status = StatusCode::from_u16(file.status).unwrap_or(StatusCode::OK);
    let cache_control = if caller.is_authenticated() {
        format!("private, {FILE_CACHE_CONTROL}")
    } else {
        FILE_CACHE_CONTROL.to_owned()
    };
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, format!("\"sha256:{}\"", file.sha256))
        .header(header::CACHE_CONTROL, cache_control);
    if let Some(length) = file.content_length {
        builder = builder.header(header::CONTENT_LENGTH, length);
    }
    if let Some(range) = &file.content_range {
        builder = builder.header(header::CONTENT_RANGE, range);
    }
    let body = if head {
        Body::empty()
    } else {
        Body::from_stream(file.body)
    };
    builder
        .body(body)
        .map_err(|error| ApiError::BadRequest(format!("cannot build the response: {error}")))
}

/// DELETE of a file.
///
/// # Errors
/// What locating or deleting fails with.
pub async fn delete_file(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    project: &str,
    filename: &str,
) -> Result<Response, ApiError> {
    let location = state.index.locate(&scope.registry, &scope.namespace)?;
    let project = ProjectName::parse(project).map_err(IndexError::from)?;
    state
        .index
        .delete_file(caller, &location, &project, filename)
        .await?;
    Ok(deleted())
}

/// DELETE of a release.
///
/// # Errors
/// What locating, parsing the version or deleting fails with.
pub async fn delete_version(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    project: &str,
    version: &str,
) -> Result<Response, ApiError> {
    let location = state.index.locate(&scope.registry, &scope.namespace)?;
    let project = ProjectName::parse(project).map_err(IndexError::from)?;
    let version = Version::parse(version)
        .map_err(crate::packaging::PackagingError::from)
        .map_err(IndexError::from)?;
    state
        .index
        .delete_version(caller, &location, &project, &version)
        .await?;
    Ok(deleted())
}

/// A temporary redirect to where the registry keeps the bytes (pre-signed URLs expire: the
/// redirect itself is not cached; the file URL in pages stays ours).
fn redirect(target: &str) -> Response {
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(value) = HeaderValue::from_str(target) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn deleted() -> Response {
    let mut response = (StatusCode::OK, "Deleted\n").into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
