//! Registry authentication: `WWW-Authenticate` challenges, the token flow, and the credentials
//! a caller brings.
//!
//! Specifications: RFC 7235 (challenges), and the distribution token flow
//! <https://distribution.github.io/distribution/spec/auth/token/>.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::net::Secret;

/// The longest challenge header parsed.
const MAX_CHALLENGE_LENGTH: usize = 4096;

/// How we authenticate to a registry on a caller's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryAuth {
    /// No credentials.
    Anonymous,
    /// A username and password (or token), used for Basic auth or to obtain a bearer token.
    Basic {
        /// The username.
        username: String,
        /// The password or token.
        password: Secret,
    },
    /// A ready bearer token, sent as is.
    Bearer(Secret),
}

impl RegistryAuth {
    /// A stable, non-reversible fingerprint of the credentials, used to key caches so that one
    /// caller's tokens are never used for another.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        match self {
            Self::Anonymous => return "anonymous".to_owned(),
            Self::Basic { username, password } => {
                hasher.update(b"basic\0");
                hasher.update(username.as_bytes());
                hasher.update(b"\0");
                hasher.update(password.expose().as_bytes());
            }
            Self::Bearer(token) => {
                hasher.update(b"bearer\0");
                hasher.update(token.expose().as_bytes());
            }
        }
        hex::encode(hasher.finalize())
    }

    /// The `Authorization` header for Basic auth, if these are Basic credentials.
    #[must_use]
    pub fn basic_header(&self) -> Option<String> {
        use base64::Engine as _;
        match self {
            Self::Basic { username, password } => {
                let pair = format!("{username}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                Some(format!("Basic {encoded}"))
            }
            _ => None,
        }
    }
}

/// What a registry asked for in `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP Basic.
    Basic,
    /// The token flow.
    Bearer {
        /// Where to ask for a token.
        realm: String,
        /// The `service` parameter to pass on.
        service: Option<String>,
        /// The scope the registry wants, when it said.
        scope: Option<String>,
    },
}

/// Parses the first Basic or Bearer challenge of a `WWW-Authenticate` value.
#[must_use]
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    if header.len() > MAX_CHALLENGE_LENGTH {
        return None;
    }
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    Some(Challenge::Bearer {
        realm: params.get("realm").filter(|r| !r.is_empty())?.clone(),
        service: params.get("service").cloned(),
        scope: params.get("scope").cloned(),
    })
}

/// Parses `key="value", key=value` auth parameters (RFC 7235 §2.1), quoted strings with `\`
/// escapes included. Keys are lowercased.
fn parse_params(input: &str) -> HashMap<String, String> {
    let mut params = HashMap::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    other => value.push(other),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    params
}

/// A token from the token flow, valid until `expires`.
#[derive(Debug, Clone)]
pub struct CachedToken {
    /// The token.
    pub token: Secret,
    /// When to stop using it.
    pub expires: Instant,
}

/// The token endpoint's answer.
#[derive(Debug, serde::Deserialize)]
pub struct TokenResponse {
    /// The token (distribution's name).
    #[serde(default)]
    pub token: Option<String>,
    /// The token (OAuth2's name).
    #[serde(default)]
    pub access_token: Option<String>,
    /// Lifetime in seconds; 60 when absent, as the spec says.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl TokenResponse {
    /// The token and how long to keep it, with a safety margin.
    #[must_use]
    pub fn into_cached(self) -> Option<CachedToken> {
        let token = self.token.or(self.access_token).filter(|t| !t.is_empty())?;
        let lifetime = self.expires_in.unwrap_or(60).clamp(1, 86_400);
        let margin = (lifetime / 10).clamp(1, 30);
        Some(CachedToken {
            token: Secret::new(token),
            expires: Instant::now() + Duration::from_secs(lifetime.saturating_sub(margin).max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(r#"Basic realm="registry""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".to_owned(),
                service: Some("registry.example".to_owned()),
                scope: Some("repository:a/b:pull,push".to_owned()),
            })
        );
        assert_eq!(
            parse_challenge(r#"bearer  Realm=https://x/token , service="a\"b""#),
            Some(Challenge::Bearer {
                realm: "https://x/token".to_owned(),
                service: Some("a\"b".to_owned()),
                scope: None,
            })
        );
        assert_eq!(parse_challenge(r#"Bearer service="x""#), None);
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert_eq!(parse_challenge(""), None);
        assert_eq!(parse_challenge(&"Bearer realm=x,".repeat(1000)), None);
    }

    #[test]
    fn secrets_are_redacted_and_fingerprints_differ() {
        let auth = RegistryAuth::Basic {
            username: "u".to_owned(),
            password: Secret::new("hunter2".to_owned()),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
        assert!(!auth.fingerprint().contains("hunter2"));
        let other = RegistryAuth::Basic {
            username: "u".to_owned(),
            password: Secret::new("hunter3".to_owned()),
        };
        assert_ne!(auth.fingerprint(), other.fingerprint());
        assert_eq!(RegistryAuth::Anonymous.fingerprint(), "anonymous");
        assert_eq!(auth.basic_header().unwrap(), "Basic dTpodW50ZXIy");
    }
}
