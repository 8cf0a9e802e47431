//! How a URL may be shown.
//!
//! URLs carry secrets in three places: the userinfo (`https://user:token@host/`, how private
//! indexes are often configured), the query (presigned object-storage URLs such as S3's
//! `?X-Amz-Signature=...`, upload-session state) and, rarely, the fragment. Whatever the server
//! shows (an error message, a response body, a log line, a span) goes through [`redact_url`],
//! [`redact`] or [`redact_error`], which keep the scheme, host, port and path (so the operator
//! can tell what failed) and mask the rest. The path is kept: it names the resource.
//!
//! URL syntax: <https://url.spec.whatwg.org/> and RFC 3986 section 3.

/// What a secret is replaced with.
const MASK: &str = "***";

/// `url` as it may be shown: userinfo, query and fragment each replaced by `***`
/// (`https://***@host/simple/?***`). The text is treated as a URL whether it parses or not;
/// without `scheme://`, it starts with the authority (`user:token@host/path`).
#[must_use]
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(position) => url.split_at(position + "://".len()),
        None => ("", url),
    };
    let target_end = rest.find(['?', '#']).unwrap_or(rest.len());
    let (target, tail) = rest.split_at(target_end);
    let authority_end = target.find(['/', '\\']).unwrap_or(target.len());
    let (authority, path) = target.split_at(authority_end);
    let mut shown = String::with_capacity(url.len());
    shown.push_str(scheme);
    match authority.rfind('@') {
        Some(at) => {
            shown.push_str(MASK);
            shown.push_str(authority.get(at..).unwrap_or_default());
        }
        None => shown.push_str(authority),
    }
    shown.push_str(path);
    let (query, fragment) = match tail.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (tail, None),
    };
    if let Some(query) = query.strip_prefix('?') {
        shown.push('?');
        if !query.is_empty() {
            shown.push_str(MASK);
        }
    }
    if let Some(fragment) = fragment {
        shown.push('#');
        if !fragment.is_empty() {
            shown.push_str(MASK);
        }
    }
    shown
}

/// Free text (an error message and its causes) with every `scheme://...` URL in it passed
/// through [`redact_url`]. A URL ends at white space, a quote, a backtick or `<>`; closing
/// punctuation at its end (`)`, `,`, `:`...) is kept as text.
#[must_use]
pub fn redact(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(separator) = rest.find("://") {
        let before = rest.get(..separator).unwrap_or_default();
        let scheme_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |position| position + 1);
        let after = rest.get(separator..).unwrap_or_default();
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>'))
            .unwrap_or(after.len());
        let token = after.get(..end).unwrap_or_default();
        let url_end = token
            .trim_end_matches([')', ']', '}', ',', '.', ';', ':', '!'])
            .len();
        let scheme = before.get(scheme_start..).unwrap_or_default();
        shown.push_str(before.get(..scheme_start).unwrap_or_default());
        if scheme.is_empty() {
            shown.push_str(token);
        } else {
            shown.push_str(&redact_url(&format!(
                "{scheme}{}",
                token.get(..url_end).unwrap_or_default()
            )));
            shown.push_str(token.get(url_end..).unwrap_or_default());
        }
        rest = after.get(end..).unwrap_or_default();
    }
    shown.push_str(rest);
    shown
}

/// A reqwest error whose URL (which its message repeats) is redacted as [`redact_url`] does;
/// the URL is dropped if the redacted form does not parse.
#[must_use]
pub fn redact_error(error: reqwest::Error) -> reqwest::Error {
    let shown = error
        .url()
        .map(|url| reqwest::Url::parse(&redact_url(url.as_str())));
    match shown {
        Some(Ok(url)) => error.with_url(url),
        Some(Err(_)) => error.without_url(),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_query_and_fragment() {
        let cases = [
            (
                "https://user:token@pypi.example/simple/",
                "https://***@pypi.example/simple/",
            ),
            (
                "https://token@pypi.example:8443/simple/",
                "https://***@pypi.example:8443/simple/",
            ),
            (
                "https://bucket.s3.example/blob?X-Amz-Signature=abc&X-Amz-Credential=AKIA",
                "https://bucket.s3.example/blob?***",
            ),
            ("http://host/path#secret", "http://host/path#***"),
            ("http://u:p@host/p?q=1#f", "http://***@host/p?***#***"),
            // An `@` in the password, unencoded: the host is after the last one.
            ("http://u:p@ss@host/", "http://***@host/"),
            // An `@` in the path or query is not userinfo.
            ("http://host/a@b?c@d", "http://host/a@b?***"),
            ("http://host/?", "http://host/?"),
            ("http://host/#", "http://host/#"),
            // Nothing to hide: unchanged.
            ("https://pypi.org/simple/", "https://pypi.org/simple/"),
            ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_url(input), expected, "{input}");
        }
    }

    #[test]
    fn redacts_ipv6_hosts() {
        assert_eq!(
            redact_url("http://user:pw@[::1]:8080/simple/?token=x"),
            "http://***@[::1]:8080/simple/?***"
        );
        assert_eq!(
            redact_url("http://[2001:db8::1]/blob?sig=1"),
            "http://[2001:db8::1]/blob?***"
        );
        assert_eq!(redact_url("http://[::1]:5000"), "http://[::1]:5000");
    }

    #[test]
    fn redacts_strings_that_are_not_urls() {
        // Without a scheme, the text starts with the authority.
        assert_eq!(
            redact_url("user:token@pypi.example/simple"),
            "***@pypi.example/simple"
        );
        assert_eq!(redact_url("pypi.example/simple"), "pypi.example/simple");
        assert_eq!(redact_url(""), "");
        assert_eq!(redact_url("not a url"), "not a url");
        // A backslash ends the authority as a slash does (WHATWG, special schemes).
        assert_eq!(redact_url("http://u:p@h\\x"), "http://***@h\\x");
    }

    #[test]
    fn redacts_urls_in_text() {
        let message = "registry `http://127.0.0.1:5000` is unreachable: error sending request \
                       for url (http://127.0.0.1:9000/b?X-Amz-Signature=SECRET): client error";
        assert_eq!(
            redact(message),
            "registry `http://127.0.0.1:5000` is unreachable: error sending request \
             for url (http://127.0.0.1:9000/b?***): client error"
        );
        assert_eq!(
            redact("upstream `local/ns=https://u:TOKEN@host/simple/`: bad, see https://x/?a=b."),
            "upstream `local/ns=https://***@host/simple/`: bad, see https://x/?***."
        );
        assert_eq!(
            redact("two: http://a@h1/ and \"https://h2/?s\""),
            "two: http://***@h1/ and \"https://h2/?***\""
        );
        // Text without URLs, and `://` without a scheme, are left alone.
        for text in ["no urls here", "a://", " ://x?y", "ratio 1:2 @ 3?", ""] {
            assert_eq!(redact(text), text, "{text}");
        }
        assert_eq!(redact("x ://u@h/?q"), "x ://u@h/?q");
        // Non-ASCII around a URL.
        assert_eq!(redact("é http://u@h/?q é"), "é http://***@h/?*** é");
    }

    #[tokio::test]
    async fn redacts_the_url_of_reqwest_errors() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let error = client
            .get(format!("http://{closed}/blob?X-Amz-Signature=SECRET#frag"))
            .send()
            .await
            .unwrap_err();
        assert!(error.to_string().contains("SECRET"), "{error}");
        let error = redact_error(error);
        let text = error.to_string();
        assert!(!text.contains("SECRET"), "{text}");
        assert!(
            text.contains(&format!("http://{closed}/blob?***")),
            "{text}"
        );
        assert!(!format!("{error:?}").contains("SECRET"));
    }
}
