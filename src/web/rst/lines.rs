//! Lines as the block parser sees them: tabs expanded, trailing whitespace removed, and
//! views of a block's lines with its indentation cut off (no copy: a nested block is a range
//! of the document's lines and a column offset).

/// One line of the document: its text without trailing whitespace, and its indentation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line<'a> {
    text: &'a str,
    indent: usize,
}

/// The lines of a document, normalized.
#[derive(Debug)]
pub(super) struct Source {
    lines: Vec<String>,
}

impl Source {
    /// `text` split into lines (`\n`, `\r\n` or `\r`), tabs expanded to stops of eight
    /// columns, vertical tabs and form feeds made spaces, trailing whitespace removed.
    pub(super) fn new(text: &str) -> Self {
        let lines = text
            .split('\n')
            .flat_map(|line| line.strip_suffix('\r').unwrap_or(line).split('\r'))
            .map(normalize)
            .collect();
        Self { lines }
    }

    /// Lines of preformatted text, as written (a table cell).
    pub(super) fn from_lines(lines: Vec<String>) -> Self {
        Self {
            lines: lines.into_iter().map(|line| normalize(&line)).collect(),
        }
    }

    /// The lines, with their indentation measured.
    pub(super) fn lines(&self) -> Vec<Line<'_>> {
        self.lines
            .iter()
            .map(|text| Line {
                text,
                indent: text.len() - text.trim_start_matches(' ').len(),
            })
            .collect()
    }
}

fn normalize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut column = 0;
    for c in line.chars() {
        match c {
            '\t' => {
                let spaces = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', spaces));
                column += spaces;
            }
            '\x0b' | '\x0c' => {
                out.push(' ');
                column += 1;
            }
            c => {
                out.push(c);
                column += 1;
            }
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// A block's lines: a range of the document's lines with `offset` columns cut off each,
/// and maybe another text for the first (what follows a list bullet or a field name).
#[derive(Debug, Clone, Copy)]
pub(super) struct Lines<'a> {
    all: &'a [Line<'a>],
    offset: usize,
    first: Option<&'a str>,
}

impl<'a> Lines<'a> {
    /// All of `lines`.
    pub(super) fn new(all: &'a [Line<'a>]) -> Self {
        Self {
            all,
            offset: 0,
            first: None,
        }
    }

    /// What tells this block's lines apart from another block's, for memos.
    pub(super) fn key(&self) -> (usize, usize, usize) {
        (self.all.as_ptr().addr(), self.offset, self.all.len())
    }

    /// How many lines.
    pub(super) fn len(&self) -> usize {
        self.all.len()
    }

    /// Line `index` without the block's indentation (`""` past the end).
    pub(super) fn text(&self, index: usize) -> &'a str {
        if index == 0
            && let Some(first) = self.first
        {
            return first;
        }
        let Some(line) = self.all.get(index) else {
            return "";
        };
        line.text
            .get(line.indent.min(self.offset)..)
            .unwrap_or_default()
    }

    /// The indentation of line `index` within the block.
    pub(super) fn indent(&self, index: usize) -> usize {
        if index == 0 && self.first.is_some() {
            return 0;
        }
        self.all
            .get(index)
            .map_or(0, |line| line.indent.saturating_sub(self.offset))
    }

    /// Whether line `index` is blank (or past the end).
    pub(super) fn is_blank(&self, index: usize) -> bool {
        self.text(index).is_empty()
    }

    /// The first line at or after `index` that is not blank (or the end).
    pub(super) fn skip_blank(&self, mut index: usize) -> usize {
        while index < self.len() && self.is_blank(index) {
            index += 1;
        }
        index
    }

    /// Lines `start..end` as they are.
    pub(super) fn range(&self, start: usize, end: usize) -> Self {
        let end = end.min(self.len());
        let start = start.min(end);
        Self {
            all: self.all.get(start..end).unwrap_or_default(),
            offset: self.offset,
            first: self.first.filter(|_| start == 0),
        }
    }

    /// Lines `start..end` with `by` more columns cut off, and `first` as the first line's
    /// text (by default: its own, cut the same).
    pub(super) fn dedent(
        &self,
        start: usize,
        end: usize,
        by: usize,
        first: Option<&'a str>,
    ) -> Self {
        let range = self.range(start, end);
        let first = first.or_else(|| range.first.map(|text| cut(text, by)));
        Self {
            all: range.all,
            offset: self.offset + by,
            first,
        }
    }

    /// The least indentation of the lines `start..end` that are not blank.
    pub(super) fn min_indent(&self, start: usize, end: usize) -> usize {
        (start..end.min(self.len()))
            .filter(|&index| !self.is_blank(index))
            .map(|index| self.indent(index))
            .min()
            .unwrap_or(0)
    }

    /// Where the block of lines indented more than the block, from `start`, ends: before
    /// the first line that is not indented, blank lines before it left out.
    pub(super) fn indented_end(&self, start: usize) -> usize {
        let mut end = start;
        let mut index = start;
        while index < self.len() {
            if !self.is_blank(index) {
                if self.indent(index) == 0 {
                    break;
                }
                end = index + 1;
            }
            index += 1;
        }
        end
    }

    /// A list item or explicit markup starting at `start` whose first line's text is
    /// `first`: that line and the indented lines after it, dedented by their least
    /// indentation; and where it ends.
    pub(super) fn item(&self, start: usize, first: &'a str) -> (Self, usize) {
        let end = self.indented_end(start + 1).max(start + 1);
        let by = self.min_indent(start + 1, end);
        (self.dedent(start, end, by, Some(first)), end)
    }

    /// A list item starting at `start` whose text after the bullet or enumerator is `first`:
    /// as in docutils, the column that text starts at is the item's indentation, and a line
    /// indented less ends the item (an item without text on its first line is an [`item`]).
    ///
    /// [`item`]: Self::item
    pub(super) fn list_item(&self, start: usize, first: &'a str) -> (Self, usize) {
        if first.is_empty() {
            return self.item(start, first);
        }
        let text = self.text(start);
        let column = text.chars().count() - first.chars().count();
        let mut end = start + 1;
        for index in start + 1..self.len() {
            if !self.is_blank(index) {
                if self.indent(index) < column {
                    break;
                }
                end = index + 1;
            }
        }
        (self.dedent(start, end, column, Some(first)), end)
    }

    /// Lines `start..end` as preformatted text: dedented by their least indentation, blank
    /// lines at either end left out, each line ended by a newline.
    pub(super) fn literal(&self, start: usize, end: usize) -> String {
        let end = end.min(self.len());
        let by = self.min_indent(start, end);
        let first = (start..end).find(|&index| !self.is_blank(index));
        let last = (start..end).rev().find(|&index| !self.is_blank(index));
        let (Some(first), Some(last)) = (first, last) else {
            return String::new();
        };
        let mut text = String::new();
        for index in first..=last {
            text.push_str(cut(self.text(index), by));
            text.push('\n');
        }
        text
    }

    /// Lines `start..end` joined by newlines, without their indentation.
    pub(super) fn joined(&self, start: usize, end: usize) -> String {
        let end = end.min(self.len());
        let mut text = String::new();
        for index in start..end {
            if index > start {
                text.push('\n');
            }
            text.push_str(self.text(index).trim_start());
        }
        text
    }
}

/// `text` with `by` leading spaces removed (all of them when it has fewer).
fn cut(text: &str, by: usize) -> &str {
    let spaces = text.len() - text.trim_start_matches(' ').len();
    text.get(spaces.min(by)..).unwrap_or_default()
}
