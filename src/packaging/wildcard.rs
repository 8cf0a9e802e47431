//! `*` patterns, as project-name patterns ([`NamePattern`](super::NamePattern)) and the
//! operator's filters (upstream allow and deny lists, webhook namespaces) write them: `*`
//! stands for any run of characters, none included; every other character for itself.

/// Whether `text` matches `pattern` as a whole.
#[must_use]
pub fn wildcard_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    // The leftmost place of each middle part leaves the most room to those after it.
    for part in middle {
        match rest.find(part) {
            Some(position) => rest = rest.get(position + part.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::wildcard_matches;

    #[test]
    fn star_is_any_run_of_characters() {
        for (pattern, text, expected) in [
            ("a*c", "abc", true),
            ("a*", "a", true),
            ("*", "anything", true),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("abc", "xabc", false),
            ("*-plugin", "acme-plugin", true),
            ("*-plugin", "acme-plugins", false),
            ("a*a", "a", false),
            ("*x*xy", "xy", false),
            ("*x*xy", "xxy", true),
            ("acme/*", "acme/staging", true),
            ("acme/*", "acme-evil/staging", false),
        ] {
            assert_eq!(
                wildcard_matches(pattern, text),
                expected,
                "{pattern} ~ {text}"
            );
        }
    }
}
