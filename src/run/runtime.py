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
# - runs it in the user's namespace: a whole file as `python3 FILE` runs it
#   (`__file__`, `sys.argv`, the recursion limit's room, no value shown),
#   other snippets Jupyter-style (a trailing expression's value is returned);
# - reports an uncaught exception as python3 does: SystemExit as an exit
#   status (a message, no traceback), anything else through sys.excepthook or
#   the traceback python3 prints, with its "Did you mean" suggestions;
# - records what the run writes to sys.stdout and sys.stderr (up to a limit);
# - collects rich output as display items (mime bundles, as Jupyter's):
#   matplotlib figures (through a backend of its own), `display(obj)`, and a
#   trailing value with `_repr_png_`, `_repr_html_`... (PIL images, pandas
#   tables);
# - prints one marker line at the end of stdout carrying the outcome as JSON.
#
# The service cuts each stream at a few thousand characters. When the client
# sees a cut (the marker is missing, or a stream came back short), it fetches
# the run's whole record, compressed, through `bulk(nonce, offset, size)`:
# pieces of one immutable payload, each small enough to pass the cut, each
# idempotent, several at a time.

import ast
import base64
import importlib.machinery
import io
import json
import linecache
import os
import sys
import threading
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
_DEFAULT_DISPLAY_LIMIT = 10 * 1000 * 1000
_DEFAULT_DPI = 100
_DEFAULT_FIGURE_SIZE = (6.4, 4.8)

_results = {}
_order = []
# nonce -> the run's whole record: {"outcome", "stdout", "stderr", dropped counts};
# replaced by its compressed base64 text the first time a piece is asked for.
_records = {}
_record_order = []
# The streams of the last runs (see run()).
_retired = []
_KEEP_RETIRED = 16
# filename -> {line number: (compiled text, dedent width)}, merged over runs,
# so tracebacks through code run earlier from the same file stay right.
_sources = {}
# sys.argv as the interpreter started, and the list the last run set: a run of
# lines or a cell sets sys.argv only while it is one of these (unchanged), so
# an assignment by the user's own code stays.
_ORIGINAL_ARGV = list(sys.argv)
_set_argv = None


def _remember_source(filename, first_line, code, dedent):
    lines = _sources.setdefault(filename, {})
    # Python's tokenizer ends lines at \n, \r\n and \r only (the client sends
    # \n), not at the form feeds and separators str.splitlines() breaks at.
    for offset, text in enumerate(code.split("\n")):
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
        self._seen = 0
        self._recording = True

    def write(self, text):
        if self._recording and isinstance(text, str) and text:
            self._seen += len(text)
            self._keep(text)
        return self._inner.write(text)

    def position(self):
        """Characters written so far: where a display item sits in the stream."""
        return self._seen

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
        frame = {"file": _local_path(summary.filename), "line": summary.lineno, "function": summary.name}
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


# "Did you mean" for NameError and AttributeError: Python 3.10 and 3.11 print
# it from C, which the traceback module cannot call (3.12 has it in
# traceback.py). The same search as CPython's suggestions.c.
_MAX_CANDIDATE_ITEMS = 750
_MAX_STRING_SIZE = 40
_MOVE_COST = 2
_CASE_COST = 1


def _levenshtein(a, b, max_cost):
    if a == b:
        return 0
    pre = 0
    while pre < len(a) and pre < len(b) and a[pre] == b[pre]:
        pre += 1
    a, b = a[pre:], b[pre:]
    while a and b and a[-1] == b[-1]:
        a, b = a[:-1], b[:-1]
    if not a or not b:
        return _MOVE_COST * (len(a) + len(b))
    if len(a) > _MAX_STRING_SIZE or len(b) > _MAX_STRING_SIZE:
        return max_cost + 1
    if len(b) < len(a):
        a, b = b, a
    if (len(b) - len(a)) * _MOVE_COST > max_cost:
        return max_cost + 1
    row = list(range(_MOVE_COST, _MOVE_COST * (len(a) + 1), _MOVE_COST))
    result = 0
    for b_index, b_char in enumerate(b):
        distance = result = b_index * _MOVE_COST
        minimum = sys.maxsize
        for index, a_char in enumerate(a):
            cost = 0 if a_char == b_char else _CASE_COST if a_char.lower() == b_char.lower() else _MOVE_COST
            substitute = distance + cost
            distance = row[index]
            result = min(min(result, distance) + _MOVE_COST, substitute)
            row[index] = result
            minimum = min(minimum, result)
        if minimum > max_cost:
            return max_cost + 1
    return result


def _closest(name, candidates):
    if len(candidates) >= _MAX_CANDIDATE_ITEMS or len(name) > _MAX_STRING_SIZE:
        return None
    best, best_distance = None, sys.maxsize
    for candidate in candidates:
        if not isinstance(candidate, str) or candidate == name:
            continue
        most = min((len(name) + len(candidate) + 3) * _MOVE_COST // 6, best_distance - 1)
        distance = _levenshtein(name, candidate, most)
        if distance <= most and (best is None or distance < best_distance):
            best, best_distance = candidate, distance
    return best


def _suggestion(exc):
    name = getattr(exc, "name", None)
    if type(name) is not str:
        return None
    if isinstance(exc, AttributeError):
        try:
            return _closest(name, dir(exc.obj))
        except Exception:
            return None
    if isinstance(exc, NameError) and exc.__traceback__ is not None:
        tb = exc.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        frame = tb.tb_frame
        for names in (frame.f_code.co_varnames, frame.f_globals, frame.f_builtins):
            found = _closest(name, list(names))
            if found is not None:
                return found
    return None


def _add_suggestions(te, exc, seen):
    if te is None or exc is None or id(exc) in seen:
        return
    seen.add(id(exc))
    if isinstance(exc, (NameError, AttributeError)):
        found = _suggestion(exc)
        if found is not None:
            te._str += ". Did you mean: '%s'?" % found
    _add_suggestions(te.__cause__, exc.__cause__, seen)
    _add_suggestions(te.__context__, exc.__context__, seen)
    for inner_te, inner in zip(getattr(te, "exceptions", None) or (), getattr(exc, "exceptions", ())):
        _add_suggestions(inner_te, inner, seen)


def _printed_by_python(exc):
    """What the interpreter's own printer says about an exception with no
    traceback (a file that does not compile): it reads nothing from disk
    then, only the exception. None if it cannot be had."""
    saved_tb, saved_stderr, buffer = exc.__traceback__, sys.stderr, io.StringIO()
    try:
        exc.__traceback__ = None
        sys.stderr = buffer
        sys.__excepthook__(type(exc), exc, None)
    except Exception:
        return None
    finally:
        sys.stderr = saved_stderr
        exc.__traceback__ = saved_tb
    return buffer.getvalue() or None


def _format(exc, tb, compiling):
    """The traceback python3 prints, from the traceback module (which reads
    source lines from linecache, where this run's code is), with what the
    interpreter adds itself on this version."""
    if compiling and isinstance(exc, SyntaxError) and tb is None:
        text = _printed_by_python(exc)
        if text is not None:
            return text
    try:
        te = traceback.TracebackException(type(exc), exc, tb)
        if (3, 10) <= sys.version_info < (3, 12):
            try:
                _add_suggestions(te, exc, set())
            except Exception:
                pass
        return "".join(te.format())
    except Exception:
        return "%s: %s\n" % (_type_name(exc), _safe_str(exc))


def _safe_str(value):
    try:
        return str(value)
    except Exception:
        return "<exception str() failed>"


def _exit_status(code):
    """The exit status and stderr text of `raise SystemExit(code)` in python3:
    None is 0, an integer is itself (the low 8 bits reach the shell),
    anything else is printed and is 1."""
    if code is None:
        return 0, ""
    if isinstance(code, int):
        return code & 0xFF, ""
    return 1, _safe_str(code) + "\n"


def _describe(exc, compiling, filename, dedent):
    tb = _user_tb(exc.__traceback__)
    if isinstance(exc, SystemExit):
        status, text = _exit_status(exc.code)
    else:
        text = _format(exc, tb, compiling)
    try:
        # SyntaxError's str() appends "(file, line N)"; Python's last line shows .msg
        message = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)
    except Exception:
        message = "<exception str() failed>"
    if len(message) > _MESSAGE_LIMIT:
        message = message[:_MESSAGE_LIMIT] + "…"
    error = {"type": _type_name(exc), "message": message, "frames": _frames(tb), "traceback": _local_text(text)}
    if compiling and isinstance(exc, SyntaxError) and exc.filename == filename and exc.lineno:
        located = {"line": exc.lineno, "col": max((exc.offset or 1) - 1, 0) + dedent}
        if getattr(exc, "end_lineno", None) and getattr(exc, "end_offset", None):
            located["endLine"] = exc.end_lineno
            located["endCol"] = max(exc.end_offset - 1, 0) + (dedent if exc.end_lineno else 0)
        error["syntax"] = located
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        error["missingModule"] = exc.name
    if isinstance(exc, FileNotFoundError) and exc.filename is not None:
        missing = _mirror_relative(exc.filename)
        if missing is not None:
            error["missingFile"] = missing
    if isinstance(exc, SystemExit):
        error["exitCode"] = exc.code if isinstance(exc.code, int) or exc.code is None else str(exc.code)
        error["exitStatus"] = status
    return error


def _report(error, exc, tb, stderr):
    """Writes what python3 writes for an uncaught exception: for SystemExit
    its message (if any); else what sys.excepthook writes, when the user's
    code set one, or the traceback."""
    hook = getattr(sys, "excepthook", None)
    if isinstance(exc, SystemExit) or hook is None or hook is sys.__excepthook__:
        stderr.write(error["traceback"])
        return
    try:
        hook(type(exc), exc, tb)
    except BaseException as failure:
        stderr.write("Error in sys.excepthook:\n")
        stderr.write(_format(failure, _user_tb(failure.__traceback__), False))
        stderr.write("\nOriginal exception was:\n")
        stderr.write(error["traceback"])


def _thread_excepthook(args):
    """What threading's own hook writes for an exception that ends a thread,
    through the traceback module, which reads source lines from linecache,
    where this run's code is. The built-in hook reads them from the file on
    disk, which a sandbox does not have (the service's, or the local one's
    namespaces), so its tracebacks lost their source lines."""
    if args.exc_type is SystemExit:
        return
    stderr = sys.stderr
    if stderr is None and args.thread is not None:
        stderr = getattr(args.thread, "_stderr", None)
    if stderr is None:
        return
    name = args.thread.name if args.thread is not None else threading.get_ident()
    if args.exc_value is not None:
        text = _local_text(_format(args.exc_value, args.exc_traceback, False))
    else:
        text = "%s\n" % getattr(args.exc_type, "__name__", args.exc_type)
    stderr.write("Exception in thread %s:\n" % name)
    stderr.write(text)
    stderr.flush()


# Only in place of the built-in one: a hook the user's code set stays.
if threading.excepthook is getattr(threading, "__excepthook__", None):
    threading.excepthook = _thread_excepthook


# Python frames below a run's module -> the recursion levels they cost.
_extra_depths = {}
_PROBE = (
    "import sys\nf, depth = sys._getframe(), 0\nwhile f is not None:\n    depth, f = depth + 1, f.f_back\n"
    "try:\n    down()\nexcept RecursionError:\n    pass\n"
)


def _frames_below(frame):
    count = 0
    while frame is not None:
        count, frame = count + 1, frame.f_back
    return count


def _extra_depth(below):
    """How many levels of recursion the frames below a run's module (the
    sandbox's and this runtime's, `below` Python frames) cost: python3 FILE
    gives its module the whole limit. Measured once per depth, by recursing
    from a module frame under a limit of 1000 (a deep limit the user set
    could overflow the C stack of older Pythons)."""
    if below not in _extra_depths:
        room = [0]

        def down():
            room[0] += 1
            down()

        limit = sys.getrecursionlimit()
        probe = {"down": down}
        try:
            sys.setrecursionlimit(1000)
            exec(compile(_PROBE, MACHINERY, "exec"), probe)
            # The probe's module sat deeper than the run's will, by this much.
            deeper = probe["depth"] - (below + 1)
            _extra_depths[below] = max(1000 - 1 - room[0] - deeper, 0)
        except Exception:
            _extra_depths[below] = 0
        finally:
            sys.setrecursionlimit(limit)
    return _extra_depths[below]


def _argv_is_ours():
    return sys.argv == _ORIGINAL_ARGV or (_set_argv is not None and sys.argv is _set_argv[0] and sys.argv == _set_argv[1])


def _prepare(filename, whole_file, user_globals):
    """The names python3 FILE gives a program; a whole file starts as a
    program does (its own sys.argv, no warnings remembered as shown). A
    mirrored file's names are its mirror path."""
    global _set_argv
    filename = _mirror_path(filename)
    user_globals["__file__"] = filename
    if whole_file:
        user_globals["__cached__"] = None
        user_globals["__doc__"] = None
        user_globals["__annotations__"] = {}
        user_globals.pop("__warningregistry__", None)
    if whole_file or _argv_is_ours():
        sys.argv = [filename]
        _set_argv = (sys.argv, list(sys.argv))


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


def _packed(nonce):
    """Run `nonce`'s record as the bulk channel sends it (JSON, zlib,
    base64), made once; None if it is not kept."""
    record = _records.get(nonce)
    if record is not None and not isinstance(record, str):
        raw = json.dumps(record, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
        record = base64.b64encode(zlib.compress(raw, 6)).decode("ascii")
        _records[nonce] = record
    return record


def bulk(nonce, offset, size):
    """Prints characters [offset, offset + size) of run `nonce`'s whole record
    (JSON, zlib-compressed, base64) on one marker line, with the total length.
    The payload never changes once made, so any piece can be asked again."""
    record = _packed(nonce)
    if record is None:
        reply = {"missing": True}
    else:
        reply = {"piece": record[offset:offset + size], "total": len(record)}
    sys.stdout.write("\n%s%s %s\n" % (MARKER, nonce, json.dumps(reply, ensure_ascii=True)))
    sys.stdout.flush()


# Rich output. Each display item is a mime bundle, as Jupyter's: text/plain
# always, and the richest forms the object offers. Binary data is base64.
# Items travel in the run's record (through the bulk channel), bounded by
# the run's display limit; what does not fit is counted, not sent.
_IMAGE_METHODS = (("image/png", "_repr_png_"), ("image/jpeg", "_repr_jpeg_"), ("image/svg+xml", "_repr_svg_"))
_TEXT_METHODS = (("text/html", "_repr_html_"), ("text/markdown", "_repr_markdown_"), ("text/latex", "_repr_latex_"))
_BINARY = ("image/png", "image/jpeg")
_MPL_MODULE = "_azsb_matplotlib_backend"
_MPL_BACKEND = "module://" + _MPL_MODULE
# The figure settings of the run in progress (the client's, else defaults).
_figure_settings = {"dpi": _DEFAULT_DPI, "size": _DEFAULT_FIGURE_SIZE, "format": "png"}
_applied_size = [None]


class _Displays:
    """One run's display items, in order, each with the stdout position it
    came at, within the run's limit on display data."""

    def __init__(self, limit, stdout):
        self.items = []
        self._limit = limit
        self._used = 0
        self._stdout = stdout
        self.dropped = 0
        self.dropped_bytes = 0

    def add(self, bundle, result=False):
        size = sum(len(value) for value in bundle.values())
        if self._used + size > self._limit:
            self.dropped += 1
            self.dropped_bytes += size
            return
        self._used += size
        item = {"data": bundle, "at": self._stdout.position()}
        if result:
            item["result"] = True
        self.items.append(item)


_displays = [None]


def _method(obj, name):
    """The object's own `_repr_*_` method: looked up on its type, so an
    object whose __getattr__ answers every name is not asked."""
    if isinstance(obj, type):
        return None
    try:
        if getattr(type(obj), name, None) is None:
            return None
        method = getattr(obj, name)
        return method if callable(method) else None
    except Exception:
        return None


def _call(method):
    try:
        value = method()
    except Exception:
        return None
    if isinstance(value, tuple) and len(value) == 2:
        value = value[0]  # (data, metadata)
    return value


def _is_figure(obj):
    module = sys.modules.get("matplotlib.figure")
    return module is not None and isinstance(obj, module.Figure)


def _render_figure(figure):
    fmt = "svg" if _figure_settings["format"] == "svg" else "png"
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=_figure_settings["dpi"])
    data = buffer.getvalue()
    if fmt == "svg":
        return {"image/svg+xml": data.decode("utf-8", "replace")}
    return {"image/png": base64.b64encode(data).decode("ascii")}


def _table_html(obj):
    cls = type(obj)
    if getattr(cls, "__module__", "").startswith("pandas") and cls.__name__ == "Series":
        try:
            return obj.to_frame()._repr_html_()
        except Exception:
            return None
    return None


def _bundle(obj):
    """The mime bundle of an object: text/plain, and its richest forms."""
    bundle = {}
    if _is_figure(obj):
        try:
            bundle.update(_render_figure(obj))
        except Exception as exc:
            bundle["text/plain"] = "<figure could not be drawn: %s>" % _type_name(exc)
            return bundle
    else:
        for mime, name in _IMAGE_METHODS:
            method = _method(obj, name)
            value = _call(method) if method is not None else None
            if isinstance(value, (bytes, bytearray)):
                value = base64.b64encode(bytes(value)).decode("ascii") if mime in _BINARY else bytes(value).decode("utf-8", "replace")
            if isinstance(value, str) and value:
                bundle[mime] = value
                break  # one image form is enough
        for mime, name in _TEXT_METHODS:
            method = _method(obj, name)
            value = _call(method) if method is not None else None
            if isinstance(value, str) and value:
                bundle[mime] = value
        if "text/html" not in bundle:
            html = _table_html(obj)
            if html:
                bundle["text/html"] = html
    bundle["text/plain"] = _safe_repr(obj)
    return bundle


def _show_value(value):
    """A cell's trailing value with a rich form is shown as a display item
    too (its repr stays the run's value)."""
    collector = _displays[0]
    if collector is None:
        return
    try:
        bundle = _bundle(value)
    except Exception:
        return
    if len(bundle) > 1:
        collector.add(bundle, result=True)
        if _is_figure(value):
            _shown_figures.add(id(value))


def display(*objs, **kwargs):
    """Shows each object below the run's output, in its richest form, as
    IPython's display() does (without IPython)."""
    for obj in objs:
        collector = _displays[0]
        if collector is None:
            # After the run (a thread): only the text can still be seen.
            sys.stdout.write(_safe_repr(obj) + "\n")
            continue
        collector.add(_bundle(obj))
        if _is_figure(obj):
            _shown_figures.add(id(obj))


_shown_figures = set()


def _open_figures():
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None or not _our_backend():
        return []
    try:
        return [manager.canvas.figure for manager in pyplot._pylab_helpers.Gcf.get_all_fig_managers()]
    except Exception:
        return []


def _our_backend():
    matplotlib = sys.modules.get("matplotlib")
    try:
        return matplotlib is not None and matplotlib.rcParams._get_backend_or_none() == _MPL_BACKEND
    except Exception:
        return False


def _flush_figures(at_end):
    """Shows every open figure and closes it, as Jupyter's inline backend
    does at plt.show() and when a cell ends. A figure display() already
    showed in this run is only closed."""
    collector = _displays[0]
    for figure in _open_figures():
        if collector is not None and id(figure) not in _shown_figures:
            collector.add(_bundle(figure))
        try:
            sys.modules["matplotlib.pyplot"].close(figure)
        except Exception:
            pass
    if at_end:
        _shown_figures.clear()


def _show(*args, **kwargs):
    _flush_figures(False)


def _apply_figure_size():
    matplotlib = sys.modules.get("matplotlib")
    size = tuple(_figure_settings["size"])
    if matplotlib is None or _applied_size[0] == size:
        return
    try:
        matplotlib.rcParams["figure.figsize"] = size
        _applied_size[0] = size
    except Exception:
        pass


class _BackendLoader:
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        from matplotlib.backend_bases import FigureManagerBase
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        module.FigureCanvas = FigureCanvasAgg
        module.FigureManager = FigureManagerBase
        module.show = _show
        _apply_figure_size()


class _MatplotlibHook:
    """On sys.meta_path: when pyplot is first imported, makes the backend
    ours unless the user chose one (a window could not show here); and
    provides the backend module itself. Nothing else is touched, and the
    environment variables children see are not changed."""

    def find_spec(self, name, path=None, target=None):
        if name == _MPL_MODULE:
            return importlib.machinery.ModuleSpec(name, _BackendLoader())
        if name == "matplotlib.pyplot":
            _choose_backend(sys.modules.get("matplotlib"))
        return None


def _choose_backend(matplotlib):
    if matplotlib is None:
        return
    try:
        chosen = matplotlib.rcParams._get_backend_or_none()
        if chosen is None or chosen.lower() == "agg" or (chosen.startswith("module://_azsb") and chosen != _MPL_BACKEND):
            matplotlib.rcParams["backend"] = _MPL_BACKEND
    except Exception:
        pass


def _install_matplotlib_hook():
    if not any(type(finder).__name__ == "_MatplotlibHook" for finder in sys.meta_path):
        sys.meta_path.insert(0, _MatplotlibHook())
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None and not _our_backend():
        # pyplot came first (or another runtime's backend): switch if it is
        # the headless default.
        before = sys.modules["matplotlib"].rcParams._get_backend_or_none()
        _choose_backend(sys.modules["matplotlib"])
        if _our_backend() and before != _MPL_BACKEND:
            try:
                pyplot.switch_backend(_MPL_BACKEND)
            except Exception:
                pass


def _begin_displays(request, stdout, user_globals):
    settings = request.get("figures") or {}
    _figure_settings["dpi"] = settings.get("dpi", _DEFAULT_DPI)
    _figure_settings["size"] = tuple(settings.get("size", _DEFAULT_FIGURE_SIZE))
    _figure_settings["format"] = settings.get("format", "png")
    _displays[0] = _Displays(int(request.get("displayLimit", _DEFAULT_DISPLAY_LIMIT)), stdout)
    try:
        _install_matplotlib_hook()
        _apply_figure_size()
    except Exception:
        pass
    # A builtin, as in IPython's namespace but without a name in the
    # user's globals (which a program may list).
    import builtins

    if not hasattr(builtins, "display"):
        builtins.display = display


def _end_displays(outcome, record):
    try:
        _flush_figures(True)
    except Exception:
        pass
    collector, _displays[0] = _displays[0], None
    if collector.items:
        record["displays"] = collector.items
        outcome["displays"] = len(collector.items)
    if collector.dropped:
        outcome["displaysDropped"] = {"count": collector.dropped, "bytes": collector.dropped_bytes}


# Live state: after each run, what the user's namespace holds, as entries
# (type, shape or length, size, a short repr), and only what changed since
# the snapshot the client last saw. Values are described without running
# their code where that can be avoided: shapes and sizes only for builtin,
# numpy and pandas types, and a repr bounded in length and time.
_VAR_REPR_LIMIT = 200
_VAR_REPR_SECONDS = 0.05
_VAR_BUDGET_SECONDS = 1.0
_MAX_VARS = 10000
_INLINE_VARS = 1500
_MAX_CHILDREN = 100
_IMMUTABLE = (int, float, complex, bool, str, bytes, type(None), range)
_SIZED = (list, tuple, dict, set, frozenset, str, bytes, bytearray)
# This interpreter's snapshots: an epoch (new with each interpreter) and a
# sequence number, so a client that saw another state gets a full one.
_vars_epoch = base64.b16encode(__import__("os").urandom(4)).decode("ascii").lower()
_vars_seq = [0]
# name -> (the value's id for immutable values, else None; its entry)
_vars_last = {}
_slow_reprs = set()


class _ReprTimeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _ReprTimeout()


def _library(value, module_prefix, name):
    cls = type(value)
    return getattr(cls, "__module__", "").startswith(module_prefix) and cls.__name__ == name


def _is_frame(value):
    return _library(value, "pandas", "DataFrame")


def _timed_repr(value):
    """repr(value), at most _VAR_REPR_LIMIT characters and _VAR_REPR_SECONDS
    (on the main thread, through SIGALRM, so a repr that sleeps is cut
    short too); a placeholder when it raises or takes too long."""
    import signal
    import threading
    import reprlib

    limited = reprlib.Repr()
    limited.maxstring = limited.maxother = _VAR_REPR_LIMIT
    limited.maxlist = limited.maxtuple = limited.maxdict = limited.maxset = 20
    simple = type(value) in _SIZED or isinstance(value, _IMMUTABLE)
    timed = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    previous_handler = previous_timer = None
    started = time.perf_counter()
    try:
        if timed:
            previous_handler = signal.signal(signal.SIGALRM, _on_alarm)
            previous_timer = signal.setitimer(signal.ITIMER_REAL, _VAR_REPR_SECONDS)
        text = limited.repr(value) if simple else repr(value)
    except _ReprTimeout:
        return "<repr() took too long>", True
    except Exception as exc:
        return "<repr() failed: %s>" % _type_name(exc), False
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_handler)
            if previous_timer and previous_timer[0] > 0:
                # The user's own alarm, less the time spent here.
                left = max(previous_timer[0] - (time.perf_counter() - started), 0.001)
                signal.setitimer(signal.ITIMER_REAL, left, previous_timer[1])
    if not isinstance(text, str):
        return "<repr() returned %s>" % type(text).__name__, False
    if len(text) > _VAR_REPR_LIMIT:
        text = text[:_VAR_REPR_LIMIT] + "…"
    return text, False


def _qualified(cls):
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", getattr(cls, "__name__", "?"))
    if module in (None, "builtins", "__main__"):
        return name
    if module.startswith("pandas."):
        module = "pandas"
    elif module.startswith("numpy"):
        module = "numpy"
    return "%s.%s" % (module, name)


def _describe_value(value):
    """An entry for `value`: type, shape, size, repr, and (for a
    DataFrame) its columns. The repr is the only user code it may run."""
    cls = type(value)
    entry = {"type": _qualified(cls)}
    try:
        if _library(value, "numpy", "ndarray") or _is_frame(value) or _library(value, "pandas", "Series"):
            entry["shape"] = str(tuple(value.shape))
            if _library(value, "numpy", "ndarray"):
                entry["size"] = int(value.nbytes)
                entry["type"] = "numpy.ndarray[%s]" % value.dtype
            else:
                usage = value.memory_usage(index=True, deep=False)
                entry["size"] = int(usage.sum() if hasattr(usage, "sum") else usage)
            if _is_frame(value):
                entry["columns"] = [str(c) for c in list(value.columns)[:200]]
        elif cls in _SIZED:
            entry["shape"] = "len %d" % len(value)
            entry["size"] = sys.getsizeof(value)
        elif isinstance(value, _IMMUTABLE):
            entry["size"] = sys.getsizeof(value)
    except Exception:
        pass
    if id(value) in _slow_reprs:
        entry["repr"] = "<repr() took too long>"
    else:
        entry["repr"], slow = _timed_repr(value)
        if slow:
            _slow_reprs.add(id(value))
    if _expandable(value):
        entry["expandable"] = True
    return entry


def _expandable(value):
    if type(value) in (dict, list, tuple, set, frozenset):
        return len(value) > 0
    if _is_frame(value) or _library(value, "pandas", "Series") or _library(value, "numpy", "ndarray"):
        return True
    if isinstance(value, _IMMUTABLE) or isinstance(value, type) or callable(value):
        return False
    try:
        return bool(object.__getattribute__(value, "__dict__"))
    except Exception:
        return False


def _user_names(user_globals):
    modules = type(sys)
    for name, value in list(user_globals.items()):
        if not isinstance(name, str) or name.startswith("_") or isinstance(value, modules):
            continue
        if value is display or name.startswith("_azsb"):
            continue
        yield name, value


def _snapshot(request, user_globals):
    """What changed in the namespace since the snapshot the client has
    (`request["vars"]`, "epoch:seq"), or all of it when the client has
    another (or none)."""
    known = request.get("vars")
    full = known != "%s:%d" % (_vars_epoch, _vars_seq[0])
    started = time.perf_counter()
    seen = {}
    changed = {}
    for name, value in _user_names(user_globals):
        if len(seen) >= _MAX_VARS:
            break
        fingerprint = id(value) if isinstance(value, _IMMUTABLE) else None
        previous = _vars_last.get(name)
        if previous is not None and fingerprint is not None and previous[0] == fingerprint:
            entry = previous[1]
        elif previous is not None and time.perf_counter() - started > _VAR_BUDGET_SECONDS:
            entry = previous[1]  # out of time: described next run
        else:
            entry = _describe_value(value)
        seen[name] = (fingerprint, entry)
        if full or previous is None or previous[1] != entry:
            changed[name] = entry
    removed = [] if full else [name for name in _vars_last if name not in seen]
    _vars_last.clear()
    _vars_last.update(seen)
    if full or changed or removed:
        _vars_seq[0] += 1
    delta = {"epoch": _vars_epoch, "seq": _vars_seq[0], "full": full}
    if full:
        delta["set"] = {name: entry for name, (_, entry) in seen.items()}
    else:
        delta["set"] = changed
        if removed:
            delta["removed"] = removed
    return delta


def _resolve(user_globals, path):
    """The value at `path`: a name, then keys, indexes or attribute names
    (as strings). Attributes come from the instance's __dict__ only."""
    value = user_globals[path[0]]
    for step in path[1:]:
        if isinstance(value, dict):
            matches = [k for k in value if str(k) == step]
            value = value[matches[0]]
        elif type(value) in (list, tuple):
            value = value[int(step)]
        elif type(value) in (set, frozenset):
            value = sorted(value, key=repr)[int(step)]
        elif _is_frame(value):
            value = value[[c for c in value.columns if str(c) == step][0]]
        else:
            value = object.__getattribute__(value, "__dict__")[step]
    return value


def _children(value):
    """(name, value) pairs one level down, at most _MAX_CHILDREN, and how
    many more there are."""
    if isinstance(value, dict):
        items = [(str(k), v) for k, v in list(value.items())[:_MAX_CHILDREN]]
        return items, max(len(value) - _MAX_CHILDREN, 0)
    if type(value) in (list, tuple):
        return [(str(i), v) for i, v in enumerate(value[:_MAX_CHILDREN])], max(len(value) - _MAX_CHILDREN, 0)
    if type(value) in (set, frozenset):
        ordered = sorted(value, key=repr)
        return [(str(i), v) for i, v in enumerate(ordered[:_MAX_CHILDREN])], max(len(value) - _MAX_CHILDREN, 0)
    if _is_frame(value):
        columns = list(value.columns)
        return [(str(c), value[c]) for c in columns[:_MAX_CHILDREN]], max(len(columns) - _MAX_CHILDREN, 0)
    if _library(value, "pandas", "Series") or _library(value, "numpy", "ndarray"):
        count = len(value)
        items = value.iloc[:_MAX_CHILDREN] if hasattr(value, "iloc") else value[:_MAX_CHILDREN]
        return [(str(i), v) for i, v in enumerate(list(items))], max(count - _MAX_CHILDREN, 0)
    try:
        attributes = object.__getattribute__(value, "__dict__")
    except Exception:
        return [], 0
    names = [n for n in attributes if isinstance(n, str)]
    return [(n, attributes[n]) for n in names[:_MAX_CHILDREN]], max(len(names) - _MAX_CHILDREN, 0)


def _attributes(value):
    """The attribute names of `value` with their kind, found statically: the
    instance's __dict__ and its type's MRO, never evaluating a property or
    calling __getattr__ or __dir__."""
    found = {}
    try:
        for name in object.__getattribute__(value, "__dict__"):
            if isinstance(name, str):
                found[name] = "field"
    except Exception:
        pass
    for cls in type(value).__mro__:
        for name, member in vars(cls).items():
            if not isinstance(name, str) or name in found:
                continue
            if isinstance(member, property):
                found[name] = "property"
            elif callable(member) or isinstance(member, (staticmethod, classmethod)):
                found[name] = "method"
            else:
                found[name] = "field"
    return sorted(({"name": n, "kind": k} for n, k in found.items()), key=lambda a: (a["name"].startswith("_"), a["name"]))


def inspect(nonce, path, kind, user_globals):
    """Prints the children of the value at `path` ("children"; an empty path:
    the user's names) or its attributes ("attributes") on a marker line; a reply too long for the
    service's cap is kept as a record for the bulk channel."""
    try:
        # No path: the namespace itself, the names a snapshot lists.
        value = _resolve(user_globals, path) if path else dict(_user_names(user_globals))
    except Exception:
        reply = {"missing": True}
    else:
        try:
            if kind == "attributes":
                reply = {"attributes": _attributes(value)[:2000]}
            else:
                pairs, more = _children(value)
                reply = {"children": [dict(_describe_value(v), name=n) for n, v in pairs], "more": more}
        except Exception as exc:
            reply = {"failed": "%s: %s" % (_type_name(exc), _safe_str(exc)[:200])}
    text = json.dumps(reply, ensure_ascii=True, default=str)
    if len(text) > 2000:
        _keep_record(nonce, reply)
        text = json.dumps({"record": len(_packed(nonce))})
    sys.stdout.write("\n%s%s %s\n" % (MARKER, nonce, text))
    sys.stdout.flush()


# The workspace mirror. The client sends the workspace's files into the
# environment (under /mnt/data on the service, else the environment's own
# directory), each verified by its SHA-256 and moved into place whole
# (mirror.rs sends that code itself). A run of a mirrored file runs in its
# mirror: the working directory is the mirror of the file's directory (as
# Jupyter runs a notebook in its own), sys.path[0] is that directory and
# __file__ the mirror path; tracebacks name the client's paths again. After
# the run, the files it created or changed in the mirror are listed.
_START_DIR = os.getcwd()
_MAX_LISTED = 100
_MAX_WALK = 20000
# The current run's mirror: {"root", "local", "here"}.
_mirror_run = {}
_inserted_path = [None]


def _mirror_base():
    """/mnt/data where the service has it, else the environment's own
    directory; kept in the environment, where the code that sends files
    (mirror.rs) finds it too, whatever the working directory is by then."""
    base = os.environ.get("AZSB_MIRROR_BASE")
    if not base:
        data = "/mnt/data"
        base = data if os.path.isdir(data) and os.access(data, os.W_OK) else _START_DIR
        os.environ["AZSB_MIRROR_BASE"] = base
    return base


def _write_carried(root, files):
    """Writes the files a run carries (small changes), each checked against
    its SHA-256 and moved into place whole. Returns {path: why} of those
    refused."""
    import hashlib

    bad = {}
    for rel, digest, data in files:
        target = os.path.normpath(os.path.join(root, *rel.split("/")))
        if not _inside(root, target) or target == root:
            bad[rel] = "outside the mirror"
            continue
        try:
            raw = base64.b64decode(data)
            if hashlib.sha256(raw).hexdigest() != digest:
                bad[rel] = "its hash did not match"
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target + ".azsb-tmp", "wb") as f:
                f.write(raw)
            os.replace(target + ".azsb-tmp", target)
        except Exception as exc:
            bad[rel] = "%s: %s" % (_type_name(exc), exc)
    return bad


def _mirror_root(name):
    return os.path.join(_mirror_base(), name)


# Workspace modules the runs imported, with their file as it was then. The
# interpreter lives on between runs, so `import helpers` would give the
# module of the first run even after the mirror got a new helpers.py; a
# module whose file changed is dropped before the next run, which imports
# the new one, as `python3 analysis.py` would.
_module_files = {}
# Modules known not to be the workspace's (pandas brings a thousand): not
# looked at again after each run.
_other_modules = {}


def _file_stamp(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    # The inode too: a file replaced within the clock's tick, at the same
    # size, is still another file.
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _note_modules(root):
    """After a run: the workspace modules it imported, and their files."""
    prefix = root.rstrip(os.sep) + os.sep
    for name, module in list(sys.modules.items()):
        known = _module_files.get(name)
        if _other_modules.get(name) is module or (known and known[0] is module):
            continue
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path.startswith(prefix):
            _module_files[name] = (module, _file_stamp(path))
        else:
            _other_modules[name] = module


def _drop_changed_modules():
    """Before a run: drops the workspace modules whose file changed."""
    for name, (module, stamp) in list(_module_files.items()):
        if sys.modules.get(name) is not module:
            del _module_files[name]
            continue
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or _file_stamp(path) == stamp:
            continue
        del _module_files[name]
        del sys.modules[name]
        # `from pkg import sub` takes the attribute when it is there.
        parent, _, child = name.rpartition(".")
        if parent and getattr(sys.modules.get(parent), child, None) is module:
            try:
                delattr(sys.modules[parent], child)
            except Exception:
                pass
        # Its bytecode cache is checked by whole seconds and size only.
        try:
            import importlib.util

            os.remove(importlib.util.cache_from_source(path))
        except Exception:
            pass


def _inside(root, path):
    path = os.path.normpath(path)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _walk(root):
    """{relative path: (size, mtime_ns)} of the files under `root`, skipping
    the transfer's own temporary files."""
    found = {}
    for directory, dirs, files in os.walk(root):
        # Python's own caches are not the user's files.
        dirs[:] = [d for d in dirs if d not in (".azsb-upload", "__pycache__")]
        for name in files:
            if name.endswith(".azsb-tmp"):
                continue
            path = os.path.join(directory, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            found[os.path.relpath(path, root).replace(os.sep, "/")] = (st.st_size, st.st_mtime_ns)
            if len(found) >= _MAX_WALK:
                return found
    return found


def _mirror_begin(request):
    """Enters the run's mirror, if it has one; returns the files before the
    run, to tell what it changed."""
    spec = request.get("mirror")
    if not spec:
        _mirror_run.clear()
        return None
    root = _mirror_root(spec["name"])
    here = os.path.normpath(os.path.join(root, spec.get("dir", "")))
    if not _inside(root, here):
        here = root
    _mirror_run.clear()
    _mirror_run.update(root=root, local=spec["local"], here=here)
    _mirror_run["bad"] = _write_carried(root, spec.get("files") or ())
    _drop_changed_modules()
    try:
        os.makedirs(here, exist_ok=True)
        os.chdir(here)
    except OSError:
        pass
    if _inserted_path[0] in sys.path:
        sys.path.remove(_inserted_path[0])
    sys.path.insert(0, here)
    _inserted_path[0] = here
    return _walk(root)


def _mirror_path(filename):
    """The mirror path of a client path under the workspace root."""
    local, root = _mirror_run.get("local"), _mirror_run.get("root")
    if local and (filename == local or filename.startswith(local.rstrip("/\\") + "/") or filename.startswith(local.rstrip("/\\") + "\\")):
        rest = filename[len(local):].replace("\\", "/").lstrip("/")
        return os.path.join(root, *rest.split("/"))
    return filename


def _local_path(path):
    """The client's path of a mirror path (a traceback's frames)."""
    local, root = _mirror_run.get("local"), _mirror_run.get("root")
    if local and isinstance(path, str) and _inside(root, path) and os.path.isabs(path):
        rest = os.path.relpath(path, root).replace(os.sep, "/")
        return local if rest == "." else local.rstrip("/") + "/" + rest
    return path


def _local_text(text):
    root, local = _mirror_run.get("root"), _mirror_run.get("local")
    if not root or not isinstance(text, str):
        return text
    return text.replace('File "%s%s' % (root, os.sep), 'File "%s/' % local.rstrip("/"))


def _mirror_relative(path):
    """A path the code used, relative to the workspace when it lies in the
    mirror; None otherwise."""
    root, here = _mirror_run.get("root"), _mirror_run.get("here")
    if not root or not isinstance(path, (str, bytes, os.PathLike)):
        return None
    path = os.fsdecode(path)
    full = os.path.normpath(path if os.path.isabs(path) else os.path.join(here, path))
    if not _inside(root, full):
        return None
    return os.path.relpath(full, root).replace(os.sep, "/")


def _mirror_end(before, outcome):
    if before is None:
        return
    if _mirror_run.get("bad"):
        outcome["mirrorBad"] = _mirror_run["bad"]
    _note_modules(_mirror_run["root"])
    after = _walk(_mirror_run["root"])
    changed = sorted(rel for rel, stat in after.items() if before.get(rel) != stat)
    if changed:
        outcome["files"] = [{"path": rel, "size": after[rel][0]} for rel in changed[:_MAX_LISTED]]
        if len(changed) > _MAX_LISTED:
            outcome["filesMore"] = len(changed) - _MAX_LISTED


def _reply(nonce, reply):
    """A marker line, or (too long for the cap) a record for the bulk channel."""
    text = json.dumps(reply, ensure_ascii=True, default=str)
    if len(text) > 2000:
        _keep_record(nonce, reply)
        text = json.dumps({"record": len(_packed(nonce))})
    sys.stdout.write("\n%s%s %s\n" % (MARKER, nonce, text))
    sys.stdout.flush()


def list_files(nonce, name):
    """The mirror's files: path, size, modification time (seconds)."""
    root = _mirror_root(name)
    files = _walk(root) if os.path.isdir(root) else {}
    listed = [{"path": rel, "size": size, "mtime": mtime // 1000000000} for rel, (size, mtime) in sorted(files.items())]
    _reply(nonce, {"root": root, "files": listed[:5000], "more": max(len(listed) - 5000, 0)})


_MAX_FETCH = 50 * 1000 * 1000


def fetch_file(nonce, name, rel):
    """One file of the mirror, whole, with its SHA-256, kept for the bulk
    channel. Refuses a path outside the mirror."""
    import hashlib

    root = _mirror_root(name)
    path = os.path.realpath(os.path.join(root, *rel.split("/")))
    if not _inside(os.path.realpath(root), path) or not os.path.isfile(path):
        _reply(nonce, {"missing": True})
        return
    size = os.path.getsize(path)
    if size > _MAX_FETCH:
        _reply(nonce, {"tooLarge": size})
        return
    with open(path, "rb") as f:
        data = f.read()
    _keep_record(nonce, {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                         "data": base64.b64encode(data).decode("ascii")})
    sys.stdout.write("\n%s%s %s\n" % (MARKER, nonce, json.dumps({"record": len(_packed(nonce))})))
    sys.stdout.flush()


def run(request, user_globals):
    nonce = request["nonce"]
    filename = request["filename"]
    first_line = max(int(request.get("firstLine", 1)), 1)
    code = request["code"]
    dedent = int(request.get("dedent", 0))
    whole_file = bool(request.get("wholeFile", False))
    limit = int(request.get("outputLimit", _DEFAULT_OUTPUT_LIMIT))
    out, err = sys.stdout, sys.stderr
    out_record, err_record = _Recorder(out, limit), _Recorder(err, limit)
    # Kept alive past the run: CPython before 3.12 lets print() in another
    # thread hold sys.stdout without a reference, so a stream freed the
    # moment it is swapped out can crash the interpreter (a thread that
    # keeps printing did, with SIGSEGV).
    _retired.extend((out_record, err_record))
    del _retired[:-_KEEP_RETIRED]
    sys.stdout, sys.stderr = out_record, err_record
    _begin_displays(request, out_record, user_globals)
    try:
        files_before = _mirror_begin(request)
    except Exception:
        files_before = None
    outcome = {"v": VERSION}
    started = time.perf_counter()
    compiling = True
    limit_before = sys.getrecursionlimit()
    limit_during = None
    try:
        _remember_source(filename, first_line, code, dedent)
        tree = compile("\n" * (first_line - 1) + code, filename, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        last = None
        if not whole_file and tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        body = compile(tree, filename, "exec", dont_inherit=True)
        last = compile(last, filename, "eval", dont_inherit=True) if last is not None else None
        compiling = False
        _prepare(filename, whole_file, user_globals)
        limit_during = limit_before + _extra_depth(_frames_below(sys._getframe()))
        sys.setrecursionlimit(limit_during)
        exec(body, user_globals)
        if last is not None:
            value = eval(last, user_globals)
            if value is not None:
                outcome["value"] = _safe_repr(value)
                _show_value(value)
        outcome["status"] = "ok"
    except BaseException as exc:  # user code may raise anything, KeyboardInterrupt included
        if isinstance(exc, SystemExit) and _exit_status(exc.code) == (0, ""):
            outcome["status"] = "ok"
        else:
            if compiling and isinstance(exc, SyntaxError) and exc.filename == filename and exc.lineno:
                # Python reads the line to show from the file on disk when it
                # can: a saved copy that may differ from what ran, and is not
                # dedented as the offsets are. Show the line that was compiled.
                compiled = _sources.get(filename, {}).get(exc.lineno)
                if compiled is not None:
                    exc.text = compiled[0] + "\n"
            outcome["status"] = "error"
            outcome["error"] = _describe(exc, compiling, filename, dedent)
            tb = _user_tb(exc.__traceback__)
            sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
            try:
                _report(outcome["error"], exc, tb, err_record)
                err_record.flush()
            except Exception:
                pass
    finally:
        if limit_during is not None and sys.getrecursionlimit() == limit_during:
            sys.setrecursionlimit(limit_before)
        # A program's own streams end with it; a notebook cell's stay.
        if sys.stdout is out_record or whole_file:
            sys.stdout = out
        if sys.stderr is err_record or whole_file:
            sys.stderr = err
    outcome["durationMs"] = int((time.perf_counter() - started) * 1000)
    stdout, stdout_dropped = out_record.stop()
    stderr, stderr_dropped = err_record.stop()
    outcome["stderr"] = stderr[-_STDERR_TAIL:]
    record = {"outcome": outcome, "stdout": stdout, "stderr": stderr}
    _end_displays(outcome, record)
    try:
        _mirror_end(files_before, outcome)
    except Exception:
        pass
    try:
        variables = _snapshot(request, user_globals)
        if len(json.dumps(variables, ensure_ascii=True, default=str)) <= _INLINE_VARS:
            outcome["vars"] = variables
        else:
            # Too long for the result line: the client fetches the record.
            record["vars"] = variables
            outcome["varsInRecord"] = True
    except Exception:
        pass
    _store(nonce, outcome)
    if stdout_dropped or stderr_dropped:
        record["dropped"] = {"stdout": stdout_dropped, "stderr": stderr_dropped}
    _keep_record(nonce, record)
    packed = _packed(nonce) if "displays" in record or "vars" in record else None
    if packed is not None:
        # The client will fetch this record: telling its size now saves the
        # round trip that would learn it.
        outcome["record"] = len(packed)
    try:
        out.flush()
        out.write("\n" + _marker_line(nonce, outcome, lean=not request.get("wantStderr", False)) + "\n")
        out.flush()
    except Exception:
        pass  # stdout closed by the user's code: the client will fetch the record
