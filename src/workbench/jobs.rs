//! Jobs and the per-workspace queues that run them, away from any front
//! end's handlers. One task per workspace takes its jobs in the order they
//! were asked for; different workspaces run in parallel. Each job ends with
//! exactly one [`Event::Finished`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::backend::{BackendError, Lease};
use super::control::RunControl;
use super::events::{Detail, Event, Finished, JobKind, JobStatus, JobSummary, Transferred};
use super::figures::Figure;
use super::records::{DiagnosticSpec, RunRecord, RunState, diagnostics_for};
use super::settings::BackendChoice;
use super::state::State;
use super::transcript;
use crate::mcp::ShellCommand;
use crate::mirror::MirrorError;
use crate::run::{RunOptions, RunResult, Snippet};

/// What a job does.
pub(super) enum Work {
    Python {
        doc: String,
        snippet: Snippet,
        label: String,
        edits_seen: usize,
    },
    Install {
        doc: Option<String>,
        package: String,
        rerun: Option<u64>,
    },
    Restart {
        doc: Option<String>,
    },
    /// Send these workspace files and folders to the environment (even
    /// ignored ones, never secrets), then run `rerun` again.
    Send {
        doc: Option<String>,
        paths: Vec<PathBuf>,
        rerun: Option<u64>,
    },
    /// Fetch these mirror files into the workspace (none: what the
    /// workspace's latest run wrote).
    Fetch {
        doc: Option<String>,
        paths: Vec<String>,
    },
}

pub(super) struct Job {
    pub id: u64,
    /// When it was asked for.
    pub submitted: Instant,
    pub root: PathBuf,
    pub work: Work,
    pub control: Arc<RunControl>,
}

/// A workspace's queue and how many of its jobs have not finished.
pub(super) type Queue = (mpsc::UnboundedSender<Job>, Arc<AtomicUsize>);

/// Takes one workspace's jobs in order. A job counts as waiting until it has
/// finished, so the "N ahead" of a new job includes the one running.
pub(super) async fn workspace_task(
    bench: Arc<State>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    waiting: Arc<AtomicUsize>,
) {
    while let Some(job) = jobs.recv().await {
        let finished = match &job.work {
            Work::Python { doc, snippet, label, edits_seen } => {
                run_python(&bench, &job, doc, snippet, label, *edits_seen).await
            }
            Work::Install { doc, package, rerun } => install(&bench, &job, doc.clone(), package, *rerun).await,
            Work::Restart { doc } => restart(&bench, &job, doc.clone()).await,
            Work::Send { doc, paths, rerun } => send_files(&bench, &job, doc.clone(), paths, *rerun).await,
            Work::Fetch { doc, paths } => fetch_files(&bench, &job, doc.clone(), paths).await,
        };
        bench.controls.remove(&job.id);
        waiting.fetch_sub(1, Ordering::SeqCst);
        bench.emit(Event::Finished(Box::new(finished)));
    }
}

/// The backend for the current settings, and whether the user should be
/// told it is the local sandbox they did not ask for.
pub(super) async fn lease(bench: &State) -> Result<Arc<Lease>, BackendError> {
    let settings = bench.settings();
    let lease = bench.backend.lease(&settings.target()).await?;
    let implicit = settings.backend == BackendChoice::Auto;
    if lease.is_local() && implicit && !bench.local_notice_shown.swap(true, Ordering::SeqCst) {
        bench.emit(Event::LocalSandboxChosen { isolation: lease.local_isolation().unwrap_or_default() });
    }
    Ok(lease)
}

/// What a Python job was asked to run, from where.
#[derive(Clone, Copy)]
struct Asked<'a> {
    doc: &'a str,
    label: &'a str,
    snippet: &'a Snippet,
    edits_seen: usize,
}

async fn run_python(
    bench: &State,
    job: &Job,
    doc: &str,
    snippet: &Snippet,
    label: &str,
    edits_seen: usize,
) -> Finished {
    let asked = Asked { doc, label, snippet, edits_seen };
    if job.control.is_cancelled() {
        return finish_run(bench, job, &asked, RunState::Cancelled, Vec::new());
    }
    bench.book.update(doc, job.id, |r| r.state = RunState::Running);
    bench.emit(Event::Running { run_id: job.id, elapsed: Duration::ZERO });
    let lease = match lease(bench).await {
        Ok(lease) => lease,
        Err(why) => return finish_run(bench, job, &asked, RunState::Failed(why), Vec::new()),
    };
    let engine = lease.engine();
    engine.set_display_options(bench.settings().display_options());
    let key = engine.workspace_key(job.root.clone());
    let started = Instant::now();
    tracing::debug!(run = job.id, since_submit_us = job.submitted.elapsed().as_micros() as u64, "run starts");
    let settings = bench.settings();
    let file = std::path::Path::new(&snippet.filename);
    // A file of the workspace runs in its mirror, sent first (what changed).
    let mirrored = settings.mirror_enabled() && file.is_absolute() && file.starts_with(&job.root);
    let run = async {
        let mut skipped = None;
        let mut synced = None;
        if mirrored {
            let progress = transfer_progress(bench, job.id);
            let rules = settings.mirror_rules();
            match crate::mirror::sync(engine, &key, &rules, lease.mirror(), &progress).await {
                Ok(done) => synced = Some(done),
                // Too much to send: run without it, and say so.
                Err(MirrorError::Scan(e)) if e.is_too_much() => skipped = Some(skipped_notice(&e, &rules)),
                Err(e) => return Err(mirror_error(e)),
            }
        }
        let spec = mirrored.then(|| {
            let mut spec = crate::mirror::spec_for(&job.root, file);
            // Small changes ride on the run's own request.
            spec.files = synced.as_ref().map(|s| s.inline.clone()).unwrap_or_default();
            spec
        });
        // Read per run, so a changed runTimeout applies without a new backend.
        let options = RunOptions { timeout: settings.run_timeout(), mirror: spec };
        let mut report = engine.run_with(&key, snippet, &options).await.map_err(BackendError::from)?;
        if let Some(synced) = &synced {
            let failed: Vec<String> = report.mirror_failures.iter().map(|(path, _)| path.clone()).collect();
            synced.confirm(&key, lease.mirror(), &failed);
        }
        report.notices.extend(skipped);
        Ok(report)
    };
    tokio::pin!(run);
    // The first tick in a second. (Awaiting an interval's "immediate" first
    // tick costs up to a millisecond: the timer's resolution.)
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(1), Duration::from_secs(1));
    let outcome = loop {
        tokio::select! {
            result = &mut run => break Some(result),
            _ = job.control.notify.notified() => {
                if job.control.is_cancelled() {
                    break None; // dropping the run sends notifications/cancelled
                }
            }
            _ = tick.tick() => bench.emit(Event::Running { run_id: job.id, elapsed: started.elapsed() }),
        }
    };
    tracing::debug!(run = job.id, engine_us = started.elapsed().as_micros() as u64, "engine done");
    let mut figures = Vec::new();
    let state = match outcome {
        None => RunState::Cancelled,
        Some(Err(error)) => RunState::Failed(error),
        Some(Ok(report)) => {
            if bench.variables.apply(&job.root, job.id, &report) {
                bench.emit(Event::VariablesChanged { root: job.root.clone() });
            }
            if let Some(store) = bench.figures.as_ref().filter(|_| !report.displays.is_empty()) {
                let stem = std::path::Path::new(&snippet.filename).file_stem().map(|s| s.to_string_lossy());
                figures = store.save(stem.as_deref().unwrap_or("run"), &report);
            }
            if mirrored {
                let mut latest = bench.latest_files.lock().unwrap_or_else(|e| e.into_inner());
                latest.insert(job.root.clone(), report.files.clone());
            }
            if let Some(latest) = figures.last() {
                let mut latest_figures = bench.latest_figures.lock().unwrap_or_else(|e| e.into_inner());
                latest_figures.insert(job.root.clone(), (job.id, latest.clone()));
            }
            RunState::Finished(Box::new(report))
        }
    };
    finish_run(bench, job, &asked, state, figures)
}

/// Reports a transfer's bytes, once it has taken a second, at most four
/// times a second.
fn transfer_progress(bench: &State, run_id: u64) -> impl Fn(u64, u64) + Send + Sync + '_ {
    let started = Instant::now();
    let last = std::sync::Mutex::new(None::<Instant>);
    move |sent, total| {
        if started.elapsed() < Duration::from_secs(1) {
            return;
        }
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < Duration::from_millis(250)) && sent < total {
            return;
        }
        *last = Some(Instant::now());
        bench.emit(Event::Sending { run_id, sent, total });
    }
}

/// The notice for a workspace too big to mirror.
pub(super) fn skipped_notice(
    error: &crate::mirror::ScanError,
    rules: &crate::mirror::MirrorRules,
) -> crate::run::Notice {
    let bytes = match error {
        crate::mirror::ScanError::OverBudget { total, .. } => *total,
        _ => 0,
    };
    crate::run::Notice::MirrorSkipped { bytes, budget: rules.budget }
}

/// A mirror failure, as the typed error the front ends show.
fn mirror_error(error: MirrorError) -> BackendError {
    match error {
        MirrorError::Sandbox(e) => e.into(),
        other => BackendError::new(super::backend::ErrorKind::Mirror, other.to_string()),
    }
}

/// Records how a run ended, at its lines as they are now, and adds it to
/// the workspace's transcript.
fn finish_run(bench: &State, job: &Job, asked: &Asked, state: RunState, figures: Vec<Figure>) -> Finished {
    let Asked { doc, label, snippet, edits_seen } = *asked;
    let stored = bench.book.finish(doc, job.id, state.clone(), figures.clone(), |book, record, state| {
        place_diagnostics(book, doc, record, state, snippet, edits_seen)
    });
    let in_book = stored.is_some();
    let record = stored.unwrap_or_else(|| {
        // The document was closed while the run was queued or running: no
        // diagnostics to show, but the transcript still says how it ended.
        let mut closed = RunRecord::new(job.id, 0, 0, label.to_owned());
        closed.state = state;
        closed.figures = figures;
        closed.sandbox = bench.sandbox_name();
        closed
    });
    let limit = bench.settings().transcript_limit();
    let entry = transcript::entry(&record, record.sandbox, bench.transcripts.publishes());
    bench.transcripts.append(&job.root, entry, limit);
    Finished {
        summary: JobSummary::of_run(&record),
        root: job.root.clone(),
        doc: Some(doc.to_owned()),
        transcript_changed: true,
        detail: Detail::Run { record, in_book },
    }
}

/// Where a run's diagnostics go: the exception's lines as they were when
/// the run was asked for, moved through the edits made since; what an edit
/// touched is dropped. A run that did not complete gets a warning on its
/// first line instead.
fn place_diagnostics(
    book: &super::book::RunBook,
    doc: &str,
    record: &RunRecord,
    state: &RunState,
    snippet: &Snippet,
    edits_seen: usize,
) -> Vec<DiagnosticSpec> {
    let report = match state {
        RunState::Failed(why) => {
            let message = format!("Not run: {}", why.message);
            return vec![DiagnosticSpec::run_failure(record.first_line, "not-run", message)];
        }
        RunState::Finished(report) => report,
        _ => return Vec::new(),
    };
    let exception = match &report.result {
        RunResult::Failed { reason, .. } => {
            let message = format!("Stopped: {reason}");
            return vec![DiagnosticSpec::run_failure(record.first_line, "stopped", message)];
        }
        RunResult::Raised(exception) => exception,
        RunResult::Succeeded { .. } => return Vec::new(),
    };
    let filename = &snippet.filename;
    let first = snippet.first_line.saturating_sub(1);
    let last = snippet.end_line().saturating_sub(2).max(first);
    diagnostics_for(exception, filename, first, last)
        .into_iter()
        .filter_map(|mut d| {
            (d.line, d.end_line) = book.map_lines(doc, edits_seen, d.line, d.end_line)?;
            d.related = d
                .related
                .into_iter()
                .filter_map(|(file, line, function)| {
                    if &file != filename {
                        return Some((file, line, function));
                    }
                    let line = line.saturating_sub(1);
                    let (moved, _) = book.map_lines(doc, edits_seen, line, line)?;
                    Some((file, moved + 1, function))
                })
                .collect();
            Some(d)
        })
        .collect()
}

async fn install(bench: &State, job: &Job, doc: Option<String>, package: &str, rerun: Option<u64>) -> Finished {
    let label = format!("pip install {package}");
    let ended = |status, error, transcript_changed, ok, last_line: String| Finished {
        summary: JobSummary::of_job(job.id, JobKind::Install, label.clone(), status, error),
        root: job.root.clone(),
        doc: doc.clone(),
        transcript_changed,
        detail: Detail::Install { package: package.to_owned(), ok, last_line, rerun },
    };
    if job.control.is_cancelled() {
        return ended(JobStatus::Cancelled, None, false, false, String::new());
    }
    let lease = match lease(bench).await {
        Ok(lease) => lease,
        Err(why) => return ended(JobStatus::Failed, Some(why), false, false, String::new()),
    };
    let engine = lease.engine();
    let key = engine.workspace_key(job.root.clone());
    let command = ShellCommand::Argv(
        ["python3", "-m", "pip", "install", "--disable-pip-version-check", package].map(str::to_owned).to_vec(),
    );
    let (ok, text, error) = match engine.run_shell(&key, &command).await {
        Ok(out) => {
            let ok = out.exit_code == Some(0) && !out.is_error;
            let mut text = out.stdout;
            if let Some(stderr) = out.stderr.filter(|s| !s.is_empty()) {
                text.push_str("--- stderr ---\n");
                text.push_str(&stderr);
            }
            (ok, text, None)
        }
        Err(e) => {
            let error = BackendError::from(e);
            (false, error.message.clone(), Some(error))
        }
    };
    let header = format!(
        "=== {label} | {} | {} | {} ===\n",
        super::clock::timestamp(std::time::SystemTime::now()),
        bench.sandbox_name(),
        if ok { "✓" } else { "✗" }
    );
    bench.transcripts.append(&job.root, format!("{header}{text}\n"), bench.settings().transcript_limit());
    let last_line = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("see the output").to_owned();
    let status = if ok { JobStatus::Succeeded } else { JobStatus::Failed };
    ended(status, error, true, ok, last_line)
}

async fn restart(bench: &State, job: &Job, doc: Option<String>) -> Finished {
    let ended = |status, error| Finished {
        summary: JobSummary::of_job(job.id, JobKind::Restart, "restart".into(), status, error),
        root: job.root.clone(),
        doc: doc.clone(),
        transcript_changed: false,
        detail: Detail::Restart,
    };
    if job.control.is_cancelled() {
        return ended(JobStatus::Cancelled, None);
    }
    let lease = match lease(bench).await {
        Ok(lease) => lease,
        Err(why) => return ended(JobStatus::Failed, Some(why)),
    };
    let key = lease.engine().workspace_key(job.root.clone());
    match lease.engine().restart(&key).await {
        Ok(_) => {
            bench.variables.lose(&job.root, super::variables::LostReason::Restarted);
            bench.emit(Event::VariablesChanged { root: job.root.clone() });
            ended(JobStatus::Succeeded, None)
        }
        Err(e) => ended(JobStatus::Failed, Some(e.into())),
    }
}

/// Ends a files job with one sentence for the user.
fn files_finished(
    job: &Job,
    doc: Option<String>,
    outcome: Result<(String, Vec<Transferred>), BackendError>,
    rerun: Option<u64>,
) -> Finished {
    let label = "files".to_owned();
    let (status, error, message, transferred) = match outcome {
        Ok((message, transferred)) => (JobStatus::Succeeded, None, message, transferred),
        Err(why) => (JobStatus::Failed, Some(why.clone()), why.message, Vec::new()),
    };
    let mut summary = JobSummary::of_job(job.id, JobKind::Files, label, status, error);
    summary.transferred = transferred;
    Finished {
        summary,
        root: job.root.clone(),
        doc,
        transcript_changed: false,
        detail: Detail::Files { message, rerun },
    }
}

async fn send_files(bench: &State, job: &Job, doc: Option<String>, paths: &[PathBuf], rerun: Option<u64>) -> Finished {
    if job.control.is_cancelled() {
        return files_finished(job, doc, Err(BackendError::new(super::backend::ErrorKind::Mirror, "cancelled")), None);
    }
    let outcome = async {
        let lease = lease(bench).await?;
        let engine = lease.engine();
        let key = engine.workspace_key(job.root.clone());
        let progress = transfer_progress(bench, job.id);
        let report = crate::mirror::send(engine, &key, paths, lease.mirror(), &progress).await.map_err(mirror_error)?;
        let mut message = format!(
            "sent {} file{} ({}) to the sandbox",
            report.files,
            if report.files == 1 { "" } else { "s" },
            crate::run::human_bytes(report.bytes)
        );
        if !report.secrets.is_empty() {
            message.push_str(&format!("; not sent, as they look like secrets: {}", report.secrets.join(", ")));
        }
        let transferred = report
            .sent
            .iter()
            .map(|rel| Transferred { path: rel.clone(), saved_as: None, kept_both: false, unchanged: false })
            .collect();
        Ok((message, transferred))
    };
    files_finished(job, doc, outcome.await, rerun)
}

async fn fetch_files(bench: &State, job: &Job, doc: Option<String>, paths: &[String]) -> Finished {
    let outcome = async {
        let paths: Vec<String> = if paths.is_empty() {
            let latest = bench.latest_files.lock().unwrap_or_else(|e| e.into_inner());
            latest.get(&job.root).map(|files| files.iter().map(|f| f.path.clone()).collect()).unwrap_or_default()
        } else {
            paths.to_vec()
        };
        if paths.is_empty() {
            return Ok(("the latest run wrote no files in the sandbox's copy of the workspace".to_owned(), Vec::new()));
        }
        let lease = lease(bench).await?;
        let engine = lease.engine();
        let key = engine.workspace_key(job.root.clone());
        let mut transferred = Vec::new();
        let mut said = Vec::new();
        for rel in &paths {
            if job.control.is_cancelled() {
                break;
            }
            let fetched = crate::mirror::fetch(engine, &key, rel).await.map_err(mirror_error)?;
            let root = job.root.clone();
            let kept = fetched.clone();
            let saved = tokio::task::spawn_blocking(move || crate::mirror::save_download(&root, &fetched))
                .await
                .map_err(|e| BackendError::new(super::backend::ErrorKind::Mirror, e.to_string()))?
                .map_err(mirror_error)?;
            if !saved.kept_both {
                // Here as there: not sent back by the next sync.
                crate::mirror::note_fetched(engine, &key, lease.mirror(), &kept);
            }
            said.push(match (saved.unchanged, saved.kept_both) {
                (true, _) => format!("{rel} (already the same here)"),
                (_, true) => format!("{rel} as {} (a different local {rel} was kept)", saved.path.display()),
                _ => rel.clone(),
            });
            transferred.push(Transferred {
                path: rel.clone(),
                saved_as: Some(saved.path),
                kept_both: saved.kept_both,
                unchanged: saved.unchanged,
            });
        }
        Ok((format!("fetched from the sandbox: {}", said.join("; ")), transferred))
    };
    files_finished(job, doc, outcome.await, None)
}
