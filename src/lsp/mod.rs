//! The language server: run Python from the editor, results where the code is.
//!
//! Architecture invariant: this module is the only one that knows LSP types;
//! it converts at its edge (`convert`) and calls the editor-independent core
//! (`run`, `text`, `mcp`). Request handlers never wait for a remote run: run
//! commands queue a job (`runner`) and answer `{runId}` at once.
//!
//! Layout: `server` routes each LSP method; `session` holds the state;
//! `commands` parses `workspace/executeCommand`; `features` builds lenses,
//! actions, hovers and hints; `runner` executes runs and reports them;
//! `records`, `output` and `settings` are its data; `ext` is the custom
//! protocol surface; `service` patches what lsp-types 0.97 cannot express.

pub mod commands;
pub mod convert;
pub mod ext;
pub mod features;
pub mod framing;
pub mod output;
pub mod records;
pub mod runner;
pub mod server;
pub mod service;
pub mod session;
pub mod settings;

use std::sync::{Arc, OnceLock};

use tokio::io::{AsyncRead, AsyncWrite};
use tower_lsp_server::{ClientSocket, LspService, Server};

use server::SandboxServer;
use service::CapturingService;
use session::Session;

/// Handlers that may run at once. tower-lsp's default of 4 lets a few slow
/// handlers block `$/cancelRequest` and `shutdown`; ours never wait long,
/// but the client's replies to our own requests must always get through.
pub const CONCURRENCY: usize = 128;

/// The service, ready to be served over any transport.
pub fn service() -> (CapturingService<SandboxServer>, ClientSocket) {
    let raw_initialize = Arc::new(OnceLock::new());
    let for_session = Arc::clone(&raw_initialize);
    let (service, socket) =
        LspService::build(move |client| SandboxServer { session: Arc::new(Session::new(client, for_session)) })
            .custom_method(ext::OUTPUT_REQUEST, SandboxServer::output)
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
