//! What the workbench's handles and its workspace tasks share.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};

use dashmap::DashMap;
use tokio::sync::mpsc;

use super::backend::BackendSlot;
use super::book::RunBook;
use super::control::RunControl;
use super::events::Event;
use super::figures::{Figure, FigureStore};
use super::settings::{Settings, Target};
use super::transcript::Transcripts;
use super::variables::Variables;

pub(super) struct State {
    pub settings: RwLock<Settings>,
    pub backend: BackendSlot,
    pub book: RunBook,
    pub transcripts: Transcripts,
    /// Each workspace's live state.
    pub variables: Variables,
    /// Where runs' figures are saved (none without a cache directory).
    pub figures: Option<FigureStore>,
    /// The files each workspace's latest mirrored run wrote.
    pub latest_files: std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, Vec<crate::run::ChangedFile>>>,
    /// Each workspace's latest figure, with the order it came in.
    pub latest_figures: std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, (u64, Figure)>>,
    /// Every queued or running job's cancellation.
    pub controls: DashMap<u64, Arc<RunControl>>,
    pub events: mpsc::UnboundedSender<Event>,
    /// The "code runs on this machine" notice went out.
    pub local_notice_shown: AtomicBool,
}

impl State {
    pub fn settings(&self) -> Settings {
        self.settings.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// "Azure sandbox" or "local sandbox", for titles and messages.
    pub fn sandbox_name(&self) -> &'static str {
        if matches!(self.settings().target(), Target::Local(_)) { "local sandbox" } else { "Azure sandbox" }
    }

    pub fn emit(&self, event: Event) {
        // Nobody listening (the front end is gone) is not an error.
        let _ = self.events.send(event);
    }
}
