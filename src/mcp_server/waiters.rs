//! Tool calls waiting for their jobs: the workbench reports every job's end
//! as an event on one stream; this hands each end to the call that asked,
//! and each progress event (still running, bytes sent) to a call that
//! listens for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::workbench::{Event, Finished};

enum Slot {
    Waiting(oneshot::Sender<Box<Finished>>),
    /// Ended before anyone asked (a fast job: the call registers after
    /// submitting).
    Ended(Box<Finished>),
}

#[derive(Default)]
pub struct Waiters {
    slots: Mutex<HashMap<u64, Slot>>,
    /// Calls that report progress, by job.
    progress: Mutex<HashMap<u64, mpsc::UnboundedSender<String>>>,
}

impl Waiters {
    /// Waits for job `id` to end. `None`: the workbench stopped.
    pub async fn wait(&self, id: u64) -> Option<Box<Finished>> {
        let receiver = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            match slots.remove(&id) {
                Some(Slot::Ended(finished)) => return Some(finished),
                Some(Slot::Waiting(_)) | None => {
                    let (sender, receiver) = oneshot::channel();
                    slots.insert(id, Slot::Waiting(sender));
                    receiver
                }
            }
        };
        receiver.await.ok()
    }

    /// Progress messages for job `id` until it ends.
    pub fn listen(&self, id: u64) -> mpsc::UnboundedReceiver<String> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.progress.lock().unwrap_or_else(|e| e.into_inner()).insert(id, sender);
        receiver
    }

    fn progressed(&self, id: u64, message: String) {
        if let Some(sender) = self.progress.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
            let _ = sender.send(message);
        }
    }

    fn ended(&self, finished: Box<Finished>) {
        self.progress.lock().unwrap_or_else(|e| e.into_inner()).remove(&finished.summary.run_id);
        let id = finished.summary.run_id;
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.remove(&id) {
            Some(Slot::Waiting(sender)) => {
                let _ = sender.send(finished);
            }
            Some(Slot::Ended(_)) | None => {
                slots.insert(id, Slot::Ended(finished));
            }
        }
    }
}

/// Takes the workbench's events until it stops; hands out job ends.
pub async fn dispatch(mut events: mpsc::UnboundedReceiver<Event>, waiters: Arc<Waiters>) {
    while let Some(event) = events.recv().await {
        match event {
            Event::Finished(finished) => waiters.ended(finished),
            Event::Running { run_id, elapsed } if !elapsed.is_zero() => {
                waiters.progressed(run_id, format!("running, {} s", elapsed.as_secs()));
            }
            Event::Sending { run_id, sent, total } => {
                let (sent, total) = (crate::run::human_bytes(sent), crate::run::human_bytes(total));
                waiters.progressed(run_id, format!("sending the workspace's files: {sent} of {total}"));
            }
            Event::LocalSandboxChosen { isolation } => {
                tracing::info!("no Azure endpoint or pool is configured: code runs in the local sandbox ({isolation})");
            }
            // The start, queueing and live-state changes: the result says enough.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workbench::{Detail, JobKind, JobStatus, JobSummary};

    fn finished(id: u64) -> Box<Finished> {
        Box::new(Finished {
            summary: JobSummary::of_job(id, JobKind::Restart, "restart".into(), JobStatus::Succeeded, None),
            root: "/w".into(),
            doc: None,
            transcript_changed: false,
            detail: Detail::Restart,
        })
    }

    #[tokio::test]
    async fn an_end_reaches_its_call_whether_it_came_before_or_after_the_wait() {
        let waiters = Arc::new(Waiters::default());
        waiters.ended(finished(1));
        assert_eq!(waiters.wait(1).await.map(|f| f.summary.run_id), Some(1));
        let waiting = tokio::spawn({
            let waiters = Arc::clone(&waiters);
            async move { waiters.wait(2).await.map(|f| f.summary.run_id) }
        });
        tokio::task::yield_now().await;
        waiters.ended(finished(2));
        assert_eq!(waiting.await.unwrap(), Some(2));
    }
}
