"""The template process: a pre-imported fork server for sandbox workers.

Started once per host (``python -I -c "...template import main; main()"
CTRL_FD HOST_PID`` with an empty environment), it imports everything a worker could
need, compiles the seccomp filter, freezes the heap for the garbage
collector (so forked children share its pages instead of copying them) and
then serves requests from the host over a ``SOCK_SEQPACKET`` control socket,
one JSON object per packet:

    {"op": "fork"}               -> {"ok": true, "pid": N}  + the host's socket end (SCM_RIGHTS)
    {"op": "reap", "pid": N}     -> {"ok": true, "code": C | null}   kills the group, waits
    {"op": "signal", "pid": N, "sig": S} -> {"ok": bool}
    {"op": "ping"}               -> {"ok": true}

Signals go through the template because it is the workers' parent: a pid
it has not reaped cannot have been reused, so it never signals a stranger.
``code`` is ``os.waitstatus_to_exitcode`` (negative: killed by that signal).

It keeps one pre-forked spare worker (already detached and under seccomp,
waiting for its ``init`` frame) so a new conversation skips the fork. It
dies with the host: ``PR_SET_PDEATHSIG`` plus end-of-file on the control
socket, on which it SIGKILLs every worker's process group before exiting.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from typing import Any, NoReturn

from envloop.errors import SandboxError
from envloop.sandbox import seccomp, worker

__all__ = ["PRELOAD", "TemplateClient", "TemplateError", "main", "shared_template"]

#: Modules imported before the first fork, when they exist.
PRELOAD = (
    "RestrictedPython",
    "envloop.sandbox.codec",
    "envloop.sandbox.policy",
    "envloop.sandbox.modules",
    "envloop.sandbox.interpreter",
    "envloop.sandbox.snapshot",
)
_PR_SET_PDEATHSIG = 1
_KEEP_EXITED = 4096
_SPARE_DELAY_MS = 5
# Not ``-m``: runpy would import this module a second time as __main__.
_ENTRY = "from envloop.sandbox.template import main; main()"
_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGKILL})
_SOCKET_BUFFER = 4 << 20


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: ``template.py CTRL_FD HOST_PID``."""
    args = sys.argv[1:] if argv is None else argv
    ctrl_fd, host_pid = int(args[0]), int(args[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the host
    seccomp.load_prctl()(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != host_pid:
        os._exit(1)
    ctrl = socket.socket(fileno=ctrl_fd)
    hello: dict[str, Any] = {"op": "hello", "pid": os.getpid(), "error": None}
    program = None
    try:
        gc.disable()
        hello["missing"] = _preload()
        try:
            program = seccomp.build_program()
            hello["seccomp_error"] = None
        except seccomp.SeccompUnavailable as exc:
            hello["seccomp_error"] = str(exc)
        os.environ.clear()
        gc.collect()
        _BALLAST.extend(_fill_pools())
        gc.freeze()
        gc.enable()
    except BaseException as exc:  # report, do not vanish silently
        hello["error"] = f"{type(exc).__name__}: {exc}"[:2000]
    _send(ctrl, hello)
    if hello["error"] is not None:
        os._exit(1)
    _Server(ctrl, program, hello["seccomp_error"]).serve()


#: Objects that fill the small-object allocator's free slots before the first fork (see :func:`_fill_pools`).
_BALLAST: list[object] = []
_POOL_ROW = re.compile(rb"^\s*\d+\s+(\d+)\s+\d+\s+\d+\s+(\d+)\s*$", re.M)  # class size pools used avail


def _fill_pools() -> list[object]:
    """Objects filling every free slot of pymalloc's partly used pools, to be kept for good.

    After ``gc.collect()`` the template's pools are full of holes, and a
    worker's new objects would go into them: each first write there copies a
    whole template page, hundreds of pages for a worker's first blocks.  With
    the holes filled, a worker's objects go to pages of its own, packed
    together (0.3 MB less private memory per worker, measured).  Where
    :func:`free_slots` reports nothing (no pymalloc), nothing is filled.  The
    ballast is never touched again, so its pages stay shared.
    """
    ballast: list[object] = []
    for size, free in free_slots().items():
        # bytes of n take 33 + n bytes; a bytearray's buffer of n - 1 takes n (the smallest classes)
        ballast.extend(bytes(size - 33) if size >= 48 else bytearray(size - 1) for _ in range(free))
    return ballast


def free_slots() -> dict[int, int]:
    """Free slots in pymalloc's partly used pools, by block size, from ``sys._debugmallocstats()``."""
    try:
        with tempfile.TemporaryFile() as out:  # a file, not a pipe: no size at which the write would block
            saved = os.dup(2)
            os.dup2(out.fileno(), 2)
            try:
                sys._debugmallocstats()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            out.seek(0)
            text = out.read()
    except (AttributeError, OSError):
        return {}
    return {int(m.group(1)): int(m.group(2)) for m in _POOL_ROW.finditer(text)}


def _preload() -> list[str]:
    """Import every module a worker may need; return the names that do not exist yet."""
    missing = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            missing.append(name)
    modules = sys.modules.get("envloop.sandbox.modules")
    preload = getattr(modules, "preload", None)
    if callable(preload):
        preload()
    time.localtime()  # glibc reads /etc/localtime once, now, while files may be opened
    worker.rehearse(blocks=True)
    return missing


def _send(ctrl: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """Send one control packet, with descriptors attached when given."""
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(ctrl, [data], fds)
    else:
        ctrl.send(data)


class _Server:
    """The fork-server loop and the bookkeeping of its children."""

    def __init__(self, ctrl: socket.socket, program: seccomp.Program | None,
                 seccomp_error: str | None) -> None:
        self.ctrl = ctrl
        self.program = program
        self.seccomp_error = seccomp_error
        self.pid = os.getpid()
        self.children: set[int] = set()
        self.exited: OrderedDict[int, int] = OrderedDict()
        self.spare: tuple[int, socket.socket] | None = None
        self.handed_over: list[int] = []
        self.poller = select.poll()
        self.poller.register(ctrl, select.POLLIN)

    def serve(self) -> NoReturn:
        """Answer requests until the host goes away; any failure takes the workers down too."""
        try:
            self._loop()
        finally:
            self._shutdown()

    def _loop(self) -> None:
        """The request loop proper."""
        poller = self.poller
        while True:
            busy = self.spare is None or self.handed_over
            ready = poller.poll(_SPARE_DELAY_MS if busy else 1000)
            self._reap_exited()
            if not ready:
                self._tidy()
                continue
            try:
                data = self.ctrl.recv(65536)
            except ConnectionError:
                data = b""
            if not data:
                self._shutdown()
            try:
                request = json.loads(data)
                reply, fds = self._handle(request)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                reply, fds = {"ok": False, "error": type(exc).__name__}, None
            _send(self.ctrl, reply, fds)
            self.handed_over.extend(fds or ())

    def _tidy(self) -> None:
        """Idle work: close the descriptors handed over, make a new spare.

        Closing a unix socket while it is still in flight can make the
        kernel run its in-flight garbage collector (strace showed one such
        ``close`` take 1.7 ms), so the template waits until the host has
        surely received it; and a fork right after a hand-over would delay
        the host's next request and share a core with the new worker.
        """
        for fd in self.handed_over:
            os.close(fd)
        self.handed_over.clear()
        if self.spare is None:
            self.spare = self._fork()
            self._rehearse()

    def _rehearse(self) -> None:
        """Walk the request path once with nothing at stake, right after a fork.

        After ``fork`` every page is shared copy-on-write, and the template
        pays a page copy on the first write to each one -- Python's reference
        counts write to every object a request touches. Taking those faults
        now, while idle, keeps them off the next hand-over (~0.3 ms).
        """
        request = json.loads(json.dumps({"op": "ping", "pid": 0, "sig": 0}))
        reply, _ = self._handle(request)
        json.dumps(reply).encode()
        self._reap_exited()
        self.poller.poll(0)

    def _handle(self, request: dict[str, Any]) -> tuple[dict[str, Any], list[int] | None]:
        """Dispatch one request; returns the reply and any descriptor to pass."""
        op = request["op"]
        if op == "fork":
            spare, self.spare = self.spare, None
            pid, host_end = spare if spare is not None else self._fork()
            fd = host_end.detach()
            return {"ok": True, "pid": pid}, [fd]
        if op == "reap":
            return {"ok": True, "code": self._reap(int(request["pid"]))}, None
        if op == "signal":
            sig = int(request["sig"])
            ok = sig in _SIGNALS and self._signal(int(request["pid"]), sig)
            return {"ok": ok}, None
        if op == "ping":
            return {"ok": True}, None
        raise ValueError(op)

    def _fork(self) -> tuple[int, socket.socket]:
        """Fork a worker; the child never returns from here."""
        host_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for end in (host_end, worker_end):  # a whole chunk or two in flight: the sender goes on encoding
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)  # (the kernel caps it at wmem_max)
        pid = os.fork()
        if pid == 0:
            try:
                host_end.close()
                worker.child_main(worker_end, self.program, self.seccomp_error, self.pid)
            finally:
                os._exit(worker.EXIT_CRASH)
        worker_end.close()
        self.children.add(pid)
        return pid, host_end

    def _signal(self, pid: int, sig: int) -> bool:
        """Signal a live child's process group (or the child, before its setsid)."""
        if pid not in self.children:
            return False
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return False
        return True

    def _reap(self, pid: int) -> int | None:
        """Kill a child's group and collect its exit code (None if unknown)."""
        if pid in self.exited:
            return self.exited.pop(pid)
        if pid not in self.children:
            return None
        self._signal(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        self.children.discard(pid)
        return os.waitstatus_to_exitcode(status)

    def _reap_exited(self) -> None:
        """Collect children that exited on their own, keeping their codes for ``reap``."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self.exited[pid] = os.waitstatus_to_exitcode(status)
            while len(self.exited) > _KEEP_EXITED:
                self.exited.popitem(last=False)

    def _shutdown(self) -> NoReturn:
        """The host is gone: kill every worker's group, then exit."""
        for pid in list(self.children):
            self._signal(pid, signal.SIGKILL)
        os._exit(0)


# --------------------------------------------------------------------------
# Host side: the client of the template, one per host process.
# --------------------------------------------------------------------------


class TemplateError(SandboxError):
    """The template could not be started or stopped answering."""


class TemplateClient:
    """The host's handle on its template; every method is thread-safe.

    The template is spawned from a dedicated thread that stays alive waiting
    for it, because ``PR_SET_PDEATHSIG`` fires when the *thread* that forked
    a child exits, and the first conversation may well start on a
    short-lived thread.
    """

    def __init__(self, start_timeout: float = 60.0) -> None:
        self._lock = threading.Lock()
        self._ctrl, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._poller = select.poll()
        self._poller.register(self._ctrl, select.POLLIN)
        self.dead = False
        self.owner = os.getpid()
        spawned = threading.Event()
        failure: list[BaseException] = []
        threading.Thread(target=self._keep, args=(child_end, spawned, failure),
                         name="envloop-template", daemon=True).start()
        spawned.wait()
        child_end.close()
        if failure:
            self.dead = True
            raise TemplateError(f"could not start the sandbox template: {failure[0]}")
        hello = self._receive(start_timeout)[0]
        if hello.get("error"):
            self.dead = True
            raise TemplateError(f"the sandbox template failed to start: {hello['error']}")
        self.pid: int = hello["pid"]
        self.seccomp_error: str | None = hello.get("seccomp_error")

    def _keep(self, child_end: socket.socket, spawned: threading.Event,
              failure: list[BaseException]) -> None:
        """Spawn the template, then wait on it for as long as it lives."""
        fd = child_end.fileno()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _ENTRY, str(fd), str(os.getpid())],
                env={}, pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
            )
        except OSError as exc:
            failure.append(exc)
            spawned.set()
            return
        spawned.set()
        proc.wait()
        self.dead = True

    def request(self, message: dict[str, Any], timeout: float = 30.0) -> tuple[dict[str, Any], list[int]]:
        """Send one request and return its reply and any descriptors that came with it."""
        with self._lock:
            if self.dead:
                raise TemplateError("the sandbox template is not running")
            try:
                self._ctrl.send(json.dumps(message).encode())
            except OSError as exc:
                self.dead = True
                raise TemplateError(f"the sandbox template is gone ({exc})") from None
            return self._receive(timeout)

    def _receive(self, timeout: float) -> tuple[dict[str, Any], list[int]]:
        """Wait for one packet; a silent or closed template is marked dead."""
        if not self._poller.poll(timeout * 1000.0):
            self.dead = True
            raise TemplateError("the sandbox template stopped answering")
        data, fds, _, _ = socket.recv_fds(self._ctrl, 65536, 4)
        if not data:
            self.dead = True
            for fd in fds:
                os.close(fd)
            raise TemplateError("the sandbox template exited")
        return json.loads(data), fds

    def fork(self) -> tuple[int, socket.socket]:
        """A new worker: its pid and the host's end of its socket."""
        reply, fds = self.request({"op": "fork"})
        if not reply.get("ok") or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise TemplateError("the sandbox template could not fork a worker")
        return reply["pid"], socket.socket(fileno=fds[0])

    def reap(self, pid: int) -> int | None:
        """Kill a worker's process group and return its exit code (negative: signal)."""
        return self.request({"op": "reap", "pid": pid})[0].get("code")

    def signal(self, pid: int, sig: int) -> bool:
        """Send ``sig`` to a worker's process group if it is still alive."""
        return bool(self.request({"op": "signal", "pid": pid, "sig": int(sig)})[0].get("ok"))

    def close(self) -> None:
        """Close the control socket: the template kills its workers and exits."""
        self.dead = True
        self._ctrl.close()


_shared: TemplateClient | None = None
_shared_lock = threading.Lock()


def shared_template() -> TemplateClient:
    """The host's template, started on first use and again if it died.

    A process forked from the host (multiprocessing's "fork") must not share
    the parent's control socket, so it gets a template of its own.
    """
    global _shared
    with _shared_lock:
        if _shared is None or _shared.dead or _shared.owner != os.getpid():
            _shared = TemplateClient()
        return _shared


def prestart() -> None:
    """Start the shared template in the background and return at once.

    A command that will run code calls this first, so the template's
    interpreter start and imports overlap the host's own imports (SQLAlchemy,
    the store) on the other core instead of following them. A failure here is
    ignored: the first real use starts the template again and reports it.
    """

    def start() -> None:
        try:
            shared_template()
        except SandboxError:
            pass

    threading.Thread(target=start, name="envloop-template-prestart", daemon=True).start()


if __name__ == "__main__":
    main()
