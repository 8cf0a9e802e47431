//! Which registries a request may reach: the origins of the allow-list (each with its own
//! scheme), and, only when the operator opts in, any `https` registry whose address is public.
//! The server must never become an open proxy into private networks.

use std::net::IpAddr;

use super::error::IndexError;
use crate::net::{Origin, is_public};

/// The registries this server talks to.
#[derive(Debug, Clone, Default)]
pub struct RegistryPolicy {
    allowed: Vec<Origin>,
    any_public: bool,
}

impl RegistryPolicy {
    /// A policy allowing `allowed`, and any public `https` registry when `any_public`.
    #[must_use]
    pub fn new(allowed: Vec<Origin>, any_public: bool) -> Self {
        Self {
            allowed,
            any_public,
        }
    }

    /// The allowed origins.
    #[must_use]
    pub fn allowed(&self) -> &[Origin] {
        &self.allowed
    }

    /// The origin a URL's registry segment names: a host (`ghcr.io`, `127.0.0.1:5000`, scheme
    /// from the allow-list) or a full origin (`http://127.0.0.1:5000`, as PyOCI clients send it
    /// percent-encoded).
    ///
    /// # Errors
    /// [`IndexError::RegistryNotAllowed`] when it names no allowed registry.
    pub fn resolve(&self, segment: &str) -> Result<Origin, IndexError> {
        let refuse = |reason: &str| IndexError::RegistryNotAllowed {
            registry: segment.escape_default().to_string(),
            reason: reason.to_owned(),
        };
        let lowered = segment.trim().to_ascii_lowercase();
        let found = if lowered.contains("://") {
            let origin = Origin::parse(&lowered).map_err(|e| refuse(&e.to_string()))?;
            self.allowed.iter().find(|allowed| **allowed == origin)
        } else {
            self.allowed
                .iter()
                .find(|allowed| allowed.authority() == lowered)
        };
        if let Some(origin) = found {
            return Ok(origin.clone());
        }
        if !self.any_public {
            return Err(refuse("it is not on this server's list of registries"));
        }
        let candidate = if lowered.contains("://") {
            lowered
        } else {
            format!("https://{lowered}")
        };
        let origin = Origin::parse(&candidate).map_err(|e| refuse(&e.to_string()))?;
        if origin.scheme() != "https" {
            return Err(refuse(
                "only https registries are served beyond the configured list",
            ));
        }
        let host = origin.host().trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            if !is_public(ip) {
                return Err(refuse("it is not a public address"));
            }
        }
        if host == "localhost" || host.ends_with(".localhost") {
            return Err(refuse("it is not a public address"));
        }
        Ok(origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str]) -> RegistryPolicy {
        RegistryPolicy::new(
            origins.iter().map(|o| Origin::parse(o).unwrap()).collect(),
            false,
        )
    }

    #[test]
    fn allow_list_takes_scheme_from_configuration() {
        let policy = policy(&["https://ghcr.io", "http://127.0.0.1:5000"]);
        assert_eq!(
            policy.resolve("ghcr.io").unwrap().to_string(),
            "https://ghcr.io"
        );
        assert_eq!(
            policy.resolve("GHCR.io").unwrap().to_string(),
            "https://ghcr.io"
        );
        assert_eq!(
            policy.resolve("127.0.0.1:5000").unwrap().to_string(),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            policy.resolve("http://127.0.0.1:5000").unwrap().to_string(),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            policy
                .resolve("https://127.0.0.1:5000")
                .unwrap_err()
                .to_string(),
            "registry `https://127.0.0.1:5000` is not served here: it is not on this server's list of registries"
        );
        assert!(policy.resolve("docker.io").is_err());
        assert!(policy.resolve("127.0.0.1:5001").is_err());
    }

    #[test]
    fn any_public_means_only_public_https() {
        let policy = RegistryPolicy::new(Vec::new(), true);
        assert_eq!(
            policy.resolve("ghcr.io").unwrap().to_string(),
            "https://ghcr.io"
        );
        for refused in [
            "127.0.0.1:5000",
            "http://ghcr.io",
            "169.254.169.254",
            "10.0.0.1",
            "[::1]:5000",
            "localhost:5000",
            "https://192.168.0.1",
        ] {
            assert!(policy.resolve(refused).is_err(), "{refused}");
        }
        assert_eq!(
            policy.resolve("169.254.169.254").unwrap_err().to_string(),
            "registry `169.254.169.254` is not served here: it is not a public address"
        );
    }
}
