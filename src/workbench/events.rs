//! What the workbench tells its front end, as typed events, in the order
//! things happened. A front end subscribes once and renders each event in
//! its own terms (the language server: progress, diagnostics, messages,
//! refreshes and `azureSandbox/runFinished`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::backend::BackendError;
use super::figures::Figure;
use super::records::{RunRecord, RunState};
use crate::run::{ChangedFile, Notice, Output, RunReport, RunResult, Stream};

/// Characters of one text output a summary carries (the transcript has all).
const TEXT_LIMIT: usize = 100_000;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum JobKind {
    Python,
    Install,
    Restart,
    /// Sending workspace files to the environment, or fetching them.
    Files,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum JobStatus {
    /// Ran, and did not raise (an install or restart: it worked).
    Succeeded,
    /// The code raised.
    Raised,
    /// The sandbox stopped it (time limit, interpreter died) or its result
    /// could not be read.
    Stopped,
    /// It could not be made at all (see the error's kind), or an install
    /// or restart failed.
    Failed,
    Cancelled,
}

/// The end of one job, in terms any client can use without parsing text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSummary {
    pub run_id: u64,
    pub kind: JobKind,
    pub label: String,
    pub status: JobStatus,
    /// How long the code ran, when it ran.
    pub duration_ms: Option<u64>,
    pub notices: Vec<Notice>,
    /// Why it failed, for `failed`.
    pub error: Option<BackendError>,
    /// 0-based, inclusive: the document lines of a Python run, as they are
    /// now (moved through the edits made while it ran).
    pub first_line: Option<u32>,
    pub last_line: Option<u32>,
    /// The code a Python run ran (cut at 100,000 characters).
    pub code: Option<String>,
    /// A Python run's outputs in the order a notebook shows them.
    pub outputs: Vec<ShownOutput>,
    /// The files its images were saved in.
    pub figures: Vec<Figure>,
    /// Files a Python run created or changed in the workspace mirror
    /// (workspace-relative), and how many more there were.
    pub files: Vec<ChangedFile>,
    pub files_more: u64,
    /// What a files job did, for `files`: sent or fetched paths.
    pub transferred: Vec<Transferred>,
}

/// One file a files job moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transferred {
    /// Workspace-relative.
    pub path: String,
    /// Where it was saved locally (downloads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_as: Option<PathBuf>,
    /// A different local file was kept, and this one saved beside it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub kept_both: bool,
    /// The local file already had these bytes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unchanged: bool,
}

/// One output of a run as a front end gets it: text as it is, images as
/// files (never inline).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ShownOutput {
    Stream {
        stream: Stream,
        text: String,
    },
    Display {
        /// Its text forms by mime type: text/plain, text/html, text/markdown,
        /// text/latex.
        data: BTreeMap<String, String>,
        /// Its image, saved.
        #[serde(skip_serializing_if = "Option::is_none")]
        figure: Option<Figure>,
        /// The rich form of the trailing value.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        result: bool,
    },
    Value {
        text: String,
    },
    Error {
        #[serde(rename = "type")]
        type_name: String,
        message: String,
        traceback: Option<String>,
    },
}

/// `text`, cut at `limit` characters with a note where it was cut.
fn bounded(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        None => text.to_owned(),
        Some((at, _)) => {
            let rest = text[at..].chars().count();
            format!("{}\n… ({rest} more characters in the output document)\n", &text[..at])
        }
    }
}

impl ShownOutput {
    /// A run's outputs as front ends get them, with each image's saved
    /// file, every text whole (the command line prints them all).
    pub fn of_report(report: &RunReport, figures: &[Figure]) -> Vec<ShownOutput> {
        shown_outputs(report, figures, usize::MAX)
    }
}

/// A run's outputs, each text cut at `limit` characters.
fn shown_outputs(report: &RunReport, figures: &[Figure], limit: usize) -> Vec<ShownOutput> {
    let bounded = |text: &str| bounded(text, limit);
    let index_of = |item: *const crate::run::DisplayItem| report.displays.iter().position(|d| std::ptr::eq(d, item));
    report
        .outputs()
        .into_iter()
        .map(|output| match output {
            Output::Stream { stream, text } => ShownOutput::Stream { stream, text: bounded(text) },
            Output::Value(text) => ShownOutput::Value { text: bounded(text) },
            Output::Display(item) => {
                let index = index_of(item);
                ShownOutput::Display {
                    data: item.texts().into_iter().map(|(m, d)| (m.to_owned(), bounded(d))).collect(),
                    figure: figures.iter().find(|f| Some(f.display) == index).cloned(),
                    result: item.is_result,
                }
            }
            Output::Error(e) => ShownOutput::Error {
                type_name: e.type_name.clone(),
                message: e.message.clone(),
                traceback: e.traceback.clone(),
            },
        })
        .collect()
}

impl JobSummary {
    /// The summary of a Python run from its record.
    pub fn of_run(record: &RunRecord) -> Self {
        let (status, duration, notices, error) = match &record.state {
            RunState::Finished(report) => {
                let status = match &report.result {
                    RunResult::Succeeded { .. } => JobStatus::Succeeded,
                    RunResult::Raised(_) => JobStatus::Raised,
                    RunResult::Failed { .. } => JobStatus::Stopped,
                };
                (status, Some(report.duration()), report.notices.clone(), None)
            }
            RunState::Failed(error) => (JobStatus::Failed, None, Vec::new(), Some(error.clone())),
            RunState::Cancelled | RunState::Queued | RunState::Running => {
                (JobStatus::Cancelled, None, Vec::new(), None)
            }
        };
        Self {
            run_id: record.id,
            kind: JobKind::Python,
            label: record.label.clone(),
            status,
            duration_ms: duration.map(|d| d.as_millis() as u64),
            notices,
            error,
            first_line: Some(record.first_line),
            last_line: Some(record.last_line),
            files: match &record.state {
                RunState::Finished(report) => report.files.clone(),
                _ => Vec::new(),
            },
            files_more: match &record.state {
                RunState::Finished(report) => report.files_more,
                _ => 0,
            },
            transferred: Vec::new(),
            code: record.snippet.as_ref().map(|s| bounded(&s.code, TEXT_LIMIT)),
            outputs: match &record.state {
                RunState::Finished(report) => shown_outputs(report, &record.figures, TEXT_LIMIT),
                _ => Vec::new(),
            },
            figures: record.figures.clone(),
        }
    }

    /// The summary of an install or a restart.
    pub fn of_job(run_id: u64, kind: JobKind, label: String, status: JobStatus, error: Option<BackendError>) -> Self {
        Self {
            run_id,
            kind,
            label,
            status,
            duration_ms: None,
            notices: Vec::new(),
            error,
            first_line: None,
            last_line: None,
            code: None,
            outputs: Vec::new(),
            figures: Vec::new(),
            files: Vec::new(),
            files_more: 0,
            transferred: Vec::new(),
        }
    }
}

/// One event from the workbench.
#[derive(Debug)]
pub enum Event {
    /// A Python run, or a file transfer, was queued behind `ahead` jobs of
    /// its workspace (the one running included). Sent before the job can
    /// start. `title` says what in a few words ("Running main.py:3-5",
    /// "Sending files").
    Queued { run_id: u64, title: String, ahead: usize },
    /// A Python run is running, for `elapsed` so far (sent when it starts,
    /// then about every second).
    Running { run_id: u64, elapsed: Duration },
    /// A run's workspace files are being sent: `sent` of `total` bytes
    /// (only for a transfer that takes over a second).
    Sending { run_id: u64, sent: u64, total: u64 },
    /// The first run went to the local sandbox although nothing asked for
    /// it explicitly (no endpoint, no pool): the user should know, and how
    /// far its code is kept from theirs (`isolation`, in a line).
    LocalSandboxChosen { isolation: String },
    /// A job ended. Every job queued ends with exactly one of these.
    Finished(Box<Finished>),
    /// Workspace `root`'s live state changed (a run set names, or the state
    /// was lost).
    VariablesChanged { root: PathBuf },
    /// Another process working in workspace `root`'s environment (an agent)
    /// added an entry to the workspace's transcript: `label` says what.
    SharedEntry { root: PathBuf, source: super::shared::Source, label: String },
}

/// A job's end, with what a front end needs to show it.
#[derive(Debug)]
pub struct Finished {
    pub summary: JobSummary,
    /// The workspace it ran in.
    pub root: PathBuf,
    /// The document it was asked for from, as the front end named it.
    pub doc: Option<String>,
    /// Whether the workspace's transcript gained an entry.
    pub transcript_changed: bool,
    pub detail: Detail,
}

#[derive(Debug)]
pub enum Detail {
    /// A Python run: its record as stored (`in_book`), or as it ended after
    /// its document was closed.
    Run { record: RunRecord, in_book: bool },
    /// A `pip install`: whether it worked, its last line of output, and the
    /// run to offer again when it did.
    Install { package: String, ok: bool, last_line: String, rerun: Option<u64> },
    /// A new environment for the workspace (or why there is none).
    Restart,
    /// Files sent or fetched: one sentence saying what happened, and the
    /// run to make again once they were sent (the "send it" quick fix).
    Files { message: String, rerun: Option<u64> },
}
