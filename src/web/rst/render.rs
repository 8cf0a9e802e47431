//! The document's blocks as HTML. Section titles start at `h3` (the page has `h1` and `h2`
//! above the README); list items, definitions and cells made of one paragraph (with lists
//! after it) show it without `<p>`, as docutils does for "simple" lists.

use std::fmt::Write as _;

use super::html::{image_html, push_escaped};
use super::inline::render_inline;
use super::references::{References, normalize};
use super::{Block, Cell, Numbering, Table, Target};

/// The HTML of a parsed document.
pub(super) fn render_document(blocks: &[Block]) -> String {
    let mut references = References::default();
    collect(blocks, &mut references);
    let mut renderer = Renderer {
        references,
        out: String::new(),
    };
    renderer.blocks(blocks);
    renderer.out
}

/// Learns the document's targets and substitutions, wherever they are defined.
fn collect(blocks: &[Block], references: &mut References) {
    for block in blocks {
        match block {
            Block::Title { text, .. } => {
                references.define(Some(&normalize(text)), &Target::Internal);
            }
            Block::Target { name, target } => references.define(name.as_deref(), target),
            Block::Substitution { name, value } => references.define_substitution(name, value),
            Block::Quote(blocks)
            | Block::Container(blocks)
            | Block::Figure(_, blocks)
            | Block::Admonition { body: blocks, .. } => collect(blocks, references),
            Block::Bullets(items) | Block::Enumerated { items, .. } => {
                for item in items {
                    collect(item, references);
                }
            }
            Block::Definitions(items) => {
                for (_, body) in items {
                    collect(body, references);
                }
            }
            Block::Table(table) => {
                for cell in table.head.iter().chain(&table.body).flatten() {
                    collect(&cell.blocks, references);
                }
            }
            _ => {}
        }
    }
}

struct Renderer {
    references: References,
    out: String,
}

impl Renderer {
    fn blocks(&mut self, blocks: &[Block]) {
        for block in blocks {
            self.block(block);
        }
    }

    fn inline(&mut self, text: &str) {
        render_inline(text, &mut self.references, &mut self.out);
    }

    fn block(&mut self, block: &Block) {
        match block {
            Block::Title { level, text } => {
                let level = (level + 3).min(6);
                let _ = write!(self.out, "<h{level}>");
                self.inline(text);
                let _ = writeln!(self.out, "</h{level}>");
            }
            Block::Paragraph(text) => self.wrapped("<p>", text, "</p>\n"),
            Block::Literal(text) => {
                self.out.push_str("<pre><code>");
                push_escaped(&mut self.out, text);
                self.out.push_str("</code></pre>\n");
            }
            Block::ParsedLiteral(text) => self.wrapped("<pre><code>", text, "</code></pre>\n"),
            Block::Lines(lines) => {
                self.out.push_str("<p>");
                for (index, line) in lines.iter().enumerate() {
                    if index > 0 {
                        self.out.push_str("<br>\n");
                    }
                    self.inline(line);
                }
                self.out.push_str("</p>\n");
            }
            Block::Quote(blocks) => {
                self.out.push_str("<blockquote>\n");
                self.blocks(blocks);
                self.out.push_str("</blockquote>\n");
            }
            Block::Bullets(items) => self.list("<ul>\n", items, "</ul>\n"),
            Block::Enumerated {
                numbering,
                start,
                items,
            } => {
                let mut open = String::from("<ol");
                if *start != 1 {
                    let _ = write!(open, " start=\"{start}\"");
                }
                let kind = match numbering {
                    Numbering::Arabic => None,
                    Numbering::LowerAlpha => Some("a"),
                    Numbering::UpperAlpha => Some("A"),
                    Numbering::LowerRoman => Some("i"),
                    Numbering::UpperRoman => Some("I"),
                };
                if let Some(kind) = kind {
                    let _ = write!(open, " type=\"{kind}\"");
                }
                open.push_str(">\n");
                self.list(&open, items, "</ol>\n");
            }
            Block::Definitions(items) => {
                self.out.push_str("<dl>\n");
                for (term, body) in items {
                    self.wrapped("<dt>", term, "</dt>\n");
                    self.out.push_str("<dd>");
                    self.item(body, simple(body));
                    self.out.push_str("</dd>\n");
                }
                self.out.push_str("</dl>\n");
            }
            Block::Table(table) => self.table(table),
            Block::Transition => self.out.push_str("<hr>\n"),
            Block::Image(image) => {
                let target = image.target.as_deref();
                let href = target.and_then(|target| self.references.image_target(target));
                image_html(image, href.as_deref(), &mut self.out);
                self.out.push('\n');
            }
            Block::Figure(image, caption) => {
                self.out.push_str("<figure>\n");
                self.block(&Block::Image(image.clone()));
                let (first, legend) = match caption.split_first() {
                    Some((Block::Paragraph(text), legend)) => (Some(text), legend),
                    _ => (None, caption.as_slice()),
                };
                if let Some(text) = first {
                    self.wrapped("<figcaption>", text, "</figcaption>\n");
                }
                self.blocks(legend);
                self.out.push_str("</figure>\n");
            }
            Block::Admonition { class, title, body } => {
                let _ = writeln!(self.out, "<div class=\"admonition {class}\">");
                self.wrapped("<p class=\"admonition-title\">", title, "</p>\n");
                self.blocks(body);
                self.out.push_str("</div>\n");
            }
            Block::Rubric(text) => self.wrapped("<p><strong>", text, "</strong></p>\n"),
            Block::Container(blocks) => self.blocks(blocks),
            Block::Target { .. } | Block::Substitution { .. } => {}
        }
    }

    /// `text` rendered inline between `open` and `close`.
    fn wrapped(&mut self, open: &str, text: &str, close: &str) {
        self.out.push_str(open);
        self.inline(text);
        self.out.push_str(close);
    }

    fn list(&mut self, open: &str, items: &[Vec<Block>], close: &str) {
        let compact = items.iter().all(|item| simple(item));
        self.out.push_str(open);
        for item in items {
            self.out.push_str("<li>");
            self.item(item, compact);
            self.out.push_str("</li>\n");
        }
        self.out.push_str(close);
    }

    /// An item's blocks, its first paragraph without `<p>` when `compact`.
    fn item(&mut self, blocks: &[Block], compact: bool) {
        match blocks.split_first() {
            Some((Block::Paragraph(text), rest)) if compact => {
                self.inline(text);
                if !rest.is_empty() {
                    self.out.push('\n');
                    self.blocks(rest);
                }
            }
            _ => self.blocks(blocks),
        }
    }

    fn table(&mut self, table: &Table) {
        self.out.push_str("<table>\n");
        if let Some(caption) = &table.caption {
            self.wrapped("<caption>", caption, "</caption>\n");
        }
        for (rows, group, cell) in [(&table.head, "thead", "th"), (&table.body, "tbody", "td")] {
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(self.out, "<{group}>");
            for row in rows {
                self.out.push_str("<tr>");
                for item in row {
                    self.cell(item, cell);
                }
                self.out.push_str("</tr>\n");
            }
            let _ = writeln!(self.out, "</{group}>");
        }
        self.out.push_str("</table>\n");
    }

    fn cell(&mut self, cell: &Cell, tag: &str) {
        let _ = write!(self.out, "<{tag}");
        if cell.columns > 1 {
            let _ = write!(self.out, " colspan=\"{}\"", cell.columns);
        }
        if cell.rows > 1 {
            let _ = write!(self.out, " rowspan=\"{}\"", cell.rows);
        }
        self.out.push('>');
        self.item(&cell.blocks, simple(&cell.blocks));
        let _ = write!(self.out, "</{tag}>");
    }
}

/// Whether an item is one paragraph at most, first, with nothing but lists after it.
fn simple(blocks: &[Block]) -> bool {
    match blocks.split_first() {
        None => true,
        Some((Block::Paragraph(_), rest)) => rest
            .iter()
            .all(|block| matches!(block, Block::Bullets(_) | Block::Enumerated { .. })),
        Some(_) => false,
    }
}
