//! Interpreted text's roles: the standard ones, and Sphinx's as well as a page without
//! Sphinx can show them.

use std::fmt::Write as _;

use super::html::{link, push_escaped};
use super::references::unescape;

/// Interpreted text with a role: the standard roles as their elements; `:pep:` and
/// `:rfc:` as links; Sphinx's cross-references as their text (code for objects).
pub(super) fn render_role(role: &str, content: &str, out: &mut String) {
    let text = unescape(content);
    let role = role.to_ascii_lowercase();
    let role = role.rsplit(':').next().unwrap_or_default();
    let tag = match role {
        "emphasis" | "dfn" | "i" => "em",
        "strong" | "b" => "strong",
        "sub" | "subscript" => "sub",
        "sup" | "superscript" => "sup",
        "title-reference" | "title" | "t" => "cite",
        "pep" | "pep-reference" | "rfc" | "rfc-reference" => {
            let number = text.split('#').next().unwrap_or_default().trim();
            let href = match number.parse::<u32>() {
                Ok(n) if role.starts_with("pep") => {
                    Some(format!("https://peps.python.org/pep-{n:04}/"))
                }
                Ok(n) => Some(format!("https://datatracker.ietf.org/doc/html/rfc{n}")),
                Err(_) => None,
            };
            let name = if role.starts_with("pep") {
                "PEP"
            } else {
                "RFC"
            };
            return link(href.as_deref(), &format!("{name} {number}"), out);
        }
        "abbr" => {
            let short = text.split(" (").next().unwrap_or_default();
            return push_escaped(out, short);
        }
        "ref" | "doc" | "term" | "numref" | "any" | "download" | "keyword" | "token"
        | "guilabel" | "menuselection" => {
            return push_escaped(out, title_of(&text));
        }
        _ => "code",
    };
    let text = if tag == "code" {
        object_name(&text)
    } else {
        &text
    };
    let _ = write!(out, "<{tag}>");
    push_escaped(out, text);
    let _ = write!(out, "</{tag}>");
}

/// A role's name at the start of `text`, up to the colon that ends it.
pub(super) fn role_name(text: &str) -> Option<&str> {
    let mut end = None;
    let mut chars = text.char_indices().peekable();
    while let Some((position, c)) = chars.next() {
        if position > 64 {
            break;
        }
        match c {
            ':' if chars
                .peek()
                .is_some_and(|(_, next)| next.is_ascii_alphanumeric()) => {}
            ':' => {
                end = Some(position);
                break;
            }
            c if c.is_ascii_alphanumeric() || "-_.+".contains(c) => {}
            _ => break,
        }
    }
    end.filter(|end| *end > 0).and_then(|end| text.get(..end))
}

/// The shown part of a cross-reference: `title <target>` shows `title`.
fn title_of(text: &str) -> &str {
    match text
        .strip_suffix('>')
        .and_then(|inner| inner.rsplit_once(" <"))
    {
        Some((title, _)) => title.trim(),
        None => text,
    }
}

/// The shown part of a Sphinx object reference: `~a.b.c` shows `c`, `!x` shows `x`.
fn object_name(text: &str) -> &str {
    let text = title_of(text).trim_start_matches('!');
    match text.strip_prefix('~') {
        Some(path) => path.rsplit('.').next().unwrap_or(path),
        None => text,
    }
}
