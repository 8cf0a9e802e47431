//! An origin: scheme, host and port, such as `https://ghcr.io` or `http://127.0.0.1:5000`
//! (RFC 6454), the unit in which registries are allowed and credentials scoped.

use std::fmt;

/// Why a text is not an origin; shows the input (escaped) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("registry `{input}` is not allowed: {reason}")]
pub struct OriginError {
    /// The refused input, escaped for display.
    pub input: String,
    /// Why it was refused.
    pub reason: String,
}

/// An origin. Only `http` and `https` are accepted; no path, query or credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: &'static str,
    /// Host, with the port when it is not the scheme's default; lowercase.
    authority: String,
}

impl Origin {
    /// Parses `scheme://host[:port]` (a trailing `/` is allowed).
    ///
    /// # Errors
    /// [`OriginError`] naming the input when the scheme is not http(s), or when it
    /// has a path, query, fragment, credentials, or no host.
    pub fn parse(input: &str) -> Result<Self, OriginError> {
        let refuse = |reason: &str| OriginError {
            input: input.escape_default().to_string(),
            reason: reason.to_owned(),
        };
        let url = reqwest::Url::parse(input.trim())
            .map_err(|_| refuse("expected an origin such as `https://ghcr.io`"))?;
        let scheme = match url.scheme() {
            "https" => "https",
            "http" => "http",
            _ => return Err(refuse("the scheme must be `http` or `https`")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("credentials do not belong in a registry origin"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(refuse("an origin has no path, query or fragment"));
        }
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| refuse("an origin needs a host"))?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Ok(Self {
            scheme,
            authority: authority.to_ascii_lowercase(),
        })
    }

    /// `http` or `https`.
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// `host[:port]` as it appears in URLs (`ghcr.io`, `127.0.0.1:5000`).
    #[must_use]
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The host alone (IPv6 addresses keep their brackets).
    #[must_use]
    pub fn host(&self) -> &str {
        match self.authority.rsplit_once(':') {
            Some((host, port))
                if port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(':') =>
            {
                host
            }
            _ => &self.authority,
        }
    }

    /// The port: the one written, else the scheme's default (80 for `http`, 443 for `https`).
    #[must_use]
    pub fn port(&self) -> u16 {
        let written = self
            .authority
            .strip_prefix(self.host())
            .and_then(|rest| rest.strip_prefix(':')?.parse().ok());
        written.unwrap_or(if self.scheme == "https" { 443 } else { 80 })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_origins() {
        let ghcr = Origin::parse("https://ghcr.io").unwrap();
        assert_eq!(ghcr.to_string(), "https://ghcr.io");
        assert_eq!(ghcr.authority(), "ghcr.io");
        let local = Origin::parse("http://127.0.0.1:5000/").unwrap();
        assert_eq!(local.to_string(), "http://127.0.0.1:5000");
        assert_eq!(local.host(), "127.0.0.1");
        assert_eq!(
            Origin::parse("https://GHCR.io:443").unwrap().authority(),
            "ghcr.io"
        );
        let v6 = Origin::parse("http://[::1]:5000").unwrap();
        assert_eq!(v6.authority(), "[::1]:5000");
        assert_eq!(v6.port(), 5000);
        assert_eq!(ghcr.port(), 443);
        assert_eq!(Origin::parse("http://127.0.0.1").unwrap().port(), 80);
        assert_eq!(Origin::parse("http://[::1]").unwrap().port(), 80);
        assert_eq!(v6.host(), "[::1]");
    }

    #[test]
    fn refuses_what_is_not_an_origin() {
        let cases = [
            ("ftp://x", "the scheme must be `http` or `https`"),
            (
                "https://u:p@x",
                "credentials do not belong in a registry origin",
            ),
            ("https://x/path", "an origin has no path, query or fragment"),
            ("https://x?q", "an origin has no path, query or fragment"),
            ("ghcr.io", "expected an origin such as `https://ghcr.io`"),
        ];
        for (input, reason) in cases {
            assert_eq!(
                Origin::parse(input).unwrap_err().to_string(),
                format!("registry `{input}` is not allowed: {reason}")
            );
        }
    }
}
