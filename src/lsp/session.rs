//! The server's state and the rules for touching it.
//!
//! Architecture invariant: document state is changed only by the
//! `did_open`/`did_change`/`did_close` handlers, synchronously, before their
//! first `.await`; nothing holds a dashmap guard across an `.await` (handlers
//! clone what they need out: a `Document` clone shares its rope).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, RwLock};

use dashmap::DashMap;
use serde_json::{Value, json};
use tower_lsp_server::Client;
use tower_lsp_server::lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Range, ShowDocumentParams,
    Uri,
};

use super::attribute_cache::AttributeCache;
pub use super::client::{CLIENT_REQUEST_TIMEOUT, ClientFlags};
use super::convert;
use super::progress::Progress;
use crate::run::{Cut, Selection, SelectionError, Source};
use crate::text::{Document, LineEdit, PositionEncoding};
use crate::workbench::{RunRecord, RunRequest, Settings, Workbench};

pub struct Session {
    pub client: Client,
    pub raw_initialize: Arc<OnceLock<Value>>,
    pub flags: OnceLock<ClientFlags>,
    pub documents: DashMap<Uri, Document>,
    pub folders: RwLock<Vec<PathBuf>>,
    /// The `azureSandbox` part of `initializationOptions`, under the editor's
    /// configuration.
    pub init_settings: RwLock<serde_json::Map<String, Value>>,
    /// Settings, backend, queues, run records and transcripts: the engine
    /// this server is an adapter for. Documents are named by URI there.
    pub workbench: Arc<Workbench>,
    /// Each run's work-done progress in the editor.
    pub progress: Progress,
    /// Cells of each open document, for the cell-marker pattern they were
    /// found with; dropped whenever the document changes.
    cells: DashMap<Uri, (Option<String>, Arc<Vec<crate::run::cells::Cell>>)>,
    /// The document the editor last sent or asked about: what a command
    /// without arguments means (Helix 25.01's `:lsp-workspace-command`
    /// cannot pass any).
    last_document: std::sync::Mutex<Option<Uri>>,
    /// Small numbers standing for document URIs in unresolved code lenses,
    /// so a lens carries a few bytes instead of its document's URI.
    lens_uris: LensUris,
    /// Held while a publication of diagnostics is taken and sent.
    publishing: tokio::sync::Mutex<()>,
    /// Live objects' attributes, for completion after `name.`.
    pub attributes: AttributeCache,
}

/// Interned URIs: a number per URI, for as long as the server runs (one
/// entry per document ever asked about: a few dozen bytes each).
#[derive(Default)]
struct LensUris {
    ids: DashMap<Uri, u32>,
    uris: DashMap<u32, Uri>,
    next: std::sync::atomic::AtomicU32,
}

impl Session {
    pub fn new(client: Client, raw_initialize: Arc<OnceLock<Value>>, workbench: Arc<Workbench>) -> Self {
        Self {
            progress: Progress::new(client.clone()),
            client,
            raw_initialize,
            flags: OnceLock::new(),
            documents: DashMap::new(),
            folders: RwLock::default(),
            init_settings: RwLock::default(),
            workbench,
            cells: DashMap::new(),
            last_document: std::sync::Mutex::new(None),
            lens_uris: LensUris::default(),
            publishing: tokio::sync::Mutex::new(()),
            attributes: AttributeCache::default(),
        }
    }

    /// The number that stands for `uri` in unresolved code lenses.
    pub fn lens_uri_id(&self, uri: &Uri) -> u32 {
        if let Some(id) = self.lens_uris.ids.get(uri) {
            return *id;
        }
        // Two requests may race to add the same URI: `entry` keeps one id.
        let id = *self
            .lens_uris
            .ids
            .entry(uri.clone())
            .or_insert_with(|| self.lens_uris.next.fetch_add(1, Ordering::Relaxed));
        self.lens_uris.uris.insert(id, uri.clone());
        id
    }

    /// The URI a code lens's number stands for.
    pub fn lens_uri(&self, id: u32) -> Option<Uri> {
        self.lens_uris.uris.get(&id).map(|uri| uri.clone())
    }

    pub fn touch(&self, uri: &Uri) {
        *self.last_document.lock().unwrap_or_else(|e| e.into_inner()) = Some(uri.clone());
    }

    /// The document last touched, if it is still open.
    pub fn last_document(&self) -> Option<Uri> {
        let last = self.last_document.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
        self.documents.contains_key(&last).then_some(last)
    }

    pub fn flags(&self) -> ClientFlags {
        self.flags.get().cloned().unwrap_or_default()
    }

    pub fn encoding(&self) -> PositionEncoding {
        self.flags.get().map(|f| f.encoding).unwrap_or(PositionEncoding::Utf16)
    }

    pub fn settings(&self) -> Settings {
        self.workbench.settings()
    }

    /// A copy of an open document (cheap: the rope is shared).
    pub fn document(&self, uri: &Uri) -> Option<Document> {
        self.documents.get(uri).map(|d| d.value().clone())
    }

    /// An open document and how many edits it has had, read together:
    /// did_change logs its edits while it holds the document, so the count
    /// is exactly the edits this text has seen. A run's lines are read from
    /// this text, and later edits move them.
    pub fn snapshot(&self, uri: &Uri) -> Option<(Document, usize)> {
        let doc = self.documents.get(uri)?;
        Some((doc.value().clone(), self.edits_seen(uri)))
    }

    /// How many edits `uri` has had: a run remembers this when asked for.
    pub fn edits_seen(&self, uri: &Uri) -> usize {
        self.workbench.book().edits_seen(uri.as_str())
    }

    /// Records that `edit` was applied to `uri`, and moves the document's
    /// runs and their diagnostics along. Returns true if a diagnostic moved
    /// or was cleared. Synchronous: called by did_change before any await,
    /// while it holds the document (lock order: documents, records, edit
    /// logs).
    pub fn apply_line_edit(&self, uri: &Uri, edit: LineEdit) -> bool {
        self.workbench.book().apply_line_edit(uri.as_str(), edit)
    }

    /// The cells of `doc` (the document at `uri`), computed once per version.
    pub fn cells(&self, uri: &Uri, doc: &Document) -> Arc<Vec<crate::run::cells::Cell>> {
        let settings = self.settings();
        let open = self.documents.get(uri).is_some_and(|d| d.version() == doc.version());
        if open {
            if let Some(cached) = self.cells.get(uri).filter(|c| c.0 == settings.cell_marker).map(|c| Arc::clone(&c.1))
            {
                return cached;
            }
        }
        let cells = Arc::new(crate::run::cells::cells_with(&doc.text(), &settings.markers()));
        if open {
            self.cells.insert(uri.clone(), (settings.cell_marker.clone(), Arc::clone(&cells)));
        }
        cells
    }

    /// Forgets what was derived from a document's text (it changed).
    pub fn text_changed(&self, uri: &Uri) {
        self.cells.remove(uri);
    }

    /// Records of a document (a copy).
    pub fn records_of(&self, uri: &Uri) -> Vec<RunRecord> {
        self.workbench.book().records_of(uri.as_str())
    }

    /// "Azure sandbox" or "local sandbox", for titles and messages.
    pub fn sandbox_name(&self) -> &'static str {
        self.workbench.sandbox_name()
    }

    /// Cuts `selection` out of `doc`, the text of `uri`, with the cell
    /// markers in force.
    pub fn cut(&self, uri: &Uri, doc: &Document, selection: &Selection) -> Result<Cut, SelectionError> {
        let cells = self.cells(uri, doc);
        let filename = convert::filename(uri);
        crate::run::selection::cut(&Source { filename: &filename, doc, cells: &cells }, selection)
    }

    /// The document lines `selection` covers, without cutting them.
    pub fn lines_of(&self, uri: &Uri, doc: &Document, selection: &Selection) -> Result<(u32, u32), SelectionError> {
        let cells = self.cells(uri, doc);
        let filename = convert::filename(uri);
        crate::run::selection::lines_of(&Source { filename: &filename, doc, cells: &cells }, selection)
    }

    /// Records a run of `cut` (lines of `uri` as they were after `seen`
    /// edits) and queues it on the document's workspace. Returns its id.
    pub fn submit_run(&self, uri: Uri, cut: Cut, seen: usize) -> u64 {
        let request = RunRequest {
            doc: uri.as_str().to_owned(),
            name: convert::short_name(&uri),
            root: self.workspace_of(&uri),
            cut,
            edits_seen: seen,
        };
        self.workbench.submit_run(request)
    }

    /// Opens a document in the client, in the background, where it can.
    pub fn show_document(self: &Arc<Self>, uri: Uri) {
        if !self.flags().show_document {
            return;
        }
        let session = Arc::clone(self);
        tokio::spawn(async move {
            let params = ShowDocumentParams { uri, external: Some(false), take_focus: Some(true), selection: None };
            match tokio::time::timeout(CLIENT_REQUEST_TIMEOUT, session.client.show_document(params)).await {
                Ok(Ok(true)) => {}
                other => tracing::debug!("the client did not show the output document: {other:?}"),
            }
        });
    }

    /// The workspace of a document: the longest workspace folder holding
    /// it; else its own directory; else (not a file) the first folder.
    pub fn workspace_of(&self, uri: &Uri) -> PathBuf {
        let folders = self.folders.read().unwrap_or_else(|e| e.into_inner()).clone();
        match convert::file_path(uri) {
            Some(path) => folders
                .iter()
                // Compare resolved paths too, as `in_workspace` does.
                .filter(|folder| {
                    let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                    path.starts_with(folder) || std::fs::canonicalize(folder).is_ok_and(|f| real.starts_with(f))
                })
                .max_by_key(|folder| folder.as_os_str().len())
                .cloned()
                .unwrap_or_else(|| path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"))),
            None => folders.first().cloned().unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| "/".into())),
        }
    }

    /// Is `path` inside a workspace folder, after resolving `..` and
    /// symbolic links on both sides?
    pub fn in_workspace(&self, path: &Path) -> bool {
        let Ok(real) = std::fs::canonicalize(path) else { return false };
        let folders = self.folders.read().unwrap_or_else(|e| e.into_inner()).clone();
        folders.iter().any(|f| std::fs::canonicalize(f).is_ok_and(|f| real.starts_with(f)))
    }

    /// The LSP diagnostics of a document, from its records, and the version
    /// of the text they are for.
    pub fn diagnostics(&self, uri: &Uri) -> (Vec<Diagnostic>, Option<i32>) {
        let encoding = self.encoding();
        // The records are read while the document is held, as did_change
        // moves them while holding it: lines and text agree.
        let (open, records) = {
            let open = self.documents.get(uri);
            let records = self.records_of(uri);
            (open.map(|d| d.value().clone()), records)
        };
        let version = open.as_ref().map(Document::version);
        // A run of a file that is not open (runLines with a path): convert
        // columns against the file as it is on disk.
        let doc = open.or_else(|| {
            let text = std::fs::read(convert::file_path(uri)?).ok()?;
            Some(Document::new(&String::from_utf8_lossy(&text), 0))
        });
        let mut out = Vec::new();
        for record in records {
            for spec in &record.diagnostics {
                let range = match &doc {
                    Some(doc) => {
                        convert::char_range(doc, spec.line, spec.start_col, spec.end_line, spec.end_col, encoding)
                    }
                    None => Range::new(
                        convert::position(crate::text::Pos::new(spec.line, spec.start_col.unwrap_or(0))),
                        convert::position(crate::text::Pos::new(spec.end_line, spec.end_col.unwrap_or(0))),
                    ),
                };
                let related: Vec<DiagnosticRelatedInformation> = spec
                    .related
                    .iter()
                    .filter_map(|(file, line, function)| {
                        let target = convert::uri_of_file(file)?;
                        let line = line.saturating_sub(1);
                        Some(DiagnosticRelatedInformation {
                            location: Location::new(
                                target,
                                Range::new(
                                    convert::position(crate::text::Pos::new(line, 0)),
                                    convert::position(crate::text::Pos::new(line, 0)),
                                ),
                            ),
                            message: format!("in {function}"),
                        })
                    })
                    .collect();
                out.push(Diagnostic {
                    range,
                    severity: Some(if spec.run_failure {
                        DiagnosticSeverity::WARNING
                    } else {
                        DiagnosticSeverity::ERROR
                    }),
                    code: Some(NumberOrString::String(spec.code.clone())),
                    source: Some("azure-sandbox".into()),
                    message: spec.message.clone(),
                    related_information: (!related.is_empty()).then_some(related),
                    data: match (&spec.missing_module, &spec.missing_file) {
                        (Some(module), _) => Some(json!({"missingModule": module, "runId": record.id})),
                        (None, Some(file)) => Some(json!({"missingFile": file, "runId": record.id})),
                        (None, None) => None,
                    },
                    ..Diagnostic::default()
                });
            }
        }
        (out, version)
    }

    /// Publishes a document's diagnostics with the version they are for.
    /// One publication at a time, so they leave in the order they were
    /// taken: an older one never overtakes a newer one.
    pub async fn publish(&self, uri: &Uri) {
        let _in_order = self.publishing.lock().await;
        let (diagnostics, version) = self.diagnostics(uri);
        self.client.publish_diagnostics(uri.clone(), diagnostics, version).await;
    }

    /// The newest started record covering `line`.
    pub fn record_at(&self, uri: &Uri, line: u32) -> Option<RunRecord> {
        self.workbench.book().record_at(uri.as_str(), line)
    }
}
