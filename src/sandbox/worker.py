# The Python side of one local-sandbox environment.
#
# The Rust server starts one of these per environment and talks to it over the
# process's original stdin/stdout, which this script moves to private file
# descriptors before any user code runs. File descriptors 0, 1 and 2 then
# belong to user code: 0 reads /dev/null, 1 and 2 go to per-run pipes that are
# captured (bounded) here, so output from `print`, `os.write(1, ...)` and child
# processes alike ends up in the run's stdout/stderr.
#
# Control protocol: requests are one JSON object per line,
#   {"id": int, "op": "exec", "code": str, "cap": int};
# an answer is one JSON header line, {"id": int, "status": ...,
# "stdoutLength": n, "stderrLength": m, ...}, followed by exactly n bytes of
# stdout and m bytes of stderr, raw (JSON-encoding megabytes of output is
# the slowest thing this process could do). The first line the worker writes
# is {"ready": true, ...}.
#
# Code runs like a Jupyter cell: in one persistent `__main__` namespace, and
# the value of a trailing expression is returned as `executionResult` (repr).

import ast
import builtins
import fcntl
import io
import json
import linecache
import os
import select
import signal
import sys
import threading
import time
import traceback
import types

_SELF = sys._getframe().f_code.co_filename  # "<string>" under `python3 -c`
# Buffered: readline() on an unbuffered file reads one byte per system call,
# and a run's request is kilobytes.
_CTL_IN = os.fdopen(os.dup(0), "rb", buffering=1 << 16)
_CTL_OUT = os.dup(1)
_DEVNULL = os.open(os.devnull, os.O_RDWR)
os.dup2(_DEVNULL, 0)
os.dup2(_DEVNULL, 1)
os.dup2(_DEVNULL, 2)
_F_SETPIPE_SZ = 1031  # Linux: a bigger pipe means fewer switches for big output


def _big_pipe(fd):
    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass


_big_pipe(_CTL_OUT)

_MAIN = types.ModuleType("__main__")
_MAIN.__dict__["__builtins__"] = builtins
sys.modules["__main__"] = _MAIN
_RUN_COUNTER = 0


def _fresh_stream(fd):
    return io.TextIOWrapper(
        io.FileIO(fd, "w", closefd=False),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
        write_through=True,
    )


# Streams replaced by _install_streams, kept alive a while: before 3.12,
# print() in another thread uses sys.stdout without holding a reference, so
# freeing a stream the moment it is replaced can crash the interpreter.
_RETIRED = []


def _install_streams():
    _RETIRED.extend((sys.stdout, sys.stderr, sys.stdin))
    del _RETIRED[:-24]
    sys.stdout = sys.__stdout__ = _fresh_stream(1)
    sys.stderr = sys.__stderr__ = _fresh_stream(2)
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")


class _Capture:
    """Reads one run's stdout and stderr pipes, keeping at most `cap` bytes of each."""

    def __init__(self, cap):
        self.cap = cap
        self.out_r, out_w = os.pipe()
        self.err_r, err_w = os.pipe()
        _big_pipe(out_w)
        _big_pipe(err_w)
        self.wake_r, self.wake_w = os.pipe()
        self.buffers = {self.out_r: bytearray(), self.err_r: bytearray()}
        self.totals = {self.out_r: 0, self.err_r: 0}
        for fd in (self.out_r, self.err_r):
            os.set_blocking(fd, False)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.close(out_w)
        os.close(err_w)
        self.thread = threading.Thread(target=self._pump, name="azsb-capture", daemon=True)
        self.thread.start()

    def _take(self, fd):
        """Read what is available now; False once the pipe is closed by every writer."""
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self.totals[fd] += len(chunk)
            room = self.cap - len(self.buffers[fd])
            if room >= len(chunk):
                self.buffers[fd] += chunk
            elif room > 0:
                self.buffers[fd] += chunk[:room]

    def _pump(self):
        poller = select.poll()
        open_fds = {self.out_r, self.err_r}
        for fd in open_fds:
            poller.register(fd, select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        while open_fds:
            events = poller.poll()
            woken = False
            for fd, _ in events:
                if fd == self.wake_r:
                    woken = True
                elif fd in open_fds and not self._take(fd):
                    poller.unregister(fd)
                    open_fds.discard(fd)
            if woken:
                # The run is over and fds 1/2 no longer point at our pipes: what
                # was written during the run is already in the pipe buffers.
                for fd in list(open_fds):
                    self._take(fd)
                return

    def finish(self):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os.dup2(_DEVNULL, 1)
        os.dup2(_DEVNULL, 2)
        os.write(self.wake_w, b"x")
        self.thread.join()
        for fd in (self.out_r, self.err_r, self.wake_r, self.wake_w):
            os.close(fd)

    def raw(self, fd):
        """The bytes kept, whether output was cut, and how much there was.
        (The server turns them into text; a character cut in half by the cap
        is dropped there.)"""
        data = self.buffers[fd]
        return data, self.totals[fd] > len(data), self.totals[fd]


def _exec_cell(code, filename):
    """Run `code` Jupyter-style; return repr of a trailing expression or None."""
    tree = compile(code, filename, "exec", ast.PyCF_ONLY_AST)  # builtin: no parser frame in tracebacks
    tail = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        tail = ast.Expression(tree.body.pop().value)
    ns = _MAIN.__dict__
    exec(compile(tree, filename, "exec"), ns)
    if tail is not None:
        value = eval(compile(tail, filename, "eval"), ns)
        if value is not None:
            builtins._ = value
            return repr(value)
    return None


def _print_exception(exc):
    tb = exc.__traceback__
    # Drop this file's own frames: the user should see their code only.
    while tb is not None and tb.tb_frame.f_code.co_filename == _SELF:
        tb = tb.tb_next
    try:
        sys.stderr.write("".join(traceback.format_exception(type(exc), exc, tb)))
        sys.stderr.flush()
    except Exception:
        os.write(2, ("%s: %s\n" % (type(exc).__name__, exc)).encode("utf-8", "replace"))


def _run(request):
    global _RUN_COUNTER
    _RUN_COUNTER += 1
    filename = "<sandbox-input-%d>" % _RUN_COUNTER
    code = request.get("code", "")
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    cap = max(0, int(request.get("cap", 1 << 20)))
    # User code may have replaced or closed the streams last time: start clean.
    _install_streams()
    capture = _Capture(cap)
    status, result, error_name = "Succeeded", None, None
    started = time.perf_counter()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = _exec_cell(code, filename)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            status, error_name = "Failed", "SystemExit"
            _print_exception(exc)
    except KeyboardInterrupt as exc:
        status, error_name = "Failed", "KeyboardInterrupt"
        _print_exception(exc)
    except BaseException as exc:  # noqa: B036 - user code may raise anything
        status, error_name = "Failed", type(exc).__name__
        _print_exception(exc)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    capture.finish()
    stdout, out_cut, out_total = capture.raw(capture.out_r)
    stderr, err_cut, err_total = capture.raw(capture.err_r)
    if result is not None and len(result) > cap:
        result = result[:cap]
    return {
        "status": status,
        "stdout": stdout,
        "stderr": stderr,
        "executionResult": result,
        "executionTimeInMilliseconds": elapsed_ms,
        "errorName": error_name,
        "stdoutTruncated": out_cut,
        "stderrTruncated": err_cut,
        "stdoutBytes": out_total,
        "stderrBytes": err_total,
    }


def _write_all(data):
    view = memoryview(data)
    while view:
        written = os.write(_CTL_OUT, view)
        view = view[written:]


def _send(message):
    """One header line; the streams, if any, follow it raw. All in one write
    where the pipe takes it: the server gives up on an answer whose promised
    bytes stop coming for seconds (a forged header), and a user thread that
    holds the GIL must not open such a gap between the parts."""
    stdout = message.pop("stdout", b"")
    stderr = message.pop("stderr", b"")
    message["stdoutLength"] = len(stdout)
    message["stderrLength"] = len(stderr)
    header = (json.dumps(message, ensure_ascii=True) + "\n").encode("ascii")
    _write_all(b"".join((header, stdout, stderr)))


def _end_with_the_server(server):
    # The server is this process's parent. Once it is gone (killed, crashed)
    # nobody will ever read a result from here again: end this interpreter and
    # its process group, rather than let user code run on, orphaned. Polling,
    # because the death signal of prctl would kill only this process, not the
    # children user code started.
    while True:
        time.sleep(0.25)
        if os.getppid() != server:
            try:
                os.killpg(0, signal.SIGKILL)
            finally:
                os._exit(1)


def main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with_the_server, args=(os.getppid(),), name="azsb-server-watch", daemon=True).start()
    _install_streams()
    _send({"ready": True, "pid": os.getpid(), "python": sys.version.split()[0]})
    while True:
        line = _CTL_IN.readline()
        if not line:
            return
        try:
            request = json.loads(line)
        except ValueError:
            _send({"id": None, "fatal": "unparsable request"})
            continue
        op = request.get("op")
        if op == "exec":
            response = _run(request)
        elif op == "ping":
            response = {"pong": True}
        else:
            response = {"fatal": "unknown op %r" % (op,)}
        response["id"] = request.get("id")
        _send(response)


main()
