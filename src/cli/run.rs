//! `azure-sandbox-lsp run FILE [--lines START:END | --cell N]`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::options::exit;
use crate::config::{RemoteConfig, parse_seconds};
use crate::run::cells::{CellMarkers, cells_with};
use crate::run::{RunReport, RunResult, Selection, Source, workspace_root};
use crate::text::Document;
use crate::workbench::{Backend, registry_file};

#[derive(Debug, Args)]
#[command(
    about = "Run a Python file, a range of its lines, or one of its `# %%` cells in the workspace's sandbox environment",
    long_about = "Run a Python file, a range of its lines, or one of its `# %%` cells in the workspace's sandbox \
                  environment, and print its stdout and stderr as a terminal would. Errors are reported at FILE's \
                  own line numbers.\n\n\
                  The workspace is the nearest ancestor directory holding .git, else the file's directory; all runs \
                  in one workspace share one environment, so variables and imports carry over from run to run \
                  (against a remote endpoint; the embedded local sandbox lives only as long as this command).\n\n\
                  Exit status: 0 ran fine, 1 the code raised or was stopped, 2 bad arguments, 3 the sandbox could \
                  not be used."
)]
pub struct RunArgs {
    /// The Python file.
    file: PathBuf,
    /// Only these lines, 1-based and inclusive, e.g. 10:24.
    #[arg(long, value_name = "START:END", conflicts_with = "cell")]
    lines: Option<String>,
    /// Only this `# %%` cell, numbered from 1 (0 is code before the first marker).
    #[arg(long, value_name = "N")]
    cell: Option<usize>,
    /// A regular expression for cell marker lines instead of the standard
    /// forms (the editor's azureSandbox.cellMarker), e.g. '## '.
    #[arg(long, value_name = "PATTERN", env = "AZURE_SANDBOX_CELL_MARKER")]
    cell_marker: Option<String>,
    #[command(flatten)]
    sandbox: super::options::SandboxChoice,
    /// Seconds to wait for the run (default 230: just above the service's 220 s cap).
    #[arg(long, allow_hyphen_values = true)]
    timeout: Option<String>,
    /// Start the workspace's environment afresh (its state is discarded).
    #[arg(long)]
    restart: bool,
    /// Allow plain http:// to a non-loopback endpoint (the key travels in clear text).
    #[arg(long)]
    allow_insecure_http: bool,
}

fn parse_lines(spec: &str) -> Result<(usize, usize), String> {
    let parse =
        |s: &str| s.trim().parse::<usize>().map_err(|_| format!("--lines wants START:END (1-based), got `{spec}`"));
    match spec.split_once(':') {
        Some((start, end)) => Ok((parse(start)?, parse(end)?)),
        None => {
            let line = parse(spec)?;
            Ok((line, line))
        }
    }
}

pub async fn run(args: RunArgs) -> i32 {
    let text = match std::fs::read(&args.file) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            eprintln!("azure-sandbox-lsp: cannot read {}: {e}", args.file.display());
            return exit::USAGE;
        }
    };
    let path = std::fs::canonicalize(&args.file).unwrap_or_else(|_| args.file.clone());
    let filename = path.to_string_lossy().into_owned();
    let interactive = args.lines.is_some() || args.cell.is_some();
    let markers = match args.cell_marker.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(pattern) => match CellMarkers::custom(pattern) {
            Ok(markers) => markers,
            Err(why) => {
                eprintln!("azure-sandbox-lsp: --cell-marker: {why}");
                return exit::USAGE;
            }
        },
        None => CellMarkers::Standard,
    };
    let selection = match (&args.lines, args.cell) {
        (Some(spec), _) => match parse_lines(spec) {
            // 1-based and inclusive on the command line.
            Ok((start, end)) if start >= 1 && end >= start && end <= text_lines(&text) => {
                Selection::Lines { first: start as u32 - 1, last: end as u32 - 1 }
            }
            Ok((start, end)) => {
                let total = text_lines(&text);
                eprintln!("azure-sandbox-lsp: lines {start}:{end} are outside the file, which has {total} lines");
                return exit::USAGE;
            }
            Err(e) => {
                eprintln!("azure-sandbox-lsp: {e}");
                return exit::USAGE;
            }
        },
        (None, Some(cell)) => Selection::CellNumber(cell),
        (None, None) => Selection::File,
    };
    let doc = Document::new(&text, 0);
    let cells = cells_with(&text, &markers);
    let snippet =
        match crate::run::selection::cut(&Source { filename: &filename, doc: &doc, cells: &cells }, &selection) {
            Ok(cut) => cut.snippet,
            Err(e) => {
                eprintln!("azure-sandbox-lsp: {e}");
                return exit::USAGE;
            }
        };
    let mut config = RemoteConfig::from_env();
    config.endpoint = args.sandbox.endpoint();
    config.pool = args.sandbox.pool();
    config.allow_insecure_http |= args.allow_insecure_http;
    if let Some(timeout) = &args.timeout {
        match parse_seconds(timeout) {
            Ok(timeout) => config.run_timeout = Some(timeout),
            Err(why) => {
                eprintln!("azure-sandbox-lsp: --timeout: {why}; give a positive number of seconds");
                return exit::USAGE;
            }
        }
    }
    let backend = match Backend::start(&config, args.sandbox.local, registry_file()).await {
        Ok(backend) => backend,
        Err(e) => {
            eprintln!("azure-sandbox-lsp: {e}");
            return exit::SANDBOX;
        }
    };
    if backend.is_local() {
        let why =
            if args.sandbox.local { "--local" } else { "no AZURE_SANDBOX_MCP_ENDPOINT or AZURE_SANDBOX_POOL is set" };
        eprintln!(
            "azure-sandbox-lsp: running in the embedded local sandbox ({why}): Python on this machine, not Azure"
        );
    }
    let key = backend.engine.workspace_key(workspace_root(&path));
    if args.restart {
        if let Err(e) = backend.engine.restart(&key).await {
            eprintln!("azure-sandbox-lsp: {e}");
            backend.shutdown().await;
            return exit::SANDBOX;
        }
    }
    let status = match backend.engine.run(&key, &snippet).await {
        Ok(report) => print_report(&report, interactive),
        Err(e) => {
            eprintln!("azure-sandbox-lsp: {e}");
            exit::SANDBOX
        }
    };
    backend.shutdown().await;
    status
}

/// Lines as the editor counts them (LF, CRLF or CR; the empty line after a
/// final newline counts).
fn text_lines(text: &str) -> usize {
    crate::run::cells::split_lines(text).count()
}

fn print_report(report: &RunReport, interactive: bool) -> i32 {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(report.stdout.as_bytes());
    if let (true, RunResult::Succeeded { value: Some(value) }) = (interactive, &report.result) {
        // A trailing expression's value, as a notebook or the REPL would show it.
        if !report.stdout.is_empty() && !report.stdout.ends_with('\n') {
            let _ = stdout.write_all(b"\n");
        }
        let _ = writeln!(stdout, "{value}");
    }
    let _ = stdout.flush();
    drop(stdout);
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(report.stderr.as_bytes());
    match &report.result {
        RunResult::Failed { reason, .. } if !report.stderr.contains(reason.as_str()) => {
            let _ = writeln!(stderr, "azure-sandbox-lsp: {reason}");
        }
        _ => {}
    }
    for notice in &report.notices {
        let _ = writeln!(stderr, "azure-sandbox-lsp: {}", notice.message());
    }
    let _ = stderr.flush();
    if report.succeeded() { exit::OK } else { exit::CODE_FAILED }
}

#[cfg(test)]
mod tests {
    use super::parse_lines;

    #[test]
    fn line_specs() {
        assert_eq!(parse_lines("3:7"), Ok((3, 7)));
        assert_eq!(parse_lines(" 4 "), Ok((4, 4)));
        assert!(parse_lines("a:b").is_err());
        assert!(parse_lines("3-7").is_err());
    }
}
