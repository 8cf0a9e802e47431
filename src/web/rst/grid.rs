//! A grid table's cells, found the way docutils' `GridTableParser` finds them: from each top
//! left corner, right along the top border to a corner from which a right border leads down
//! to a corner from which the bottom and left borders lead back; spanning cells included.

use std::collections::BTreeSet;

/// The most steps finding a grid table's cells may take; past it the table is shown as
/// written (the search is quadratic on hostile tables).
const MAX_STEPS: usize = 1_000_000;

/// A cell of a grid table, by the lines and columns of its corners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Rect {
    pub(super) top: usize,
    pub(super) left: usize,
    pub(super) bottom: usize,
    pub(super) right: usize,
}

/// A grid table's characters, padded to a rectangle.
pub(super) struct Grid {
    pub(super) rows: Vec<Vec<char>>,
    width: usize,
    steps: usize,
}

impl Grid {
    pub(super) fn new(mut rows: Vec<Vec<char>>) -> Self {
        let width = rows.iter().map(Vec::len).max().unwrap_or(0);
        for row in &mut rows {
            row.resize(width, ' ');
        }
        Self {
            rows,
            width,
            steps: 0,
        }
    }

    fn at(&self, row: usize, column: usize) -> char {
        self.rows
            .get(row)
            .and_then(|line| line.get(column))
            .copied()
            .unwrap_or(' ')
    }

    /// Counts a step; whether the budget allows it.
    fn step(&mut self) -> bool {
        self.steps += 1;
        self.steps <= MAX_STEPS
    }

    /// The cells, from the top left corner on: each found by following its borders from
    /// its top left corner (docutils' `GridTableParser`); `None` if they do not tile the
    /// table.
    pub(super) fn cells(&mut self) -> Option<Vec<Rect>> {
        let bottom = self
            .rows
            .len()
            .checked_sub(1)
            .filter(|bottom| *bottom > 0)?;
        let right = self.width.checked_sub(1).filter(|right| *right > 0)?;
        // Per column: the last line of the cells found so far.
        let mut done: Vec<Option<usize>> = vec![None; self.width];
        let mut corners = BTreeSet::from([(0, 0)]);
        let mut cells = Vec::new();
        while let Some((top, left)) = corners.pop_first() {
            let finished = done
                .get(left)
                .copied()
                .flatten()
                .is_some_and(|last| top <= last);
            if top == bottom || left == right || finished {
                continue;
            }
            let Some((cell_bottom, cell_right)) = self.scan_cell(top, left) else {
                continue;
            };
            for column in done.get_mut(left..cell_right)? {
                if *column != top.checked_sub(1) {
                    return None;
                }
                *column = Some(cell_bottom - 1);
            }
            cells.push(Rect {
                top,
                left,
                bottom: cell_bottom,
                right: cell_right,
            });
            corners.insert((top, cell_right));
            corners.insert((cell_bottom, left));
        }
        let complete = done
            .iter()
            .take(right)
            .all(|last| *last == Some(bottom - 1));
        (complete && self.steps <= MAX_STEPS).then_some(cells)
    }

    /// The bottom right corner of the cell whose top left corner is at (`top`, `left`).
    fn scan_cell(&mut self, top: usize, left: usize) -> Option<(usize, usize)> {
        if self.at(top, left) != '+' {
            return None;
        }
        for column in left + 1..self.width {
            if !self.step() {
                return None;
            }
            match self.at(top, column) {
                '+' => {
                    if let Some(bottom) = self.scan_down(top, left, column) {
                        return Some((bottom, column));
                    }
                }
                '-' => {}
                _ => return None,
            }
        }
        None
    }

    fn scan_down(&mut self, top: usize, left: usize, right: usize) -> Option<usize> {
        for row in top + 1..self.rows.len() {
            if !self.step() {
                return None;
            }
            match self.at(row, right) {
                '+' => {
                    if self.scan_left(top, left, row, right) {
                        return Some(row);
                    }
                }
                '|' => {}
                _ => return None,
            }
        }
        None
    }

    /// Whether the bottom border from `right` back to `left`, and the left border up to
    /// `top`, close the cell.
    fn scan_left(&mut self, top: usize, left: usize, bottom: usize, right: usize) -> bool {
        for column in (left + 1..right).rev() {
            if !self.step() || !matches!(self.at(bottom, column), '+' | '-') {
                return false;
            }
        }
        if self.at(bottom, left) != '+' {
            return false;
        }
        for row in (top + 1..bottom).rev() {
            if !self.step() || !matches!(self.at(row, left), '+' | '|') {
                return false;
            }
        }
        true
    }
}
