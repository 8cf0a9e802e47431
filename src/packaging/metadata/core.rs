//! Core metadata: the RFC 822-style header block of METADATA and PKG-INFO, and PEP 643's
//! judgement of an sdist's metadata.

use super::{MetadataError, display};

/// The few core-metadata fields the index needs, from a METADATA or PKG-INFO file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreMetadata {
    /// `Metadata-Version`, e.g. `2.3`.
    pub metadata_version: String,
    /// `Name`, as written (not normalized).
    pub name: String,
    /// `Version`, as written (not normalized).
    pub version: String,
    /// `Requires-Python`, a version specifier set.
    pub requires_python: Option<String>,
    /// Every `Requires-Dist`, a PEP 508 requirement each.
    pub requires_dist: Vec<String>,
    /// Every `Provides-Extra`.
    pub provides_extra: Vec<String>,
    /// Every `Dynamic` field name (PEP 643).
    pub dynamic: Vec<String>,
    /// `Summary`, a one-line description.
    pub summary: Option<String>,
}

impl CoreMetadata {
    /// Parses the RFC 822-style header block of a METADATA or PKG-INFO file: `Field: value`
    /// lines, folded continuation lines (leading whitespace), up to the first empty line (the
    /// rest is the description). Field names are case-insensitive; unknown fields are ignored.
    ///
    /// # Errors
    /// [`MetadataError::NotUtf8`], [`MetadataError::InvalidLine`], a missing or empty
    /// `Metadata-Version`, `Name` or `Version` ([`MetadataError::MissingField`]), or a repeated
    /// single-use field ([`MetadataError::RepeatedField`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        let text = std::str::from_utf8(bytes).map_err(|_| MetadataError::NotUtf8)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let (mut metadata_version, mut name, mut version) = (None, None, None);
        let (mut requires_python, mut summary) = (None, None);
        let (mut requires_dist, mut provides_extra, mut dynamic) = (vec![], vec![], vec![]);
        for (field, value) in parse_headers(text)? {
            match field.to_ascii_lowercase().as_str() {
                "requires-dist" => requires_dist.push(value),
                "provides-extra" => provides_extra.push(value),
                "dynamic" => dynamic.push(value),
                "metadata-version" => set_once(&mut metadata_version, "Metadata-Version", value)?,
                "name" => set_once(&mut name, "Name", value)?,
                "version" => set_once(&mut version, "Version", value)?,
                "requires-python" => set_once(&mut requires_python, "Requires-Python", value)?,
                "summary" => set_once(&mut summary, "Summary", value)?,
                _ => {}
            }
        }
        let required = |value: Option<String>, field| {
            value
                .filter(|value| !value.is_empty())
                .ok_or(MetadataError::MissingField(field))
        };
        Ok(Self {
            metadata_version: required(metadata_version, "Metadata-Version")?,
            name: required(name, "Name")?,
            version: required(version, "Version")?,
            requires_python: requires_python.filter(|value| !value.is_empty()),
            requires_dist,
            provides_extra,
            dynamic,
            summary: summary.filter(|value| !value.is_empty()),
        })
    }

    /// PEP 643: an sdist's metadata is reliable when `Metadata-Version` is at least 2.2 and none
    /// of `Name`, `Version`, `Requires-Dist`, `Requires-Python`, `Provides-Extra` is `Dynamic`.
    pub fn is_reliable_for_sdist(&self) -> bool {
        const FIXED: [&str; 5] = [
            "Name",
            "Version",
            "Requires-Dist",
            "Requires-Python",
            "Provides-Extra",
        ];
        let version = self
            .metadata_version
            .split_once('.')
            .and_then(|(major, minor)| {
                Some((major.parse::<u64>().ok()?, minor.parse::<u64>().ok()?))
            });
        let is_dynamic = |field: &str| {
            self.dynamic
                .iter()
                .any(|name| name.eq_ignore_ascii_case(field))
        };
        version.is_some_and(|version| version >= (2, 2)) && !FIXED.into_iter().any(is_dynamic)
    }
}

fn set_once(
    slot: &mut Option<String>,
    field: &'static str,
    value: String,
) -> Result<(), MetadataError> {
    match slot.replace(value) {
        Some(_) => Err(MetadataError::RepeatedField(field)),
        None => Ok(()),
    }
}

/// Splits the header block into `(field, value)` pairs, unfolding continuation lines.
fn parse_headers(text: &str) -> Result<Vec<(&str, String)>, MetadataError> {
    let mut headers: Vec<(&str, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let invalid = || MetadataError::InvalidLine(display(line.as_bytes()));
        if line.starts_with([' ', '\t']) {
            let (_, value) = headers.last_mut().ok_or_else(invalid)?;
            value.push_str(line);
            continue;
        }
        let (field, value) = line.split_once(':').ok_or_else(invalid)?;
        if field.is_empty() || !field.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(invalid());
        }
        headers.push((field, value.to_owned()));
    }
    Ok(headers
        .into_iter()
        .map(|(field, value)| (field, value.trim().to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "Metadata-Version: 2.2\n\
        Name: foo-bar\n\
        Version: 1.0\n\
        Summary: A summary\n  folded over two lines\n\
        Requires-Python: >=3.8\n\
        Requires-Dist: requests>=2\n\
        requires-dist: tomli; python_version < \"3.11\"\n\
        Provides-Extra: test\n\
        Requires-Dist: pytest; extra == \"test\"\n\
        Dynamic: Classifier\n\
        Classifier: Programming Language :: Python\n\
        Description-Content-Type: text/markdown\n\
        \n\
        Name: not-a-header\n\
        # The description\n";

    #[test]
    fn parses_core_metadata() {
        let metadata = CoreMetadata::parse(FULL.as_bytes()).unwrap();
        assert_eq!(
            metadata,
            CoreMetadata {
                metadata_version: "2.2".to_owned(),
                name: "foo-bar".to_owned(),
                version: "1.0".to_owned(),
                requires_python: Some(">=3.8".to_owned()),
                requires_dist: vec![
                    "requests>=2".to_owned(),
                    "tomli; python_version < \"3.11\"".to_owned(),
                    "pytest; extra == \"test\"".to_owned(),
                ],
                provides_extra: vec!["test".to_owned()],
                dynamic: vec!["Classifier".to_owned()],
                summary: Some("A summary  folded over two lines".to_owned()),
            }
        );
        let crlf = FULL.replace('\n', "\r\n");
        assert_eq!(CoreMetadata::parse(crlf.as_bytes()), Ok(metadata));
    }

    #[test]
    fn parses_minimal_metadata() {
        let metadata =
            CoreMetadata::parse(b"metadata-version: 1.0\nNAME: x\nVersion:1\nSummary: \n").unwrap();
        assert_eq!(
            (metadata.name.as_str(), metadata.version.as_str()),
            ("x", "1")
        );
        assert_eq!((metadata.summary, metadata.requires_python), (None, None));
        assert!(metadata.requires_dist.is_empty() && metadata.dynamic.is_empty());
    }

    #[test]
    fn refuses_invalid_metadata() {
        let cases: [(&[u8], MetadataError); 8] = [
            (
                b"Metadata-Version: 2.1\nVersion: 1.0\n",
                MetadataError::MissingField("Name"),
            ),
            (
                b"Metadata-Version: 2.1\nName: x\nVersion: \n",
                MetadataError::MissingField("Version"),
            ),
            (
                b"Name: x\nVersion: 1\n",
                MetadataError::MissingField("Metadata-Version"),
            ),
            (
                b"Metadata-Version: 2.1\nName: x\n\nVersion: 1\n",
                MetadataError::MissingField("Version"),
            ),
            (
                b"Metadata-Version: 2.1\nName: \xff\nVersion: 1\n",
                MetadataError::NotUtf8,
            ),
            (
                b"Metadata-Version: 2.1\nName: x\nVersion: 1\n\n\xff",
                MetadataError::NotUtf8,
            ),
            (
                b"Metadata-Version: 2.1\nName x\n",
                MetadataError::InvalidLine("Name x".to_owned()),
            ),
            (b"Name: a\nname: b\n", MetadataError::RepeatedField("Name")),
        ];
        for (bytes, error) in cases {
            assert_eq!(
                CoreMetadata::parse(bytes),
                Err(error),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
        let continuation = CoreMetadata::parse(b"  folded\nName: x\n").unwrap_err();
        assert_eq!(
            continuation,
            MetadataError::InvalidLine("  folded".to_owned())
        );
        let bad_name = CoreMetadata::parse(b"Bad Field: x\n").unwrap_err();
        assert_eq!(
            bad_name,
            MetadataError::InvalidLine("Bad Field: x".to_owned())
        );
    }

    #[test]
    fn judges_sdist_reliability() {
        let cases: [(&str, &[&str], bool); 13] = [
            ("2.2", &[], true),
            ("2.4", &["Classifier", "License"], true),
            ("2.10", &[], true),
            ("3.0", &[], true),
            ("2.1", &[], false),
            ("1.0", &[], false),
            ("2", &[], false),
            ("two", &[], false),
            ("2.2", &["Requires-Dist"], false),
            ("2.2", &["requires-python"], false),
            ("2.2", &["Provides-Extra"], false),
            ("2.2", &["Name"], false),
            ("2.3", &["Classifier", "VERSION"], false),
        ];
        for (version, dynamic, reliable) in cases {
            let dynamic_lines: String = dynamic
                .iter()
                .map(|field| ["Dynamic: ", field, "\n"].concat())
                .collect();
            let text = format!("Metadata-Version: {version}\nName: x\nVersion: 1\n{dynamic_lines}");
            let metadata = CoreMetadata::parse(text.as_bytes()).unwrap();
            assert_eq!(
                metadata.is_reliable_for_sdist(),
                reliable,
                "{version} {dynamic:?}"
            );
        }
    }
}
