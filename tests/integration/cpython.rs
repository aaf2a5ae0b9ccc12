//! A whole-file run behaves like `python3 FILE`: every program in
//! `tests/cpython/` runs both ways, and the exit status, stdout, the
//! traceback frames, the exception line and the rest of stderr must agree.
//!
//! A program that must differ by design says so in a header comment,
//! `# expect-difference: <aspects>: <reason>`, where the aspects are a
//! comma-separated list of `status`, `stdout`, `traceback`, `exception` and
//! `stderr`. The harness checks that exactly those aspects differ, so the list
//! of differences is tested, not just tolerated. `# rerun-difference:` does
//! the same for the second of two runs in one environment (state carries
//! over between runs by design).
//!
//! A directory in the corpus is one program: its `main.py`, with the other
//! files beside it. `CPYTHON_CORPUS_ONLY=name,name` runs only those programs.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_azure-sandbox-lsp");
const TOOL_PREFIX: &str = "azure-sandbox-lsp:";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Aspect {
    Status,
    Stdout,
    Traceback,
    Exception,
    Stderr,
}

impl Aspect {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.trim() {
            "status" => Aspect::Status,
            "stdout" => Aspect::Stdout,
            "traceback" => Aspect::Traceback,
            "exception" => Aspect::Exception,
            "stderr" => Aspect::Stderr,
            _ => return None,
        })
    }
}

/// One program of the corpus, copied into its own directory.
struct Program {
    name: String,
    /// Keeps the copy alive; `file` is inside it.
    _dir: tempfile::TempDir,
    dir: PathBuf,
    file: PathBuf,
    /// What differs from `python3 FILE` by design, on every run.
    expected: BTreeSet<Aspect>,
    /// What differs only when the program runs a second time in one environment.
    rerun_expected: BTreeSet<Aspect>,
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cpython")
}

/// The aspects a header names (`# <key>: aspects: reason`), all lines of it.
fn header_aspects(name: &str, source: &str, key: &str) -> BTreeSet<Aspect> {
    let mut aspects = BTreeSet::new();
    for line in source.lines() {
        let Some(rest) = line.trim_start_matches('\u{feff}').strip_prefix(&format!("# {key}:")) else { continue };
        let (list, reason) = rest.split_once(':').unwrap_or_else(|| panic!("{name}: `# {key}:` wants aspects: reason"));
        assert!(reason.trim().len() >= 10, "{name}: `# {key}:` must give its reason");
        for word in list.split(',') {
            let aspect =
                Aspect::parse(word).unwrap_or_else(|| panic!("{name}: unknown aspect `{}` in `# {key}:`", word.trim()));
            aspects.insert(aspect);
        }
    }
    aspects
}

fn programs() -> Vec<Program> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(corpus_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    let only: Option<Vec<String>> =
        std::env::var("CPYTHON_CORPUS_ONLY").ok().map(|v| v.split(',').map(|s| s.trim().to_owned()).collect());
    let mut programs = Vec::new();
    for entry in entries {
        let stem = entry.file_stem().unwrap().to_string_lossy().into_owned();
        if only.as_ref().is_some_and(|only| !only.contains(&stem)) {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let (name, file) = if entry.is_dir() {
            for file in std::fs::read_dir(&entry).unwrap() {
                let file = file.unwrap().path();
                std::fs::copy(&file, root.join(file.file_name().unwrap())).unwrap();
            }
            (entry.file_name().unwrap().to_string_lossy().into_owned(), root.join("main.py"))
        } else if entry.extension().is_some_and(|e| e == "py") {
            let target = root.join(entry.file_name().unwrap());
            std::fs::copy(&entry, &target).unwrap();
            (entry.file_stem().unwrap().to_string_lossy().into_owned(), target)
        } else {
            continue;
        };
        let source = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        programs.push(Program {
            expected: header_aspects(&name, &source, "expect-difference"),
            rerun_expected: header_aspects(&name, &source, "rerun-difference"),
            name,
            _dir: dir,
            dir: root,
            file,
        });
    }
    programs
}

/// What one run showed, in the terms the comparison uses.
#[derive(Debug, Clone)]
struct Observed {
    status: String,
    stdout: Vec<u8>,
    /// stderr without the tool's own `azure-sandbox-lsp:` lines.
    stderr: String,
}

impl Observed {
    fn from(output: &Output) -> Self {
        use std::os::unix::process::ExitStatusExt;
        let status = match (output.status.code(), output.status.signal()) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => "unknown".to_owned(),
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr: String = stderr.split_inclusive('\n').filter(|l| !l.starts_with(TOOL_PREFIX)).collect();
        Self { status, stdout: output.stdout.clone(), stderr }
    }

    /// stderr's lines, sorted into traceback lines (headers, frames, source
    /// and caret lines, chaining), exception lines (the line after a
    /// traceback) and the rest.
    fn stderr_parts(&self) -> [Vec<&str>; 3] {
        let (mut traceback, mut exception, mut other) = (Vec::new(), Vec::new(), Vec::new());
        let mut in_traceback = false;
        for line in self.stderr.lines() {
            let is_traceback_line = line == "Traceback (most recent call last):"
                || line.starts_with("  File \"")
                || line.trim_start().starts_with("[Previous line repeated")
                || line.starts_with("  |")
                || line.starts_with("  +")
                || line.starts_with("    +")
                || line == "During handling of the above exception, another exception occurred:"
                || line == "The above exception was the direct cause of the following exception:"
                || (in_traceback && line.starts_with("    "));
            if is_traceback_line {
                traceback.push(line);
                in_traceback = true;
            } else if in_traceback && !line.is_empty() && !line.starts_with(' ') {
                exception.push(line);
                in_traceback = false;
            } else {
                if !line.is_empty() {
                    in_traceback = false;
                }
                other.push(line);
            }
        }
        [traceback, exception, other]
    }

    fn differences(&self, other: &Observed) -> BTreeSet<Aspect> {
        let mut differ = BTreeSet::new();
        if self.status != other.status {
            differ.insert(Aspect::Status);
        }
        if self.stdout != other.stdout {
            differ.insert(Aspect::Stdout);
        }
        let (mine, theirs) = (self.stderr_parts(), other.stderr_parts());
        for (aspect, (a, b)) in
            [Aspect::Traceback, Aspect::Exception, Aspect::Stderr].into_iter().zip(mine.iter().zip(&theirs))
        {
            if a != b {
                differ.insert(aspect);
            }
        }
        differ
    }
}

fn python(program: &Program) -> Observed {
    let output = Command::new("python3")
        .arg(&program.file)
        .current_dir(&program.dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LANG", "C.UTF-8")
        .env("HOME", &program.dir)
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs");
    Observed::from(&output)
}

/// The binary with no configuration leaking in from the developer's shell.
fn tool(cache: &Path) -> Command {
    let mut command = Command::new(BIN);
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("AZURE_") {
            command.env_remove(var);
        }
    }
    command.env("AZURE_SANDBOX_CACHE_DIR", cache).stdin(Stdio::null());
    command
}

fn tool_run(program: &Program, cache: &Path, endpoint: Option<&Endpoint>) -> Observed {
    let mut command = tool(cache);
    // Compared with python3 FILE on this machine: the workspace mirror
    // (tests/integration/mirror.rs) would move __file__ into it, by design.
    command.arg("run").arg("--no-sync").arg(&program.file).current_dir(&program.dir);
    match endpoint {
        None => {
            command.arg("--local");
        }
        Some(endpoint) => {
            command.env("AZURE_SANDBOX_MCP_ENDPOINT", &endpoint.url).env("AZURE_SANDBOX_API_KEY", &endpoint.key);
        }
    }
    Observed::from(&command.output().expect("the binary runs"))
}

fn show(observed: &Observed) -> String {
    const MOST: usize = 4000;
    let cut = |text: &str| -> String {
        if text.len() <= MOST {
            return text.to_owned();
        }
        let mut end = MOST;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… [{} more bytes]", &text[..end], text.len() - end)
    };
    format!(
        "  status: {}\n  stdout: {:?}\n  stderr:\n{}",
        observed.status,
        cut(&String::from_utf8_lossy(&observed.stdout)),
        cut(&observed.stderr).lines().map(|l| format!("    | {l}\n")).collect::<String>()
    )
}

fn names(aspects: &BTreeSet<Aspect>) -> String {
    if aspects.is_empty() {
        return "nothing".into();
    }
    aspects.iter().map(|a| format!("{a:?}").to_lowercase()).collect::<Vec<_>>().join(", ")
}

/// The report for one comparison, or None when it went as the header says.
fn judge(
    what: &str,
    program: &Program,
    expected: &BTreeSet<Aspect>,
    cpython: &Observed,
    ours: &Observed,
) -> Option<String> {
    let differ = cpython.differences(ours);
    if &differ == expected {
        return None;
    }
    Some(format!(
        "{} ({what}): expected to differ in {}, differs in {}\n python3 {}:\n{}\n azure-sandbox-lsp run:\n{}",
        program.name,
        names(expected),
        names(&differ),
        program.file.file_name().unwrap().to_string_lossy(),
        show(cpython),
        show(ours)
    ))
}

/// Runs `work` on every program with a few threads; returns the failures.
fn each_program(programs: &[Program], work: impl Fn(&Program) -> Vec<String> + Sync) -> Vec<String> {
    let next = Mutex::new(0usize);
    let failures = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = {
                        let mut next = next.lock().unwrap();
                        *next += 1;
                        *next - 1
                    };
                    let Some(program) = programs.get(index) else { return };
                    let found = work(program);
                    failures.lock().unwrap().extend(found);
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    failures
}

fn assert_no_failures(failures: Vec<String>, count: usize) {
    assert!(
        failures.is_empty(),
        "{} of {count} programs do not behave as `python3 FILE` does (or as their header says):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn whole_file_runs_behave_like_python3_file() {
    let started = Instant::now();
    let programs = programs();
    let only = std::env::var_os("CPYTHON_CORPUS_ONLY").is_some();
    assert!(only || programs.len() >= 60, "the corpus has {} programs", programs.len());
    let failures = each_program(&programs, |program| {
        let cache = tempfile::tempdir().unwrap();
        let cpython = python(program);
        let ours = tool_run(program, cache.path(), None);
        judge("--local", program, &program.expected, &cpython, &ours).into_iter().collect()
    });
    eprintln!("{} programs compared in {:.1} s", programs.len(), started.elapsed().as_secs_f64());
    assert_no_failures(failures, programs.len());
}

struct Endpoint {
    url: String,
    key: String,
    child: Child,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_local(cache: &Path) -> Endpoint {
    let mut child = tool(cache)
        .args(["serve-local", "--port", "0", "--max-environments", "1000", "--cool-down", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut value = |prefix: &str| -> String {
        let line = lines.next().expect("serve-local prints its variables").unwrap();
        line.strip_prefix(prefix).unwrap_or_else(|| panic!("{prefix} line, got {line}")).to_owned()
    };
    let url = value("MCP_ENDPOINT=");
    let key = value("API_KEY=");
    Endpoint { url, key, child }
}

/// The editor runs a file again and again in one environment: the second
/// run of a program must still behave like `python3 FILE`, so nothing a
/// program does (rebinding `compile`, `print` or `json`, closing stdout,
/// warnings shown once) may break or change the runs after it.
#[test]
fn a_second_run_in_the_same_environment_still_behaves_like_python3_file() {
    let started = Instant::now();
    let programs = programs();
    let cache = tempfile::tempdir().unwrap();
    let endpoint = serve_local(cache.path());
    let failures = each_program(&programs, |program| {
        let cpython = python(program);
        // The registry of this program's workspace: both runs use one environment.
        let registry = tempfile::tempdir().unwrap();
        let mut found = Vec::new();
        for (what, expected) in
            [("first run in an environment", &program.expected), ("second run", &program.rerun_expected)]
        {
            let ours = tool_run(program, registry.path(), Some(&endpoint));
            let expected = if what == "second run" { &program.expected | expected } else { expected.clone() };
            found.extend(judge(what, program, &expected, &cpython, &ours));
        }
        found
    });
    eprintln!("{} programs run twice in {:.1} s", programs.len(), started.elapsed().as_secs_f64());
    assert_no_failures(failures, programs.len());
}

/// An indented selection is dedented before it runs; a SyntaxError in it
/// still shows the line and the caret where python3 shows them for the
/// whole file.
#[test]
fn a_syntax_error_in_an_indented_selection_points_where_python3_does() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    for (name, text, lines) in [
        ("one_line.py", "def f():\n    x = 1\n    y = = 2\n    return x\n", "2:3"),
        ("continued.py", "def f():\n    x = 1\n    y = (1,\n    2 +* 3)\n", "2:4"),
        ("deeper.py", "class C:\n    def m(self):\n        if True:\n            z = [1,, 2]\n", "3:4"),
    ] {
        let file = root.join(name);
        std::fs::write(&file, text).unwrap();
        let program = Program {
            name: name.into(),
            _dir: tempfile::tempdir().unwrap(),
            dir: root.clone(),
            file: file.clone(),
            expected: BTreeSet::new(),
            rerun_expected: BTreeSet::new(),
        };
        let cpython = python(&program);
        let cache = tempfile::tempdir().unwrap();
        let output =
            tool(cache.path()).arg("run").arg(&file).args(["--lines", lines, "--local", "--no-sync"]).output().unwrap();
        let ours = Observed::from(&output);
        assert!(cpython.stderr.contains("SyntaxError"), "{}", cpython.stderr);
        assert_eq!(
            ours.stderr_parts()[..2],
            cpython.stderr_parts()[..2],
            "{name} --lines {lines}:\n{}\n{}",
            show(&cpython),
            show(&ours)
        );
        assert_eq!(ours.status, cpython.status, "{name}");
    }
}

/// Lines and cells run notebook-style (a trailing value is shown, names
/// persist), but `__file__`, `sys.argv` and `sys.exit` mean what they mean
/// in a whole-file run, as docs/cli.md says; an assignment to `sys.argv` by
/// the code stays until a whole-file run starts a program again.
#[test]
fn lines_and_cells_see_the_file_and_exit_as_a_program_does() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let file = root.join("cells.py");
    std::fs::write(
        &file,
        "import sys\n# %%\nprint(__file__ == sys.argv[0], len(sys.argv))\n# %%\nsys.exit(4)\n# %%\nsys.exit('bye')\n\
         # %%\nsys.argv = ['mine', '--flag']\n# %%\nraise KeyboardInterrupt\n",
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let endpoint = serve_local(cache.path());
    let run = |args: &[&str]| {
        let output = tool(cache.path())
            .arg("run")
            .arg("--no-sync")
            .arg(&file)
            .args(args)
            .env("AZURE_SANDBOX_MCP_ENDPOINT", &endpoint.url)
            .env("AZURE_SANDBOX_API_KEY", &endpoint.key)
            .output()
            .unwrap();
        Observed::from(&output)
    };
    let check = |args: &[&str], status: &str, stdout: &str, stderr: &str| {
        let seen = run(args);
        assert_eq!(
            (seen.status.as_str(), String::from_utf8_lossy(&seen.stdout).as_ref(), seen.stderr.as_str()),
            (status, stdout, stderr),
            "run {args:?}"
        );
    };
    check(&["--lines", "1:3"], "exit 0", "True 1\n", "");
    check(&["--cell", "2"], "exit 4", "", "");
    check(&["--cell", "3"], "exit 1", "", "bye\n");
    check(&["--cell", "4"], "exit 0", "", "");
    check(&["--cell", "1"], "exit 0", "False 2\n", "");
    check(&["--lines", "1:1"], "exit 0", "", "");
    check(&["--cell", "1"], "exit 0", "False 2\n", "");
    let whole = run(&[]);
    assert_eq!(whole.status, "exit 4", "the whole file stops at sys.exit(4): {}", show(&whole));
    check(&["--cell", "1"], "exit 0", "True 1\n", "");
    let interrupted = run(&["--cell", "5"]);
    assert_eq!(interrupted.status, "killed by signal 2", "{}", show(&interrupted));
    assert!(interrupted.stderr.ends_with("KeyboardInterrupt\n"), "{}", show(&interrupted));
}
