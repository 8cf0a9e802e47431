//! Distribution files: download (GET, HEAD, ranges) and delete, and release deletes.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::AppState;
use super::error::ApiError;
use super::route::FilePath;
use crate::index::{Caller, FileRequest, Location, ReleaseRef, Wanted};
use crate::net::SpliceSlot;
use crate::packaging::{ProjectName, Sha256};

/// Files never change once stored (overwrites are refused): let clients keep them.
const FILE_CACHE_CONTROL: &str = "max-age=365000000, immutable";

/// GET or HEAD of a file, or of its `.metadata`. With the connection's `slot` (plain
/// HTTP/1.x), a whole file a registry sends over plain HTTP is spliced to the client.
///
/// # Errors
/// What locating or opening the file fails with.
pub async fn download(
    state: &AppState,
    caller: &Caller,
    path: &FilePath,
    wanted: Wanted,
    (method, headers): (&Method, &HeaderMap),
    slot: Option<&SpliceSlot>,
) -> Result<Response, ApiError> {
    let (location, project) = path.resolve(&state.index)?;
    let filename = path.filename.as_str();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let head = method == Method::HEAD;
    let cache_control = if caller.is_authenticated() {
        format!("private, {FILE_CACHE_CONTROL}")
    } else {
        FILE_CACHE_CONTROL.to_owned()
    };
    let file_ref = (&location, &project, filename);
    if let Some(response) =
        unchanged(state, caller, file_ref, wanted, headers, &cache_control).await?
    {
        return Ok(response);
    }
    let request = FileRequest {
        range,
        head,
        socket: slot.is_some(),
    };
    let file = state
        .index
        .open(caller, &location, &project, filename, (wanted, request))
        .await?;
    let content_type = file.content_type;
    if let Some(target) = &file.redirect {
        return Ok(redirect(target));
    }
    let status = StatusCode::from_u16(file.status).unwrap_or(StatusCode::OK);
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, etag(&file.sha256))
        .header(header::CACHE_CONTROL, cache_control);
    if let Some(length) = file.content_length {
        builder = builder.header(header::CONTENT_LENGTH, length);
    }
    if let Some(range) = &file.content_range {
        builder = builder.header(header::CONTENT_RANGE, range);
    }
    let served_stale = file.stale;
    let whole_file = wanted == Wanted::File && status == StatusCode::OK && !head;
    let transfer = if file.socket.is_some() && slot.is_some() {
        "splice"
    } else {
        "copy"
    };
    if whole_file {
        state.metrics.record_download(transfer);
    }
    let body = match (file.socket, slot) {
        _ if head => Body::empty(),
        (Some(socket), Some(slot)) => Body::new(slot.body(socket)),
        (Some(socket), None) => Body::from_stream(socket.into_stream()),
        (None, _) => Body::from_stream(file.body),
    };
    let mut response = builder
        .body(body)
        .map_err(|error| ApiError::BadRequest(format!("cannot build the response: {error}")))?;
    if served_stale {
        super::warn_stale(&mut response);
    }
    Ok(response)
}

/// 304 when `If-None-Match` names the file's ETag. Files never change, so a client holding the
/// ETag needs no bytes, and finding that out takes headers only (RFC 9110 evaluates
/// `If-None-Match` before `Range`).
async fn unchanged(
    state: &AppState,
    caller: &Caller,
    (location, project, filename): (&Location, &ProjectName, &str),
    wanted: Wanted,
    headers: &HeaderMap,
    cache_control: &str,
) -> Result<Option<Response>, ApiError> {
    let Some(condition) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let probe = FileRequest {
        range: None,
        head: true,
        socket: false,
    };
    let sha256 = state
        .index
        .open(caller, location, project, filename, (wanted, probe))
        .await?
        .sha256;
    Ok(none_match(condition, &etag(&sha256)).then(|| not_modified(&sha256, cache_control)))
}

/// The strong ETag of a file: its sha256.
fn etag(sha256: &Sha256) -> String {
    format!("\"sha256:{sha256}\"")
}

/// Whether an `If-None-Match` value is `*` or lists `etag` (weak comparison, as RFC 9110
/// section 13.1.2 asks: a `W/` prefix is ignored).
fn none_match(condition: &str, etag: &str) -> bool {
    condition.trim() == "*" || super::lists_etag(condition, etag)
}

/// 304 with the headers a 200 would carry that let the client keep using its copy.
fn not_modified(sha256: &Sha256, cache_control: &str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::ETAG, etag(sha256).as_str()),
        (header::CACHE_CONTROL, cache_control),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    response
}

/// DELETE of a file or of a whole release.
///
/// # Errors
/// What deleting fails with.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    location: &Location,
    release: &ReleaseRef,
) -> Result<Response, ApiError> {
    state.index.delete(caller, location, release).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly() {
        let ab = "ab".repeat(32);
        let etag = etag(&Sha256::parse(&ab).unwrap());
        assert_eq!(etag, format!("\"sha256:{ab}\""));
        let other = "ac".repeat(32);
        for (condition, expected) in [
            (format!("\"sha256:{ab}\""), true),
            (format!("W/\"sha256:{ab}\""), true),
            (format!("\"other\", \"sha256:{ab}\""), true),
            (" * ".to_owned(), true),
            (format!("\"sha256:{other}\""), false),
            (format!("sha256:{ab}"), false),
            (String::new(), false),
        ] {
            assert_eq!(none_match(&condition, &etag), expected, "{condition}");
        }
    }
}
