//! Entry points shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`, run
//! with `scripts/fuzz.sh`) and the corpus replay test
//! (`tests/fuzz_corpora.rs`, plain `cargo test` on stable).
//!
//! Each function takes raw bytes, decodes them into inputs for one area of
//! the crate's pure code, runs it, and asserts invariants: a panic here is a
//! finding. The decoding is hand-written (no `arbitrary`) so that the main
//! crate has no fuzzing dependency and a corpus file means the same thing to
//! the fuzzer and to the test.
//!
//! | function | area |
//! | --- | --- |
//! | [`run_outcome`] | `run::outcome` (marker, outcome JSON) and the mapping of a traceback to document lines (`lsp::records::diagnostics_for`, `lsp::convert::char_range`) |
//! | [`mcp_reply`] | `mcp::jsonrpc::parse_reply` (JSON and SSE) and `mcp::sse::data_events` |
//! | [`positions`] | `text::Document`: positions in every encoding, slices, edits, line tracking |
//! | [`cells`] | `run::cells` (standard and custom markers, `split_lines`) and `run::snippet` |

use crate::lsp::convert::char_range;
use crate::mcp::jsonrpc::{ReplyError, parse_reply};
use crate::mcp::sse::data_events;
use crate::run::Snippet;
use crate::run::cells::{self, CellMarkers};
use crate::run::outcome::{Frame, PyException, SyntaxLocation, marker_payload, parse_outcome, split_marker};
use crate::run::selection::{self, Selection, SelectionError, Source};
use crate::run::snippet::SnippetError;
use crate::run::wrapper::MARKER;
use crate::text::{Document, Pos, PositionEncoding};
use crate::workbench::diagnostics_for;

/// The nonce the `run_outcome` corpus uses in its marker lines.
pub const NONCE: &str = "fz1";
/// The document path the `run_outcome` corpus uses in its frames.
pub const FILE: &str = "/w/a.py";

/// Reads fuzz bytes as a stream of small decisions; past the end it yields
/// zeros, so every input decodes to something.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// A number that is usually small (one byte), sometimes any `u32`.
    fn number(&mut self) -> u32 {
        match self.byte() {
            b @ 0..=0xef => u32::from(b),
            0xf0 => u32::MAX,
            _ => u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()]),
        }
    }

    fn pos(&mut self) -> Pos {
        Pos::new(self.number(), self.number())
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// A string: a length byte, then that many bytes (lossy UTF-8).
    fn text(&mut self) -> String {
        let n = usize::from(self.byte());
        String::from_utf8_lossy(self.take(n)).into_owned()
    }

    fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }
}

// ---------------------------------------------------------------------------
// run_outcome

/// The run's stdout is the whole input (lossy UTF-8); the run's marker uses
/// [`NONCE`]. Checks that `split_marker` and `marker_payload` +
/// `parse_outcome` agree, that the cut keeps everything but the marker line,
/// and maps any exception to a diagnostic range in a document made of the
/// stdout before the marker.
pub fn run_outcome(data: &[u8]) {
    let stdout = String::from_utf8_lossy(data);
    let (clean, outcome) = split_marker(&stdout, NONCE);
    let via_payload = marker_payload(&stdout, NONCE).and_then(parse_outcome);
    assert_eq!(outcome, via_payload, "split_marker and marker_payload+parse_outcome disagree");
    let needle = format!("{MARKER}{NONCE} ");
    match &outcome {
        None => assert_eq!(clean, stdout, "stdout changed though no outcome was taken"),
        Some(_) => {
            // clean = stdout with the marker line (and the '\n' before it)
            // cut out: a prefix of stdout followed by a suffix of it.
            let start = stdout.rfind(&needle).expect("an outcome without a marker");
            assert!(clean.len() < stdout.len());
            let prefix_len = if start > 0 && stdout.as_bytes()[start - 1] == b'\n' { start - 1 } else { start };
            assert_eq!(&clean[..prefix_len], &stdout[..prefix_len]);
            assert!(stdout.ends_with(&clean[prefix_len..]), "what follows the marker line was changed");
            assert!(!clean[prefix_len..].contains(&needle), "a later marker was left in stdout");
        }
    }
    // Documents that are a bare outcome JSON (what `fetch_outcome` parses).
    let bare = parse_outcome(&stdout);
    let document_text = stdout.split(needle.as_str()).next().unwrap_or("");
    let doc = Document::new(document_text, 0);
    let line_count = doc.line_count();
    // Besides the exceptions in the JSON, one decoded straight from the
    // bytes: JSON rarely mutates into edge numbers such as u32::MAX.
    let exceptions = [outcome, bare].into_iter().flatten().filter_map(|o| o.error);
    for exception in exceptions.chain(std::iter::once(structured_exception(data))) {
        let headline = exception.headline();
        assert!(headline.starts_with(&exception.type_name));
        if let Some(frame) = exception.innermost_in(FILE) {
            assert_eq!(frame.file, FILE);
        }
        // The run covered some lines of the document; the exception may
        // point anywhere (Python reports what it likes).
        let run_first = (data.len() as u32) % line_count.max(1);
        let run_last = run_first + (data.first().copied().unwrap_or(0) as u32 % 8);
        for spec in diagnostics_for(&exception, FILE, run_first, run_last) {
            assert!(spec.line <= spec.end_line, "diagnostic ends before it starts: {spec:?}");
            assert_eq!(spec.message, headline);
            for encoding in ENCODINGS {
                let range = char_range(&doc, spec.line, spec.start_col, spec.end_line, spec.end_col, encoding);
                assert!(
                    (range.start.line, range.start.character) <= (range.end.line, range.end.character),
                    "inverted range {range:?} for {spec:?}"
                );
            }
        }
    }
}

/// An exception whose numbers come from the input's bytes (see
/// [`Input::number`]): a syntax location and up to three frames, in
/// [`FILE`] or elsewhere.
fn structured_exception(data: &[u8]) -> PyException {
    let mut input = Input { data };
    let flags = input.byte();
    let optional = |on: bool, input: &mut Input| on.then(|| input.number());
    let syntax = (flags & 1 == 1).then(|| SyntaxLocation {
        line: input.number(),
        col: input.number(),
        end_line: optional(flags & 2 != 0, &mut input),
        end_col: optional(flags & 4 != 0, &mut input),
    });
    let frames = (0..(flags >> 3) % 4)
        .map(|_| {
            let shape = input.byte();
            Frame {
                file: if shape & 1 == 0 { FILE.to_owned() } else { "/other.py".to_owned() },
                line: input.number(),
                function: "f".to_owned(),
                col: optional(shape & 2 != 0, &mut input),
                end_line: optional(shape & 4 != 0, &mut input),
                end_col: optional(shape & 8 != 0, &mut input),
            }
        })
        .collect();
    PyException {
        type_name: "ValueError".to_owned(),
        message: String::new(),
        frames,
        syntax,
        traceback: None,
        missing_module: None,
        exit_status: None,
        missing_file: None,
    }
}

// ---------------------------------------------------------------------------
// mcp_reply

const CONTENT_TYPES: [Option<&str>; 8] = [
    None,
    Some("application/json"),
    Some("text/event-stream"),
    Some("text/event-stream; charset=utf-8"),
    Some("application/json; charset=utf-8"),
    Some("text/html"),
    Some("  Text/Event-Stream"),
    Some("text/plain"),
];

/// Byte 0 picks a content type, byte 1 the request id (0..=15); the rest is
/// the reply body. Checks `parse_reply` and `data_events` never panic, that
/// error excerpts stay short and single-line, that SSE events survive being
/// written out again, and that a JSON reply means the same sent as one SSE
/// event.
pub fn mcp_reply(data: &[u8]) {
    let mut input = Input { data };
    let content_type = CONTENT_TYPES[usize::from(input.byte()) % CONTENT_TYPES.len()];
    let id = u64::from(input.byte() % 16);
    let body = input.rest();
    let reply = parse_reply(content_type, body, id);
    match &reply {
        Err(ReplyError::NotJson(excerpt)) => {
            assert!(excerpt.chars().count() <= 201, "excerpt too long");
            assert!(!excerpt.chars().any(char::is_control), "excerpt has control characters");
        }
        Err(ReplyError::NoResponse(_)) | Ok(_) => {}
    }

    let text = String::from_utf8_lossy(body);
    let events = data_events(&text);
    // Each event is its data lines joined by '\n': no line break of its own.
    assert!(events.iter().all(|e| !e.contains('\r')), "an event kept a carriage return");
    // Written out again as an event stream, the same events come back.
    let mut rewritten = String::new();
    for event in &events {
        for line in event.split('\n') {
            rewritten.push_str("data: ");
            rewritten.push_str(line);
            rewritten.push('\n');
        }
        rewritten.push('\n');
    }
    assert_eq!(data_events(&rewritten), events, "events changed when written out again");

    // A JSON body sent as a single SSE event must give the same answer. The
    // body goes in as it is, its line breaks (whitespace, in valid JSON)
    // made spaces: not re-serialised, since serde_json does not promise that
    // a float survives printing and parsing again (an input with
    // `-32709999999999999292233630.785477580` once showed that).
    if serde_json::from_slice::<serde_json::Value>(body).is_ok() {
        let one_line = String::from_utf8_lossy(body).replace(['\r', '\n'], " ");
        let as_event = format!("event: message\ndata: {one_line}\n\n");
        let via_sse = parse_reply(Some("text/event-stream"), as_event.as_bytes(), id);
        let direct = parse_reply(Some("application/json"), body, id);
        match (&direct, &via_sse) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "JSON and SSE disagree"),
            (Err(ReplyError::NoResponse(_)), Err(ReplyError::NoResponse(_))) => {}
            other => panic!("JSON and SSE disagree: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// positions

const ENCODINGS: [PositionEncoding; 3] = [PositionEncoding::Utf8, PositionEncoding::Utf16, PositionEncoding::Utf32];

fn width(c: char, encoding: PositionEncoding) -> usize {
    match encoding {
        PositionEncoding::Utf8 => c.len_utf8(),
        PositionEncoding::Utf16 => c.len_utf16(),
        PositionEncoding::Utf32 => 1,
    }
}

/// A plain model of a document: chars, and lines as LSP counts them.
struct Model {
    chars: Vec<char>,
    /// Per line: (first char, end of content, start of the next line).
    lines: Vec<(usize, usize, usize)>,
}

impl Model {
    fn new(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let mut lines = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < chars.len() {
            let brk = match chars[i] {
                '\r' if chars.get(i + 1) == Some(&'\n') => 2,
                '\r' | '\n' => 1,
                _ => 0,
            };
            if brk > 0 {
                lines.push((start, i, i + brk));
                start = i + brk;
                i += brk;
            } else {
                i += 1;
            }
        }
        lines.push((start, chars.len(), chars.len()));
        Self { chars, lines }
    }

    fn text(&self) -> String {
        self.chars.iter().collect()
    }

    fn content(&self, line: usize) -> String {
        self.lines.get(line).map_or(String::new(), |&(s, e, _)| self.chars[s..e].iter().collect())
    }

    /// `Document::char_index`, as its documentation says it behaves.
    /// Returns the index and whether `pos` is exactly a character boundary
    /// within its line's content.
    fn char_index(&self, pos: Pos, encoding: PositionEncoding) -> (usize, bool) {
        let Some(&(start, end, _)) = self.lines.get(pos.line as usize) else {
            return (self.chars.len(), false);
        };
        let target = pos.character as usize;
        let mut units = 0;
        for i in start..end {
            if units == target {
                return (i, true);
            }
            let next = units + width(self.chars[i], encoding);
            if next > target {
                return (i, false);
            }
            units = next;
        }
        (end, units == target)
    }

    /// The line holding char `index` (the last line for the end).
    fn line_of(&self, index: usize) -> usize {
        self.lines.iter().position(|&(_, _, next)| index < next).unwrap_or(self.lines.len() - 1)
    }

    fn position(&self, index: usize, encoding: PositionEncoding) -> Pos {
        let index = index.min(self.chars.len());
        let line = self.line_of(index);
        let start = self.lines[line].0;
        let character: usize = self.chars[start..index].iter().map(|&c| width(c, encoding)).sum();
        Pos::new(line as u32, character as u32)
    }

    fn width_of(&self, line: usize, encoding: PositionEncoding) -> usize {
        self.content(line).chars().map(|c| width(c, encoding)).sum()
    }

    /// `index` sits between the '\r' and '\n' of a CRLF.
    fn inside_crlf(&self, index: usize) -> bool {
        index > 0 && self.chars.get(index - 1) == Some(&'\r') && self.chars.get(index) == Some(&'\n')
    }
}

fn assert_same(doc: &Document, model: &Model, encoding: PositionEncoding) {
    assert_eq!(doc.text(), model.text());
    assert_eq!(doc.len_chars(), model.chars.len());
    assert_eq!(doc.line_count() as usize, model.lines.len(), "line count of {:?}", model.text());
    for line in 0..model.lines.len() + 1 {
        assert_eq!(doc.line(line as u32), model.content(line), "line {line}");
        let end = doc.line_end(line as u32, encoding);
        assert_eq!(end, Pos::new(line as u32, model.width_of(line, encoding) as u32), "end of line {line}");
    }
}

/// Byte 0 picks the encoding; then a length byte and the document's text
/// (lossy UTF-8); then operations, each a byte and its arguments. Every
/// result is compared with a plain model of the text.
pub fn positions(data: &[u8]) {
    let mut input = Input { data };
    let encoding = ENCODINGS[usize::from(input.byte()) % 3];
    let text = input.text();
    let mut doc = Document::new(&text, 0);
    let mut model = Model::new(&text);
    assert_same(&doc, &model, encoding);
    let mut version = 0;
    for _ in 0..64 {
        if input.is_empty() {
            break;
        }
        match input.byte() % 6 {
            0 => {
                let pos = input.pos();
                let index = doc.char_index(pos, encoding);
                let (expected, exact) = model.char_index(pos, encoding);
                assert_eq!(index, expected, "char_index({pos:?})");
                let back = doc.position(index, encoding);
                if exact {
                    assert_eq!(back, pos, "position(char_index({pos:?}))");
                } else {
                    assert!(back <= pos || pos.line as usize >= model.lines.len(), "{back:?} after {pos:?}");
                }
            }
            1 => {
                let index = input.number() as usize % (model.chars.len() + 2);
                let pos = doc.position(index, encoding);
                assert_eq!(pos, model.position(index, encoding), "position({index})");
                let back = doc.char_index(pos, encoding);
                let index = index.min(model.chars.len());
                if model.inside_crlf(index) {
                    assert_eq!(back, index - 1, "inside a CRLF");
                } else {
                    assert_eq!(back, index, "char_index(position({index}))");
                }
            }
            2 => {
                let (a, b) = (input.pos(), input.pos());
                let (x, y) = (model.char_index(a, encoding).0, model.char_index(b, encoding).0);
                let expected: String = model.chars[x.min(y)..x.max(y)].iter().collect();
                assert_eq!(doc.slice(a, b, encoding), expected, "slice({a:?}, {b:?})");
            }
            3 => {
                let (a, b) = (input.pos(), input.pos());
                let new_text = input.text();
                let (start, end) = if b < a { (b, a) } else { (a, b) };
                let (x, y) = (model.char_index(start, encoding).0, model.char_index(end, encoding).0);
                assert!(x <= y);
                version += 1;
                let old = model;
                let edit = doc.replace(Some((a, b)), &new_text, encoding, version);
                let mut chars = old.chars[..x].to_vec();
                chars.extend(new_text.chars());
                chars.extend_from_slice(&old.chars[y..]);
                model = Model::new(&chars.iter().collect::<String>());
                assert_same(&doc, &model, encoding);
                assert_eq!(doc.version(), version);
                assert_eq!(edit.first as usize, old.line_of(x), "first line of the edit");
                assert_eq!(edit.old_last as usize, old.line_of(y), "last line of the edit");
                // The contract of LineEdit: lines before `first` are as they
                // were; lines after `old_last` moved by `delta`.
                let delta = edit.delta();
                assert_eq!(
                    model.lines.len() as i64,
                    old.lines.len() as i64 + delta,
                    "line count after {edit:?} replacing {x}..{y} of {:?} with {new_text:?}",
                    old.text()
                );
                for line in 0..edit.first as usize {
                    assert_eq!(model.content(line), old.content(line), "line {line} before {edit:?}");
                    assert_eq!(edit.track(line as u32, line as u32), Some((line as u32, line as u32)));
                }
                for line in edit.old_last as usize + 1..old.lines.len() {
                    let moved = (line as i64 + delta) as usize;
                    assert_eq!(model.content(moved), old.content(line), "line {line} after {edit:?}");
                    assert_eq!(edit.track(line as u32, line as u32), Some((moved as u32, moved as u32)));
                }
            }
            4 => {
                let new_text = input.text();
                version += 1;
                let old_lines = model.lines.len() as u32;
                let edit = doc.replace(None, &new_text, encoding, version);
                model = Model::new(&new_text);
                assert_same(&doc, &model, encoding);
                assert_eq!((edit.first, edit.old_last), (0, old_lines - 1));
                assert_eq!(edit.new_last as usize, model.lines.len() - 1);
            }
            _ => {
                let (line, column) = (input.number(), input.number());
                let pos = doc.char_column(line, column, encoding);
                let last = model.lines.len() as u32 - 1;
                let content = model.content(line as usize);
                let character: usize = content.chars().take(column as usize).map(|c| width(c, encoding)).sum();
                assert_eq!(pos, Pos::new(line.min(last), character as u32), "char_column({line}, {column})");
                let blank = doc.first_non_blank(line, encoding);
                assert!(blank.character as usize <= model.width_of(line as usize, encoding));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// cells

/// Byte 0: bit 0 set means a custom marker pattern, read as a length byte
/// and that many bytes; the rest is the document (lossy UTF-8). Checks that
/// the cells are in order, contiguous, within the document, opened by lines
/// the markers accept; that `split_lines` agrees with `Document`; and that
/// the snippets cut from cells and line ranges hold the right lines.
pub fn cells(data: &[u8]) {
    let mut input = Input { data };
    let flags = input.byte();
    let markers = if flags & 1 == 1 {
        let pattern = input.text();
        match CellMarkers::custom(&pattern) {
            Ok(markers) => markers,
            Err(message) => {
                assert!(message.starts_with("invalid cell marker pattern"));
                CellMarkers::Standard
            }
        }
    } else {
        CellMarkers::Standard
    };
    let text = String::from_utf8_lossy(input.rest()).into_owned();
    let lines: Vec<&str> = cells::split_lines(&text).collect();

    // split_lines is Document's lines without the empty one after a final
    // line break.
    let doc = Document::new(&text, 0);
    let mut doc_lines: Vec<String> = (0..doc.line_count()).map(|l| doc.line(l)).collect();
    if text.ends_with(['\n', '\r']) {
        assert_eq!(doc_lines.pop().as_deref(), Some(""));
    }
    assert_eq!(lines, doc_lines, "split_lines and Document disagree");

    let found = cells::cells_with(&text, &markers);
    check_cells(&found, &lines, &markers);
    if !matches!(markers, CellMarkers::Standard) {
        check_cells(&cells::cells(&text), &lines, &CellMarkers::Standard);
    }

    // Cells by number (from 1, with 0 the preamble), cut as every front
    // end cuts them: with the markers in force, up to the last non-blank line.
    let has_preamble = found.first().is_some_and(|c| c.marker.is_none());
    let source = Source { filename: FILE, doc: &doc, cells: &found };
    for index in 0..found.len() + 2 {
        let cell = match (index, has_preamble) {
            (0, true) => found.first(),
            (0, false) => None,
            (n, _) => found.get(n - 1 + usize::from(has_preamble)),
        };
        match (selection::cut(&source, &Selection::CellNumber(index)), cell) {
            (Ok(cut), Some(cell)) => {
                assert_eq!(cell.kind, cells::CellKind::Code);
                assert_eq!(cut.first as usize, cell.body.start);
                assert!((cut.last as usize) < cell.body.end, "{cut:?} past {cell:?}");
                assert!(!lines[cut.last as usize].trim().is_empty(), "a cell ends on a line with code");
                assert!(lines[cut.last as usize + 1..cell.body.end].iter().all(|l| l.trim().is_empty()));
                check_snippet(&cut.snippet, &lines[cell.body.start..=cut.last as usize]);
            }
            (Err(SelectionError::Markdown), Some(cell)) => assert_eq!(cell.kind, cells::CellKind::Markdown),
            (Err(SelectionError::EmptyCell), Some(cell)) => {
                assert!(lines[cell.body.clone()].iter().all(|l| l.trim().is_empty()));
            }
            (Err(SelectionError::NoSuchCell { number, count }), None) => {
                assert_eq!(number, index);
                assert_eq!(count, found.len() - usize::from(has_preamble));
            }
            (got, cell) => panic!("cell {index}: {got:?} for {cell:?}"),
        }
    }

    // Line ranges: a few derived from the flags byte, plus the edges.
    let total = lines.len();
    let a = usize::from(flags >> 1) % (total + 2);
    for (start, end) in [(1, total), (a, total), (1, a), (a, a), (a, a + 1), (0, 1)] {
        match Snippet::from_lines(FILE, &text, start, end) {
            Ok(snippet) => {
                assert!(1 <= start && start <= end && end <= total);
                assert_eq!(snippet.first_line as usize, start);
                check_snippet(&snippet, &lines[start - 1..end]);
            }
            Err(SnippetError::LinesOutOfRange { total: t, .. }) => {
                assert_eq!(t, total);
                assert!(start == 0 || end < start || end > total, "{start}:{end} of {total} refused");
            }
        }
    }
    check_snippet(&Snippet::whole(FILE, &text), &lines);
}

fn check_cells(found: &[cells::Cell], lines: &[&str], markers: &CellMarkers) {
    let total = lines.len();
    let marker_lines: Vec<usize> = (0..total).filter(|&l| markers.classify(lines[l]).is_some()).collect();
    let cell_markers: Vec<usize> = found.iter().filter_map(|c| c.marker).collect();
    assert_eq!(cell_markers, marker_lines, "every marker line opens a cell, and only those");
    for (i, cell) in found.iter().enumerate() {
        assert!(cell.body.start <= cell.body.end && cell.body.end <= total, "{cell:?} outside {total} lines");
        match cell.marker {
            Some(m) => assert_eq!(cell.body.start, m + 1),
            None => {
                assert_eq!(i, 0, "only the first cell can lack a marker");
                assert_eq!(cell.body.start, 0);
                assert!(lines[cell.body.clone()].iter().any(|l| !l.trim().is_empty() && !l.trim().starts_with('#')));
            }
        }
        match found.get(i + 1) {
            Some(next) => assert_eq!(Some(cell.body.end), next.marker, "cells not contiguous"),
            None => assert_eq!(cell.body.end, total, "the last cell does not reach the end"),
        }
    }
    for line in 0..total + 2 {
        let at = cells::cell_at(found, line);
        let owner = found.iter().find(|c| c.marker == Some(line) || c.body.contains(&line));
        assert_eq!(at, owner);
        if line >= total {
            assert!(at.is_none(), "a cell at line {line} of {total}");
        }
    }
}

/// `snippet` was cut from `source` lines: the same lines, dedented alike.
fn check_snippet(snippet: &Snippet, source: &[&str]) {
    let code: Vec<&str> = snippet.code.split('\n').collect();
    assert_eq!(code.len(), source.len().max(1), "{snippet:?} from {source:?}");
    for (out, line) in code.iter().zip(source) {
        assert!(line.ends_with(out), "{out:?} is not the end of {line:?}");
        assert!(line[..line.len() - out.len()].chars().all(char::is_whitespace), "cut more than indentation");
        if !line.trim().is_empty() {
            assert_eq!(line.chars().count() - out.chars().count(), snippet.dedent as usize, "uneven dedent");
        }
    }
    // `end_line` counts the code's lines as `split_lines` does (a final
    // empty line is not counted).
    let counted = cells::split_lines(&snippet.code).count() as u32;
    assert_eq!(snippet.end_line(), snippet.first_line + counted);
}
