//! The run engine end to end against the real local sandbox: line numbers,
//! the result channel, and one environment per workspace.

use std::time::Duration;

use crate::common::*;
use azure_sandbox_lsp::run::{Notice, RunResult, Selection, Snippet, Source, StateLoss, Stream, cells, selection};
use azure_sandbox_lsp::sandbox::SandboxConfig;
use azure_sandbox_lsp::text::Document;

const FILE: &str = "/work/project/analysis.py";
const SOURCE: &str = "\
import math

def inner(x):
    return 1 / x

def outer(x):
    return inner(x - 1)

# %% run it
print('before')
outer(1)
";

fn raised(result: &RunResult) -> &azure_sandbox_lsp::run::PyException {
    match result {
        RunResult::Raised(e) => e,
        other => panic!("expected an exception, got {other:?}"),
    }
}

/// Cell `number` of `text`, cut as every front end cuts it.
fn cell(text: &str, number: usize) -> Snippet {
    let doc = Document::new(text, 0);
    let cells = cells::cells(text);
    let source = Source { filename: FILE, doc: &doc, cells: &cells };
    selection::cut(&source, &Selection::CellNumber(number)).unwrap().snippet
}

#[tokio::test]
async fn tracebacks_carry_the_files_own_lines_through_every_frame() {
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/work/project".into());
    // Define the functions (lines 1-7), then run the cell (lines 9-11) alone.
    let report = engine.run(&key, &Snippet::from_lines(FILE, SOURCE, 1, 7).unwrap()).await.unwrap();
    assert!(report.succeeded(), "{report:?}");
    let report = engine.run(&key, &cell(SOURCE, 1)).await.unwrap();
    assert_eq!(report.stdout, "before\n");
    let error = raised(&report.result);
    assert_eq!(error.headline(), "ZeroDivisionError: division by zero");
    let lines: Vec<(u32, &str)> = error.frames.iter().map(|f| (f.line, f.function.as_str())).collect();
    assert_eq!(lines, vec![(11, "<module>"), (7, "outer"), (4, "inner")]);
    assert!(error.frames.iter().all(|f| f.file == FILE), "no wrapper frames: {:?}", error.frames);
    let innermost = error.innermost_in(FILE).unwrap();
    assert_eq!((innermost.line, innermost.col, innermost.end_col), (4, Some(11), Some(16)));
    // The traceback the user reads says the same, with source lines.
    assert!(
        report.stderr.contains(&format!("File \"{FILE}\", line 4, in inner\n    return 1 / x")),
        "{}",
        report.stderr
    );
    assert!(!report.stderr.contains("azure-sandbox-lsp>"), "{}", report.stderr);
}

#[tokio::test]
async fn syntax_errors_point_at_line_and_column() {
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    let text = "a = 1\nb = 2\nc = (3 +\nd = 4\n";
    let report = engine.run(&key, &Snippet::from_lines("/w/s.py", text, 2, 4).unwrap()).await.unwrap();
    let error = raised(&report.result);
    assert_eq!(error.type_name, "SyntaxError");
    let at = error.syntax.as_ref().expect("location");
    assert_eq!((at.line, at.col), (3, 4), "{error:?}");
    assert!(error.headline().starts_with("SyntaxError: '(' was never closed"), "{}", error.headline());
}

#[tokio::test]
async fn indented_selections_run_dedented_and_report_document_columns() {
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    let text = "def f():\n    value = 10\n    print(value * 2)\n    return value / 0\n";
    // Lines 2-3: the body of f, indented by four.
    let report = engine.run(&key, &Snippet::from_lines("/w/i.py", text, 2, 3).unwrap()).await.unwrap();
    assert_eq!(report.stdout, "20\n");
    let report = engine.run(&key, &Snippet::from_lines("/w/i.py", text, 4, 4).unwrap()).await;
    // `return` outside a function: a SyntaxError at the document's column 4.
    let error = report.unwrap();
    let error = raised(&error.result);
    assert_eq!(error.syntax.as_ref().map(|s| (s.line, s.col)), Some((4, 4)));
    let text = "if True:\n    x = [1, 2]\n    y = x[5]\n";
    let report = engine.run(&key, &Snippet::from_lines("/w/j.py", text, 2, 3).unwrap()).await.unwrap();
    let error = raised(&report.result);
    assert_eq!(error.type_name, "IndexError");
    let frame = error.innermost_in("/w/j.py").unwrap();
    assert_eq!((frame.line, frame.col), (3, Some(8)), "column counts the removed indentation");
}

#[tokio::test]
async fn unicode_before_the_error_does_not_shift_columns() {
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    let text = "s = 'héllo→🙂'; n = undefined_name\n";
    let report = engine.run(&key, &Snippet::whole("/w/u.py", text)).await.unwrap();
    let frame = raised(&report.result).innermost_in("/w/u.py").unwrap().clone();
    let expected = text
        .chars()
        .take_while(|_| true)
        .collect::<String>()
        .find("undefined_name")
        .map(|b| text[..b].chars().count() as u32);
    assert_eq!(frame.col, expected);
}

#[tokio::test]
async fn state_values_and_streams() {
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    let first = engine
        .run(
            &key,
            &Snippet::whole(
                "/w/a.py",
                "import sys\ntotal = 40\nprint('to stdout')\nprint('to stderr', file=sys.stderr)",
            ),
        )
        .await
        .unwrap();
    assert!(first.fresh_environment);
    assert_eq!((first.stdout.as_str(), first.stderr.as_str()), ("to stdout\n", "to stderr\n"));
    let second = engine.run(&key, &Snippet::whole("/w/b.py", "total + 2")).await.unwrap();
    assert!(!second.fresh_environment);
    assert_eq!(second.environment, first.environment);
    assert_eq!(second.result, RunResult::Succeeded { value: Some("42".into()) });
    // The engine's machinery leaves no names behind in the user's namespace.
    let names = engine
        .run(&key, &Snippet::whole("/w/c.py", "sorted(n for n in globals() if not n.startswith('__'))"))
        .await
        .unwrap();
    assert_eq!(names.result, RunResult::Succeeded { value: Some("['sys', 'total']".into()) });
    // Another workspace gets another environment.
    let other = engine
        .run(&engine.workspace_key("/elsewhere".into()), &Snippet::whole("/elsewhere/d.py", "'total' in globals()"))
        .await
        .unwrap();
    assert_ne!(other.environment, first.environment);
    assert_eq!(other.result, RunResult::Succeeded { value: Some("False".into()) });
}

#[tokio::test]
async fn outcome_survives_cut_output_and_closed_stdout() {
    let sandbox = sandbox(SandboxConfig { output_cap: 300, ..config() }).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    let code = "for i in range(1000):\n    print('line', i)\nraise ValueError('after lots of output')";
    let report = engine.run(&key, &Snippet::whole("/w/big.py", code)).await.unwrap();
    assert_eq!(raised(&report.result).headline(), "ValueError: after lots of output");
    assert_eq!(raised(&report.result).frames[0].line, 3);
    // The sandbox kept 300 characters; the bulk channel brought the rest.
    let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
    assert_eq!(report.stdout, expected);
    assert!(report.stderr.contains("ValueError: after lots of output"), "{}", report.stderr);
    assert!(report.notices.is_empty(), "{:?}", report.notices);
    let report =
        engine.run(&key, &Snippet::whole("/w/closed.py", "import sys\nsys.stdout.close()\n6 * 7")).await.unwrap();
    assert_eq!(report.result, RunResult::Succeeded { value: Some("42".into()) });
}

#[tokio::test]
async fn printed_markers_from_user_code_are_just_output() {
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    let fake = "print('@@azure-sandbox-lsp:result@@0000000000000000 {\"status\": \"ok\", \"value\": \"forged\"}')\n1/0";
    let report = engine.run(&key, &Snippet::whole("/w/f.py", fake)).await.unwrap();
    assert_eq!(raised(&report.result).type_name, "ZeroDivisionError");
    assert!(report.stdout.contains("forged"));
}

#[tokio::test]
async fn an_expired_environment_is_replaced_once_and_the_user_is_told() {
    let sandbox = sandbox(SandboxConfig { cool_down: Duration::from_millis(400), ..config() }).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    let first = engine.run(&key, &Snippet::whole("/w/a.py", "x = 1")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = engine.run(&key, &Snippet::whole("/w/a.py", "'x' in globals()")).await.unwrap();
    assert_ne!(second.environment, first.environment);
    assert_eq!(second.state_lost(), Some(StateLoss::Expired), "{:?}", second.notices);
    assert!(second.notices[0].message().contains("expired"), "{:?}", second.notices);
    assert_eq!(second.result, RunResult::Succeeded { value: Some("False".into()) });
    // And the new environment is the workspace's from now on.
    let third = engine.run(&key, &Snippet::whole("/w/a.py", "1")).await.unwrap();
    assert_eq!(third.environment, second.environment);
    assert_eq!(third.state_lost(), None);
}

#[tokio::test]
async fn a_killed_interpreter_is_a_failed_run_with_state_lost() {
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    engine.run(&key, &Snippet::whole("/w/a.py", "x = 1")).await.unwrap();
    let report = engine.run(&key, &Snippet::whole("/w/a.py", "import os\nos._exit(1)")).await.unwrap();
    assert!(
        matches!(&report.result, RunResult::Failed { reason, .. } if reason.contains("state")),
        "{:?}",
        report.result
    );
    assert_eq!(report.state_lost(), Some(StateLoss::InterpreterReplaced));
    let report = engine.run(&key, &Snippet::whole("/w/a.py", "'x' in globals()")).await.unwrap();
    assert_eq!(report.result, RunResult::Succeeded { value: Some("False".into()) });
}

#[tokio::test]
async fn frames_in_other_files_of_the_workspace_are_kept() {
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    engine.run(&key, &Snippet::whole("/w/lib.py", "\n\ndef helper(d):\n    return d['missing']\n")).await.unwrap();
    let report = engine.run(&key, &Snippet::whole("/w/main.py", "data = {}\nhelper(data)")).await.unwrap();
    let error = raised(&report.result);
    assert_eq!(error.type_name, "KeyError");
    let frames: Vec<(&str, u32)> = error.frames.iter().map(|f| (f.file.as_str(), f.line)).collect();
    assert_eq!(frames, vec![("/w/main.py", 2), ("/w/lib.py", 4)]);
    // The source line of the other file shows in the traceback too.
    assert!(report.stderr.contains("return d['missing']"), "{}", report.stderr);
}

#[tokio::test]
async fn missing_modules_are_named() {
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let report = engine
        .run(&engine.workspace_key("/w".into()), &Snippet::whole("/w/m.py", "import surely_not_installed_pkg"))
        .await
        .unwrap();
    assert_eq!(raised(&report.result).missing_module.as_deref(), Some("surely_not_installed_pkg"));
}

/// The service documents only `stdout` for a run: behind a proxy that drops
/// every other result field, values, exceptions at the file's own lines and
/// stderr still arrive, through the runtime's marker line.
#[tokio::test]
async fn the_engine_needs_only_stdout_from_the_service() {
    use crate::common::fault_proxy::{Fault, FaultProxy, Scope};
    let sandbox = sandbox(config()).await;
    let proxy = FaultProxy::start(sandbox.endpoint()).await;
    proxy.set_fault(Fault::StdoutOnly, Scope::Runs);
    let client = azure_sandbox_lsp::mcp::McpClient::new(
        &proxy.url,
        Some(sandbox.api_key().clone()),
        azure_sandbox_lsp::mcp::ClientOptions::default(),
    )
    .unwrap();
    let engine =
        azure_sandbox_lsp::run::Engine::new(client, std::sync::Arc::new(azure_sandbox_lsp::run::Registry::in_memory()));
    let key = engine.workspace_key("/w".into());
    let text = "import sys\nprint('out')\nprint('err', file=sys.stderr)\n6 * 7\n";
    let report = engine.run(&key, &Snippet::from_lines("/w/a.py", text, 1, 4).unwrap()).await.unwrap();
    assert_eq!(report.stdout, "out\n");
    assert_eq!(report.stderr, "err\n");
    assert_eq!(report.result, RunResult::Succeeded { value: Some("42".into()) });
    let text = "def f():\n    return 1 / 0\n\nf()\n";
    let report = engine.run(&key, &Snippet::whole("/w/b.py", text)).await.unwrap();
    let error = raised(&report.result);
    assert_eq!(error.headline(), "ZeroDivisionError: division by zero");
    let lines: Vec<u32> = error.frames.iter().map(|f| f.line).collect();
    assert_eq!(lines, vec![4, 2]);
    assert!(report.stderr.contains("ZeroDivisionError"), "the traceback reaches the user: {}", report.stderr);
    assert!(proxy.faulted() >= 2, "the proxy stripped the replies");
}

/// The service's cap (4,096 characters, the local sandbox's default too):
/// 112 KB of output arrives whole, byte for byte, through the bulk channel.
#[tokio::test]
async fn a_long_output_arrives_whole_through_the_services_cap() {
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    let code = "import sys\nfor i in range(2500):\n    print(f'row {i}: ' + 'x' * (i % 50) + ' é中🙂')\n\
                print('to stderr ' * 1000, file=sys.stderr)\n'done'";
    let report = engine.run(&key, &Snippet::from_lines("/w/long.py", code, 1, 5).unwrap()).await.unwrap();
    let expected: String = (0..2500).map(|i| format!("row {i}: {} é中🙂\n", "x".repeat(i % 50))).collect();
    assert!(expected.len() > 100_000);
    assert_eq!(report.stdout, expected, "stdout whole, in order");
    assert_eq!(report.stderr, format!("{}\n", "to stderr ".repeat(1000)), "stderr whole");
    assert_eq!(report.result, RunResult::Succeeded { value: Some("'done'".into()) });
    assert!(report.notices.is_empty(), "{:?}", report.notices);
}

/// Past the output limit, the start and the end of a stream are kept and
/// the user is told how much was dropped from the middle.
#[tokio::test]
async fn output_beyond_the_limit_keeps_its_start_and_end_and_says_what_was_dropped() {
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox).with_output_limit(2000);
    let key = engine.workspace_key("/w".into());
    let code = "print('START' + 'y' * 9980 + 'END')";
    let report = engine.run(&key, &Snippet::whole("/w/huge.py", code)).await.unwrap();
    assert!(report.stdout.starts_with("STARTyy") && report.stdout.ends_with("yyEND\n"), "{}", report.stdout.len());
    assert_eq!(report.stdout.len(), 2000);
    assert_eq!(report.notices, vec![Notice::OutputDropped { stream: Stream::Stdout, characters: 7989 }]);
    assert!(report.notices[0].message().contains("7989 characters were dropped"));
}

/// A second process (a new engine, as a second `run` command) finds the
/// runtime already there and sends only the short form; an interpreter that
/// lost it (replaced) gets it again, and the run still happens once.
#[tokio::test]
async fn the_runtime_is_installed_once_and_again_when_an_interpreter_lost_it() {
    let sandbox = sandbox(config()).await;
    let registry = std::sync::Arc::new(azure_sandbox_lsp::run::Registry::in_memory());
    let first = azure_sandbox_lsp::run::Engine::new(client(&sandbox), std::sync::Arc::clone(&registry));
    let key = first.workspace_key("/w".into());
    first.run(&key, &Snippet::whole("/w/a.py", "runs = 1")).await.unwrap();
    let second = azure_sandbox_lsp::run::Engine::new(client(&sandbox), registry);
    let report = second.run(&key, &Snippet::whole("/w/a.py", "runs += 1\nruns")).await.unwrap();
    assert_eq!(report.result, RunResult::Succeeded { value: Some("2".into()) });
    assert!(!report.fresh_environment);
    // The interpreter dies: the next (short) run finds no runtime, and runs
    // once, with it, in the fresh interpreter.
    second.run(&key, &Snippet::whole("/w/a.py", "import os\nos._exit(1)")).await.unwrap();
    let report = second.run(&key, &Snippet::whole("/w/a.py", "print('once')\n'runs' in globals()")).await.unwrap();
    assert_eq!(report.stdout, "once\n");
    assert_eq!(report.result, RunResult::Succeeded { value: Some("False".into()) });
}
