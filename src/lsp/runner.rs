//! Runs, away from the request handlers.
//!
//! A command handler turns its arguments into a [`Job`], records it, hands it
//! to its workspace's queue and answers `{runId}` at once. One task per
//! workspace takes jobs in the order they were asked for; different
//! workspaces run in parallel. Results come back to the editor through
//! diagnostics, code lens and inlay hint refreshes, the output document,
//! progress, and messages.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use tower_lsp_server::lsp_types::notification::Progress as ProgressNotification;
use tower_lsp_server::lsp_types::request::WorkDoneProgressCreate;
use tower_lsp_server::lsp_types::{
    MessageActionItem, MessageType, NumberOrString, ProgressParams, ProgressParamsValue, ShowDocumentParams, Uri,
    WorkDoneProgress, WorkDoneProgressBegin, WorkDoneProgressCreateParams, WorkDoneProgressEnd, WorkDoneProgressReport,
};

use super::convert;
use super::ext;
use super::output;
use super::records::{DiagnosticSpec, Finished, RunRecord, RunState, diagnostics_for};
use super::session::{CLIENT_REQUEST_TIMEOUT, Session};
use super::settings::Target;
use crate::config::{Backend, RemoteConfig};
use crate::mcp::ShellCommand;
use crate::run::{RunResult, Snippet};

/// What a job does.
pub enum Work {
    Python { uri: Uri, snippet: Snippet, label: String, edits_seen: usize },
    Install { uri: Uri, package: String, rerun: Option<(Uri, u64)> },
    Restart { uri: Uri },
}

pub struct Job {
    pub id: u64,
    /// When the command that made it was handled.
    pub submitted: Instant,
    pub root: PathBuf,
    pub work: Work,
    pub control: Arc<RunControl>,
}

/// Cancellation and progress of one job.
pub struct RunControl {
    pub root: PathBuf,
    cancelled: AtomicBool,
    notify: Notify,
    progress: Mutex<ProgressState>,
}

/// A run's progress token is usable once `begin` was sent (which waits for
/// the editor to create it). The run may report or end before that: the
/// task that sends `begin` then also sends the latest report, or `end`.
#[derive(Default)]
struct ProgressState {
    token: Option<String>,
    ended: Option<String>,
    /// A report made before the token was usable.
    pending_report: Option<String>,
}

impl RunControl {
    pub fn new(root: PathBuf) -> Self {
        Self { root, cancelled: AtomicBool::new(false), notify: Notify::new(), progress: Mutex::default() }
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// The backend in use, and the settings it was made from.
pub struct Live {
    pub backend: Backend,
    target: Target,
}

const MAX_RECORDS_PER_DOCUMENT: usize = 500;

/// A workspace's queue and how many jobs wait in it.
type Queue = (mpsc::UnboundedSender<Job>, Arc<AtomicUsize>);

#[derive(Default)]
pub struct Runner {
    live: tokio::sync::Mutex<Option<Arc<Live>>>,
    queues: Mutex<HashMap<PathBuf, Queue>>,
    controls: DashMap<u64, Arc<RunControl>>,
    progress_runs: DashMap<String, u64>,
}

impl Runner {
    /// Queues a job on its workspace; starts the workspace's task if needed.
    pub fn submit(&self, session: &Arc<Session>, job: Job) {
        self.controls.insert(job.id, Arc::clone(&job.control));
        let (queue, waiting) = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            queues
                .entry(job.root.clone())
                .or_insert_with(|| {
                    let (sender, receiver) = mpsc::unbounded_channel();
                    let waiting = Arc::new(AtomicUsize::new(0));
                    tokio::spawn(workspace_task(Arc::clone(session), receiver, Arc::clone(&waiting)));
                    (sender, waiting)
                })
                .clone()
        };
        let ahead = waiting.fetch_add(1, Ordering::SeqCst);
        if let Work::Python { label, .. } = &job.work {
            begin_progress(session, job.id, &job.control, label, ahead);
        }
        if queue.send(job).is_err() {
            tracing::error!("a workspace queue stopped; the run was dropped");
        }
    }

    /// Cancels one run (queued or running).
    pub fn cancel_run(&self, id: u64) -> bool {
        match self.controls.get(&id) {
            Some(control) => {
                control.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancels every queued and running job; returns how many.
    pub fn cancel_all(&self) -> usize {
        self.controls.iter().map(|control| control.cancel()).count()
    }

    /// Cancels every queued and running run of a workspace; returns how many.
    pub fn cancel_workspace(&self, root: &PathBuf) -> usize {
        let mut count = 0;
        for control in self.controls.iter().filter(|c| &c.root == root) {
            control.cancel();
            count += 1;
        }
        count
    }

    /// The run a progress token belongs to.
    pub fn run_of_progress(&self, token: &str) -> Option<u64> {
        self.progress_runs.get(token).map(|id| *id)
    }

    /// The backend for the current settings, started on first use and
    /// replaced when the settings name another.
    pub async fn live(&self, session: &Session) -> Result<Arc<Live>, String> {
        let settings = session.settings();
        let target = settings.target();
        let mut slot = self.live.lock().await;
        if let Some(live) = slot.as_ref().filter(|l| l.target == target) {
            return Ok(Arc::clone(live));
        }
        if let Some(old) = slot.take() {
            retire(old);
        }
        let backend = match &target {
            Target::Local => {
                let config = RemoteConfig::default();
                Backend::start(&config, true).await?
            }
            Target::Azure(config) if config.endpoint.is_none() && config.pool.is_none() => {
                return Err("the backend is set to Azure but no endpoint is configured: set azureSandbox.endpoint \
                            (or AZURE_SANDBOX_MCP_ENDPOINT) or azureSandbox.pool (or AZURE_SANDBOX_POOL)"
                    .into());
            }
            Target::Azure(config) => Backend::start(config, false).await?,
        };
        let live = Arc::new(Live { backend, target });
        *slot = Some(Arc::clone(&live));
        Ok(live)
    }

    /// Drops the backend (settings changed, or shutdown).
    pub async fn reset(&self) {
        if let Some(old) = self.live.lock().await.take() {
            retire(old);
        }
    }
}

/// Stops a replaced backend once no run uses it any more.
fn retire(old: Arc<Live>) {
    tokio::spawn(async move {
        let mut old = old;
        for _ in 0..600 {
            match Arc::try_unwrap(old) {
                Ok(live) => {
                    live.backend.shutdown().await;
                    return;
                }
                Err(still_used) => old = still_used,
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

async fn workspace_task(session: Arc<Session>, mut jobs: mpsc::UnboundedReceiver<Job>, waiting: Arc<AtomicUsize>) {
    while let Some(job) = jobs.recv().await {
        let id = job.id;
        match job.work {
            Work::Python { ref uri, ref snippet, edits_seen, .. } => {
                run_python(&session, &job, uri, snippet, edits_seen).await;
            }
            Work::Install { ref uri, ref package, ref rerun } => {
                install(&session, &job, uri, package, rerun.clone()).await
            }
            Work::Restart { ref uri } => restart(&session, &job, uri).await,
        }
        session.runner.progress_runs.remove(&progress_token_of(id));
        session.runner.controls.remove(&id);
        waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn run_python(session: &Arc<Session>, job: &Job, uri: &Uri, snippet: &Snippet, edits_seen: usize) {
    if job.control.is_cancelled() {
        return finish(session, job, uri, RunState::Cancelled, None, edits_seen).await;
    }
    session.update_record(uri, job.id, |r| r.state = RunState::Running);
    report_progress(session, &job.control, "running").await;
    let live = match session.runner.live(session).await {
        Ok(live) => live,
        Err(why) => return finish(session, job, uri, RunState::Failed(why), None, edits_seen).await,
    };
    let implicit_local = session.settings().backend == super::settings::BackendChoice::Auto && session.is_local();
    if live.backend.is_local() && implicit_local && !session.local_notice_shown.swap(true, Ordering::SeqCst) {
        let message = "Azure sandbox: no Azure endpoint is configured, so code runs in a local sandbox on this machine \
                       (plain processes, not Azure's isolation). To use Azure, set azureSandbox.pool (or AZURE_SANDBOX_POOL) to read \
                       the endpoint and key from your session pool, or set the endpoint and key \
                       (AZURE_SANDBOX_MCP_ENDPOINT and AZURE_SANDBOX_API_KEY).";
        session.client.show_message(MessageType::INFO, message).await;
    }
    let engine = &live.backend.engine;
    let key = engine.workspace_key(job.root.clone());
    let started = Instant::now();
    tracing::debug!(run = job.id, since_submit_us = job.submitted.elapsed().as_micros() as u64, "run starts");
    // Read per run, so a changed runTimeout applies without a new backend.
    let run = engine.run_with_timeout(&key, snippet, session.settings().run_timeout());
    tokio::pin!(run);
    // The first progress tick in a second. (Awaiting an interval's "immediate"
    // first tick costs up to a millisecond: the timer's resolution.)
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
            _ = tick.tick() => {
                report_progress(session, &job.control, &format!("running, {} s", started.elapsed().as_secs())).await;
            }
        }
    };
    tracing::debug!(run = job.id, engine_us = started.elapsed().as_micros() as u64, "engine done");
    match outcome {
        None => finish(session, job, uri, RunState::Cancelled, None, edits_seen).await,
        Some(Err(error)) => finish(session, job, uri, RunState::Failed(error.to_string()), None, edits_seen).await,
        Some(Ok(report)) => {
            let finished = Finished::from_report(&report);
            finish(session, job, uri, RunState::Finished(Box::new(finished)), Some(snippet), edits_seen).await;
        }
    }
}

/// Records the end of a run and tells the editor in every channel.
async fn finish(
    session: &Arc<Session>,
    job: &Job,
    uri: &Uri,
    state: RunState,
    snippet: Option<&Snippet>,
    edits_seen: usize,
) {
    let filename = convert::filename(uri);
    let mut diagnostics = Vec::new();
    if let (RunState::Finished(finished), Some(snippet)) = (&state, snippet) {
        if let RunResult::Raised(exception) = &finished.result {
            let first = snippet.first_line.saturating_sub(1);
            let last = snippet.end_line().saturating_sub(2).max(first);
            diagnostics = diagnostics_for(exception, &filename, first, last);
        }
    }
    let mut record = None;
    if let Some(mut records) = session.records.get_mut(uri) {
        // Lines as they were when the run was asked for, moved through the
        // edits made since; what an edit touched is dropped. Done under the
        // records guard, which did_change also takes, so no edit slips
        // between mapping and storing.
        let diagnostics: Vec<_> = std::mem::take(&mut diagnostics)
            .into_iter()
            .filter_map(|mut d| {
                (d.line, d.end_line) = session.map_lines(uri, edits_seen, d.line, d.end_line)?;
                d.related = d
                    .related
                    .into_iter()
                    .filter_map(|(file, line, function)| {
                        if file != filename {
                            return Some((file, line, function));
                        }
                        let (moved, _) =
                            session.map_lines(uri, edits_seen, line.saturating_sub(1), line.saturating_sub(1))?;
                        Some((file, moved + 1, function))
                    })
                    .collect();
                Some(d)
            })
            .collect();
        if let Some(r) = records.iter_mut().find(|r| r.id == job.id) {
            r.state = state.clone();
            r.diagnostics = match &state {
                RunState::Failed(why) => {
                    vec![DiagnosticSpec::run_failure(r.first_line, "not-run", format!("Not run: {why}"))]
                }
                RunState::Finished(f) => match &f.result {
                    RunResult::Failed { reason, .. } => {
                        vec![DiagnosticSpec::run_failure(r.first_line, "stopped", format!("Stopped: {reason}"))]
                    }
                    _ => diagnostics,
                },
                _ => diagnostics,
            };
            record = Some(r.clone());
        }
        // A newer run of the same lines replaces the older ones, also when
        // it failed to run: what the editor shows is the latest attempt.
        if let Some(done) = &record {
            if matches!(done.state, RunState::Finished(_) | RunState::Failed(_)) {
                records.retain(|r| {
                    r.id >= done.id
                        || !r.overlaps(done.first_line, done.last_line)
                        || matches!(r.state, RunState::Queued | RunState::Running)
                });
            }
        }
    }
    let record = match record {
        Some(record) => {
            session.publish(uri).await;
            tracing::debug!(
                run = job.id,
                since_submit_us = job.submitted.elapsed().as_micros() as u64,
                "diagnostics sent"
            );
            record
        }
        None => {
            // The document was closed while the run was queued or running:
            // no diagnostics to show, but the transcript and progress still
            // say how it ended.
            let label = match &job.work {
                Work::Python { label, .. } => label.clone(),
                _ => String::new(),
            };
            let mut closed = RunRecord::new(job.id, 0, 0, label);
            closed.state = state;
            closed.sandbox = session.sandbox_name();
            closed
        }
    };
    let output_uri = session.transcripts.append(
        &job.root,
        output::entry(&record, record.sandbox),
        session.settings().transcript_limit(),
    );
    session.client.send_notification::<OutputChanged>(ext::OutputChangedParams { uri: output_uri.clone() }).await;
    refresh_views(session, &output_uri);
    let summary = format!("{}: {}", record.label, record.status());
    session.client.log_message(MessageType::INFO, format!("[azure-sandbox] {summary}{}", detail(&record))).await;
    match &record.state {
        RunState::Failed(why) => session.client.show_message(MessageType::ERROR, format!("Azure sandbox: {why}")).await,
        RunState::Finished(f) => {
            for notice in f.notices.iter().filter(|n| n.contains("expired") || n.contains("replaced")) {
                session.client.show_message(MessageType::WARNING, format!("Azure sandbox: {notice}")).await;
            }
            if let RunResult::Failed { reason, .. } = &f.result {
                session
                    .client
                    .show_message(MessageType::ERROR, format!("Azure sandbox: {} stopped: {reason}", record.label))
                    .await;
            }
        }
        _ => {}
    }
    end_progress(session, &job.control, &record.status()).await;
}

fn detail(record: &RunRecord) -> String {
    match &record.state {
        RunState::Finished(f) => match &f.result {
            RunResult::Raised(e) => format!(" ({})", e.headline()),
            RunResult::Failed { reason, .. } => format!(" ({reason})"),
            RunResult::Succeeded { value: Some(v) } => format!(" → {}", super::records::one_line(v, 80)),
            RunResult::Succeeded { value: None } => String::new(),
        },
        RunState::Failed(why) => format!(" ({why})"),
        _ => String::new(),
    }
}

/// Asks the client to redraw lenses, hints and the output document, where
/// it said it can; in the background, with a time limit.
fn refresh_views(session: &Arc<Session>, output_uri: &str) {
    let flags = session.flags();
    let session = Arc::clone(session);
    let output_uri = output_uri.to_owned();
    tokio::spawn(async move {
        if flags.code_lens_refresh {
            let _ = tokio::time::timeout(CLIENT_REQUEST_TIMEOUT, session.client.code_lens_refresh()).await;
        }
        if flags.inlay_hint_refresh {
            let _ = tokio::time::timeout(CLIENT_REQUEST_TIMEOUT, session.client.inlay_hint_refresh()).await;
        }
        if flags.text_document_content {
            let request =
                session.client.send_request::<TextDocumentContentRefresh>(serde_json::json!({"uri": output_uri}));
            let _ = tokio::time::timeout(CLIENT_REQUEST_TIMEOUT, request).await;
        }
    });
}

/// The backend for a job that has no run record to fail (install,
/// restart): when it cannot be had, the editor shows why.
async fn live_or_say_why(session: &Arc<Session>) -> Option<Arc<Live>> {
    match session.runner.live(session).await {
        Ok(live) => Some(live),
        Err(why) => {
            session.client.show_message(MessageType::ERROR, format!("Azure sandbox: {why}")).await;
            None
        }
    }
}

async fn install(session: &Arc<Session>, job: &Job, uri: &Uri, package: &str, rerun: Option<(Uri, u64)>) {
    if job.control.is_cancelled() {
        return;
    }
    let Some(live) = live_or_say_why(session).await else { return };
    let engine = &live.backend.engine;
    let key = engine.workspace_key(job.root.clone());
    let command = ShellCommand::Argv(
        ["python3", "-m", "pip", "install", "--disable-pip-version-check", package].map(str::to_owned).to_vec(),
    );
    let result = engine.run_shell(&key, &command).await;
    let (ok, text) = match result {
        Ok(out) => {
            let ok = out.exit_code == Some(0) && !out.is_error;
            let mut text = out.stdout;
            if let Some(stderr) = out.stderr.filter(|s| !s.is_empty()) {
                text.push_str("--- stderr ---\n");
                text.push_str(&stderr);
            }
            (ok, text)
        }
        Err(e) => (false, e.to_string()),
    };
    let header = format!(
        "=== pip install {package} | {} | {} | {} ===\n",
        output::timestamp(std::time::SystemTime::now()),
        session.sandbox_name(),
        if ok { "✓" } else { "✗" }
    );
    let output_uri =
        session.transcripts.append(&job.root, format!("{header}{text}\n"), session.settings().transcript_limit());
    session.client.send_notification::<OutputChanged>(ext::OutputChangedParams { uri: output_uri.clone() }).await;
    refresh_views(session, &output_uri);
    let _ = uri;
    if !ok {
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("see the output document");
        session
            .client
            .show_message(MessageType::ERROR, format!("Azure sandbox: pip install {package} failed: {last}"))
            .await;
        return;
    }
    session.client.log_message(MessageType::INFO, format!("[azure-sandbox] installed {package}")).await;
    let Some((rerun_uri, record_id)) = rerun else {
        session.client.show_message(MessageType::INFO, format!("Azure sandbox: installed {package}.")).await;
        return;
    };
    // Offer to run again what failed, without holding up this queue.
    let session = Arc::clone(session);
    let package = package.to_owned();
    tokio::spawn(async move {
        let again = MessageActionItem { title: "Re-run".into(), properties: HashMap::new() };
        let ask = session.client.show_message_request(
            MessageType::INFO,
            format!("Azure sandbox: installed {package}. Run the code that needed it again?"),
            Some(vec![again.clone()]),
        );
        if let Ok(Ok(Some(choice))) = tokio::time::timeout(Duration::from_secs(600), ask).await {
            if choice.title == again.title {
                // The record's lines as they are now, and the text they index.
                let snapshot = session.snapshot(&rerun_uri);
                if let Some(record) = session.records_of(&rerun_uri).into_iter().find(|r| r.id == record_id) {
                    let (first, last) = (record.first_line, record.last_line);
                    let (snippet, seen) = match snapshot {
                        Some((doc, seen)) => {
                            (Some(super::commands::lines_snippet(&doc, &rerun_uri, first, last)), seen)
                        }
                        None => (record.snippet, session.edits_seen(&rerun_uri)),
                    };
                    if let Some(snippet) = snippet {
                        submit_python(&session, rerun_uri.clone(), snippet, first, last, seen);
                    }
                }
            }
        }
    });
}

async fn restart(session: &Arc<Session>, job: &Job, uri: &Uri) {
    if job.control.is_cancelled() {
        return;
    }
    let Some(live) = live_or_say_why(session).await else { return };
    let key = live.backend.engine.workspace_key(job.root.clone());
    let message = match live.backend.engine.restart(&key).await {
        Ok(_) => format!(
            "Azure sandbox: started a new {} environment for {}; earlier state (variables, imports) is gone.",
            session.sandbox_name(),
            job.root.display()
        ),
        Err(e) => format!("Azure sandbox: could not restart the environment: {e}"),
    };
    let _ = uri;
    let kind = if message.contains("could not") { MessageType::ERROR } else { MessageType::INFO };
    session.client.show_message(kind, message.clone()).await;
    session.client.log_message(MessageType::INFO, format!("[azure-sandbox] {message}")).await;
}

/// Records a Python run of `snippet` (document lines `first..=last`,
/// 0-based, in the document as it was after `seen` edits) and queues it.
/// Returns the run id.
pub fn submit_python(session: &Arc<Session>, uri: Uri, snippet: Snippet, first: u32, last: u32, seen: usize) -> u64 {
    let id = session.next_run_id();
    let name = convert::short_name(&uri);
    let label =
        if first == last { format!("{name}:{}", first + 1) } else { format!("{name}:{}-{}", first + 1, last + 1) };
    let mut record = RunRecord::new(id, first, last, label.clone());
    record.snippet = Some(snippet.clone());
    record.sandbox = session.sandbox_name();
    {
        let mut records = session.records.entry(uri.clone()).or_default();
        // Edits that arrived since the lines were read move them; under the
        // records guard, which did_change's line tracking also takes, so no
        // edit falls between mapping and recording.
        match session.map_lines(&uri, seen, first, last) {
            Some((first, last)) => (record.first_line, record.last_line) = (first, last),
            None => record.edited = true,
        }
        records.push(record);
        // Files run without being open keep their records until they are;
        // bound them (the oldest finished ones go).
        while records.len() > MAX_RECORDS_PER_DOCUMENT {
            match records.iter().position(|r| !matches!(r.state, RunState::Queued | RunState::Running)) {
                Some(oldest) => drop(records.remove(oldest)),
                None => break,
            }
        }
    }
    let root = session.workspace_of(&uri);
    let edits_seen = seen;
    let job = Job {
        id,
        submitted: Instant::now(),
        root: root.clone(),
        work: Work::Python { uri, snippet, label, edits_seen },
        control: Arc::new(RunControl::new(root)),
    };
    session.runner.submit(session, job);
    id
}

/// Queues a non-run job (install, restart) on the document's workspace.
pub fn submit_other(session: &Arc<Session>, uri: &Uri, work: Work) -> u64 {
    let id = session.next_run_id();
    let root = session.workspace_of(uri);
    let job = Job { id, submitted: Instant::now(), root: root.clone(), work, control: Arc::new(RunControl::new(root)) };
    session.runner.submit(session, job);
    id
}

/// Opens a document in the client, in the background.
pub fn show_document(session: &Arc<Session>, uri: Uri) {
    if !session.flags().show_document {
        return;
    }
    let session = Arc::clone(session);
    tokio::spawn(async move {
        let params = ShowDocumentParams { uri, external: Some(false), take_focus: Some(true), selection: None };
        match tokio::time::timeout(CLIENT_REQUEST_TIMEOUT, session.client.show_document(params)).await {
            Ok(Ok(true)) => {}
            other => tracing::debug!("the client did not show the output document: {other:?}"),
        }
    });
}

// Progress: server-created work-done progress, cancellable. Each step is
// best effort: a client that does not answer only loses the progress.

fn begin_progress(session: &Arc<Session>, id: u64, control: &Arc<RunControl>, label: &str, ahead: usize) {
    if !session.flags().progress {
        return;
    }
    let token = progress_token_of(id);
    session.runner.progress_runs.insert(token.clone(), id);
    let title = format!("Running {label} in {}", session.sandbox_name());
    let message = if ahead > 0 { format!("queued ({ahead} ahead)") } else { "starting".into() };
    // `ahead` counts the job running now and those queued before this one.
    let session = Arc::clone(session);
    let control = Arc::clone(control);
    tokio::spawn(async move {
        let create = session.client.send_request::<WorkDoneProgressCreate>(WorkDoneProgressCreateParams {
            token: NumberOrString::String(token.clone()),
        });
        if !matches!(tokio::time::timeout(CLIENT_REQUEST_TIMEOUT, create).await, Ok(Ok(()))) {
            return;
        }
        let begin = WorkDoneProgress::Begin(WorkDoneProgressBegin {
            title,
            cancellable: Some(true),
            message: Some(message),
            percentage: None,
        });
        send_progress(&session, &token, begin).await;
        let (ended, pending) = {
            let mut state = control.progress.lock().unwrap_or_else(|e| e.into_inner());
            match state.ended.clone() {
                Some(message) => (Some(message), None),
                None => {
                    state.token = Some(token.clone());
                    (None, state.pending_report.take())
                }
            }
        };
        if let Some(message) = ended {
            send_progress(&session, &token, WorkDoneProgress::End(WorkDoneProgressEnd { message: Some(message) }))
                .await;
        } else if let Some(message) = pending {
            send_progress(&session, &token, report(message)).await;
        }
    });
}

fn progress_token_of(id: u64) -> String {
    format!("azure-sandbox-run-{id}")
}

async fn report_progress(session: &Session, control: &RunControl, message: &str) {
    let token = {
        let mut state = control.progress.lock().unwrap_or_else(|e| e.into_inner());
        if state.token.is_none() {
            // `begin` is not out yet: its task sends this after it.
            state.pending_report = Some(message.to_owned());
        }
        state.token.clone()
    };
    if let Some(token) = token {
        send_progress(session, &token, report(message.to_owned())).await;
    }
}

fn report(message: String) -> WorkDoneProgress {
    WorkDoneProgress::Report(WorkDoneProgressReport {
        cancellable: Some(true),
        message: Some(message),
        percentage: None,
    })
}

async fn end_progress(session: &Session, control: &RunControl, message: &str) {
    let token = {
        let mut state = control.progress.lock().unwrap_or_else(|e| e.into_inner());
        state.ended = Some(message.to_owned());
        state.token.take()
    };
    if let Some(token) = token {
        send_progress(
            session,
            &token,
            WorkDoneProgress::End(WorkDoneProgressEnd { message: Some(message.to_owned()) }),
        )
        .await;
    }
}

async fn send_progress(session: &Session, token: &str, value: WorkDoneProgress) {
    let params =
        ProgressParams { token: NumberOrString::String(token.to_owned()), value: ProgressParamsValue::WorkDone(value) };
    session.client.send_notification::<ProgressNotification>(params).await;
}

/// `azureSandbox/outputChanged`.
pub enum OutputChanged {}

impl tower_lsp_server::lsp_types::notification::Notification for OutputChanged {
    type Params = ext::OutputChangedParams;
    const METHOD: &'static str = ext::OUTPUT_CHANGED;
}

/// `workspace/textDocumentContent/refresh` (LSP 3.18).
pub enum TextDocumentContentRefresh {}

impl tower_lsp_server::lsp_types::request::Request for TextDocumentContentRefresh {
    type Params = Value;
    type Result = Value;
    const METHOD: &'static str = ext::TEXT_DOCUMENT_CONTENT_REFRESH;
}
