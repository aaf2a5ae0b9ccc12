# The run engine's helper inside the remote environment.
#
# It is installed once per interpreter as a module in sys.modules and called
# by a one-statement wrapper the client sends with every run (see wrapper.rs).
# Everything here is compiled under the filename "<azure-sandbox-lsp>", and
# frames with that filename are removed from every traceback the user sees.
#
# For each run it:
# - compiles the snippet padded with blank lines, under the document's file
#   name, so every line number (tracebacks, SyntaxError) is the file's own;
# - runs it in the user's namespace, Jupyter-style (a trailing expression's
#   value is returned);
# - prints one marker line at the end of stdout carrying the outcome as JSON,
#   and keeps the outcome here so the client can fetch it with `emit(nonce)`
#   when the service cut stdout before the marker.

import ast
import json
import linecache
import sys
import time
import traceback

VERSION = 1
MARKER = "@@azure-sandbox-lsp:result@@"
MACHINERY = "<azure-sandbox-lsp>"
_KEEP_RESULTS = 32
_STDERR_TAIL = 64 * 1024
_VALUE_LIMIT = 10000

_results = {}
_order = []
# filename -> {line number: (compiled text, dedent width)}, merged over runs,
# so tracebacks through code run earlier from the same file stay right.
_sources = {}


def _remember_source(filename, first_line, code, dedent):
    lines = _sources.setdefault(filename, {})
    for offset, text in enumerate(code.splitlines()):
        lines[first_line + offset] = (text, dedent)
    last = max(lines) if lines else 0
    body = [lines.get(n, ("", 0))[0] + "\n" for n in range(1, last + 1)]
    linecache.cache[filename] = (sum(map(len, body)), None, body, filename)


def _char_column(filename, line, byte_col):
    """Frame columns are UTF-8 byte offsets into the compiled line; return the
    character column in the document's own line (dedent added back)."""
    if byte_col is None:
        return None
    text, dedent = _sources.get(filename, {}).get(line, (None, 0))
    if text is None:
        text = linecache.getline(filename, line)
    return len(text.encode("utf-8")[:byte_col].decode("utf-8", "ignore")) + dedent


class _StderrTail:
    """Forwards to the real stderr and keeps the last part of what passed, for
    services that do not return stderr."""

    def __init__(self, inner):
        self._inner = inner
        self._parts = []
        self._size = 0

    def write(self, text):
        if isinstance(text, str):
            self._parts.append(text)
            self._size += len(text)
            if self._size > 2 * _STDERR_TAIL:
                joined = "".join(self._parts)[-_STDERR_TAIL:]
                self._parts, self._size = [joined], len(joined)
        return self._inner.write(text)

    def text(self):
        return "".join(self._parts)[-_STDERR_TAIL:]

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _type_name(exc):
    cls = type(exc)
    module = getattr(cls, "__module__", "builtins")
    return cls.__qualname__ if module in ("builtins", "__main__", None) else "%s.%s" % (module, cls.__qualname__)


def _user_tb(tb):
    while tb is not None and tb.tb_frame.f_code.co_filename == MACHINERY:
        tb = tb.tb_next
    return tb


_MAX_FRAMES = 60
_MESSAGE_LIMIT = 4000


def _frames(tb):
    frames = []
    summaries = traceback.extract_tb(tb)
    if len(summaries) > _MAX_FRAMES:
        # Deep recursion: the outermost and the innermost frames tell the story.
        summaries = summaries[:10] + summaries[-(_MAX_FRAMES - 10):]
    for summary in summaries:
        if summary.filename == MACHINERY:
            continue
        frame = {"file": summary.filename, "line": summary.lineno, "function": summary.name}
        end_line = getattr(summary, "end_lineno", None)
        col = getattr(summary, "colno", None)
        end_col = getattr(summary, "end_colno", None)
        if summary.lineno and col is not None:
            frame["col"] = _char_column(summary.filename, summary.lineno, col)
            if end_line and end_col is not None:
                frame["endLine"] = end_line
                frame["endCol"] = _char_column(summary.filename, end_line, end_col)
        frames.append(frame)
    return frames


def _describe(exc, compiling, filename, dedent):
    tb = _user_tb(exc.__traceback__)
    try:
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception:
        text = "%s: %s\n" % (_type_name(exc), exc)
    try:
        # SyntaxError's str() appends "(file, line N)"; Python's last line shows .msg
        message = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)
    except Exception:
        message = "<exception str() failed>"
    if len(message) > _MESSAGE_LIMIT:
        message = message[:_MESSAGE_LIMIT] + "…"
    error = {"type": _type_name(exc), "message": message, "frames": _frames(tb), "traceback": text}
    if compiling and isinstance(exc, SyntaxError) and exc.filename == filename and exc.lineno:
        located = {"line": exc.lineno, "col": max((exc.offset or 1) - 1, 0) + dedent}
        if getattr(exc, "end_lineno", None) and getattr(exc, "end_offset", None):
            located["endLine"] = exc.end_lineno
            located["endCol"] = max(exc.end_offset - 1, 0) + (dedent if exc.end_lineno else 0)
        error["syntax"] = located
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        error["missingModule"] = exc.name
    if isinstance(exc, SystemExit):
        error["exitCode"] = exc.code if isinstance(exc.code, int) or exc.code is None else str(exc.code)
    return error


def _safe_repr(value):
    try:
        text = repr(value)
    except Exception as exc:
        text = "<repr() failed: %s>" % _type_name(exc)
    return text if len(text) <= _VALUE_LIMIT else text[:_VALUE_LIMIT] + "…"


def _store(nonce, outcome):
    _results[nonce] = outcome
    _order.append(nonce)
    while len(_order) > _KEEP_RESULTS:
        _results.pop(_order.pop(0), None)


def _marker_line(nonce, outcome, lean=False):
    if lean:
        # The service returns stderr itself: keep the marker short, so it is
        # less likely to be cut with the rest of a long stdout.
        outcome = dict(outcome)
        outcome.pop("stderr", None)
        if "error" in outcome:
            outcome["error"] = {k: v for k, v in outcome["error"].items() if k != "traceback"}
    return "%s%s %s" % (MARKER, nonce, json.dumps(outcome, ensure_ascii=True, default=str))


def emit(nonce, offset, size, lean):
    """Prints characters [offset, offset + size) of the stored outcome of run
    `nonce` as JSON text. The client asks piece by piece, and with smaller
    pieces when one does not arrive whole, so this works under any output cap."""
    outcome = _results.get(nonce, {"v": VERSION, "missing": True})
    text = _marker_line(nonce, outcome, lean)[len(MARKER) + len(nonce) + 1:]
    piece = {"piece": text[offset:offset + size], "total": len(text)}
    sys.stdout.write("\n%s%s %s\n" % (MARKER, nonce, json.dumps(piece, ensure_ascii=True)))
    sys.stdout.flush()


def run(request, user_globals):
    nonce = request["nonce"]
    filename = request["filename"]
    first_line = max(int(request.get("firstLine", 1)), 1)
    code = request["code"]
    dedent = int(request.get("dedent", 0))
    out = sys.stdout
    tail = _StderrTail(sys.stderr)
    sys.stderr = tail
    outcome = {"v": VERSION}
    started = time.perf_counter()
    compiling = True
    try:
        _remember_source(filename, first_line, code, dedent)
        tree = compile("\n" * (first_line - 1) + code, filename, "exec", ast.PyCF_ONLY_AST)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        body = compile(tree, filename, "exec")
        last = compile(last, filename, "eval") if last is not None else None
        compiling = False
        exec(body, user_globals)
        if last is not None:
            value = eval(last, user_globals)
            if value is not None:
                outcome["value"] = _safe_repr(value)
        outcome["status"] = "ok"
    except BaseException as exc:  # user code may raise anything, KeyboardInterrupt included
        if isinstance(exc, SystemExit) and exc.code in (None, 0):
            outcome["status"] = "ok"
        else:
            outcome["status"] = "error"
            outcome["error"] = _describe(exc, compiling, filename, dedent)
            sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, _user_tb(exc.__traceback__)
            try:
                tail.write(outcome["error"]["traceback"])
                tail.flush()
            except Exception:
                pass
    finally:
        if sys.stderr is tail:
            sys.stderr = tail._inner
    outcome["durationMs"] = int((time.perf_counter() - started) * 1000)
    outcome["stderr"] = tail.text()
    _store(nonce, outcome)
    try:
        out.write("\n" + _marker_line(nonce, outcome, lean=not request.get("wantStderr", True)) + "\n")
        out.flush()
    except Exception:
        pass  # stdout closed by the user's code: the client will call emit()
