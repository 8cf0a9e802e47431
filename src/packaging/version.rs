//! PEP 440 versions: parsing (with the specification's normalization rules), canonical
//! display, and ordering.
//!
//! Specification: <https://packaging.python.org/en/latest/specifications/version-specifiers/>
//!
//! Parsing is permissive in exactly the ways the specification's "Normalization" section
//! allows (case, a leading `v`, surrounding whitespace, alternate spellings and separators,
//! implicit numbers and implicit post-releases); [`Version`]'s [`Display`](fmt::Display)
//! prints the normalized form.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// The longest version string (in bytes, before trimming) that [`parse`] accepts.
pub const MAX_VERSION_LEN: usize = 256;

/// Why a string is not a valid PEP 440 version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The input does not match the PEP 440 version grammar.
    #[error("invalid version `{input}`: not a PEP 440 version")]
    Invalid {
        /// The rejected input, as given.
        input: String,
    },
    /// A numeric component does not fit in a `u64`.
    #[error("invalid version `{input}`: number `{number}` is too large")]
    NumberTooLarge {
        /// The rejected input, as given.
        input: String,
        /// The digits that overflowed.
        number: String,
    },
    /// The input is longer than [`MAX_VERSION_LEN`] bytes.
    #[error("invalid version: {len} bytes is longer than the limit of {max} bytes")]
    TooLong {
        /// Length of the rejected input in bytes.
        len: usize,
        /// The limit, [`MAX_VERSION_LEN`].
        max: usize,
    },
    /// The input fits in [`MAX_VERSION_LEN`] bytes but its normalized form does not (implicit
    /// numbers such as `1r` → `1.post0` make it longer), so it could not be stored and read back.
    #[error(
        "invalid version `{input}`: its normalized form is {len} bytes, longer than the limit of {max} bytes"
    )]
    NormalizedTooLong {
        /// The rejected input, as given.
        input: String,
        /// Length of the normalized form in bytes.
        len: usize,
        /// The limit, [`MAX_VERSION_LEN`].
        max: usize,
    },
}

/// The kind of a pre-release segment, in PEP 440 order (`a` < `b` < `rc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PreRelease {
    /// Alpha (`a`; also spelled `alpha`).
    Alpha,
    /// Beta (`b`; also spelled `beta`).
    Beta,
    /// Release candidate (`rc`; also spelled `c`, `pre`, `preview`).
    Rc,
}

impl PreRelease {
    /// The normalized spelling: `a`, `b` or `rc`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alpha => "a",
            Self::Beta => "b",
            Self::Rc => "rc",
        }
    }
}

/// A parsed PEP 440 version.
///
/// Equality, hashing and ordering follow PEP 440 (so `1.0 == 1.0.0`); [`Display`](fmt::Display)
/// prints the normalized form, keeping the release segment as written (`1.0.0` stays `1.0.0`).
#[derive(Debug, Clone)]
pub struct Version {
    epoch: u64,
    release: Vec<u64>,
    pre: Option<(PreRelease, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    /// Normalized local label: lowercase, `.`-separated, numeric parts without leading zeros.
    local: Option<String>,
}

/// Parses a PEP 440 version string (permissively, see the module docs).
///
/// # Errors
/// Returns [`VersionError`] if `input` is not a valid version, contains a number that does not
/// fit in a `u64`, or is longer than [`MAX_VERSION_LEN`] bytes.
pub fn parse(input: &str) -> Result<Version, VersionError> {
    if input.len() > MAX_VERSION_LEN {
        return Err(VersionError::TooLong {
            len: input.len(),
            max: MAX_VERSION_LEN,
        });
    }
    let version = Parser {
        input,
        bytes: input.trim().as_bytes(),
        pos: 0,
    }
    .version()?;
    let len = version.to_string().len();
    if len > MAX_VERSION_LEN {
        return Err(VersionError::NormalizedTooLong {
            input: crate::packaging::shown(input),
            len,
            max: MAX_VERSION_LEN,
        });
    }
    Ok(version)
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl Version {
    /// Parses a PEP 440 version string; same as [`parse`].
    ///
    /// # Errors
    /// See [`parse`].
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        parse(input)
    }

    /// The epoch (`N!`), `0` when absent.
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The release segment as written (never empty; trailing zeros kept).
    #[must_use]
    pub fn release(&self) -> &[u64] {
        &self.release
    }

    /// The pre-release segment, if any (`1.0rc2` → `(Rc, 2)`).
    #[must_use]
    pub fn pre(&self) -> Option<(PreRelease, u64)> {
        self.pre
    }

    /// The post-release number, if any.
    #[must_use]
    pub fn post(&self) -> Option<u64> {
        self.post
    }

    /// The development release number, if any.
    #[must_use]
    pub fn dev(&self) -> Option<u64> {
        self.dev
    }

    /// Whether this is a pre-release: it has a pre-release or a development release segment.
    #[must_use]
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    /// Whether this has a local version label (`+...`).
    #[must_use]
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// The normalized local version label, without the leading `+`.
    #[must_use]
    pub fn local(&self) -> Option<&str> {
        self.local.as_deref()
    }

    /// This version without its local label.
    #[must_use]
    pub fn public(&self) -> Self {
        Self {
            local: None,
            ..self.clone()
        }
    }

    /// The release segment without trailing zeros, as used for comparison.
    fn trimmed_release(&self) -> &[u64] {
        let len = self
            .release
            .iter()
            .rposition(|&n| n != 0)
            .map_or(0, |i| i + 1);
        self.release.get(..len).unwrap_or(&[])
    }

    /// Sort key of the pre-release segment: a bare dev release sorts before any pre-release,
    /// and no pre-release sorts after all of them.
    fn pre_key(&self) -> (u8, Option<(PreRelease, u64)>) {
        match self.pre {
            Some(pre) => (1, Some(pre)),
            None if self.post.is_none() && self.dev.is_some() => (0, None),
            None => (2, None),
        }
    }

    /// Sort key of the dev segment: no dev release sorts after any dev release.
    fn dev_key(&self) -> (bool, u64) {
        self.dev.map_or((true, 0), |n| (false, n))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}!", self.epoch)?;
        }
        let mut sep = "";
        for n in &self.release {
            write!(f, "{sep}{n}")?;
            sep = ".";
        }
        if let Some((kind, n)) = self.pre {
            write!(f, "{}{n}", kind.as_str())?;
        }
        if let Some(n) = self.post {
            write!(f, ".post{n}")?;
        }
        if let Some(n) = self.dev {
            write!(f, ".dev{n}")?;
        }
        if let Some(local) = &self.local {
            write!(f, "+{local}")?;
        }
        Ok(())
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| self.trimmed_release().cmp(other.trimmed_release()))
            .then_with(|| self.pre_key().cmp(&other.pre_key()))
            .then_with(|| self.post.cmp(&other.post))
            .then_with(|| self.dev_key().cmp(&other.dev_key()))
            .then_with(|| match (&self.local, &other.local) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(a), Some(b)) => cmp_local(a, b),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Exactly the fields `cmp` looks at, with the release trimmed as in `cmp`.
        (self.epoch, self.trimmed_release(), self.pre).hash(state);
        (self.post, self.dev, &self.local).hash(state);
    }
}

/// Compares two normalized local labels per PEP 440: part by part, numeric parts numerically
/// and after alphanumeric ones, alphanumeric parts lexicographically; a prefix sorts first.
fn cmp_local(a: &str, b: &str) -> Ordering {
    a.split('.')
        .map(local_part_key)
        .cmp(b.split('.').map(local_part_key))
}

/// Sort key of one normalized local part. Numeric parts have no leading zeros, so comparing
/// their lengths and then their digits compares them numerically, without any overflow.
fn local_part_key(part: &str) -> (bool, usize, &str) {
    let numeric = part.bytes().all(|b| b.is_ascii_digit());
    (numeric, if numeric { part.len() } else { 0 }, part)
}

/// Hand-written recursive-descent parser over the trimmed input's bytes.
struct Parser<'a> {
    /// The original input, for error messages.
    input: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

const PRE_LABELS: &[(&str, PreRelease)] = &[
    ("alpha", PreRelease::Alpha),
    ("a", PreRelease::Alpha),
    ("beta", PreRelease::Beta),
    ("b", PreRelease::Beta),
    ("preview", PreRelease::Rc),
    ("pre", PreRelease::Rc),
    ("c", PreRelease::Rc),
    ("rc", PreRelease::Rc),
];
const POST_LABELS: &[(&str, ())] = &[("post", ()), ("rev", ()), ("r", ())];
const DEV_LABELS: &[(&str, ())] = &[("dev", ())];

impl<'a> Parser<'a> {
    fn version(mut self) -> Result<Version, VersionError> {
        if matches!(self.peek(), Some(b'v' | b'V')) {
            self.pos += 1;
        }
        let epoch = self.epoch()?;
        let release = self.release()?;
        let pre = self.labeled(PRE_LABELS)?;
        let post = self.post()?;
        let dev = self.labeled(DEV_LABELS)?.map(|((), n)| n);
        let local = self.local()?;
        if self.pos != self.bytes.len() {
            return Err(self.invalid());
        }
        Ok(Version {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    fn invalid(&self) -> VersionError {
        VersionError::Invalid {
            input: crate::packaging::shown(self.input),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_digit_at(&self, pos: usize) -> bool {
        self.bytes.get(pos).is_some_and(u8::is_ascii_digit)
    }

    /// Consumes one optional `-`, `_` or `.` separator.
    fn separator(&mut self) {
        if matches!(self.peek(), Some(b'-' | b'_' | b'.')) {
            self.pos += 1;
        }
    }

    /// Consumes the longest run of bytes matching `pred` (possibly empty).
    fn take_while(&mut self, pred: impl Fn(&u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(&pred) {
            self.pos += 1;
        }
        self.bytes.get(start..self.pos).unwrap_or(&[])
    }

    /// Consumes a run of digits, if any, as a `u64`.
    fn number(&mut self) -> Result<Option<u64>, VersionError> {
        let digits = self.take_while(u8::is_ascii_digit);
        if digits.is_empty() {
            return Ok(None);
        }
        let mut value: u64 = 0;
        for &d in digits {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .ok_or_else(|| VersionError::NumberTooLarge {
                    input: crate::packaging::shown(self.input),
                    number: String::from_utf8_lossy(digits).into_owned(),
                })?;
        }
        Ok(Some(value))
    }

    /// `[N!]`: digits followed by `!`, else nothing is consumed.
    fn epoch(&mut self) -> Result<u64, VersionError> {
        let start = self.pos;
        if let Some(n) = self.number()?
            && self.peek() == Some(b'!')
        {
            self.pos += 1;
            return Ok(n);
        }
        self.pos = start;
        Ok(0)
    }

    /// `N(.N)*`
    fn release(&mut self) -> Result<Vec<u64>, VersionError> {
        let first = self.number()?.ok_or_else(|| self.invalid())?;
        let mut release = vec![first];
        while self.peek() == Some(b'.') && self.peek_digit_at(self.pos + 1) {
            self.pos += 1;
            release.push(self.number()?.ok_or_else(|| self.invalid())?);
        }
        Ok(release)
    }

    /// `[sep] label [sep] [N]`, the number defaulting to 0; nothing is consumed without a label.
    /// Labels must be listed longest first where one is a prefix of another.
    fn labeled<T: Copy>(&mut self, labels: &[(&str, T)]) -> Result<Option<(T, u64)>, VersionError> {
        let start = self.pos;
        self.separator();
        let rest = self.bytes.get(self.pos..).unwrap_or(&[]);
        let found = labels.iter().find(|(label, _)| {
            rest.get(..label.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(label.as_bytes()))
        });
        let Some(&(label, value)) = found else {
            self.pos = start;
            return Ok(None);
        };
        self.pos += label.len();
        self.separator();
        Ok(Some((value, self.number()?.unwrap_or(0))))
    }

    /// Implicit post-release `-N`, or a labeled one.
    fn post(&mut self) -> Result<Option<u64>, VersionError> {
        if self.peek() == Some(b'-') && self.peek_digit_at(self.pos + 1) {
            self.pos += 1;
            return self.number();
        }
        Ok(self.labeled(POST_LABELS)?.map(|((), n)| n))
    }

    /// `+` then alphanumeric parts separated by `-`, `_` or `.`, normalized.
    fn local(&mut self) -> Result<Option<String>, VersionError> {
        if self.peek() != Some(b'+') {
            return Ok(None);
        }
        self.pos += 1;
        let mut out = String::new();
        loop {
            let part = self.take_while(u8::is_ascii_alphanumeric);
            if part.is_empty() {
                return Err(self.invalid());
            }
            if !out.is_empty() {
                out.push('.');
            }
            push_local_part(&mut out, part);
            if !matches!(self.peek(), Some(b'-' | b'_' | b'.')) {
                return Ok(Some(out));
            }
            self.pos += 1;
        }
    }
}

/// Appends one local part, lowercased, with leading zeros stripped if it is numeric.
fn push_local_part(out: &mut String, part: &[u8]) {
    let part = if part.iter().all(u8::is_ascii_digit) {
        let zeros = part.iter().take_while(|&&b| b == b'0').count();
        part.get(zeros.min(part.len() - 1)..).unwrap_or(part)
    } else {
        part
    };
    out.extend(part.iter().map(|b| char::from(b.to_ascii_lowercase())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn v(s: &str) -> Version {
        parse(s).expect("should be a valid version")
    }

    fn hash_of(version: &Version) -> u64 {
        let mut h = DefaultHasher::new();
        version.hash(&mut h);
        h.finish()
    }

    const NORMALIZATION: &[(&str, &str)] = &[
        ("1.0", "1.0"),
        ("1.0.0", "1.0.0"),
        ("0", "0"),
        ("01.02.003", "1.2.3"),
        ("18446744073709551615", "18446744073709551615"),
        ("v1.0", "1.0"),
        ("V1.0", "1.0"),
        ("  1.0\n", "1.0"),
        ("\t v1.0 ", "1.0"),
        ("0!1.0", "1.0"),
        ("00!1.0", "1.0"),
        ("1!1.0", "1!1.0"),
        ("v1!1.0", "1!1.0"),
        ("1.0a1", "1.0a1"),
        ("1.0A1", "1.0a1"),
        ("1.0alpha1", "1.0a1"),
        ("1.0ALPHA1", "1.0a1"),
        ("1.0.alpha.1", "1.0a1"),
        ("1.0-a-1", "1.0a1"),
        ("1.0_a_1", "1.0a1"),
        ("1.0a", "1.0a0"),
        ("1.0-a", "1.0a0"),
        ("1.0a-", "1.0a0"),
        ("1.0a01", "1.0a1"),
        ("1.0b2", "1.0b2"),
        ("1.0beta2", "1.0b2"),
        ("1.0-beta.2", "1.0b2"),
        ("1.0c3", "1.0rc3"),
        ("1.0pre3", "1.0rc3"),
        ("1.0preview3", "1.0rc3"),
        ("1.0RC3", "1.0rc3"),
        ("1.0.rc.3", "1.0rc3"),
        ("1.0.0-alpha.1", "1.0.0a1"),
        ("1.0-1", "1.0.post1"),
        ("1.0-0", "1.0.post0"),
        ("1.0post1", "1.0.post1"),
        ("1.0.post1", "1.0.post1"),
        ("1.0-post-1", "1.0.post1"),
        ("1.0_post_1", "1.0.post1"),
        ("1.0rev1", "1.0.post1"),
        ("1.0r1", "1.0.post1"),
        ("1.0.POST09", "1.0.post9"),
        ("1.0.post", "1.0.post0"),
        ("1.0-r", "1.0.post0"),
        ("1.0dev1", "1.0.dev1"),
        ("1.0-dev1", "1.0.dev1"),
        ("1.0_dev_1", "1.0.dev1"),
        ("1.0.dev", "1.0.dev0"),
        ("1.0DEV", "1.0.dev0"),
        ("1.0a1dev", "1.0a1.dev0"),
        ("1.0a1-1", "1.0a1.post1"),
        ("1.0a.post", "1.0a0.post0"),
        ("1.0a1-1-dev1", "1.0a1.post1.dev1"),
        ("1.0a1.post1.dev1", "1.0a1.post1.dev1"),
        ("1!2.0.post3.dev4+abc.5", "1!2.0.post3.dev4+abc.5"),
        ("1.0+abc", "1.0+abc"),
        ("1.0+ABC", "1.0+abc"),
        ("1.0+abc-def_ghi", "1.0+abc.def.ghi"),
        ("1.0+ubuntu-1", "1.0+ubuntu.1"),
        ("1.0+007", "1.0+7"),
        ("1.0+0", "1.0+0"),
        ("1.0+000", "1.0+0"),
        ("1.0+0a", "1.0+0a"),
        ("1.0+99999999999999999999999", "1.0+99999999999999999999999"),
        ("v1!2.0RC1-2.DEV3+Local-01", "1!2.0rc1.post2.dev3+local.1"),
    ];

    #[test]
    fn normalizes() {
        for &(input, expected) in NORMALIZATION {
            assert_eq!(v(input).to_string(), expected, "input {input:?}");
            assert_eq!(input.parse::<Version>(), Ok(v(expected)), "input {input:?}");
        }
    }

    #[test]
    fn round_trips_normalized_strings() {
        let normalized = NORMALIZATION
            .iter()
            .map(|&(_, n)| n)
            .chain(ORDERED.iter().copied());
        for s in normalized {
            assert_eq!(v(s).to_string(), s);
        }
    }

    #[test]
    fn rejects_invalid_versions() {
        let invalid = [
            "",
            "   ",
            "foo",
            "1.0-foo",
            "1.0+",
            "1..0",
            "1.0.",
            ".1.0",
            "1!",
            "!1.0",
            "1.0+foo_",
            "1.0+foo..bar",
            "1.0+_foo",
            "vv1.0",
            "v 1.0",
            "1.0 a1",
            "1.0a1a2",
            "1.0.post1.a1",
            "1.0.dev1.post1",
            "1.0-",
            "1.0_1",
            "1.0re",
            "1.0dev1dev2",
            "1.0+abc+def",
            "1.0 +abc",
            "1.0-1-1",
            "1.0+é",
            "1.0é",
            "1.0+a b",
            "1.0-1-",
            "1!2!3",
            "a1.0",
            "1.0++",
        ];
        for input in invalid {
            let expected = format!("invalid version `{input}`: not a PEP 440 version");
            assert_eq!(
                parse(input).map_err(|e| e.to_string()),
                Err(expected),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn error_messages() {
        let cases = [
            ("", "invalid version ``: not a PEP 440 version"),
            (
                "1.0-foo",
                "invalid version `1.0-foo`: not a PEP 440 version",
            ),
            (
                "1.0+foo_",
                "invalid version `1.0+foo_`: not a PEP 440 version",
            ),
            (
                "99999999999999999999999",
                "invalid version `99999999999999999999999`: number `99999999999999999999999` is too large",
            ),
            (
                "1.18446744073709551616",
                "invalid version `1.18446744073709551616`: number `18446744073709551616` is too large",
            ),
            (
                "1.0a18446744073709551616",
                "invalid version `1.0a18446744073709551616`: number `18446744073709551616` is too large",
            ),
            (
                "18446744073709551616!1",
                "invalid version `18446744073709551616!1`: number `18446744073709551616` is too large",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse(input).map_err(|e| e.to_string()),
                Err(expected.to_owned())
            );
        }
        assert_eq!(
            parse("1.0-foo"),
            Err(VersionError::Invalid {
                input: "1.0-foo".to_owned()
            })
        );
    }

    #[test]
    fn length_limit() {
        let ok = format!("10{}", ".0".repeat(127));
        assert_eq!(ok.len(), MAX_VERSION_LEN);
        assert_eq!(v(&ok).to_string(), ok);
        let long = format!("1{}", ".0".repeat(200));
        assert_eq!(
            parse(&long).map_err(|e| e.to_string()),
            Err("invalid version: 401 bytes is longer than the limit of 256 bytes".to_owned())
        );
        assert_eq!(
            parse(&long),
            Err(VersionError::TooLong { len: 401, max: 256 })
        );
    }

    /// Found by the `version` fuzz target: `0r.+…` fits in 256 bytes, but `r` normalizes to
    /// `.post0`, so the normalized form did not; it must be refused rather than stored under a
    /// tag that cannot be read back.
    #[test]
    fn normalized_form_within_the_limit() {
        let input = format!("0r.+{}", "7".repeat(252));
        assert_eq!(input.len(), MAX_VERSION_LEN);
        let error = parse(&input).unwrap_err();
        assert!(
            matches!(
                error,
                VersionError::NormalizedTooLong {
                    len: 260,
                    max: 256,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("normalized form is 260 bytes"),
            "{error}"
        );
        let fits = format!("0r.+{}", "7".repeat(248));
        assert_eq!(v(&fits).to_string().len(), MAX_VERSION_LEN);
    }

    const ORDERED: &[&str] = &[
        "0.9",
        "1.0.dev0",
        "1.0.dev456",
        "1.0a1.dev1",
        "1.0a1",
        "1.0a1.post1.dev1",
        "1.0a1.post1",
        "1.0a2.dev456",
        "1.0a12.dev456",
        "1.0a12",
        "1.0b1.dev456",
        "1.0b2",
        "1.0b2.post345.dev456",
        "1.0b2.post345",
        "1.0rc1.dev456",
        "1.0rc1",
        "1.0",
        "1.0+abc",
        "1.0+abc.a",
        "1.0+abc.5",
        "1.0+abc.7",
        "1.0+abc.10",
        "1.0+abd",
        "1.0+5",
        "1.0+5.abc",
        "1.0+10",
        "1.0.post1.dev1",
        "1.0.post1",
        "1.0.post456.dev34",
        "1.0.post456",
        "1.0.post456+local",
        "1.0.15",
        "1.1.dev1",
        "1.1a1",
        "1.1",
        "2.0",
        "18446744073709551615",
        "1!0.1.dev0",
        "1!1.0",
    ];

    #[test]
    fn orders_every_pair() {
        let versions: Vec<Version> = ORDERED.iter().map(|s| v(s)).collect();
        for (i, a) in versions.iter().enumerate() {
            for (j, b) in versions.iter().enumerate() {
                assert_eq!(a.cmp(b), i.cmp(&j), "{a} vs {b}");
                assert_eq!(a.partial_cmp(b), Some(i.cmp(&j)), "{a} vs {b}");
                assert_eq!(a == b, i == j, "{a} vs {b}");
            }
        }
        let mut shuffled = versions.clone();
        shuffled.reverse();
        shuffled.swap(3, 17);
        shuffled.sort();
        let sorted: Vec<String> = shuffled.iter().map(ToString::to_string).collect();
        assert_eq!(sorted, ORDERED);
    }

    #[test]
    fn equality_and_hash_agree() {
        let groups: &[&[&str]] = &[
            &["1.0", "1.0.0", "1.0.0.0", "v1.0", "0!1.0", "01.00"],
            &["0", "0.0", "0!0.0.0"],
            &["1.0a1", "1.0.0alpha1", "1.0.0-a.01"],
            &["1.0.post1", "1.0-1", "1.0.0rev1"],
            &["1.0+abc.5", "1.0+ABC-05", "1.0.0+abc_5"],
        ];
        for group in groups {
            let Some((head, rest)) = group.split_first() else {
                continue;
            };
            let first = v(head);
            for s in rest {
                let other = v(s);
                assert_eq!(first, other, "{head} vs {s}");
                assert_eq!(hash_of(&first), hash_of(&other), "{head} vs {s}");
            }
        }
        assert_ne!(v("1.0"), v("1.0+0"));
        assert_ne!(v("1.0+abc"), v("1.0+abc.0"));
        assert_ne!(v("1.0.dev0"), v("1.0a0.dev0"));
        assert_ne!(v("1.0.post0"), v("1.0"));
    }

    #[test]
    fn accessors() {
        let version = v("1!2.0.3rc4.post5.dev6+Ubuntu-07");
        assert_eq!(version.epoch(), 1);
        assert_eq!(version.release(), &[2, 0, 3]);
        assert_eq!(version.pre(), Some((PreRelease::Rc, 4)));
        assert_eq!(version.post(), Some(5));
        assert_eq!(version.dev(), Some(6));
        assert!(version.is_prerelease());
        assert!(version.is_local());
        assert_eq!(version.local(), Some("ubuntu.7"));
        assert_eq!(version.public().to_string(), "1!2.0.3rc4.post5.dev6");
        assert!(!version.public().is_local());
        assert_eq!(
            Version::parse("2.0").map(|x| x.to_string()),
            Ok("2.0".to_owned())
        );

        let plain = v("1.0");
        assert_eq!(
            (plain.epoch(), plain.pre(), plain.post(), plain.dev()),
            (0, None, None, None)
        );
        assert!(!plain.is_prerelease() && !plain.is_local());
        assert_eq!(plain.local(), None);
        assert!(v("1.0.dev1").is_prerelease());
        assert!(v("1.0b1").is_prerelease());
        assert!(!v("1.0.post1").is_prerelease());
        assert_eq!(PreRelease::Beta.as_str(), "b");
    }
}
