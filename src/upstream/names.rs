//! Which names may come from an upstream index: `--upstream-allow` / `--upstream-deny`.

use crate::packaging::{ProjectName, wildcard_matches};

/// Which names may come from upstream: every name unless an allow-list is given, never a
/// denied one. Patterns are normalized names, with `*` matching any run of characters.
#[derive(Debug, Clone, Default)]
pub struct NameFilter {
    allow: Vec<String>,
    deny: Vec<String>,
}

impl NameFilter {
    /// A filter from allow and deny patterns (normalized on the way in).
    #[must_use]
    pub fn new(allow: &[String], deny: &[String]) -> Self {
        let normalize = |patterns: &[String]| {
            patterns
                .iter()
                .map(|p| p.trim().to_ascii_lowercase().replace(['_', '.'], "-"))
                .filter(|p| !p.is_empty())
                .collect()
        };
        Self {
            allow: normalize(allow),
            deny: normalize(deny),
        }
    }

    /// Whether `name` may be served from upstream.
    #[must_use]
    pub fn allows(&self, name: &ProjectName) -> bool {
        let name = name.as_str();
        let allowed = self.allow.is_empty() || self.allow.iter().any(|p| wildcard_matches(p, name));
        allowed && !self.deny.iter().any(|p| wildcard_matches(p, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> ProjectName {
        ProjectName::parse(text).unwrap()
    }

    #[test]
    fn filters_names() {
        let open = NameFilter::default();
        assert!(open.allows(&name("requests")));
        let filter = NameFilter::new(
            &["requests".to_owned(), "urllib3*".to_owned()],
            &["internal-*".to_owned()],
        );
        assert!(filter.allows(&name("Requests")));
        assert!(filter.allows(&name("urllib3_secure")));
        assert!(!filter.allows(&name("numpy")));
        let deny = NameFilter::new(&[], &["internal_*".to_owned(), "*-private".to_owned()]);
        assert!(!deny.allows(&name("internal.tools")));
        assert!(!deny.allows(&name("x-private")));
        assert!(deny.allows(&name("public")));
    }
}
