//! Trust policies: which OIDC tokens may publish where, and with which registry credential.
//! Read once at startup from the operator's TOML file; every field is checked there, and the
//! error names the policy and the field.
//!
//! ```toml
//! [[policy]]
//! name = "acme-app"
//! issuer = "https://token.actions.githubusercontent.com"
//! registry = "https://ghcr.io"
//! namespaces = ["acme/python"]
//! claims = { repository = "acme/app", ref = "refs/tags/*", environment = "release" }
//! projects = ["acme-app"]
//! promotions = [{ from = "acme/staging", to = "acme/production" }]
//! credential = { username = "acme-bot", password_file = "/run/secrets/ghcr-token" }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::claims::{self, ClaimPattern};
use super::credential::{Credential, RawCredential, read_credential};
use super::error::PublishingError;
use crate::net::Origin;
use crate::packaging::ProjectName;
use crate::storage::Repository;

use super::claims::GITHUB_ISSUER;

/// The longest policy name (it travels in upload tokens).
const MAX_NAME_LENGTH: usize = 64;

/// The parsed trusted publishers file.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    /// Whether `http://` issuers on loopback are accepted (tests).
    pub allow_insecure_issuer: bool,
    /// The policies, in file order (the first that matches a token is used).
    pub policies: Vec<TrustPolicy>,
}

/// One trust policy.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// Its name, unique in the file.
    pub name: String,
    /// The issuer URL, without a trailing `/`.
    pub issuer: String,
    /// Claims that must all match.
    claims: Vec<(String, ClaimPattern)>,
    /// The registry it may publish to.
    pub registry: Origin,
    /// The namespaces it may publish to, lowercase.
    pub namespaces: Vec<String>,
    /// The projects it may publish, when it names them (else any project of the namespaces).
    pub projects: Option<Vec<ProjectName>>,
    /// The promotions its tokens may make (source namespace, destination namespace, both
    /// of its registry, lowercase), of its projects when it names them.
    pub promotions: Vec<(String, String)>,
    /// The registry credential used for its uploads and promotions.
    pub credential: Credential,
}

impl TrustPolicy {
    /// Whether a verified token's claims satisfy every claim of this policy. Booleans and
    /// numbers compare as their JSON text (`true`, `42`); arrays and objects never match.
    #[must_use]
    pub fn matches(&self, claims: &Map<String, Value>) -> bool {
        self.claims.iter().all(|(name, pattern)| {
            claims
                .get(name)
                .and_then(claim_text)
                .is_some_and(|value| pattern.matches(&value))
        })
    }
}

fn claim_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    allow_insecure_issuer: bool,
    #[serde(default)]
    policy: Vec<RawPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    issuer: String,
    registry: String,
    namespaces: Vec<String>,
    claims: BTreeMap<String, toml::Value>,
    projects: Option<Vec<String>>,
    #[serde(default)]
    promotions: Vec<RawPromotion>,
    credential: RawCredential,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPromotion {
    from: String,
    to: String,
}

/// Reads and checks the trusted publishers file at `path`; `environment` looks up the
/// variables that `password_env` names.
///
/// # Errors
/// [`PublishingError::ReadFile`] or [`PublishingError::InvalidPolicies`] naming the field.
pub fn load(
    path: &Path,
    environment: &dyn Fn(&str) -> Option<String>,
) -> Result<Policies, PublishingError> {
    let text = std::fs::read_to_string(path).map_err(|source| PublishingError::ReadFile {
        what: "the trusted publishers file".to_owned(),
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, path, environment)
}

/// Parses the text of a trusted publishers file; relative `password_file` paths are taken
/// from the file's directory.
///
/// # Errors
/// [`PublishingError::InvalidPolicies`] naming the policy and the field.
pub fn parse(
    text: &str,
    path: &Path,
    environment: &dyn Fn(&str) -> Option<String>,
) -> Result<Policies, PublishingError> {
    let invalid = |reason: String| PublishingError::InvalidPolicies {
        path: path.display().to_string(),
        reason,
    };
    let file: PolicyFile = crate::toml_text::parse(text).map_err(&invalid)?;
    if file.policy.is_empty() {
        return Err(invalid(
            "it has no `[[policy]]`: add at least one, or remove --trusted-publishers".to_owned(),
        ));
    }
    let directory = path.parent().unwrap_or_else(|| Path::new("."));
    let mut policies = Vec::with_capacity(file.policy.len());
    for raw in file.policy {
        let policy = check_policy(raw, file.allow_insecure_issuer, directory, environment)
            .map_err(&invalid)?;
        if policies
            .iter()
            .any(|other: &TrustPolicy| other.name == policy.name)
        {
            return Err(invalid(format!(
                "two policies are named `{}`: names must be unique",
                policy.name
            )));
        }
        policies.push(policy);
    }
    Ok(Policies {
        allow_insecure_issuer: file.allow_insecure_issuer,
        policies,
    })
}

fn check_policy(
    raw: RawPolicy,
    allow_insecure: bool,
    directory: &Path,
    environment: &dyn Fn(&str) -> Option<String>,
) -> Result<TrustPolicy, String> {
    let name = raw.name.trim().to_owned();
    let valid_name = !name.is_empty()
        && name.len() <= MAX_NAME_LENGTH
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name {
        return Err(format!(
            "policy `{}`: `name` must be 1 to {MAX_NAME_LENGTH} letters, digits, `-`, `_` or `.`",
            raw.name.escape_default()
        ));
    }
    let field = |field: &str, reason: String| format!("policy `{name}`: `{field}` {reason}");
    let issuer = parse_issuer(&raw.issuer, allow_insecure).map_err(|r| field("issuer", r))?;
    let claims = parse_claims(&issuer, raw.claims).map_err(|r| field("claims", r))?;
    let registry = Origin::parse(&raw.registry).map_err(|e| field("registry", e.to_string()))?;
    let namespaces = parse_namespaces(&raw.namespaces).map_err(|r| field("namespaces", r))?;
    let projects = raw
        .projects
        .map(|projects| parse_projects(&projects))
        .transpose()
        .map_err(|r| field("projects", r))?;
    let promotions = parse_promotions(&raw.promotions).map_err(|r| field("promotions", r))?;
    let credential = read_credential(raw.credential, registry.authority(), directory, environment)
        .map_err(|r| field("credential", r))?;
    Ok(TrustPolicy {
        name,
        issuer,
        claims,
        registry,
        namespaces,
        projects,
        promotions,
        credential,
    })
}

/// An issuer URL: https, or http on loopback when the file allows it. Returned without a
/// trailing `/`.
fn parse_issuer(input: &str, allow_insecure: bool) -> Result<String, String> {
    let trimmed = input.trim().trim_end_matches('/');
    let url = url::Url::parse(trimmed).map_err(|_| {
        format!(
            "`{}` is not a URL such as `{GITHUB_ISSUER}`",
            input.escape_default()
        )
    })?;
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err("must have no credentials, query or fragment".to_owned());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(trimmed.to_owned()),
        "http" if allow_insecure && loopback => Ok(trimmed.to_owned()),
        _ => Err(format!(
            "`{}` must be an https URL (http only for a loopback issuer, with `allow_insecure_issuer = true`)",
            input.escape_default()
        )),
    }
}

fn parse_claims(
    issuer: &str,
    raw: BTreeMap<String, toml::Value>,
) -> Result<Vec<(String, ClaimPattern)>, String> {
    let mut claims = Vec::with_capacity(raw.len());
    for (name, value) in raw {
        let text = match value {
            toml::Value::String(text) => text,
            toml::Value::Boolean(flag) => flag.to_string(),
            toml::Value::Integer(number) => number.to_string(),
            _ => {
                return Err(format!(
                    "`{name}` must be a string, a boolean or an integer"
                ));
            }
        };
        let pattern = ClaimPattern::parse(&text).map_err(|reason| {
            format!("`{name}` = `{}` {reason}", crate::packaging::shown(&text))
        })?;
        claims.push((name, pattern));
    }
    claims::check_identity(issuer, &claims)?;
    Ok(claims)
}

/// The projects a policy may publish, normalised (PEP 503) and without repeats.
fn parse_projects(raw: &[String]) -> Result<Vec<ProjectName>, String> {
    if raw.is_empty() {
        return Err(
            "must list at least one project, such as `[\"my-package\"]` (leave it out to allow every project of the namespaces)"
                .to_owned(),
        );
    }
    let mut projects = Vec::with_capacity(raw.len());
    for name in raw {
        let project = ProjectName::parse(name.trim()).map_err(|error| error.to_string())?;
        if !projects.contains(&project) {
            projects.push(project);
        }
    }
    Ok(projects)
}

/// `[{ from = "acme/staging", to = "acme/production" }]`: pairs of distinct namespaces.
fn parse_promotions(raw: &[RawPromotion]) -> Result<Vec<(String, String)>, String> {
    let mut promotions = Vec::with_capacity(raw.len());
    for promotion in raw {
        let from = parse_namespace(&promotion.from)?;
        let to = parse_namespace(&promotion.to)?;
        if from == to {
            return Err(format!("`{from}` to itself is no promotion"));
        }
        promotions.push((from, to));
    }
    Ok(promotions)
}

fn parse_namespace(namespace: &str) -> Result<String, String> {
    let lowered = namespace.trim().trim_matches('/').to_ascii_lowercase();
    Repository::parse(&lowered)
        .map(|_| lowered)
        .map_err(|_| format!("`{}` is not a namespace", namespace.escape_default()))
}

fn parse_namespaces(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.is_empty() {
        return Err("must list at least one namespace, such as `[\"my-org/python\"]`".to_owned());
    }
    raw.iter()
        .map(|namespace| parse_namespace(namespace))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env(name: &str) -> Option<String> {
        (name == "REGISTRY_TOKEN").then(|| "s3cret\n".to_owned())
    }

    const GOOD: &str = r#"
        [[policy]]
        name = "app"
        issuer = "https://token.actions.githubusercontent.com/"
        registry = "https://ghcr.io"
        namespaces = ["Acme/Python"]
        claims = { repository = "acme/app", ref = "refs/tags/*", ref_protected = true }
        credential = { username = "bot", password_env = "REGISTRY_TOKEN" }
    "#;

    fn parse_text(text: &str) -> Result<Policies, String> {
        parse(text, Path::new("/etc/oci-pypi/publishers.toml"), &env).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_a_policy() {
        let policies = parse_text(GOOD).unwrap();
        let policy = &policies.policies[0];
        assert_eq!(policy.issuer, GITHUB_ISSUER);
        assert_eq!(policy.namespaces, vec!["acme/python".to_owned()]);
        assert_eq!(policy.registry.to_string(), "https://ghcr.io");
        assert_eq!(policy.credential.username(), "bot");
        assert!(policy.promotions.is_empty());
        let promoting = parse_text(&GOOD.replace(
            "credential =",
            "promotions = [{ from = \"Acme/Staging/\", to = \"acme/production\" }]\ncredential =",
        ))
        .unwrap();
        assert_eq!(
            promoting.policies[0].promotions,
            [("acme/staging".to_owned(), "acme/production".to_owned())]
        );
        assert_eq!(policy.credential.password().expose(), "s3cret");
        assert!(!format!("{policy:?}").contains("s3cret"));
    }

    #[test]
    fn matches_exact_prefix_and_boolean_claims() {
        let policies = parse_text(GOOD).unwrap();
        let policy = &policies.policies[0];
        let claims = |value: Value| value.as_object().unwrap().clone();
        let good = claims(serde_json::json!({
            "repository": "acme/app", "ref": "refs/tags/v1.2", "ref_protected": true
        }));
        assert!(policy.matches(&good));
        let as_text = claims(serde_json::json!({
            "repository": "acme/app", "ref": "refs/tags/v2", "ref_protected": "true"
        }));
        assert!(policy.matches(&as_text));
        for bad in [
            serde_json::json!({"repository": "acme/app", "ref": "refs/heads/main", "ref_protected": true}),
            serde_json::json!({"repository": "acme/app", "ref": "refs/tags/", "ref_protected": true}),
            serde_json::json!({"repository": "acme/app2", "ref": "refs/tags/v1", "ref_protected": true}),
            serde_json::json!({"repository": "acme/app", "ref": "refs/tags/v1", "ref_protected": false}),
            serde_json::json!({"repository": "acme/app", "ref": "refs/tags/v1"}),
            serde_json::json!({"repository": ["acme/app"], "ref": "refs/tags/v1", "ref_protected": true}),
        ] {
            assert!(!policy.matches(&claims(bad.clone())), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_policy_and_the_field() {
        let cases = [
            (GOOD.replace("claims", "clams"), "unknown field `clams`"),
            (GOOD.replace("name = \"app\"\n", ""), "missing field `name`"),
            (
                GOOD.replace("https://token", "http://token"),
                "policy `app`: `issuer` `http://token.actions.githubusercontent.com/` must be an https URL",
            ),
            (
                GOOD.replace("https://ghcr.io", "ftp://ghcr.io"),
                "policy `app`: `registry`",
            ),
            (
                GOOD.replace("[\"Acme/Python\"]", "[]"),
                "policy `app`: `namespaces` must list at least one namespace",
            ),
            (
                GOOD.replace("[\"Acme/Python\"]", "[\"a//b\"]"),
                "policy `app`: `namespaces` `a//b` is not a namespace",
            ),
            (
                GOOD.replace(
                    "credential =",
                    "promotions = [{ from = \"a/b\", to = \"A/B\" }]\ncredential =",
                ),
                "policy `app`: `promotions` `a/b` to itself is no promotion",
            ),
            (
                GOOD.replace(
                    "credential =",
                    "promotions = [{ from = \"a/b\" }]\ncredential =",
                ),
                "missing field `to`",
            ),
            (
                GOOD.replace("repository = \"acme/app\", ", ""),
                "policy `app`: `claims` must pin one of `repository`",
            ),
            (
                GOOD.replace("\"refs/tags/*\"", "\"*\""),
                "policy `app`: `claims` `ref` = `*` must name a value",
            ),
            (
                GOOD.replace("\"acme/app\"", "\"acme*\""),
                "policy `app`: `claims` `repository` = `acme*` may only end with `*` after `/`",
            ),
            (
                GOOD.replace("\"acme/app\"", "\"*/app\""),
                "policy `app`: `claims` `repository` = `*/app` may only end with `*`",
            ),
            (
                GOOD.replace(
                    "ref_protected = true",
                    "ref_protected = true, sub = \"repo:*\"",
                )
                .replace("repository = \"acme/app\", ", ""),
                "policy `app`: `claims` must pin one of",
            ),
            (
                GOOD.replace("namespaces", "projects = []\nnamespaces"),
                "policy `app`: `projects` must list at least one project",
            ),
            (
                GOOD.replace("namespaces", "projects = [\"a b\"]\nnamespaces"),
                "policy `app`: `projects` invalid project name `a b`",
            ),
            (
                GOOD.replace("ref_protected = true", "ref_protected = [1]"),
                "`ref_protected` must be a string, a boolean or an integer",
            ),
            (
                GOOD.replace("REGISTRY_TOKEN", "MISSING"),
                "policy `app`: `credential` `password_env`: the variable `MISSING` is not set",
            ),
            (
                GOOD.replace("password_env = \"REGISTRY_TOKEN\"", "password = \"x\""),
                "unknown field `password`",
            ),
            (
                GOOD.replace(
                    "password_env = \"REGISTRY_TOKEN\"",
                    "password_file = \"nope\"",
                ),
                "`password_file` `/etc/oci-pypi/nope`",
            ),
            (
                GOOD.replace("name = \"app\"", "name = \"a b\""),
                "policy `a b`: `name` must be",
            ),
            (format!("{GOOD}\n{GOOD}"), "two policies are named `app`"),
            (String::new(), "it has no `[[policy]]`"),
        ];
        for (text, expected) in cases {
            let error = parse_text(&text).unwrap_err();
            assert!(
                error.starts_with("trusted publishers file `/etc/oci-pypi/publishers.toml`: "),
                "{error}"
            );
            assert!(error.contains(expected), "`{error}` lacks `{expected}`");
        }
    }

    #[test]
    fn insecure_issuers_only_on_loopback_and_when_allowed() {
        assert!(parse_issuer("http://127.0.0.1:8000", false).is_err());
        assert_eq!(
            parse_issuer("http://127.0.0.1:8000/", true).unwrap(),
            "http://127.0.0.1:8000"
        );
        assert!(parse_issuer("http://localhost:1", true).is_ok());
        assert!(parse_issuer("http://10.0.0.1", true).is_err());
        assert!(parse_issuer("https://user:pw@gitlab.com", false).is_err());
        assert!(parse_issuer("gitlab.com", false).is_err());
    }

    /// Security review, finding 8b: self-hosted GitLab, GitHub Enterprise Server, GitHub's
    /// per-enterprise issuer and any other issuer need an identity claim too, or every
    /// project on them could publish.
    #[test]
    fn every_issuer_needs_an_identity_claim() {
        let unpinned = GOOD.replace("repository = \"acme/app\", ", "");
        for issuer in [
            "https://gitlab.acme.example",
            "https://github.acme.example/_services/token",
            "https://token.actions.githubusercontent.com/acme",
            "https://idp.example",
        ] {
            let text = unpinned.replace("https://token.actions.githubusercontent.com/", issuer);
            let error = parse_text(&text).unwrap_err();
            assert!(
                error.contains("policy `app`: `claims` must pin one of"),
                "{issuer}: {error}"
            );
            let pinned = GOOD.replace("https://token.actions.githubusercontent.com/", issuer);
            assert!(parse_text(&pinned).is_ok(), "{issuer}");
        }
        let error = parse(GOOD, Path::new("p.toml"), &no_env)
            .unwrap_err()
            .to_string();
        assert!(error.contains("REGISTRY_TOKEN"), "{error}");
    }

    /// The policy file of docs/trusted-publishing.md passes today's checks.
    #[test]
    fn the_documented_policy_file_is_valid() {
        let docs = include_str!("../../docs/trusted-publishing.md");
        let start = docs.find("```toml\n").unwrap() + "```toml\n".len();
        let block = &docs[start..];
        let block = &block[..block.find("```").unwrap()];
        let text = block.replace(
            "password_file = \"/run/secrets/ghcr-token\"",
            "password_env = \"GHCR_TOKEN\"",
        );
        let any_env = |_: &str| Some("secret".to_owned());
        let policies = parse(&text, Path::new("publishers.toml"), &any_env).unwrap();
        let names: Vec<&str> = policies.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["acme-app-releases", "platform-libs"]);
        assert!(policies.policies[0].projects.is_some());
    }

    /// Security review, finding 8a: `projects` is kept normalised, once each.
    #[test]
    fn projects_are_normalised() {
        let text = GOOD.replace(
            "namespaces",
            "projects = [\"My.Package\", \"my_package\", \"other\"]\nnamespaces",
        );
        let policies = parse_text(&text).unwrap();
        let projects: Vec<String> = policies.policies[0]
            .projects
            .iter()
            .flatten()
            .map(ToString::to_string)
            .collect();
        assert_eq!(projects, ["my-package", "other"]);
        assert!(parse_text(GOOD).unwrap().policies[0].projects.is_none());
    }
}
