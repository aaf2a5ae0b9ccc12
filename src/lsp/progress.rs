//! Work-done progress for runs: server-created, cancellable, best effort.
//! A client that does not answer `window/workDoneProgress/create` only
//! loses the progress.
//!
//! A run's token is usable once `begin` was sent, which waits for the
//! editor to create it; the run may report or end before that. The task
//! that sends `begin` then also sends the latest report, or the end.

use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use tower_lsp_server::Client;
use tower_lsp_server::lsp_types::notification::Progress as ProgressNotification;
use tower_lsp_server::lsp_types::request::WorkDoneProgressCreate;
use tower_lsp_server::lsp_types::{
    NumberOrString, ProgressParams, ProgressParamsValue, WorkDoneProgress, WorkDoneProgressBegin,
    WorkDoneProgressCreateParams, WorkDoneProgressEnd, WorkDoneProgressReport,
};

use super::client::CLIENT_REQUEST_TIMEOUT;

#[derive(Default)]
struct State {
    /// Set once `begin` is out.
    token: Option<String>,
    /// Set when the run ended before `begin` was out.
    ended: Option<String>,
    /// A report made before the token was usable.
    pending_report: Option<String>,
}

pub struct Progress {
    client: Client,
    runs: DashMap<u64, Arc<Mutex<State>>>,
    /// Token → run, for `window/workDoneProgress/cancel`.
    tokens: DashMap<String, u64>,
}

impl Progress {
    pub fn new(client: Client) -> Self {
        Self { client, runs: DashMap::new(), tokens: DashMap::new() }
    }

    /// The run a progress token belongs to.
    pub fn run_of(&self, token: &str) -> Option<u64> {
        self.tokens.get(token).map(|id| *id)
    }

    /// Creates the run's progress in the editor and begins it, in the
    /// background.
    pub fn begin(&self, run: u64, title: String, message: String) {
        let token = token_of(run);
        let state = Arc::new(Mutex::new(State::default()));
        self.runs.insert(run, Arc::clone(&state));
        self.tokens.insert(token.clone(), run);
        let client = self.client.clone();
        tokio::spawn(async move {
            let create = client.send_request::<WorkDoneProgressCreate>(WorkDoneProgressCreateParams {
                token: NumberOrString::String(token.clone()),
            });
            if !matches!(tokio::time::timeout(CLIENT_REQUEST_TIMEOUT, create).await, Ok(Ok(()))) {
                return;
            }
            let begin = WorkDoneProgress::Begin(WorkDoneProgressBegin {
                title,
                cancellable: Some(true),
                message: Some(message),
                percentage: None,
            });
            send(&client, &token, begin).await;
            let (ended, pending) = {
                let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                match state.ended.clone() {
                    Some(message) => (Some(message), None),
                    None => {
                        state.token = Some(token.clone());
                        (None, state.pending_report.take())
                    }
                }
            };
            if let Some(message) = ended {
                send(&client, &token, end(message)).await;
            } else if let Some(message) = pending {
                send(&client, &token, report(message)).await;
            }
        });
    }

    pub async fn report(&self, run: u64, message: String) {
        let Some(state) = self.runs.get(&run).map(|s| Arc::clone(&s)) else { return };
        let token = {
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            if state.token.is_none() {
                // `begin` is not out yet: its task sends this after it.
                state.pending_report = Some(message.clone());
            }
            state.token.clone()
        };
        if let Some(token) = token {
            send(&self.client, &token, report(message)).await;
        }
    }

    pub async fn end(&self, run: u64, message: String) {
        self.tokens.remove(&token_of(run));
        let Some((_, state)) = self.runs.remove(&run) else { return };
        let token = {
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            state.ended = Some(message.clone());
            state.token.take()
        };
        if let Some(token) = token {
            send(&self.client, &token, end(message)).await;
        }
    }
}

fn token_of(run: u64) -> String {
    format!("azure-sandbox-run-{run}")
}

fn report(message: String) -> WorkDoneProgress {
    WorkDoneProgress::Report(WorkDoneProgressReport {
        cancellable: Some(true),
        message: Some(message),
        percentage: None,
    })
}

fn end(message: String) -> WorkDoneProgress {
    WorkDoneProgress::End(WorkDoneProgressEnd { message: Some(message) })
}

async fn send(client: &Client, token: &str, value: WorkDoneProgress) {
    let params =
        ProgressParams { token: NumberOrString::String(token.to_owned()), value: ProgressParamsValue::WorkDone(value) };
    client.send_notification::<ProgressNotification>(params).await;
}
