//! This server's protocol surface beyond standard LSP: command ids, custom
//! requests and notifications, and their parameters. Client authors: this
//! file and docs/protocol.md are the contract.

use serde::{Deserialize, Serialize};

use crate::workbench::JobSummary;

/// Commands in `executeCommandProvider`. Each returns at once.
pub mod command {
    /// `[{uri, range}]`: whole lines when the range spans lines, exactly the
    /// selected text when it lies within one line. Returns `{runId}`.
    pub const RUN: &str = "azureSandbox.run";
    /// `[{uri, position}]`: the cell holding the position. Returns `{runId}`.
    pub const RUN_CELL: &str = "azureSandbox.runCell";
    /// `[{uri, position}]`: everything above the cell holding the position.
    pub const RUN_ABOVE: &str = "azureSandbox.runAbove";
    /// `[{uri}]` or `[uriOrPath]`: the whole document.
    pub const RUN_FILE: &str = "azureSandbox.runFile";
    /// `[uriOrPath, startLine, endLine]`: 1-based inclusive lines (numbers or
    /// numeric strings), positional for Helix's `:lsp-workspace-command`.
    pub const RUN_LINES: &str = "azureSandbox.runLines";
    /// `[{uri}]` or `[uriOrPath]`: a new environment for the document's
    /// workspace. Returns `{jobId}`.
    pub const RESTART: &str = "azureSandbox.restart";
    /// `[{uri}]` or `[uriOrPath]`: cancels the running and queued jobs of the
    /// workspace; with no argument, of every workspace. Returns `{cancelled}`.
    pub const CANCEL: &str = "azureSandbox.cancel";
    /// `[{uri, package, runId?}]`: `pip install` in the workspace's
    /// environment; with `runId`, then offers to run that run's lines again.
    /// Returns `{jobId}`.
    pub const INSTALL_PACKAGE: &str = "azureSandbox.installPackage";
    /// `[{uri}]` or `[uriOrPath]`: opens the workspace's output document.
    /// Returns `{uri}`.
    pub const SHOW_OUTPUT: &str = "azureSandbox.showOutput";
    /// `[{uri}]`, `[uriOrPath]` or nothing (any workspace): the workspace's
    /// latest figure, `{path, uri, mime, width?, height?, bytes}`, or null.
    pub const LATEST_FIGURE: &str = "azureSandbox.latestFigure";
    /// Like [`LATEST_FIGURE`], and opens it with the system viewer
    /// (`AZURE_SANDBOX_OPENER`, else xdg-open or open).
    pub const OPEN_FIGURE: &str = "azureSandbox.openFigure";
    /// `[{uri}]`, `[uriOrPath]` or nothing (the last document): appends the
    /// workspace's variables to its transcript. Returns `{count}`.
    pub const SHOW_VARIABLES: &str = "azureSandbox.showVariables";
    /// `[{uri, paths, runId?}]` or `[path, ...]` (workspace-relative or
    /// absolute): sends those files and folders to the environment (even
    /// ignored ones, never secrets); with `runId`, runs that run again after.
    /// Returns `{jobId}`.
    pub const SEND_FILES: &str = "azureSandbox.sendFiles";
    /// `[{uri, paths?}]`, `[path, ...]` or `[]`: fetches files from the
    /// environment's mirror into the workspace (none named: what the latest
    /// run wrote); never over a local file. Returns `{jobId}`.
    pub const FETCH_FILES: &str = "azureSandbox.fetchFiles";
    /// `[{uri}]`, `[uriOrPath]` or `[]`: appends the mirror's file list to
    /// the transcript (for clients without `azureSandbox/files`). Returns `{}`.
    pub const LIST_FILES: &str = "azureSandbox.listFiles";

    pub const ALL: [&str; 15] = [
        RUN,
        RUN_CELL,
        RUN_ABOVE,
        RUN_FILE,
        RUN_LINES,
        RESTART,
        CANCEL,
        INSTALL_PACKAGE,
        SHOW_OUTPUT,
        LATEST_FIGURE,
        OPEN_FIGURE,
        SHOW_VARIABLES,
        SEND_FILES,
        FETCH_FILES,
        LIST_FILES,
    ];
}

/// Request `azureSandbox/output`: the transcript for a Python document's
/// workspace, or for an `azure-sandbox-output:` URI.
pub const OUTPUT_REQUEST: &str = "azureSandbox/output";
/// Notification `azureSandbox/outputChanged` (server → client) after each run.
pub const OUTPUT_CHANGED: &str = "azureSandbox/outputChanged";
/// Notification `azureSandbox/runFinished` (server → client): exactly one for
/// every job a command queued (runs, installs, restarts), however it ended.
pub const RUN_FINISHED: &str = "azureSandbox/runFinished";
/// Request `azureSandbox/variables`: `{uri, path?}` → the workspace's
/// snapshot, or one level of the value at `path` (see docs/protocol.md).
pub const VARIABLES_REQUEST: &str = "azureSandbox/variables";
/// Request `azureSandbox/files`: `{uri}` → the files in the workspace's
/// mirror in the environment, `{root, files: [{path, size, mtime}], more}`.
pub const FILES_REQUEST: &str = "azureSandbox/files";
/// Request `azureSandbox/localSandbox`: `{}` → `{endpoint}`: the embedded
/// local sandbox's endpoint (started if the settings choose it; no code
/// runs), or `null` for a remote sandbox. No key: the client chose it.
pub const LOCAL_SANDBOX_REQUEST: &str = "azureSandbox/localSandbox";
/// Notification `azureSandbox/variablesChanged` (server → client):
/// `{uri, state, reason}` when a workspace's live state changed.
pub const VARIABLES_CHANGED: &str = "azureSandbox/variablesChanged";
/// LSP 3.18 `workspace/textDocumentContent`, for the output scheme.
pub const TEXT_DOCUMENT_CONTENT: &str = "workspace/textDocumentContent";
/// LSP 3.18 `workspace/textDocumentContent/refresh` (server → client).
pub const TEXT_DOCUMENT_CONTENT_REFRESH: &str = "workspace/textDocumentContent/refresh";
/// Not in tower-lsp's trait: the user pressed cancel on a progress.
pub const PROGRESS_CANCEL: &str = "window/workDoneProgress/cancel";

#[derive(Debug, Clone, Deserialize)]
pub struct UriParams {
    pub uri: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputResult {
    pub uri: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TextDocumentContentResult {
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputChangedParams {
    pub uri: String,
}

/// `azureSandbox/variablesChanged`.
#[derive(Debug, Clone, Serialize)]
pub struct VariablesChangedParams {
    /// The workspace folder's `file://` URI.
    pub uri: String,
    pub state: crate::workbench::SnapshotState,
    pub reason: Option<crate::workbench::LostReason>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProgressCancelParams {
    pub token: serde_json::Value,
}

/// What `azureSandbox.run*` commands return.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunAccepted {
    pub run_id: u64,
}

/// `azureSandbox/runFinished`: how a job ended, typed, so that no client
/// parses English. `runId`, `kind` (`python`, `install`, `restart`),
/// `label`, `status` (`succeeded`, `raised`, `stopped`, `failed`,
/// `cancelled`), `durationMs`, `notices` (`{kind: "stateLost", reason:
/// "expired" | "interpreterReplaced"}`, `{kind: "outputCut", stream}`),
/// `error` (`{kind, message}`, kind one of `noKey`, `keyRefused`,
/// `unreachable`, `poolFull`, `noLocalPython`, `timeout`, `notConfigured`,
/// `poolSetup`, `service`), `firstLine`/`lastLine` (0-based, runs only),
/// `code`, `outputs` (`stream`, `display` with text forms by mime type and
/// an image's saved `figure`, `value`, `error`) and `figures`, plus the
/// document's `uri` and the workspace's `outputUri`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFinishedParams {
    pub uri: Option<String>,
    pub output_uri: String,
    #[serde(flatten)]
    pub summary: JobSummary,
}
