"""The code a forked worker runs: isolate itself, then serve one conversation.

The template forks a child and calls :func:`child_main`, which never returns
(every path ends in ``os._exit``: a child must never fall back into the
template's loop). In order, because each step relies on the one before:

1. ``setsid`` (its own process group, so the host can kill everything it
   might start with one signal) and ``PR_SET_PDEATHSIG`` = SIGKILL (it dies
   with the template, which dies with the host);
2. close every inherited descriptor but its socket to the host;
3. load the seccomp filter (:mod:`envloop.sandbox.seccomp`) -- a pre-forked
   spare does all of this before anyone asks for it;
4. wait for the host's ``init`` frame: chdir to the conversation's
   workspace, set the rlimits, answer ``ready``;
5. serve ``run`` / ``call`` / ``ping`` / ``exit`` frames.

Nothing here decides a wall-clock limit: the host kills the process group.
RLIMIT_CPU is only a backstop, re-armed before each block.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import io
import math
import os
import resource
import signal
import socket
import time
from collections.abc import Callable
from typing import Any, NoReturn

from envloop.sandbox import protocol
from envloop.sandbox.seccomp import Program, SeccompUnavailable, load_prctl

__all__ = ["EXIT_CRASH", "EXIT_MEMORY", "child_main", "rehearse"]

#: Exit status of a worker that ran out of memory outside the interpreter's reach.
EXIT_MEMORY = 75
#: Exit status of a worker that failed in its own serving code.
EXIT_CRASH = 70

_PR_SET_PDEATHSIG = 1
_CAP = 4000
# Error types a host function may raise that keep their class inside the sandbox.
_HOST_ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (ValueError, TypeError, KeyError, IndexError, LookupError, RuntimeError,
                PermissionError, FileNotFoundError, TimeoutError, NotImplementedError, NameError)
}
#: A host call's frame must stay well under what the host accepts (12 x output cap + 4 MiB).
_MAX_CALL_BYTES = 4 << 20

_prctl = load_prctl()


class _State:
    """What the SIGINT handler needs: whether sandbox code is running right now."""

    running = False
    restoring = False


def _on_sigint(signum: int, frame: Any) -> None:
    """Turn SIGINT into KeyboardInterrupt only while a block runs.

    Outside a block an interrupt must not tear a frame half-sent.
    """
    if _State.running:
        raise KeyboardInterrupt


def child_main(sock: socket.socket, program: Program | None, seccomp_error: str | None,
               template_pid: int) -> NoReturn:
    """Run a worker in a freshly forked child; never returns."""
    status = 0
    try:
        _detach(template_pid, sock.fileno())
        if program is not None:
            try:
                program.load(os.getpid())
            except SeccompUnavailable as exc:
                seccomp_error = str(exc)
        rehearse()
        reader = protocol.FrameReader(sock)
        settings = _await_init(sock, reader, seccomp_error)
        if program is not None and seccomp_error is None:
            try:
                program.load_ready()  # in its workspace now: no more chdir, no stat of host paths
            except SeccompUnavailable:
                pass  # the first filter holds; the host already learnt whether seccomp works
        _serve(sock, reader, settings)
    except MemoryError:
        status = EXIT_MEMORY
    except BaseException:
        status = EXIT_CRASH
    os._exit(status)


#: What the template runs before the first fork (see :func:`rehearse`): everyday blocks.
REHEARSAL_BLOCKS = (
    "nums = [n * 3 for n in range(50)]\ntotal = sum(nums)",
    "def scale(v, f=2):\n    return v * f\nscale(5)",
    "freq = {}\nfor c in 'hello world':\n    freq[c] = freq.get(c, 0) + 1\nfreq",
    "import math\nmath.floor(math.pi * 100) / 100",
    "print(f'{total} from {len(nums)} numbers')",
    "class Point:\n    def __init__(self, x, y):\n        self.x, self.y = x, y\np = Point(1, 2)",
)
#: Rounds of them: CPython 3.11 specialises a function's bytecode after its first 8 calls.
REHEARSAL_ROUNDS = 8


def rehearse(blocks: bool = False) -> None:
    """Run a throwaway block in a throwaway interpreter, and a frame through the codec.

    Called in the template before forking (lazy caches get built once and
    shared) and in each child while it waits for its ``init``: after a fork
    every page is copy-on-write, and the first block would otherwise pay for
    copying the hundreds of pages it touches (~0.7 ms measured).

    ``blocks`` (the template, once): also :data:`REHEARSAL_BLOCKS`, stored by a
    throwaway snapshotter, :data:`REHEARSAL_ROUNDS` times, so the code they
    run is specialised and its lazy caches built before the fork; each worker
    would otherwise write those pages, and so own a copy of each (0.3-0.4 MB
    less private memory per worker after 100 everyday blocks, measured).
    """
    try:
        from envloop.sandbox.interpreter import Interpreter

        result = Interpreter().run("_rehearsal = [n * 2 for n in range(3)]\nlen(_rehearsal)")
    except Exception:  # a broken interpreter is reported by the first real block
        return
    result.update(op="result", duration_ms=0.0)
    protocol.FrameReader.decode(protocol.encode(result)[4:])
    if blocks:
        _rehearse_blocks()


def _rehearse_blocks() -> None:
    """:data:`REHEARSAL_BLOCKS`, run and stored :data:`REHEARSAL_ROUNDS` times by throwaway objects.

    Through a worker's own runner and transport, over a socket pair this
    process holds both ends of: the ``need`` answer to each block's chunk
    offer is written before the block runs, and what the "worker" sent is
    read back and dropped after it (no frame waits on the other end).
    """
    host, inside = socket.socketpair()
    try:
        reader = protocol.FrameReader(inside)
        run = _make_runner({"output_cap": 1 << 16}, _HostCaller(inside, reader))
        for _ in range(REHEARSAL_ROUNDS):
            for source in REHEARSAL_BLOCKS:
                protocol.send_frame(host, {"op": "need", "digests": []})
                reply = run(source)
                reply.update(op="result", duration_ms=0.0)
                _send_reply(inside, reply)
                _tidy(run)
                _drain(host)
        while reader.ready():  # needs no block asked for
            reader.read()
    except Exception:  # only a warm-up: the blocks themselves report what is wrong
        return
    finally:
        host.close()
        inside.close()


def _drain(sock: socket.socket) -> None:
    """Read and drop what is waiting on ``sock``."""
    sock.setblocking(False)
    try:
        while sock.recv(1 << 16):
            pass
    except BlockingIOError:
        pass
    finally:
        sock.setblocking(True)


def _detach(template_pid: int, keep_fd: int) -> None:
    """Leave the template's process group, die with it, drop its descriptors."""
    os.setsid()
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != template_pid:  # the template died before prctl took effect
        os._exit(EXIT_CRASH)
    os.closerange(3, keep_fd)
    os.closerange(keep_fd + 1, 1 << 20)
    signal.signal(signal.SIGINT, _on_sigint)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    gc.enable()


def _await_init(sock: socket.socket, reader: protocol.FrameReader,
                seccomp_error: str | None) -> dict[str, Any]:
    """Wait for the host's settings, apply them and answer ``ready``.

    The host pipelines its first ``run`` right behind ``init``, so the reader
    (and whatever it buffered) carries on into :func:`_serve`.
    """
    settings = reader.read()
    error = None
    try:
        if settings.get("op") != "init":
            raise ValueError("expected an init frame")
        os.chdir(settings["workspace"])
        _set_limits(settings)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    protocol.send_frame(sock, {"op": "ready", "pid": os.getpid(),
                               "seccomp": seccomp_error is None,
                               "seccomp_error": seccomp_error, "error": error})
    if error is not None:
        os._exit(EXIT_CRASH)
    return settings


def _set_limits(settings: dict[str, Any]) -> None:
    """Apply the rlimits; soft = hard so nothing inside can raise them again."""
    fixed = (
        (resource.RLIMIT_AS, int(settings["memory_bytes"])),
        (resource.RLIMIT_FSIZE, int(settings["file_bytes"])),
        (resource.RLIMIT_NOFILE, int(settings["nofile"])),
        (resource.RLIMIT_CORE, 0),
    )
    for which, value in fixed:
        resource.setrlimit(which, (value, value))
    _arm_cpu_backstop(float(settings.get("timeout", 30.0)))


def _arm_cpu_backstop(timeout: float) -> None:
    """Allow this block twice its wall-clock budget of CPU (plus slack) before SIGXCPU.

    The host's deadline is the real limit; this catches a worker whose host
    stopped watching. Re-armed per block because RLIMIT_CPU counts the whole
    life of the process.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + 2 * timeout + 5)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))


def _serve(sock: socket.socket, reader: protocol.FrameReader, settings: dict[str, Any]) -> None:
    """Answer the host's frames until ``exit`` or end of file."""
    run = _make_runner(settings, _HostCaller(sock, reader))
    allow_debug = settings.get("allow_debug_exec") is True
    while True:
        try:
            message = reader.read()
        except protocol.PeerClosed:
            os._exit(0)
        op = message.get("op")
        if op == "run":
            reply = _run_block(run, message)
        elif op == "debug_exec":
            reply = _run_block(_debug_exec if allow_debug else _refuse_debug, message)
        elif op == "restore":
            reply = _restore(run, message)
        elif op == "ping":
            reply = {"op": "pong"}
        elif op == "exit":
            os._exit(0)
        elif op == "reply":  # the answer to a host call a KeyboardInterrupt abandoned
            continue
        else:
            reply = {"op": "error", "message": f"unknown op {str(op)[:40]!r}"}
        _send_reply(sock, reply)
        if op == "run":
            _tidy(run)


def _tidy(runner: Callable[[str], dict[str, Any]]) -> None:
    """Between blocks, with the result sent: let go of what the conversation no longer uses."""
    tidy = getattr(runner, "tidy", None)
    if tidy is None:
        return
    try:
        tidy()
    except Exception:  # only memory is at stake; the next block runs as it would have
        pass


def _make_runner(settings: dict[str, Any], call_host: _HostCaller) -> Callable[[str], dict[str, Any]]:
    """The conversation's ``Interpreter.run`` plus versioning; if it cannot be built, a runner that says why.

    A broken interpreter then shows up as an error on each block instead of
    a worker that dies at start and is replaced again and again. The runner's
    ``restore`` attribute rebuilds names from stored versions.
    """
    try:
        from envloop.sandbox.interpreter import Interpreter  # imported by the template already
        from envloop.sandbox.snapshot import Snapshotter
        from envloop.sandbox.stream import WorkerTransport

        interp = Interpreter(output_cap=int(settings["output_cap"]), call_host=call_host)
        for name in settings.get("host_functions", ()):
            interp.add_function(name, call_host.stub(name))
        snapshot = Snapshotter(interp)
        snapshot.chunk_sink = WorkerTransport(call_host.sock, call_host.reader)
        snapshot.max_value_bytes = int(settings.get("max_value_bytes") or snapshot.max_value_bytes)
    except Exception as exc:
        failure = _failure(exc)
        broken = lambda source: dict(failure)  # noqa: E731
        broken.restore = lambda items, seconds=0.0: {"restored": [], "failed": [  # type: ignore[attr-defined]
            {"name": str(i.get("name")), "error": failure["error"]["message"]} for i in items]}
        return broken

    def run(source: str) -> dict[str, Any]:
        result = interp.run(source)
        try:
            result["changes"] = snapshot.collect(source, result)
        except Exception as exc:  # a codec failure must not lose the block's own report
            result["changes"] = []
            result["snapshot_error"] = f"{type(exc).__name__}: {str(exc)[:_CAP]}"
        return result

    run.restore = snapshot.restore  # type: ignore[attr-defined]
    run.tidy = snapshot.release_classes  # type: ignore[attr-defined]
    return run


def _restore(runner: Callable[[str], dict[str, Any]], message: dict[str, Any]) -> dict[str, Any]:
    """Rebuild names the host sent (``restore`` frame); never raises."""
    started = time.perf_counter()
    items = message.get("items")
    try:
        if type(items) is not list:
            raise TypeError("restore needs a list of items")
        _State.running = _State.restoring = True  # host-function stubs refuse during a restore
        try:
            report = runner.restore(items, float(message.get("timeout") or 120.0))  # type: ignore[attr-defined]
        finally:
            _State.running = _State.restoring = False
        result = {"ok": not report["failed"], "stdout": "", "result": None, "error": None, "limit": None,
                  "report": report}
    except BaseException as exc:
        result = _failure(exc)
    result["op"] = "result"
    result["duration_ms"] = (time.perf_counter() - started) * 1000.0
    return result


def _run_block(runner: Callable[[str], dict[str, Any]], message: dict[str, Any]) -> dict[str, Any]:
    """Run one block with SIGINT armed; never raises."""
    source = message.get("source")
    started = time.perf_counter()
    try:
        _arm_cpu_backstop(float(message.get("timeout", 30.0)))
        _State.running = True
        try:
            result = runner(source if type(source) is str else "")
        finally:
            _State.running = False
    except BaseException as exc:  # an interrupt that landed outside the interpreter's own guard
        result = _failure(exc)
    result["op"] = "result"
    result["duration_ms"] = (time.perf_counter() - started) * 1000.0
    return result


def _send_reply(sock: socket.socket, reply: dict[str, Any]) -> None:
    """Send a reply; one that cannot be encoded becomes an error report instead."""
    try:
        frame = protocol.encode(reply)
    except (TypeError, ValueError, OverflowError) as exc:
        failure = _failure(exc)
        failure.update(op="result", duration_ms=reply.get("duration_ms", 0.0))
        frame = protocol.encode(failure)
    sock.sendall(frame)


def _failure(exc: BaseException) -> dict[str, Any]:
    """A result dict for an exception the interpreter did not report itself."""
    return {
        "ok": False, "stdout": "", "result": None,
        "error": {"type": type(exc).__name__, "message": str(exc)[:_CAP], "line": None},
        "limit": "memory" if isinstance(exc, MemoryError) else None,
        "bound": [], "deleted": [], "read": [],
    }


def _to_wire(value: Any) -> Any:
    """Bytes cross the JSON pipe as {"__bytes__": base64}; everything else must be JSON data."""
    if type(value) in (bytes, bytearray):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    return value


def _from_wire(value: Any) -> Any:
    if type(value) is dict and len(value) == 1 and type(value.get("__bytes__")) is str:
        return base64.b64decode(value["__bytes__"])
    return value


def _debug_exec(source: str) -> dict[str, Any]:
    """Run UNRESTRICTED Python (tests only: proves the OS layer holds on its own)."""
    out = io.StringIO()
    error = None
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(source, "<debug_exec>", "exec"), {"__name__": "__debug_exec__"})
    except BaseException as exc:
        error = {"type": type(exc).__name__, "message": str(exc)[:_CAP], "line": None}
    limit = "memory" if error is not None and error["type"] == "MemoryError" else None
    return {"ok": error is None, "stdout": out.getvalue()[:1 << 16], "result": None,
            "error": error, "limit": limit, "bound": [], "deleted": [], "read": []}


def _refuse_debug(source: str) -> dict[str, Any]:
    """The answer to debug_exec when the host did not create the sandbox for tests."""
    return _failure(PermissionError("debug_exec is disabled for this sandbox"))


class _HostCaller:
    """Forwards extension calls to the host and waits for the matching reply."""

    def __init__(self, sock: socket.socket, reader: protocol.FrameReader) -> None:
        self._sock = self.sock = sock
        self._reader = self.reader = reader
        self._next_id = 0

    def __call__(self, fn: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Send ``call`` and return the reply's value, or raise its error."""
        if _State.restoring:  # a restore runs definitions only: no host call, no approval
            raise PermissionError(f"{fn}() cannot run while the namespace is being restored")
        self._next_id += 1
        call_id = self._next_id
        frame = protocol.encode({"op": "call", "id": call_id, "fn": fn,
                                 "args": [_to_wire(a) for a in args],
                                 "kwargs": {k: _to_wire(v) for k, v in kwargs.items()}})
        if len(frame) > _MAX_CALL_BYTES:
            raise ValueError(f"{fn}(): the arguments are too large to send ({len(frame)} bytes; "
                             f"at most {_MAX_CALL_BYTES >> 20} MiB)")
        self._sock.sendall(frame)
        while True:
            reply = self._reader.read()
            if reply.get("op") == "reply" and reply.get("id") == call_id:
                break
        error = reply.get("error")
        if error is not None:
            kind = _HOST_ERRORS.get(str(error.get("type")), RuntimeError)
            raise kind(str(error.get("message", "host function failed"))[:_CAP])
        return _from_wire(reply.get("value"))

    def stub(self, name: str) -> Callable[..., Any]:
        """A function the sandbox can call by ``name``; the host does the work.

        ``answer(value)`` is the one stub that converts: the answer is text, made
        here with ``str()`` so the host never sees (or evaluates) the object.
        """
        if name == "answer":
            def answer(value: Any = None) -> None:
                self(name, [value if type(value) is str else str(value)], {})
            answer.__name__ = answer.__qualname__ = name
            return answer

        def host_function(*args: Any, **kwargs: Any) -> Any:
            return self(name, list(args), kwargs)
        host_function.__name__ = host_function.__qualname__ = name
        return host_function
