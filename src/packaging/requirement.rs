//! Requirements (PEP 508): a name, extras, version specifiers (PEP 440) and an environment
//! marker, and the evaluation of markers against a target environment. Direct references
//! (`name @ url`) are refused: a mirror fetches from an index.
//!
//! Specifications:
//! - <https://packaging.python.org/en/latest/specifications/dependency-specifiers/>
//! - <https://packaging.python.org/en/latest/specifications/version-specifiers/>

use std::collections::BTreeMap;

use super::{ProjectName, Version};

/// Why a requirement could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid requirement `{input}`: {reason}")]
pub struct RequirementError {
    /// The requirement as given.
    pub input: String,
    /// What is wrong.
    pub reason: String,
}

/// One version clause, such as `>=1.2` or `==2.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specifier {
    operator: Operator,
    version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Compatible,
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    Arbitrary,
}

const OPERATORS: [(&str, Operator); 8] = [
    ("===", Operator::Arbitrary),
    ("~=", Operator::Compatible),
    ("==", Operator::Equal),
    ("!=", Operator::NotEqual),
    ("<=", Operator::LessEqual),
    (">=", Operator::GreaterEqual),
    ("<", Operator::Less),
    (">", Operator::Greater),
];

impl Specifier {
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (symbol, operator) = OPERATORS
            .iter()
            .find(|(symbol, _)| text.starts_with(symbol))
            .ok_or_else(|| format!("`{text}` does not start with a comparison operator"))?;
        let version = text[symbol.len()..].trim().to_owned();
        let base = version.strip_suffix(".*").unwrap_or(&version);
        let wildcard_allowed = matches!(operator, Operator::Equal | Operator::NotEqual);
        if *operator != Operator::Arbitrary
            && (Version::parse(base).is_err() || (base.len() != version.len() && !wildcard_allowed))
        {
            return Err(format!("`{version}` is not a version for `{symbol}`"));
        }
        Ok(Self {
            operator: *operator,
            version,
        })
    }

    /// Whether `candidate` satisfies this clause.
    #[must_use]
    pub fn contains(&self, candidate: &Version) -> bool {
        if self.operator == Operator::Arbitrary {
            return candidate.to_string() == self.version;
        }
        if let Some(prefix) = self.version.strip_suffix(".*") {
            let matched = Version::parse(prefix).is_ok_and(|p| prefix_matches(&p, candidate));
            return matched == (self.operator == Operator::Equal);
        }
        let Ok(version) = Version::parse(&self.version) else {
            return false;
        };
        let public = candidate.public();
        match self.operator {
            Operator::Equal if version.is_local() => *candidate == version,
            Operator::Equal => public == version,
            Operator::NotEqual if version.is_local() => *candidate != version,
            Operator::NotEqual => public != version,
            Operator::LessEqual => public <= version,
            Operator::GreaterEqual => public >= version,
            Operator::Less => {
                public < version
                    && !(candidate.is_prerelease()
                        && !version.is_prerelease()
                        && same_release(candidate, &version))
            }
            Operator::Greater => {
                public > version
                    && !(candidate.post().is_some()
                        && version.post().is_none()
                        && same_release(candidate, &version))
            }
            Operator::Compatible => {
                let release = version.release();
                let prefix = &release[..release.len().saturating_sub(1)];
                public >= version
                    && candidate.epoch() == version.epoch()
                    && padded(candidate.release(), prefix.len()) == prefix
            }
            Operator::Arbitrary => false,
        }
    }

    /// Whether the clause names a pre-release (which lets pre-releases match).
    fn mentions_prerelease(&self) -> bool {
        Version::parse(self.version.trim_end_matches(".*")).is_ok_and(|v| v.is_prerelease())
    }
}

fn same_release(a: &Version, b: &Version) -> bool {
    a.epoch() == b.epoch() && trim(a.release()) == trim(b.release())
}

fn trim(release: &[u64]) -> &[u64] {
    let end = release.iter().rposition(|n| *n != 0).map_or(0, |i| i + 1);
    &release[..end]
}

fn padded(release: &[u64], length: usize) -> Vec<u64> {
    (0..length)
        .map(|i| release.get(i).copied().unwrap_or(0))
        .collect()
}

fn prefix_matches(prefix: &Version, candidate: &Version) -> bool {
    let wanted = prefix.release();
    prefix.epoch() == candidate.epoch() && padded(candidate.release(), wanted.len()) == wanted
}

impl std::fmt::Display for Specifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let symbol = OPERATORS
            .iter()
            .find(|(_, operator)| *operator == self.operator)
            .map_or("", |(symbol, _)| symbol);
        write!(f, "{symbol}{}", self.version)
    }
}

impl std::fmt::Display for Specifiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let clauses: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&clauses.join(","))
    }
}

/// A list of clauses, all of which must hold (`>=1.0,<2`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Specifiers(Vec<Specifier>);

impl Specifiers {
    /// Parses a comma-separated list (empty: anything).
    ///
    /// # Errors
    /// The reason, when a clause is not `<operator><version>`.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(str::trim)
            .filter(|clause| !clause.is_empty())
            .map(Specifier::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `candidate` satisfies every clause; pre-releases only when a clause names one.
    #[must_use]
    pub fn contains(&self, candidate: &Version) -> bool {
        let prereleases = self.0.iter().any(Specifier::mentions_prerelease);
        (prereleases || !candidate.is_prerelease()) && self.0.iter().all(|s| s.contains(candidate))
    }
}

/// A PEP 508 requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The project.
    pub name: ProjectName,
    /// Extras asked for (normalized).
    pub extras: Vec<String>,
    /// The versions accepted.
    pub specifiers: Specifiers,
    /// When it applies.
    pub marker: Option<Marker>,
}

impl Requirement {
    /// Parses `name[extras] specifiers ; marker`.
    ///
    /// # Errors
    /// [`RequirementError`] naming the input and what is wrong with it.
    pub fn parse(input: &str) -> Result<Self, RequirementError> {
        let error = |reason: String| RequirementError {
            input: input.escape_default().to_string(),
            reason,
        };
        let (body, marker) = match input.split_once(';') {
            Some((body, marker)) => (body, Some(Marker::parse(marker).map_err(error)?)),
            None => (input, None),
        };
        let body = body.trim();
        let end = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(body.len());
        let name = ProjectName::parse(&body[..end])
            .map_err(|_| error("it does not start with a project name".to_owned()))?;
        let mut rest = body[end..].trim_start();
        let mut extras = Vec::new();
        if let Some(after) = rest.strip_prefix('[') {
            let (list, after) = after
                .split_once(']')
                .ok_or_else(|| error("`[` without `]`".to_owned()))?;
            extras = list
                .split(',')
                .map(|e| normalize(e.trim()))
                .filter(|e| !e.is_empty())
                .collect();
            rest = after.trim_start();
        }
        if rest.starts_with('@') {
            return Err(error(
                "direct references (`name @ url`) cannot be mirrored".to_owned(),
            ));
        }
        let rest = rest
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or(rest);
        Ok(Self {
            name,
            extras,
            specifiers: Specifiers::parse(rest).map_err(error)?,
            marker,
        })
    }

    /// Whether it applies in `environment` with `extras` asked for (the extras of the project
    /// that requires it).
    #[must_use]
    pub fn applies(&self, environment: &Environment, extras: &[String]) -> bool {
        let Some(marker) = &self.marker else {
            return true;
        };
        std::iter::once("")
            .chain(extras.iter().map(String::as_str))
            .any(|extra| marker.evaluate(environment, extra))
    }
}

/// PEP 685 extra normalization (as names).
fn normalize(extra: &str) -> String {
    ProjectName::parse(extra).map_or_else(|_| extra.to_ascii_lowercase(), |n| n.to_string())
}

/// The values markers are evaluated against (`python_version`, `sys_platform`, ...).
#[derive(Debug, Clone, Default)]
pub struct Environment(BTreeMap<&'static str, String>);

impl Environment {
    /// An environment of the given variables (names as in PEP 508).
    #[must_use]
    pub fn new(variables: BTreeMap<&'static str, String>) -> Self {
        Self(variables)
    }
}

/// Marker variables compared as versions when both sides parse as versions.
const VERSION_VARIABLES: [&str; 3] = [
    "python_version",
    "python_full_version",
    "implementation_version",
];

/// An environment marker expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// Both hold.
    And(Box<Marker>, Box<Marker>),
    /// Either holds.
    Or(Box<Marker>, Box<Marker>),
    /// A comparison: left, operator, right; each side a variable name or a quoted string.
    Compare(Value, String, Value),
}

/// A side of a marker comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An environment variable.
    Variable(String),
    /// A quoted string.
    Literal(String),
}

impl Marker {
    /// Parses a marker expression.
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let tokens = tokenize(text)?;
        let mut position = 0;
        let marker = parse_or(&tokens, &mut position)?;
        if position != tokens.len() {
            return Err(format!("unexpected `{}` in the marker", tokens[position]));
        }
        Ok(marker)
    }

    /// Evaluates the marker with `extra` as the value of `extra`.
    #[must_use]
    pub fn evaluate(&self, environment: &Environment, extra: &str) -> bool {
        match self {
            Self::And(a, b) => a.evaluate(environment, extra) && b.evaluate(environment, extra),
            Self::Or(a, b) => a.evaluate(environment, extra) || b.evaluate(environment, extra),
            Self::Compare(left, operator, right) => {
                let is_extra = [left, right]
                    .iter()
                    .any(|v| matches!(v, Value::Variable(name) if name == "extra"));
                let resolve = |value: &Value| match value {
                    Value::Literal(text) if is_extra => normalize(text),
                    Value::Literal(text) => text.clone(),
                    Value::Variable(name) if name == "extra" => extra.to_owned(),
                    Value::Variable(name) => environment
                        .0
                        .get(name.as_str())
                        .cloned()
                        .unwrap_or_default(),
                };
                let versions = [left, right].iter().any(
                    |v| matches!(v, Value::Variable(name) if VERSION_VARIABLES.contains(&name.as_str())),
                );
                compare(&resolve(left), operator, &resolve(right), versions)
            }
        }
    }
}

fn compare(left: &str, operator: &str, right: &str, versions: bool) -> bool {
    match operator {
        "in" => right.contains(left),
        "not in" => !right.contains(left),
        _ if versions => match (
            Version::parse(left),
            Specifier::parse(&format!("{operator}{right}")),
        ) {
            (Ok(version), Ok(specifier)) => specifier.contains(&version),
            _ => string_compare(left, operator, right),
        },
        _ => string_compare(left, operator, right),
    }
}

fn string_compare(left: &str, operator: &str, right: &str) -> bool {
    match operator {
        "==" | "===" => left == right,
        "!=" => left != right,
        _ => false,
    }
}

fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' || c == ')' {
            tokens.push(c.to_string());
            chars.next();
        } else if c == '"' || c == '\'' {
            chars.next();
            let mut literal = String::from("\"");
            loop {
                match chars.next() {
                    Some(end) if end == c => break,
                    Some(other) => literal.push(other),
                    None => return Err("a quoted string is not closed".to_owned()),
                }
            }
            tokens.push(literal);
        } else if "<>=!~".contains(c) {
            let mut operator = String::new();
            while let Some(&o) = chars.peek() {
                if !"<>=!~".contains(o) {
                    break;
                }
                operator.push(o);
                chars.next();
            }
            tokens.push(operator);
        } else {
            let mut word = String::new();
            while let Some(&w) = chars.peek() {
                if !(w.is_ascii_alphanumeric() || w == '_' || w == '.') {
                    break;
                }
                word.push(w);
                chars.next();
            }
            if word.is_empty() {
                return Err(format!("unexpected `{c}` in the marker"));
            }
            tokens.push(word);
        }
    }
    Ok(tokens)
}

fn parse_or(tokens: &[String], position: &mut usize) -> Result<Marker, String> {
    let mut left = parse_and(tokens, position)?;
    while tokens.get(*position).is_some_and(|t| t == "or") {
        *position += 1;
        let right = parse_and(tokens, position)?;
        left = Marker::Or(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn parse_and(tokens: &[String], position: &mut usize) -> Result<Marker, String> {
    let mut left = parse_atom(tokens, position)?;
    while tokens.get(*position).is_some_and(|t| t == "and") {
        *position += 1;
        let right = parse_atom(tokens, position)?;
        left = Marker::And(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn parse_atom(tokens: &[String], position: &mut usize) -> Result<Marker, String> {
    if tokens.get(*position).is_some_and(|t| t == "(") {
        *position += 1;
        let inner = parse_or(tokens, position)?;
        if tokens.get(*position).is_none_or(|t| t != ")") {
            return Err("`(` without `)` in the marker".to_owned());
        }
        *position += 1;
        return Ok(inner);
    }
    let left = parse_value(tokens, position)?;
    let operator = match tokens.get(*position).map(String::as_str) {
        Some("not") if tokens.get(*position + 1).is_some_and(|t| t == "in") => {
            *position += 2;
            "not in".to_owned()
        }
        Some(op @ ("in" | "<" | "<=" | "==" | "!=" | ">=" | ">" | "~=" | "===")) => {
            *position += 1;
            op.to_owned()
        }
        other => {
            return Err(format!(
                "expected a comparison, found `{}`",
                other.unwrap_or("the end")
            ));
        }
    };
    let right = parse_value(tokens, position)?;
    Ok(Marker::Compare(left, operator, right))
}

fn parse_value(tokens: &[String], position: &mut usize) -> Result<Value, String> {
    let token = tokens
        .get(*position)
        .ok_or_else(|| "the marker ends too early".to_owned())?;
    *position += 1;
    if let Some(literal) = token.strip_prefix('"') {
        return Ok(Value::Literal(literal.to_owned()));
    }
    let known = [
        "python_version",
        "python_full_version",
        "os_name",
        "sys_platform",
        "platform_release",
        "platform_system",
        "platform_version",
        "platform_machine",
        "platform_python_implementation",
        "implementation_name",
        "implementation_version",
        "extra",
    ];
    if known.contains(&token.as_str()) {
        Ok(Value::Variable(token.clone()))
    } else {
        Err(format!("`{token}` is not a marker variable"))
    }
}

/// The requirements of a requirements file: one per line, `#` comments, `\` continuations,
/// `--hash` options ignored; other options are refused.
///
/// # Errors
/// The first line that is not a requirement.
pub fn parse_requirements_file(text: &str) -> Result<Vec<Requirement>, RequirementError> {
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    let mut requirements = Vec::new();
    for line in joined.lines() {
        let line = match line.find(" #") {
            Some(at) => &line[..at],
            None if line.trim_start().starts_with('#') => "",
            None => line,
        };
        let line: Vec<&str> = line
            .split_whitespace()
            .filter(|word| !word.starts_with("--hash"))
            .collect();
        let line = line.join(" ");
        if line.is_empty() {
            continue;
        }
        if line.starts_with('-') {
            return Err(RequirementError {
                input: line.escape_default().to_string(),
                reason: "options other than `--hash` are not supported in a mirror list".to_owned(),
            });
        }
        requirements.push(Requirement::parse(&line)?);
    }
    Ok(requirements)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn linux_311() -> Environment {
        Environment::new(BTreeMap::from([
            ("python_version", "3.11".to_owned()),
            ("python_full_version", "3.11.0".to_owned()),
            ("sys_platform", "linux".to_owned()),
            ("platform_system", "Linux".to_owned()),
            ("os_name", "posix".to_owned()),
            ("platform_machine", "x86_64".to_owned()),
            ("implementation_name", "cpython".to_owned()),
        ]))
    }

    #[test]
    fn specifiers_follow_pep_440() {
        let cases = [
            (">=1.0,<2", "1.5", true),
            (">=1.0,<2", "2.0", false),
            ("<2", "2.0rc1", false),
            ("<2", "1.9", true),
            ("==1.2.*", "1.2.9", true),
            ("==1.2.*", "1.3", false),
            ("!=1.2.*", "1.3", true),
            ("~=1.4.2", "1.4.9", true),
            ("~=1.4.2", "1.5", false),
            ("~=2.2", "2.9", true),
            ("~=2.2", "3.0", false),
            ("==1.0", "1.0.0", true),
            ("==1.0", "1.0+local", true),
            (">1.0", "1.0.post1", false),
            (">1.0", "1.1", true),
            ("", "3.0", true),
            ("", "3.0a1", false),
            (">=3.0a1", "3.0a2", true),
            ("===1.0-odd", "1.0", false),
        ];
        for (specifiers, candidate, expected) in cases {
            let parsed = Specifiers::parse(specifiers).unwrap();
            assert_eq!(
                parsed.contains(&version(candidate)),
                expected,
                "{candidate} in {specifiers}"
            );
        }
        assert_eq!(
            Specifiers::parse(" >=1.0, <2 ").unwrap().to_string(),
            ">=1.0,<2"
        );
        assert!(Specifiers::parse(">=x").is_err());
        assert!(Specifiers::parse(">=1.*").is_err());
        assert!(Specifiers::parse("1.0").is_err());
    }

    #[test]
    fn requirements_are_read() {
        let requirement =
            Requirement::parse("Foo.Bar[Test, extra_2] (>=1.0, <2) ; python_version >= '3.8'")
                .unwrap();
        assert_eq!(requirement.name.as_str(), "foo-bar");
        assert_eq!(requirement.extras, ["test", "extra-2"]);
        assert!(requirement.specifiers.contains(&version("1.5")));
        assert!(requirement.applies(&linux_311(), &[]));
        let plain = Requirement::parse("requests").unwrap();
        assert!(plain.specifiers.contains(&version("2.31.0")));
        assert_eq!(
            Requirement::parse("x @ https://example.org/x.whl")
                .unwrap_err()
                .to_string(),
            "invalid requirement `x @ https://example.org/x.whl`: direct references (`name @ url`) cannot be mirrored"
        );
        assert_eq!(
            Requirement::parse(">=1").unwrap_err().to_string(),
            "invalid requirement `>=1`: it does not start with a project name"
        );
    }

    #[test]
    fn markers_are_evaluated() {
        let environment = linux_311();
        for (marker, expected) in [
            ("python_version >= '3.8'", true),
            ("python_version < '3.10'", false),
            ("python_version > '3.9' and sys_platform == 'win32'", false),
            (
                "sys_platform == 'win32' or (os_name == 'posix' and platform_machine == 'x86_64')",
                true,
            ),
            ("'linux' in sys_platform", true),
            ("platform_system not in 'Windows Darwin'", true),
            ("python_full_version >= '3.11'", true),
            ("implementation_name == 'pypy'", false),
        ] {
            let parsed = Marker::parse(marker).unwrap();
            assert_eq!(parsed.evaluate(&environment, ""), expected, "{marker}");
        }
        let extra = Requirement::parse("pytest; extra == 'Test'").unwrap();
        assert!(!extra.applies(&environment, &[]));
        assert!(extra.applies(&environment, &["test".to_owned()]));
        assert!(Marker::parse("python_version >= ").is_err());
        assert!(Marker::parse("colour == 'red'").is_err());
        assert!(Marker::parse("(python_version > '3'").is_err());
    }

    #[test]
    fn requirements_files_are_read() {
        let text = "# pinned\nrequests==2.31.0 \\\n    --hash=sha256:abc\n\nidna>=3 # why\nwinonly; sys_platform == 'win32'\n";
        let requirements = parse_requirements_file(text).unwrap();
        let names: Vec<&str> = requirements.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["requests", "idna", "winonly"]);
        let refused = parse_requirements_file("-e .\n").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "invalid requirement `-e .`: options other than `--hash` are not supported in a mirror list"
        );
    }
}
