//! The legacy upload endpoint: a `multipart/form-data` POST, handed to the index as a sequence
//! of form parts whose bytes are read as the index asks for them (the file is never held
//! whole).
//!
//! Specification: <https://docs.pypi.org/api/upload/>. Answers 200 on success and for an
//! identical re-upload (as PyPI does), never redirects.

use axum::RequestExt as _;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{StatusCode, header};

use super::AppState;
use super::error::ApiError;
use super::route::Scope;
use crate::index::{Caller, IndexError, PartHead, UploadOutcome, UploadParts, UploadRequest};

/// POST of an upload.
///
/// # Errors
/// Everything the index refuses.
pub async fn upload(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    request: Request,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let parts = MultipartParts::new(&content_type, request);
    let upload = UploadRequest {
        registry: scope.registry.clone(),
        namespace: scope.namespace.clone(),
        declared_length,
        content_type,
        parts,
    };
    let status_text = match state.index.upload(caller, upload).await? {
        UploadOutcome::Created => "OK\n",
        UploadOutcome::AlreadyExists => "OK: the identical file was already stored\n",
    };
    Ok((StatusCode::OK, status_text).into_response())
}

/// A `multipart/form-data` body read part by part (within the server's body limit).
struct MultipartParts {
    /// The parser, or why the body cannot be parsed (said when the index first reads it).
    multipart: Result<multer::Multipart<'static>, String>,
    field: Option<multer::Field<'static>>,
}

impl MultipartParts {
    fn new(content_type: &str, request: Request) -> Self {
        let multipart = multer::parse_boundary(content_type)
            .map(|boundary| {
                let body = request.with_limited_body().into_body();
                multer::Multipart::new(body.into_data_stream(), boundary)
            })
            .map_err(|_| "Invalid `boundary` for `multipart/form-data` request".to_owned());
        Self {
            multipart,
            field: None,
        }
    }
}

impl UploadParts for MultipartParts {
    async fn next_part(&mut self) -> Result<Option<PartHead>, IndexError> {
        // The previous part is dropped first: the parser skips what was left of it.
        self.field = None;
        let multipart = self
            .multipart
            .as_mut()
            .map_err(|reason| IndexError::BadForm(reason.clone()))?;
        let Some(field) = multipart.next_field().await.map_err(form_error)? else {
            return Ok(None);
        };
        let head = PartHead {
            name: field.name().unwrap_or_default().to_owned(),
            filename: field.file_name().map(str::to_owned),
        };
        self.field = Some(field);
        Ok(Some(head))
    }

    async fn next_chunk(&mut self) -> Result<Option<Bytes>, IndexError> {
        match &mut self.field {
            Some(field) => field.chunk().await.map_err(form_error),
            None => Ok(None),
        }
    }
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "used as `map_err(form_error)`"
)]
fn form_error(error: multer::Error) -> IndexError {
    IndexError::BodyIncomplete(crate::telemetry::error_chain(&error))
}
