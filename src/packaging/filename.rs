//! Distribution filenames: wheels and source distributions.
//!
//! Specifications:
//! - wheel: <https://packaging.python.org/en/latest/specifications/binary-distribution-format/#file-name-convention>
//!   `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`
//! - sdist: <https://packaging.python.org/en/latest/specifications/source-distribution-format/#source-distribution-file-name>
//!   `{name}-{version}.tar.gz` (legacy `.zip` sdists are accepted too)

use std::fmt;

use super::error::PackagingError;
use super::name::ProjectName;
use super::version::Version;

/// The longest filename accepted (most file systems and registries stop at 255).
const MAX_FILENAME_LENGTH: usize = 255;

/// What kind of distribution a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistKind {
    /// A built distribution (`.whl`).
    Wheel,
    /// A source distribution (`.tar.gz` or legacy `.zip`).
    Sdist,
}

/// A validated wheel or sdist filename, with the project and version it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFilename {
    raw: String,
    name: ProjectName,
    version: Version,
    kind: DistKind,
    /// Everything after `{name}-{version}`: `-{build}-{py}-{abi}-{plat}.whl` or `.tar.gz`.
    tail: String,
    /// The wheel's python tag, `source` for an sdist.
    python_tag: String,
    /// `{name}-{version}` exactly as written in the filename.
    stem: String,
}

impl DistFilename {
    /// Parses and validates a distribution filename.
    ///
    /// # Errors
    /// [`PackagingError::InvalidFilename`] naming the filename and the reason: unsafe characters
    /// (`/`, `\`, control characters, non-ASCII), an unknown extension, a wrong number of wheel
    /// parts; [`PackagingError::InvalidName`] or [`PackagingError::InvalidVersion`] for its parts.
    pub fn parse(input: &str) -> Result<Self, PackagingError> {
        check_safe(input)?;
        if let Some(stem) = input.strip_suffix(".whl") {
            return parse_wheel(input, stem);
        }
        for extension in [".tar.gz", ".zip"] {
            if let Some(stem) = input.strip_suffix(extension) {
                return parse_sdist(input, stem, extension);
            }
        }
        Err(invalid(
            input,
            "expected a wheel (`.whl`) or a source distribution (`.tar.gz`, `.zip`)",
        ))
    }

    /// The filename as uploaded.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The project the file belongs to.
    #[must_use]
    pub fn name(&self) -> &ProjectName {
        &self.name
    }

    /// The release the file belongs to.
    #[must_use]
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// Wheel or sdist.
    #[must_use]
    pub fn kind(&self) -> DistKind {
        self.kind
    }

    /// The upload API's `filetype`: `bdist_wheel` or `sdist`.
    #[must_use]
    pub fn packagetype(&self) -> &'static str {
        match self.kind {
            DistKind::Wheel => "bdist_wheel",
            DistKind::Sdist => "sdist",
        }
    }

    /// The upload API's `pyversion`: the wheel's python tag, or `source` for an sdist.
    #[must_use]
    pub fn python_version(&self) -> &str {
        &self.python_tag
    }

    /// The wheel's `.dist-info` directory as its filename spells it (`foo_bar-1.0.dist-info`).
    #[must_use]
    pub fn dist_info_dir(&self) -> String {
        format!("{}.dist-info", self.stem)
    }

    /// The sdist's top-level directory as its filename spells it (`foo_bar-1.0`).
    #[must_use]
    pub fn sdist_dir(&self) -> &str {
        &self.stem
    }

    /// What follows `{name}-{version}-` in a wheel name (`py3-none-any.whl`, with the build tag
    /// when there is one), or the extension of an sdist (`.tar.gz`). This is what tells the files
    /// of one release apart.
    #[must_use]
    pub fn distinguishing_suffix(&self) -> &str {
        self.tail.strip_prefix('-').unwrap_or(&self.tail)
    }
}

impl fmt::Display for DistFilename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

fn invalid(input: &str, reason: &str) -> PackagingError {
    PackagingError::InvalidFilename {
        input: super::error::shown(input),
        reason: reason.to_owned(),
    }
}

fn check_safe(input: &str) -> Result<(), PackagingError> {
    if input.is_empty() {
        return Err(invalid(input, "a filename cannot be empty"));
    }
    if input.len() > MAX_FILENAME_LENGTH {
        return Err(invalid(input, "a filename is at most 255 characters"));
    }
    if input.contains(['/', '\\']) {
        return Err(invalid(input, "a filename cannot contain `/` or `\\`"));
    }
    if input.contains("..") || input.starts_with('.') {
        return Err(invalid(
            input,
            "a filename cannot start with `.` or contain `..`",
        ));
    }
    if input.chars().any(|c| c.is_control() || !c.is_ascii()) {
        return Err(invalid(
            input,
            "a filename cannot contain control or non-ASCII characters",
        ));
    }
    if input.contains(' ') {
        return Err(invalid(input, "a filename cannot contain spaces"));
    }
    Ok(())
}

fn parse_wheel(input: &str, stem: &str) -> Result<DistFilename, PackagingError> {
    let parts: Vec<&str> = stem.split('-').collect();
    let (name, version, build) = match parts.as_slice() {
        [name, version, _, _, _] => (*name, *version, None),
        [name, version, build, _, _, _] => (*name, *version, Some(*build)),
        _ => {
            return Err(invalid(
                input,
                "a wheel name has the form `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`",
            ));
        }
    };
    if let Some(build) = build {
        if !build.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(invalid(input, "a wheel build tag must start with a digit"));
        }
    }
    if parts.iter().skip(2).any(|tag| {
        tag.is_empty()
            || !tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
    }) {
        return Err(invalid(
            input,
            "wheel tags may contain only ASCII letters, digits, `_` and `.`",
        ));
    }
    let python_tag = parts.len().checked_sub(3).and_then(|i| parts.get(i));
    let python_tag = python_tag.copied().unwrap_or_default();
    finish(input, name, version, python_tag)
}

fn parse_sdist(input: &str, stem: &str, extension: &str) -> Result<DistFilename, PackagingError> {
    let Some((name, version)) = stem.rsplit_once('-') else {
        return Err(invalid(
            input,
            &format!("an sdist name has the form `{{name}}-{{version}}{extension}`"),
        ));
    };
    finish(input, name, version, "source")
}

fn finish(
    input: &str,
    name: &str,
    version: &str,
    python_tag: &str,
) -> Result<DistFilename, PackagingError> {
    let kind = if input.ends_with(".whl") {
        DistKind::Wheel
    } else {
        DistKind::Sdist
    };
    let project = ProjectName::parse(name)?;
    let parsed_version = Version::parse(version)?;
    let tail = input
        .get(name.len() + 1 + version.len()..)
        .unwrap_or_default()
        .to_owned();
    Ok(DistFilename {
        raw: input.to_owned(),
        name: project,
        version: parsed_version,
        kind,
        tail,
        python_tag: python_tag.to_owned(),
        stem: format!("{name}-{version}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wheels() {
        let wheel = DistFilename::parse("Foo_Bar-1.0.post1-py3-none-any.whl").unwrap();
        assert_eq!(wheel.name().as_str(), "foo-bar");
        assert_eq!(wheel.version().to_string(), "1.0.post1");
        assert_eq!(wheel.kind(), DistKind::Wheel);
        assert_eq!(wheel.packagetype(), "bdist_wheel");
        assert_eq!(wheel.python_version(), "py3");
        assert_eq!(wheel.distinguishing_suffix(), "py3-none-any.whl");
        assert_eq!(wheel.dist_info_dir(), "Foo_Bar-1.0.post1.dist-info");

        let built = DistFilename::parse(
            "baz-2.5.1.dev4+g1664eb2.d20231017-1234-cp311-cp311-macosx_13_0_x86_64.whl",
        )
        .unwrap();
        assert_eq!(built.version().to_string(), "2.5.1.dev4+g1664eb2.d20231017");
        assert_eq!(built.python_version(), "cp311");
        assert_eq!(
            built.distinguishing_suffix(),
            "1234-cp311-cp311-macosx_13_0_x86_64.whl"
        );
        let epoch = DistFilename::parse("pkg-1!2.0-py2.py3-none-any.whl").unwrap();
        assert_eq!(epoch.version().to_string(), "1!2.0");
        assert_eq!(epoch.python_version(), "py2.py3");
    }

    #[test]
    fn parses_sdists() {
        let sdist = DistFilename::parse("foo_bar-1.0rc1.tar.gz").unwrap();
        assert_eq!(sdist.name().as_str(), "foo-bar");
        assert_eq!(sdist.version().to_string(), "1.0rc1");
        assert_eq!(sdist.kind(), DistKind::Sdist);
        assert_eq!(sdist.python_version(), "source");
        assert_eq!(sdist.distinguishing_suffix(), ".tar.gz");
        assert_eq!(sdist.sdist_dir(), "foo_bar-1.0rc1");
        let legacy = DistFilename::parse("foo-bar-1.0.zip").unwrap();
        assert_eq!(legacy.name().as_str(), "foo-bar");
        assert_eq!(legacy.distinguishing_suffix(), ".zip");
    }

    #[test]
    fn error_messages_name_the_bad_value() {
        let cases = [
            (
                // Found by the `dist_filename` fuzz target: versions parse with surrounding
                // whitespace trimmed, so a space slipped through into the stored filename.
                "o- 0.zip",
                "invalid filename `o- 0.zip`: a filename cannot contain spaces",
            ),
            (
                "foo-1.0.exe",
                "invalid filename `foo-1.0.exe`: expected a wheel (`.whl`) or a source distribution (`.tar.gz`, `.zip`)",
            ),
            (
                "../foo-1.0.tar.gz",
                "invalid filename `../foo-1.0.tar.gz`: a filename cannot contain `/` or `\\`",
            ),
            (
                "foo\\-1.0.tar.gz",
                "invalid filename `foo\\\\-1.0.tar.gz`: a filename cannot contain `/` or `\\`",
            ),
            (
                "foo-1.0\n.tar.gz",
                "invalid filename `foo-1.0\\n.tar.gz`: a filename cannot contain control or non-ASCII characters",
            ),
            (
                "..foo-1.0.tar.gz",
                "invalid filename `..foo-1.0.tar.gz`: a filename cannot start with `.` or contain `..`",
            ),
            (
                "foo-1.0-py3-none.whl",
                "invalid filename `foo-1.0-py3-none.whl`: a wheel name has the form `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`",
            ),
            (
                "foo-1.0-abc-py3-none-any.whl",
                "invalid filename `foo-1.0-abc-py3-none-any.whl`: a wheel build tag must start with a digit",
            ),
            (
                "foo.tar.gz",
                "invalid filename `foo.tar.gz`: an sdist name has the form `{name}-{version}.tar.gz`",
            ),
            (
                "foo-1.0-py3-none-a+y.whl",
                "invalid filename `foo-1.0-py3-none-a+y.whl`: wheel tags may contain only ASCII letters, digits, `_` and `.`",
            ),
            ("", "invalid filename ``: a filename cannot be empty"),
        ];
        for (input, message) in cases {
            assert_eq!(DistFilename::parse(input).unwrap_err().to_string(), message);
        }
        let bad_version = DistFilename::parse("foo-one-py3-none-any.whl").unwrap_err();
        assert!(bad_version.to_string().contains("`one`"), "{bad_version}");
        let bad_name = DistFilename::parse("-1.0.tar.gz").unwrap_err();
        assert!(matches!(bad_name, PackagingError::InvalidName { .. }));
    }
}
