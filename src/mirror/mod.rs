//! The workspace mirror: the workspace's files in the environment, so that
//! code reading `data/sales.csv` or importing `helpers.py` works there as it
//! does on the user's machine. The MCP endpoint has no file tool, so files
//! travel as Python code (in) and through the bulk channel (out).
//!
//! - `rules`: what may be sent (git's ignore rules, never `.git/` or files
//!   that look like secrets, the user's globs, a size budget);
//! - `scan`: the workspace's files under those rules, with their hashes;
//! - `record`: what each environment was sent, so only changes travel;
//! - `transfer`: sending (verified by hash, moved into place whole),
//!   listing and fetching files, and saving a fetched file locally.

mod names;
mod record;
mod rules;
mod scan;
mod transfer;

pub use names::{mirror_name, spec_for};
pub use record::MirrorRecord;
pub use rules::{DEFAULT_BUDGET, MirrorRules, looks_secret};
pub use scan::{LocalFile, Scan, ScanError, scan, scan_paths};
pub use transfer::{
    Fetched, Listing, MirrorError, RemoteFile, Saved, SyncReport, Synced, fetch, list, note_fetched, save_download,
    send, sync,
};
