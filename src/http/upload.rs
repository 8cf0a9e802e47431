//! The legacy upload endpoint: a `multipart/form-data` POST whose `content` part is streamed to
//! the registry as it arrives; the other parts are form fields.
//!
//! Specification: <https://docs.pypi.org/api/upload/>. Answers 200 on success and for an
//! identical re-upload (as PyPI does), never redirects.

use std::sync::Arc;

use axum::extract::{FromRequest as _, Multipart, Request};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::AppState;
use super::error::ApiError;
use super::route::Scope;
use crate::index::{Caller, IndexError, PendingUpload, UploadOutcome, refuse_without_file};
use crate::packaging::UploadForm;

/// The largest text field kept in memory.
const MAX_FIELD_SIZE: usize = 256 * 1024;
/// The largest total of the text fields kept in memory.
const MAX_KEPT_SIZE: usize = 1024 * 1024;
/// The largest total of every part but the file: text fields, the long description (read but
/// not kept) and other file parts such as `gpg_signature`.
const MAX_FORM_SIZE: usize = 4 * 1024 * 1024;
/// Room for the multipart framing (boundaries, part headers) in a body's declared length.
const FRAMING_ALLOWANCE: u64 = 64 * 1024;
/// Fields read and counted but not kept: the index has no use for them, and they are the
/// large ones (the long description, the README, is often hundreds of kilobytes).
const DISCARDED_FIELDS: [&str; 1] = ["description"];

/// The server-wide bound on uploads in progress (`--max-concurrent-uploads`).
#[derive(Debug, Clone)]
pub struct UploadSlots {
    slots: Option<Arc<Semaphore>>,
    limit: usize,
}

impl UploadSlots {
    /// At most `limit` uploads at once; 0: no bound.
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Self {
            slots: (limit > 0).then(|| Arc::new(Semaphore::new(limit))),
            limit,
        }
    }

    /// A place for one upload, held until dropped.
    fn take(&self) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        let Some(slots) = &self.slots else {
            return Ok(None);
        };
        Arc::clone(slots)
            .try_acquire_owned()
            .map(Some)
            .map_err(|_| ApiError::Busy { limit: self.limit })
    }
}

/// POST of an upload.
///
/// # Errors
/// Oversized or malformed bodies, and everything the index refuses.
pub async fn upload(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    request: Request,
) -> Result<Response, ApiError> {
    let limit = state.index.options().max_upload_size;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let form_allowance = MAX_FORM_SIZE as u64 + FRAMING_ALLOWANCE;
    if declared.is_some_and(|length| length > limit.saturating_add(form_allowance)) {
        return Err(IndexError::TooLarge { limit }.into());
    }
    // Everything that can be refused from the head alone is, before the body is read.
    let location = state.index.locate(&scope.registry, &scope.namespace)?;
    state.index.authorize_upload(caller, &location)?;
    state
        .index
        .refuse_anonymous_upload(caller, &location)
        .await?;
    let _slot = state.uploads.take()?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Err(ApiError::BadRequest(format!(
            "an upload is a `multipart/form-data` body, not `{}`",
            crate::packaging::shown(content_type)
        )));
    }
    let multipart = Multipart::from_request(request, state)
        .await
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let mut reader = FormReader {
        multipart,
        form: UploadForm::default(),
        form_size: 0,
        kept_size: 0,
    };
    let mut pending = None;
    let read = reader.read(state, caller, &location, &mut pending).await;
    let outcome = match (read, pending) {
        (Err(error), Some(pending)) => {
            pending.abort().await;
            return Err(error);
        }
        (Err(error), None) => return Err(error),
        (Ok(()), None) => return Err(refuse_without_file(&reader.form).into()),
        (Ok(()), Some(pending)) => pending.finish(&reader.form).await?,
    };
    let status_text = match outcome {
        UploadOutcome::Created => "OK\n",
        UploadOutcome::AlreadyExists => "OK: the identical file was already stored\n",
    };
    Ok((StatusCode::OK, status_text).into_response())
}

struct FormReader {
    multipart: Multipart,
    form: UploadForm,
    /// Bytes of every part but the file, so far.
    form_size: usize,
    /// Bytes of the fields kept, so far.
    kept_size: usize,
}

impl FormReader {
    /// Reads every part: text fields into the form, the `content` part into an upload.
    async fn read(
        &mut self,
        state: &AppState,
        caller: &Caller,
        location: &crate::index::Location,
        pending: &mut Option<PendingUpload>,
    ) -> Result<(), ApiError> {
        loop {
            let field = self.multipart.next_field().await.map_err(body_error)?;
            let Some(mut field) = field else {
                return Ok(());
            };
            let name = field.name().unwrap_or_default().to_owned();
            if name == "content" {
                if pending.is_some() {
                    return Err(ApiError::BadRequest(
                        "the form has more than one `content` part".to_owned(),
                    ));
                }
                let filename = field
                    .file_name()
                    .ok_or(IndexError::MissingContent)?
                    .to_owned();
                let upload = pending.insert(
                    state
                        .index
                        .begin_upload(caller, location, &filename, &self.form)
                        .await?,
                );
                while let Some(chunk) = field.chunk().await.map_err(body_error)? {
                    upload.write(chunk).await?;
                }
            } else if field.file_name().is_some() || DISCARDED_FIELDS.contains(&name.as_str()) {
                // Other file parts (`gpg_signature`) and unused large fields are not kept;
                // drain them within limits.
                while let Some(chunk) = field.chunk().await.map_err(body_error)? {
                    count_form(&mut self.form_size, &name, chunk.len())?;
                }
            } else {
                let mut value = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(body_error)? {
                    count_form(&mut self.form_size, &name, chunk.len())?;
                    if value.len() + chunk.len() > MAX_FIELD_SIZE {
                        return Err(ApiError::BadRequest(format!(
                            "form field `{}` is larger than {MAX_FIELD_SIZE} bytes (256 KiB)",
                            name.escape_default()
                        )));
                    }
                    self.kept_size += chunk.len();
                    if self.kept_size > MAX_KEPT_SIZE {
                        return Err(ApiError::BadRequest(format!(
                            "the form fields kept in memory (at `{}`) exceed {MAX_KEPT_SIZE} \
                             bytes (1 MiB)",
                            name.escape_default()
                        )));
                    }
                    value.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(value).map_err(|_| {
                    ApiError::BadRequest(format!(
                        "form field `{}` is not UTF-8",
                        name.escape_default()
                    ))
                })?;
                self.form.add(&name, text);
            }
        }
    }
}

/// Adds `length` to the running total of form bytes, refusing past the limit.
fn count_form(total: &mut usize, name: &str, length: usize) -> Result<(), ApiError> {
    *total += length;
    if *total > MAX_FORM_SIZE {
        return Err(ApiError::BadRequest(format!(
            "the form fields (at `{}`) exceed {MAX_FORM_SIZE} bytes (4 MiB)",
            name.escape_default()
        )));
    }
    Ok(())
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "used as `map_err(body_error)`"
)]
fn body_error(error: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::Index(IndexError::BodyIncomplete(error.body_text()))
}
