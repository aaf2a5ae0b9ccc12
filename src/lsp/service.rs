//! A thin tower layer around tower-lsp's service, for what lsp-types 0.97
//! cannot express: it keeps the raw `initialize` params (client capabilities
//! from LSP 3.18, such as `workspace.textDocumentContent`, are dropped by the
//! typed structs) and adds `workspace.textDocumentContent` to the server's
//! capabilities in the `initialize` result.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::{Error, Request, Response};
use tower_lsp_server::{ExitedError, LanguageServer, LspService};
use tower_service::Service;

use super::output_document::SCHEME;

pub struct CapturingService<S: LanguageServer> {
    inner: LspService<S>,
    raw_initialize: Arc<OnceLock<Value>>,
}

impl<S: LanguageServer> CapturingService<S> {
    pub fn new(inner: LspService<S>, raw_initialize: Arc<OnceLock<Value>>) -> Self {
        Self { inner, raw_initialize }
    }
}

impl<S: LanguageServer> Service<Request> for CapturingService<S> {
    type Response = Option<Response>;
    type Error = ExitedError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let is_initialize = request.method() == "initialize";
        if is_initialize {
            let _ = self.raw_initialize.set(request.params().cloned().unwrap_or(Value::Null));
        }
        // tower-lsp answers nothing to an unknown `$/` method, even a request
        // with an id, which then waits forever. LSP says to answer requests
        // with MethodNotFound; notifications stay unanswered.
        let unanswered_id = request.id().filter(|_| request.method().starts_with("$/")).cloned();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            Ok(match response {
                Some(response) if is_initialize => Some(add_text_document_content(response)),
                None => unanswered_id.map(|id| Response::from_error(id, Error::method_not_found())),
                other => other,
            })
        })
    }
}

fn add_text_document_content(response: Response) -> Response {
    let (id, body) = response.into_parts();
    let body = body.map(|mut result| {
        if let Some(capabilities) = result.get_mut("capabilities").and_then(Value::as_object_mut) {
            let workspace = capabilities.entry("workspace").or_insert_with(|| json!({}));
            if let Some(workspace) = workspace.as_object_mut() {
                workspace.insert("textDocumentContent".into(), json!({"schemes": [SCHEME]}));
            }
        }
        result
    });
    Response::from_parts(id, body)
}

/// Reads a client capability by JSON pointer from the raw params.
pub fn raw_capability(raw: &OnceLock<Value>, pointer: &str) -> Option<Value> {
    raw.get()?.pointer(pointer).cloned()
}
