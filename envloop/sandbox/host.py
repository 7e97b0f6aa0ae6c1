"""The host-side handle on one conversation's sandbox worker.

:class:`Sandbox` owns one worker process (forked by the shared template,
see :mod:`envloop.sandbox.template`) and talks to it with the frames of
:mod:`envloop.sandbox.protocol`. Everything that makes the worker safe to
keep running is decided here, in the parent, where sandbox code cannot
reach:

* the wall-clock deadline: the host waits on the socket with a deadline and
  kills the worker's process group when it passes -- no alarm inside the
  worker, which ``except BaseException`` or a long C call would defeat;
* the output cap where the pipe is read: a frame larger than the cap is
  refused at its header;
* replacement: after a kill or a crash the host forks a fresh worker,
  reports which limit was hit, and calls ``on_restart`` so the caller can
  restore the namespace.

Nothing the worker sends is evaluated: frames are JSON, and a result frame
is checked field by field (``type(x) is str``) before it becomes a
:class:`RunResult`.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from envloop.errors import SandboxError
from envloop.sandbox import protocol, stream, wire_schema
from envloop.sandbox.results import RunResult, to_result
from envloop.sandbox.stream import ChunkStore
from envloop.sandbox.template import TemplateClient, TemplateError, shared_template
from envloop.sandbox.worker import EXIT_MEMORY

__all__ = ["DEFAULT_TIMEOUT", "RunResult", "Sandbox"]

logger = logging.getLogger("envloop.sandbox")

#: Seconds a block may run when neither the caller nor ENVLOOP_TIMEOUT says otherwise.
DEFAULT_TIMEOUT = 30.0
_INTERRUPT_GRACE = 0.5
_SLICE = 0.1  # how often a waiting run() notices interrupt() from another thread
_seccomp_warned = False


class _Worker:
    """One live worker: its pid, socket and frame reader."""

    __slots__ = ("pid", "sock", "reader", "ready")

    def __init__(self, pid: int, sock: socket.socket, max_frame: int) -> None:
        self.pid = pid
        self.sock = sock
        self.reader = protocol.FrameReader(sock, max_frame)
        self.ready: dict[str, Any] | None = None


def _resolve_timeout(timeout: float | None) -> float:
    """The explicit timeout, else ENVLOOP_TIMEOUT, else 30 s."""
    if timeout is None:
        raw = os.environ.get("ENVLOOP_TIMEOUT")
        if not raw:
            return DEFAULT_TIMEOUT
        try:
            timeout = float(raw)
        except ValueError:
            raise SandboxError(f"ENVLOOP_TIMEOUT must be a number of seconds, not {raw!r}") from None
    if not timeout > 0:
        raise SandboxError(f"the timeout must be a positive number of seconds, not {timeout!r}")
    return float(timeout)


class Sandbox:
    """One conversation's worker process, and the only way to talk to it.

    ``run`` executes a block and returns a :class:`RunResult`; one block runs
    at a time (a lock per sandbox). ``on_call(fn, args, kwargs)`` answers the
    extension functions the worker calls (``host_functions`` names the stubs
    it installs); its value must be JSON data. ``on_restart(sandbox)`` runs
    after a fresh worker replaced a killed one. The deadline of a block is
    wall-clock and includes time spent in ``on_call``. ``while_waiting(answered)``
    runs when the host is about to wait for the worker: work for the host's idle
    time while the worker runs, which should stop as soon as ``answered()`` (a
    frame has come in) and return True when it has nothing left to do; stopped
    early, it runs again at the exchange's next wait.
    """

    def __init__(self, workspace: Path | str, *, timeout: float | None = None,
                 memory_bytes: int = 1 << 30, output_cap: int = 65536,
                 on_call: Callable[[str, list[Any], dict[str, Any]], Any] | None = None,
                 on_restart: Callable[[Sandbox], None] | None = None,
                 host_functions: Sequence[str] = (), file_bytes: int = 64 << 20,
                 open_files: int = 64, chunk_store: ChunkStore | None = None,
                 max_value_bytes: int | None = None,
                 while_waiting: Callable[[Callable[[], bool]], bool] | None = None,
                 _allow_debug_exec: bool = False) -> None:
        self.workspace = Path(workspace).resolve()
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.timeout = _resolve_timeout(timeout)
        self.output_cap = int(output_cap)
        self.on_call = on_call
        self.on_restart = on_restart
        self.while_waiting = while_waiting
        self.restarts = 0
        self._settings = {
            "op": "init", "workspace": str(self.workspace), "memory_bytes": int(memory_bytes),
            "file_bytes": int(file_bytes), "nofile": int(open_files),
            "output_cap": self.output_cap, "timeout": self.timeout,
            "host_functions": [str(name) for name in host_functions],
            "allow_debug_exec": bool(_allow_debug_exec),
            "max_value_bytes": int(max_value_bytes or stream.DEFAULT_MAX_VALUE_BYTES),
        }
        # Stored values arrive and leave as chunks (see envloop.sandbox.stream).
        self.chunks = stream.HostChunkPort(chunk_store)
        # JSON escapes may take 12 bytes per character; the rest is room for
        # the result preview, names and host-call arguments.
        self._max_frame = 12 * self.output_cap + (4 << 20)
        self._lock = threading.RLock()
        self._interrupt_at: float | None = None
        self._restoring = False
        self._paused = 0.0
        self._running = False
        self._closing = False
        self._closed = False
        self._template: TemplateClient = shared_template()
        self._worker = self._spawn()
        self._finalizer = weakref.finalize(self, _discard, self._template, [self._worker])

    # -- public API ---------------------------------------------------------

    @property
    def pid(self) -> int:
        """The current worker's process id (it changes after a restart)."""
        return self._worker.pid

    @property
    def seccomp(self) -> bool:
        """Whether the current worker runs under the seccomp filter."""
        with self._lock:
            return bool(self._await_ready(self._worker).get("seccomp"))

    def run(self, source: str, *, timeout: float | None = None) -> RunResult:
        """Run one block in the conversation's namespace and report what it did."""
        return self._exchange({"op": "run", "source": str(source)}, timeout)

    def restore(self, items: list[dict[str, Any]], *, timeout: float | None = None) -> dict[str, Any]:
        """Rebuild names in the worker from stored versions; returns {"restored": [...], "failed": [...]}."""
        self._restoring = True  # a worker killed during a restore is not restored again (no recursion)
        try:
            result = self._exchange({"op": "restore", "items": items}, timeout or max(self.timeout, 120.0))
        finally:
            self._restoring = False
        if result.report is None:
            error = result.error or {}
            return {"restored": [], "failed": [
                {"name": str(i.get("name")), "error": f"{error.get('type')}: {error.get('message')}"} for i in items]}
        return result.report

    def _debug_exec(self, source: str, *, timeout: float | None = None) -> RunResult:
        """Run unrestricted Python in the worker. Tests only; refused unless enabled."""
        return self._exchange({"op": "debug_exec", "source": str(source)}, timeout)

    def pause_deadline(self, seconds: float) -> None:
        """Add ``seconds`` to the running block's deadline: time a person spent answering
        an approval question is not the block's own time.  Called from ``on_call``."""
        self._paused += max(0.0, float(seconds))

    def interrupt(self) -> None:
        """Cancel the running block: SIGINT now, SIGKILL if it has not stopped soon after."""
        if not self._running:
            return
        if self._interrupt_at is None:  # a second interrupt does not postpone the kill
            self._interrupt_at = time.monotonic() + _INTERRUPT_GRACE
        try:
            self._template.signal(self._worker.pid, signal.SIGINT)
        except TemplateError:
            pass

    def close(self) -> None:
        """Kill the worker. Idempotent; a running block is killed, not waited for."""
        self._closing = True
        if self._running:
            self._interrupt_at = time.monotonic()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._finalizer()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the exchange -------------------------------------------------------

    def _exchange(self, message: dict[str, Any], timeout: float | None) -> RunResult:
        """Send a block and wait for its result, a call, the deadline or the worker's death."""
        seconds = self.timeout if timeout is None else _resolve_timeout(timeout)
        message["timeout"] = seconds
        with self._lock:
            if self._closed:
                raise SandboxError("this sandbox is closed")
            started = time.monotonic()
            deadline = started + seconds
            self._interrupt_at = None
            self._paused = 0.0
            self._running = True
            self.chunks.reset()
            try:
                return self._await_result(self._worker, message, deadline, started, seconds)
            finally:
                self._running = False
                self._interrupt_at = None

    def _await_result(self, worker: _Worker, message: dict[str, Any], deadline: float,
                      started: float, seconds: float) -> RunResult:
        """The receive loop of one block."""
        try:
            protocol.send_before(worker.sock, protocol.encode(message), deadline)
        except (OSError, protocol.WriteTimeout):
            return self._replace(worker, None, started)
        idle = self.while_waiting  # at the first wait, and again at the next ones until it is done
        while True:
            now = time.monotonic()
            limit = deadline + self._paused
            stop = limit if self._interrupt_at is None else min(limit, self._interrupt_at)
            if now >= stop:
                what = "timeout" if now >= limit else "interrupted"
                return self._replace(worker, what, started, seconds)
            if idle is not None and not worker.reader.ready():  # about to wait (a new worker's ready frame read)
                try:
                    done = idle(worker.reader.ready)
                except Exception:
                    logger.exception("while_waiting failed; the block runs on")
                    done = True
                if done or not worker.reader.ready():  # finished, or stopped for its own reasons: not again
                    idle = None
                continue  # the deadline first, as after any wait
            try:
                frame = worker.reader.read(min(stop, now + _SLICE))
            except protocol.ReadTimeout:
                continue
            except protocol.FrameTooLarge:
                return self._replace(worker, "output", started)
            except protocol.ProtocolError:  # end of file or garbage: it died or broke
                return self._replace(worker, None, started)
            try:
                wire_schema.check_frame(frame)
            except wire_schema.InvalidFrame as exc:
                logger.warning("sandbox worker %d sent an invalid frame: %s", worker.pid, exc)
                return self._replace(worker, "invalid", started)
            op = frame.get("op")
            if op == "result":
                try:
                    return to_result(frame, self.output_cap)
                except (TypeError, ValueError):
                    return self._replace(worker, "crash", started)
            if op in stream.HostChunkPort.OPS:
                try:
                    handled = self.chunks.handle(worker.sock, frame)
                except BaseException:  # the store failed (a database server restart): the worker waits
                    self._replace(worker, "crash", started)  # for chunks it will never get, so it is
                    raise  # out of step with the protocol; a fresh one is restored from the database
                if not handled:
                    return self._replace(worker, "crash", started)
            elif op == "call":
                try:
                    self._answer_call(worker, frame, deadline)
                except protocol.WriteTimeout:  # it floods calls and reads no replies
                    return self._replace(worker, "timeout", started, seconds)
            elif op == "ready":
                self._note_ready(worker, frame)
            else:
                return self._replace(worker, "crash", started)

    def _answer_call(self, worker: _Worker, frame: dict[str, Any], deadline: float) -> None:
        """Run ``on_call`` for the worker and send back its value or error."""
        fn, args, kwargs = frame.get("fn"), frame.get("args"), frame.get("kwargs")
        reply: dict[str, Any] = {"op": "reply", "id": frame.get("id")}
        if type(fn) is not str or type(args) is not list or type(kwargs) is not dict:
            reply["error"] = {"type": "TypeError", "message": "malformed host call"}
        elif self.on_call is None:
            reply["error"] = {"type": "RuntimeError", "message": f"no host function {fn[:80]!r}"}
        else:
            try:
                reply["value"] = self.on_call(fn, args, kwargs)
            except Exception as exc:  # the extension's failure is the block's exception
                reply["error"] = {"type": type(exc).__name__, "message": hide_paths(str(exc), self.workspace)[:4000]}
        try:
            data = protocol.encode(reply)
        except (TypeError, ValueError):
            data = protocol.encode({"op": "reply", "id": frame.get("id"), "error": {
                "type": "TypeError", "message": f"{fn!r} returned a value that is not plain data"}})
        try:
            protocol.send_before(worker.sock, data, deadline + self._paused)
        except OSError:
            pass  # the next read reports the worker's death

    # -- workers ------------------------------------------------------------

    def _spawn(self) -> _Worker:
        """Fork a worker from the template and send it its settings.

        A template that died unnoticed fails the first request (which marks
        it dead), so one retry with a fresh template covers that race.
        """
        for attempt in (1, 2):
            try:
                if self._template.dead:
                    self._template = shared_template()
                pid, sock = self._template.fork()
                break
            except TemplateError as exc:
                if attempt == 2:
                    raise SandboxError(str(exc)) from None
        worker = _Worker(pid, sock, self._max_frame)
        try:
            sock.sendall(protocol.encode(self._settings))
        except OSError:
            pass  # a dead spare shows up as end of file at the first read
        return worker

    def _await_ready(self, worker: _Worker) -> dict[str, Any]:
        """Block until the worker's ``ready`` frame arrived (it normally already has)."""
        if worker.ready is None:
            try:
                frame = worker.reader.read(time.monotonic() + 30.0)
            except (protocol.ProtocolError, protocol.ReadTimeout) as exc:
                raise SandboxError(f"the sandbox worker did not start ({type(exc).__name__})") from None
            try:
                wire_schema.check_frame(frame)
                if frame.get("op") != "ready":
                    raise wire_schema.InvalidFrame("expected the worker's ready frame")
            except wire_schema.InvalidFrame as exc:
                raise SandboxError(f"the sandbox worker did not start ({exc})") from None
            self._note_ready(worker, frame)
        assert worker.ready is not None
        return worker.ready

    def _note_ready(self, worker: _Worker, frame: dict[str, Any]) -> None:
        """Record the worker's start-up report; warn once if seccomp is missing."""
        global _seccomp_warned
        worker.ready = frame
        if frame.get("error"):
            raise SandboxError(f"the sandbox worker could not start: {frame['error']}")
        if not frame.get("seccomp") and not _seccomp_warned:
            _seccomp_warned = True
            logger.warning("seccomp is unavailable (%s); sandbox workers run without the "
                           "syscall filter", frame.get("seccomp_error"))

    def _replace(self, worker: _Worker, what: str | None, started: float,
                 seconds: float = 0.0) -> RunResult:
        """Kill ``worker``, start a fresh one, and describe what happened to the block.

        ``what`` is "timeout", "interrupted", "output" or "crash" when the
        host decided; None when the worker died on its own and its exit code
        says why.
        """
        code = _kill(self._template, worker)
        limit, error = _describe(what, code, seconds, restores=self.on_restart is not None)
        if not self._closing:
            self._worker = self._spawn()
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _discard, self._template, [self._worker])
            self.restarts += 1
            logger.info("sandbox worker %d replaced (%s)", worker.pid, limit)
            self._notify_restart()
        duration = (time.monotonic() - started) * 1000.0
        return RunResult(ok=False, stdout="", result=None, error=error, limit=limit,
                         duration_ms=duration)

    def _notify_restart(self) -> None:
        """Call ``on_restart``; its failure is logged, the block's report still returns."""
        if self.on_restart is None or self._restoring:
            return
        try:
            self.on_restart(self)
        except Exception:
            logger.exception("on_restart failed after a sandbox worker was replaced")


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/(?:[^\s'\"/:]+/)*[^\s'\"/:,)]*")


def hide_paths(message: str, workspace: Path) -> str:
    """An error for the sandbox, naming no host path: workspace files by their relative name.

    An extension's exception text (``No such file or directory: '/home/…/workspaces/3/x.csv'``,
    ``unable to open database file …``) would otherwise tell sandboxed code where the
    host keeps its database, workspaces and home.
    """
    root = str(workspace).rstrip("/") + "/"
    message = message.replace(root, "").replace(str(workspace), ".")
    return _ABSOLUTE_PATH.sub("<host path>", message)


def _kill(template: TemplateClient, worker: _Worker) -> int | None:
    """SIGKILL a worker's process group and return its exit code, if known."""
    try:
        code = template.reap(worker.pid)
    except TemplateError:
        code = None  # the template died; its workers die with it (PDEATHSIG)
    worker.sock.close()
    return code


def _discard(template: TemplateClient, workers: list[_Worker]) -> None:
    """Finalizer: kill the worker of a sandbox that was closed or collected.

    Only the signal is waited for; the template reaps the process in its
    own loop, so closing a conversation costs one control round trip.
    """
    for worker in workers:
        try:
            template.signal(worker.pid, signal.SIGKILL)
        except TemplateError:
            pass
        worker.sock.close()


def _describe(what: str | None, code: int | None, seconds: float,
              restores: bool = False) -> tuple[str, dict[str, Any]]:
    """The limit name and error for a worker the host had to replace."""
    lost = ("the worker was restarted and the namespace restored from its last stored state" if restores
            else "the worker was restarted and the conversation's namespace was lost")
    if what == "timeout":
        return "timeout", {"type": "TimeoutError", "line": None,
                           "message": f"the block ran longer than {seconds:g} s; {lost}"}
    if what == "interrupted":
        return "timeout", {"type": "KeyboardInterrupt", "line": None,
                           "message": f"the block was interrupted; {lost}"}
    if what == "output":
        return "output", {"type": "OutputLimitExceeded", "line": None,
                          "message": f"the worker sent more data than the host accepts; {lost}"}
    if code == EXIT_MEMORY:
        return "memory", {"type": "MemoryError", "line": None,
                          "message": f"the block ran out of memory; {lost}"}
    if code == -signal.SIGXCPU:
        return "timeout", {"type": "TimeoutError", "line": None,
                           "message": f"the block used up its CPU time; {lost}"}
    how = {"crash": "broke the protocol", "invalid": "sent a frame outside the protocol's schema"}.get(
        what or "") or _exit_text(code)
    return "crash", {"type": "WorkerCrashed", "line": None,
                     "message": f"the worker {how}; {lost}"}


def _exit_text(code: int | None) -> str:
    """How a worker ended, for a message: 'died of SIGSEGV', 'exited with status 3'."""
    if code is None:
        return "died"
    if code < 0:
        try:
            return f"died of {signal.Signals(-code).name}"
        except ValueError:
            return f"died of signal {-code}"
    return f"exited with status {code}"
