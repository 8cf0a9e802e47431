//! Registry credentials from the docker credential store the user already has: `config.json`
//! (`credHelpers` per registry, then `credsStore`, then `auths`), and credential helpers
//! (`docker-credential-<name> get`, the server on stdin, JSON on stdout).
//!
//! Format: <https://docs.docker.com/reference/cli/docker/login/#credential-stores> and
//! <https://github.com/docker/docker-credential-helpers> (the helper protocol).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

use crate::net::Secret;
use crate::storage::docker_config::{DOCKER_HUB, DockerConfig, registry_host};

/// How long a credential helper may take.
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// A username and password for a registry.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The username.
    pub username: String,
    /// The password or token.
    pub password: Secret,
    /// Where they came from (`config.json auths`, `docker-credential-gh`), for the report.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// The credentials the docker configuration in `directory` holds for `registry`
/// (`host[:port]`).
///
/// # Errors
/// One line saying what is missing or failed (never a secret).
pub async fn lookup(directory: &Path, registry: &str) -> Result<Credentials, String> {
    let path = directory.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|error| {
        format!(
            "no credentials given and no docker configuration at `{}` ({error}): pass --username and --password, or `docker login {registry}` first",
            path.display()
        )
    })?;
    let config =
        DockerConfig::parse(&text).map_err(|reason| format!("`{}`: {reason}", path.display()))?;
    let registry = registry.to_ascii_lowercase();
    let server = if registry_host(&registry) == registry_host(DOCKER_HUB) {
        DOCKER_HUB.to_owned()
    } else {
        registry.clone()
    };
    if let Some(helper) = config.helper_for(&server) {
        return ask_helper(helper, &server).await;
    }
    if let Some((username, password)) = config
        .auth_for(&server)
        .map_err(|reason| format!("`{}`: {reason}", path.display()))?
    {
        return Ok(Credentials {
            username,
            password,
            source: format!("{} auths", path.display()),
        });
    }
    if let Some(store) = &config.creds_store {
        return ask_helper(store, &server).await;
    }
    Err(format!(
        "`{}` has no credentials for `{registry}`: `docker login {registry}` first, or pass --username and --password",
        path.display()
    ))
}

/// `docker-credential-<helper> get` with `server` on stdin.
async fn ask_helper(helper: &str, server: &str) -> Result<Credentials, String> {
    let valid = !helper.is_empty()
        && helper
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(format!(
            "`{}` is not a credential helper name",
            helper.escape_default()
        ));
    }
    let program = format!("docker-credential-{helper}");
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| format!("cannot run `{program}` (is it on PATH?): {error}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .await
            .map_err(|error| format!("`{program}`: {error}"))?;
    }
    let output = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            format!(
                "`{program} get` did not answer within {} s",
                HELPER_TIMEOUT.as_secs()
            )
        })?
        .map_err(|error| format!("`{program}`: {error}"))?;
    if !output.status.success() {
        // Helpers say "credentials not found in native keychain" on stdout or stderr.
        let said = String::from_utf8_lossy(if output.stderr.is_empty() {
            &output.stdout
        } else {
            &output.stderr
        })
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect::<String>();
        return Err(format!(
            "`{program} get` found no credentials for `{server}`: {}",
            said.trim()
        ));
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|_| format!("`{program} get` did not answer the credential helper JSON"))?;
    Ok(Credentials {
        username: answer.username,
        password: Secret::new(answer.secret),
        source: program,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_config(dir: &Path, json: &str) {
        std::fs::write(dir.join("config.json"), json).unwrap();
    }

    #[tokio::test]
    async fn reads_auths_in_both_forms() {
        let dir = tempfile::tempdir().unwrap();
        let auth = "YWxpY2U6czNjcmV0"; // alice:s3cret
        write_config(
            dir.path(),
            &format!(
                r#"{{"auths": {{"https://ghcr.io": {{"auth": "{auth}"}}, "127.0.0.1:5000": {{"username": "bob", "password": "pw"}}}}}}"#
            ),
        );
        let ghcr = lookup(dir.path(), "ghcr.io").await.unwrap();
        assert_eq!(
            (ghcr.username.as_str(), ghcr.password.expose()),
            ("alice", "s3cret")
        );
        let local = lookup(dir.path(), "127.0.0.1:5000").await.unwrap();
        assert_eq!(
            (local.username.as_str(), local.password.expose()),
            ("bob", "pw")
        );
        let missing = lookup(dir.path(), "quay.io").await.unwrap_err();
        assert!(
            missing.contains("has no credentials for `quay.io`"),
            "{missing}"
        );
        assert!(!format!("{ghcr:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn refuses_bad_helpers_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let error = lookup(dir.path(), "ghcr.io").await.unwrap_err();
        assert!(
            error.starts_with("no credentials given and no docker configuration at"),
            "{error}"
        );
        write_config(dir.path(), r#"{"credHelpers": {"ghcr.io": "../evil"}}"#);
        let error = lookup(dir.path(), "ghcr.io").await.unwrap_err();
        assert_eq!(error, "`../evil` is not a credential helper name");
        write_config(
            dir.path(),
            r#"{"credsStore": "oci-pypi-test-no-such-helper"}"#,
        );
        let error = lookup(dir.path(), "ghcr.io").await.unwrap_err();
        assert!(
            error.starts_with("cannot run `docker-credential-oci-pypi-test-no-such-helper`"),
            "{error}"
        );
        write_config(dir.path(), "[1, 2]");
        let error = lookup(dir.path(), "ghcr.io").await.unwrap_err();
        assert!(error.contains("not a docker configuration"), "{error}");
    }
}
