# The run engine's helper inside the remote environment.
#
# It is installed once per interpreter as a module in sys.modules (its name
# carries a hash of this source, so a changed runtime is installed afresh)
# and called by a short one-statement wrapper the client sends with every run
# (see wrapper.rs). Everything here is compiled under the filename
# "<azure-sandbox-lsp>", and frames with that filename are removed from every
# traceback the user sees.
#
# For each run it:
# - compiles the snippet padded with blank lines, under the document's file
#   name, so every line number (tracebacks, SyntaxError) is the file's own;
# - runs it in the user's namespace, Jupyter-style (a trailing expression's
#   value is returned);
# - records what the run writes to sys.stdout and sys.stderr (up to a limit);
# - prints one marker line at the end of stdout carrying the outcome as JSON.
#
# The service cuts each stream at a few thousand characters. When the client
# sees a cut (the marker is missing, or a stream came back short), it fetches
# the run's whole record, compressed, through `bulk(nonce, offset, size)`:
# pieces of one immutable payload, each small enough to pass the cut, each
# idempotent, several at a time.

import ast
import base64
import json
import linecache
import sys
import time
import traceback
import zlib

VERSION = 1
MARKER = "@@azure-sandbox-lsp:result@@"
MACHINERY = "<azure-sandbox-lsp>"
_KEEP_RESULTS = 32
# Whole records are kept for the last few runs only: the client fetches them
# right after the run, and they can be megabytes.
_KEEP_RECORDS = 4
_STDERR_TAIL = 64 * 1024
_VALUE_LIMIT = 10000
_DEFAULT_OUTPUT_LIMIT = 10 * 1000 * 1000

_results = {}
_order = []
# nonce -> the run's whole record: {"outcome", "stdout", "stderr", dropped counts};
# replaced by its compressed base64 text the first time a piece is asked for.
_records = {}
_record_order = []
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


class _Recorder:
    """Stands in for sys.stdout or sys.stderr during a run: forwards every
    write to the real stream (which the service captures, and cuts) and keeps
    what passed, up to `limit` characters: the first half and the last half,
    with a count of what was dropped between. After the run it only forwards,
    so a handler that kept a reference to it costs nothing."""

    def __init__(self, inner, limit):
        self._inner = inner
        self._half = max(limit // 2, 1)
        self._head = []
        self._head_size = 0
        self._tail = []
        self._tail_size = 0
        self._dropped = 0
        self._recording = True

    def write(self, text):
        if self._recording and isinstance(text, str) and text:
            self._keep(text)
        return self._inner.write(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def _keep(self, text):
        room = self._half - self._head_size
        if room > 0:
            self._head.append(text[:room])
            self._head_size += min(room, len(text))
            text = text[room:]
        if text:
            self._tail.append(text)
            self._tail_size += len(text)
            if self._tail_size > 2 * self._half:
                joined = "".join(self._tail)
                self._dropped += len(joined) - self._half
                self._tail, self._tail_size = [joined[-self._half:]], self._half

    def stop(self):
        """Ends the recording; returns (text, characters dropped)."""
        self._recording = False
        tail = "".join(self._tail)
        if len(tail) > self._half:
            self._dropped += len(tail) - self._half
            tail = tail[-self._half:]
        return "".join(self._head) + tail, self._dropped

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


def _keep_record(nonce, record):
    _records[nonce] = record
    _record_order.append(nonce)
    while len(_record_order) > _KEEP_RECORDS:
        _records.pop(_record_order.pop(0), None)


def bulk(nonce, offset, size):
    """Prints characters [offset, offset + size) of run `nonce`'s whole record
    (JSON, zlib-compressed, base64) on one marker line, with the total length.
    The payload never changes once made, so any piece can be asked again."""
    record = _records.get(nonce)
    if record is None:
        reply = {"missing": True}
    else:
        if not isinstance(record, str):
            raw = json.dumps(record, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
            record = base64.b64encode(zlib.compress(raw, 6)).decode("ascii")
            _records[nonce] = record
        reply = {"piece": record[offset:offset + size], "total": len(record)}
    sys.stdout.write("\n%s%s %s\n" % (MARKER, nonce, json.dumps(reply, ensure_ascii=True)))
    sys.stdout.flush()


def run(request, user_globals):
    nonce = request["nonce"]
    filename = request["filename"]
    first_line = max(int(request.get("firstLine", 1)), 1)
    code = request["code"]
    dedent = int(request.get("dedent", 0))
    limit = int(request.get("outputLimit", _DEFAULT_OUTPUT_LIMIT))
    out, err = sys.stdout, sys.stderr
    out_record, err_record = _Recorder(out, limit), _Recorder(err, limit)
    sys.stdout, sys.stderr = out_record, err_record
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
                err_record.write(outcome["error"]["traceback"])
                err_record.flush()
            except Exception:
                pass
    finally:
        if sys.stdout is out_record:
            sys.stdout = out
        if sys.stderr is err_record:
            sys.stderr = err
    outcome["durationMs"] = int((time.perf_counter() - started) * 1000)
    stdout, stdout_dropped = out_record.stop()
    stderr, stderr_dropped = err_record.stop()
    outcome["stderr"] = stderr[-_STDERR_TAIL:]
    _store(nonce, outcome)
    record = {"outcome": outcome, "stdout": stdout, "stderr": stderr}
    if stdout_dropped or stderr_dropped:
        record["dropped"] = {"stdout": stdout_dropped, "stderr": stderr_dropped}
    _keep_record(nonce, record)
    try:
        out.flush()
        out.write("\n" + _marker_line(nonce, outcome, lean=not request.get("wantStderr", True)) + "\n")
        out.flush()
    except Exception:
        pass  # stdout closed by the user's code: the client will fetch the record
