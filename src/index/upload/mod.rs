//! Accepting an upload through the legacy upload API (<https://docs.pypi.org/api/upload/>):
//! everything from the request's head to the stored file. What can be refused from the head
//! alone (size, place, rights, credentials, body type) is, before a byte of the body is read;
//! then the form is read part by part, the file streamed to the store as it arrives
//! ([`pending`]), and the upload finished or abandoned as a whole.

mod form;
mod pending;
mod slots;

use std::future::Future;

use bytes::Bytes;

pub use super::update::ReleaseLocks;
use super::{Caller, Index, IndexError};
use form::{FormReader, MAX_FORM_SIZE};
use pending::refuse_without_file;
pub use slots::UploadSlots;

/// Room for the multipart framing (boundaries, part headers) in a body's declared length.
const FRAMING_ALLOWANCE: u64 = 64 * 1024;

/// How an accepted upload went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadOutcome {
    /// The file was stored.
    Created,
    /// The identical file was already stored; nothing changed.
    AlreadyExists,
}

/// The head of one part of an upload form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHead {
    /// The form field's name (`content` for the file).
    pub name: String,
    /// The filename, for file parts.
    pub filename: Option<String>,
}

/// An upload body as a sequence of form parts, read one after the other (the HTTP layer
/// adapts a `multipart/form-data` body to it).
pub trait UploadParts: Send {
    /// The head of the next part; `None` after the last. The rest of the previous part, if
    /// any, is skipped.
    ///
    /// # Errors
    /// [`IndexError::BadForm`] for a body that is not a well-formed form,
    /// [`IndexError::BodyIncomplete`] for one that could not be read to its end.
    fn next_part(&mut self) -> impl Future<Output = Result<Option<PartHead>, IndexError>> + Send;

    /// The next bytes of the current part; `None` at its end.
    ///
    /// # Errors
    /// As [`UploadParts::next_part`].
    fn next_chunk(&mut self) -> impl Future<Output = Result<Option<Bytes>, IndexError>> + Send;
}

/// An upload as it arrives.
#[derive(Debug)]
pub struct UploadRequest<P> {
    /// The registry segment of the URL (`ghcr.io`, `local`).
    pub registry: String,
    /// The namespace the file goes to.
    pub namespace: String,
    /// The body's declared length (`Content-Length`), when there is one.
    pub declared_length: Option<u64>,
    /// The body's media type (`Content-Type`), as sent.
    pub content_type: String,
    /// The body.
    pub parts: P,
}

impl Index {
    /// Takes an upload: checks what the request's head allows, reads the form, streams the
    /// file to the store and stores it, or leaves the store as it was.
    ///
    /// # Errors
    /// Everything an upload can be refused for (too large, not allowed, no credentials, too
    /// many at once, a malformed form or file, digests that disagree, a conflicting file),
    /// and store failures.
    pub async fn upload<P: UploadParts>(
        &self,
        caller: &Caller,
        request: UploadRequest<P>,
    ) -> Result<UploadOutcome, IndexError> {
        let limit = self.options.max_upload_size;
        let form_allowance = MAX_FORM_SIZE as u64 + FRAMING_ALLOWANCE;
        if request
            .declared_length
            .is_some_and(|length| length > limit.saturating_add(form_allowance))
        {
            return Err(IndexError::TooLarge { limit });
        }
        let location = self.locate(&request.registry, &request.namespace)?;
        self.authorize_upload(caller, &location)?;
        self.refuse_anonymous_upload(caller, &location).await?;
        let _slot = self.uploads.take()?;
        if !request
            .content_type
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("multipart/form-data")
        {
            return Err(IndexError::BadForm(format!(
                "an upload is a `multipart/form-data` body, not `{}`",
                crate::packaging::shown(&request.content_type)
            )));
        }
        let mut reader = FormReader::new(request.parts);
        let mut pending = None;
        let read = reader.read(self, caller, &location, &mut pending).await;
        match (read, pending) {
            (Err(error), Some(pending)) => {
                pending.abort().await;
                Err(error)
            }
            (Err(error), None) => Err(error),
            (Ok(()), None) => Err(refuse_without_file(&reader.form)),
            (Ok(()), Some(pending)) => pending.finish(&reader.form).await,
        }
    }
}

/// The time now, RFC 3339 UTC with seconds (`2024-11-20T20:23:36Z`).
#[must_use]
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    now.format(&format).unwrap_or_default()
}
