//! The language server: an adapter that lets an editor use the workbench.
//!
//! Architecture invariant: this module is the only one that knows LSP types;
//! it converts at its edge (`convert`) and calls the workbench, which owns
//! settings, backend, queues, records and transcripts. Request handlers
//! never wait for a remote run: run commands queue a job on the workbench
//! and answer `{runId}` at once; `reporting` renders its events.
//!
//! Layout: `server` routes each LSP method; `session` holds the editor's
//! state (documents, folders, client flags); `commands` parses
//! `workspace/executeCommand`; `features` builds lenses, actions, hovers and
//! hints; `reporting` turns workbench events into progress, diagnostics and
//! messages, with `progress` for work-done progress; `output_document`
//! serves transcripts; `attribute_cache` keeps what completion found late;
//! `ext` is the custom protocol surface; `service`
//! patches what lsp-types 0.97 cannot express; `framing` guards the input.

pub(crate) mod attribute_cache;
pub(crate) mod client;
pub(crate) mod commands;
pub(crate) mod convert;
pub mod ext;
pub(crate) mod features;
pub(crate) mod framing;
pub(crate) mod output_document;
pub(crate) mod progress;
pub(crate) mod reporting;
pub(crate) mod server;
pub(crate) mod service;
pub(crate) mod session;
pub(crate) mod variables;

use std::sync::{Arc, OnceLock};

use tokio::io::{AsyncRead, AsyncWrite};
use tower_lsp_server::{ClientSocket, LspService, Server};

use crate::workbench::Workbench;
use server::SandboxServer;
use service::CapturingService;
use session::Session;

/// Handlers that may run at once. tower-lsp's default of 4 lets a few slow
/// handlers block `$/cancelRequest` and `shutdown`; ours never wait long,
/// but the client's replies to our own requests must always get through.
pub const CONCURRENCY: usize = 128;

/// The service, ready to be served over any transport.
pub(crate) fn service() -> (CapturingService<SandboxServer>, ClientSocket) {
    let raw_initialize = Arc::new(OnceLock::new());
    let for_session = Arc::clone(&raw_initialize);
    let (workbench, events) = Workbench::new(Workbench::default_transcript_dir());
    let (service, socket) = LspService::build(move |client| {
        let session = Arc::new(Session::new(client, for_session, workbench));
        tokio::spawn(reporting::report_events(Arc::downgrade(&session), events));
        SandboxServer { session }
    })
    .custom_method(ext::OUTPUT_REQUEST, SandboxServer::output)
    .custom_method(ext::VARIABLES_REQUEST, SandboxServer::variables)
    .custom_method(ext::FILES_REQUEST, SandboxServer::files)
    .custom_method(ext::LOCAL_SANDBOX_REQUEST, SandboxServer::local_sandbox)
    .custom_method(ext::TEXT_DOCUMENT_CONTENT, SandboxServer::text_document_content)
    .custom_method(ext::PROGRESS_CANCEL, SandboxServer::progress_cancel)
    .finish();
    (CapturingService::new(service, raw_initialize), socket)
}

/// Serves LSP over a pair of byte streams (stdio, or a duplex in tests).
///
/// tower-lsp's reader stops at the first message it cannot decode, so the
/// client is read by [`framing::sanitize`], which passes tower-lsp only what
/// it accepts and answers the rest itself; [`framing::forward_output`] puts
/// those answers between tower-lsp's own frames.
pub async fn serve<I, O>(input: I, output: O)
where
    I: AsyncRead + Unpin,
    O: AsyncWrite,
{
    let (service, socket) = service();
    let (to_server, server_input) = tokio::io::duplex(1 << 16);
    let (server_output, from_server) = tokio::io::duplex(1 << 16);
    let (answers, answered) = tokio::sync::mpsc::channel(1024);
    let server = async {
        Server::new(server_input, server_output, socket).concurrency_level(CONCURRENCY).serve(service).await;
    };
    let output = framing::forward_output(from_server, answered, output);
    // The end of the input closes `to_server`, and tower-lsp then finishes
    // as it did on the real input; after `exit` it finishes without it.
    let input = async {
        framing::sanitize(input, to_server, answers).await;
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = async { tokio::join!(server, output) } => {}
        _ = input => {}
    }
}

/// Serves LSP over stdin/stdout. Logs go to stderr.
pub async fn serve_stdio() {
    serve(tokio::io::stdin(), tokio::io::stdout()).await;
}
