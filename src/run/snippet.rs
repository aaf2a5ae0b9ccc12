//! A piece of a document to run: which lines, from which file, dedented.
//! What to cut is chosen with a [`super::selection::Selection`].

use super::cells;

/// Code cut from a document, remembering where it came from so that errors
/// can be reported at the document's own lines and columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The name tracebacks will carry: the document's path.
    pub filename: String,
    /// 1-based line of the document where `code` starts.
    pub first_line: u32,
    /// The code, with the common indentation removed.
    pub code: String,
    /// How many characters of indentation were removed from each line.
    pub dedent: u32,
    /// The document as a program, as `python3 FILE` runs it: not dedented,
    /// `sys.argv` is `[filename]`, and a trailing expression's value is not
    /// shown (a notebook-like run of lines or a cell shows it).
    pub whole_file: bool,
}

/// Why a snippet could not be cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnippetError {
    LinesOutOfRange { start: usize, end: usize, total: usize },
}

impl std::fmt::Display for SnippetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnippetError::LinesOutOfRange { start, end, total } => {
                write!(f, "lines {start}:{end} are outside the file, which has {total} lines")
            }
        }
    }
}

impl std::error::Error for SnippetError {}

impl Snippet {
    /// Lines `start..=end` (1-based, inclusive) of `text`.
    pub fn from_lines(filename: &str, text: &str, start: usize, end: usize) -> Result<Self, SnippetError> {
        let lines: Vec<&str> = cells::split_lines(text).collect();
        let total = lines.len();
        if start == 0 || end < start || end > total {
            return Err(SnippetError::LinesOutOfRange { start, end, total });
        }
        Ok(Self::build(filename, &lines[start - 1..end], start))
    }

    /// The whole of `text`.
    pub fn whole(filename: &str, text: &str) -> Self {
        let lines: Vec<&str> = cells::split_lines(text).collect();
        Self::build(filename, &lines, 1)
    }

    /// From raw lines: dedents by the indentation common to non-blank lines.
    pub fn build(filename: &str, lines: &[&str], first_line: usize) -> Self {
        let indent = common_indent(lines);
        let mut code = String::new();
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                code.push('\n');
            }
            code.push_str(line.get(indent.len()..).filter(|_| line.starts_with(indent)).unwrap_or(line.trim_start()));
        }
        Self {
            filename: filename.to_owned(),
            first_line: first_line as u32,
            code,
            dedent: indent.chars().count() as u32,
            whole_file: false,
        }
    }

    /// A whole document as a program: its lines as they are (an indented
    /// first line is the IndentationError python3 reports), without a UTF-8
    /// byte-order mark, which python3 drops too.
    pub fn program(filename: &str, lines: &[&str]) -> Self {
        let code = lines.join("\n");
        let code = code.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(code);
        Self { filename: filename.to_owned(), first_line: 1, code, dedent: 0, whole_file: true }
    }

    /// The 1-based line after the last line of the snippet.
    pub fn end_line(&self) -> u32 {
        self.first_line + cells::split_lines(&self.code).count() as u32
    }
}

/// The leading whitespace shared by every non-blank line (textwrap.dedent).
fn common_indent<'a>(lines: &[&'a str]) -> &'a str {
    let mut common: Option<&str> = None;
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
        common = Some(match common {
            None => indent,
            Some(prev) => {
                let shared = prev.bytes().zip(indent.bytes()).take_while(|(a, b)| a == b).count();
                &prev[..shared]
            }
        });
    }
    common.unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str =
        "import math\n\ndef f(x):\n    if x:\n        return 1 / x\n    return 0\n\n# %% second\nprint(f(0))\n";

    #[test]
    fn lines_keep_their_numbers() {
        let s = Snippet::from_lines("f.py", FILE, 3, 6).unwrap();
        assert_eq!((s.first_line, s.dedent), (3, 0));
        assert!(s.code.starts_with("def f(x):"));
        assert_eq!(s.end_line(), 7);
    }

    #[test]
    fn indented_selection_is_dedented() {
        let s = Snippet::from_lines("f.py", FILE, 4, 5).unwrap();
        assert_eq!(s.code, "if x:\n    return 1 / x");
        assert_eq!((s.first_line, s.dedent), (4, 4));
    }

    #[test]
    fn blank_lines_do_not_limit_dedent() {
        let s = Snippet::build("f.py", &["    a = 1", "", "    b = 2"], 10);
        assert_eq!(s.code, "a = 1\n\nb = 2");
    }

    #[test]
    fn a_program_is_not_dedented_and_loses_its_byte_order_mark() {
        let s = Snippet::program("f.py", &["\u{feff}    x = 1", "    y = 2"]);
        assert_eq!((s.code.as_str(), s.dedent, s.first_line, s.whole_file), ("    x = 1\n    y = 2", 0, 1, true));
        assert!(!Snippet::build("f.py", &["x"], 1).whole_file);
    }

    #[test]
    fn out_of_range_lines() {
        assert!(matches!(Snippet::from_lines("f.py", FILE, 0, 1), Err(SnippetError::LinesOutOfRange { .. })));
        assert!(matches!(Snippet::from_lines("f.py", FILE, 5, 4), Err(SnippetError::LinesOutOfRange { .. })));
        assert!(Snippet::from_lines("f.py", FILE, 1, 999).unwrap_err().to_string().contains("has 9 lines"));
    }
}
