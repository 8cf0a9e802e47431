//! The value parsers of options whose text is more than a number or a word: registry origins,
//! sizes with units, path prefixes, collector URLs. Their errors quote the bad input.

use crate::net::Origin;

/// One entry of `--registries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryEntry {
    /// This registry.
    Origin(Origin),
    /// Any public https registry.
    AnyPublic,
}

pub(super) fn parse_registry(input: &str) -> Result<RegistryEntry, String> {
    if input.trim() == "*" {
        return Ok(RegistryEntry::AnyPublic);
    }
    Origin::parse(input)
        .map(RegistryEntry::Origin)
        .map_err(|error| error.to_string())
}

pub(super) fn parse_otlp_endpoint(input: &str) -> Result<url::Url, String> {
    match url::Url::parse(input.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(url),
        _ => Err(format!(
            "`{input}` is not a collector URL such as `http://127.0.0.1:4318`"
        )),
    }
}

pub(super) fn parse_subpath(input: &str) -> Result<String, String> {
    let trimmed = input.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if !trimmed.starts_with('/') || trimmed.contains("//") || trimmed.contains(['?', '#', '%']) {
        return Err(format!("`{input}` is not a path prefix such as `/pypi`"));
    }
    Ok(trimmed.to_owned())
}

/// Parses `1048576`, `512MiB`, `8GiB`, `2GB`, `100kB` (case-insensitive units).
pub(super) fn parse_size(input: &str) -> Result<u64, String> {
    let text = input.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{input}` is not a size such as `8GiB` or `500MB`"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        "tb" => 1_000_000_000_000,
        "tib" | "t" => 1 << 40,
        _ => {
            return Err(format!(
                "`{input}` has an unknown unit (use B, kB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{input}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("8GiB").unwrap(), 8 << 30);
        assert_eq!(parse_size("2GB").unwrap(), 2_000_000_000);
        assert_eq!(parse_size("512 mib").unwrap(), 512 << 20);
        assert_eq!(
            parse_size("5XB").unwrap_err(),
            "`5XB` has an unknown unit (use B, kB, MB, GB, KiB, MiB, GiB)"
        );
        assert!(parse_size("GiB").is_err());
    }

    #[test]
    fn subpaths() {
        assert_eq!(parse_subpath("").unwrap(), "");
        assert_eq!(parse_subpath("/").unwrap(), "");
        assert_eq!(parse_subpath("/pypi/").unwrap(), "/pypi");
        assert!(parse_subpath("pypi").is_err());
    }
}
