//! What ran where: one record per run of a document's lines, kept so that
//! lenses, hovers, inlay hints and diagnostics can show it, and moved along
//! as the user edits. No LSP types: positions are (line, char column).

use std::time::{Duration, SystemTime};

use super::backend::BackendError;
use super::figures::Figure;
use crate::run::{PyException, RunReport, RunResult, Snippet};
use crate::text::LineEdit;

/// Where a run stands.
#[derive(Debug, Clone)]
pub enum RunState {
    Queued,
    Running,
    /// The run happened: the engine's typed report, whole.
    Finished(Box<RunReport>),
    Cancelled,
    /// The run could not be made (no endpoint, key refused, network...).
    Failed(BackendError),
}

/// A diagnostic in the run's document: lines 0-based, columns in chars.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagnosticSpec {
    pub line: u32,
    /// `None`: from the first non-blank character of the line.
    pub start_col: Option<u32>,
    pub end_line: u32,
    /// `None`: to the end of the line.
    pub end_col: Option<u32>,
    pub message: String,
    /// The exception type, e.g. `ZeroDivisionError`.
    pub code: String,
    /// Other frames: (file, 1-based line, function).
    pub related: Vec<(String, u32, String)>,
    /// The missing module of a ModuleNotFoundError (for the install fix).
    pub missing_module: Option<String>,
    /// The workspace file a FileNotFoundError named (for the "send it" fix).
    pub missing_file: Option<String>,
    /// A warning that the run itself failed (not run, or stopped), rather
    /// than an error the code raised.
    pub run_failure: bool,
}

impl DiagnosticSpec {
    /// Marks a run that did not complete (the sandbox was unreachable, the
    /// interpreter died, …) on its first line, so clients that show no
    /// lenses or messages (and problem lists everywhere) still show it.
    pub fn run_failure(first_line: u32, code: &str, message: String) -> Self {
        Self {
            line: first_line,
            start_col: None,
            end_line: first_line,
            end_col: None,
            message,
            code: code.to_owned(),
            related: Vec::new(),
            missing_module: None,
            missing_file: None,
            run_failure: true,
        }
    }
}

/// One run of some lines of one document.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: u64,
    /// Inclusive, 0-based, kept in step with edits.
    pub first_line: u32,
    pub last_line: u32,
    /// e.g. `main.py:10-24`.
    pub label: String,
    pub state: RunState,
    pub requested_at: SystemTime,
    pub diagnostics: Vec<DiagnosticSpec>,
    /// An edit touched the run's lines since it was made.
    pub edited: bool,
    /// What ran, to run it again (after installing a missing package).
    pub snippet: Option<Snippet>,
    /// "Azure sandbox" or "local sandbox": where it ran.
    pub sandbox: &'static str,
    /// The files its images were saved in.
    pub figures: Vec<Figure>,
}

impl RunRecord {
    pub fn new(id: u64, first_line: u32, last_line: u32, label: String) -> Self {
        Self {
            id,
            first_line,
            last_line,
            label,
            state: RunState::Queued,
            requested_at: SystemTime::now(),
            diagnostics: Vec::new(),
            edited: false,
            snippet: None,
            sandbox: "sandbox",
            figures: Vec::new(),
        }
    }

    pub fn covers(&self, line: u32) -> bool {
        self.first_line <= line && line <= self.last_line
    }

    pub fn overlaps(&self, first: u32, last: u32) -> bool {
        self.first_line <= last && first <= self.last_line
    }

    /// Follows an edit: shifts what lies below it, drops diagnostics on the
    /// lines it touched. Returns true if a diagnostic moved or went away
    /// (what the editor shows must then be published again).
    pub fn track(&mut self, edit: &LineEdit) -> bool {
        match edit.track(self.first_line, self.last_line) {
            Some((first, last)) => (self.first_line, self.last_line) = (first, last),
            None => {
                // The run's own lines changed: keep the record where it was,
                // grown or shrunk by the edit, but its output is now history.
                self.edited = true;
                let last = i64::from(self.last_line) + if edit.old_last <= self.last_line { edit.delta() } else { 0 };
                self.last_line = last.max(i64::from(self.first_line)) as u32;
            }
        }
        let before = self.diagnostics.len();
        let mut moved = false;
        self.diagnostics.retain_mut(|d| match edit.track(d.line, d.end_line) {
            Some((line, end_line)) => {
                moved |= (line, end_line) != (d.line, d.end_line);
                (d.line, d.end_line) = (line, end_line);
                true
            }
            None => false,
        });
        moved || self.diagnostics.len() != before
    }

    /// A short status: `✓ 0.4 s`, `✗ ZeroDivisionError`, `⏳ queued`...
    pub fn status(&self) -> String {
        match &self.state {
            RunState::Queued => "⏳ queued".into(),
            RunState::Running => "⏳ running".into(),
            RunState::Cancelled => "⏹ cancelled".into(),
            RunState::Failed(_) => "✗ not run".into(),
            RunState::Finished(f) => match &f.result {
                RunResult::Succeeded { .. } => format!("✓ {}", duration_text(f.duration())),
                RunResult::Raised(e) => format!("✗ {}", short_type(&e.type_name)),
                RunResult::Failed { .. } => "✗ stopped".into(),
            },
        }
    }

    /// The inlay hint text: the trailing value, or the status.
    pub fn hint(&self) -> Option<String> {
        match &self.state {
            RunState::Finished(f) => Some(match &f.result {
                RunResult::Succeeded { value: Some(value) } => format!("→ {}", one_line(value, 60)),
                _ => self.status(),
            }),
            RunState::Queued | RunState::Running => Some(self.status()),
            RunState::Cancelled | RunState::Failed(_) => Some(self.status()),
        }
    }
}

/// Turns an exception into the diagnostics for the document `file` whose
/// run started at `first_line` (0-based).
pub fn diagnostics_for(exception: &PyException, file: &str, run_first: u32, run_last: u32) -> Vec<DiagnosticSpec> {
    let related: Vec<(String, u32, String)> =
        exception.frames.iter().map(|f| (f.file.clone(), f.line, f.function.clone())).collect();
    let (line, start_col, end_line, end_col) = if let Some(at) = &exception.syntax {
        let line = at.line.saturating_sub(1);
        let end_line = at.end_line.map(|l| l.saturating_sub(1)).unwrap_or(line).max(line);
        // Saturating: the column comes from the sandbox (found by fuzz/fuzz_targets/run_outcome.rs).
        let end_col = at.end_col.filter(|c| end_line > line || *c > at.col).unwrap_or(at.col.saturating_add(1));
        (line, Some(at.col), end_line, Some(end_col))
    } else if let Some(frame) = exception.innermost_in(file) {
        let line = frame.line.saturating_sub(1);
        let end_line = frame.end_line.map(|l| l.saturating_sub(1)).unwrap_or(line).max(line);
        match (frame.col, frame.end_col) {
            (Some(start), Some(end)) if end_line > line || end > start => (line, Some(start), end_line, Some(end)),
            _ => (line, None, line, None),
        }
    } else {
        // Raised somewhere we cannot point at (inside a library, or with no
        // frames): mark the run's last line.
        (run_last.max(run_first), None, run_last.max(run_first), None)
    };
    vec![DiagnosticSpec {
        line,
        start_col,
        end_line,
        end_col,
        message: exception.headline(),
        code: short_type(&exception.type_name).to_owned(),
        related: related.into_iter().filter(|(f, l, _)| !(f == file && l.saturating_sub(1) == line)).collect(),
        missing_module: exception.missing_module.clone(),
        missing_file: exception.missing_file.clone(),
        run_failure: false,
    }]
}

pub fn duration_text(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 { format!("{ms} ms") } else { format!("{:.1} s", duration.as_secs_f64()) }
}

fn short_type(type_name: &str) -> &str {
    type_name.rsplit('.').next().unwrap_or(type_name)
}

/// The first line of `text`, cut to `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    let more = text.lines().nth(1).is_some();
    match first.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &first[..cut]),
        None if more => format!("{first} …"),
        None => first.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Frame, outcome::SyntaxLocation};

    fn exception(frames: Vec<Frame>) -> PyException {
        PyException {
            type_name: "ZeroDivisionError".into(),
            message: "division by zero".into(),
            frames,
            syntax: None,
            traceback: None,
            missing_module: None,
            exit_status: None,
            missing_file: None,
        }
    }

    fn frame(file: &str, line: u32, col: Option<u32>, end_col: Option<u32>) -> Frame {
        Frame { file: file.into(), line, function: "f".into(), col, end_line: Some(line), end_col }
    }

    #[test]
    fn innermost_frame_in_the_document_with_columns() {
        let e = exception(vec![
            frame("/a.py", 12, Some(0), Some(5)),
            frame("/a.py", 3, Some(11), Some(16)),
            frame("/lib.py", 9, None, None),
        ]);
        let d = &diagnostics_for(&e, "/a.py", 10, 12)[0];
        assert_eq!((d.line, d.start_col, d.end_col), (2, Some(11), Some(16)));
        assert_eq!(d.message, "ZeroDivisionError: division by zero");
        assert_eq!(d.related.len(), 2, "the other frames, not the one marked");
    }

    #[test]
    fn syntax_errors_and_frameless_errors() {
        let mut e = exception(vec![]);
        e.type_name = "SyntaxError".into();
        e.syntax = Some(SyntaxLocation { line: 4, col: 6, end_line: None, end_col: None });
        let d = &diagnostics_for(&e, "/a.py", 0, 9)[0];
        assert_eq!((d.line, d.start_col, d.end_col), (3, Some(6), Some(7)));
        let e = exception(vec![frame("/other.py", 1, None, None)]);
        assert_eq!(diagnostics_for(&e, "/a.py", 4, 7)[0].line, 7);
    }

    #[test]
    fn edits_move_or_clear() {
        let mut record = RunRecord::new(1, 10, 12, "a.py:11-13".into());
        record.diagnostics = diagnostics_for(&exception(vec![frame("/a.py", 12, None, None)]), "/a.py", 10, 12);
        // Two lines inserted above: everything moves down (and the editor must be told).
        assert!(record.track(&LineEdit { first: 2, old_last: 2, new_last: 4 }));
        assert_eq!((record.first_line, record.last_line, record.diagnostics[0].line), (12, 14, 13));
        // An edit on the diagnostic's line clears it.
        assert!(record.track(&LineEdit { first: 13, old_last: 13, new_last: 13 }));
        assert!(record.diagnostics.is_empty() && record.edited);
        // An edit below moves nothing: nothing to publish.
        assert!(!record.track(&LineEdit { first: 40, old_last: 40, new_last: 41 }));
    }

    #[test]
    fn texts() {
        assert_eq!(duration_text(Duration::from_millis(12)), "12 ms");
        assert_eq!(duration_text(Duration::from_millis(1530)), "1.5 s");
        assert_eq!(one_line("abc\ndef", 10), "abc …");
        assert_eq!(one_line(&"x".repeat(70), 60).chars().count(), 61);
    }
}
