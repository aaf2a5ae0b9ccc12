//! What the editor can do, decided once at `initialize`, and how long the
//! server waits for it to answer a request.

use std::time::Duration;

use crate::text::PositionEncoding;

/// What the client can do, decided once at `initialize`.
#[derive(Debug, Clone)]
pub struct ClientFlags {
    pub encoding: PositionEncoding,
    pub progress: bool,
    pub code_lens_refresh: bool,
    pub inlay_hint_refresh: bool,
    pub show_document: bool,
    pub text_document_content: bool,
    pub configuration: bool,
}

impl Default for ClientFlags {
    fn default() -> Self {
        Self {
            encoding: PositionEncoding::Utf16,
            progress: false,
            code_lens_refresh: false,
            inlay_hint_refresh: false,
            show_document: false,
            text_document_content: false,
            configuration: false,
        }
    }
}

/// How long the server waits for the client to answer a request it sent.
pub const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
