//! Cancellation of one job, queued or running.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// Cancellation of one job.
pub(super) struct RunControl {
    pub root: PathBuf,
    cancelled: AtomicBool,
    pub(super) notify: Notify,
}

impl RunControl {
    pub fn new(root: PathBuf) -> Self {
        Self { root, cancelled: AtomicBool::new(false), notify: Notify::new() }
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}
