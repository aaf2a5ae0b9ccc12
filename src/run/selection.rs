//! What part of a document to run: the one vocabulary every front end uses.
//!
//! The command line (`run --lines`, `--cell`), the language server (lenses,
//! code actions, commands) and any later front end name what to run with a
//! [`Selection`] and cut it with [`cut`], so a cell or a "whole file" means
//! the same everywhere. Lines are 0-based and inclusive here; columns are
//! characters. Front ends convert at their edge.

use super::cells::{Cell, CellKind, cell_at};
use super::snippet::Snippet;
use super::statements::top_level_statement;
use crate::text::Document;

/// A part of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The whole document, up to its last line with something on it.
    File,
    /// Lines `first..=last` (0-based).
    Lines { first: u32, last: u32 },
    /// Characters `start..end` of one line (a selection within a line).
    Span { line: u32, start: u32, end: u32 },
    /// The code cell holding a line: its body up to its last non-blank line.
    CellAt { line: u32 },
    /// Cell `n` in file order, numbered from 1 (markdown cells count);
    /// 0 is the code before the first marker.
    CellNumber(usize),
    /// Everything above the cell holding a line.
    CellsAbove { line: u32 },
    /// The top-level statement holding a line (a whole `def` with its
    /// decorators, a call spread over lines).
    Statement { line: u32 },
}

/// Why a selection cannot be run. Each message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectionError {
    /// Lines outside the document (1-based in the message).
    LinesOutOfRange {
        first: u64,
        last: u64,
        total: u32,
    },
    NoCells,
    NotInACell {
        line: u64,
    },
    NoSuchCell {
        number: usize,
        count: usize,
    },
    Markdown,
    EmptyCell,
    NothingAbove,
    NoStatement {
        line: u64,
    },
}

impl std::fmt::Display for SelectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SelectionError::LinesOutOfRange { first, last, total } => {
                write!(f, "lines {first}-{last} are not in the document, which has {total} lines (lines are 1-based)")
            }
            SelectionError::NoCells => write!(f, "the document has no cells (no cell marker lines such as `# %%`)"),
            SelectionError::NotInACell { line } => write!(f, "line {line} is in no cell"),
            SelectionError::NoSuchCell { number, count } => write!(
                f,
                "there is no cell {number}: the file has {count} marked cells (numbered from 1; 0 is the code \
                 before the first marker)"
            ),
            SelectionError::Markdown => write!(f, "that is a markdown cell; there is nothing to run"),
            SelectionError::EmptyCell => write!(f, "that cell is empty"),
            SelectionError::NothingAbove => write!(f, "there is nothing above the first cell"),
            SelectionError::NoStatement { line } => write!(f, "line {line} holds no statement"),
        }
    }
}

impl std::error::Error for SelectionError {}

/// A document to cut from: its text, the name tracebacks carry, and its
/// cells (found with the marker forms in force; the language server keeps
/// them per version).
pub struct Source<'a> {
    pub filename: &'a str,
    pub doc: &'a Document,
    pub cells: &'a [Cell],
}

/// The code to send and the document lines it covers (0-based, inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub snippet: Snippet,
    pub first: u32,
    pub last: u32,
}

/// Cuts `selection` out of `source`.
pub fn cut(source: &Source, selection: &Selection) -> Result<Cut, SelectionError> {
    let doc = source.doc;
    if let Selection::Span { line, start, end } = *selection {
        check_lines(doc, line, line)?;
        let text: String =
            doc.line(line).chars().skip(start as usize).take(end.saturating_sub(start) as usize).collect();
        let snippet = Snippet {
            filename: source.filename.to_owned(),
            first_line: line + 1,
            code: text,
            dedent: start,
            whole_file: false,
        };
        return Ok(Cut { snippet, first: line, last: line });
    }
    let (first, last) = lines_of(source, selection)?;
    check_lines(doc, first, last)?;
    let lines: Vec<String> = (first..=last).map(|l| doc.line(l)).collect();
    let borrowed: Vec<&str> = lines.iter().map(String::as_str).collect();
    let snippet = match selection {
        // The file runs as python3 runs it: see `Snippet::whole_file`.
        Selection::File => Snippet::program(source.filename, &borrowed),
        _ => Snippet::build(source.filename, &borrowed, first as usize + 1),
    };
    Ok(Cut { snippet, first, last })
}

/// Code that comes without a document (an agent's tool call), cut as the
/// lines of `filename` starting at 1-based `first_line`: tracebacks and the
/// result's lines then name that file's lines. `filename` need not exist.
pub fn cut_code(filename: &str, code: &str, first_line: u32) -> Cut {
    let doc = Document::new(code, 0);
    let last = last_non_blank(&doc, 0, doc.line_count()).unwrap_or(0);
    let offset = first_line.max(1) - 1;
    let lines: Vec<String> = (0..=last).map(|l| doc.line(l)).collect();
    let borrowed: Vec<&str> = lines.iter().map(String::as_str).collect();
    let snippet = Snippet::build(filename, &borrowed, offset as usize + 1);
    Cut { snippet, first: offset, last: offset.saturating_add(last) }
}

/// The document lines a selection covers, without cutting them.
pub fn lines_of(source: &Source, selection: &Selection) -> Result<(u32, u32), SelectionError> {
    let doc = source.doc;
    match *selection {
        Selection::File => Ok((0, last_non_blank(doc, 0, doc.line_count()).unwrap_or(0))),
        Selection::Lines { first, last } => Ok((first, last)),
        Selection::Span { line, .. } => Ok((line, line)),
        Selection::CellAt { line } => code_cell_lines(doc, find_cell(source.cells, line)?),
        Selection::CellNumber(number) => code_cell_lines(doc, numbered_cell(source.cells, number)?),
        Selection::CellsAbove { line } => {
            let cell = find_cell(source.cells, line)?;
            match cell.marker.unwrap_or(cell.body.start) {
                0 => Err(SelectionError::NothingAbove),
                start => Ok((0, start as u32 - 1)),
            }
        }
        Selection::Statement { line } => {
            let statement = (line < doc.line_count()).then(|| top_level_statement(&doc.text(), line as usize));
            match statement.flatten() {
                Some((first, last)) => Ok((first as u32, last as u32)),
                None => Err(SelectionError::NoStatement { line: u64::from(line) + 1 }),
            }
        }
    }
}

fn check_lines(doc: &Document, first: u32, last: u32) -> Result<(), SelectionError> {
    if last < first || last >= doc.line_count() {
        // u64: a line may be u32::MAX (an overflow panicked here once).
        return Err(SelectionError::LinesOutOfRange {
            first: u64::from(first) + 1,
            last: u64::from(last) + 1,
            total: doc.line_count(),
        });
    }
    Ok(())
}

fn find_cell(cells: &[Cell], line: u32) -> Result<&Cell, SelectionError> {
    if cells.iter().all(|c| c.marker.is_none()) {
        return Err(SelectionError::NoCells);
    }
    cell_at(cells, line as usize).ok_or(SelectionError::NotInACell { line: u64::from(line) + 1 })
}

fn numbered_cell(cells: &[Cell], number: usize) -> Result<&Cell, SelectionError> {
    let has_preamble = cells.first().is_some_and(|c| c.marker.is_none());
    let marked = cells.len() - usize::from(has_preamble);
    let missing = SelectionError::NoSuchCell { number, count: marked };
    match (number, has_preamble) {
        (0, true) => Ok(&cells[0]),
        (0, false) => Err(missing),
        (n, _) => cells.get(n - 1 + usize::from(has_preamble)).ok_or(missing),
    }
}

/// A code cell's body up to its last non-blank line: trailing blank lines
/// are not what the user sees as the cell's code.
fn code_cell_lines(doc: &Document, cell: &Cell) -> Result<(u32, u32), SelectionError> {
    if cell.kind == CellKind::Markdown {
        return Err(SelectionError::Markdown);
    }
    let end = (cell.body.end as u32).min(doc.line_count());
    let start = cell.body.start as u32;
    last_non_blank(doc, start, end).map(|last| (start, last)).ok_or(SelectionError::EmptyCell)
}

/// The last line in `start..end` with something other than whitespace.
fn last_non_blank(doc: &Document, start: u32, end: u32) -> Option<u32> {
    (start..end).rev().find(|&l| !doc.line(l).trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::cells::{CellMarkers, cells_with};

    const FILE: &str =
        "import math\n\n# %% first\nx = 1\n\n\n# %% [markdown]\n# notes\n#%%\n\n\n# %% last\n    y = 2\n    y\n";

    fn cut_with(text: &str, markers: &CellMarkers, selection: Selection) -> Result<Cut, SelectionError> {
        let doc = Document::new(text, 0);
        let cells = cells_with(text, markers);
        cut(&Source { filename: "/w/f.py", doc: &doc, cells: &cells }, &selection)
    }

    fn cut_std(selection: Selection) -> Result<Cut, SelectionError> {
        cut_with(FILE, &CellMarkers::Standard, selection)
    }

    #[test]
    fn cells_by_position_and_by_number_agree() {
        let at = cut_std(Selection::CellAt { line: 3 }).unwrap();
        let numbered = cut_std(Selection::CellNumber(1)).unwrap();
        assert_eq!(at, numbered);
        // Trailing blank lines are not part of the cell.
        assert_eq!((at.first, at.last, at.snippet.code.as_str()), (3, 3, "x = 1"));
        assert_eq!(cut_std(Selection::CellNumber(0)).unwrap().snippet.code, "import math");
        assert_eq!(cut_std(Selection::CellNumber(2)), Err(SelectionError::Markdown));
        assert_eq!(cut_std(Selection::CellNumber(3)), Err(SelectionError::EmptyCell));
        let last = cut_std(Selection::CellNumber(4)).unwrap();
        assert_eq!((last.first, last.last, last.snippet.code.as_str(), last.snippet.dedent), (12, 13, "y = 2\ny", 4));
        assert!(matches!(cut_std(Selection::CellNumber(5)), Err(SelectionError::NoSuchCell { number: 5, count: 4 })));
    }

    #[test]
    fn a_custom_marker_pattern_is_honoured() {
        let text = "a = 1\n## step one\nb = 2\n\n## step two\nc = 3\n";
        let custom = CellMarkers::custom("## ").unwrap();
        let cut = cut_with(text, &custom, Selection::CellNumber(1)).unwrap();
        assert_eq!((cut.first, cut.last, cut.snippet.code.as_str()), (2, 2, "b = 2"));
        assert_eq!(
            cut_with(text, &CellMarkers::Standard, Selection::CellNumber(1)),
            Err(SelectionError::NoSuchCell { number: 1, count: 0 })
        );
    }

    #[test]
    fn file_lines_span_above_and_statement() {
        let file = cut_std(Selection::File).unwrap();
        assert_eq!((file.first, file.last), (0, 13));
        assert!(file.snippet.whole_file && file.snippet.code.ends_with("\n    y = 2\n    y"), "not dedented");
        assert!(!cut_std(Selection::CellNumber(4)).unwrap().snippet.whole_file);
        let above = cut_std(Selection::CellsAbove { line: 12 }).unwrap();
        assert_eq!((above.first, above.last), (0, 10));
        assert_eq!(cut_std(Selection::CellsAbove { line: 0 }), Err(SelectionError::NothingAbove));
        let span = cut_std(Selection::Span { line: 12, start: 4, end: 5 }).unwrap();
        assert_eq!((span.snippet.code.as_str(), span.snippet.dedent, span.snippet.first_line), ("y", 4, 13));
        assert!(matches!(
            cut_std(Selection::Lines { first: 3, last: 99 }),
            Err(SelectionError::LinesOutOfRange { .. })
        ));
        assert!(matches!(
            cut_std(Selection::Lines { first: u32::MAX, last: u32::MAX }),
            Err(SelectionError::LinesOutOfRange { first: 4_294_967_296, .. })
        ));
        let text = "@dec\ndef f():\n    return 1\n\nf()\n";
        let statement = cut_with(text, &CellMarkers::Standard, Selection::Statement { line: 2 }).unwrap();
        assert_eq!((statement.first, statement.last), (0, 2));
        assert!(cut_with(text, &CellMarkers::Standard, Selection::Statement { line: 3 }).is_err());
        assert_eq!(cut_with(FILE, &CellMarkers::Standard, Selection::CellAt { line: 0 }).unwrap().first, 0);
        assert_eq!(
            cut_with("x = 1\n", &CellMarkers::Standard, Selection::CellAt { line: 0 }),
            Err(SelectionError::NoCells)
        );
    }
}
