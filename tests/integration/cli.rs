//! The command line, as a user runs it: the real binary, real processes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_azure-sandbox-lsp");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary with no configuration leaking in from the developer's shell.
fn command(cache: &Path) -> Command {
    let mut command = Command::new(BIN);
    for var in [
        "AZURE_SANDBOX_MCP_ENDPOINT",
        "AZURE_SANDBOX_API_KEY",
        "AZURE_SANDBOX_ALLOW_INSECURE_HTTP",
        "AZURE_SANDBOX_LOG",
    ] {
        command.env_remove(var);
    }
    command.env("AZURE_SANDBOX_CACHE_DIR", cache).stdin(Stdio::null());
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(args: &[&str]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    command(cache.path()).args(args).output().unwrap()
}

#[test]
fn help_lists_subcommands_and_each_has_help() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let help = text(&output.stdout);
    assert!(help.contains("run") && help.contains("serve-local"), "{help}");
    for sub in ["run", "serve-local"] {
        let output = run(&[sub, "--help"]);
        assert!(output.status.success(), "{sub}");
        assert!(text(&output.stdout).contains("Usage:"), "{sub}");
    }
}

#[test]
fn runs_the_example_on_the_embedded_sandbox() {
    let example = repo().join("examples/analysis.py");
    let output = run(&["run", example.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).starts_with("7 readings\nmean 15.84, stdev 2.71\n"), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.matches("embedded local sandbox").count(), 1, "said once: {stderr}");
    // A cell on its own: the example's cell 2 shows its trailing value.
    let output = run(&["run", example.to_str().unwrap(), "--cell", "1"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(text(&output.stdout), "7 readings\n");
}

#[test]
fn an_exception_prints_the_traceback_with_real_lines_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.py");
    std::fs::write(&file, "import math\n\n\ndef inner(x):\n    return math.pi / x\n\n# %%\nprint('start')\ninner(0)\n")
        .unwrap();
    let output = run(&["run", file.to_str().unwrap(), "--lines", "1:9"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(text(&output.stdout), "start\n");
    let stderr = text(&output.stderr);
    let path = file.canonicalize().unwrap();
    assert!(stderr.contains(&format!("File \"{}\", line 9, in <module>", path.display())), "{stderr}");
    assert!(stderr.contains("line 5, in inner"), "{stderr}");
    assert!(stderr.contains("ZeroDivisionError: float division by zero"), "{stderr}");
}

/// The embedded sandbox cuts output at the service's 4,096 characters; the
/// command line still prints all of it, byte for byte, as python3 would
/// (the benchmark found a 100,000-character cut here once).
#[test]
fn a_long_output_prints_whole_through_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.py");
    let code = "for i in range(3000):\n    print(f'row {i}: ' + 'x' * (i % 95))\n";
    std::fs::write(&file, code).unwrap();
    let expected = Command::new("python3").args(["-c", code]).output().unwrap().stdout;
    assert!(expected.len() > 150_000);
    let output = run(&["run", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(output.stdout == expected, "{} of {} bytes", output.stdout.len(), expected.len());
}

#[test]
fn trailing_values_show_for_cells_and_lines_not_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("v.py");
    std::fs::write(&file, "x = 6\nx * 7\n").unwrap();
    assert_eq!(text(&run(&["run", file.to_str().unwrap(), "--lines", "1:2"]).stdout), "42\n");
    assert_eq!(text(&run(&["run", file.to_str().unwrap()]).stdout), "");
}

/// The CLI cuts cells as the editor does: with the editor's custom marker
/// pattern when given one, up to the cell's last non-blank line.
#[test]
fn cells_follow_a_custom_marker_pattern() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("steps.py");
    std::fs::write(&file, "## step one\nb = 1 + 1\nb\n\n\n## step two\nb * 10\n# %% standard\nprint('std')\n").unwrap();
    let file = file.to_str().unwrap();
    let output = run(&["run", file, "--cell", "1", "--cell-marker", "## "]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "2\n");
    // The variable the CLI reads too (the same setting as the editor's).
    let cache = tempfile::tempdir().unwrap();
    let output = command(cache.path())
        .args(["run", file, "--cell", "2"])
        .env("AZURE_SANDBOX_CELL_MARKER", "## ")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "cell 2 alone has no `b`: {}", text(&output.stderr));
    assert!(text(&output.stderr).contains("NameError"), "{}", text(&output.stderr));
    // Without the pattern, the standard markers: one cell, after `# %%`.
    let output = run(&["run", file, "--cell", "1"]);
    assert_eq!((output.status.code(), text(&output.stdout).as_str()), (Some(0), "std\n"), "{}", text(&output.stderr));
    let output = run(&["run", file, "--cell", "2"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("no cell 2"), "{}", text(&output.stderr));
    let output = run(&["run", file, "--cell-marker", "(unclosed"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("invalid cell marker pattern"), "{}", text(&output.stderr));
}

/// No Python for the local sandbox: the sandbox cannot be used (3), and the
/// message says what to install.
#[test]
fn no_local_python_exits_3_and_says_what_to_install() {
    let cache = tempfile::tempdir().unwrap();
    let example = repo().join("examples/analysis.py");
    let empty = tempfile::tempdir().unwrap();
    let output =
        command(cache.path()).args(["run", example.to_str().unwrap()]).env("PATH", empty.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("needs Python 3.8 or newer"), "{}", text(&output.stderr));
}

#[test]
fn bad_arguments_exit_2_with_a_reason() {
    let example = repo().join("examples/analysis.py");
    let example = example.to_str().unwrap();
    for (args, needle) in [
        (vec!["run", "/no/such/file.py"], "cannot read"),
        (vec!["run", example, "--lines", "3-4"], "START:END"),
        (vec!["run", example, "--lines", "1:9999"], "outside the file"),
        (vec!["run", example, "--cell", "9"], "no cell 9"),
        (vec!["run", example, "--timeout=-1"], "positive"),
    ] {
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(text(&output.stderr).contains(needle), "{args:?}: {}", text(&output.stderr));
    }
}

#[test]
fn unusable_endpoints_exit_3_and_never_show_the_key() {
    let example = repo().join("examples/analysis.py");
    let cache = tempfile::tempdir().unwrap();
    let key = "sentinel-key-do-not-print-7f3a";
    let output = command(cache.path())
        .args(["run", example.to_str().unwrap()])
        .env("AZURE_SANDBOX_MCP_ENDPOINT", "http://pool.example.com/mcp")
        .env("AZURE_SANDBOX_API_KEY", key)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("clear text"), "{stderr}");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://127.0.0.1:{}/mcp", listener.local_addr().unwrap().port());
    drop(listener);
    let output = command(cache.path())
        .args(["run", example.to_str().unwrap()])
        .env("AZURE_SANDBOX_MCP_ENDPOINT", &dead)
        .env("AZURE_SANDBOX_API_KEY", key)
        .env("AZURE_SANDBOX_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("cannot reach the sandbox endpoint"), "{stderr}");
    assert!(!stderr.contains(key) && !text(&output.stdout).contains(key), "{stderr}");
}

struct Server {
    child: Child,
    endpoint: String,
    key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_local(args: &[&str]) -> Server {
    let cache = tempfile::tempdir().unwrap();
    let mut child = command(cache.path())
        .arg("serve-local")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let endpoint = lines.next().unwrap().unwrap();
    let key = lines.next().unwrap().unwrap();
    Server {
        child,
        endpoint: endpoint.strip_prefix("MCP_ENDPOINT=").expect("MCP_ENDPOINT line").to_owned(),
        key: key.strip_prefix("API_KEY=").expect("API_KEY line").to_owned(),
    }
}

#[test]
fn serve_local_prints_the_tutorial_variables_and_runs_share_state_across_invocations() {
    let server = serve_local(&["--port", "0"]);
    assert!(
        server.endpoint.starts_with("http://127.0.0.1:") && server.endpoint.ends_with("/mcp"),
        "{}",
        server.endpoint
    );
    assert_eq!(server.key.len(), 64, "a generated key");
    let workspace = tempfile::tempdir().unwrap();
    std::fs::create_dir(workspace.path().join(".git")).unwrap();
    let file = workspace.path().join("nb.py");
    std::fs::write(&file, "# %%\ncounter = 1\n# %%\ncounter += 1\nprint(counter)\n").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let invoke = |args: &[&str]| {
        command(cache.path())
            .args(args)
            .env("AZURE_SANDBOX_MCP_ENDPOINT", &server.endpoint)
            .env("AZURE_SANDBOX_API_KEY", &server.key)
            .output()
            .unwrap()
    };
    let file = file.to_str().unwrap();
    assert_eq!(invoke(&["run", file, "--cell", "1"]).status.code(), Some(0));
    // A second process reuses the workspace's environment: state carried over.
    let output = invoke(&["run", file, "--cell", "2"]);
    assert_eq!(text(&output.stdout), "2\n", "{}", text(&output.stderr));
    assert_eq!(text(&invoke(&["run", file, "--cell", "2"]).stdout), "3\n");
    // The registry file is owner-only and holds no key.
    let registry = cache.path().join("environments.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&registry).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!std::fs::read_to_string(&registry).unwrap().contains(&server.key));
    // --restart starts afresh.
    let output = invoke(&["run", file, "--cell", "2", "--restart"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("NameError: name 'counter' is not defined"), "{}", text(&output.stderr));
    // A wrong key is refused with advice, and the key is not printed.
    let output = command(cache.path())
        .args(["run", file])
        .env("AZURE_SANDBOX_MCP_ENDPOINT", &server.endpoint)
        .env("AZURE_SANDBOX_API_KEY", "not-the-key-123")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("refused the API key") && !stderr.contains("not-the-key-123"), "{stderr}");
}

#[test]
fn serve_local_takes_a_given_key_and_rejects_an_empty_one() {
    let server = serve_local(&["--api-key", "my-local-key"]);
    assert_eq!(server.key, "my-local-key");
    let output = run(&["serve-local", "--api-key", " "]);
    assert_eq!(output.status.code(), Some(2));
}

/// Language clients start servers with `--stdio`; the bare form must work.
#[test]
fn bare_stdio_flag_serves_the_language_server() {
    use std::io::{Read, Write};
    let cache = tempfile::tempdir().unwrap();
    let mut child = command(cache.path()).arg("--stdio").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#;
    let mut stdin = child.stdin.take().unwrap();
    write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    stdin.flush().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("azure-sandbox-lsp") {
        let n = stdout.read(&mut buffer).unwrap();
        assert!(n > 0, "the server closed stdout: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buffer[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("Content-Length: "));
    drop(stdin); // end of input: the server stops
    let status = child.wait().unwrap();
    assert!(status.code().is_some());
}

/// Against a remote endpoint the CLI makes as few requests as the tutorial
/// does: a new workspace launches and runs (the runtime goes along once); a
/// known one only runs, and sends little beside the user's code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_runs_make_as_few_requests_as_the_tutorial() {
    use crate::common::fault_proxy::FaultProxy;
    let sandbox = crate::common::sandbox(crate::common::config()).await;
    let proxy = FaultProxy::start(sandbox.endpoint()).await;
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job.py");
    std::fs::write(&file, "print('hi')\n").unwrap();
    let run = || {
        command(cache.path())
            .args(["run", file.to_str().unwrap(), "--endpoint", &proxy.url])
            .env("AZURE_SANDBOX_API_KEY", sandbox.api_key().expose())
            .output()
            .unwrap()
    };
    let names = |calls: &[(String, usize)]| calls.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>();
    let output = tokio::task::block_in_place(run);
    assert_eq!((output.status.code(), text(&output.stdout).as_str()), (Some(0), "hi\n"), "{}", text(&output.stderr));
    let first = proxy.calls();
    assert_eq!(
        names(&first),
        ["tools/call launchPythonEnvironment", "tools/call runPythonCodeInRemoteEnvironment"],
        "a new workspace: launch, then run"
    );
    let output = tokio::task::block_in_place(run);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let second = proxy.calls()[first.len()..].to_vec();
    assert_eq!(names(&second), ["tools/call runPythonCodeInRemoteEnvironment"], "a known workspace: the run alone");
    let (_, bytes) = &second[0];
    assert!(*bytes < 1024 + "print('hi')\n".len() + file.to_str().unwrap().len(), "{bytes} bytes for a one-line run");
}
