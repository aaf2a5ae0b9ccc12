//! One engine for the editor and the command line: run a snippet in its
//! workspace's environment and report what happened in terms a user (or an
//! editor) can show at the right place.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::mcp::{EnvironmentId, McpClient, McpError, PythonOutput, ShellCommand, ShellOutput};

use super::bulk;
use super::display::{DisplayItem, DisplayOptions};
use super::outcome::{ChangedFile, Outcome, PyException, split_marker};
use super::output::{Notice, Output, StateLoss, Stream};
use super::registry::{Assigned, Registry, WorkspaceKey};
use super::snippet::Snippet;
use super::variables::{InspectKind, Inspection, VariablesDelta};
use super::wrapper::{self, DEFAULT_OUTPUT_LIMIT, MirrorSpec};

/// What a run amounted to.
#[derive(Debug, Clone, PartialEq)]
pub enum RunResult {
    /// The code ran to the end; `value` is the repr of a trailing expression.
    Succeeded { value: Option<String> },
    /// The code raised.
    Raised(PyException),
    /// The sandbox stopped the run (time limit, dead process) or its result
    /// could not be read. `at` is where it was stopped, when known.
    Failed { reason: String, at: Option<PyException> },
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The user's stdout, with the engine's marker removed.
    pub stdout: String,
    pub stderr: String,
    pub result: RunResult,
    pub environment: EnvironmentId,
    /// Figures, images and tables: what the runtime collected, then any MCP
    /// image content blocks the service returned.
    pub displays: Vec<DisplayItem>,
    /// A new environment was launched for this run.
    pub fresh_environment: bool,
    /// Things the user should know, typed.
    pub notices: Vec<Notice>,
    pub wall_time: Duration,
    pub execution_ms: Option<u64>,
    /// What changed in the environment's namespace (or all of it, `full`),
    /// when the runtime could say.
    pub variables: Option<VariablesDelta>,
    /// Files the run created or changed in the workspace mirror (the first
    /// 100), and how many more.
    pub files: Vec<ChangedFile>,
    pub files_more: u64,
    /// Files the run carried into the mirror that the environment refused:
    /// (path, why).
    pub mirror_failures: Vec<(String, String)>,
}

/// How to make one run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Instead of the client's run timeout.
    pub timeout: Option<Duration>,
    /// The workspace mirror the file runs in.
    pub mirror: Option<MirrorSpec>,
}

impl RunReport {
    pub fn succeeded(&self) -> bool {
        matches!(self.result, RunResult::Succeeded { .. })
    }

    /// Why earlier state (variables, imports) is gone, if it is.
    pub fn state_lost(&self) -> Option<StateLoss> {
        self.notices.iter().find_map(|n| match n {
            Notice::StateLost { reason } => Some(*reason),
            _ => None,
        })
    }

    /// How long the code ran: the sandbox's own figure, else the wall time.
    pub fn duration(&self) -> Duration {
        self.execution_ms.map(Duration::from_millis).unwrap_or(self.wall_time)
    }

    /// The run's outputs in the order a notebook shows them: stdout with
    /// each display item where the run made it, stderr, then the trailing
    /// value (unless a display item shows it richly) or the error.
    pub fn outputs(&self) -> Vec<Output<'_>> {
        let mut outputs = Vec::new();
        // Items the runtime placed in the stream, then any without a place
        // (MCP image blocks) after it.
        let (placed, unplaced): (Vec<&DisplayItem>, Vec<&DisplayItem>) =
            self.displays.iter().partition(|d| d.after_stdout.is_some());
        let mut shown = 0; // bytes of stdout already out
        for display in placed {
            let chars = display.after_stdout.unwrap_or(0);
            let at = self.stdout.char_indices().nth(chars).map_or(self.stdout.len(), |(byte, _)| byte);
            if at > shown {
                outputs.push(Output::Stream { stream: Stream::Stdout, text: &self.stdout[shown..at] });
                shown = at;
            }
            outputs.push(Output::Display(display));
        }
        if shown < self.stdout.len() {
            outputs.push(Output::Stream { stream: Stream::Stdout, text: &self.stdout[shown..] });
        }
        outputs.extend(unplaced.into_iter().map(Output::Display));
        if !self.stderr.is_empty() {
            outputs.push(Output::Stream { stream: Stream::Stderr, text: &self.stderr });
        }
        let value_shown = self.displays.iter().any(|d| d.is_result);
        match &self.result {
            RunResult::Succeeded { value: Some(value) } if !value_shown => outputs.push(Output::Value(value)),
            RunResult::Raised(exception) => outputs.push(Output::Error(exception)),
            RunResult::Failed { at: Some(exception), .. } => outputs.push(Output::Error(exception)),
            _ => {}
        }
        outputs
    }
}

pub struct Engine {
    client: McpClient,
    registry: Arc<Registry>,
    /// Once the service has shown it returns stderr, the runtime need not
    /// carry a copy inside the outcome.
    service_returns_stderr: AtomicBool,
    /// Characters of each stream the runtime keeps for the bulk channel.
    output_limit: usize,
    /// Figure settings and the display limit, read at each run (a front
    /// end changes them without a new engine).
    display: std::sync::Mutex<DisplayOptions>,
    /// The namespace snapshot each environment last sent this engine
    /// (`epoch:seq`): its next run sends only what changed since.
    variables_seen: std::sync::Mutex<std::collections::HashMap<EnvironmentId, String>>,
    /// Environments launched ahead of time ([`Engine::prepare`]) whose first
    /// run must still bring the runtime.
    prepared: std::sync::Mutex<std::collections::HashSet<EnvironmentId>>,
    /// Workspaces whose environment a transfer found gone and replaced: their
    /// next run says the state was lost.
    replaced: std::sync::Mutex<std::collections::HashSet<WorkspaceKey>>,
}

impl Engine {
    pub fn new(client: McpClient, registry: Arc<Registry>) -> Self {
        Self {
            client,
            registry,
            service_returns_stderr: AtomicBool::new(false),
            output_limit: DEFAULT_OUTPUT_LIMIT,
            display: Default::default(),
            variables_seen: Default::default(),
            prepared: Default::default(),
            replaced: Default::default(),
        }
    }

    /// This engine, keeping `limit` characters of each stream (at least 1,000).
    pub fn with_output_limit(mut self, limit: usize) -> Self {
        self.output_limit = limit.max(1000);
        self
    }

    /// Figure settings and the display limit for the runs from now on.
    pub fn set_display_options(&self, options: DisplayOptions) {
        *self.display.lock().unwrap_or_else(|e| e.into_inner()) = options;
    }

    pub fn client(&self) -> &McpClient {
        &self.client
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The registry key for a workspace root on this engine's endpoint.
    pub fn workspace_key(&self, root: PathBuf) -> WorkspaceKey {
        WorkspaceKey { endpoint: self.client.endpoint().display(), root }
    }

    /// Gets the workspace ready before the user runs anything: the MCP
    /// session, the launcher and the environment (the service allocates a
    /// container only at the first command, so launching costs nothing).
    /// Runs no code.
    pub async fn prepare(&self, key: &WorkspaceKey) -> Result<(), McpError> {
        let assigned = self.environment(key).await?;
        if assigned.fresh {
            self.prepared.lock().unwrap_or_else(|e| e.into_inner()).insert(assigned.id);
        }
        Ok(())
    }

    /// Whether a run in `assigned` must bring the runtime along: the
    /// environment is new (launched for this run, or ahead of time).
    fn needs_runtime(&self, assigned: &Assigned) -> bool {
        let prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner()).remove(&assigned.id);
        assigned.fresh || prepared
    }

    /// The workspace's environment, launched if needed.
    pub async fn environment(&self, key: &WorkspaceKey) -> Result<Assigned, McpError> {
        self.registry.environment(key, || self.client.launch()).await
    }

    /// A transfer found the workspace's environment `stale` gone: launches
    /// a new one, whose first run brings the runtime and says the earlier
    /// state was lost.
    pub async fn replace_gone(&self, key: &WorkspaceKey, stale: &EnvironmentId) -> Result<Assigned, McpError> {
        let fresh = self.registry.replace(key, stale, || self.client.launch()).await?;
        self.prepared.lock().unwrap_or_else(|e| e.into_inner()).insert(fresh.id.clone());
        self.replaced.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone());
        Ok(fresh)
    }

    /// Drops the workspace's environment and launches a new one.
    pub async fn restart(&self, key: &WorkspaceKey) -> Result<EnvironmentId, McpError> {
        self.registry.forget(key).await;
        Ok(self.environment(key).await?.id)
    }

    /// Runs a shell command in the workspace's environment, launching a new
    /// one (once) if the service says it is gone.
    pub async fn run_shell(&self, key: &WorkspaceKey, command: &ShellCommand) -> Result<ShellOutput, McpError> {
        let assigned = self.environment(key).await?;
        match self.client.run_shell(&assigned.id, command).await {
            Err(e) if e.is_environment_gone() => {
                let fresh = self.registry.replace(key, &assigned.id, || self.client.launch()).await?;
                self.client.run_shell(&fresh.id, command).await
            }
            other => other,
        }
    }

    /// Runs `snippet` in the workspace's environment. If the service says the
    /// environment is gone, launches a new one and runs once more there.
    pub async fn run(&self, key: &WorkspaceKey, snippet: &Snippet) -> Result<RunReport, McpError> {
        self.run_with_timeout(key, snippet, None).await
    }

    /// [`Engine::run`], waiting `timeout` (instead of the client's run
    /// timeout) for the run's answer.
    ///
    /// One request in the usual case. The runtime's source goes along only
    /// to a new environment, or again when a lean run finds it missing (the
    /// interpreter was replaced: nothing ran, so running again is safe). When
    /// the service cut the output, the whole record comes through the bulk
    /// channel.
    pub async fn run_with_timeout(
        &self,
        key: &WorkspaceKey,
        snippet: &Snippet,
        timeout: Option<Duration>,
    ) -> Result<RunReport, McpError> {
        self.run_with(key, snippet, &RunOptions { timeout, mirror: None }).await
    }

    /// [`Engine::run`] with options: a time limit, and the workspace mirror
    /// the file runs in (its files sent beforehand, see `mirror`).
    pub async fn run_with(
        &self,
        key: &WorkspaceKey,
        snippet: &Snippet,
        options: &RunOptions,
    ) -> Result<RunReport, McpError> {
        let timeout = options.timeout.unwrap_or(self.client.options().run_timeout);
        let mirror = options.mirror.as_ref();
        let started = Instant::now();
        let nonce = wrapper::new_nonce();
        let want_stderr = !self.service_returns_stderr.load(Ordering::Relaxed);
        let display = *self.display.lock().unwrap_or_else(|e| e.into_inner());
        let seen = |id: &EnvironmentId| self.variables_seen.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        let code = |install, known: Option<String>| {
            let asks = wrapper::RunAsks {
                want_stderr,
                output_limit: self.output_limit,
                display: &display,
                variables: known.as_deref(),
                mirror,
            };
            wrapper::run_code(snippet, &nonce, install, &asks)
        };
        let mut assigned = self.environment(key).await?;
        let mut notices = Vec::new();
        if self.replaced.lock().unwrap_or_else(|e| e.into_inner()).remove(key) {
            notices.push(Notice::StateLost { reason: StateLoss::Expired });
        }
        let install = self.needs_runtime(&assigned);
        let known = seen(&assigned.id);
        let mut output = match self.client.run_python_with_timeout(&assigned.id, &code(install, known), timeout).await {
            Err(e) if e.is_environment_gone() => {
                tracing::info!(environment = %assigned.id, "environment gone; launching a new one");
                let stale = assigned.id.clone();
                assigned = self.registry.replace(key, &stale, || self.client.launch()).await?;
                notices.push(Notice::StateLost { reason: StateLoss::Expired });
                self.client.run_python_with_timeout(&assigned.id, &code(true, None), timeout).await?
            }
            other => other?,
        };
        let mut replaced = interpreter_replaced(&output);
        if split_marker(&output.stdout, &nonce).1.is_some_and(|o| o.missing_runtime) {
            tracing::debug!(environment = %assigned.id, "the interpreter lacks the runtime; sending it");
            output = self.client.run_python_with_timeout(&assigned.id, &code(true, None), timeout).await?;
            replaced |= interpreter_replaced(&output);
        }
        if output.stderr.is_some() {
            self.service_returns_stderr.store(true, Ordering::Relaxed);
        }
        let (mut stdout, mut outcome) = split_marker(&output.stdout, &nonce);
        let mut service_stderr = output.stderr.clone();
        let cut = outcome.is_none() || output.stdout_truncated || output.stderr_truncated;
        // Figures and tables stay in the environment's record of the run.
        let has_displays = outcome.as_ref().is_some_and(|o| o.displays > 0 || o.vars_in_record);
        let known_total = outcome.as_ref().and_then(|o| o.record);
        let mut whole = false;
        let mut displays = Vec::new();
        let mut record_variables = None;
        if (cut || has_displays) && !replaced {
            // The marker did not make it, or a stream came back short: the
            // environment kept the whole run.
            let observed_cap = output.stdout_truncated.then(|| output.stdout.chars().count());
            if let Some(record) =
                bulk::fetch_record(&self.client, &assigned.id, &nonce, observed_cap, known_total).await
            {
                whole = true;
                displays = record.displays;
                record_variables = record.vars;
                // What the runtime saw is all that went through Python's
                // streams; what the service returned also holds writes to the
                // file descriptors (child processes), so the longer one wins.
                if output.stdout_truncated || record.stdout.len() > stdout.len() {
                    stdout = record.stdout;
                }
                let stderr_short =
                    service_stderr.as_ref().is_none_or(|s| output.stderr_truncated || record.stderr.len() > s.len());
                if stderr_short && service_stderr.is_some() {
                    service_stderr = Some(record.stderr);
                }
                for (stream, characters) in
                    [(Stream::Stdout, record.dropped.stdout), (Stream::Stderr, record.dropped.stderr)]
                {
                    if characters > 0 {
                        notices.push(Notice::OutputDropped { stream, characters });
                    }
                }
                outcome = Some(record.outcome);
            }
        }
        if !whole {
            for (stream, truncated) in
                [(Stream::Stdout, output.stdout_truncated), (Stream::Stderr, output.stderr_truncated)]
            {
                if truncated {
                    notices.push(Notice::OutputCut { stream });
                }
            }
            if outcome.is_some() && output.stdout_truncated && !stdout.ends_with('\n') && !stdout.is_empty() {
                stdout.push('\n');
            }
        }
        let outcome = outcome.filter(|o| !o.missing && !o.missing_runtime);
        let stderr = match (service_stderr, outcome.as_ref().and_then(|o| o.stderr.clone())) {
            (Some(stderr), _) => stderr,
            (None, Some(captured)) => captured,
            (None, None) => String::new(),
        };
        if replaced && !notices.iter().any(|n| matches!(n, Notice::StateLost { .. })) {
            notices.push(Notice::StateLost { reason: StateLoss::InterpreterReplaced });
        }
        let result = judge(&output, outcome.as_ref(), &stderr);
        let mut stderr = stderr;
        if let (RunResult::Raised(exception), None) = (&result, &output.stderr) {
            // The service sent no stderr and the runtime's copy was not asked
            // for or was lost: what python3 prints for it must still reach
            // the user (for `sys.exit(3)`, nothing).
            let shown = match (&exception.traceback, exception.exit_status) {
                (Some(traceback), _) => traceback.clone(),
                (None, Some(_)) => String::new(),
                (None, None) => format!("{}\n", exception.headline()),
            };
            if !stderr.contains(shown.trim_end()) {
                stderr.push_str(&shown);
            }
        }
        let count = outcome.as_ref().map_or(0, |o| o.displays) as u64;
        if count > 0 && displays.is_empty() {
            notices.push(Notice::DisplaysLost { count });
        }
        let variables = outcome.as_ref().and_then(|o| o.vars.clone()).or(record_variables);
        if let Some(delta) = &variables {
            self.variables_seen.lock().unwrap_or_else(|e| e.into_inner()).insert(assigned.id.clone(), delta.token());
        }
        if let Some(dropped) = outcome.as_ref().and_then(|o| o.displays_dropped) {
            notices.push(Notice::DisplaysDropped { count: dropped.count, bytes: dropped.bytes });
        }
        displays.extend(output.images.iter().map(|i| DisplayItem::single(&i.mime_type, &i.data)));
        Ok(RunReport {
            stdout,
            stderr,
            result,
            environment: assigned.id,
            displays,
            fresh_environment: assigned.fresh,
            notices,
            wall_time: started.elapsed(),
            execution_ms: outcome.as_ref().and_then(|o| o.duration_ms).or(output.duration_ms),
            variables,
            files: outcome.as_ref().map(|o| o.files.clone()).unwrap_or_default(),
            files_more: outcome.as_ref().map_or(0, |o| o.files_more),
            mirror_failures: outcome
                .as_ref()
                .map(|o| o.mirror_bad.iter().map(|(path, why)| (path.clone(), why.clone())).collect())
                .unwrap_or_default(),
        })
    }

    /// Calls the runtime's `function(nonce, *args)` in the workspace's
    /// environment (installing the runtime if the interpreter lacks it) and
    /// reads its answer, from its marker line or through the bulk channel.
    /// `None` when the workspace has no environment yet.
    pub async fn call_runtime<T: serde::de::DeserializeOwned>(
        &self,
        key: &WorkspaceKey,
        function: &str,
        args: &[serde_json::Value],
    ) -> Result<Option<T>, McpError> {
        let Some(environment) = self.registry.current(key) else { return Ok(None) };
        let timeout = self.client.options().run_timeout;
        for install in [false, true] {
            let nonce = wrapper::new_nonce();
            let code = wrapper::runtime_call_code(&nonce, function, args, install);
            let output = self.client.run_python_with_timeout(&environment, &code, timeout).await?;
            let Some(json) = super::outcome::marker_payload(&output.stdout, &nonce) else { return Ok(None) };
            #[derive(serde::Deserialize)]
            struct Reply {
                #[serde(default)]
                record: Option<usize>,
                #[serde(default, rename = "missingRuntime")]
                missing_runtime: bool,
            }
            match serde_json::from_str::<Reply>(json) {
                Ok(Reply { missing_runtime: true, .. }) => continue,
                Ok(Reply { record: Some(total), .. }) => {
                    return Ok(bulk::fetch(&self.client, &environment, &nonce, None, Some(total)).await);
                }
                _ => return Ok(serde_json::from_str(json).ok()),
            }
        }
        Ok(None)
    }

    /// What is at `path` (a name, then keys, indexes or attribute names) in
    /// the workspace's environment: one level of contents or attribute
    /// names. One request (more only for a long answer); `None` when the
    /// workspace has no environment yet. Runs no user code but bounded reprs.
    pub async fn inspect(
        &self,
        key: &WorkspaceKey,
        path: &[String],
        kind: InspectKind,
        timeout: Duration,
    ) -> Result<Option<Inspection>, McpError> {
        let Some(environment) = self.registry.current(key) else { return Ok(None) };
        let nonce = wrapper::new_nonce();
        let code = wrapper::inspect_code(&nonce, path, kind == InspectKind::Attributes);
        let output = self.client.run_python_with_timeout(&environment, &code, timeout).await?;
        let Some(json) = super::outcome::marker_payload(&output.stdout, &nonce) else {
            return Ok(None);
        };
        #[derive(serde::Deserialize)]
        struct Kept {
            record: usize,
        }
        if let Ok(Kept { record }) = serde_json::from_str::<Kept>(json) {
            return Ok(bulk::fetch(&self.client, &environment, &nonce, None, Some(record)).await);
        }
        Ok(serde_json::from_str(json).ok())
    }
}

/// The service told us the interpreter was killed or died (local sandbox).
fn interpreter_replaced(output: &PythonOutput) -> bool {
    output.state_survived == Some(false)
}

fn judge(output: &PythonOutput, outcome: Option<&Outcome>, stderr: &str) -> RunResult {
    let timed_out = output.error_name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case("timeout"));
    match outcome {
        Some(outcome) if timed_out => {
            RunResult::Failed { reason: sandbox_reason(output, stderr), at: outcome.error.clone() }
        }
        Some(outcome) => match (&outcome.error, outcome.status.as_deref()) {
            (Some(error), _) => RunResult::Raised(error.clone()),
            (None, Some("ok")) => RunResult::Succeeded { value: outcome.value.clone() },
            _ => RunResult::Failed {
                reason: "the run's result could not be read back from the sandbox".into(),
                at: None,
            },
        },
        None if output.failed() => RunResult::Failed { reason: sandbox_reason(output, stderr), at: None },
        None => RunResult::Failed {
            reason: "the run finished but its result could not be read back from the sandbox".into(),
            at: None,
        },
    }
}

/// The sandbox's own explanation: the last non-empty line of stderr that is
/// not a traceback line, else the error name.
fn sandbox_reason(output: &PythonOutput, stderr: &str) -> String {
    let last = stderr.lines().rev().map(str::trim).find(|l| !l.is_empty());
    match (last, &output.error_name) {
        (Some(line), _) => line.to_owned(),
        (None, Some(name)) => format!("the sandbox stopped the run ({name})"),
        (None, None) => "the sandbox reported a failure without details".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(stdout: &str, stderr: &str, result: RunResult) -> RunReport {
        RunReport {
            stdout: stdout.into(),
            stderr: stderr.into(),
            result,
            environment: EnvironmentId("e".into()),
            displays: vec![DisplayItem::single("image/png", "AAAA")],
            fresh_environment: false,
            notices: Vec::new(),
            wall_time: Duration::from_millis(5),
            execution_ms: None,
            variables: None,
            files: Vec::new(),
            files_more: 0,
            mirror_failures: Vec::new(),
        }
    }

    fn kinds(report: &RunReport) -> Vec<String> {
        report
            .outputs()
            .iter()
            .map(|o| match o {
                Output::Stream { stream, text } => format!("{} {text:?}", stream.name()),
                Output::Display(d) => d.data.keys().next().cloned().unwrap_or_default(),
                Output::Value(v) => format!("value {v}"),
                Output::Error(e) => e.type_name.clone(),
            })
            .collect()
    }

    /// The order a notebook shows: stdout with each display item where the
    /// run made it (an item with no place, after it), stderr, then the
    /// value or the error; empty streams are left out.
    #[test]
    fn outputs_come_in_notebook_order() {
        let ok = report("out\n", "", RunResult::Succeeded { value: Some("42".into()) });
        assert_eq!(kinds(&ok), ["stdout \"out\\n\"", "image/png", "value 42"]);
        assert_eq!(ok.duration(), Duration::from_millis(5), "no sandbox figure: the wall time");
        let error = PyException {
            type_name: "ValueError".into(),
            message: "bad".into(),
            frames: Vec::new(),
            syntax: None,
            traceback: None,
            missing_module: None,
            exit_status: None,
            missing_file: None,
        };
        let raised = report("", "Traceback…\n", RunResult::Raised(error));
        assert_eq!(kinds(&raised), ["image/png", "stderr \"Traceback…\\n\"", "ValueError"]);
        // Placed items split stdout at their character offsets (not bytes);
        // the rich form of the value stands for the value.
        let mut placed = report("π1\nπ2\n", "", RunResult::Succeeded { value: Some("df".into()) });
        let at = |chars, mime: &str, is_result| DisplayItem {
            data: [(mime.to_owned(), "x".to_owned())].into(),
            after_stdout: Some(chars),
            is_result,
        };
        placed.displays = vec![at(3, "image/png", false), at(6, "text/html", true), at(99, "text/plain", false)];
        assert_eq!(kinds(&placed), ["stdout \"π1\\n\"", "image/png", "stdout \"π2\\n\"", "text/html", "text/plain"]);
    }
}
