//! Documents as the editor has them: a rope, a version, and exact
//! conversion between editor positions and text in any of the three LSP
//! position encodings. No LSP types here: the server converts at its edge.
//!
//! Lines break at `\n`, `\r\n` and `\r` only (ropey's `cr_lines`, without
//! `unicode_lines`), as LSP counts them; a form feed is not a line break.

use ropey::Rope;

/// How the `character` of a position counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionEncoding {
    /// UTF-8 code units (bytes).
    Utf8,
    /// UTF-16 code units: what every client supports.
    Utf16,
    /// Unicode scalar values.
    Utf32,
}

impl PositionEncoding {
    fn width(self, c: char) -> usize {
        match self {
            PositionEncoding::Utf8 => c.len_utf8(),
            PositionEncoding::Utf16 => c.len_utf16(),
            PositionEncoding::Utf32 => 1,
        }
    }
}

/// A position in the editor's terms: 0-based line, `character` in the
/// negotiated encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: u32,
    pub character: u32,
}

impl Pos {
    pub fn new(line: u32, character: u32) -> Self {
        Self { line, character }
    }
}

/// Which lines an edit touched: `first..=old_last` before it became
/// `first..=new_last`. Lines after `old_last` moved by `new_last - old_last`.
/// (`new_last` is `first - 1` when the edit left nothing of those lines: a
/// deletion that joined the line before's lone '\r' to a '\n' after it.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineEdit {
    pub first: u32,
    pub old_last: u32,
    pub new_last: u32,
}

impl LineEdit {
    pub fn delta(&self) -> i64 {
        i64::from(self.new_last) - i64::from(self.old_last)
    }

    /// Where `lines` (inclusive) are after this edit, or `None` when the edit
    /// touched them.
    pub fn track(&self, start: u32, end: u32) -> Option<(u32, u32)> {
        if end < self.first {
            Some((start, end))
        } else if start > self.old_last {
            let shift = |l: u32| (i64::from(l) + self.delta()).max(0) as u32;
            Some((shift(start), shift(end)))
        } else {
            None
        }
    }
}

/// An open document.
#[derive(Debug, Clone)]
pub struct Document {
    rope: Rope,
    version: i32,
}

impl Document {
    pub fn new(text: &str, version: i32) -> Self {
        Self { rope: Rope::from_str(text), version }
    }

    pub fn version(&self) -> i32 {
        self.version
    }

    pub fn text(&self) -> String {
        self.rope.to_string()
    }

    pub fn len_chars(&self) -> usize {
        self.rope.len_chars()
    }

    /// Lines as LSP counts them (text ending in a line break has an empty last line).
    pub fn line_count(&self) -> u32 {
        self.rope.len_lines() as u32
    }

    /// Line `line` without its line break; empty past the end.
    pub fn line(&self, line: u32) -> String {
        let line = line as usize;
        if line >= self.rope.len_lines() {
            return String::new();
        }
        let slice = self.rope.line(line);
        let text = slice.to_string();
        text.trim_end_matches(['\n', '\r']).to_owned()
    }

    /// The char index of `pos`, clamped: a line past the end is the end of
    /// the document; a character past the end of its line is the line's end;
    /// a position inside a character (half a surrogate pair, a UTF-8
    /// continuation byte) is that character's start.
    pub fn char_index(&self, pos: Pos, encoding: PositionEncoding) -> usize {
        let line = pos.line as usize;
        if line >= self.rope.len_lines() {
            return self.rope.len_chars();
        }
        let start = self.rope.line_to_char(line);
        let mut units = 0usize;
        let target = pos.character as usize;
        for (offset, c) in self.rope.line(line).chars().enumerate() {
            if c == '\n' || c == '\r' {
                return start + offset;
            }
            let next = units + encoding.width(c);
            if next > target {
                return start + offset;
            }
            units = next;
        }
        start + self.rope.line(line).len_chars()
    }

    /// The position of char index `index` (clamped to the end).
    pub fn position(&self, index: usize, encoding: PositionEncoding) -> Pos {
        let index = index.min(self.rope.len_chars());
        let line = self.rope.char_to_line(index);
        let start = self.rope.line_to_char(line);
        let character: usize = self.rope.slice(start..index).chars().map(|c| encoding.width(c)).sum();
        Pos { line: line as u32, character: character as u32 }
    }

    /// The end of line `line` (before its break), in `encoding`.
    pub fn line_end(&self, line: u32, encoding: PositionEncoding) -> Pos {
        let character = self.line(line).chars().map(|c| encoding.width(c)).sum::<usize>();
        Pos { line, character: character as u32 }
    }

    /// The position of character column `column` (counted in chars, as
    /// Python reports them) of `line`, clamped to the line's end.
    pub fn char_column(&self, line: u32, column: u32, encoding: PositionEncoding) -> Pos {
        let character = self.line(line).chars().take(column as usize).map(|c| encoding.width(c)).sum::<usize>();
        Pos { line: line.min(self.line_count().saturating_sub(1)), character: character as u32 }
    }

    /// The first non-blank character of `line`.
    pub fn first_non_blank(&self, line: u32, encoding: PositionEncoding) -> Pos {
        let text = self.line(line);
        let blank = text.chars().take_while(|c| c.is_whitespace()).count() as u32;
        self.char_column(line, blank, encoding)
    }

    /// Text between two positions.
    pub fn slice(&self, start: Pos, end: Pos, encoding: PositionEncoding) -> String {
        let (a, b) = (self.char_index(start, encoding), self.char_index(end, encoding));
        self.rope.slice(a.min(b)..a.max(b)).to_string()
    }

    /// Replaces `range` (or everything, for `None`) with `text` and sets the
    /// version. Returns the lines the edit touched.
    pub fn replace(
        &mut self,
        range: Option<(Pos, Pos)>,
        text: &str,
        encoding: PositionEncoding,
        version: i32,
    ) -> LineEdit {
        self.version = version;
        let Some((start, end)) = range else {
            let old_last = self.line_count().saturating_sub(1);
            self.rope = Rope::from_str(text);
            return LineEdit { first: 0, old_last, new_last: self.line_count().saturating_sub(1) };
        };
        let (start, end) = if end < start { (end, start) } else { (start, end) };
        let (a, b) = (self.char_index(start, encoding), self.char_index(end, encoding));
        let first = self.rope.char_to_line(a) as u32;
        let old_last = self.rope.char_to_line(b) as u32;
        self.rope.remove(a..b);
        self.rope.insert(a, text);
        // The line where the inserted text ends is the one that now holds
        // the rest of old line `old_last`. It is read from the rope, not
        // counted from the breaks in `text`: a break can join one beside the
        // edit into a single CRLF (a '\n' inserted after a lone '\r', a '\r'
        // before a '\n', or a deletion that brings a '\r' and a '\n'
        // together), and then the document gains one line fewer than `text`
        // has breaks. (Found by fuzz/fuzz_targets/positions.rs.)
        let new_last = self.rope.char_to_line(a + text.chars().count()) as u32;
        LineEdit { first, old_last, new_last }
    }
}

#[cfg(test)]
mod tests {
    use super::PositionEncoding::*;
    use super::*;

    #[test]
    fn columns_in_every_encoding() {
        // é is 2 UTF-8 bytes; 🙂 is 4 bytes and a UTF-16 surrogate pair; 中 is 3 bytes.
        let doc = Document::new("a é🙂中 x = 1/0\n", 1);
        let x = doc.line(0).find('x').map(|b| doc.line(0)[..b].chars().count()).unwrap();
        for (encoding, column) in [(Utf8, 12), (Utf16, 7), (Utf32, 6)] {
            assert_eq!(doc.position(x, encoding), Pos::new(0, column), "{encoding:?}");
            assert_eq!(doc.char_index(Pos::new(0, column), encoding), x, "{encoding:?}");
        }
    }

    #[test]
    fn combining_characters_count_as_themselves() {
        let doc = Document::new("e\u{301}x", 1); // e + combining acute, then x
        assert_eq!(doc.position(2, Utf16), Pos::new(0, 2));
        assert_eq!(doc.position(2, Utf8), Pos::new(0, 3));
    }

    #[test]
    fn positions_are_clamped() {
        let doc = Document::new("ab\ncd", 1);
        assert_eq!(doc.char_index(Pos::new(0, 99), Utf16), 2, "past the line end: before the break");
        assert_eq!(doc.char_index(Pos::new(7, 0), Utf16), 5, "past the last line: end of text");
        // Half a surrogate pair lands on the character's start.
        let doc = Document::new("🙂z", 1);
        assert_eq!(doc.char_index(Pos::new(0, 1), Utf16), 0);
        assert_eq!(doc.char_index(Pos::new(0, 2), Utf16), 1);
    }

    #[test]
    fn incremental_edits_and_line_tracking() {
        let mut doc = Document::new("one\ntwo\nthree\nfour\n", 1);
        // Replace "two" with "2\n2b": line 1 becomes two lines.
        let edit = doc.replace(Some((Pos::new(1, 0), Pos::new(1, 3))), "2\n2b", Utf16, 2);
        assert_eq!(doc.text(), "one\n2\n2b\nthree\nfour\n");
        assert_eq!(edit, LineEdit { first: 1, old_last: 1, new_last: 2 });
        assert_eq!(edit.track(0, 0), Some((0, 0)));
        assert_eq!(edit.track(2, 3), Some((3, 4)));
        assert_eq!(edit.track(1, 1), None);
        assert_eq!(doc.version(), 2);
        // Deleting lines shifts up.
        let edit = doc.replace(Some((Pos::new(1, 0), Pos::new(3, 0))), "", Utf16, 3);
        assert_eq!(doc.text(), "one\nthree\nfour\n");
        assert_eq!(edit.track(4, 4), Some((2, 2)));
        // A full replacement touches everything.
        let edit = doc.replace(None, "x", Utf16, 4);
        assert_eq!((edit.first, edit.new_last), (0, 0));
        assert_eq!(doc.line_count(), 1);
    }

    #[test]
    fn edits_that_join_a_cr_and_a_lf_count_one_break() {
        // Deleting the line between a lone '\r' and a '\n' leaves one CRLF.
        let mut doc = Document::new("a\rX\nb", 1);
        let edit = doc.replace(Some((Pos::new(1, 0), Pos::new(1, 1))), "", Utf16, 2);
        assert_eq!((doc.text().as_str(), doc.line_count()), ("a\r\nb", 2));
        assert_eq!((edit.first, edit.old_last, edit.new_last, edit.delta()), (1, 1, 0, -1));
        assert_eq!(edit.track(2, 2), Some((1, 1)), "\"b\" moved up one line");
        // A '\n' typed after a lone '\r' adds no line.
        let mut doc = Document::new("a\rb\nc", 1);
        let edit = doc.replace(Some((Pos::new(1, 0), Pos::new(1, 0))), "\n", Utf16, 2);
        assert_eq!((doc.line_count(), edit.delta()), (3, 0));
        // Nor does a '\r' inserted before a '\n'.
        let mut doc = Document::new("a\nb", 1);
        let edit = doc.replace(Some((Pos::new(0, 1), Pos::new(0, 1))), "x\r", Utf16, 2);
        assert_eq!((doc.text().as_str(), doc.line_count(), edit.delta()), ("ax\r\nb", 2, 0));
    }

    #[test]
    fn only_lsp_line_breaks() {
        let doc = Document::new("a\x0cb\r\nc\rd\u{2028}e", 1);
        assert_eq!(doc.line_count(), 3);
        assert_eq!(doc.line(0), "a\x0cb");
        assert_eq!(doc.line(2), "d\u{2028}e");
    }

    #[test]
    fn reversed_and_out_of_range_edits_do_not_panic() {
        let mut doc = Document::new("abc", 1);
        doc.replace(Some((Pos::new(9, 9), Pos::new(0, 1))), "X", Utf8, 2);
        assert_eq!(doc.text(), "aX");
        assert_eq!(doc.slice(Pos::new(0, 5), Pos::new(0, 0), Utf8), "aX");
    }
}
