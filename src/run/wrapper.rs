//! The Python source the client sends for one run: a single `exec` statement
//! that calls the runtime (runtime.py) in this interpreter. The runtime's
//! source (about 11 KB) travels only when the environment is new, or when a
//! run found it missing (an interpreter that was replaced): every other run
//! sends a few hundred bytes beside the user's code. The statement binds no
//! names in the user's namespace, and its frames carry the filename
//! `<azure-sandbox-lsp>` so tracebacks can drop them.

use std::sync::LazyLock;

use serde_json::json;

use super::snippet::Snippet;

const RUNTIME_SOURCE: &str = include_str!("runtime.py");
pub const MARKER: &str = "@@azure-sandbox-lsp:result@@";
pub const MACHINERY: &str = "<azure-sandbox-lsp>";

/// The runtime's module name: a hash of its source in it, so a client with
/// another runtime never calls an old one left in a long-lived environment.
static RUNTIME_MODULE: LazyLock<String> = LazyLock::new(|| {
    let hash = RUNTIME_SOURCE
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("_azure_sandbox_lsp_runtime_{:012x}", hash & 0xffff_ffff_ffff)
});

/// The outcome a lean run reports when the interpreter lacks the runtime
/// (no user code ran): the client sends the run again with the runtime.
pub const MISSING_RUNTIME: &str = r#"{"missingRuntime": true}"#;

/// A string as a Python literal. JSON string syntax is a subset of Python's
/// (serde_json never emits `\/`), so this is exact for any Rust string.
fn py_literal(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "''".into())
}

/// The statement that finds the runtime, installing it from `SOURCE` when
/// `install` (else reporting it missing), and runs `REQUEST`.
fn run_body(install: bool) -> String {
    let when_missing = if install {
        "    import types\n    rt = types.ModuleType(M)\n    exec(compile(SOURCE, MACHINERY, 'exec'), rt.__dict__)\n    \
         sys.modules[M] = rt\n"
            .to_owned()
    } else {
        format!(
            "    sys.stdout.write('\\n' + {marker} + REQUEST['nonce'] + ' ' + {missing} + '\\n')\n",
            marker = py_literal(MARKER),
            missing = py_literal(MISSING_RUNTIME),
        )
    };
    format!(
        "import sys\nM = {module}\nrt = sys.modules.get(M)\nif rt is None:\n{when_missing}\
         if rt is not None:\n    rt.run(REQUEST, USER_GLOBALS)\n",
        module = py_literal(&RUNTIME_MODULE),
    )
}

/// The code for running `snippet`. `nonce` ties the outcome marker to this
/// run; `want_stderr` asks for stderr inside the outcome (for services that
/// do not return stderr); `install` sends the runtime along (a new
/// environment, or one that lost it); `output_limit` bounds what the
/// runtime records of each stream for the bulk channel.
pub fn run_code(snippet: &Snippet, nonce: &str, want_stderr: bool, install: bool, output_limit: usize) -> String {
    let request = json!({
        "nonce": nonce,
        "filename": snippet.filename,
        "firstLine": snippet.first_line,
        "code": snippet.code,
        "dedent": snippet.dedent,
        "wantStderr": want_stderr,
        "outputLimit": output_limit,
    });
    let source = if install { format!("'SOURCE': {}, ", py_literal(RUNTIME_SOURCE)) } else { String::new() };
    format!(
        "exec(compile({body}, {machinery}, 'exec'), {{'__builtins__': __builtins__, 'MACHINERY': {machinery}, \
         {source}'REQUEST': __import__('json').loads({request}), 'USER_GLOBALS': globals()}})\n",
        body = py_literal(&run_body(install)),
        machinery = py_literal(MACHINERY),
        request = py_literal(&request.to_string()),
    )
}

/// The code that prints characters `offset..offset + size` of run `nonce`'s
/// whole record (its outcome and every character of its output, compressed),
/// for when the service cut the run's output. Harmless in an interpreter that
/// never saw the run: it reports the record as missing.
pub fn bulk_code(nonce: &str, offset: usize, size: usize) -> String {
    let body = format!(
        "import sys\nrt = sys.modules.get({module})\nif rt is None:\n    \
         sys.stdout.write('\\n' + {marker} + NONCE + ' {{\"missing\": true}}\\n')\n\
         else:\n    rt.bulk(NONCE, {offset}, {size})\n",
        module = py_literal(&RUNTIME_MODULE),
        marker = py_literal(MARKER),
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
        for install in [true, false] {
            let code = run_code(&snippet, "abc", true, install, 1000);
            assert!(code.starts_with("exec(") && code.ends_with(")\n"));
            assert_eq!(code.matches('\n').count(), 1);
        }
        let code = bulk_code("abc", 10, 20);
        assert!(code.starts_with("exec(") && code.ends_with(")\n"));
        assert_eq!(code.matches('\n').count(), 1);
    }

    /// Only a new environment (or one that lost the runtime) gets its source:
    /// every other run costs well under a kilobyte beside the user's code.
    #[test]
    fn the_runtime_travels_only_when_asked_for() {
        let snippet = Snippet { filename: "/w/a.py".into(), first_line: 1, code: "x = 1".into(), dedent: 0 };
        let lean = run_code(&snippet, "0123456789abcdef", false, false, 10_000_000);
        let full = run_code(&snippet, "0123456789abcdef", false, true, 10_000_000);
        assert!(lean.len() - snippet.code.len() - snippet.filename.len() < 1024, "{} bytes", lean.len());
        assert!(full.len() > RUNTIME_SOURCE.len(), "the full form carries the runtime");
        assert!(RUNTIME_MODULE.starts_with("_azure_sandbox_lsp_runtime_") && lean.contains(RUNTIME_MODULE.as_str()));
    }
}
