//! Tool results an agent can act on: text first (what a model reads), the
//! same as structured content (what a program reads, described by each
//! tool's output schema), and figures as MCP image content.
//!
//! A run that raised is a result with `isError` and the exception at the
//! file's own lines; a sandbox that could not run it is one too, with what
//! to do. Never a protocol error: those reach the model as an opaque
//! failure.

use std::fmt::Write as _;

use base64::Engine as _;
use rmcp::model::{CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::Serialize;

use crate::run::{PyException, RunResult};
use crate::workbench::{Detail, Finished, JobStatus, RunState, ShownOutput};

/// Bytes of one figure sent as image content; a bigger one is named by
/// its file only (a model's context is not the place for megabytes).
const IMAGE_LIMIT: u64 = 2 << 20;
/// Figures of one run sent as image content.
const IMAGES_PER_RUN: usize = 8;

/// What a run did, for `run_python` and `run_shell`.
#[derive(Debug, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunOutcome {
    /// succeeded, raised (the code raised an exception), stopped (the
    /// sandbox stopped it: time limit, the interpreter died), failed (it
    /// could not be run: see `message`) or cancelled.
    pub status: String,
    /// Everything the code printed to stdout, whole.
    pub stdout: String,
    /// Everything the code printed to stderr, whole.
    pub stderr: String,
    /// The value of a trailing expression, as `repr` shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// For `run_shell`: the command's exit status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// The exception, for `raised`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorAt>,
    /// Why it could not be run or was stopped, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Rich outputs other than images (tables, HTML), by their text form.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub displays: Vec<String>,
    /// Figures and images the run made, saved on this machine.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub figures: Vec<FigureFile>,
    /// Files the run created or changed in the environment's copy of the
    /// workspace (`fetch_files` brings them into the workspace).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files_written: Vec<WrittenFile>,
    /// Notes about the run (output cut, state lost, workspace not mirrored).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// An exception, at the lines of the file the code came from.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorAt {
    #[serde(rename = "type")]
    pub type_name: String,
    pub message: String,
    /// The local file the failing line is in, when the code came from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line in that file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FigureFile {
    pub path: String,
    pub mime: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    pub bytes: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WrittenFile {
    pub path: String,
    pub size: u64,
}

/// The result of other jobs (install, restart, files): whether it worked
/// and what happened.
#[derive(Debug, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobOutcome {
    pub ok: bool,
    pub message: String,
    /// Files sent or fetched (workspace-relative), and where fetched ones
    /// were saved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<MovedFile>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MovedFile {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_as: Option<String>,
    /// A different local file was kept; this one was saved beside it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub kept_both: bool,
}

/// A Python run's end as an outcome, with the images to attach.
pub fn run_outcome(finished: &Finished) -> (RunOutcome, Vec<ContentBlock>) {
    let summary = &finished.summary;
    let mut outcome = RunOutcome {
        status: status_name(summary.status).to_owned(),
        duration_ms: summary.duration_ms,
        notices: summary.notices.iter().map(|n| n.to_string()).collect(),
        ..Default::default()
    };
    for output in &summary.outputs {
        match output {
            ShownOutput::Stream { stream, text } => match stream {
                crate::run::Stream::Stdout => outcome.stdout.push_str(text),
                crate::run::Stream::Stderr => outcome.stderr.push_str(text),
            },
            ShownOutput::Value { text } => outcome.value = Some(text.clone()),
            ShownOutput::Display { data, figure: None, .. } => {
                if let Some(text) = data.get("text/plain").or_else(|| data.values().next()) {
                    outcome.displays.push(text.clone());
                }
            }
            ShownOutput::Display { figure: Some(_), .. } | ShownOutput::Error { .. } => {}
        }
    }
    if let Detail::Run { record, .. } = &finished.detail {
        match &record.state {
            RunState::Finished(report) => match &report.result {
                RunResult::Raised(exception) => {
                    let file = record.snippet.as_ref().map(|s| s.filename.clone());
                    outcome.error = Some(error_at(exception, file));
                }
                RunResult::Failed { reason, .. } => outcome.message = Some(reason.clone()),
                RunResult::Succeeded { .. } => {}
            },
            RunState::Failed(error) => outcome.message = Some(error.to_string()),
            RunState::Cancelled => outcome.message = Some("cancelled".into()),
            RunState::Queued | RunState::Running => {}
        }
    }
    if outcome.message.is_none() {
        outcome.message = summary.error.as_ref().map(|e| e.to_string());
    }
    outcome.files_written = summary.files.iter().map(|f| WrittenFile { path: f.path.clone(), size: f.size }).collect();
    let mut images = Vec::new();
    for figure in &summary.figures {
        outcome.figures.push(FigureFile {
            path: figure.path.to_string_lossy().into_owned(),
            mime: figure.mime.clone(),
            width: figure.width,
            height: figure.height,
            bytes: figure.bytes,
        });
        let attachable = figure.mime.starts_with("image/") && figure.bytes <= IMAGE_LIMIT;
        if attachable && images.len() < IMAGES_PER_RUN {
            if let Ok(bytes) = std::fs::read(&figure.path) {
                let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                images.push(ContentBlock::image(data, figure.mime.clone()));
            }
        }
    }
    (outcome, images)
}

/// The exception with the line of the code's own file where it happened:
/// the innermost frame in that file, else the innermost of all.
fn error_at(exception: &PyException, file: Option<String>) -> ErrorAt {
    let (file, line) = match &exception.syntax {
        Some(syntax) => (file, Some(syntax.line)),
        None => {
            let own = exception.frames.iter().rev().find(|f| Some(&f.file) == file.as_ref());
            match own.or(exception.frames.last()) {
                Some(frame) => (Some(frame.file.clone()), Some(frame.line)),
                None => (file, None),
            }
        }
    };
    ErrorAt {
        type_name: exception.type_name.clone(),
        message: exception.message.clone(),
        file,
        line,
        traceback: exception.traceback.clone(),
    }
}

fn status_name(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Succeeded => "succeeded",
        JobStatus::Raised => "raised",
        JobStatus::Stopped => "stopped",
        JobStatus::Failed => "failed",
        JobStatus::Cancelled => "cancelled",
    }
}

/// The text a model reads: the outputs in order, then what went wrong.
pub fn run_text(outcome: &RunOutcome) -> String {
    let mut text = String::new();
    if !outcome.stdout.is_empty() {
        text.push_str(&outcome.stdout);
        if !outcome.stdout.ends_with('\n') {
            text.push('\n');
        }
    }
    if !outcome.stderr.is_empty() {
        let _ = writeln!(text, "--- stderr ---\n{}", outcome.stderr.trim_end());
    }
    for display in &outcome.displays {
        let _ = writeln!(text, "{}", display.trim_end());
    }
    if let Some(value) = &outcome.value {
        let _ = writeln!(text, "{value}");
    }
    if let Some(error) = &outcome.error {
        // The traceback is usually on stderr already, as python3 prints it.
        match &error.traceback {
            Some(traceback) if outcome.stderr.contains(traceback.trim_end()) => {}
            Some(traceback) => text.push_str(traceback),
            None => {
                let _ = writeln!(text, "{}: {}", error.type_name, error.message);
            }
        }
        if !text.ends_with('\n') {
            text.push('\n');
        }
        if let (Some(file), Some(line)) = (&error.file, error.line) {
            let _ = writeln!(text, "(raised at {file}:{line})");
        }
    }
    if let Some(message) = &outcome.message {
        let _ = writeln!(text, "{}: {message}", outcome.status);
    }
    for figure in &outcome.figures {
        let _ = writeln!(text, "[figure] {} {} bytes: {}", figure.mime, figure.bytes, figure.path);
    }
    for file in &outcome.files_written {
        let _ = writeln!(text, "[wrote] {} ({} bytes; fetch_files brings it into the workspace)", file.path, file.size);
    }
    for notice in &outcome.notices {
        let _ = writeln!(text, "[note] {notice}");
    }
    if text.is_empty() {
        text.push_str("(no output)\n");
    }
    text
}

/// `outcome` as a tool result: an error result unless the code succeeded.
pub fn run_result(outcome: &RunOutcome, images: Vec<ContentBlock>) -> CallToolResult {
    let failed = outcome.status != "succeeded" || outcome.exit_code.is_some_and(|code| code != 0);
    let mut content = vec![ContentBlock::text(run_text(outcome))];
    content.extend(images);
    structured(content, outcome, failed)
}

/// Another job's end as a tool result.
pub fn job_result(outcome: &JobOutcome) -> CallToolResult {
    let mut text = outcome.message.clone();
    for file in &outcome.files {
        let _ = write!(text, "\n{}", file.path);
        if let Some(saved) = &file.saved_as {
            let _ = write!(text, " → {saved}");
        }
        if file.kept_both {
            text.push_str(" (a different local file was kept; saved beside it)");
        }
    }
    structured(vec![ContentBlock::text(text)], outcome, !outcome.ok)
}

/// A failure before anything ran (bad arguments, no sandbox): what to do.
pub fn refused(message: impl Into<String>) -> CallToolResult {
    let message = message.into();
    let outcome = RunOutcome { status: "failed".into(), message: Some(message), ..Default::default() };
    structured(vec![ContentBlock::text(run_text(&outcome))], &outcome, true)
}

/// Any serializable answer as a tool result.
pub fn answer(text: String, value: &impl Serialize) -> CallToolResult {
    structured(vec![ContentBlock::text(text)], value, false)
}

fn structured(content: Vec<ContentBlock>, value: &impl Serialize, is_error: bool) -> CallToolResult {
    let mut result = if is_error { CallToolResult::error(content) } else { CallToolResult::success(content) };
    result.structured_content = serde_json::to_value(value).ok();
    result
}

/// A files, install or restart job's end.
pub fn job_outcome(finished: &Finished) -> JobOutcome {
    let ok = finished.summary.status == JobStatus::Succeeded;
    let message = match &finished.detail {
        Detail::Files { message, .. } => message.clone(),
        Detail::Install { package, ok: true, .. } => format!("installed {package}"),
        Detail::Install { package, last_line, .. } => format!("pip install {package} failed: {last_line}"),
        Detail::Restart if ok => "the workspace's environment was replaced by a new, empty one".into(),
        Detail::Restart | Detail::Run { .. } => finished
            .summary
            .error
            .as_ref()
            .map_or_else(|| status_name(finished.summary.status).into(), |e| e.to_string()),
    };
    let files = finished
        .summary
        .transferred
        .iter()
        .map(|t| MovedFile {
            path: t.path.clone(),
            saved_as: t.saved_as.as_ref().map(|p| p.to_string_lossy().into_owned()),
            kept_both: t.kept_both,
        })
        .collect();
    JobOutcome { ok, message, files }
}
