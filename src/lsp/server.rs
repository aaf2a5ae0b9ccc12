//! The `LanguageServer` implementation: routing only. Each method converts
//! its parameters, calls into the session/features/commands modules, and
//! converts back.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use tower_lsp_server::LanguageServer;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::lsp_types::*;

use super::commands;
use super::convert;
use super::ext::{self, OutputResult, TextDocumentContentResult, UriParams};
use super::features;
use super::output_document::{self, SCHEME};
use super::service::raw_capability;
use super::session::{CLIENT_REQUEST_TIMEOUT, ClientFlags, Session};
use super::variables;
use crate::workbench::{SandboxStart, Settings};

pub struct SandboxServer {
    pub session: Arc<Session>,
}

impl SandboxServer {
    fn flags_from(&self, params: &InitializeParams) -> ClientFlags {
        let caps = &params.capabilities;
        let raw = &self.session.raw_initialize;
        let offered = caps.general.as_ref().and_then(|g| g.position_encodings.as_deref());
        let name = params.client_info.as_ref().map(|c| c.name.clone()).unwrap_or_default();
        ClientFlags {
            encoding: convert::negotiate(offered),
            progress: caps.window.as_ref().and_then(|w| w.work_done_progress).unwrap_or(false),
            code_lens_refresh: caps
                .workspace
                .as_ref()
                .and_then(|w| w.code_lens.as_ref())
                .and_then(|c| c.refresh_support)
                .unwrap_or(false),
            inlay_hint_refresh: caps
                .workspace
                .as_ref()
                .and_then(|w| w.inlay_hint.as_ref())
                .and_then(|c| c.refresh_support)
                .unwrap_or(false),
            // Helix 25.07 handles showDocument without advertising it.
            show_document: caps.window.as_ref().and_then(|w| w.show_document.as_ref()).is_some_and(|s| s.support)
                || name.eq_ignore_ascii_case("helix"),
            text_document_content: raw_capability(raw, "/capabilities/workspace/textDocumentContent")
                .is_some_and(|v| !v.is_null()),
            configuration: caps.workspace.as_ref().and_then(|w| w.configuration).unwrap_or(false),
        }
    }

    /// Pulls `azureSandbox` from `workspace/configuration`, with a time limit.
    async fn pull_configuration(&self) {
        if !self.session.flags().configuration {
            return;
        }
        let items = vec![ConfigurationItem { scope_uri: None, section: Some("azureSandbox".into()) }];
        let pulled = tokio::time::timeout(CLIENT_REQUEST_TIMEOUT, self.session.client.configuration(items)).await;
        if let Ok(Ok(values)) = pulled {
            if let Some(value) = values.into_iter().next() {
                self.apply_settings(&value).await;
            }
        }
    }

    /// Takes the editor's `azureSandbox` configuration: it overrides the
    /// `initializationOptions` key by key, and replaces the previous
    /// configuration. The backend is replaced only if it is a different one.
    async fn apply_settings(&self, value: &Value) {
        let section = value.get("azureSandbox").unwrap_or(value);
        if section.is_null() || section.as_array().is_some_and(Vec::is_empty) {
            return;
        }
        let mut merged = self.session.init_settings.read().unwrap_or_else(|e| e.into_inner()).clone();
        let settings = match section.as_object() {
            Some(layer) => {
                merged.extend(layer.clone());
                Settings::from_value(&Value::Object(merged))
            }
            None => Err("the azureSandbox settings must be an object".to_owned()),
        };
        let settings = match settings {
            Ok(Some(settings)) => settings,
            Ok(None) => return,
            Err(why) => {
                let message = format!("Azure sandbox: {why}; keeping the previous settings");
                self.session.client.show_message(MessageType::WARNING, message).await;
                return;
            }
        };
        // Only for a pattern that changed: the pull after `initialized`
        // repeats the initializationOptions, already warned about.
        let marker_changed = settings.cell_marker != self.session.settings().cell_marker;
        if let Some(problem) = settings.problem().filter(|_| marker_changed) {
            let message = format!("Azure sandbox: {problem}; using the standard cell markers");
            self.session.client.show_message(MessageType::WARNING, message).await;
        }
        let isolation_changed = settings.local_isolation != self.session.settings().local_isolation;
        if let Some(problem) = settings.isolation_problem().filter(|_| isolation_changed) {
            let message = format!("Azure sandbox: {problem}; the local sandbox requires namespaces instead");
            self.session.client.show_message(MessageType::WARNING, message).await;
        }
        if self.session.workbench.set_settings(settings).await {
            tracing::info!("settings changed the sandbox: {:?}", self.session.settings());
            let message =
                format!("Azure sandbox: settings changed; the next run uses the {}.", self.session.sandbox_name());
            self.session.client.show_message(MessageType::INFO, message).await;
        }
    }

    /// `azureSandbox/output`.
    pub async fn output(&self, params: UriParams) -> Result<OutputResult> {
        let root = self.root_for(&params.uri)?;
        Ok(OutputResult {
            uri: output_document::uri_for(&root),
            text: self.session.workbench.transcripts().text(&root),
        })
    }

    /// `azureSandbox/variables`.
    pub async fn variables(&self, params: variables::VariablesParams) -> Result<variables::VariablesResult> {
        variables::request(&self.session, params).await
    }

    /// `azureSandbox/localSandbox`: the embedded sandbox's endpoint, for an
    /// editor that hands it to an agent's server (with the key it chose).
    pub async fn local_sandbox(&self, _params: Value) -> Result<Value> {
        let endpoint = self.session.workbench.local_endpoint().await.map_err(|e| Error {
            code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
            message: e.message.into(),
            data: None,
        })?;
        Ok(serde_json::json!({ "endpoint": endpoint }))
    }

    /// `azureSandbox/files`: the mirror's files, from the environment.
    pub async fn files(&self, params: UriParams) -> Result<Value> {
        let root = self.root_for(&params.uri)?;
        let listing = self.session.workbench.list_files(&root, SandboxStart::OnlyInUse).await.map_err(|e| Error {
            code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
            message: e.message.into(),
            data: None,
        })?;
        Ok(serde_json::json!({"root": listing.root, "files": listing.files, "more": listing.more}))
    }

    /// `workspace/textDocumentContent` (LSP 3.18) for the output scheme.
    pub async fn text_document_content(&self, params: UriParams) -> Result<TextDocumentContentResult> {
        if !output_document::is_output_uri(&params.uri) {
            return Err(Error::invalid_params(format!("this server provides content only for `{SCHEME}:` URIs")));
        }
        let root = self.root_for(&params.uri)?;
        Ok(TextDocumentContentResult { text: self.session.workbench.transcripts().text(&root) })
    }

    /// `window/workDoneProgress/cancel`: the user cancelled a run's progress.
    pub async fn progress_cancel(&self, params: ext::ProgressCancelParams) {
        let token = match &params.token {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Some(run) = self.session.progress.run_of(&token) {
            self.session.workbench.cancel_run(run);
        }
    }

    fn root_for(&self, uri: &str) -> Result<PathBuf> {
        if output_document::is_output_uri(uri) {
            return output_document::root_of(&self.session, uri)
                .ok_or_else(|| Error::invalid_params(format!("no output document {uri}")));
        }
        let parsed: Uri = uri.parse().map_err(|e| Error::invalid_params(format!("not a URI: {e}")))?;
        Ok(self.session.workspace_of(&parsed))
    }
}

/// After a large document arrived, hands the memory its message used back to
/// the system: the text now lives in the rope, and the allocator would
/// otherwise keep the freed copy for good.
fn release_freed_memory(size: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if size >= 1 << 20 {
        // SAFETY: malloc_trim only returns free heap memory to the system.
        unsafe {
            libc::malloc_trim(0);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = size;
}

impl LanguageServer for SandboxServer {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let flags = self.flags_from(&params);
        let encoding = flags.encoding;
        let _ = self.session.flags.set(flags);
        let mut folders: Vec<PathBuf> =
            params.workspace_folders.iter().flatten().filter_map(|f| convert::file_path(&f.uri)).collect();
        #[allow(deprecated)]
        if folders.is_empty() {
            if let Some(root) = params.root_uri.as_ref().and_then(convert::file_path) {
                folders.push(root);
            }
        }
        *self.session.folders.write().unwrap_or_else(|e| e.into_inner()) = folders;
        if let Some(options) = &params.initialization_options {
            let section = options.get("azureSandbox").unwrap_or(options);
            match Settings::from_value(section) {
                Ok(Some(settings)) => {
                    self.session.workbench.set_settings(settings).await;
                    if let Some(map) = section.as_object() {
                        *self.session.init_settings.write().unwrap_or_else(|e| e.into_inner()) = map.clone();
                    }
                }
                Ok(None) => {}
                Err(why) => tracing::warn!("ignoring initializationOptions: {why}"),
            }
        }
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(convert::encoding_kind(encoding)),
                text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::INCREMENTAL),
                    ..TextDocumentSyncOptions::default()
                })),
                code_lens_provider: Some(CodeLensOptions { resolve_provider: Some(true) }),
                code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                // Answers only with azureSandbox.liveCompletion on.
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some([".", "\"", "'", "["].map(String::from).to_vec()),
                    ..CompletionOptions::default()
                }),
                inlay_hint_provider: Some(OneOf::Left(true)),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: ext::command::ALL.iter().map(|c| (*c).to_owned()).collect(),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                }),
                workspace: Some(WorkspaceServerCapabilities {
                    workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                        supported: Some(true),
                        change_notifications: Some(OneOf::Left(true)),
                    }),
                    file_operations: None,
                }),
                experimental: Some(serde_json::json!({
                    "azureSandbox": {"outputScheme": SCHEME, "outputRequest": ext::OUTPUT_REQUEST, "outputChanged": ext::OUTPUT_CHANGED, "runFinished": ext::RUN_FINISHED, "variablesRequest": ext::VARIABLES_REQUEST, "variablesChanged": ext::VARIABLES_CHANGED}
                })),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "azure-sandbox-lsp".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        if let Some(problem) = self.session.settings().problem() {
            let message = format!("Azure sandbox: {problem}; using the standard cell markers");
            self.session.client.show_message(MessageType::WARNING, message).await;
        }
        if let Some(problem) = self.session.settings().isolation_problem() {
            let message = format!("Azure sandbox: {problem}; the local sandbox requires namespaces instead");
            self.session.client.show_message(MessageType::WARNING, message).await;
        }
        let server = SandboxServer { session: Arc::clone(&self.session) };
        // Not awaited here: the client may answer late or never.
        tokio::spawn(async move { server.pull_configuration().await });
    }

    async fn shutdown(&self) -> Result<()> {
        self.session.workbench.shutdown().await;
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        self.session.text_changed(&doc.uri);
        self.session.documents.insert(doc.uri.clone(), crate::text::Document::new(&doc.text, doc.version));
        self.session.touch(&doc.uri);
        // Session, launcher and environment ahead of the first run (no code runs).
        if convert::file_path(&doc.uri).is_some() {
            let root = self.session.workspace_of(&doc.uri);
            // What an agent runs in this workspace shows in its transcript.
            self.session.workbench.follow_shared(root.clone());
            self.session.workbench.prepare(root);
        }
        let size = doc.text.len();
        drop(doc);
        release_freed_memory(size);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let encoding = self.session.encoding();
        // Applied before any await, in arrival order (the rule of this server).
        let mut edits = Vec::new();
        let mut moved = false;
        {
            let Some(mut doc) = self.session.documents.get_mut(&uri) else {
                tracing::warn!("didChange for a document that is not open: {}", uri.as_str());
                return;
            };
            if params.text_document.version <= doc.version() {
                tracing::warn!(
                    "didChange with version {} after {}; applying it anyway",
                    params.text_document.version,
                    doc.version()
                );
            }
            for change in &params.content_changes {
                let range = change.range.map(|r| (convert::pos(r.start), convert::pos(r.end)));
                edits.push(doc.replace(range, &change.text, encoding, params.text_document.version));
            }
            // Still holding the document: whoever reads it together with
            // the records (a publication, a run's snapshot) sees the text
            // and the lines of the runs at the same version.
            for edit in edits.drain(..) {
                moved |= self.session.apply_line_edit(&uri, edit);
            }
        }
        self.session.text_changed(&uri);
        self.session.touch(&uri);
        if moved {
            self.session.publish(&uri).await;
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.session.documents.remove(&uri);
        self.session.text_changed(&uri);
        // The runs' records, and so their diagnostics, go with the buffer.
        self.session.workbench.book().forget(uri.as_str());
        self.session.client.publish_diagnostics(uri, Vec::new(), None).await;
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        // Settings that include our section are applied; anything else (no
        // settings, or another tool's section) means "ask".
        match params.settings.get("azureSandbox") {
            Some(section) => self.apply_settings(section).await,
            None => {
                let server = SandboxServer { session: Arc::clone(&self.session) };
                tokio::spawn(async move { server.pull_configuration().await });
            }
        }
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        let mut folders = self.session.folders.write().unwrap_or_else(|e| e.into_inner());
        for removed in &params.event.removed {
            if let Some(path) = convert::file_path(&removed.uri) {
                folders.retain(|f| *f != path);
            }
        }
        for added in &params.event.added {
            if let Some(path) = convert::file_path(&added.uri) {
                folders.push(path);
            }
        }
    }

    async fn code_lens(&self, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
        self.session.touch(&params.text_document.uri);
        let started = std::time::Instant::now();
        let lenses = features::code_lenses(&self.session, &params.text_document.uri);
        tracing::debug!(lenses = lenses.len(), built_us = started.elapsed().as_micros() as u64, "codeLens");
        Ok(Some(lenses))
    }

    async fn code_lens_resolve(&self, lens: CodeLens) -> Result<CodeLens> {
        features::resolve_code_lens(&self.session, lens)
            .ok_or_else(|| Error::invalid_params("not a code lens from this server (its data is missing or unknown)"))
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        self.session.touch(&params.text_document.uri);
        Ok(Some(features::code_actions(&self.session, &params)))
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let at = params.text_document_position_params;
        self.session.touch(&at.text_document.uri);
        Ok(features::hover(&self.session, &at.text_document.uri, at.position))
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        variables::completion(&self.session, params).await
    }

    async fn inlay_hint(&self, params: InlayHintParams) -> Result<Option<Vec<InlayHint>>> {
        Ok(Some(features::inlay_hints(&self.session, &params.text_document.uri, params.range)))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        commands::execute(&self.session, &params.command, &params.arguments)
    }
}
