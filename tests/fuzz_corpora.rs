//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the
//! same checks the fuzz targets run (`azure_sandbox_lsp::fuzzing`), on
//! stable and without cargo-fuzz: every input the fuzzer kept, and every
//! crash it found once (added to the corpus after the fix), stays checked by
//! `cargo test`. Fuzzing itself: `scripts/fuzz.sh`.

use std::path::{Path, PathBuf};

use azure_sandbox_lsp::fuzzing;

/// The corpus files of one target, sorted. Fails if there are fewer than
/// `at_least`, so the replay cannot pass by reading nothing.
fn corpus(target: &str, at_least: usize) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= at_least, "{}: {} inputs, expected at least {at_least}", dir.display(), files.len());
    files
        .into_iter()
        .map(|path| {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (path, data)
        })
        .collect()
}

/// Runs `check` on every input, naming the file that failed.
fn replay(target: &str, at_least: usize, check: fn(&[u8])) {
    let inputs = corpus(target, at_least);
    let mut failed = Vec::new();
    for (path, data) in &inputs {
        if let Err(panic) = std::panic::catch_unwind(|| check(data)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failed.push(format!("{}: {message}", path.display()));
        }
    }
    assert!(failed.is_empty(), "{} of {} {target} inputs failed:\n{}", failed.len(), inputs.len(), failed.join("\n"));
}

#[test]
fn run_outcome_corpus() {
    replay("run_outcome", 40, fuzzing::run_outcome);
}

#[test]
fn mcp_reply_corpus() {
    replay("mcp_reply", 40, fuzzing::mcp_reply);
}

#[test]
fn positions_corpus() {
    replay("positions", 40, fuzzing::positions);
}

#[test]
fn cells_corpus() {
    replay("cells", 40, fuzzing::cells);
}
