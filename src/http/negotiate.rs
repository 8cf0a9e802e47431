//! Content negotiation for simple-API pages (PEP 691): JSON, v1 HTML or legacy `text/html`,
//! chosen from `Accept` (with q-values) or a `?format=` query; 406 when nothing fits.
//!
//! Specification: <https://peps.python.org/pep-0691/#version-format-selection>.

use super::error::ApiError;

/// The JSON serialization.
pub const JSON: &str = "application/vnd.pypi.simple.v1+json";
/// The HTML serialization, versioned.
pub const HTML: &str = "application/vnd.pypi.simple.v1+html";
/// The HTML serialization, legacy name.
pub const TEXT_HTML: &str = "text/html";

/// A page format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/vnd.pypi.simple.v1+json`
    Json,
    /// `application/vnd.pypi.simple.v1+html`
    Html,
    /// `text/html`
    TextHtml,
}

impl Format {
    /// The `Content-Type` to answer with.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => JSON,
            Self::Html => HTML,
            Self::TextHtml => "text/html; charset=utf-8",
        }
    }

    /// Preference when q-values tie: the most expressive first, `text/html` last.
    fn rank(self) -> u8 {
        match self {
            Self::Json => 3,
            Self::Html => 2,
            Self::TextHtml => 1,
        }
    }
}

const FORMATS: [Format; 3] = [Format::Json, Format::Html, Format::TextHtml];

/// Which media types a format answers to: its own, and the `latest` alias.
fn names(format: Format) -> &'static [&'static str] {
    match format {
        Format::Json => &[JSON, "application/vnd.pypi.simple.latest+json"],
        Format::Html => &[HTML, "application/vnd.pypi.simple.latest+html"],
        Format::TextHtml => &[TEXT_HTML],
    }
}

/// Chooses the page format.
///
/// # Errors
/// [`ApiError::NotAcceptable`] when neither `?format=` nor `Accept` allows any format.
pub fn negotiate(accept: Option<&str>, format_query: Option<&str>) -> Result<Format, ApiError> {
    if let Some(requested) = format_query {
        let requested = requested.trim().to_ascii_lowercase();
        return FORMATS
            .into_iter()
            .find(|format| names(*format).contains(&requested.as_str()))
            .ok_or_else(|| not_acceptable(&requested));
    }
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Format::TextHtml);
    };
    let ranges = parse_weighted_list(accept);
    let mut best: Option<(u16, bool, Format)> = None;
    for format in FORMATS {
        let Some((quality, explicit)) = quality(&ranges, format) else {
            continue;
        };
        if quality == 0 {
            continue;
        }
        // Higher q wins; on a tie an explicitly named type beats a wildcard match, and a
        // wildcard alone (`*/*`) keeps HTML as the default.
        let better = match best {
            None => true,
            Some((best_q, best_explicit, best_format)) => {
                (quality, explicit) > (best_q, best_explicit)
                    || ((quality, explicit) == (best_q, best_explicit)
                        && tie_break(explicit, format) > tie_break(explicit, best_format))
            }
        };
        if better {
            best = Some((quality, explicit, format));
        }
    }
    best.map(|(_, _, format)| format)
        .ok_or_else(|| not_acceptable(accept))
}

fn tie_break(explicit: bool, format: Format) -> u8 {
    if explicit {
        format.rank()
    } else {
        // Through a wildcard: HTML first (what browsers and curl expect).
        4 - format.rank()
    }
}

fn not_acceptable(requested: &str) -> ApiError {
    let shown: String = requested.chars().take(200).collect();
    ApiError::NotAcceptable(format!(
        "none of `{shown}` can be served: use {JSON}, {HTML} or {TEXT_HTML}"
    ))
}

/// `(item, q in thousandths)` pairs of a list like `Accept` or `Accept-Encoding`, items in
/// lowercase; an item with an invalid q-value is left out.
pub(super) fn parse_weighted_list(accept: &str) -> Vec<(String, u16)> {
    accept
        .split(',')
        .take(64)
        .filter_map(|item| {
            let mut parts = item.split(';');
            let range = parts.next()?.trim().to_ascii_lowercase();
            if range.is_empty() {
                return None;
            }
            let mut q = 1000;
            for parameter in parts {
                if let Some((key, value)) = parameter.split_once('=') {
                    if key.trim().eq_ignore_ascii_case("q") {
                        q = parse_q(value.trim())?;
                    }
                }
            }
            Some((range, q))
        })
        .collect()
}

/// A q-value (0 to 1, at most three decimals) in thousandths.
fn parse_q(value: &str) -> Option<u16> {
    let parsed: f64 = value.parse().ok()?;
    if !(0.0..=1.0).contains(&parsed) {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "the range check above keeps this within u16"
    )]
    Some((parsed * 1000.0).round() as u16)
}

/// The q-value `format` gets from the most specific matching range, and whether that range
/// named it explicitly.
fn quality(ranges: &[(String, u16)], format: Format) -> Option<(u16, bool)> {
    let own = names(format);
    let kind = own.first()?.split('/').next()?;
    let mut found: Option<(u8, u16)> = None;
    for (range, q) in ranges {
        let specificity = if own.contains(&range.as_str()) {
            3
        } else if range.strip_suffix("/*") == Some(kind) {
            2
        } else if range == "*/*" {
            1
        } else {
            continue;
        };
        if found.is_none_or(|(best, _)| specificity > best) {
            found = Some((specificity, *q));
        }
    }
    found.map(|(specificity, q)| (q, specificity == 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(accept: &str) -> Option<Format> {
        negotiate(Some(accept), None).ok()
    }

    #[test]
    fn clients_get_what_they_prefer() {
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
        assert_eq!(choose(pip), Some(Format::Json));
        let uv = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";
        assert_eq!(choose(uv), Some(Format::Json));
        assert_eq!(choose("text/html"), Some(Format::TextHtml));
        assert_eq!(
            choose("application/vnd.pypi.simple.v1+html"),
            Some(Format::Html)
        );
        assert_eq!(
            choose("application/vnd.pypi.simple.latest+json"),
            Some(Format::Json)
        );
        assert_eq!(
            choose("application/vnd.pypi.simple.latest+html"),
            Some(Format::Html)
        );
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(choose(browser), Some(Format::TextHtml));
        assert_eq!(choose("*/*"), Some(Format::TextHtml));
        assert_eq!(choose("application/*"), Some(Format::Html));
        assert_eq!(negotiate(None, None).unwrap(), Format::TextHtml);
        assert_eq!(negotiate(Some(""), None).unwrap(), Format::TextHtml);
    }

    #[test]
    fn q_values_decide_and_zero_excludes() {
        assert_eq!(
            choose("text/html;q=0.9, application/vnd.pypi.simple.v1+json;q=0.5"),
            Some(Format::TextHtml)
        );
        assert_eq!(
            choose("application/vnd.pypi.simple.v1+json;q=0, */*"),
            Some(Format::TextHtml)
        );
        assert_eq!(choose("*/*, text/html;q=0"), Some(Format::Html));
        assert_eq!(
            choose("text/html, application/vnd.pypi.simple.v1+json"),
            Some(Format::Json)
        );
        assert_eq!(
            choose("application/vnd.pypi.simple.v1+json;q=0.500"),
            Some(Format::Json)
        );
    }

    #[test]
    fn nothing_acceptable_is_406() {
        for accept in [
            "application/json",
            "image/png",
            "text/plain",
            "application/vnd.pypi.simple.v2+json",
            "*/*;q=0",
        ] {
            let error = negotiate(Some(accept), None).unwrap_err();
            assert!(matches!(error, ApiError::NotAcceptable(_)), "{accept}");
        }
        assert_eq!(
            negotiate(Some("image/png"), None).unwrap_err().to_string(),
            "none of `image/png` can be served: use application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html or text/html"
        );
    }

    #[test]
    fn format_query_overrides_accept() {
        assert_eq!(
            negotiate(
                Some("text/html"),
                Some("application/vnd.pypi.simple.v1+json")
            )
            .unwrap(),
            Format::Json
        );
        assert_eq!(
            negotiate(None, Some("text/html")).unwrap(),
            Format::TextHtml
        );
        assert!(negotiate(None, Some("*/*")).is_err());
        assert!(negotiate(None, Some("application/json")).is_err());
    }
}
