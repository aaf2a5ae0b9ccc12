//! The Python source the client sends for one run: a short statement that
//! calls the runtime (runtime.py) in this interpreter. The runtime's source
//! (about 11 KB) travels only when the environment is new, or when a run
//! found it missing (an interpreter that was replaced): every other run sends
//! a few hundred bytes beside the user's code.
//!
//! The statement runs in the user's namespace (`__main__`), where the user
//! may have rebound any name (`compile`, `exec`, `globals`, `__import__`,
//! `json`...). So it looks none up: `import builtins as H` finds the module
//! through the interpreter's own import machinery, and everything else is an
//! attribute of it. `H` (a name with the run's nonce in it) is the one name
//! it binds, and the body removes it before any user code runs. The body is
//! compiled under the filename `<azure-sandbox-lsp>`, so tracebacks drop its
//! frames, and the first line of the statement (the line a stack dump would
//! show) holds nothing but the import and the call.

use std::sync::LazyLock;

use serde_json::json;

use super::display::DisplayOptions;
use super::snippet::Snippet;

const RUNTIME_SOURCE: &str = include_str!("runtime.py");
pub const MARKER: &str = "@@azure-sandbox-lsp:result@@";
pub const MACHINERY: &str = "<azure-sandbox-lsp>";

/// What the runtime keeps of each stream of a run, beyond any cut the
/// service makes: the whole output up to here, then its start and its end.
/// (runtime.py's `_DEFAULT_OUTPUT_LIMIT`: a request leaves out the default.)
pub const DEFAULT_OUTPUT_LIMIT: usize = 10_000_000;

/// The runtime's module name: a hash of its source in it, so a client with
/// another runtime never calls an old one left in a long-lived environment.
static RUNTIME_MODULE: LazyLock<String> = LazyLock::new(|| {
    let hash = RUNTIME_SOURCE
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("_azsb_runtime_{:012x}", hash & 0xffff_ffff_ffff)
});

/// The outcome a lean run reports when the interpreter lacks the runtime
/// (no user code ran): the client sends the run again with the runtime.
pub const MISSING_RUNTIME: &str = r#"{"missingRuntime": true}"#;

/// A string as a Python literal. JSON string syntax is a subset of Python's
/// (serde_json never emits `\/`), so this is exact for any Rust string.
pub(crate) fn py_literal(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "''".into())
}

/// A JSON value as a Python literal (strings as [`py_literal`]s), so the
/// request is one literal, not JSON text in a string to parse: the user's
/// code is escaped once.
pub(crate) fn py_value(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => py_literal(s),
        Value::Array(items) => format!("[{}]", items.iter().map(py_value).collect::<Vec<_>>().join(",")),
        Value::Object(map) => {
            let items: Vec<String> = map.iter().map(|(k, v)| format!("{}:{}", py_literal(k), py_value(v))).collect();
            format!("{{{}}}", items.join(","))
        }
    }
}

/// The statement that runs `body` with `names` as its globals, the builtins
/// module as its builtins, and `sys` imported. `G` in the body is the
/// namespace the service ran the statement in (the user's). The body and
/// the names are on the second line; the first holds only the import and
/// the call. (Compact: the lean form goes with every run.)
pub(crate) fn statement(nonce: &str, body: &str, names: &[(&str, String)]) -> String {
    // Short: it is written four times in every run's request. Eight hex
    // digits of the nonce are plenty to stay clear of the user's names.
    let handle = format!("_azsb_{}", &nonce[..nonce.len().min(8)]);
    let prologue = format!("import sys\nF=sys._getframe(1)\nG=F.f_globals\nF.f_locals.pop('{handle}',None)\ndel F\n");
    let mut globals = format!("'__builtins__':{handle}");
    for (name, literal) in names {
        globals.push_str(&format!(",'{name}':{literal}"));
    }
    format!(
        "import builtins as {handle};{handle}.exec({handle}.compile(\n{body},'{MACHINERY}','exec'),{{{globals}}})\n",
        body = py_literal(&format!("{prologue}{body}")),
    )
}

/// The body that finds the runtime, installing it from `SOURCE` when
/// `install` (else reporting it missing), and runs `REQUEST`. A failure of
/// the machinery itself is one line on stderr, never a traceback through it.
fn run_body(install: bool) -> String {
    runtime_body(install, "REQUEST['nonce']", "rt.run(REQUEST,G)")
}

/// [`run_body`] for any call of the runtime: `nonce` is the expression for
/// the nonce a missing runtime is reported under.
fn runtime_body(install: bool, nonce: &str, call: &str) -> String {
    let when_missing = if install {
        "  import types\n  rt=types.ModuleType(M)\n  exec(compile(SOURCE,MACHINERY,'exec'),rt.__dict__)\n  \
         sys.modules[M]=rt\n"
            .to_owned()
    } else {
        format!("  sys.stdout.write('\\n{MARKER}%s {MISSING_RUNTIME}\\n'%{nonce})\n")
    };
    format!(
        "try:\n M='{module}'\n rt=sys.modules.get(M)\n if rt is None:\n{when_missing} if rt:\n  {call}\n\
         except BaseException as e:\n sys.stderr.write('azure-sandbox-lsp: the tool failed: %r\\n'%e)\n",
        module = &*RUNTIME_MODULE,
    )
}

/// What a run asks of the runtime beside the code.
#[derive(Debug, Clone, Copy)]
pub struct RunAsks<'a> {
    /// stderr inside the outcome (for services that do not return stderr).
    pub want_stderr: bool,
    /// What the runtime records of each stream for the bulk channel.
    pub output_limit: usize,
    /// How figures are drawn, and the run's display limit.
    pub display: &'a DisplayOptions,
    /// The namespace snapshot the client has (`epoch:seq`).
    pub variables: Option<&'a str>,
    /// The workspace mirror the file runs in.
    pub mirror: Option<&'a MirrorSpec>,
}

impl Default for RunAsks<'_> {
    fn default() -> Self {
        static DISPLAY: DisplayOptions = DisplayOptions {
            dpi: 100.0,
            figure_size: (6.4, 4.8),
            format: super::display::FigureFormat::Png,
            limit: super::display::DEFAULT_DISPLAY_LIMIT,
        };
        Self {
            want_stderr: false,
            output_limit: DEFAULT_OUTPUT_LIMIT,
            display: &DISPLAY,
            variables: None,
            mirror: None,
        }
    }
}

/// The code for running `snippet`. `nonce` ties the outcome marker to this
/// run; `install` sends the runtime along (a new environment, or one that
/// lost it).
pub fn run_code(snippet: &Snippet, nonce: &str, install: bool, asks: &RunAsks) -> String {
    let RunAsks { want_stderr, output_limit, display, variables, mirror } = *asks;
    let mut request = json!({"nonce": nonce, "filename": snippet.filename, "code": snippet.code});
    if let Some(mirror) = mirror {
        request["mirror"] = json!({"name": mirror.name, "dir": mirror.dir, "local": mirror.local});
        if !mirror.files.is_empty() {
            request["mirror"]["files"] = json!(mirror.files);
        }
    }
    if let Some(known) = variables {
        // The snapshot this client has: the runtime sends only what changed.
        request["vars"] = json!(known);
    }
    // Only what differs from the runtime's defaults: this goes with every run.
    for (name, value, default) in [
        ("firstLine", json!(snippet.first_line), json!(1)),
        ("dedent", json!(snippet.dedent), json!(0)),
        ("wholeFile", json!(snippet.whole_file), json!(false)),
        ("wantStderr", json!(want_stderr), json!(false)),
        ("outputLimit", json!(output_limit), json!(DEFAULT_OUTPUT_LIMIT)),
    ] {
        if value != default {
            request[name] = value;
        }
    }
    for (name, value) in display.request_fields() {
        request[name] = value;
    }
    let mut names = vec![("REQUEST", py_value(&request))];
    if install {
        names.push(("MACHINERY", py_literal(MACHINERY)));
        names.push(("SOURCE", py_literal(RUNTIME_SOURCE)));
    }
    statement(nonce, &run_body(install), &names)
}

/// The code that prints characters `offset..offset + size` of run `nonce`'s
/// whole record (its outcome and every character of its output, compressed),
/// for when the service cut the run's output. Harmless in an interpreter that
/// never saw the run: it reports the record as missing.
pub fn bulk_code(nonce: &str, offset: usize, size: usize) -> String {
    let body = format!(
        "rt=sys.modules.get('{module}')\nif rt is None:\n sys.stdout.write('\\n{MARKER}%s {{\"missing\": true}}\\n'%NONCE)\n\
         else:\n rt.bulk(NONCE,{offset},{size})\n",
        module = &*RUNTIME_MODULE,
    );
    statement(nonce, &body, &[("NONCE", py_literal(nonce))])
}

/// The code that prints what is at `path` in the user's namespace (one
/// level of contents, or attribute names) on a marker line, keeping a long
/// answer for the bulk channel. Runs no user code but bounded reprs.
pub fn inspect_code(nonce: &str, path: &[String], attributes: bool) -> String {
    let kind = if attributes { "attributes" } else { "children" };
    let body = format!(
        "rt=sys.modules.get('{module}')\nif rt is None:\n sys.stdout.write('\\n{MARKER}%s {{\"missing\": true}}\\n'%NONCE)\n\
         else:\n rt.inspect(NONCE,PATH,'{kind}',G)\n",
        module = &*RUNTIME_MODULE,
    );
    let path = serde_json::Value::from(path.to_vec());
    statement(nonce, &body, &[("NONCE", py_literal(nonce)), ("PATH", py_value(&path))])
}

/// The code that calls the runtime's `function(NONCE, *ARGS)` (it prints
/// its answer on a marker line); with `install`, installing the runtime if
/// the interpreter lacks it, else reporting it missing.
pub fn runtime_call_code(nonce: &str, function: &str, args: &[serde_json::Value], install: bool) -> String {
    let body = runtime_body(install, "NONCE", &format!("rt.{function}(NONCE,*ARGS)"));
    let args = serde_json::Value::from(args.to_vec());
    let mut names = vec![("NONCE", py_literal(nonce)), ("ARGS", py_value(&args))];
    if install {
        names.push(("MACHINERY", py_literal(MACHINERY)));
        names.push(("SOURCE", py_literal(RUNTIME_SOURCE)));
    }
    statement(nonce, &body, &names)
}

/// Where a run's file lives in the environment's copy of the workspace:
/// the mirror's name (under the environment's data directory), the file's
/// directory relative to the workspace root (`/`-separated), and the
/// workspace root on the client (to name the client's paths in tracebacks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorSpec {
    pub name: String,
    pub dir: String,
    pub local: String,
    /// Small changes carried by the run itself: `(path, SHA-256, base64)`,
    /// written (checked, whole) before the code runs.
    pub files: Vec<(String, String, String)>,
}

/// A fresh random nonce for one run.
pub fn new_nonce() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_everything_python_needs() {
        assert_eq!(py_literal("a'b\"c\\d\ne\u{1}"), "\"a'b\\\"c\\\\d\\ne\\u0001\"");
        assert_eq!(py_literal("π/√"), "\"π/√\"");
        let value = json!({"s": "x'\"", "t": true, "f": false, "n": null, "i": -3, "a": [1, "b"]});
        assert_eq!(py_value(&value), r#"{"a":[1,"b"],"f":False,"i":-3,"n":None,"s":"x'\"","t":True}"#);
    }

    /// A request leaves the output limit out when it is the default, so the
    /// runtime's default must be the same number.
    #[test]
    fn the_runtime_has_the_same_default_output_limit() {
        assert_eq!(DEFAULT_OUTPUT_LIMIT, 10_000_000);
        assert!(RUNTIME_SOURCE.contains("_DEFAULT_OUTPUT_LIMIT = 10 * 1000 * 1000\n"));
    }

    #[test]
    fn the_runtime_uses_the_same_marker_and_filename() {
        assert!(RUNTIME_SOURCE.contains(&format!("MARKER = {}", py_literal(MARKER))));
        assert!(RUNTIME_SOURCE.contains(&format!("MACHINERY = {}", py_literal(MACHINERY))));
    }

    /// One statement, which looks up no name in the namespace it runs in:
    /// only `import builtins as H` and attributes of `H`. Its first line is
    /// short (a stack dump shows that line), and its body and the request
    /// are string literals on the second.
    #[test]
    fn run_code_is_one_statement_that_looks_up_no_user_name() {
        let snippet =
            Snippet { filename: "/w/a.py".into(), first_line: 3, code: "x = 1".into(), dedent: 0, whole_file: false };
        let handle = "_azsb_abc";
        let mut codes: Vec<String> = [true, false]
            .iter()
            .map(|&i| {
                run_code(&snippet, "abc", i, &RunAsks { want_stderr: true, output_limit: 1000, ..Default::default() })
            })
            .collect();
        codes.push(bulk_code("abc", 10, 20));
        for code in codes {
            let (first, rest) = code.split_once('\n').unwrap();
            assert_eq!(first, format!("import builtins as {handle};{handle}.exec({handle}.compile("));
            assert!(rest.starts_with('"') && rest.ends_with("})\n") && !rest.trim_end().contains('\n'));
            assert!(rest.contains(&format!(",{{'__builtins__':{handle},")), "{rest}");
            assert!(rest.contains(&format!("F.f_locals.pop('{handle}',None)")), "{rest}");
        }
    }

    /// Only a new environment (or one that lost the runtime) gets its source:
    /// every other run costs well under a kilobyte beside the user's code.
    #[test]
    fn the_runtime_travels_only_when_asked_for() {
        let snippet =
            Snippet { filename: "/w/a.py".into(), first_line: 1, code: "x = 1".into(), dedent: 0, whole_file: false };
        let lean = run_code(&snippet, "0123456789abcdef", false, &RunAsks::default());
        let full = run_code(&snippet, "0123456789abcdef", true, &RunAsks::default());
        // As the MCP request carries it (JSON escapes it once more), beside
        // the envelope: well under a kilobyte.
        let carried = serde_json::to_string(&lean).unwrap().len();
        assert!(carried - snippet.code.len() - snippet.filename.len() < 700, "{carried} bytes");
        assert!(full.len() > RUNTIME_SOURCE.len(), "the full form carries the runtime");
        assert!(RUNTIME_MODULE.starts_with("_azsb_runtime_") && lean.contains(RUNTIME_MODULE.as_str()));
    }
}
