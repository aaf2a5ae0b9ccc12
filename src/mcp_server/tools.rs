//! The tools an agent calls. Each one is a workbench job or query in the
//! workspace's environment; code runs only when a tool is called.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Implementation, ProgressNotificationParam, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::results::{self, JobOutcome, RunOutcome};
use super::waiters::Waiters;
use super::workspace::{self, WorkspaceChoice};
use crate::run::cells::{CellMarkers, cells_with};
use crate::run::{InspectKind, Selection, Source, cut_code};
use crate::text::Document;
use crate::workbench::{Finished, RunRequest, SandboxStart, Workbench};

/// How long listing variables may take (one request to the sandbox).
const INSPECT_TIMEOUT: Duration = Duration::from_secs(15);

const INSTRUCTIONS: &str = "Runs Python in the user's sandbox environment for this workspace: an Azure Container \
    Apps dynamic session (or a local sandbox), the same interpreter the user's editor runs code in. Names defined \
    here are visible to the user's next run and the other way round, so prefer small steps over re-running \
    everything. The workspace's files are copied into the environment before each run; the working directory is \
    the copy of the workspace (or of the file's folder when you name a file). Files a run writes stay in the \
    environment until fetch_files brings them into the workspace. Everything you run is shown to the user, \
    marked as the agent's.";

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RunPythonArgs {
    /// Python code to run. Optional when `file` is given: then the file's
    /// lines run (all of it, as `python3 FILE` runs it, or `first_line` to
    /// `last_line`).
    #[serde(default)]
    pub code: Option<String>,
    /// A workspace file (relative to the workspace, or absolute inside it)
    /// the code belongs to: errors come back at that file's lines, and the
    /// working directory is the copy of the file's folder.
    #[serde(default)]
    pub file: Option<String>,
    /// 1-based line of `file` where `code` starts, or the first line of
    /// `file` to run when no code is given.
    #[serde(default)]
    pub first_line: Option<u32>,
    /// The last line of `file` to run (inclusive) when no code is given.
    #[serde(default)]
    pub last_line: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RunShellArgs {
    /// A shell command (`sh -c`), run in the environment's copy of the
    /// workspace. It gets no input; use it for short commands (`ls`, `pip
    /// list`, `head data.csv`).
    pub command: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct InstallArgs {
    /// What `pip install` takes: a name with an optional version
    /// specifier (`pandas`, `scikit-learn==1.5.2`).
    pub package: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListVariablesArgs {
    /// A path into a value to list one level of it: a variable's name,
    /// then dict keys, list indexes, DataFrame columns or attribute names
    /// (`["df"]`, `["config", "paths"]`). Empty: the user's variables.
    #[serde(default)]
    pub path: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendFilesArgs {
    /// Workspace files or folders (relative to the workspace, or absolute
    /// inside it). Sent even if ignored by .gitignore; files that look like
    /// secrets (.env, keys, credentials) are never sent.
    pub paths: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct FetchFilesArgs {
    /// Files in the environment's copy of the workspace, as list_files
    /// names them. Empty: the files the latest run wrote. A different
    /// local file is never overwritten: the fetched one is saved beside it
    /// as `name (sandbox).ext`.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// One variable, for `list_variables`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariableInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// At most 200 characters.
    pub repr: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// It has contents to list with a longer path.
    pub expandable: bool,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariablesOutcome {
    pub variables: Vec<VariableInfo>,
    /// Entries not listed.
    pub more: u64,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilesOutcome {
    /// The copy's directory in the environment.
    pub root: String,
    pub files: Vec<results::WrittenFile>,
    pub more: u64,
}

#[derive(Clone)]
pub struct SandboxTools {
    bench: Arc<Workbench>,
    waiters: Arc<Waiters>,
    workspace: Arc<WorkspaceChoice>,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl SandboxTools {
    pub fn new(bench: Arc<Workbench>, waiters: Arc<Waiters>, workspace: WorkspaceChoice) -> Self {
        Self { bench, waiters, workspace: Arc::new(workspace), tool_router: Self::tool_router() }
    }

    #[tool(
        description = "Run Python code in the workspace's sandbox environment (shared with the user's editor: \
                       variables persist between calls and between the user's runs and yours). Returns stdout, \
                       stderr, the value of a trailing expression, the exception with its line, figures \
                       (matplotlib, PIL) as images, and files written. Name `file` (and `first_line`) to have \
                       errors reported at that file's lines, or give only `file` to run the file.",
        output_schema = schema_for_output::<RunOutcome>()
    )]
    async fn run_python(
        &self,
        Parameters(args): Parameters<RunPythonArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let root = self.workspace.root(&context.peer).await;
        let request = match python_request(&root, &args) {
            Ok(request) => request,
            Err(why) => return results::refused(why),
        };
        let Some(finished) = self.run(request, &context).await else { return stopped() };
        let (outcome, images) = results::run_outcome(&finished);
        results::run_result(&outcome, images)
    }

    #[tool(
        description = "Run a shell command (sh -c) in the workspace's sandbox environment, in its copy of the \
                       workspace. Returns stdout, stderr and the exit code. No input is given to it.",
        output_schema = schema_for_output::<RunOutcome>()
    )]
    async fn run_shell(
        &self,
        Parameters(args): Parameters<RunShellArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        if args.command.trim().is_empty() {
            return results::refused("give a command to run");
        }
        let root = self.workspace.root(&context.peer).await;
        let Some(finished) = self.run(shell_request(&root, &args.command), &context).await else { return stopped() };
        let (mut outcome, images) = results::run_outcome(&finished);
        // The wrapper's value is the command's exit status.
        outcome.exit_code = outcome.value.take().and_then(|v| v.trim().parse().ok());
        results::run_result(&outcome, images)
    }

    #[tool(
        description = "Install a Python package into the workspace's sandbox environment with pip (the user's \
                       environment too: it is the same one).",
        output_schema = schema_for_output::<JobOutcome>()
    )]
    async fn install_package(
        &self,
        Parameters(args): Parameters<InstallArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let package = args.package.trim();
        if package.is_empty() || package.starts_with('-') || package.contains(char::is_whitespace) {
            return results::refused("give one package for pip, such as `pandas` or `requests==2.32.3`");
        }
        let root = self.workspace.root(&context.peer).await;
        let id = self.bench.submit_install(root, None, package.to_owned(), None);
        let Some(finished) = self.finish(id, &context).await else { return stopped() };
        results::job_result(&results::job_outcome(&finished))
    }

    #[tool(
        description = "List the variables in the workspace's sandbox environment (the user's and yours): type, \
                       shape, size and a short repr. Give `path` to list one level inside a value (dict keys, \
                       list items, DataFrame columns, object attributes).",
        output_schema = schema_for_output::<VariablesOutcome>()
    )]
    async fn list_variables(
        &self,
        Parameters(args): Parameters<ListVariablesArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let root = self.workspace.root(&context.peer).await;
        let inspection = match self
            .bench
            .inspect(&root, &args.path, InspectKind::Children, INSPECT_TIMEOUT, SandboxStart::IfNeeded)
            .await
        {
            Ok(Some(inspection)) => inspection,
            Ok(None) => {
                return results::answer(
                    "nothing has run in this workspace's environment yet: it has no variables".into(),
                    &VariablesOutcome::default(),
                );
            }
            Err(e) => return results::refused(e.to_string()),
        };
        if inspection.missing && args.path.is_empty() {
            // The environment exists but no run has set it up yet.
            let text = "nothing has run in this workspace's environment yet: it has no variables";
            return results::answer(text.into(), &VariablesOutcome::default());
        }
        if inspection.missing {
            return results::refused(format!("{:?} is not in the environment (any more)", args.path));
        }
        if let Some(why) = inspection.failed {
            return results::refused(format!("listing {:?} raised {why}", args.path));
        }
        let variables: Vec<VariableInfo> = inspection
            .children
            .into_iter()
            .map(|c| VariableInfo {
                name: c.name,
                type_name: c.value.type_name,
                shape: c.value.shape,
                size: c.value.size,
                repr: c.value.repr,
                columns: c.value.columns,
                expandable: c.value.expandable,
            })
            .collect();
        let mut text = String::new();
        for v in &variables {
            let shape = v.shape.as_deref().map(|s| format!(" {s}")).unwrap_or_default();
            let _ = writeln!(text, "{}: {}{shape} = {}", v.name, v.type_name, v.repr);
        }
        if inspection.more > 0 {
            let _ = writeln!(text, "… and {} more", inspection.more);
        }
        if text.is_empty() {
            text.push_str("(no variables)\n");
        }
        results::answer(text, &VariablesOutcome { variables, more: inspection.more })
    }

    #[tool(
        description = "Send workspace files or folders to the sandbox environment's copy of the workspace (runs \
                       send what changed by themselves; use this for files .gitignore leaves out).",
        output_schema = schema_for_output::<JobOutcome>()
    )]
    async fn send_files(
        &self,
        Parameters(args): Parameters<SendFilesArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let root = self.workspace.root(&context.peer).await;
        if args.paths.is_empty() {
            return results::refused("name the workspace files or folders to send");
        }
        let mut paths = Vec::new();
        for named in &args.paths {
            match workspace::local_path(&root, named) {
                Ok(path) => paths.push(path),
                Err(why) => return results::refused(why),
            }
        }
        let id = self.bench.submit_send(root, None, paths, None);
        let Some(finished) = self.finish(id, &context).await else { return stopped() };
        results::job_result(&results::job_outcome(&finished))
    }

    #[tool(
        description = "Fetch files from the sandbox environment's copy of the workspace into the workspace (none \
                       named: the files the latest run wrote). Never overwrites a different local file: the \
                       fetched one is saved beside it as `name (sandbox).ext`.",
        output_schema = schema_for_output::<JobOutcome>()
    )]
    async fn fetch_files(
        &self,
        Parameters(args): Parameters<FetchFilesArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let root = self.workspace.root(&context.peer).await;
        let mut paths = Vec::new();
        for named in &args.paths {
            match workspace::mirror_path(named) {
                Ok(path) => paths.push(path),
                Err(why) => return results::refused(why),
            }
        }
        let id = self.bench.submit_fetch(root, None, paths);
        let Some(finished) = self.finish(id, &context).await else { return stopped() };
        results::job_result(&results::job_outcome(&finished))
    }

    #[tool(
        description = "List the files in the sandbox environment's copy of the workspace (path and size), \
                       including files runs wrote there.",
        output_schema = schema_for_output::<FilesOutcome>()
    )]
    async fn list_files(&self, context: RequestContext<RoleServer>) -> CallToolResult {
        let root = self.workspace.root(&context.peer).await;
        match self.bench.list_files(&root, SandboxStart::IfNeeded).await {
            Ok(listing) => {
                let files: Vec<results::WrittenFile> =
                    listing.files.iter().map(|f| results::WrittenFile { path: f.path.clone(), size: f.size }).collect();
                let mut text = format!("{} ({} files)\n", listing.root, files.len());
                for file in &files {
                    let _ = writeln!(text, "{} ({} bytes)", file.path, file.size);
                }
                if listing.more > 0 {
                    let _ = writeln!(text, "… and {} more", listing.more);
                }
                results::answer(text, &FilesOutcome { root: listing.root, files, more: listing.more })
            }
            Err(e) => results::refused(e.to_string()),
        }
    }

    #[tool(
        description = "Replace the workspace's sandbox environment with a new, empty one (all variables are \
                       lost, for the user too). Use it when the interpreter is stuck or its state is broken.",
        output_schema = schema_for_output::<JobOutcome>()
    )]
    async fn restart_environment(&self, context: RequestContext<RoleServer>) -> CallToolResult {
        let root = self.workspace.root(&context.peer).await;
        let id = self.bench.submit_restart(root, None);
        let Some(finished) = self.finish(id, &context).await else { return stopped() };
        results::job_result(&results::job_outcome(&finished))
    }
}

impl SandboxTools {
    /// Queues a run and waits for it. Each run is a document of its own in
    /// the run book, forgotten once it ended: an agent's runs are never
    /// looked up by line, and a long session must not pile them up.
    async fn run(&self, request: RunRequest, context: &RequestContext<RoleServer>) -> Option<Box<Finished>> {
        let doc = request.doc.clone();
        let id = self.bench.submit_run(request);
        let finished = self.finish(id, context).await;
        self.bench.book().forget(&doc);
        finished
    }

    /// Waits for job `id`; a cancelled call cancels the job and still waits
    /// for its end (quick), so nothing is left behind.
    /// While it runs, a client that asked for progress (a `progressToken`)
    /// hears about it every second: agents show it, and know it is alive.
    async fn finish(&self, id: u64, context: &RequestContext<RoleServer>) -> Option<Box<Finished>> {
        let token = context.meta.get_progress_token();
        let mut progress = self.waiters.listen(id);
        let wait = self.waiters.wait(id);
        tokio::pin!(wait);
        let mut step = 0.0;
        loop {
            tokio::select! {
                finished = &mut wait => return finished,
                _ = context.ct.cancelled() => {
                    self.bench.cancel_run(id);
                    return wait.await;
                }
                Some(message) = progress.recv() => {
                    if let Some(token) = &token {
                        step += 1.0;
                        let note = ProgressNotificationParam::new(token.clone(), step).with_message(message);
                        // A client gone is seen by the wait; nothing to do here.
                        let _ = context.peer.notify_progress(note).await;
                    }
                }
            }
        }
    }
}

// The router is built once, not per call (the macro's default).
#[tool_handler(router = self.tool_router)]
impl ServerHandler for SandboxTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("azure-sandbox-lsp", env!("CARGO_PKG_VERSION"))
                    .with_title("Azure sandbox (the workspace's Python environment)"),
            )
            .with_instructions(INSTRUCTIONS)
    }
}

fn stopped() -> CallToolResult {
    results::refused("the server is shutting down; the run's end was not seen")
}

/// A `run_python` call as a workbench run.
fn python_request(root: &Path, args: &RunPythonArgs) -> Result<RunRequest, String> {
    let file = match &args.file {
        Some(named) => Some(workspace::local_path(root, named)?),
        None => None,
    };
    let cut = match (&args.code, &file) {
        (Some(code), _) if code.trim().is_empty() => return Err("the code is empty".into()),
        (Some(code), Some(file)) => cut_code(&file.to_string_lossy(), code, args.first_line.unwrap_or(1)),
        (Some(code), None) => cut_code(&agent_file(root).to_string_lossy(), code, 1),
        (None, Some(file)) => cut_file(file, args.first_line, args.last_line)?,
        (None, None) => return Err("give `code` to run, or a `file` of the workspace".into()),
    };
    let name = file.as_deref().map_or("agent".into(), short_name);
    Ok(RunRequest { doc: agent_doc(), name, root: root.to_owned(), cut, edits_seen: 0 })
}

/// The lines of a workspace file to run.
fn cut_file(file: &Path, first: Option<u32>, last: Option<u32>) -> Result<crate::run::Cut, String> {
    let text = std::fs::read_to_string(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => format!("{}: not UTF-8 text; save it as UTF-8", file.display()),
        _ => format!("cannot read {}: {e}", file.display()),
    })?;
    let doc = Document::new(&text, 0);
    let filename = file.to_string_lossy();
    let cells = cells_with(&text, &CellMarkers::Standard);
    let selection = match (first, last) {
        (None, None) => Selection::File,
        (first, last) => {
            let first = first.unwrap_or(1).max(1);
            let last = last.unwrap_or(first).max(first);
            Selection::Lines { first: first - 1, last: last - 1 }
        }
    };
    crate::run::selection::cut(&Source { filename: &filename, doc: &doc, cells: &cells }, &selection)
        .map_err(|e| e.to_string())
}

/// A `run_shell` call as a workbench run: Python that runs the command and
/// leaves its exit status as the trailing value, defining no names.
fn shell_request(root: &Path, command: &str) -> RunRequest {
    let literal = serde_json::to_string(command).unwrap_or_else(|_| "''".into());
    let code = format!(
        "(lambda r: (print(r.stdout, end=''), print(r.stderr, end='', file=__import__('sys').stderr), \
         r.returncode)[2])(__import__('subprocess').run({literal}, shell=True, capture_output=True, text=True, \
         errors='replace', stdin=__import__('subprocess').DEVNULL))"
    );
    let name: String = format!("$ {}", command.lines().next().unwrap_or_default());
    let name =
        if name.chars().count() > 60 { format!("{}…", name.chars().take(59).collect::<String>()) } else { name };
    let cut = cut_code(&agent_file(root).to_string_lossy(), &code, 1);
    RunRequest { doc: agent_doc(), name, root: root.to_owned(), cut, edits_seen: 0 }
}

/// A run book document name for one agent run.
fn agent_doc() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    format!("agent:{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// The name code without a file carries: in the workspace (so it runs in
/// the workspace's copy), and plainly not a file of it.
fn agent_file(root: &Path) -> PathBuf {
    root.join("<agent>")
}

fn short_name(file: &Path) -> String {
    file.file_name().map_or_else(|| file.to_string_lossy().into_owned(), |n| n.to_string_lossy().into_owned())
}
