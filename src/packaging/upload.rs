//! The legacy upload API's form: the metadata fields twine, uv, poetry and others send beside
//! the file, collected and validated.
//!
//! Specification: <https://docs.pypi.org/api/upload/> (field names are the core metadata names
//! lowercased with `-` → `_`; multiple-use fields are repeated parts). Unknown fields are kept
//! out of the way, never refused.

use base64::Engine as _;

use super::error::PackagingError;
use super::filename::DistFilename;
use super::name::ProjectName;
use super::sha256::Sha256;
use super::version::Version;

/// The longest field value echoed back in an error message.
const MAX_ECHOED_VALUE: usize = 80;

/// Collects form fields in the order they arrive; [`UploadForm::finish`] validates them.
#[derive(Debug, Default)]
pub struct UploadForm {
    fields: Vec<(String, String)>,
}

/// The validated metadata of one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadMetadata {
    /// The `name` field, normalized.
    pub name: ProjectName,
    /// The `version` field.
    pub version: Version,
    /// `sha256_digest`, when sent.
    pub sha256: Option<Sha256>,
    /// `blake2_256_digest`, lowercase hex, when sent.
    pub blake2_256: Option<String>,
    /// `md5_digest`, lowercase hex, when sent.
    pub md5: Option<String>,
    /// `requires_python`, when sent and not empty.
    pub requires_python: Option<String>,
    /// `summary`, when sent and not empty.
    pub summary: Option<String>,
    /// `project_urls` entries, `(label, url)`.
    pub project_urls: Vec<(String, String)>,
    /// `classifiers`, in the order sent.
    pub classifiers: Vec<String>,
}

/// What the form asks the index to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `file_upload`: store a distribution file.
    FileUpload,
    /// `submit` or `doc_upload`: retired by PyPI, answered with "gone".
    Retired(String),
}

impl UploadForm {
    /// Records one text field.
    pub fn add(&mut self, name: &str, value: String) {
        self.fields.push((name.to_owned(), value));
    }

    /// Whether a field named `name` was sent (even empty).
    #[must_use]
    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|(field, _)| field == name)
    }

    /// The `attestations` field (PEP 740), when sent and not empty.
    #[must_use]
    pub fn attestations(&self) -> Option<&str> {
        self.non_empty("attestations")
    }

    fn first(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    fn non_empty(&self, name: &str) -> Option<&str> {
        self.first(name).map(str::trim).filter(|v| !v.is_empty())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// The requested action, from `:action` (and `protocol_version`, which must be `1` when sent).
    ///
    /// # Errors
    /// [`PackagingError::MissingField`] without `:action`, [`PackagingError::InvalidField`] for
    /// an unknown action or protocol version.
    pub fn action(&self) -> Result<Action, PackagingError> {
        if let Some(protocol) = self.first("protocol_version") {
            if protocol.trim() != "1" {
                return Err(invalid_field(
                    "protocol_version",
                    protocol,
                    "is not supported: only protocol version 1 exists",
                ));
            }
        }
        match self.first(":action").map(str::trim) {
            None => Err(PackagingError::MissingField(":action")),
            Some("file_upload") => Ok(Action::FileUpload),
            Some(retired @ ("submit" | "doc_upload")) => Ok(Action::Retired(retired.to_owned())),
            Some(other) => Err(invalid_field(
                ":action",
                other,
                "is not a known action: expected `file_upload`",
            )),
        }
    }

    /// Validates the metadata fields.
    ///
    /// # Errors
    /// A [`PackagingError`] naming the first missing or invalid field.
    pub fn finish(&self) -> Result<UploadMetadata, PackagingError> {
        let name = self
            .non_empty("name")
            .ok_or(PackagingError::MissingField("name"))?;
        let version = self
            .non_empty("version")
            .ok_or(PackagingError::MissingField("version"))?;
        Ok(UploadMetadata {
            name: ProjectName::parse(name)?,
            version: Version::parse(version)?,
            sha256: self
                .digest("sha256_digest", 32)?
                .map(|hex| Sha256::parse(&hex))
                .transpose()?,
            blake2_256: self.digest("blake2_256_digest", 32)?,
            md5: self.digest("md5_digest", 16)?,
            requires_python: self.non_empty("requires_python").map(str::to_owned),
            summary: self.non_empty("summary").map(str::to_owned),
            project_urls: self
                .all("project_urls")
                .filter_map(split_project_url)
                .collect(),
            classifiers: self.all("classifiers").map(str::to_owned).collect(),
        })
    }

    /// A digest field as lowercase hex; accepts hex or (for md5, as the API documents)
    /// URL-safe base64.
    fn digest(&self, field: &'static str, length: usize) -> Result<Option<String>, PackagingError> {
        let Some(value) = self.non_empty(field) else {
            return Ok(None);
        };
        if value.len() == length * 2 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Some(value.to_ascii_lowercase()));
        }
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        match engine.decode(value.trim_end_matches('=')) {
            Ok(bytes) if bytes.len() == length => Ok(Some(hex::encode(bytes))),
            _ => Err(invalid_field(
                field,
                value,
                "is not a hex digest of the right length",
            )),
        }
    }
}

impl UploadMetadata {
    /// Checks that `filename` belongs to this upload's project and version.
    ///
    /// # Errors
    /// [`PackagingError::FieldMismatch`] naming the field that disagrees.
    pub fn check_filename(&self, filename: &DistFilename) -> Result<(), PackagingError> {
        if filename.name() != &self.name {
            return Err(PackagingError::FieldMismatch {
                filename: filename.to_string(),
                field: "name",
                value: self.name.to_string(),
            });
        }
        if filename.version() != &self.version {
            return Err(PackagingError::FieldMismatch {
                filename: filename.to_string(),
                field: "version",
                value: self.version.to_string(),
            });
        }
        Ok(())
    }
}

/// `"Homepage, https://example.org"` → `("Homepage", "https://example.org")`.
fn split_project_url(entry: &str) -> Option<(String, String)> {
    let (label, url) = entry.split_once(',')?;
    let (label, url) = (label.trim(), url.trim());
    (!label.is_empty() && !url.is_empty()).then(|| (label.to_owned(), url.to_owned()))
}

fn invalid_field(field: &'static str, value: &str, reason: &'static str) -> PackagingError {
    let mut shown: String = value.chars().take(MAX_ECHOED_VALUE).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    PackagingError::InvalidField {
        field,
        value: shown.escape_default().to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, &str)]) -> UploadForm {
        let mut form = UploadForm::default();
        for (name, value) in fields {
            form.add(name, (*value).to_owned());
        }
        form
    }

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn collects_metadata_and_ignores_unknown_fields() {
        let form = form(&[
            (":action", "file_upload"),
            ("protocol_version", "1"),
            ("name", "Foo.Bar"),
            ("version", "1.0"),
            ("sha256_digest", &SHA.to_uppercase()),
            ("md5_digest", "CY9rzUYh03PK3k6DJie09g"),
            ("requires_python", ">=3.8"),
            ("project_urls", "Homepage, https://example.org"),
            ("project_urls", "Source,https://example.org/src"),
            ("project_urls", "broken"),
            ("classifiers", "A :: B"),
            ("attestations", "[]"),
            ("metadata_version", "2.5"),
            ("import_names", "foo"),
        ]);
        assert_eq!(form.action().unwrap(), Action::FileUpload);
        let metadata = form.finish().unwrap();
        assert_eq!(metadata.name.as_str(), "foo-bar");
        assert_eq!(metadata.sha256.as_ref().map(Sha256::as_str), Some(SHA));
        assert_eq!(
            metadata.md5.as_deref(),
            Some("098f6bcd4621d373cade4e832627b4f6")
        );
        assert_eq!(metadata.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(
            metadata.project_urls,
            vec![
                ("Homepage".to_owned(), "https://example.org".to_owned()),
                ("Source".to_owned(), "https://example.org/src".to_owned())
            ]
        );
        let filename = DistFilename::parse("foo_bar-1.0.0-py3-none-any.whl").unwrap();
        metadata.check_filename(&filename).unwrap();
    }

    #[test]
    fn error_messages_name_the_bad_field() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (&[], "missing form field `:action`"),
            (
                &[(":action", "frobnicate")],
                "invalid form field `:action`: `frobnicate` is not a known action: expected `file_upload`",
            ),
            (
                &[(":action", "file_upload"), ("protocol_version", "2")],
                "invalid form field `protocol_version`: `2` is not supported: only protocol version 1 exists",
            ),
            (
                &[(":action", "file_upload"), ("version", "1")],
                "missing form field `name`",
            ),
            (
                &[(":action", "file_upload"), ("name", "x")],
                "missing form field `version`",
            ),
            (
                &[
                    (":action", "file_upload"),
                    ("name", "x"),
                    ("version", "1"),
                    ("sha256_digest", "abc"),
                ],
                "invalid form field `sha256_digest`: `abc` is not a hex digest of the right length",
            ),
        ];
        for (fields, message) in cases {
            let form = form(fields);
            let error = form.action().and_then(|_| form.finish()).unwrap_err();
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn retired_actions_are_recognised() {
        let form = form(&[(":action", "submit")]);
        assert_eq!(form.action().unwrap(), Action::Retired("submit".to_owned()));
    }

    #[test]
    fn filename_must_match_name_and_version() {
        let metadata = form(&[("name", "foo"), ("version", "1.0")])
            .finish()
            .unwrap();
        let other_name = DistFilename::parse("bar-1.0.tar.gz").unwrap();
        assert_eq!(
            metadata
                .check_filename(&other_name)
                .unwrap_err()
                .to_string(),
            "filename `bar-1.0.tar.gz` does not match form field `name` = `foo`"
        );
        let other_version = DistFilename::parse("foo-2.0.tar.gz").unwrap();
        assert_eq!(
            metadata
                .check_filename(&other_version)
                .unwrap_err()
                .to_string(),
            "filename `foo-2.0.tar.gz` does not match form field `version` = `1.0`"
        );
    }
}
