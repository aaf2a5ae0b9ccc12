//! Each workspace's live state: the latest snapshot of its environment's
//! namespace, kept from the runs' deltas, with the run that last set each
//! name; and why it was lost, when it was.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use crate::run::{RunReport, StateLoss, Variable};

/// Where a workspace's snapshot stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SnapshotState {
    /// Nothing has run (or told us) yet.
    #[default]
    Empty,
    Ready,
    /// The environment's state is gone and nothing has run since.
    Lost,
}

/// Why the state was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LostReason {
    Expired,
    InterpreterReplaced,
    /// The user asked for a new environment.
    Restarted,
    /// The settings now name another sandbox.
    SandboxChanged,
}

impl LostReason {
    pub fn message(self) -> &'static str {
        match self {
            LostReason::Expired => {
                "The sandbox environment had expired: what it held is gone. Run the cells you need again."
            }
            LostReason::InterpreterReplaced => {
                "The environment's Python process was replaced: what it held is gone. Run the cells you need again."
            }
            LostReason::Restarted => "The environment was restarted: it holds nothing yet.",
            LostReason::SandboxChanged => "The settings name another sandbox: its environment holds nothing yet.",
        }
    }
}

impl From<StateLoss> for LostReason {
    fn from(loss: StateLoss) -> Self {
        match loss {
            StateLoss::Expired => LostReason::Expired,
            StateLoss::InterpreterReplaced => LostReason::InterpreterReplaced,
        }
    }
}

/// One name in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: Variable,
    /// The run that last set or changed it.
    pub run_id: u64,
}

/// A workspace's snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub state: SnapshotState,
    /// Set when the state was lost: by the last run (then `state` is
    /// `Ready` with what that run left) or since (`Lost`).
    pub lost: Option<LostReason>,
    pub entries: BTreeMap<String, Entry>,
}

/// The snapshots of every workspace.
#[derive(Default)]
pub struct Variables {
    snapshots: Mutex<HashMap<PathBuf, Snapshot>>,
}

impl Variables {
    fn with<T>(&self, root: &Path, change: impl FnOnce(&mut Snapshot) -> T) -> T {
        let mut snapshots = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
        change(snapshots.entry(root.to_owned()).or_default())
    }

    /// Takes in run `run_id`'s report. Returns true if what a view shows
    /// changed.
    pub fn apply(&self, root: &Path, run_id: u64, report: &RunReport) -> bool {
        self.with(root, |snapshot| {
            let before = snapshot.clone();
            if let Some(loss) = report.state_lost() {
                snapshot.entries.clear();
                snapshot.lost = Some(loss.into());
                snapshot.state = SnapshotState::Lost;
            } else if report.variables.is_some() {
                // Lost before this run (a restart): what it left is current now.
                snapshot.lost = None;
            }
            if let Some(delta) = &report.variables {
                if delta.full {
                    // A full snapshot (a new interpreter, or another client
                    // ran): names whose value did not change keep their run.
                    let old = std::mem::take(&mut snapshot.entries);
                    for (name, value) in &delta.set {
                        let run = old.get(name).filter(|e| &e.value == value).map_or(run_id, |e| e.run_id);
                        snapshot.entries.insert(name.clone(), Entry { value: value.clone(), run_id: run });
                    }
                } else {
                    for (name, value) in &delta.set {
                        snapshot.entries.insert(name.clone(), Entry { value: value.clone(), run_id });
                    }
                    for name in &delta.removed {
                        snapshot.entries.remove(name);
                    }
                }
                snapshot.state = SnapshotState::Ready;
            }
            *snapshot != before
        })
    }

    /// The environment was replaced on purpose (a restart).
    pub fn lose(&self, root: &Path, reason: LostReason) {
        self.with(root, |snapshot| {
            snapshot.entries.clear();
            snapshot.lost = Some(reason);
            snapshot.state = SnapshotState::Lost;
        });
    }

    pub fn snapshot(&self, root: &Path) -> Snapshot {
        self.with(root, |snapshot| snapshot.clone())
    }

    /// Every workspace with a snapshot.
    pub fn roots(&self) -> Vec<PathBuf> {
        self.snapshots.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    pub fn get(&self, root: &Path, name: &str) -> Option<Entry> {
        self.with(root, |snapshot| snapshot.entries.get(name).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Notice, RunResult, VariablesDelta};

    fn var(repr: &str) -> Variable {
        Variable {
            type_name: "int".into(),
            shape: None,
            size: Some(28),
            repr: repr.into(),
            columns: Vec::new(),
            expandable: false,
        }
    }

    fn report(delta: Option<VariablesDelta>, notices: Vec<Notice>) -> RunReport {
        RunReport {
            stdout: String::new(),
            stderr: String::new(),
            result: RunResult::Succeeded { value: None },
            environment: crate::mcp::EnvironmentId("e".into()),
            displays: Vec::new(),
            fresh_environment: false,
            notices,
            wall_time: std::time::Duration::ZERO,
            execution_ms: None,
            variables: delta,
            files: Vec::new(),
            files_more: 0,
            mirror_failures: Vec::new(),
        }
    }

    fn delta(full: bool, set: &[(&str, &str)], removed: &[&str]) -> Option<VariablesDelta> {
        Some(VariablesDelta {
            epoch: "e".into(),
            seq: 1,
            full,
            set: set.iter().map(|(n, r)| (n.to_string(), var(r))).collect(),
            removed: removed.iter().map(|n| n.to_string()).collect(),
        })
    }

    #[test]
    fn deltas_build_the_snapshot_with_the_run_that_set_each_name() {
        let vars = Variables::default();
        let root = Path::new("/w");
        assert_eq!(vars.snapshot(root).state, SnapshotState::Empty);
        assert!(vars.apply(root, 1, &report(delta(true, &[("a", "1"), ("b", "2")], &[]), Vec::new())));
        assert!(vars.apply(root, 2, &report(delta(false, &[("b", "3")], &["a"]), Vec::new())));
        assert!(!vars.apply(root, 3, &report(delta(false, &[], &[]), Vec::new())), "nothing changed");
        let snapshot = vars.snapshot(root);
        assert_eq!(snapshot.state, SnapshotState::Ready);
        assert_eq!(snapshot.entries.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!((snapshot.entries["b"].value.repr.as_str(), snapshot.entries["b"].run_id), ("3", 2));
        // A full snapshot keeps the run of what did not change.
        vars.apply(root, 4, &report(delta(true, &[("b", "3"), ("c", "4")], &[]), Vec::new()));
        assert_eq!((vars.get(root, "b").unwrap().run_id, vars.get(root, "c").unwrap().run_id), (2, 4));
    }

    #[test]
    fn a_lost_state_empties_the_snapshot_and_says_why() {
        let vars = Variables::default();
        let root = Path::new("/w");
        vars.apply(root, 1, &report(delta(true, &[("a", "1")], &[]), Vec::new()));
        let lost = Notice::StateLost { reason: StateLoss::Expired };
        // The run that found it lost ran in the new environment: what it left.
        vars.apply(root, 2, &report(delta(true, &[("z", "9")], &[]), vec![lost]));
        let snapshot = vars.snapshot(root);
        assert_eq!((snapshot.state, snapshot.lost), (SnapshotState::Ready, Some(LostReason::Expired)));
        assert_eq!(snapshot.entries.keys().collect::<Vec<_>>(), ["z"]);
        // A killed interpreter with no snapshot: lost, and empty.
        let replaced = Notice::StateLost { reason: StateLoss::InterpreterReplaced };
        vars.apply(root, 3, &report(None, vec![replaced]));
        let snapshot = vars.snapshot(root);
        assert_eq!((snapshot.state, snapshot.entries.len()), (SnapshotState::Lost, 0));
        vars.lose(root, LostReason::Restarted);
        assert_eq!(vars.snapshot(root).lost, Some(LostReason::Restarted));
        // The first run after a restart: ready, and no longer said to be lost.
        vars.apply(root, 4, &report(delta(true, &[("y", "1")], &[]), Vec::new()));
        let snapshot = vars.snapshot(root);
        assert_eq!((snapshot.state, snapshot.lost), (SnapshotState::Ready, None));
        assert!(LostReason::Restarted.message().contains("restarted"));
    }
}
