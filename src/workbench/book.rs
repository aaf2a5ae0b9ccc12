//! The run book: every document's run records, and the line edits made to
//! it, so that a result arriving after edits lands on the lines it is about.
//!
//! Documents are named by the front end (the language server uses URIs).
//! Lock order, wherever more than one is held: the front end's document,
//! then the document's records, then its edit log. Nothing here is held
//! across an `.await`.

use dashmap::DashMap;

use super::records::{RunRecord, RunState};
use crate::text::LineEdit;

/// Runs kept per document; files run without being open keep theirs until
/// they are, so this bounds them (the oldest finished ones go).
const MAX_RECORDS_PER_DOCUMENT: usize = 500;

#[derive(Default)]
struct EditLog {
    /// Edits dropped from the front (to bound memory).
    base: usize,
    edits: Vec<LineEdit>,
}

impl EditLog {
    const KEEP: usize = 10_000;
}

#[derive(Default)]
pub struct RunBook {
    /// Runs per document, oldest first.
    records: DashMap<String, Vec<RunRecord>>,
    /// The line edits applied to each document, in order.
    edit_logs: DashMap<String, EditLog>,
}

impl RunBook {
    /// Records that `edit` was applied to `doc`, and moves the document's
    /// records and their diagnostics along. Returns true if a diagnostic
    /// moved or was cleared (it must be published again). The front end
    /// calls this while it holds the document, before any await.
    pub fn apply_line_edit(&self, doc: &str, edit: LineEdit) -> bool {
        // The records guard orders this against `finish`, which maps through
        // the log and stores under the same guard.
        let mut records = self.records.entry(doc.to_owned()).or_default();
        {
            let mut log = self.edit_logs.entry(doc.to_owned()).or_default();
            log.edits.push(edit);
            if log.edits.len() > EditLog::KEEP {
                let drop = log.edits.len() - EditLog::KEEP;
                log.edits.drain(..drop);
                log.base += drop;
            }
        }
        let mut cleared = false;
        for record in records.iter_mut() {
            cleared |= record.track(&edit);
        }
        cleared
    }

    /// How many edits `doc` has had: a run remembers this when asked for.
    pub fn edits_seen(&self, doc: &str) -> usize {
        self.edit_logs.get(doc).map(|log| log.base + log.edits.len()).unwrap_or(0)
    }

    /// Where lines `line..=end_line`, as they were after `seen` edits, are
    /// now; `None` if an edit since touched them (or is no longer known).
    pub fn map_lines(&self, doc: &str, seen: usize, line: u32, end_line: u32) -> Option<(u32, u32)> {
        let Some(log) = self.edit_logs.get(doc) else { return Some((line, end_line)) };
        if seen < log.base {
            return None;
        }
        log.edits[seen - log.base..].iter().try_fold((line, end_line), |(l, e), edit| edit.track(l, e))
    }

    /// Forgets a closed document: its edit log and its runs.
    pub fn forget(&self, doc: &str) {
        self.edit_logs.remove(doc);
        self.records.remove(doc);
    }

    /// Records of a document (a copy).
    pub fn records_of(&self, doc: &str) -> Vec<RunRecord> {
        self.records.get(doc).map(|r| r.value().clone()).unwrap_or_default()
    }

    /// The newest record covering `line` that has started.
    pub fn record_at(&self, doc: &str, line: u32) -> Option<RunRecord> {
        self.records_of(doc).into_iter().rev().find(|r| r.covers(line) && !matches!(r.state, RunState::Queued))
    }

    /// Changes one record in place.
    pub fn update(&self, doc: &str, id: u64, change: impl FnOnce(&mut RunRecord)) {
        if let Some(mut records) = self.records.get_mut(doc) {
            if let Some(record) = records.iter_mut().find(|r| r.id == id) {
                change(record);
            }
        }
    }

    /// Adds a record whose lines were read after `seen` edits, moved through
    /// any edit since (under the records guard, which line tracking also
    /// takes, so no edit falls between mapping and recording).
    pub(super) fn add(&self, doc: &str, mut record: RunRecord, seen: usize) {
        let mut records = self.records.entry(doc.to_owned()).or_default();
        match self.map_lines(doc, seen, record.first_line, record.last_line) {
            Some((first, last)) => (record.first_line, record.last_line) = (first, last),
            None => record.edited = true,
        }
        records.push(record);
        while records.len() > MAX_RECORDS_PER_DOCUMENT {
            match records.iter().position(|r| !matches!(r.state, RunState::Queued | RunState::Running)) {
                Some(oldest) => drop(records.remove(oldest)),
                None => break,
            }
        }
    }

    /// Stores how a run ended, under the records guard: `place` moves its
    /// diagnostics through the edits since the run was asked for (it is
    /// given the book to map lines with). A newer run of the same lines
    /// replaces older ones, also when it failed to run: what the user sees
    /// is the latest attempt. Returns the stored record, or `None` if the
    /// document's records are gone (it was closed).
    pub(super) fn finish(
        &self,
        doc: &str,
        id: u64,
        state: RunState,
        figures: Vec<super::figures::Figure>,
        place: impl FnOnce(&RunBook, &RunRecord, &RunState) -> Vec<super::records::DiagnosticSpec>,
    ) -> Option<RunRecord> {
        let mut records = self.records.get_mut(doc)?;
        let record = records.iter_mut().find(|r| r.id == id)?;
        record.diagnostics = place(self, record, &state);
        record.state = state;
        record.figures = figures;
        let done = record.clone();
        if matches!(done.state, RunState::Finished(_) | RunState::Failed(_)) {
            records.retain(|r| {
                r.id >= done.id
                    || !r.overlaps(done.first_line, done.last_line)
                    || matches!(r.state, RunState::Queued | RunState::Running)
            });
        }
        Some(done)
    }
}
