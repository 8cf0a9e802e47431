//! A release's README (its core metadata's long description) as safe HTML: Markdown rendered
//! by pulldown-cmark, reStructuredText (the default of core metadata) by [`super::rst`], plain
//! text shown as written; whatever comes out is sanitized by ammonia, which keeps no script,
//! no event handler, no style and no URL of a scheme other than http, https and mailto.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd, html};

use super::rst;

/// The longest README rendered; the rest is cut off (with a note).
pub const MAX_README_SIZE: usize = 512 << 10;

/// How a description is written, from `Description-Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Markup {
    Markdown,
    ReStructuredText,
    Plain,
}

/// The markup of a `Description-Content-Type`: reStructuredText when there is none (the
/// core metadata default), plain text when it is neither Markdown nor reStructuredText.
pub(super) fn markup_of(content_type: Option<&str>) -> Markup {
    let essence = content_type
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("text/markdown") => Markup::Markdown,
        None | Some("" | "text/x-rst") => Markup::ReStructuredText,
        Some(_) => Markup::Plain,
    }
}

/// The classes of reStructuredText's admonitions (notes, warnings, …), which the stylesheet
/// draws as boxes.
const ADMONITION_CLASSES: [&str; 12] = [
    "admonition",
    "note",
    "warning",
    "tip",
    "hint",
    "important",
    "caution",
    "danger",
    "error",
    "attention",
    "seealso",
    "topic",
];

/// The sanitizer: ammonia's defaults (a conservative allow-list of tags and attributes, no
/// `style`, no event handlers, URL schemes limited) with links marked `nofollow` and opened
/// without a referrer, and only http, https and mailto URLs; the only classes are those of
/// admonitions, the only extra attribute an ordered list's numbering `type`.
static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("nofollow noopener noreferrer"))
        .url_relative(ammonia::UrlRelative::Deny)
        .add_tag_attributes("ol", ["type"])
        .add_allowed_classes("div", ADMONITION_CLASSES)
        .add_allowed_classes("p", ["admonition-title"]);
    builder
});

/// The README as sanitized HTML.
#[must_use]
pub fn render_readme(description: &str, content_type: Option<&str>) -> String {
    let (text, cut) = cut_at(description, MAX_README_SIZE);
    let markup = match markup_of(content_type) {
        Markup::Markdown if too_deep(text) => Markup::Plain,
        markup => markup,
    };
    let mut html = match markup {
        Markup::Markdown => {
            let options = Options::ENABLE_TABLES
                | Options::ENABLE_STRIKETHROUGH
                | Options::ENABLE_TASKLISTS
                | Options::ENABLE_FOOTNOTES;
            let mut rendered = String::with_capacity(text.len() * 3 / 2);
            let events = Parser::new_ext(text, options).map(demote_heading);
            html::push_html(&mut rendered, events);
            SANITIZER.clean(&rendered).to_string()
        }
        Markup::ReStructuredText => {
            // The renderer is not known to panic; if it ever does, the text is shown as written.
            match catch_unwind(AssertUnwindSafe(|| rst::to_html(text))) {
                Ok(rendered) => SANITIZER.clean(&rendered).to_string(),
                Err(_) => preformatted(text),
            }
        }
        Markup::Plain => preformatted(text),
    };
    if cut {
        html.push_str("<p><em>This README is longer than 512 KiB; the rest is not shown.</em></p>");
    }
    html
}

/// `text` as a preformatted block, escaped.
fn preformatted(text: &str) -> String {
    let block = [
        Event::Start(Tag::CodeBlock(CodeBlockKind::Indented)),
        Event::Text(text.into()),
        Event::End(TagEnd::CodeBlock),
    ];
    let mut rendered = String::with_capacity(text.len() + 32);
    html::push_html(&mut rendered, block.into_iter());
    rendered
}

/// README headings sit below the page's own (`h1` the project, `h2` "README"): two levels
/// down, `h6` at the deepest.
fn demote_heading(event: Event<'_>) -> Event<'_> {
    let demoted = |level: HeadingLevel| match level {
        HeadingLevel::H1 => HeadingLevel::H3,
        HeadingLevel::H2 => HeadingLevel::H4,
        HeadingLevel::H3 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    };
    match event {
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Event::Start(Tag::Heading {
            level: demoted(level),
            id,
            classes,
            attrs,
        }),
        Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(demoted(level))),
        other => other,
    }
}

/// The deepest nesting a README may have to be rendered as Markdown: parsing nested block
/// quotes and sanitizing nested elements take time that grows with the square of the depth.
const MAX_DEPTH: usize = 100;

/// Whether `text` nests block quotes or HTML elements deeper than [`MAX_DEPTH`] (estimated:
/// quote markers at the start of a line; opening tags less closing ones, void elements aside),
/// and is shown as written instead.
fn too_deep(text: &str) -> bool {
    const VOID: [&str; 8] = ["br", "img", "hr", "input", "meta", "link", "wbr", "source"];
    let quoted = text.lines().any(|line| {
        let markers = line
            .bytes()
            .take_while(|b| matches!(b, b'>' | b' ' | b'\t'))
            .filter(|b| *b == b'>')
            .count();
        markers > MAX_DEPTH
    });
    if quoted {
        return true;
    }
    let mut depth: usize = 0;
    for (position, _) in text.match_indices('<') {
        let rest = text.get(position + 1..).unwrap_or_default();
        if rest.starts_with('/') {
            depth = depth.saturating_sub(1);
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if !name.is_empty() && !VOID.contains(&name.as_str()) {
            depth += 1;
            if depth > MAX_DEPTH {
                return true;
            }
        }
    }
    false
}

/// `text` cut to at most `limit` bytes at a character boundary, and whether it was cut.
fn cut_at(text: &str, limit: usize) -> (&str, bool) {
    if text.len() <= limit {
        return (text, false);
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text.get(..end).unwrap_or_default(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#"# Title

<script>window.pwned = 1</script>
<img src="x" onerror="window.pwned = 2">
[click](javascript:window.pwned=3)
<a href="JaVaScRiPt:alert(1)">raw</a>
<iframe src="https://evil.example"></iframe>
<div style="position:fixed" onclick="x()">styled</div>
<svg><script>alert(1)</script></svg>
<form action="https://evil.example"><input name=a></form>
"#;

    #[test]
    fn markdown_is_rendered_and_sanitized() {
        let html = render_readme(HOSTILE, Some("text/markdown; charset=UTF-8"));
        assert!(html.contains("<h3>Title</h3>"), "{html}");
        for forbidden in [
            "<script",
            "onerror",
            "onclick",
            "href=\"javascript",
            "href=\"JaVaScRiPt",
            "<iframe",
            "style=",
            "<form",
            "<input",
            "<svg",
        ] {
            assert!(!html.contains(forbidden), "{forbidden} in {html}");
        }
        assert!(html.contains("styled"));
    }

    #[test]
    fn links_are_nofollow_and_relative_ones_dropped() {
        let html = render_readme(
            "[a](https://example.org) [b](../etc) <a href=\"/x\">c</a>",
            Some("text/markdown"),
        );
        assert!(html.contains(
            "<a href=\"https://example.org\" rel=\"nofollow noopener noreferrer\">a</a>"
        ));
        assert!(
            !html.contains("../etc") && !html.contains("\"/x\""),
            "{html}"
        );
    }

    #[test]
    fn plain_and_unknown_markups_are_preformatted_text() {
        for content_type in [
            Some("text/plain"),
            Some("text/html"),
            Some("application/x-foo"),
        ] {
            let html = render_readme("Title\n=====\n\n<b>bold</b> & co", content_type);
            assert_eq!(
                html,
                "<pre><code>Title\n=====\n\n&lt;b&gt;bold&lt;/b&gt; &amp; co</code></pre>\n"
            );
        }
    }

    #[test]
    fn restructured_text_is_the_default_and_is_rendered() {
        for content_type in [
            None,
            Some("text/x-rst"),
            Some("text/x-rst; charset=UTF-8"),
            Some(""),
        ] {
            let html = render_readme("Title\n=====\n\n<b>bold</b> & *co*", content_type);
            assert_eq!(
                html, "<h3>Title</h3>\n<p>&lt;b&gt;bold&lt;/b&gt; &amp; <em>co</em></p>\n",
                "{content_type:?}"
            );
        }
    }

    #[test]
    fn restructured_text_keeps_its_classes_and_links_and_loses_the_rest() {
        let readme = "`docs <https://example.org>`_\n\n\
                      .. note:: Hi.\n\n\
                      a. one\n\n\
                      .. image:: https://x/i.png\n   :target: https://x/\n";
        let html = render_readme(readme, Some("text/x-rst"));
        for expected in [
            "<a href=\"https://example.org\" rel=\"nofollow noopener noreferrer\">docs</a>",
            "<div class=\"admonition note\">\n<p class=\"admonition-title\">Note</p>",
            "<ol type=\"a\">",
            "<a href=\"https://x/\" rel=\"nofollow noopener noreferrer\"><img src=\"https://x/i.png\"",
        ] {
            assert!(html.contains(expected), "{expected} not in {html}");
        }
    }

    #[test]
    fn hostile_restructured_text_is_inert() {
        let hostile = "Hostile\n=======\n\n\
            .. raw:: html\n\n   <script>window.pwned = 1</script>\n   <img src=x onerror=alert(1)>\n\n\
            <script>alert(2)</script>\n\n\
            `click <javascript:alert(3)>`_ and `x`_\n\n\
            .. _x: javascript:alert(4)\n\n\
            .. image:: javascript:alert(5)\n   :alt: \" onerror=\"alert(6)\n\n\
            .. image:: https://x/y.png\n   :target: JaVaScRiPt:alert(7)\n\n\
            .. |s| image:: data:image/svg+xml,<svg onload=alert(8)>\n\n\
            |s| :raw-html:`<iframe src=x>`\n\n\
            .. note:: <form action=x><input></form>\n";
        let html = render_readme(hostile, Some("text/x-rst"));
        assert!(html.starts_with("<h3>Hostile</h3>"), "{html}");
        for forbidden in [
            "<script",
            "onerror=\"",
            "onload=\"",
            "href=\"javascript",
            "href=\"JaVaScRiPt",
            "src=\"javascript",
            "src=\"data",
            "<iframe",
            "<form",
            "<input",
            "<svg",
            "pwned",
        ] {
            assert!(!html.contains(forbidden), "{forbidden} in {html}");
        }
        assert!(
            html.contains("&lt;script&gt;alert(2)&lt;/script&gt;"),
            "{html}"
        );
    }

    #[test]
    fn huge_and_deep_restructured_text_renders_quickly() {
        let started = std::time::Instant::now();
        for text in [
            "- ".repeat(MAX_README_SIZE),
            (0..700).map(|depth| "  ".repeat(depth) + "- x\n").collect(),
            "*a ".repeat(MAX_README_SIZE),
        ] {
            let html = render_readme(&text, Some("text/x-rst"));
            assert!(!html.is_empty());
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn huge_readmes_are_cut_at_a_character_boundary() {
        let text = "é".repeat(MAX_README_SIZE);
        let html = render_readme(&text, Some("text/markdown"));
        assert!(html.ends_with("the rest is not shown.</em></p>"));
        assert!(html.len() < MAX_README_SIZE + 1000);
    }

    #[test]
    fn deep_nesting_is_shown_as_written() {
        let started = std::time::Instant::now();
        for text in [
            format!("{}x", "> ".repeat(100_000)),
            "<div>".repeat(100_000),
            "<b><i>".repeat(50_000),
        ] {
            let html = render_readme(&text, Some("text/markdown"));
            assert!(html.starts_with("<pre><code>"), "{}", &html[..50]);
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let shallow = format!(
            "{}x\n\n{}",
            "> ".repeat(50),
            "<p><br><img src=\"https://x/y\">a</p>".repeat(500)
        );
        assert!(render_readme(&shallow, Some("text/markdown")).starts_with("<blockquote>"));
    }
}
