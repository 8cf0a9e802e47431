//! The HTML of links, images and text: escaped, and links only to URIs of allowed schemes.

use std::fmt::Write as _;

use super::Image;

/// `href` as a link around `text` when it is a URI of an allowed scheme; `text` otherwise.
pub(super) fn link(href: Option<&str>, text: &str, out: &mut String) {
    match href.filter(|href| is_safe(href)) {
        Some(href) => {
            open_link(href, out);
            push_escaped(out, text);
            out.push_str("</a>");
        }
        None => push_escaped(out, text),
    }
}

pub(super) fn open_link(href: &str, out: &mut String) {
    out.push_str("<a href=\"");
    push_escaped(out, href);
    out.push_str("\">");
}

/// Whether `uri` is absolute, of a scheme links may have (http, https, mailto), and
/// without whitespace or control characters.
pub(super) fn is_safe(uri: &str) -> bool {
    let Some((scheme, _)) = uri.split_once(':') else {
        return false;
    };
    let allowed = ["http", "https", "mailto"]
        .iter()
        .any(|allowed| scheme.eq_ignore_ascii_case(allowed));
    allowed && !uri.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// An image, linked to `href` if it is a safe URI.
pub(super) fn image_html(image: &Image, href: Option<&str>, out: &mut String) {
    let href = href.filter(|href| is_safe(href));
    if let Some(href) = href {
        open_link(href, out);
    }
    out.push_str("<img src=\"");
    push_escaped(out, &image.src);
    out.push('"');
    let attributes = [
        ("alt", &image.alt),
        ("width", &image.width),
        ("height", &image.height),
        ("align", &image.align),
    ];
    for (name, value) in attributes {
        if let Some(value) = value {
            let _ = write!(out, " {name}=\"");
            push_escaped(out, value);
            out.push('"');
        }
    }
    out.push('>');
    if href.is_some() {
        out.push_str("</a>");
    }
}

/// `text` escaped for HTML text and attribute values.
pub(super) fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}
