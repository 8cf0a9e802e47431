//! The TOML text of settings files (webhooks, trusted publishers): parsed into their raw
//! shapes, with errors that name the line.

use serde::de::DeserializeOwned;

/// `text` parsed as a `T`; else `line N: <what toml says>`.
///
/// # Errors
/// The reason, naming the line when toml gives a place.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|error| {
        let message = error.message().trim_end().to_owned();
        match error.span() {
            Some(span) => format!("line {}: {message}", line_of(text, span.start)),
            None => message,
        }
    })
}

/// The line (from 1) of the byte at `offset` in `text`.
#[must_use]
pub fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Shape {
        #[allow(dead_code)]
        name: String,
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(line_of("a", 99), 1);
        let error = parse::<Shape>("# a comment\nname = 3\n").unwrap_err();
        assert!(error.starts_with("line 2: "), "{error}");
        assert!(parse::<Shape>("name = \"x\"").is_ok());
    }
}
