//! A trust policy's registry credential: a username and a password read from a file or the
//! environment. A password file is read again whenever it changes (its modification time or
//! size), so that short-lived registry tokens (ECR's 12 hours, GAR's one hour), rewritten by a
//! sidecar or a Kubernetes Secret update, are picked up without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde::Deserialize;

use crate::net::Secret;

/// A username and password, read from a file or the environment.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The username.
    pub username: String,
    password: Password,
}

#[derive(Debug, Clone)]
enum Password {
    /// From the environment, read once.
    Fixed(Secret),
    /// From a file, read again when it changes.
    File(Arc<RotatingFile>),
}

#[derive(Debug)]
struct RotatingFile {
    path: PathBuf,
    /// The file's stamp when last read, and the password it held.
    current: Mutex<(Option<Stamp>, Secret)>,
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
    /// The password now: a password file is read again when it changed since last read; an
    /// unreadable or empty file (being rewritten) keeps the last password read.
    #[must_use]
    pub fn password(&self) -> Secret {
        let file = match &self.password {
            Password::Fixed(secret) => return secret.clone(),
            Password::File(file) => file,
        };
        let mut current = file.current.lock().unwrap_or_else(PoisonError::into_inner);
        let now = stamp(&file.path);
        if now.is_some() && now != current.0 {
            let read = std::fs::read_to_string(&file.path).ok();
            if let Some(password) = read.as_deref().and_then(password_of) {
                *current = (now, password);
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
        current.1.clone()
    }
}

/// A policy's `credential` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCredential {
    username: String,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
}

/// Checks a `credential` table: a username and exactly one of `password_file` (relative to
/// `directory`) and `password_env`.
pub(super) fn read_credential(
    raw: RawCredential,
    directory: &Path,
    environment: &dyn Fn(&str) -> Option<String>,
) -> Result<Credential, String> {
    if raw.username.trim().is_empty() {
        return Err("needs a `username`".to_owned());
    }
    let password = match (raw.password_file, raw.password_env) {
        (Some(file), None) => {
            let path = directory.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|error| format!("`password_file` `{}`: {error}", path.display()))?;
            let password = password_of(&text).ok_or("has an empty password")?;
            Password::File(Arc::new(RotatingFile {
                current: Mutex::new((stamp(&path), password)),
                path,
            }))
        }
        (None, Some(variable)) => {
            let text = environment(&variable)
                .ok_or_else(|| format!("`password_env`: the variable `{variable}` is not set"))?;
            Password::Fixed(password_of(&text).ok_or("has an empty password")?)
        }
        _ => {
            return Err(
                "needs exactly one of `password_file` and `password_env` (never the password itself)"
                    .to_owned(),
            );
        }
    };
    Ok(Credential {
        username: raw.username.trim().to_owned(),
        password,
    })
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
            username: "AWS".to_owned(),
            password_file: Some(PathBuf::from("token")),
            password_env: None,
        };
        let credential = read_credential(raw, dir.path(), &|_| None).unwrap();
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

    #[test]
    fn refusals() {
        let raw = |file: Option<&str>, env: Option<&str>| RawCredential {
            username: "bot".to_owned(),
            password_file: file.map(PathBuf::from),
            password_env: env.map(str::to_owned),
        };
        let dir = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        assert!(
            read_credential(raw(None, None), dir.path(), &none)
                .unwrap_err()
                .contains("exactly one")
        );
        assert!(
            read_credential(raw(Some("missing"), None), dir.path(), &none)
                .unwrap_err()
                .starts_with("`password_file`")
        );
        assert_eq!(
            read_credential(raw(None, Some("X")), dir.path(), &none).unwrap_err(),
            "`password_env`: the variable `X` is not set"
        );
        let blank = |_: &str| Some("\n".to_owned());
        assert_eq!(
            read_credential(raw(None, Some("X")), dir.path(), &blank).unwrap_err(),
            "has an empty password"
        );
    }
}
