//! Registry credentials in a docker configuration (`~/.docker/config.json`, or the
//! `.dockerconfigjson` key of a Kubernetes `kubernetes.io/dockerconfigjson` Secret): the
//! `auths` entry of a registry, as `username` + `password` or `auth` (base64 of
//! `user:password`). Credential helpers are the caller's business.
//!
//! Format: <https://docs.docker.com/reference/cli/docker/login/#credential-stores>.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

use crate::net::Secret;

/// Docker Hub's key in `auths`.
pub const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// A docker configuration, as far as credentials go.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DockerConfig {
    /// Credentials by registry.
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    /// Credential helpers by registry.
    #[serde(default)]
    pub cred_helpers: BTreeMap<String, String>,
    /// The credential helper for every other registry.
    pub creds_store: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// `ghcr.io`, `https://ghcr.io/`, `https://index.docker.io/v1/` → the host (and port),
/// lowercase; Docker Hub's names are one.
#[must_use]
pub fn registry_host(key: &str) -> String {
    let rest = key.split_once("://").map_or(key, |(_, rest)| rest);
    let host = rest.split('/').next().unwrap_or(rest).to_ascii_lowercase();
    match host.as_str() {
        "docker.io" | "registry-1.docker.io" => "index.docker.io".to_owned(),
        _ => host,
    }
}

impl DockerConfig {
    /// Parses a configuration's JSON text.
    ///
    /// # Errors
    /// The text is not a docker configuration (the reason, never a secret).
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|error| {
            format!(
                "not a docker configuration: {}",
                error
                    .to_string()
                    .split(" at line")
                    .next()
                    .unwrap_or_default()
            )
        })
    }

    /// The credential helper `credHelpers` names for `registry`.
    #[must_use]
    pub fn helper_for(&self, registry: &str) -> Option<&str> {
        let wanted = registry_host(registry);
        self.cred_helpers
            .iter()
            .find(|(key, _)| registry_host(key) == wanted)
            .map(|(_, helper)| helper.as_str())
    }

    /// The username and password `auths` holds for `registry`, if any.
    ///
    /// # Errors
    /// An `auth` value that is not base64 of `user:password`, or an identity token (which
    /// only the registry's own token flow can use).
    pub fn auth_for(&self, registry: &str) -> Result<Option<(String, Secret)>, String> {
        let wanted = registry_host(registry);
        let Some(entry) = self
            .auths
            .iter()
            .find(|(key, _)| registry_host(key) == wanted)
            .map(|(_, entry)| entry)
        else {
            return Ok(None);
        };
        if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
            return Ok(Some((username.clone(), Secret::new(password.clone()))));
        }
        if let Some(auth) = &entry.auth {
            let bad = || "an `auth` value is not base64 of `user:password`".to_owned();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(bad)?;
            let (username, password) = decoded.split_once(':').ok_or_else(bad)?;
            return Ok(Some((
                username.to_owned(),
                Secret::new(password.to_owned()),
            )));
        }
        if entry.identitytoken.is_some() {
            return Err(
                "the entry holds an identity token, which cannot be used as a password".to_owned(),
            );
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_auths_in_both_forms_by_host() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3:cret");
        let config = DockerConfig::parse(&format!(
            r#"{{"auths": {{"https://ghcr.io": {{"auth": "{auth}"}}, "127.0.0.1:5000": {{"username": "bob", "password": "pw"}}, "https://index.docker.io/v1/": {{"identitytoken": "x"}}}}, "credHelpers": {{"gcr.io": "gcloud"}}}}"#
        ))
        .unwrap();
        let (user, password) = config.auth_for("GHCR.io").unwrap().unwrap();
        assert_eq!((user.as_str(), password.expose()), ("alice", "s3:cret"));
        let (user, password) = config.auth_for("http://127.0.0.1:5000/").unwrap().unwrap();
        assert_eq!((user.as_str(), password.expose()), ("bob", "pw"));
        assert!(config.auth_for("quay.io").unwrap().is_none());
        assert!(
            config
                .auth_for("docker.io")
                .unwrap_err()
                .contains("identity token")
        );
        assert_eq!(config.helper_for("https://gcr.io"), Some("gcloud"));
        assert!(
            DockerConfig::parse("[1]")
                .unwrap_err()
                .starts_with("not a docker configuration")
        );
        let broken = DockerConfig::parse(r#"{"auths": {"ghcr.io": {"auth": "%%%"}}}"#).unwrap();
        assert!(broken.auth_for("ghcr.io").is_err());
    }
}
