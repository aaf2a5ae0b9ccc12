//! Renders the workbench's events for the editor: progress, diagnostics,
//! the output document and its refreshes, `azureSandbox/runFinished`, log
//! lines and messages. One task takes the events in order, so what the
//! editor sees about a run arrives in the order it happened.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tower_lsp_server::lsp_types::{MessageActionItem, MessageType, Uri};

use super::ext::{self, RunFinishedParams};
use super::output_document;
use super::session::{CLIENT_REQUEST_TIMEOUT, Session};
use crate::run::{RunResult, Selection};
use crate::workbench::{Detail, Event, Finished, JobStatus, RunRecord, RunState, one_line};

/// Takes the workbench's events until it stops sending them or the
/// session is gone.
pub async fn report_events(session: Weak<Session>, mut events: mpsc::UnboundedReceiver<Event>) {
    while let Some(event) = events.recv().await {
        let Some(session) = session.upgrade() else { return };
        report(&session, event).await;
    }
}

async fn report(session: &Arc<Session>, event: Event) {
    match event {
        Event::Queued { run_id, title, ahead } => {
            if session.flags().progress {
                let title = format!("{title} in {}", session.sandbox_name());
                // `ahead` counts the job running now and those queued before this one.
                let message = if ahead > 0 { format!("queued ({ahead} ahead)") } else { "starting".into() };
                session.progress.begin(run_id, title, message);
            }
        }
        Event::Running { run_id, elapsed } => {
            let message =
                if elapsed.is_zero() { "running".to_owned() } else { format!("running, {} s", elapsed.as_secs()) };
            session.progress.report(run_id, message).await;
        }
        Event::Sending { run_id, sent, total } => {
            let message = format!(
                "sending the workspace's files: {} of {}",
                crate::run::human_bytes(sent),
                crate::run::human_bytes(total)
            );
            session.progress.report(run_id, message).await;
        }
        Event::LocalSandboxChosen { isolation } => {
            let message = format!(
                "Azure sandbox: no Azure endpoint is configured, so code runs in a local sandbox on this machine, \
                 not in Azure's isolation. Its isolation: {isolation}. To use Azure, set azureSandbox.pool (or \
                 AZURE_SANDBOX_POOL) to read the endpoint and key from your session pool, or set the endpoint and \
                 key (AZURE_SANDBOX_MCP_ENDPOINT and AZURE_SANDBOX_API_KEY)."
            );
            session.client.show_message(MessageType::INFO, message).await;
        }
        Event::Finished(finished) => report_finished(session, *finished).await,
        Event::VariablesChanged { root } => {
            let snapshot = session.workbench.variables(&root);
            let Some(uri) = crate::lsp::convert::uri_of_file(&root.to_string_lossy()) else { return };
            let params = ext::VariablesChangedParams {
                uri: uri.as_str().to_owned(),
                state: snapshot.state,
                reason: snapshot.lost,
            };
            let params = serde_json::to_value(params).unwrap_or(Value::Null);
            session.client.send_notification::<VariablesChanged>(params).await;
        }
        Event::SharedEntry { root, source, label } => {
            // An agent ran something in this workspace's environment: the
            // output document has it, marked as the agent's.
            announce_transcript(session, &root);
            let message = format!("[azure-sandbox] the {} ran {label}", source.label());
            session.client.log_message(MessageType::INFO, message).await;
        }
    }
}

/// Workspace `root`'s transcript gained an entry outside a job (variables
/// listed by a command): tells the editor, in the background.
pub fn announce_transcript(session: &Arc<Session>, root: &std::path::Path) {
    let session = Arc::clone(session);
    let output_uri = output_document::uri_for(root);
    tokio::spawn(async move {
        let params = ext::OutputChangedParams { uri: output_uri.clone() };
        session.client.send_notification::<OutputChanged>(params).await;
        refresh_views(&session, &output_uri);
    });
}

async fn report_finished(session: &Arc<Session>, finished: Finished) {
    let uri = finished.doc.as_deref().and_then(|d| d.parse::<Uri>().ok());
    if let (Detail::Run { in_book: true, .. }, Some(uri)) = (&finished.detail, &uri) {
        session.publish(uri).await;
        tracing::debug!(run = finished.summary.run_id, "diagnostics sent");
    }
    let output_uri = output_document::uri_for(&finished.root);
    if finished.transcript_changed {
        let params = ext::OutputChangedParams { uri: output_uri.clone() };
        session.client.send_notification::<OutputChanged>(params).await;
        refresh_views(session, &output_uri);
    }
    let params = RunFinishedParams {
        uri: uri.as_ref().map(|u| u.as_str().to_owned()),
        output_uri,
        summary: finished.summary.clone(),
    };
    match serde_json::to_value(params) {
        Ok(params) => session.client.send_notification::<RunFinished>(params).await,
        Err(e) => tracing::error!("cannot encode runFinished: {e}"),
    }
    match &finished.detail {
        Detail::Run { record, .. } => report_run(session, record).await,
        Detail::Install { .. } => report_install(session, &finished, uri).await,
        Detail::Restart => report_restart(session, &finished).await,
        Detail::Files { message, rerun } => {
            let ok = finished.summary.status == JobStatus::Succeeded;
            session.progress.end(finished.summary.run_id, if ok { "✓ done" } else { "✗ failed" }.to_owned()).await;
            let kind = if ok { MessageType::INFO } else { MessageType::ERROR };
            session.client.show_message(kind, format!("Azure sandbox: {message}")).await;
            if let (true, Some(record_id), Some(uri)) = (ok, rerun, uri) {
                rerun_record(session, uri, *record_id);
            }
        }
    }
}

async fn report_run(session: &Arc<Session>, record: &RunRecord) {
    let summary = format!("{}: {}", record.label, record.status());
    session.client.log_message(MessageType::INFO, format!("[azure-sandbox] {summary}{}", detail(record))).await;
    match &record.state {
        RunState::Failed(why) => {
            session.client.show_message(MessageType::ERROR, format!("Azure sandbox: {why}")).await;
        }
        RunState::Finished(report) => {
            for notice in report.notices.iter().filter(|n| n.is_warning()) {
                session.client.show_message(MessageType::WARNING, format!("Azure sandbox: {notice}")).await;
            }
            if let RunResult::Failed { reason, .. } = &report.result {
                let message = format!("Azure sandbox: {} stopped: {reason}", record.label);
                session.client.show_message(MessageType::ERROR, message).await;
            }
        }
        _ => {}
    }
    session.progress.end(record.id, record.status()).await;
}

fn detail(record: &RunRecord) -> String {
    match &record.state {
        RunState::Finished(f) => match &f.result {
            RunResult::Raised(e) => format!(" ({})", e.headline()),
            RunResult::Failed { reason, .. } => format!(" ({reason})"),
            RunResult::Succeeded { value: Some(v) } => format!(" → {}", one_line(v, 80)),
            RunResult::Succeeded { value: None } => String::new(),
        },
        RunState::Failed(why) => format!(" ({why})"),
        _ => String::new(),
    }
}

async fn report_install(session: &Arc<Session>, finished: &Finished, uri: Option<Uri>) {
    let Detail::Install { package, ok, last_line, rerun } = &finished.detail else { return };
    let (package, ok, last_line, rerun) = (package.as_str(), *ok, last_line.as_str(), *rerun);
    match (&finished.summary.status, &finished.summary.error) {
        (JobStatus::Cancelled, _) => return,
        // No sandbox to install into: say why, as a run would.
        (JobStatus::Failed, Some(why)) if last_line.is_empty() => {
            session.client.show_message(MessageType::ERROR, format!("Azure sandbox: {why}")).await;
            return;
        }
        _ => {}
    }
    if !ok {
        let message = format!("Azure sandbox: pip install {package} failed: {last_line}");
        session.client.show_message(MessageType::ERROR, message).await;
        return;
    }
    session.client.log_message(MessageType::INFO, format!("[azure-sandbox] installed {package}")).await;
    match (rerun, uri) {
        (Some(record_id), Some(uri)) => offer_rerun(session, uri, record_id, package),
        _ => session.client.show_message(MessageType::INFO, format!("Azure sandbox: installed {package}.")).await,
    }
}

/// Offers to run again what needed the package, without holding up the
/// events behind it: the answer waits for the user.
fn offer_rerun(session: &Arc<Session>, uri: Uri, record_id: u64, package: &str) {
    let session = Arc::clone(session);
    let package = package.to_owned();
    tokio::spawn(async move {
        let again = MessageActionItem { title: "Re-run".into(), properties: HashMap::new() };
        let ask = session.client.show_message_request(
            MessageType::INFO,
            format!("Azure sandbox: installed {package}. Run the code that needed it again?"),
            Some(vec![again.clone()]),
        );
        let Ok(Ok(Some(choice))) = tokio::time::timeout(Duration::from_secs(600), ask).await else { return };
        if choice.title != again.title {
            return;
        }
        rerun_record(&session, uri, record_id);
    });
}

/// Queues run `record_id`'s lines again, as they are now.
fn rerun_record(session: &Arc<Session>, uri: Uri, record_id: u64) {
    // The record's lines as they are now, and the text they index.
    let snapshot = session.snapshot(&uri);
    let Some(record) = session.records_of(&uri).into_iter().find(|r| r.id == record_id) else { return };
    let (first, last) = (record.first_line, record.last_line);
    let (cut, seen) = match snapshot {
        Some((doc, seen)) => (session.cut(&uri, &doc, &Selection::Lines { first, last }).ok(), seen),
        None => {
            let cut = record.snippet.map(|snippet| crate::run::Cut { snippet, first, last });
            (cut, session.edits_seen(&uri))
        }
    };
    if let Some(cut) = cut {
        session.submit_run(uri, cut, seen);
    }
}

async fn report_restart(session: &Arc<Session>, finished: &Finished) {
    let message = match (&finished.summary.status, &finished.summary.error) {
        (JobStatus::Succeeded, _) => format!(
            "Azure sandbox: started a new {} environment for {}; earlier state (variables, imports) is gone.",
            session.sandbox_name(),
            finished.root.display()
        ),
        (JobStatus::Failed, Some(why)) => format!("Azure sandbox: could not restart the environment: {why}"),
        _ => return,
    };
    let kind = if finished.summary.status == JobStatus::Succeeded { MessageType::INFO } else { MessageType::ERROR };
    session.client.show_message(kind, message.clone()).await;
    session.client.log_message(MessageType::INFO, format!("[azure-sandbox] {message}")).await;
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
            let _: Result<Result<Value, _>, _> = tokio::time::timeout(CLIENT_REQUEST_TIMEOUT, request).await;
        }
    });
}

/// `azureSandbox/outputChanged`.
enum OutputChanged {}

impl tower_lsp_server::lsp_types::notification::Notification for OutputChanged {
    type Params = ext::OutputChangedParams;
    const METHOD: &'static str = ext::OUTPUT_CHANGED;
}

/// `azureSandbox/runFinished`.
enum RunFinished {}

impl tower_lsp_server::lsp_types::notification::Notification for RunFinished {
    // Sent as JSON: the summary's types serialise only.
    type Params = Value;
    const METHOD: &'static str = ext::RUN_FINISHED;
}

/// `azureSandbox/variablesChanged`.
enum VariablesChanged {}

impl tower_lsp_server::lsp_types::notification::Notification for VariablesChanged {
    type Params = Value;
    const METHOD: &'static str = ext::VARIABLES_CHANGED;
}

/// `workspace/textDocumentContent/refresh` (LSP 3.18).
enum TextDocumentContentRefresh {}

impl tower_lsp_server::lsp_types::request::Request for TextDocumentContentRefresh {
    type Params = Value;
    type Result = Value;
    const METHOD: &'static str = ext::TEXT_DOCUMENT_CONTENT_REFRESH;
}
