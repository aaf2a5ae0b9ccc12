//! `azure-sandbox-lsp run FILE [--lines START:END | --cell N]`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::options::exit;
use crate::config::{RemoteConfig, parse_seconds};
use crate::run::Stream;
use crate::run::cells::{CellMarkers, cells_with};
use crate::run::{RunReport, RunResult, Selection, Source, workspace_root};
use crate::text::Document;
use crate::workbench::{Backend, Figure, FigureStore, LocalOptions, ShownOutput, registry_file};

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
    /// The embedded local sandbox's Python interpreter (default: python3 on
    /// PATH), e.g. a virtual environment's bin/python with matplotlib.
    #[arg(long, value_name = "PATH", env = "AZURE_SANDBOX_PYTHON")]
    python: Option<PathBuf>,
    /// Where to write the run's figures (default: figures/ in the cache
    /// directory, owner-only, the oldest removed beyond 200 MB). Each file
    /// is named on stderr.
    #[arg(long, value_name = "DIR")]
    figures: Option<PathBuf>,
    /// Print the typed result as one JSON object on stdout (status, outputs,
    /// figures as files, error, notices) instead of the run's own output.
    #[arg(long)]
    json: bool,
    /// Do not send the workspace's changed files to the sandbox first.
    #[arg(long)]
    no_sync: bool,
    /// Files matching this glob are not sent (repeatable; .gitignore is
    /// honoured too), e.g. 'data/raw/**'.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
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
    let bytes = match std::fs::read(&args.file) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("azure-sandbox-lsp: cannot read {}: {e}", args.file.display());
            return exit::USAGE;
        }
    };
    let path = std::fs::canonicalize(&args.file).unwrap_or_else(|_| args.file.clone());
    let filename = path.to_string_lossy().into_owned();
    let text = match decode_source(&bytes, &filename) {
        Ok(text) => text,
        Err(SourceError::Python(line)) => {
            // What python3 FILE says about it, before running anything.
            eprintln!("{line}");
            return exit::CODE_FAILED;
        }
        Err(SourceError::Unsupported(encoding)) => {
            eprintln!(
                "azure-sandbox-lsp: cannot read {}: it declares the encoding `{encoding}`, which run does not decode \
                 (it decodes UTF-8, Latin-1, Latin-9, cp1252 and ASCII); save the file as UTF-8",
                args.file.display()
            );
            return exit::USAGE;
        }
    };
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
    let python = args.python.clone().filter(|p| !p.as_os_str().is_empty());
    let local = match LocalOptions::from_env(python) {
        Ok(local) => local,
        Err(why) => {
            eprintln!("azure-sandbox-lsp: {why}");
            return exit::USAGE;
        }
    };
    let backend = match Backend::start(&config, args.sandbox.local, registry_file(), local).await {
        Ok(backend) => backend,
        Err(e) => {
            eprintln!("azure-sandbox-lsp: {e}");
            return exit::SANDBOX;
        }
    };
    if backend.is_local() {
        let why =
            if args.sandbox.local { "--local" } else { "no AZURE_SANDBOX_MCP_ENDPOINT or AZURE_SANDBOX_POOL is set" };
        let isolation = backend.local.as_ref().map(|l| l.isolation().describe()).unwrap_or_default();
        eprintln!(
            "azure-sandbox-lsp: running in the embedded local sandbox ({why}): Python on this machine, not Azure; \
             isolation: {isolation}"
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
    let mut options = crate::run::RunOptions::default();
    let mut synced = None;
    if !args.no_sync {
        let rules = crate::mirror::MirrorRules {
            exclude: args.exclude.clone(),
            skip: crate::config::cache_dir().into_iter().collect(),
            ..Default::default()
        };
        match super::files::sync_workspace(&backend, &key, &rules).await {
            Ok(done) => {
                let mut spec = crate::mirror::spec_for(&key.root, &path);
                spec.files = done.inline.clone();
                options.mirror = Some(spec);
                synced = Some(done);
            }
            Err(crate::mirror::MirrorError::Scan(e)) if e.is_too_much() => {
                // Run without the workspace's files, as the editor does.
                eprintln!("azure-sandbox-lsp: {e}");
                options.mirror = Some(crate::mirror::spec_for(&key.root, &path));
            }
            Err(e) => {
                eprintln!("azure-sandbox-lsp: {e}");
                eprintln!("azure-sandbox-lsp: not run; --no-sync runs without sending the workspace's files");
                backend.shutdown().await;
                return exit::SANDBOX;
            }
        }
    }
    let local = backend.is_local();
    let (status, interrupted) = match backend.engine.run_with(&key, &snippet, &options).await {
        Ok(report) => {
            if let Some(synced) = &synced {
                let failed: Vec<String> = report.mirror_failures.iter().map(|(path, _)| path.clone()).collect();
                synced.confirm(&key, &backend.mirror, &failed);
                for (path, why) in &report.mirror_failures {
                    eprintln!("azure-sandbox-lsp: the sandbox could not take {path}: {why}");
                }
            }
            let store = match &args.figures {
                Some(dir) => Some(FigureStore::in_dir(dir.clone())),
                None => FigureStore::in_cache(),
            };
            let stem = path.file_stem().map_or("run".into(), |s| s.to_string_lossy().into_owned());
            let figures = match &store {
                Some(store) if !report.displays.is_empty() => store.save(&stem, &report),
                _ => Vec::new(),
            };
            let status = if args.json {
                print_json(&report, &figures, interactive)
            } else {
                let status = print_report(&report, &figures, interactive);
                super::files::say_written(&report, local);
                status
            };
            (status, raised(&report, "KeyboardInterrupt"))
        }
        Err(e) => {
            eprintln!("azure-sandbox-lsp: {e}");
            (exit::SANDBOX, false)
        }
    };
    backend.shutdown().await;
    if interrupted {
        end_by_sigint();
    }
    status
}

fn raised(report: &RunReport, type_name: &str) -> bool {
    matches!(&report.result, RunResult::Raised(e) if e.type_name == type_name)
}

/// Ends this process the way python3 ends on an uncaught KeyboardInterrupt:
/// by SIGINT, so that a shell sees an interrupted program (status 130) and a
/// script running it stops too.
fn end_by_sigint() {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: restores the default action for SIGINT and raises it in this
    // process; no memory is touched.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::raise(libc::SIGINT);
    }
}

/// Why a file's bytes are not Python source text.
#[derive(Debug, PartialEq, Eq)]
enum SourceError {
    /// python3 would refuse the file with this line (a `SyntaxError`).
    Python(String),
    /// The file declares an encoding this tool does not decode.
    Unsupported(String),
}

/// The text of a source file, decoded as python3 decodes it (PEP 263): a
/// UTF-8 byte-order mark (dropped), else a `coding` declaration in a comment
/// on line 1, or on line 2 when line 1 is blank or a comment, else UTF-8.
fn decode_source(bytes: &[u8], filename: &str) -> Result<String, SourceError> {
    let (bom, body) = match bytes.strip_prefix(b"\xef\xbb\xbf") {
        Some(body) => (true, body),
        None => (false, bytes),
    };
    let mut lines = body.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    let declared = coding_spec(first).or_else(|| {
        let blank_or_comment = first.iter().find(|b| !b" \t\x0c\r".contains(b)).is_none_or(|&b| b == b'#');
        if blank_or_comment { lines.next().and_then(coding_spec) } else { None }
    });
    let Some(declared) = declared else {
        return std::str::from_utf8(body).map(str::to_owned).map_err(|e| {
            let at = e.valid_up_to();
            let line = body[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            SourceError::Python(format!(
                "SyntaxError: Non-UTF-8 code starting with '\\x{:02x}' in file {filename} on line {line}, but no \
                 encoding declared; see https://peps.python.org/pep-0263/ for details",
                body[at]
            ))
        });
    };
    let normal = normal_encoding_name(&declared);
    let problem = || SourceError::Python(format!("SyntaxError: encoding problem: {normal}"));
    if bom && normal != "utf-8" {
        return Err(SourceError::Python(format!("SyntaxError: encoding problem: {normal} with BOM")));
    }
    let high: fn(u8) -> Option<char> = match codec_name(&normal).as_str() {
        "utf_8" | "utf8" | "u8" | "utf" | "utf8_ucs2" | "utf8_ucs4" | "cp65001" => {
            return std::str::from_utf8(body).map(str::to_owned).map_err(|_| problem());
        }
        "latin_1" | "latin1" | "latin" | "l1" | "iso8859_1" | "iso_8859_1" | "iso_8859_1_1987" | "iso_ir_100"
        | "8859" | "cp819" | "csisolatin1" | "ibm819" | "iso8859" => |b| Some(char::from(b)),
        "iso8859_15" | "iso_8859_15" | "l9" | "latin9" => latin9,
        "cp1252" | "windows_1252" | "1252" => cp1252,
        "ascii" | "us_ascii" | "646" | "ansi_x3.4_1968" | "ansi_x3_4_1968" | "ansi_x3.4_1986" | "cp367" | "csascii"
        | "ibm367" | "iso646_us" | "iso_646.irv_1991" | "iso_ir_6" | "us" => |_| None,
        _ => return Err(SourceError::Unsupported(declared)),
    };
    body.iter()
        .map(|&b| if b < 0x80 { Some(char::from(b)) } else { high(b) })
        .collect::<Option<String>>()
        .ok_or_else(problem)
}

/// The encoding named by a `coding[:=]` in a comment-only line (PEP 263's
/// `^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)`).
fn coding_spec(line: &[u8]) -> Option<String> {
    let start = line.iter().position(|b| !b" \t\x0c".contains(b))?;
    if line[start] != b'#' {
        return None;
    }
    let comment = &line[start..];
    let at = (0..comment.len().saturating_sub(6))
        .find(|&i| &comment[i..i + 6] == b"coding" && matches!(comment.get(i + 6), Some(b':' | b'=')))?;
    let rest = &comment[at + 7..];
    let rest = &rest[rest.iter().position(|b| !b" \t".contains(b)).unwrap_or(rest.len())..];
    let end = rest.iter().position(|&b| !(b.is_ascii_alphanumeric() || b"-_.".contains(&b))).unwrap_or(rest.len());
    (end > 0).then(|| String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// CPython's tokenizer's `get_normal_name`: the UTF-8 and Latin-1 spellings
/// become `utf-8` and `iso-8859-1`; anything else stays as written.
fn normal_encoding_name(name: &str) -> String {
    let lower: String = name.chars().take(12).map(|c| if c == '_' { '-' } else { c.to_ascii_lowercase() }).collect();
    let family = |base: &str| lower == base || lower.starts_with(&format!("{base}-"));
    if family("utf-8") {
        "utf-8".into()
    } else if family("latin-1") || family("iso-8859-1") || family("iso-latin-1") {
        "iso-8859-1".into()
    } else {
        name.to_owned()
    }
}

/// The name `codecs.lookup` looks up: lower case, each run of characters
/// other than letters, digits and dots one underscore.
fn codec_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// ISO-8859-15: Latin-1 with eight characters replaced, the euro sign first.
fn latin9(b: u8) -> Option<char> {
    Some(match b {
        0xa4 => '\u{20ac}',
        0xa6 => '\u{160}',
        0xa8 => '\u{161}',
        0xb4 => '\u{17d}',
        0xb8 => '\u{17e}',
        0xbc => '\u{152}',
        0xbd => '\u{153}',
        0xbe => '\u{178}',
        _ => char::from(b),
    })
}

/// Windows-1252: Latin-1 but for 0x80-0x9f, five of which are undefined.
fn cp1252(b: u8) -> Option<char> {
    const HIGH: [u16; 32] = [
        0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d,
        0, 0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,
        0x017e, 0x0178,
    ];
    match b {
        0x80..=0x9f => char::from_u32(u32::from(HIGH[usize::from(b - 0x80)])).filter(|&c| c != '\0'),
        _ => Some(char::from(b)),
    }
}

/// Lines as the editor counts them (LF, CRLF or CR; the empty line after a
/// final newline counts).
fn text_lines(text: &str) -> usize {
    crate::run::cells::split_lines(text).count()
}

/// Prints the run as a terminal shows a program: stdout (with each table's
/// text where the run made it), the trailing value of lines or a cell, then
/// stderr; each figure's file is named on stderr.
fn print_report(report: &RunReport, figures: &[Figure], interactive: bool) -> i32 {
    let mut stdout = std::io::stdout().lock();
    let mut ends_line = true;
    let mut named = Vec::new();
    for output in ShownOutput::of_report(report, figures) {
        let text = match output {
            ShownOutput::Stream { stream: Stream::Stdout, text } => text,
            ShownOutput::Display { figure: Some(figure), .. } => {
                named.push(figure);
                continue;
            }
            // A table or other rich item: its text, as a notebook's plain view.
            ShownOutput::Display { data, result: false, .. } => match data.get("text/plain") {
                Some(plain) => format!("{}{plain}\n", if ends_line { "" } else { "\n" }),
                None => continue,
            },
            _ => continue,
        };
        if !text.is_empty() {
            ends_line = text.ends_with('\n');
            let _ = stdout.write_all(text.as_bytes());
        }
    }
    if let (true, RunResult::Succeeded { value: Some(value) }) = (interactive, &report.result) {
        // A trailing expression's value, as a notebook or the REPL would show it.
        if !ends_line {
            let _ = stdout.write_all(b"\n");
        }
        let _ = writeln!(stdout, "{value}");
    }
    let _ = stdout.flush();
    drop(stdout);
    let mut stderr = std::io::stderr().lock();
    for (n, figure) in named.iter().enumerate() {
        let _ =
            writeln!(stderr, "azure-sandbox-lsp: figure {}: {} ({})", n + 1, figure.path.display(), figure.describe());
    }
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
    exit_status(report)
}

/// The exit status of `run` for a report.
fn exit_status(report: &RunReport) -> i32 {
    match &report.result {
        RunResult::Succeeded { .. } => exit::OK,
        // `sys.exit(N)`: the status python3 would exit with.
        RunResult::Raised(exception) => exception.exit_status.map_or(exit::CODE_FAILED, i32::from),
        RunResult::Failed { .. } => exit::CODE_FAILED,
    }
}

/// `run --json`: the typed result, for scripts and agents.
fn print_json(report: &RunReport, figures: &[Figure], interactive: bool) -> i32 {
    let (status, error, reason) = match &report.result {
        RunResult::Succeeded { .. } => ("succeeded", None, None),
        RunResult::Raised(e) => ("raised", Some(e), None),
        RunResult::Failed { reason, at } => ("stopped", at.as_ref(), Some(reason)),
    };
    let error = error.map(|e| {
        serde_json::json!({
            "type": e.type_name,
            "message": e.message,
            "traceback": e.traceback,
            "exitStatus": e.exit_status,
            "frames": e.frames.iter().map(|f| serde_json::json!({
                "file": f.file, "line": f.line, "function": f.function, "col": f.col,
            })).collect::<Vec<_>>(),
        })
    });
    let value = match &report.result {
        RunResult::Succeeded { value } => value.clone(),
        _ => None,
    };
    let document = serde_json::json!({
        "status": status,
        "exitCode": exit_status(report),
        "stdout": report.stdout,
        "stderr": report.stderr,
        "value": value,
        "valueShown": interactive,
        "outputs": ShownOutput::of_report(report, figures),
        "figures": figures,
        "error": error,
        "reason": reason,
        "notices": report.notices.iter().map(|n| {
            let mut value = serde_json::to_value(n).unwrap_or_default();
            value["message"] = n.message().into();
            value
        }).collect::<Vec<_>>(),
        "files": report.files,
        "filesMore": report.files_more,
        "durationMs": report.duration().as_millis() as u64,
        "freshEnvironment": report.fresh_environment,
    });
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{document}");
    let _ = stdout.flush();
    exit_status(report)
}

#[cfg(test)]
mod tests {
    use super::{SourceError, decode_source, parse_lines};

    #[test]
    fn sources_decode_as_python_decodes_them() {
        let decode = |bytes: &[u8]| decode_source(bytes, "/w/f.py");
        assert_eq!(decode(b"\xef\xbb\xbfprint(1)\n"), Ok("print(1)\n".into()));
        assert_eq!(
            decode(b"# -*- coding: latin-1 -*-\ns = '\xe9'\n"),
            Ok("# -*- coding: latin-1 -*-\ns = '\u{e9}'\n".into())
        );
        assert_eq!(
            decode(b"#!/usr/bin/env python3\n# vim: set fileencoding=iso-8859-15 :\n\xa4"),
            Ok("#!/usr/bin/env python3\n# vim: set fileencoding=iso-8859-15 :\n\u{20ac}".into())
        );
        assert_eq!(decode(b"# coding=cp1252\n\x93\x80"), Ok("# coding=cp1252\n\u{201c}\u{20ac}".into()));
        assert_eq!(decode(b"# coding: Latin_1\n\xe9"), Ok("# coding: Latin_1\n\u{e9}".into()));
        // Line 2 counts only after a blank or comment line; line 3 never.
        assert!(matches!(decode(b"x = 1\n# coding: latin-1\n\xe9"), Err(SourceError::Python(_))));
        assert!(matches!(decode(b"\n\n# coding: latin-1\n\xe9"), Err(SourceError::Python(_))));
        assert_eq!(decode(b"\n# coding: latin-1\n\xe9"), Ok("\n# coding: latin-1\n\u{e9}".into()));
        // What python3 says when it refuses a file.
        assert_eq!(
            decode(b"print('ok')\ns = 'caf\xe9'\n"),
            Err(SourceError::Python(
                "SyntaxError: Non-UTF-8 code starting with '\\xe9' in file /w/f.py on line 2, but no encoding \
                 declared; see https://peps.python.org/pep-0263/ for details"
                    .into()
            ))
        );
        let problem = |text: &str| Err(SourceError::Python(format!("SyntaxError: encoding problem: {text}")));
        assert_eq!(decode(b"# coding: ASCII\n\xc3\xa9"), problem("ASCII"));
        assert_eq!(decode(b"# coding: cp1252\n\x81"), problem("cp1252"));
        assert_eq!(decode(b"\xef\xbb\xbf# coding: latin-1\n"), problem("iso-8859-1 with BOM"));
        assert_eq!(decode(b"\xef\xbb\xbf# coding: UTF_8\nx = 1\n"), Ok("# coding: UTF_8\nx = 1\n".into()));
        assert_eq!(decode(b"# coding: koi8-r\n"), Err(SourceError::Unsupported("koi8-r".into())));
        // Not a declaration: code before the comment, or no separator.
        assert_eq!(decode(b"x = 1  # coding: latin-1\n"), Ok("x = 1  # coding: latin-1\n".into()));
        assert_eq!(decode(b"# coding latin-1\n"), Ok("# coding latin-1\n".into()));
    }

    #[test]
    fn line_specs() {
        assert_eq!(parse_lines("3:7"), Ok((3, 7)));
        assert_eq!(parse_lines(" 4 "), Ok((4, 4)));
        assert!(parse_lines("a:b").is_err());
        assert!(parse_lines("3-7").is_err());
    }
}
