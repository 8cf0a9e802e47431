//! Reading the parts of an upload form within limits: text fields are kept (bounded), the
//! `content` part is streamed into a [`PendingUpload`] as it arrives, other file parts and
//! unused large fields are read and dropped.

use super::pending::PendingUpload;
use super::{PartHead, UploadParts};
use crate::index::{Caller, Index, IndexError, Location};
use crate::packaging::UploadForm;

/// The largest text field kept in memory.
const MAX_FIELD_SIZE: usize = 256 * 1024;
/// The largest total of the text fields kept in memory.
const MAX_KEPT_SIZE: usize = 1024 * 1024;
/// The largest total of every part but the file: text fields, the long description (read but
/// not kept) and other file parts such as `gpg_signature`.
pub(super) const MAX_FORM_SIZE: usize = 4 * 1024 * 1024;
/// Fields read and counted but not kept: the index has no use for them, and they are the
/// large ones (the long description, the README, is often hundreds of kilobytes).
const DISCARDED_FIELDS: [&str; 1] = ["description"];

/// The form read so far.
pub(super) struct FormReader<P> {
    parts: P,
    pub(super) form: UploadForm,
    /// Bytes of every part but the file, so far.
    form_size: usize,
    /// Bytes of the fields kept, so far.
    kept_size: usize,
}

impl<P: UploadParts> FormReader<P> {
    pub(super) fn new(parts: P) -> Self {
        Self {
            parts,
            form: UploadForm::default(),
            form_size: 0,
            kept_size: 0,
        }
    }

    /// Reads every part: text fields into the form, the `content` part into an upload begun
    /// in `pending` (left there on error, so that it can be abandoned).
    pub(super) async fn read(
        &mut self,
        index: &Index,
        caller: &Caller,
        location: &Location,
        pending: &mut Option<PendingUpload>,
    ) -> Result<(), IndexError> {
        while let Some(PartHead { name, filename }) = self.parts.next_part().await? {
            if name == "content" {
                if pending.is_some() {
                    return Err(IndexError::BadForm(
                        "the form has more than one `content` part".to_owned(),
                    ));
                }
                let filename = filename.ok_or(IndexError::MissingContent)?;
                let upload = pending.insert(
                    index
                        .begin_upload(caller, location, &filename, &self.form)
                        .await?,
                );
                while let Some(chunk) = self.parts.next_chunk().await? {
                    upload.write(chunk).await?;
                }
            } else if filename.is_some() || DISCARDED_FIELDS.contains(&name.as_str()) {
                // Other file parts (`gpg_signature`) and unused large fields are not kept;
                // drain them within limits.
                while let Some(chunk) = self.parts.next_chunk().await? {
                    count_form(&mut self.form_size, &name, chunk.len())?;
                }
            } else {
                let value = self.read_field(&name).await?;
                self.form.add(&name, value);
            }
        }
        Ok(())
    }

    /// A text field kept in the form.
    async fn read_field(&mut self, name: &str) -> Result<String, IndexError> {
        let mut value = Vec::new();
        while let Some(chunk) = self.parts.next_chunk().await? {
            count_form(&mut self.form_size, name, chunk.len())?;
            if value.len() + chunk.len() > MAX_FIELD_SIZE {
                return Err(IndexError::BadForm(format!(
                    "form field `{}` is larger than {MAX_FIELD_SIZE} bytes (256 KiB)",
                    name.escape_default()
                )));
            }
            self.kept_size += chunk.len();
            if self.kept_size > MAX_KEPT_SIZE {
                return Err(IndexError::BadForm(format!(
                    "the form fields kept in memory (at `{}`) exceed {MAX_KEPT_SIZE} bytes (1 MiB)",
                    name.escape_default()
                )));
            }
            value.extend_from_slice(&chunk);
        }
        String::from_utf8(value).map_err(|_| {
            IndexError::BadForm(format!(
                "form field `{}` is not UTF-8",
                name.escape_default()
            ))
        })
    }
}

/// Adds `length` to the running total of form bytes, refusing past the limit.
fn count_form(total: &mut usize, name: &str, length: usize) -> Result<(), IndexError> {
    *total += length;
    if *total > MAX_FORM_SIZE {
        return Err(IndexError::BadForm(format!(
            "the form fields (at `{}`) exceed {MAX_FORM_SIZE} bytes (4 MiB)",
            name.escape_default()
        )));
    }
    Ok(())
}
