//! The Python source the client sends for one run: a single `exec` statement
//! that installs the runtime (runtime.py) if this interpreter lacks it and
//! calls it. It binds no names in the user's namespace, and its frames carry
//! the filename `<azure-sandbox-lsp>` so tracebacks can drop them.

use serde_json::json;

use super::snippet::Snippet;

const RUNTIME_SOURCE: &str = include_str!("runtime.py");
const RUNTIME_MODULE: &str = "_azure_sandbox_lsp_runtime_v1";
pub const MARKER: &str = "@@azure-sandbox-lsp:result@@";
pub const MACHINERY: &str = "<azure-sandbox-lsp>";

/// A string as a Python literal. JSON string syntax is a subset of Python's
/// (serde_json never emits `\/`), so this is exact for any Rust string.
fn py_literal(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "''".into())
}

fn bootstrap() -> String {
    format!(
        "import sys\n\
         rt = sys.modules.get({module})\n\
         if rt is None:\n\
         \x20   import types\n\
         \x20   rt = types.ModuleType({module})\n\
         \x20   exec(compile(SOURCE, {machinery}, 'exec'), rt.__dict__)\n\
         \x20   sys.modules[{module}] = rt\n",
        module = py_literal(RUNTIME_MODULE),
        machinery = py_literal(MACHINERY),
    )
}

/// The code for running `snippet`. `nonce` ties the outcome marker to this
/// run; `want_stderr` asks for stderr inside the outcome (for services that
/// do not return stderr).
pub fn run_code(snippet: &Snippet, nonce: &str, want_stderr: bool) -> String {
    let request = json!({
        "nonce": nonce,
        "filename": snippet.filename,
        "firstLine": snippet.first_line,
        "code": snippet.code,
        "dedent": snippet.dedent,
        "wantStderr": want_stderr,
    });
    let body = format!("{}rt.run(REQUEST, USER_GLOBALS)\n", bootstrap());
    format!(
        "exec(compile({body}, {machinery}, 'exec'), {{'__builtins__': __builtins__, 'SOURCE': {source}, \
         'REQUEST': __import__('json').loads({request}), 'USER_GLOBALS': globals()}})\n",
        body = py_literal(&body),
        machinery = py_literal(MACHINERY),
        source = py_literal(RUNTIME_SOURCE),
        request = py_literal(&request.to_string()),
    )
}

/// The code that prints characters `offset..offset + size` of the stored
/// outcome of run `nonce`, for when the service cut stdout before the marker.
/// Harmless in an interpreter that never saw the run (it reports the outcome
/// as missing). `lean` leaves out stderr and the traceback text.
pub fn fetch_code(nonce: &str, offset: usize, size: usize, lean: bool) -> String {
    let body = format!(
        r#"import sys, json
rt = sys.modules.get({module})
if rt is None:
    missing = json.dumps({{"v": 1, "missing": True}})
    print("\n" + {marker} + NONCE + " " + json.dumps({{"piece": missing[{offset}:{offset} + {size}], "total": len(missing)}}))
else:
    rt.emit(NONCE, {offset}, {size}, {lean})
"#,
        module = py_literal(RUNTIME_MODULE),
        marker = py_literal(MARKER),
        lean = if lean { "True" } else { "False" },
    );
    format!(
        "exec(compile({body}, {machinery}, 'exec'), {{'__builtins__': __builtins__, 'NONCE': {nonce}}})\n",
        body = py_literal(&body),
        machinery = py_literal(MACHINERY),
        nonce = py_literal(nonce),
    )
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
    }

    #[test]
    fn the_runtime_uses_the_same_marker_and_filename() {
        assert!(RUNTIME_SOURCE.contains(&format!("MARKER = {}", py_literal(MARKER))));
        assert!(RUNTIME_SOURCE.contains(&format!("MACHINERY = {}", py_literal(MACHINERY))));
    }

    #[test]
    fn run_code_is_one_statement() {
        let snippet = Snippet { filename: "/w/a.py".into(), first_line: 3, code: "x = 1".into(), dedent: 0 };
        let code = run_code(&snippet, "abc", true);
        assert!(code.starts_with("exec(") && code.ends_with(")\n"));
        assert_eq!(code.matches('\n').count(), 1);
    }
}
