//! reStructuredText as HTML, for READMEs: the subset that package descriptions use, parsed
//! leniently. Nothing fails: what is not understood is shown as text (an unknown directive's
//! content as a literal block), an unknown role's text as code, a reference to nothing as its
//! text. Every character of the input is escaped; the caller sanitizes the HTML all the same.
//! Work is linear in the input (nesting deeper than 24 levels is shown as written, grid
//! tables have a step budget), so a hostile README of the largest size renders quickly.
//!
//! - Blocks ([`block`], [`markers`]): section titles (underlined, or over- and underlined;
//!   levels in order of first appearance), paragraphs, transitions, literal blocks (`::`,
//!   indented or quoted), doctest blocks, line blocks, block quotes, bullet and enumerated
//!   lists (nested), definition lists, field lists, grid and simple tables ([`table`],
//!   [`grid`]).
//! - Explicit markup ([`directive`]): comments (dropped), hyperlink targets (named, anonymous,
//!   indirect), substitution definitions (`image`, `replace`, `unicode`), footnotes and
//!   citations, and the directives `code`/`code-block`/`sourcecode`, `image`, `figure`, the
//!   admonitions (`note`, `warning`, …), `topic`, `rubric`, `list-table`, `csv-table`,
//!   `container`, `parsed-literal`; `raw` and the directives that make no sense in a README
//!   (`contents`, `include`, `meta`, …) render nothing.
//! - Inline markup ([`inline`], [`roles`], [`scan`]): emphasis, strong, literals, interpreted
//!   text with roles, hyperlink references (embedded URIs, named and anonymous targets,
//!   aliases), substitution references, footnote references, standalone URIs and e-mail
//!   addresses, backslash escapes; links only to http, https and mailto URIs ([`html`]).
//!
//! Specification: <https://docutils.sourceforge.io/docs/ref/rst/restructuredtext.html>,
//! directives <https://docutils.sourceforge.io/docs/ref/rst/directives.html>.

mod block;
mod directive;
mod grid;
mod html;
mod inline;
mod lines;
mod markers;
mod references;
mod render;
mod roles;
mod scan;
mod table;
#[cfg(test)]
mod tests;

/// The HTML of a reStructuredText document (not sanitized).
pub(super) fn to_html(text: &str) -> String {
    let source = lines::Source::new(text);
    let all = source.lines();
    let blocks = block::Parser::default().parse(lines::Lines::new(&all), 0);
    render::render_document(&blocks)
}

/// A block of the document, parsed; inline text is kept as written and rendered later, when
/// every target and substitution of the document is known.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Block {
    /// A section title, its level from 0 (the first style seen).
    Title { level: usize, text: String },
    /// A paragraph.
    Paragraph(String),
    /// Preformatted text, shown as written.
    Literal(String),
    /// Preformatted text with inline markup (`parsed-literal`).
    ParsedLiteral(String),
    /// A line block: lines kept apart (`| line`).
    Lines(Vec<String>),
    /// An indented block.
    Quote(Vec<Block>),
    /// Bullet list items.
    Bullets(Vec<Vec<Block>>),
    /// Enumerated list items.
    Enumerated {
        numbering: Numbering,
        start: u32,
        items: Vec<Vec<Block>>,
    },
    /// Terms (inline text) and their definitions; also fields, footnotes and citations.
    Definitions(Vec<(String, Vec<Block>)>),
    /// A table.
    Table(Table),
    /// A horizontal rule.
    Transition,
    /// An image, alone.
    Image(Image),
    /// An image with a caption and legend.
    Figure(Image, Vec<Block>),
    /// A note, warning and the like: `class` is its CSS class, `title` inline text.
    Admonition {
        class: &'static str,
        title: String,
        body: Vec<Block>,
    },
    /// An informal heading (`rubric`): inline text.
    Rubric(String),
    /// Blocks shown as if they stood here (`container`, `compound`, …).
    Container(Vec<Block>),
    /// A hyperlink target: `None` names an anonymous one.
    Target {
        name: Option<String>,
        target: Target,
    },
    /// A substitution definition.
    Substitution { name: String, value: Substitution },
}

/// Where a hyperlink target points.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A URI.
    Uri(String),
    /// Another target, by (normalized) name.
    Alias(String),
    /// A place in the document (a section): links to it render as text.
    Internal,
}

/// What a substitution reference stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Substitution {
    /// An image.
    Image(Image),
    /// Inline text, with markup (`replace`).
    Text(String),
    /// Text shown as is (`unicode`).
    Literal(String),
}

/// An image and its options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Image {
    src: String,
    alt: Option<String>,
    width: Option<String>,
    height: Option<String>,
    align: Option<String>,
    /// Where the image links to: a URI, or a reference (`name_`).
    target: Option<String>,
}

/// How an enumerated list counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Numbering {
    Arabic,
    LowerAlpha,
    UpperAlpha,
    LowerRoman,
    UpperRoman,
}

/// A table: header rows, body rows, and an optional caption (inline text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Table {
    caption: Option<String>,
    head: Vec<Vec<Cell>>,
    body: Vec<Vec<Cell>>,
}

/// A table cell.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cell {
    rows: usize,
    columns: usize,
    blocks: Vec<Block>,
}
