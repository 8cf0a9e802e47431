//! Trusted publishing: CI jobs exchange an OIDC ID token from their provider (GitHub Actions,
//! GitLab CI, any OIDC issuer) for a short-lived upload token, as PyPI does, so that no
//! long-lived registry secret lives in CI.
//!
//! Owns the trust policies (which tokens may publish to which registry namespace, with which
//! registry credential), OIDC token verification against the issuers' published keys, and the
//! upload tokens it mints. Knows nothing of HTTP routing or of Python packages.
//!
//! Protocol: <https://docs.pypi.org/trusted-publishers/internals/> (`/_/oidc/audience`,
//! `/_/oidc/mint-token`); tokens are OpenID Connect ID tokens (RFC 7519, RFC 7517).

mod claims;
mod credential;
mod error;
mod keys;
mod oidc;
pub mod policy;
pub mod token;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use credential::Credential;
pub use error::PublishingError;
pub use policy::{Policies, TrustPolicy};
pub use token::{TOKEN_PREFIX, TokenClaims, TokenSigner};

use crate::net::{Origin, Secret};
use crate::packaging::ProjectName;

/// The audience announced when none is configured.
pub const DEFAULT_AUDIENCE: &str = "oci-pypi";
/// How long a minted upload token lives when not configured otherwise.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// What the service is made of (what [`TrustedPublishing::load`] reads from its settings).
#[derive(Debug)]
pub struct PublishingParts {
    /// The `aud` that OIDC tokens must carry.
    pub audience: String,
    /// The trust policies.
    pub policies: Policies,
    /// Signs and verifies upload tokens.
    pub signer: TokenSigner,
    /// How long an upload token lives.
    pub lifetime: Duration,
}

/// The trusted publishing service, shared by all requests.
#[derive(Debug)]
pub struct TrustedPublishing {
    audience: String,
    policies: Vec<TrustPolicy>,
    keys: keys::KeyCache,
    signer: TokenSigner,
    lifetime: Duration,
    /// OIDC tokens already exchanged here, by issuer and `jti`, until they expire.
    exchanged: std::sync::Mutex<HashMap<(String, String), u64>>,
}

/// OIDC token ids remembered at most (expired ones are dropped first).
const MAX_EXCHANGED: usize = 100_000;

/// An upload token just minted.
#[derive(Debug, Clone)]
pub struct MintedToken {
    /// The token, to be sent as the upload password.
    pub token: Secret,
    /// When it expires, in seconds since the epoch.
    pub expires: u64,
}

/// What a verified upload token allows: uploads to these namespaces of this registry (of
/// these projects only, when it names them), made with the policy's credential.
#[derive(Debug, Clone)]
pub struct UploadScope {
    /// The trust policy.
    pub policy: String,
    /// The registry.
    pub registry: Origin,
    /// The namespaces, lowercase.
    pub namespaces: Vec<String>,
    /// The projects it may publish, or `None` for any project of the namespaces.
    pub projects: Option<Vec<ProjectName>>,
    /// The promotions it may make (source and destination namespaces), as its policy says
    /// now.
    pub promotions: Vec<(String, String)>,
    /// The registry credential for the upload.
    pub credential: Credential,
    /// The OIDC issuer and signing identity of the CI job that minted the token (see
    /// [`signing_identity`]), when the token records them.
    pub signer: Option<(String, String)>,
}

/// The identity a Sigstore signing certificate issued for an OIDC token with `claims`
/// names (its subject alternative name): GitHub's `job_workflow_ref` as a URL, GitLab's
/// `ci_config_ref_uri` as a URL, otherwise the email or the subject.
#[must_use]
pub fn signing_identity(claims: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    let text = |key: &str| claims.get(key).and_then(serde_json::Value::as_str);
    if let Some(workflow) = text("job_workflow_ref") {
        return Some(format!("https://github.com/{workflow}"));
    }
    if let Some(config) = text("ci_config_ref_uri") {
        return Some(format!("https://{config}"));
    }
    text("email").or_else(|| text("sub")).map(str::to_owned)
}

/// What the configuration says about trusted publishing (`--trusted-publishers` and the
/// settings that go with it).
#[derive(Debug, Clone)]
pub struct PublishingSettings {
    /// The trust policy file.
    pub policies_file: PathBuf,
    /// The file holding the key upload tokens are signed with; `None`: a random key.
    pub token_secret_file: Option<PathBuf>,
    /// The audience OIDC tokens must carry.
    pub audience: String,
    /// How long a minted upload token lives.
    pub token_lifetime: Duration,
    /// The registries the server serves (policies may name only these).
    pub registries: Vec<Origin>,
    /// Whether any public https registry is served as well.
    pub any_public_registry: bool,
}

impl TrustedPublishing {
    /// The service these settings describe.
    ///
    /// # Errors
    /// An unreadable or invalid policy file or token secret, or a policy whose registry is
    /// not among `--registries`.
    pub fn load(settings: &PublishingSettings) -> Result<Self, PublishingError> {
        let path = &settings.policies_file;
        // `password_env` entries are read once, here, at startup.
        let policies = policy::load(path, &|name| std::env::var(name).ok())?;
        for policy in &policies.policies {
            let https = policy.registry.scheme() == "https";
            let allowed = settings.registries.contains(&policy.registry)
                || (settings.any_public_registry && https);
            if !allowed {
                return Err(PublishingError::InvalidPolicies {
                    path: path.display().to_string(),
                    reason: format!(
                        "policy `{}`: `registry` `{}` is not among --registries",
                        policy.name, policy.registry
                    ),
                });
            }
        }
        let signer = if let Some(file) = &settings.token_secret_file {
            TokenSigner::from_file(file)?
        } else {
            tracing::warn!(
                "no --token-secret-file: upload tokens minted here are accepted only by this process, until it restarts"
            );
            TokenSigner::random()?
        };
        let service = Self::new(PublishingParts {
            audience: settings.audience.clone(),
            policies,
            signer,
            lifetime: settings.token_lifetime,
        })?;
        tracing::info!(
            publishing.policies = service.policies.len(),
            "trusted publishing enabled with {} polic{} (audience `{}`)",
            service.policies.len(),
            if service.policies.len() == 1 {
                "y"
            } else {
                "ies"
            },
            service.audience
        );
        Ok(service)
    }

    /// The service made of these parts.
    ///
    /// # Errors
    /// [`PublishingError::ClientSetup`] when the HTTP client cannot be built.
    pub fn new(parts: PublishingParts) -> Result<Self, PublishingError> {
        let issuers = parts
            .policies
            .policies
            .iter()
            .map(|policy| policy.issuer.clone());
        Ok(Self {
            audience: parts.audience,
            keys: keys::KeyCache::new(issuers)?,
            policies: parts.policies.policies,
            signer: parts.signer,
            lifetime: parts.lifetime,
            exchanged: std::sync::Mutex::default(),
        })
    }

    /// The audience OIDC tokens must be requested for.
    #[must_use]
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Exchanges a CI provider's OIDC token for an upload token.
    ///
    /// # Errors
    /// [`PublishingError::InvalidToken`] when the token does not verify,
    /// [`PublishingError::NoMatchingPublisher`] when no policy matches its claims,
    /// [`PublishingError::IssuerUnavailable`] when the issuer's keys cannot be fetched.
    pub async fn mint(&self, oidc_token: &str) -> Result<MintedToken, PublishingError> {
        let unverified = oidc::inspect(oidc_token)?;
        let issuer = unverified.issuer.clone();
        if !self.policies.iter().any(|policy| policy.issuer == issuer) {
            return Err(PublishingError::InvalidToken(format!(
                "issuer `{}` is not trusted here",
                issuer.escape_default()
            )));
        }
        let keys = self.keys.keys(&issuer, unverified.kid.as_deref()).await?;
        let now = unix_now();
        let claims = oidc::verify(oidc_token, &unverified, &keys, &self.audience, now)?;
        let subject = claims
            .get("sub")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let policy = self
            .policies
            .iter()
            .find(|policy| policy.issuer == issuer && policy.matches(&claims))
            .ok_or_else(|| PublishingError::NoMatchingPublisher {
                issuer: issuer.clone(),
                subject: subject.escape_default().to_string(),
            })?;
        self.first_exchange(&issuer, &claims, now)?;
        let expires = now.saturating_add(self.lifetime.as_secs());
        let jti = hex::encode(token::random_bytes::<16>()?);
        let token = self.signer.sign(&TokenClaims {
            policy: policy.name.clone(),
            registry: policy.registry.to_string(),
            namespaces: policy.namespaces.clone(),
            projects: policy
                .projects
                .as_ref()
                .map(|projects| projects.iter().map(ToString::to_string).collect()),
            iat: now,
            exp: expires,
            jti: jti.clone(),
            oidc_issuer: Some(issuer.clone()),
            signing_identity: signing_identity(&claims),
        })?;
        tracing::info!(
            publishing.policy = %policy.name,
            oidc.issuer = %issuer,
            oidc.subject = %subject,
            token.id = %jti,
            "minted an upload token for trusted publisher `{}` (subject `{subject}`)",
            policy.name
        );
        Ok(MintedToken {
            token: Secret::new(token),
            expires,
        })
    }

    /// Refuses an OIDC token this process already exchanged (by its `jti`, as PyPI does), so
    /// that a token copied from a CI log cannot be exchanged again while it is valid. Per
    /// process: replicas do not share what they saw, which the short lifetime of CI tokens
    /// bounds. Tokens without a `jti` cannot be told apart and are not refused.
    fn first_exchange(
        &self,
        issuer: &str,
        claims: &serde_json::Map<String, serde_json::Value>,
        now: u64,
    ) -> Result<(), PublishingError> {
        let Some(jti) = claims.get("jti").and_then(serde_json::Value::as_str) else {
            return Ok(());
        };
        let expires = claims
            .get("exp")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(now);
        let mut exchanged = self
            .exchanged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (issuer.to_owned(), jti.to_owned());
        if exchanged.get(&key).is_some_and(|until| *until >= now) {
            return Err(PublishingError::InvalidToken(format!(
                "this token (jti `{}`) was already exchanged; request a new one",
                jti.chars().take(64).collect::<String>().escape_default()
            )));
        }
        if exchanged.len() >= MAX_EXCHANGED {
            exchanged.retain(|_, until| *until >= now);
        }
        if exchanged.len() < MAX_EXCHANGED {
            // Until the verification would refuse it anyway (`exp` plus the clock leeway).
            exchanged.insert(key, expires.saturating_add(oidc::LEEWAY));
        }
        Ok(())
    }

    /// What an upload token (the password of an upload) allows.
    ///
    /// # Errors
    /// [`PublishingError::InvalidUploadToken`], [`PublishingError::UploadTokenExpired`], or
    /// [`PublishingError::UnknownPublisher`] when its policy was removed or changed registry.
    pub fn verify(&self, upload_token: &str) -> Result<UploadScope, PublishingError> {
        let claims = self.signer.verify(upload_token, unix_now())?;
        let policy = self
            .policies
            .iter()
            .find(|policy| {
                policy.name == claims.policy && policy.registry.to_string() == claims.registry
            })
            .ok_or_else(|| PublishingError::UnknownPublisher(claims.policy.clone()))?;
        // Namespaces removed from the policy since the token was minted are no longer allowed.
        let namespaces = claims
            .namespaces
            .into_iter()
            .filter(|namespace| policy.namespaces.contains(namespace))
            .collect();
        Ok(UploadScope {
            policy: policy.name.clone(),
            registry: policy.registry.clone(),
            namespaces,
            projects: allowed_projects(claims.projects, policy.projects.as_ref()),
            promotions: policy.promotions.clone(),
            credential: policy.credential.clone(),
            signer: claims.oidc_issuer.zip(claims.signing_identity),
        })
    }
}

/// The projects an upload token may publish: those it was minted with, less those its
/// policy no longer names; the policy's when the token names none (minted before the policy
/// listed any); `None` (any project) when neither does.
fn allowed_projects(
    minted: Option<Vec<String>>,
    policy: Option<&Vec<ProjectName>>,
) -> Option<Vec<ProjectName>> {
    let minted = minted.map(|names| {
        names
            .iter()
            .filter_map(|name| ProjectName::parse(name).ok())
            .collect::<Vec<_>>()
    });
    match (minted, policy) {
        (None, None) => None,
        (None, Some(current)) => Some(current.clone()),
        (Some(minted), None) => Some(minted),
        (Some(minted), Some(current)) => Some(
            minted
                .into_iter()
                .filter(|project| current.contains(project))
                .collect(),
        ),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> TrustedPublishing {
        let text = r#"
            [[policy]]
            name = "app"
            issuer = "https://gitlab.com"
            registry = "https://ghcr.io"
            namespaces = ["acme/python", "acme/staging"]
            claims = { project_path = "acme/app" }
            credential = { username = "bot", password_env = "TOKEN" }
        "#;
        let environment = |_: &str| Some("registry-password".to_owned());
        let policies = policy::parse(text, std::path::Path::new("p.toml"), &environment).unwrap();
        TrustedPublishing::new(PublishingParts {
            audience: DEFAULT_AUDIENCE.to_owned(),
            policies,
            signer: TokenSigner::new(vec![1; 32]),
            lifetime: Duration::from_secs(60),
        })
        .unwrap()
    }

    fn upload_token(service: &TrustedPublishing, policy: &str, namespaces: &[&str]) -> String {
        service
            .signer
            .sign(&TokenClaims {
                policy: policy.to_owned(),
                registry: "https://ghcr.io".to_owned(),
                namespaces: namespaces.iter().map(|n| (*n).to_owned()).collect(),
                projects: None,
                iat: unix_now(),
                exp: unix_now() + 60,
                jti: "id".to_owned(),
                oidc_issuer: None,
                signing_identity: None,
            })
            .unwrap()
    }

    #[test]
    fn upload_tokens_carry_the_policy_credential_and_namespaces() {
        let service = service();
        let scope = service
            .verify(&upload_token(&service, "app", &["acme/python", "other"]))
            .unwrap();
        assert_eq!(scope.policy, "app");
        assert_eq!(scope.namespaces, vec!["acme/python".to_owned()]);
        assert!(scope.projects.is_none());
        assert_eq!(scope.credential.password().expose(), "registry-password");
        let error = service
            .verify(&upload_token(&service, "gone", &["acme/python"]))
            .unwrap_err();
        assert!(
            matches!(error, PublishingError::UnknownPublisher(_)),
            "{error}"
        );
    }

    #[test]
    fn upload_tokens_keep_the_narrowest_project_list() {
        let names = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let projects = |names: &[&str]| {
            names
                .iter()
                .map(|n| ProjectName::parse(n).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(allowed_projects(None, None), None);
        assert_eq!(
            allowed_projects(None, Some(&projects(&["a"]))),
            Some(projects(&["a"]))
        );
        assert_eq!(
            allowed_projects(Some(names(&["a", "b"])), None),
            Some(projects(&["a", "b"]))
        );
        assert_eq!(
            allowed_projects(Some(names(&["a", "b"])), Some(&projects(&["b", "c"]))),
            Some(projects(&["b"]))
        );
        assert_eq!(
            allowed_projects(Some(names(&["a"])), Some(&projects(&["c"]))),
            Some(Vec::new())
        );
    }

    #[test]
    fn policies_may_only_name_listed_registries() {
        let dir = std::env::temp_dir().join(format!("oci-pypi-policies-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("password"), "pw\n").unwrap();
        let path = dir.join("publishers.toml");
        std::fs::write(
            &path,
            r#"
                [[policy]]
                name = "app"
                issuer = "https://gitlab.com"
                registry = "https://ghcr.io"
                namespaces = ["acme"]
                claims = { project_path = "acme/app" }
                credential = { username = "bot", password_file = "password" }
            "#,
        )
        .unwrap();
        let mut settings = PublishingSettings {
            policies_file: path.clone(),
            token_secret_file: None,
            audience: DEFAULT_AUDIENCE.to_owned(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            registries: vec![Origin::parse("http://127.0.0.1:5000").unwrap()],
            any_public_registry: false,
        };
        let error = TrustedPublishing::load(&settings).unwrap_err().to_string();
        assert!(
            error.contains("policy `app`: `registry` `https://ghcr.io` is not among --registries"),
            "{error}"
        );
        settings.any_public_registry = true;
        let service = TrustedPublishing::load(&settings).unwrap();
        assert_eq!(service.audience(), DEFAULT_AUDIENCE);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn mint_refuses_unknown_issuers_without_fetching() {
        use base64::Engine as _;
        let part = |value: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
        };
        let token = format!(
            "{}.{}.c2ln",
            part(serde_json::json!({"alg": "RS256", "jku": "https://evil.example/keys"})),
            part(serde_json::json!({"iss": "https://evil.example", "aud": "oci-pypi"}))
        );
        let error = service().mint(&token).await.unwrap_err().to_string();
        assert!(
            error.contains("issuer `https://evil.example` is not trusted here"),
            "{error}"
        );
    }

    #[test]
    fn signing_identities_follow_fulcio() {
        let claims = |value: serde_json::Value| value.as_object().unwrap().clone();
        assert_eq!(
            signing_identity(&claims(serde_json::json!({
                "sub": "repo:acme/app:ref:refs/tags/v1",
                "job_workflow_ref": "acme/app/.github/workflows/release.yml@refs/tags/v1",
            }))),
            Some(
                "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1".to_owned()
            )
        );
        assert_eq!(
            signing_identity(&claims(serde_json::json!({
                "ci_config_ref_uri": "gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main",
            }))),
            Some("https://gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main".to_owned())
        );
        assert_eq!(
            signing_identity(&claims(serde_json::json!({ "sub": "someone" }))),
            Some("someone".to_owned())
        );
    }
}
