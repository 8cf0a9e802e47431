//! Tables: grid tables (cells drawn with `+`, `-`, `=` and `|`, spanning cells found the way
//! docutils finds them) and simple tables (columns marked by runs of `=`). A grid table whose
//! lines do not make cells is shown as written.

use super::block::Parser;
use super::grid::Grid;
use super::lines::{Lines, Source};
use super::{Block, Cell, Table};

impl Parser {
    /// A grid table at `index`; where it ends.
    pub(super) fn grid_table(
        &mut self,
        lines: Lines<'_>,
        index: usize,
        depth: usize,
        out: &mut Vec<Block>,
    ) -> Option<usize> {
        let first = lines.text(index);
        let border = first.starts_with("+-")
            && first.ends_with('+')
            && first.chars().all(|c| c == '+' || c == '-');
        if !border {
            return None;
        }
        let mut end = index;
        while end < lines.len() && lines.indent(end) == 0 && lines.text(end).starts_with(['+', '|'])
        {
            end += 1;
        }
        let rows = (index..end)
            .map(|row| lines.text(row).chars().collect())
            .collect();
        match self.grid_cells(rows, depth) {
            Some(table) => out.push(Block::Table(table)),
            None => out.push(Block::Literal(lines.literal(index, end))),
        }
        Some(end)
    }

    fn grid_cells(&mut self, rows: Vec<Vec<char>>, depth: usize) -> Option<Table> {
        let mut grid = Grid::new(rows);
        let head = (1..grid.rows.len()).find(|&row| {
            let line = grid.rows.get(row).map(Vec::as_slice).unwrap_or_default();
            line.contains(&'=') && line.iter().all(|c| *c == '+' || *c == '=')
        });
        if let Some(line) = head.and_then(|row| grid.rows.get_mut(row)) {
            for c in line.iter_mut().filter(|c| **c == '=') {
                *c = '-';
            }
        }
        let mut rects = grid.cells()?;
        rects.sort_unstable();
        let boundaries = |edges: &mut dyn Iterator<Item = usize>| {
            let mut edges: Vec<usize> = edges.collect();
            edges.sort_unstable();
            edges.dedup();
            edges
        };
        let row_edges = boundaries(&mut rects.iter().flat_map(|rect| [rect.top, rect.bottom]));
        let column_edges = boundaries(&mut rects.iter().flat_map(|rect| [rect.left, rect.right]));
        let mut table_rows: Vec<Vec<Cell>> = vec![Vec::new(); row_edges.len().saturating_sub(1)];
        for rect in &rects {
            let row = row_edges.binary_search(&rect.top).ok()?;
            let column = column_edges.binary_search(&rect.left).ok()?;
            let text = (rect.top + 1..rect.bottom)
                .map(|line| {
                    let line = grid.rows.get(line).map(Vec::as_slice).unwrap_or_default();
                    line.get(rect.left + 1..rect.right)
                        .unwrap_or_default()
                        .iter()
                        .collect()
                })
                .collect();
            table_rows.get_mut(row)?.push(Cell {
                rows: row_edges.binary_search(&rect.bottom).ok()? - row,
                columns: column_edges.binary_search(&rect.right).ok()? - column,
                blocks: self.cell_blocks(text, depth),
            });
        }
        let head_rows = head
            .and_then(|line| row_edges.binary_search(&line).ok())
            .unwrap_or(0);
        let body = table_rows.split_off(head_rows.min(table_rows.len()));
        Some(Table {
            caption: None,
            head: table_rows,
            body,
        })
    }

    /// A simple table at `index`; where it ends.
    pub(super) fn simple_table(
        &mut self,
        lines: Lines<'_>,
        index: usize,
        depth: usize,
        out: &mut Vec<Block>,
    ) -> Option<usize> {
        let columns = simple_border(lines.text(index))?;
        // A simple table ends at a border followed by a blank line. Where none follows,
        // none follows for any later start either: remembered, it is not looked for again.
        let key = lines.key();
        if self
            .no_table_end
            .get(&key)
            .is_some_and(|from| index >= *from)
        {
            return None;
        }
        let mut borders = vec![index];
        let mut row = index + 1;
        let end = loop {
            if row >= lines.len() {
                self.no_table_end.insert(key, index);
                return None;
            }
            if lines.indent(row) == 0 && simple_border(lines.text(row)).is_some() {
                borders.push(row);
                if lines.is_blank(row + 1) {
                    break row + 1;
                }
            }
            row += 1;
        };
        let (head, body) = match borders.as_slice() {
            [top, separator, .., bottom] if borders.len() >= 3 => {
                ((top + 1, *separator), (separator + 1, *bottom))
            }
            [top, .., bottom] => ((*top, *top), (top + 1, *bottom)),
            _ => return None,
        };
        let head = simple_rows(lines, head, &columns);
        let body = simple_rows(lines, body, &columns);
        let mut cells = |rows: Vec<Vec<Vec<String>>>| -> Vec<Vec<Cell>> {
            rows.into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|text| cell(self.cell_blocks(text, depth)))
                        .collect()
                })
                .collect()
        };
        let table = Table {
            caption: None,
            head: cells(head),
            body: cells(body),
        };
        out.push(Block::Table(table));
        Some(end)
    }

    /// A `list-table`'s rows: a bullet list of rows, each a bullet list of cells.
    pub(super) fn list_table(&mut self, content: Lines<'_>, depth: usize) -> Option<Table> {
        let mut blocks = self.parse(content, depth + 1).into_iter();
        let (Some(Block::Bullets(items)), None) = (blocks.next(), blocks.next()) else {
            return None;
        };
        let row = |item: Vec<Block>| {
            let mut item = item.into_iter();
            match (item.next(), item.next()) {
                (Some(Block::Bullets(cells)), None) => Some(cells.into_iter().map(cell).collect()),
                _ => None,
            }
        };
        let body = items.into_iter().map(row).collect::<Option<_>>()?;
        Some(Table {
            body,
            ..Table::default()
        })
    }

    /// A `csv-table`'s rows: values separated by commas, quoted with `"` (`""` a quote
    /// within), and the `header` row if any.
    pub(super) fn csv_table(
        &mut self,
        content: Lines<'_>,
        header: Option<&str>,
        depth: usize,
    ) -> Option<Table> {
        let mut cells = |rows: Vec<Vec<String>>| -> Vec<Vec<Cell>> {
            rows.into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|text| {
                            cell(self.cell_blocks(text.lines().map(str::to_owned).collect(), depth))
                        })
                        .collect()
                })
                .collect()
        };
        let body = cells(csv_rows(&content.literal(0, content.len())));
        let head = cells(header.map(csv_rows).unwrap_or_default());
        (!body.is_empty()).then_some(Table {
            caption: None,
            head,
            body,
        })
    }

    /// A cell's lines, dedented, as blocks.
    fn cell_blocks(&mut self, text: Vec<String>, depth: usize) -> Vec<Block> {
        let source = Source::from_lines(text);
        let all = source.lines();
        let view = Lines::new(&all);
        let by = view.min_indent(0, view.len());
        self.parse(view.dedent(0, view.len(), by, None), depth + 1)
    }
}

/// A cell of one row and column.
fn cell(blocks: Vec<Block>) -> Cell {
    Cell {
        rows: 1,
        columns: 1,
        blocks,
    }
}

/// Rows of comma-separated values (docutils reads them with Python's `csv`, spaces after a
/// comma skipped).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' if quoted => quoted = false,
            '"' if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            ',' if !quoted => {
                row.push(std::mem::take(&mut field));
                while chars.next_if_eq(&' ').is_some() {}
            }
            '\n' if !quoted => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows.retain(|row: &Vec<String>| row.iter().any(|field| !field.trim().is_empty()));
    rows
}

/// The columns of a simple table's border (`=====  =====`): character ranges, two at least.
fn simple_border(text: &str) -> Option<Vec<(usize, usize)>> {
    if !text.starts_with('=') || !text.chars().all(|c| c == '=' || c == ' ') {
        return None;
    }
    let mut columns = Vec::new();
    let mut start = None;
    for (position, c) in text.chars().chain([' ']).enumerate() {
        match (c, start) {
            ('=', None) => start = Some(position),
            (' ', Some(from)) => {
                columns.push((from, position));
                start = None;
            }
            _ => {}
        }
    }
    (columns.len() >= 2).then_some(columns)
}

/// The rows of a simple table between two lines: each a list of cells, each cell its
/// lines. A line whose first column is blank goes on the row before it.
fn simple_rows(
    lines: Lines<'_>,
    (start, end): (usize, usize),
    columns: &[(usize, usize)],
) -> Vec<Vec<Vec<String>>> {
    let mut rows: Vec<Vec<Vec<String>>> = Vec::new();
    for row in start..end {
        let text = lines.text(row);
        if text.trim().is_empty() || text.chars().all(|c| c == '=' || c == '-' || c == ' ') {
            continue;
        }
        let chars: Vec<char> = text.chars().collect();
        let cells: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(index, (from, _))| {
                let to = columns
                    .get(index + 1)
                    .map_or(chars.len(), |(next, _)| *next);
                let cell = chars.get((*from).min(chars.len())..to.min(chars.len()));
                cell.unwrap_or_default()
                    .iter()
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect();
        let continues = cells.first().is_some_and(|first| first.trim().is_empty());
        match rows.last_mut() {
            Some(last) if continues => {
                for (cell, line) in last.iter_mut().zip(cells) {
                    cell.push(line);
                }
            }
            _ => rows.push(cells.into_iter().map(|line| vec![line]).collect()),
        }
    }
    rows
}
