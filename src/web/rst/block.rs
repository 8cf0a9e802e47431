//! Body elements: what each block of lines is, by its first lines and its indentation.

use std::collections::HashMap;

use super::Block;
use super::lines::Lines;
use super::markers::{bullet, enumerator, field_marker};

/// Blocks nested deeper than this (lists in lists, quotes in quotes) are shown as written:
/// parsing each level reads the lines of all the levels inside it again.
const MAX_DEPTH: usize = 24;

/// The characters section titles and transitions are drawn with.
const ADORNMENTS: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// The block parser; it remembers the title styles seen, whose order makes their levels.
#[derive(Debug, Default)]
pub(super) struct Parser {
    styles: Vec<(char, bool)>,
    /// Per block (its [`Lines::key`]): from which line on no simple table can end.
    pub(super) no_table_end: HashMap<(usize, usize, usize), usize>,
}

impl Parser {
    /// The blocks of `lines`, `depth` levels down.
    pub(super) fn parse(&mut self, lines: Lines<'_>, depth: usize) -> Vec<Block> {
        let mut blocks = Vec::new();
        if depth > MAX_DEPTH {
            let text = lines.literal(0, lines.len());
            if !text.is_empty() {
                blocks.push(Block::Literal(text));
            }
            return blocks;
        }
        let mut index = lines.skip_blank(0);
        while index < lines.len() {
            let next = self.block(lines, index, depth, &mut blocks);
            index = lines.skip_blank(next.max(index + 1));
        }
        blocks
    }

    /// Parses the block starting at `index` (not blank) into `out`; returns where it ends.
    fn block(
        &mut self,
        lines: Lines<'_>,
        index: usize,
        depth: usize,
        out: &mut Vec<Block>,
    ) -> usize {
        let text = lines.text(index);
        if lines.indent(index) > 0 {
            let end = lines.indented_end(index);
            let by = lines.min_indent(index, end);
            let body = self.parse(lines.dedent(index, end, by, None), depth + 1);
            out.push(Block::Quote(body));
            return end;
        }
        if let Some(end) = self.title(lines, index, out) {
            return end;
        }
        if is_adornment(text) && text.len() >= 4 && lines.is_blank(index + 1) {
            out.push(Block::Transition);
            return index + 1;
        }
        if text == ".." || text.starts_with(".. ") {
            return self.explicit(lines, index, depth, out);
        }
        if text == "__" || text.starts_with("__ ") {
            return Self::anonymous_target(lines, index, out);
        }
        if let Some(end) = self.bullet_list(lines, index, depth, out) {
            return end;
        }
        if let Some(end) = self.enumerated_list(lines, index, depth, out) {
            return end;
        }
        if let Some(end) = self.field_list(lines, index, depth, out) {
            return end;
        }
        if text.starts_with(">>>") {
            let end = paragraph_end(lines, index);
            out.push(Block::Literal(lines.literal(index, end)));
            return end;
        }
        if text == "|" || text.starts_with("| ") {
            return line_block(lines, index, out);
        }
        if let Some(end) = self.grid_table(lines, index, depth, out) {
            return end;
        }
        if let Some(end) = self.simple_table(lines, index, depth, out) {
            return end;
        }
        self.paragraph(lines, index, depth, out)
    }

    /// A section title at `index`: underlined, or over- and underlined alike.
    fn title(&mut self, lines: Lines<'_>, index: usize, out: &mut Vec<Block>) -> Option<usize> {
        let first = lines.text(index);
        let (text, style, end) = if is_adornment(first) {
            let text = lines.text(index + 1).trim();
            let under = lines.text(index + 2);
            let style = first.chars().next()?;
            let fits = under == first && first.chars().count() >= text.chars().count();
            (!text.is_empty() && !is_adornment(text) && fits).then_some((
                text,
                (style, true),
                index + 3,
            ))?
        } else {
            let under = lines.text(index + 1);
            let (title, under_width) = (first.chars().count(), under.chars().count());
            let fits = is_adornment(under) && (under_width >= title || under_width >= 4);
            (fits && !lines.is_blank(index)).then_some((
                first,
                (under.chars().next()?, false),
                index + 2,
            ))?
        };
        let level = if let Some(level) = self.styles.iter().position(|known| *known == style) {
            level
        } else {
            self.styles.push(style);
            self.styles.len() - 1
        };
        out.push(Block::Title {
            level,
            text: text.to_owned(),
        });
        Some(end)
    }

    fn bullet_list(
        &mut self,
        lines: Lines<'_>,
        index: usize,
        depth: usize,
        out: &mut Vec<Block>,
    ) -> Option<usize> {
        let (first_mark, _) = bullet(lines.text(index))?;
        let start = |at: usize| {
            let (mark, rest) = bullet(lines.text(at))?;
            (mark == first_mark).then_some(((), rest))
        };
        let (items, end) = self.list_items(lines, (index, depth), start, Lines::list_item);
        out.push(Block::Bullets(
            items.into_iter().map(|((), body)| body).collect(),
        ));
        Some(end)
    }

    fn enumerated_list(
        &mut self,
        lines: Lines<'_>,
        index: usize,
        depth: usize,
        out: &mut Vec<Block>,
    ) -> Option<usize> {
        let first = enumerator(lines.text(index), None)?;
        let start = |at: usize| {
            let item = enumerator(lines.text(at), Some(&first))?;
            // As in docutils: an item's text does not go on unindented on the next line.
            let ends = lines.is_blank(at + 1)
                || lines.indent(at + 1) > 0
                || enumerator(lines.text(at + 1), Some(&first)).is_some();
            ends.then_some(((), item.rest))
        };
        let (items, end) = self.list_items(lines, (index, depth), start, Lines::list_item);
        if items.is_empty() {
            return None;
        }
        out.push(Block::Enumerated {
            numbering: first.numbering,
            start: first.value,
            items: items.into_iter().map(|((), body)| body).collect(),
        });
        Some(end)
    }

    fn field_list(
        &mut self,
        lines: Lines<'_>,
        index: usize,
        depth: usize,
        out: &mut Vec<Block>,
    ) -> Option<usize> {
        field_marker(lines.text(index))?;
        let start = |at: usize| {
            let (name, rest) = field_marker(lines.text(at))?;
            Some((name.to_owned(), rest))
        };
        let (fields, end) = self.list_items(lines, (index, depth), start, Lines::item);
        out.push(Block::Definitions(fields));
        Some(end)
    }

    /// The items of a list from `index`: one per unindented line that `start` accepts
    /// (giving what the item carries and the text after its marker), its body cut out by
    /// `body` and parsed one level down. The items, and the line after the last one.
    fn list_items<'a, T>(
        &mut self,
        lines: Lines<'a>,
        (index, depth): (usize, usize),
        start: impl Fn(usize) -> Option<(T, &'a str)>,
        body: fn(&Lines<'a>, usize, &'a str) -> (Lines<'a>, usize),
    ) -> (Vec<(T, Vec<Block>)>, usize) {
        let mut items = Vec::new();
        let mut next = index;
        let mut end = index;
        while lines.indent(next) == 0 {
            let Some((carried, rest)) = start(next) else {
                break;
            };
            let (text, item_end) = body(&lines, next, rest);
            items.push((carried, self.parse(text, depth + 1)));
            end = item_end;
            next = lines.skip_blank(end);
        }
        (items, end)
    }

    /// A paragraph (and the literal block its `::` introduces), or a definition list item.
    fn paragraph(
        &mut self,
        lines: Lines<'_>,
        index: usize,
        depth: usize,
        out: &mut Vec<Block>,
    ) -> usize {
        let first = lines.text(index);
        if !lines.is_blank(index + 1) && lines.indent(index + 1) > 0 && !first.ends_with("::") {
            let end = lines.indented_end(index + 1);
            let by = lines.min_indent(index + 1, end);
            let body = self.parse(lines.dedent(index + 1, end, by, None), depth + 1);
            let item = (first.to_owned(), body);
            match out.last_mut() {
                Some(Block::Definitions(items)) => items.push(item),
                _ => out.push(Block::Definitions(vec![item])),
            }
            return end;
        }
        let end = paragraph_end(lines, index);
        let mut text = lines.joined(index, end);
        if !text.ends_with("::") {
            out.push(Block::Paragraph(text));
            return end;
        }
        let kept = if text == "::" {
            0
        } else if text.ends_with(" ::") || text.ends_with("\n::") {
            text.len() - 3
        } else {
            text.len() - 1
        };
        text.truncate(kept);
        let text = text.trim_end();
        if !text.is_empty() {
            out.push(Block::Paragraph(text.to_owned()));
        }
        literal_block(lines, end, out)
    }
}

/// The literal block after a paragraph ending in `::`, from `start`: indented, or quoted
/// (unindented lines that all start with the same punctuation character).
fn literal_block(lines: Lines<'_>, start: usize, out: &mut Vec<Block>) -> usize {
    let index = lines.skip_blank(start);
    if index >= lines.len() {
        return start;
    }
    if lines.indent(index) > 0 {
        let end = lines.indented_end(index);
        out.push(Block::Literal(lines.literal(index, end)));
        return end;
    }
    let Some(quote) = lines
        .text(index)
        .chars()
        .next()
        .filter(|c| ADORNMENTS.contains(*c))
    else {
        return start;
    };
    if index == start {
        return start;
    }
    let mut end = index;
    while end < lines.len() && lines.text(end).starts_with(quote) {
        end += 1;
    }
    out.push(Block::Literal(lines.literal(index, end)));
    end
}

fn line_block(lines: Lines<'_>, index: usize, out: &mut Vec<Block>) -> usize {
    let mut block: Vec<String> = Vec::new();
    let mut end = index;
    while end < lines.len() && !lines.is_blank(end) {
        let text = lines.text(end);
        if let Some(rest) = text
            .strip_prefix('|')
            .filter(|rest| rest.is_empty() || rest.starts_with(' '))
        {
            block.push(rest.trim().to_owned());
        } else if let Some(last) = block.last_mut().filter(|_| lines.indent(end) > 0) {
            last.push(' ');
            last.push_str(text.trim());
        } else {
            break;
        }
        end += 1;
    }
    out.push(Block::Lines(block));
    end
}

/// Where the paragraph at `index` ends: at a blank line or a change of indentation.
pub(super) fn paragraph_end(lines: Lines<'_>, index: usize) -> usize {
    let mut end = index + 1;
    while end < lines.len() && !lines.is_blank(end) && lines.indent(end) == 0 {
        end += 1;
    }
    end
}

/// Whether `text` is a line of one punctuation character repeated.
pub(super) fn is_adornment(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    ADORNMENTS.contains(first) && chars.all(|c| c == first)
}
