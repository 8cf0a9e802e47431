//! What a trust policy asks of a token's claims: each claim a value, exactly or (with a
//! trailing `*`) up to whole segments; and which claims identify a publisher, one of which
//! every policy must pin.
//!
//! A `*` stands for one or more whole trailing segments and may only follow a separator
//! (`/`, `:` or `@`): `refs/tags/*` matches `refs/tags/v1` and `refs/tags/a/b`, and
//! `acme/*` matches `acme/app` but not `acme-evil/app` nor `acme/`. `acme*` is refused: as a
//! prefix it would also match `acme-evil`, an owner anyone can register.

/// The issuer of GitHub Actions OIDC tokens.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The issuer of GitLab.com CI OIDC tokens.
pub const GITLAB_ISSUER: &str = "https://gitlab.com";

/// The characters that end a segment, after which a `*` may stand.
const SEPARATORS: &[char] = &['/', ':', '@'];

/// Claims that identify the publisher on GitHub Actions (github.com, GitHub Enterprise
/// Server, and GitHub's per-enterprise issuers).
const GITHUB_IDENTITY: &[&str] = &[
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "sub",
];
/// Claims that identify the publisher on GitLab CI (gitlab.com and self-hosted).
const GITLAB_IDENTITY: &[&str] = &[
    "project_path",
    "project_id",
    "namespace_path",
    "namespace_id",
    "sub",
];
/// Claims that identify the publisher on an issuer not known to be GitHub's or GitLab's:
/// those two vocabularies (self-hosted GitLab, Gitea and Forgejo use them), Buildkite's and
/// Bitbucket's, and `sub`, which every OpenID Connect ID token has.
const ANY_IDENTITY: &[&str] = &[
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "project_path",
    "project_id",
    "namespace_path",
    "namespace_id",
    "organization_slug",
    "pipeline_slug",
    "workspaceUuid",
    "repositoryUuid",
    "sub",
];
/// The literal segments a wildcard `sub` must start with to identify anyone: its kind and
/// an owner (`repo:acme/*`, `project_path:acme/*`); `repo:*` would be any repository.
const SUB_LITERAL_SEGMENTS: usize = 2;

/// What one claim must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimPattern {
    /// Exactly this value.
    Exact(String),
    /// This prefix (ending with a separator) and at least one more character.
    Segments(String),
}

impl ClaimPattern {
    /// The pattern written `text`.
    ///
    /// # Errors
    /// Why `text` is refused: empty, a bare `*`, or a `*` that is not one trailing whole
    /// segment.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text == "*" {
            return Err(
                "must name a value (a bare `*` would match anything: leave the claim out)"
                    .to_owned(),
            );
        }
        let Some(position) = text.find('*') else {
            return Ok(Self::Exact(text.to_owned()));
        };
        let prefix = &text[..position];
        if position + 1 == text.len() && prefix.ends_with(SEPARATORS) {
            return Ok(Self::Segments(prefix.to_owned()));
        }
        Err(
            "may only end with `*` after `/`, `:` or `@`, where it stands for whole segments (`refs/tags/*`, `acme/*`): a prefix such as `acme*` would also match `acme-evil`"
                .to_owned(),
        )
    }

    /// Whether a claim's `value` satisfies the pattern.
    #[must_use]
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(expected) => value == expected,
            Self::Segments(prefix) => value.len() > prefix.len() && value.starts_with(prefix),
        }
    }

    /// Whether the pattern pins the value of identity claim `name` to an owner at least: an
    /// exact value, or a wildcard after at least one literal segment (two for `sub`).
    fn pins_identity(&self, name: &str) -> bool {
        match self {
            Self::Exact(_) => true,
            Self::Segments(prefix) => {
                let literal = prefix
                    .split(SEPARATORS)
                    .filter(|segment| !segment.is_empty())
                    .count();
                literal
                    >= if name == "sub" {
                        SUB_LITERAL_SEGMENTS
                    } else {
                        1
                    }
            }
        }
    }
}

/// The claims of which a policy for `issuer` must pin one, or any user of that CI service
/// could publish.
#[must_use]
pub fn identity_claims(issuer: &str) -> &'static [&'static str] {
    let github = issuer == GITHUB_ISSUER
        || issuer.starts_with(&format!("{GITHUB_ISSUER}/"))
        || issuer.ends_with("/_services/token");
    if github {
        GITHUB_IDENTITY
    } else if issuer == GITLAB_ISSUER {
        GITLAB_IDENTITY
    } else {
        ANY_IDENTITY
    }
}

/// Checks that `claims` pin one identity claim of `issuer`.
///
/// # Errors
/// Which claims could be pinned, when none is (or only with a wildcard that pins no owner).
pub fn check_identity(issuer: &str, claims: &[(String, ClaimPattern)]) -> Result<(), String> {
    let required = identity_claims(issuer);
    let pinned = claims
        .iter()
        .any(|(name, pattern)| required.contains(&name.as_str()) && pattern.pins_identity(name));
    if pinned {
        return Ok(());
    }
    Err(format!(
        "must pin one of {} for issuer `{issuer}` (a wildcard only after an owner, such as `acme/*`, or `repo:acme/*` for `sub`), or any of its users could publish",
        required
            .iter()
            .map(|claim| format!("`{claim}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_whole_trailing_segments() {
        let cases: &[(&str, &str, bool)] = &[
            ("acme", "acme", true),
            ("acme", "acme-evil", false),
            ("acme", "Acme", false),
            ("acme/*", "acme/app", true),
            ("acme/*", "acme/app/sub", true),
            ("acme/*", "acme/", false),
            ("acme/*", "acme", false),
            ("acme/*", "acme-evil/app", false),
            ("acme/*", "acmeevil/app", false),
            ("refs/tags/*", "refs/tags/v1.0", true),
            ("refs/tags/*", "refs/tags/", false),
            ("refs/tags/*", "refs/tagsx/v1", false),
            ("refs/tags/*", "refs/heads/main", false),
            ("repo:acme/*", "repo:acme/app:ref:refs/tags/v1", true),
            ("repo:acme/*", "repo:acme-evil/app:ref:refs/tags/v1", false),
            ("repo:acme/app:*", "repo:acme/app:environment:release", true),
            (
                "repo:acme/app:*",
                "repo:acme/app2:environment:release",
                false,
            ),
            ("a/b.yml@refs/tags/*", "a/b.yml@refs/tags/v1", true),
            ("a/b.yml@*", "a/b.yml@refs/heads/main", true),
            ("a/b.yml@*", "a/b.ymlx@refs/heads/main", false),
        ];
        for (pattern, value, expected) in cases {
            let parsed = ClaimPattern::parse(pattern).unwrap();
            assert_eq!(parsed.matches(value), *expected, "{pattern} ~ {value}");
        }
    }

    #[test]
    fn wildcards_inside_segments_are_refused() {
        for pattern in [
            "acme*",
            "refs/tags/v*",
            "*/app",
            "a*b",
            "acme/*/app",
            "**",
            "a/**",
        ] {
            let error = ClaimPattern::parse(pattern).unwrap_err();
            assert!(error.contains("`acme-evil`"), "{pattern}: {error}");
        }
        for pattern in ["", "*"] {
            let error = ClaimPattern::parse(pattern).unwrap_err();
            assert!(error.contains("must name a value"), "{pattern}: {error}");
        }
    }

    /// An issuer, the claims of a policy, and whether they pin an identity.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);

    #[test]
    fn every_issuer_needs_an_identity_pin() {
        let claims = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), ClaimPattern::parse(value).unwrap()))
                .collect::<Vec<_>>()
        };
        let github = "https://token.actions.githubusercontent.com";
        let enterprise = "https://token.actions.githubusercontent.com/acme";
        let ghes = "https://github.acme.example/_services/token";
        let gitlab = "https://gitlab.com";
        let own_gitlab = "https://gitlab.acme.example";
        let cases: &[Case] = &[
            (github, &[("repository", "acme/app")], true),
            (github, &[("repository", "acme/*")], true),
            (github, &[("repository_owner", "acme")], true),
            (github, &[("project_path", "acme/app")], false),
            (github, &[("ref", "refs/tags/*")], false),
            (github, &[("sub", "repo:acme/*")], true),
            (github, &[("sub", "repo:*")], false),
            (enterprise, &[("environment", "release")], false),
            (enterprise, &[("repository", "acme/app")], true),
            (ghes, &[("ref", "refs/tags/*")], false),
            (ghes, &[("repository_owner_id", "42")], true),
            (gitlab, &[("project_path", "acme/app")], true),
            (gitlab, &[("repository", "acme/app")], false),
            (own_gitlab, &[("ref_protected", "true")], false),
            (own_gitlab, &[("namespace_path", "acme/*")], true),
            (own_gitlab, &[("sub", "project_path:acme/*")], true),
            (own_gitlab, &[("sub", "project_path:*")], false),
            (
                "https://agent.buildkite.com",
                &[("organization_slug", "acme")],
                true,
            ),
            (
                "https://idp.example",
                &[("email", "ci@acme.example")],
                false,
            ),
            ("https://idp.example", &[("sub", "1234567890")], true),
            ("https://idp.example", &[], false),
        ];
        for (issuer, pairs, expected) in cases {
            let result = check_identity(issuer, &claims(pairs));
            assert_eq!(result.is_ok(), *expected, "{issuer} {pairs:?}: {result:?}");
            if let Err(error) = result {
                assert!(error.contains("must pin one of `"), "{error}");
                assert!(error.contains(issuer), "{error}");
            }
        }
    }
}
