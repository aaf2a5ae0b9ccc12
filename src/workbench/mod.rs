//! The workbench: everything a front end needs to run code for a user,
//! and nothing about how the front end talks to them.
//!
//! It owns the settings in force, the backend (started on first use, kept
//! while anyone leases it), one job queue per workspace with cancellation,
//! the record of every run of every document (moved along as the user
//! edits), and the transcripts. It reports through typed [`Event`]s that
//! one front end subscribes to. It speaks no LSP and no HTTP: the language
//! server is an adapter over it, and so is any later front end (an MCP
//! server for agents, a notebook controller).

mod backend;
mod book;
mod clock;
mod control;
mod events;
mod figures;
mod jobs;
mod naming;
mod records;
mod settings;
mod shared;
mod state;
mod transcript;
mod variables;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::run::{InspectKind, Inspection};

pub use backend::{Backend, BackendError, ErrorKind, registry_file};
pub use book::RunBook;
pub use clock::timestamp;
pub use events::{Detail, Event, Finished, JobKind, JobStatus, JobSummary, ShownOutput};
pub use figures::{Figure, FigureStore, open_in_viewer};
pub use records::{DiagnosticSpec, RunRecord, RunState, diagnostics_for, duration_text, one_line};
pub use settings::{BackendChoice, DEFAULT_HOVER_LIMIT, DEFAULT_TRANSCRIPT_LIMIT, LocalOptions, Settings, Target};
pub use shared::{SharedLogs, Source};
pub use transcript::{Transcripts, files_entry};
pub use variables::{Entry, LostReason, Snapshot, SnapshotState};

use backend::BackendSlot;
use control::RunControl;
use jobs::{Job, Queue, Work};
use state::State;

/// Whether a query (variables, files) may start the sandbox: the editor's
/// hovers and lists only look at one in use (code has run, or nothing is
/// there to see); an agent's tool call asked for the environment, so it
/// starts one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxStart {
    OnlyInUse,
    IfNeeded,
}

/// A Python run to queue: what to run, from which document, and where.
pub struct RunRequest {
    /// The front end's name for the document (the language server: its URI).
    pub doc: String,
    /// A short name for labels (`main.py`).
    pub name: String,
    /// The workspace whose environment runs it.
    pub root: PathBuf,
    /// The code and the document lines it covers (0-based).
    pub cut: crate::run::Cut,
    /// How many edits the document had when the lines were read
    /// ([`RunBook::edits_seen`]): later edits move the lines.
    pub edits_seen: usize,
}

pub struct Workbench {
    /// Shared with the workspace tasks.
    state: Arc<State>,
    queues: Mutex<HashMap<PathBuf, Queue>>,
    next_id: AtomicU64,
    /// Workspaces made ready for the current sandbox ([`Workbench::prepare`]).
    prepared: Mutex<std::collections::HashSet<PathBuf>>,
    /// Workspaces whose shared log is followed ([`Workbench::follow_shared`]).
    followed: Mutex<std::collections::HashSet<PathBuf>>,
}

impl Workbench {
    /// A workbench whose transcripts are mirrored into `transcript_dir`
    /// (`None`: no files), and the stream of its events.
    pub fn new(transcript_dir: Option<PathBuf>) -> (Arc<Self>, mpsc::UnboundedReceiver<Event>) {
        let (events, receiver) = mpsc::unbounded_channel();
        let state = State {
            settings: RwLock::default(),
            backend: BackendSlot::default(),
            book: RunBook::default(),
            transcripts: Transcripts::new(transcript_dir),
            variables: Default::default(),
            figures: FigureStore::in_cache(),
            latest_figures: Default::default(),
            latest_files: Default::default(),
            controls: Default::default(),
            events,
            local_notice_shown: AtomicBool::new(false),
        };
        let bench = Self {
            state: Arc::new(state),
            queues: Mutex::default(),
            next_id: AtomicU64::new(1),
            prepared: Mutex::default(),
            followed: Mutex::default(),
        };
        (Arc::new(bench), receiver)
    }

    /// The transcripts' mirror directory in the cache directory.
    pub fn default_transcript_dir() -> Option<PathBuf> {
        Some(crate::config::cache_dir()?.join("output"))
    }

    pub fn settings(&self) -> Settings {
        self.state.settings()
    }

    /// Puts `settings` in force. Returns true if they name another sandbox:
    /// the backend in use is then let go, and the next run starts the new
    /// one (runs going on finish on the old one).
    pub async fn set_settings(&self, settings: Settings) -> bool {
        let changed = {
            let mut current = self.state.settings.write().unwrap_or_else(|e| e.into_inner());
            let changed = current.target() != settings.target();
            *current = settings;
            changed
        };
        if changed {
            self.prepared.lock().unwrap_or_else(|e| e.into_inner()).clear();
            self.state.backend.release().await;
            for root in self.state.variables.roots() {
                if self.state.variables.snapshot(&root).state != SnapshotState::Empty {
                    self.state.variables.lose(&root, LostReason::SandboxChanged);
                    self.state.emit(Event::VariablesChanged { root });
                }
            }
        }
        changed
    }

    /// What workspace `root`'s environment holds, as of its last run.
    pub fn variables(&self, root: &Path) -> Snapshot {
        self.state.variables.snapshot(root)
    }

    /// One name of workspace `root`'s snapshot.
    pub fn variable(&self, root: &Path, name: &str) -> Option<Entry> {
        self.state.variables.get(root, name)
    }

    /// Looks at `path` in workspace `root`'s environment (one request). An
    /// empty `path`: the user's names, as the environment has them now
    /// (another process's runs included). `Ok(None)`: no sandbox is in use
    /// and `start` said not to start one.
    pub async fn inspect(
        &self,
        root: &Path,
        path: &[String],
        kind: InspectKind,
        timeout: Duration,
        start: SandboxStart,
    ) -> Result<Option<Inspection>, BackendError> {
        let Some(lease) = self.lease_for(start).await? else { return Ok(None) };
        let engine = lease.engine();
        let key = engine.workspace_key(root.to_owned());
        Ok(engine.inspect(&key, path, kind, timeout).await?)
    }

    /// The sandbox for a query: the one in use, or (`SandboxStart::IfNeeded`)
    /// started for it.
    async fn lease_for(&self, start: SandboxStart) -> Result<Option<Arc<backend::Lease>>, BackendError> {
        match start {
            SandboxStart::OnlyInUse => Ok(self.state.backend.current().await),
            SandboxStart::IfNeeded => jobs::lease(&self.state).await.map(Some),
        }
    }

    /// Appends an entry (a listing, a message) to workspace `root`'s transcript.
    pub fn append_transcript(&self, root: &Path, entry: String) {
        self.state.transcripts.append(root, entry, self.settings().transcript_limit());
    }

    /// Appends workspace `root`'s variables to its transcript (for clients
    /// with no view of their own). Returns how many it listed.
    pub fn show_variables_in_transcript(&self, root: &Path) -> usize {
        let snapshot = self.variables(root);
        let entry = transcript::variables_entry(&snapshot);
        self.state.transcripts.append(root, entry, self.settings().transcript_limit());
        snapshot.entries.len()
    }

    /// Gets a workspace ready for its first run on a remote sandbox, in the
    /// background: the backend, the MCP session and a launched environment,
    /// so that the first run is one request. Runs no code. Nothing for the
    /// local sandbox (it is a millisecond away), and nothing twice.
    pub fn prepare(&self, root: PathBuf) {
        let target = self.settings().target();
        if matches!(target, Target::Local(_))
            || !self.prepared.lock().unwrap_or_else(|e| e.into_inner()).insert(root.clone())
        {
            return;
        }
        let state = Arc::clone(&self.state);
        tokio::spawn(async move {
            let ready = async {
                let lease = state.backend.lease(&target).await?;
                let key = lease.engine().workspace_key(root.clone());
                lease.engine().prepare(&key).await.map_err(BackendError::from)
            };
            // A failure shows at the first run, where the user can act on it.
            if let Err(e) = ready.await {
                tracing::debug!("could not prepare {}: {e}", root.display());
            }
        });
    }

    /// Shares every transcript entry of this workbench with the other
    /// processes on this machine, as `source`'s (an agent's server does).
    pub fn publish_as(&self, source: Source) {
        self.state.transcripts.publish_as(SharedLogs::in_cache(), source);
    }

    /// Adds the entries other processes share for workspace `root` (an
    /// agent's runs) to its transcript as they come, each with
    /// [`Event::SharedEntry`]. Once per workspace; runs no code.
    pub fn follow_shared(&self, root: PathBuf) {
        if !self.followed.lock().unwrap_or_else(|e| e.into_inner()).insert(root.clone()) {
            return;
        }
        let state = Arc::downgrade(&self.state);
        tokio::spawn(async move {
            let logs = SharedLogs::in_cache();
            let root_for_entries = root.clone();
            logs.follow(root, move |source, entry| {
                let Some(state) = state.upgrade() else { return false };
                let label = entry.lines().next().unwrap_or_default().trim_matches(|c| c == '=' || c == ' ').to_owned();
                state.transcripts.append_shared(&root_for_entries, entry, state.settings().transcript_limit());
                state.emit(Event::SharedEntry { root: root_for_entries.clone(), source, label });
                true
            })
            .await;
        });
    }

    /// The embedded local sandbox's endpoint, started if the settings
    /// choose it and it is not running yet (no code runs); `None` for a
    /// remote sandbox. An editor hands it, with the key it chose for the
    /// sandbox ([`crate::config::LOCAL_KEY_VAR`]), to an agent's server, so
    /// both work in the same environments.
    pub async fn local_endpoint(&self) -> Result<Option<String>, BackendError> {
        if !matches!(self.settings().target(), Target::Local { .. }) {
            return Ok(None);
        }
        Ok(jobs::lease(&self.state).await?.local_endpoint())
    }

    /// "Azure sandbox" or "local sandbox", for titles and messages.
    pub fn sandbox_name(&self) -> &'static str {
        self.state.sandbox_name()
    }

    pub fn book(&self) -> &RunBook {
        &self.state.book
    }

    /// The latest figure a run in workspace `root` made (or in any
    /// workspace, for `None`), if its file is still there.
    pub fn latest_figure(&self, root: Option<&Path>) -> Option<Figure> {
        let latest = self.state.latest_figures.lock().unwrap_or_else(|e| e.into_inner());
        let found = match root {
            Some(root) => latest.get(root).cloned(),
            None => latest.values().max_by_key(|(at, _)| *at).cloned(),
        };
        found.map(|(_, figure)| figure).filter(|f| f.path.exists())
    }

    pub fn transcripts(&self) -> &Transcripts {
        &self.state.transcripts
    }

    /// Records a Python run and queues it. Returns its id at once.
    pub fn submit_run(&self, request: RunRequest) -> u64 {
        let id = self.next_id();
        let (first, last) = (request.cut.first, request.cut.last);
        let label = if first == last {
            format!("{}:{}", request.name, first + 1)
        } else {
            format!("{}:{}-{}", request.name, first + 1, last + 1)
        };
        let mut record = RunRecord::new(id, first, last, label.clone());
        record.snippet = Some(request.cut.snippet.clone());
        record.sandbox = self.sandbox_name();
        self.state.book.add(&request.doc, record, request.edits_seen);
        let work = Work::Python {
            doc: request.doc,
            snippet: request.cut.snippet,
            label: label.clone(),
            edits_seen: request.edits_seen,
        };
        self.submit(id, request.root, work, Some(format!("Running {label}")));
        id
    }

    /// Queues `pip install package` in the workspace's environment; with
    /// `rerun`, the front end is told which run to offer again.
    pub fn submit_install(&self, root: PathBuf, doc: Option<String>, package: String, rerun: Option<u64>) -> u64 {
        let id = self.next_id();
        self.submit(id, root, Work::Install { doc, package, rerun }, None);
        id
    }

    /// Queues sending these workspace files and folders (even ignored ones,
    /// never secrets) to the environment; then runs `rerun` again.
    pub fn submit_send(&self, root: PathBuf, doc: Option<String>, paths: Vec<PathBuf>, rerun: Option<u64>) -> u64 {
        let id = self.next_id();
        self.submit(id, root, Work::Send { doc, paths, rerun }, Some("Sending files".into()));
        id
    }

    /// Queues fetching mirror files into the workspace (none named: what
    /// its latest run wrote). A local file is never overwritten.
    pub fn submit_fetch(&self, root: PathBuf, doc: Option<String>, paths: Vec<String>) -> u64 {
        let id = self.next_id();
        self.submit(id, root, Work::Fetch { doc, paths }, Some("Fetching files".into()));
        id
    }

    /// The files in workspace `root`'s mirror (one request; empty when no
    /// sandbox is in use and `start` said not to start one).
    pub async fn list_files(&self, root: &Path, start: SandboxStart) -> Result<crate::mirror::Listing, BackendError> {
        let Some(lease) = self.lease_for(start).await? else { return Ok(Default::default()) };
        let key = lease.engine().workspace_key(root.to_owned());
        crate::mirror::list(lease.engine(), &key).await.map_err(|e| match e {
            crate::mirror::MirrorError::Sandbox(e) => e.into(),
            other => BackendError::new(backend::ErrorKind::Mirror, other.to_string()),
        })
    }

    /// The files workspace `root`'s latest mirrored run wrote.
    pub fn latest_files(&self, root: &Path) -> Vec<crate::run::ChangedFile> {
        self.state.latest_files.lock().unwrap_or_else(|e| e.into_inner()).get(root).cloned().unwrap_or_default()
    }

    /// Cancels the workspace's jobs and queues a new environment for it.
    pub fn submit_restart(&self, root: PathBuf, doc: Option<String>) -> u64 {
        self.cancel_workspace(&root);
        let id = self.next_id();
        self.submit(id, root, Work::Restart { doc }, None);
        id
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues a job on its workspace; starts the workspace's task if needed.
    fn submit(&self, id: u64, root: PathBuf, work: Work, progress_title: Option<String>) {
        let control = Arc::new(RunControl::new(root.clone()));
        self.state.controls.insert(id, Arc::clone(&control));
        let (queue, waiting) = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            queues
                .entry(root.clone())
                .or_insert_with(|| {
                    let (sender, receiver) = mpsc::unbounded_channel();
                    let waiting = Arc::new(AtomicUsize::new(0));
                    tokio::spawn(jobs::workspace_task(Arc::clone(&self.state), receiver, Arc::clone(&waiting)));
                    (sender, waiting)
                })
                .clone()
        };
        let ahead = waiting.fetch_add(1, Ordering::SeqCst);
        if let Some(title) = progress_title {
            // Before the job is queued, so it comes before the job's own events.
            self.state.emit(Event::Queued { run_id: id, title, ahead });
        }
        let job = Job { id, submitted: Instant::now(), root, work, control };
        if queue.send(job).is_err() {
            tracing::error!("a workspace queue stopped; the run was dropped");
        }
    }

    /// Cancels one job (queued or running).
    pub fn cancel_run(&self, id: u64) -> bool {
        self.state.controls.get(&id).map(|control| control.cancel()).is_some()
    }

    /// Cancels every queued and running job; returns how many.
    pub fn cancel_all(&self) -> usize {
        self.state.controls.iter().map(|control| control.cancel()).count()
    }

    /// Cancels every queued and running job of a workspace; returns how many.
    pub fn cancel_workspace(&self, root: &Path) -> usize {
        self.state.controls.iter().filter(|c| c.root == root).map(|control| control.cancel()).count()
    }

    /// Cancels everything and lets go of the backend.
    pub async fn shutdown(&self) {
        self.cancel_all();
        self.state.backend.release().await;
    }
}
