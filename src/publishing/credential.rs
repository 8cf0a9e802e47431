//! A trust policy's registry credential: a username and a password read from a file or the
//! environment, or both from a docker configuration (`config.json`, or the `.dockerconfigjson`
//! of a Kubernetes `kubernetes.io/dockerconfigjson` Secret). A file is read again whenever it
//! changes (its modification time or size), so that short-lived registry tokens (ECR's 12
//! hours, GAR's one hour), rewritten by a sidecar or a Kubernetes Secret update, are picked up
//! without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde::Deserialize;

use crate::net::Secret;
use crate::storage::docker_config::DockerConfig;

/// A username and password, read from a file or the environment.
#[derive(Debug, Clone)]
pub struct Credential {
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    /// A username, and a password from the environment, read once.
    Fixed(String, Secret),
    /// From a file, read again when it changes.
    File(Arc<RotatingFile>),
}

/// What a credential file holds.
#[derive(Debug)]
enum FileKind {
    /// The password (its first line); the username is the policy's.
    Password(String),
    /// A docker configuration; the `auths` entry of this registry (`host[:port]`).
    DockerConfig(String),
}

#[derive(Debug)]
struct RotatingFile {
    path: PathBuf,
    kind: FileKind,
    /// The file's stamp when last read, and the username and password it gave.
    current: Mutex<(Option<Stamp>, String, Secret)>,
}

impl FileKind {
    fn read(&self, text: &str) -> Result<(String, Secret), String> {
        match self {
            Self::Password(username) => password_of(text)
                .map(|password| (username.clone(), password))
                .ok_or_else(|| "has an empty password".to_owned()),
            Self::DockerConfig(registry) => DockerConfig::parse(text)?
                .auth_for(registry)?
                .ok_or_else(|| format!("has no `auths` entry for `{registry}`")),
        }
    }
}

/// What tells that a file changed.
type Stamp = (SystemTime, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// The password in a file's text: its first line.
fn password_of(text: &str) -> Option<Secret> {
    let password = text.trim_end_matches(['\r', '\n']);
    (!password.is_empty()).then(|| Secret::new(password.to_owned()))
}

impl Credential {
    /// The username now (see [`Credential::password`]).
    #[must_use]
    pub fn username(&self) -> String {
        self.current().0
    }

    /// The password now: a file is read again when it changed since last read; an
    /// unreadable, empty or incomplete file (being rewritten) keeps the last one read.
    #[must_use]
    pub fn password(&self) -> Secret {
        self.current().1
    }

    /// The username and password now.
    #[must_use]
    pub fn current(&self) -> (String, Secret) {
        let file = match &self.source {
            Source::Fixed(username, secret) => return (username.clone(), secret.clone()),
            Source::File(file) => file,
        };
        let mut current = file.current.lock().unwrap_or_else(PoisonError::into_inner);
        let now = stamp(&file.path);
        if now.is_some() && now != current.0 {
            let read = std::fs::read_to_string(&file.path).ok();
            if let Some((username, password)) = read.and_then(|text| file.kind.read(&text).ok()) {
                *current = (now, username, password);
                tracing::info!(
                    "registry credential file `{}` changed: its password is used from now on",
                    file.path.display()
                );
            } else {
                // Warned once per change of the file, not at every request.
                current.0 = now;
                tracing::warn!(
                    "registry credential file `{}` is unreadable or empty: the previous password is kept",
                    file.path.display()
                );
            }
        }
        (current.1.clone(), current.2.clone())
    }
}

/// A policy's `credential` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCredential {
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    docker_config: Option<PathBuf>,
}

/// A credential file, read now (it must be usable at startup), then again when it changes.
fn rotating(path: PathBuf, kind: FileKind, field: &str) -> Result<Source, String> {
    let text = std::fs::read_to_string(&path)
        .map_err(|error| format!("`{field}` `{}`: {error}", path.display()))?;
    let (username, password) = kind
        .read(&text)
        .map_err(|reason| format!("`{field}` `{}` {reason}", path.display()))?;
    Ok(Source::File(Arc::new(RotatingFile {
        current: Mutex::new((stamp(&path), username, password)),
        kind,
        path,
    })))
}

/// Checks a `credential` table: a username and exactly one of `password_file` (relative to
/// `directory`) and `password_env`; or `docker_config` alone (the `auths` entry of
/// `registry`, `host[:port]`).
pub(super) fn read_credential(
    raw: RawCredential,
    registry: &str,
    directory: &Path,
    environment: &dyn Fn(&str) -> Option<String>,
) -> Result<Credential, String> {
    let username = raw
        .username
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    let source = match (raw.password_file, raw.password_env, raw.docker_config) {
        (None, None, Some(file)) if username.is_empty() => rotating(
            directory.join(file),
            FileKind::DockerConfig(registry.to_owned()),
            "docker_config",
        )?,
        (None, None, Some(_)) => {
            return Err("`docker_config` holds the username: leave `username` out".to_owned());
        }
        _ if username.is_empty() => return Err("needs a `username`".to_owned()),
        (Some(file), None, None) => rotating(
            directory.join(file),
            FileKind::Password(username),
            "password_file",
        )?,
        (None, Some(variable), None) => {
            let text = environment(&variable)
                .ok_or_else(|| format!("`password_env`: the variable `{variable}` is not set"))?;
            Source::Fixed(username, password_of(&text).ok_or("has an empty password")?)
        }
        _ => {
            return Err(
                "needs exactly one of `password_file`, `password_env` and `docker_config` (never the password itself)"
                    .to_owned(),
            );
        }
    };
    Ok(Credential { source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_file_is_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let raw = RawCredential {
            username: Some("AWS".to_owned()),
            password_file: Some(PathBuf::from("token")),
            password_env: None,
            docker_config: None,
        };
        let credential = read_credential(raw, "ghcr.io", dir.path(), &|_| None).unwrap();
        assert_eq!(credential.password().expose(), "first");
        // A longer token: the size alone tells it changed, whatever the clock's resolution.
        std::fs::write(&path, "second-token\n").unwrap();
        assert_eq!(credential.password().expose(), "second-token");
        // Being rewritten (empty) or gone: the last one is kept.
        std::fs::write(&path, "").unwrap();
        assert_eq!(credential.password().expose(), "second-token");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(credential.password().expose(), "second-token");
        assert!(!format!("{credential:?}").contains("second-token"));
    }

    fn read_credential_at(
        raw: RawCredential,
        directory: &Path,
        environment: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Credential, String> {
        read_credential(raw, "ghcr.io", directory, environment)
    }

    #[test]
    fn a_docker_config_gives_both_and_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".dockerconfigjson");
        let write = |user: &str, password: &str| {
            std::fs::write(
                &path,
                format!(r#"{{"auths": {{"https://ghcr.io": {{"username": "{user}", "password": "{password}"}}}}}}"#),
            )
            .unwrap();
        };
        write("bot", "first");
        let raw = RawCredential {
            username: None,
            password_file: None,
            password_env: None,
            docker_config: Some(PathBuf::from(".dockerconfigjson")),
        };
        let credential = read_credential(raw, "ghcr.io", dir.path(), &|_| None).unwrap();
        assert_eq!(credential.username(), "bot");
        assert_eq!(credential.password().expose(), "first");
        write("bot2", "second-and-longer");
        let (user, password) = credential.current();
        assert_eq!(
            (user.as_str(), password.expose()),
            ("bot2", "second-and-longer")
        );
        let other = RawCredential {
            username: None,
            password_file: None,
            password_env: None,
            docker_config: Some(PathBuf::from(".dockerconfigjson")),
        };
        let error = read_credential(other, "quay.io", dir.path(), &|_| None).unwrap_err();
        assert!(
            error.ends_with("has no `auths` entry for `quay.io`"),
            "{error}"
        );
    }

    #[test]
    fn refusals() {
        let raw = |file: Option<&str>, env: Option<&str>| RawCredential {
            username: Some("bot".to_owned()),
            password_file: file.map(PathBuf::from),
            password_env: env.map(str::to_owned),
            docker_config: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        assert!(
            read_credential_at(raw(None, None), dir.path(), &none)
                .unwrap_err()
                .contains("exactly one")
        );
        assert!(
            read_credential_at(raw(Some("missing"), None), dir.path(), &none)
                .unwrap_err()
                .starts_with("`password_file`")
        );
        assert_eq!(
            read_credential_at(raw(None, Some("X")), dir.path(), &none).unwrap_err(),
            "`password_env`: the variable `X` is not set"
        );
        let blank = |_: &str| Some("\n".to_owned());
        assert_eq!(
            read_credential_at(raw(None, Some("X")), dir.path(), &blank).unwrap_err(),
            "has an empty password"
        );
    }
}
