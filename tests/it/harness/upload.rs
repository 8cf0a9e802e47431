//! The legacy upload API's form (`:action=file_upload`, what twine and uv send), for the tests
//! that post an upload by hand: one builder, sent as a reqwest multipart form or encoded byte
//! by byte for a bare connection.
//!
//! [Upload API](https://docs.pypi.org/api/upload/).

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use sha2::{Digest as _, Sha256};

use super::DistSpec;

/// The boundary of the forms [`UploadForm::raw`] encodes.
pub const BOUNDARY: &str = "oci-pypi-test-upload-3f9a1c";

/// The text fields and the file part of one upload, before encoding: by default
/// `:action=file_upload`, `protocol_version=1`, `name`, `version`, then `content`.
#[derive(Clone, Debug)]
pub struct UploadForm {
    fields: Vec<(String, String)>,
    file: Option<FilePart>,
    /// Fields sent after the file part.
    trailing: Vec<(String, String)>,
    /// Send the file in chunks of this size with this pause before each.
    trickle: Option<(usize, Duration)>,
    /// Filenames as given (reqwest would otherwise send `filename*=` for a `/`).
    verbatim_filenames: bool,
}

#[derive(Clone, Debug)]
struct FilePart {
    /// `None`: a `content` part without a filename.
    filename: Option<String>,
    bytes: Vec<u8>,
}

impl UploadForm {
    /// The upload of `bytes` as `filename` for release `version` of `name`.
    pub fn new(name: &str, version: &str, filename: &str, bytes: &[u8]) -> Self {
        Self::empty()
            .field(":action", "file_upload")
            .field("protocol_version", "1")
            .field("name", name)
            .field("version", version)
            .file(Some(filename), bytes)
    }

    /// The upload of `spec`'s wheel, `bytes`: its name, version and wheel filename.
    pub fn wheel(spec: &DistSpec, bytes: &[u8]) -> Self {
        Self::new(&spec.name, &spec.version, &spec.wheel_filename(), bytes)
    }

    /// A form without any field or file, for forms that are wrong from the start.
    pub fn empty() -> Self {
        UploadForm {
            fields: Vec::new(),
            file: None,
            trailing: Vec::new(),
            trickle: None,
            verbatim_filenames: false,
        }
    }

    /// Adds a field before the file part (a repeated name adds another value).
    pub fn field(mut self, name: &str, value: impl Into<String>) -> Self {
        self.fields.push((name.to_owned(), value.into()));
        self
    }

    /// Sets a field (replacing any value it had).
    pub fn set(self, name: &str, value: impl Into<String>) -> Self {
        self.without(name).field(name, value)
    }

    /// Leaves a field out.
    pub fn without(mut self, name: &str) -> Self {
        self.fields.retain(|(field, _)| field != name);
        self
    }

    /// Sends a field after the file part (instead of before it, if it was there).
    pub fn after_file(mut self, name: &str, value: impl Into<String>) -> Self {
        self.fields.retain(|(field, _)| field != name);
        self.trailing.push((name.to_owned(), value.into()));
        self
    }

    /// Adds `sha256_digest`: the file's true digest.
    pub fn sha256(self) -> Self {
        let digest = hex::encode(Sha256::digest(self.bytes()));
        self.field("sha256_digest", digest)
    }

    /// Replaces the file part; `filename` `None` sends a `content` part without one.
    pub fn file(mut self, filename: Option<&str>, bytes: &[u8]) -> Self {
        self.file = Some(FilePart {
            filename: filename.map(str::to_owned),
            bytes: bytes.to_vec(),
        });
        self
    }

    /// Leaves the file part out.
    pub fn no_file(mut self) -> Self {
        self.file = None;
        self
    }

    /// Streams the file in chunks of `chunk` bytes, pausing `pause` before each: an upload
    /// that takes a while.
    pub fn trickle(mut self, chunk: usize, pause: Duration) -> Self {
        self.trickle = Some((chunk, pause));
        self
    }

    /// Sends filenames verbatim in [`UploadForm::form`] (reqwest would otherwise send
    /// `filename*=` for a `/`, which the server's parser does not read as a filename).
    pub fn verbatim_filenames(mut self) -> Self {
        self.verbatim_filenames = true;
        self
    }

    /// The file's bytes (none without a file part).
    pub fn bytes(&self) -> &[u8] {
        self.file.as_ref().map_or(&[], |file| file.bytes.as_slice())
    }

    /// As reqwest's multipart encoder sends it.
    pub fn form(&self) -> Form {
        let mut form = Form::new();
        if self.verbatim_filenames {
            form = form.percent_encode_noop();
        }
        for (name, value) in &self.fields {
            form = form.text(name.clone(), value.clone());
        }
        if let Some(file) = &self.file {
            let mut part = match self.trickle {
                None => Part::bytes(file.bytes.clone()),
                Some((chunk, pause)) => trickled(&file.bytes, chunk, pause),
            };
            if let Some(filename) = &file.filename {
                part = part.file_name(filename.clone());
            }
            form = form.part("content", part);
        }
        for (name, value) in &self.trailing {
            form = form.text(name.clone(), value.clone());
        }
        form
    }

    /// Encoded by hand with [`BOUNDARY`]: every byte of names and filenames as given.
    pub fn raw(&self) -> Vec<u8> {
        let mut body = self.raw_head();
        if let Some(file) = &self.file {
            body.extend_from_slice(&file.bytes);
            body.extend_from_slice(b"\r\n");
        }
        for (name, value) in &self.trailing {
            body.extend_from_slice(&raw_field(name, value));
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        body
    }

    /// The text fields and, if any, the file part's headers: everything [`UploadForm::raw`]
    /// sends before the file's bytes.
    pub fn raw_head(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, value) in &self.fields {
            body.extend_from_slice(&raw_field(name, value));
        }
        if let Some(file) = &self.file {
            let filename = file
                .filename
                .as_ref()
                .map(|filename| format!("; filename=\"{filename}\""))
                .unwrap_or_default();
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"{filename}\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
        }
        body
    }
}

/// One text field of a hand-built multipart body.
fn raw_field(name: &str, value: &str) -> Vec<u8> {
    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
        .into_bytes()
}

/// A part whose body is `bytes` in chunks of `chunk`, each after a pause of `pause`.
fn trickled(bytes: &[u8], chunk: usize, pause: Duration) -> Part {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(chunk).map(|c| Ok(c.to_vec())).collect();
    let body = futures_util::StreamExt::then(
        futures_util::stream::iter(chunks),
        move |chunk| async move {
            tokio::time::sleep(pause).await;
            chunk
        },
    );
    Part::stream_with_length(reqwest::Body::wrap_stream(body), bytes.len() as u64)
}
