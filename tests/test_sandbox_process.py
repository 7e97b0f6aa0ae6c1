"""The sandbox through its process boundary: REPL semantics, isolation, lifecycle."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from envloop.errors import SandboxError
from envloop.sandbox import RunResult, Sandbox, host, protocol, template
from envloop.sandbox.modules import ALLOWED_MODULES

CANARY = "canary-7f3a9c1e-do-not-leak"


@pytest.fixture
def sandbox(tmp_path: Path):
    with Sandbox(tmp_path / "ws", timeout=5.0, _allow_debug_exec=True) as sb:
        yield sb


def _alive(pid: int) -> bool:
    """True while ``pid`` is a running (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _wait_gone(pids: list[int], bound: float = 5.0) -> list[int]:
    """Poll until every pid is gone; return those still alive after ``bound`` s."""
    end = time.monotonic() + bound
    while time.monotonic() < end:
        left = [pid for pid in pids if _alive(pid)]
        if not left:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if _alive(pid)]


# -- REPL semantics -----------------------------------------------------------


def test_state_persists_between_blocks(sandbox: Sandbox) -> None:
    first = sandbox.run("x = 1")
    assert first.ok and first.bound == ("x",)
    second = sandbox.run("x + 1")
    assert second.ok and second.result == "2" and second.read == ("x",)


def test_functions_and_classes_outlive_their_block(sandbox: Sandbox) -> None:
    defined = sandbox.run(textwrap.dedent("""
        def area(w, h):
            return w * h

        class Counter:
            def __init__(self):
                self.n = 0
            def bump(self):
                self.n += 1
                return self.n
    """))
    assert defined.ok, defined.error
    used = sandbox.run("c = Counter()\nc.bump()\nprint(area(3, 4), c.bump())")
    assert used.ok, used.error
    assert used.stdout == "12 2\n"


def test_error_is_reported_and_the_namespace_survives(sandbox: Sandbox) -> None:
    sandbox.run("kept = 'yes'")
    failed = sandbox.run("a = 1\n1 / 0")
    assert not failed.ok and failed.limit is None
    assert failed.error["type"] == "ZeroDivisionError" and failed.error["line"] == 2
    assert sandbox.run("kept").result == "'yes'"


def test_result_is_plain_frozen_data(sandbox: Sandbox) -> None:
    result = sandbox.run("print('hi')\n[1, 2]")
    assert isinstance(result, RunResult)
    assert result.stdout == "hi\n" and result.result == "[1, 2]" and result.duration_ms >= 0
    with pytest.raises(AttributeError):
        result.ok = False  # type: ignore[misc]


def test_conversations_do_not_share_namespaces(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "a") as one, Sandbox(tmp_path / "b") as two:
        one.run("secret = 41")
        assert two.run("secret").error["type"] == "NameError"
        assert one.pid != two.pid


def test_every_allowed_module_imports_inside_the_worker(sandbox: Sandbox) -> None:
    # The worker may open no file, so anything not imported in the template would fail here.
    for name in sorted(ALLOWED_MODULES):
        source = f"import {name}" if not name.startswith("_") else f"from {name} import annotations"
        result = sandbox.run(source)
        assert result.ok, (name, result.error)
    dates = sandbox.run("import datetime\n"
                        "datetime.datetime.strptime('2024-05-01', '%Y-%m-%d').strftime('%d %B %Y')")
    assert dates.result == "'01 May 2024'", dates.error


def test_working_directory_is_the_workspace(sandbox: Sandbox, tmp_path: Path) -> None:
    result = sandbox._debug_exec("import os; print(os.getcwd())")
    assert result.stdout.strip() == str((tmp_path / "ws").resolve())


# -- host functions, interrupt, restart hook ------------------------------------


def test_extension_calls_go_to_the_host(tmp_path: Path) -> None:
    seen = []

    def on_call(fn: str, args: list, kwargs: dict) -> object:
        seen.append((fn, args, kwargs))
        if fn == "double":
            return args[0] * 2
        raise ValueError("refused by the host")

    with Sandbox(tmp_path, on_call=on_call, host_functions=["double", "refuse"]) as sb:
        assert sb.run("double(21)").result == "42"
        caught = sb.run("try:\n    refuse(x=1)\nexcept ValueError as e:\n    print('caught:', e)")
        assert caught.stdout == "caught: refused by the host\n"
    assert seen == [("double", [21], {}), ("refuse", [], {"x": 1})]


def _run_in_thread(sb: Sandbox, source: str) -> tuple[threading.Thread, list[RunResult]]:
    out: list[RunResult] = []
    thread = threading.Thread(target=lambda: out.append(sb.run(source, timeout=60)))
    thread.start()
    return thread, out


def _interrupt_until_done(sb: Sandbox, thread: threading.Thread) -> None:
    while thread.is_alive():
        sb.interrupt()
        thread.join(0.2)


def test_interrupt_stops_a_block_and_keeps_the_namespace(sandbox: Sandbox) -> None:
    sandbox.run("kept = 1")
    thread, out = _run_in_thread(sandbox, "while True:\n    pass")
    _interrupt_until_done(sandbox, thread)
    assert out[0].error["type"] == "KeyboardInterrupt" and out[0].limit is None
    assert sandbox.restarts == 0 and sandbox.run("kept").result == "1"


def test_interrupt_kills_a_block_that_swallows_it(tmp_path: Path) -> None:
    inside = threading.Event()  # the block tells the host once it is inside its try, so no interrupt lands early
    source = ("while True:\n    try:\n        inside()\n        while True:\n            pass\n"
              "    except BaseException:\n        pass")
    with Sandbox(tmp_path, on_call=lambda fn, args, kwargs: inside.set(), host_functions=["inside"]) as sandbox:
        thread, out = _run_in_thread(sandbox, source)
        assert inside.wait(60)
        _interrupt_until_done(sandbox, thread)
        assert out[0].limit == "timeout" and sandbox.restarts == 1
        assert sandbox.run("1 + 1").result == "2"


def test_on_restart_runs_after_a_crash(tmp_path: Path) -> None:
    restarted: list[int] = []
    with Sandbox(tmp_path, _allow_debug_exec=True,
                 on_restart=lambda sb: restarted.append(sb.pid)) as sb:
        old = sb.pid
        crashed = sb._debug_exec("import os; os._exit(3)")
        assert crashed.limit == "crash" and "status 3" in crashed.error["message"]
        assert restarted == [sb.pid] and sb.pid != old and sb.restarts == 1
        assert sb.run("1 + 1").result == "2"


# -- configuration and lifecycle --------------------------------------------------


def test_timeout_default_comes_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ENVLOOP_TIMEOUT", "7.5")
    with Sandbox(tmp_path) as sb:
        assert sb.timeout == 7.5
    monkeypatch.setenv("ENVLOOP_TIMEOUT", "soon")
    with pytest.raises(SandboxError, match="ENVLOOP_TIMEOUT"):
        Sandbox(tmp_path)


def test_debug_exec_is_refused_unless_enabled(tmp_path: Path) -> None:
    with Sandbox(tmp_path) as sb:
        refused = sb._debug_exec("print('unrestricted')")
    assert not refused.ok and refused.error["type"] == "PermissionError"
    assert "unrestricted" not in refused.stdout


def test_closed_sandbox_refuses_and_its_worker_is_gone(tmp_path: Path) -> None:
    sb = Sandbox(tmp_path)
    pid = sb.pid
    sb.close()
    sb.close()
    with pytest.raises(SandboxError):
        sb.run("1")
    assert _wait_gone([pid]) == []


def test_missing_seccomp_is_reported_once(sandbox: Sandbox, monkeypatch, caplog) -> None:
    monkeypatch.setattr(host, "_seccomp_warned", False)
    worker = sandbox._worker
    with caplog.at_level(logging.WARNING, logger="envloop.sandbox"):
        for _ in range(3):
            sandbox._note_ready(worker, {"op": "ready", "seccomp": False, "seccomp_error": "no kernel"})
    assert [r.getMessage().count("seccomp is unavailable") for r in caplog.records] == [1]


# -- the canary secret ----------------------------------------------------------------

_RAW_PROBES = """
import ctypes, json, os
leaked, failed = [], []
def probe(label, read):
    try:
        data = read()
    except Exception as exc:
        failed.append(label)
        data = repr(exc)
    if CANARY.encode() in (data if isinstance(data, bytes) else str(data).encode()):
        leaked.append(label)
probe("os.environ", lambda: dict(os.environ))
probe("getenv", lambda: os.getenv("ENVLOOP_TEST_CANARY"))
def c_environ():
    env = ctypes.POINTER(ctypes.c_char_p).in_dll(ctypes.CDLL(None), "environ")
    out, i = [], 0
    while env[i]:
        out.append(env[i]); i += 1
    return b"\\n".join(out)
probe("C environ", c_environ)
for pid in ("self", os.getppid(), HOST, TEMPLATE):
    probe(f"/proc/{pid}/environ", lambda: open(f"/proc/{pid}/environ", "rb").read())
print(json.dumps({"leaked": leaked, "failed": failed}))
"""


def test_canary_secret_is_unreachable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ENVLOOP_TEST_CANARY", CANARY)
    template.shared_template().close()  # the next template starts while the canary is set
    with Sandbox(tmp_path, _allow_debug_exec=True) as sb:
        routes = ["import os\nos.environ", "__import__('os').environ",
                  "open('/proc/self/environ').read()", "globals()", "dir()",
                  "import json\njson.__dict__", "import sys"]
        for source in routes:
            result = sb.run(source)
            assert CANARY not in f"{result.stdout}{result.result}{result.error}"
        tpid = template.shared_template().pid
        probes = f"CANARY = {CANARY!r}\nHOST = {os.getpid()}\nTEMPLATE = {tpid}\n{_RAW_PROBES}"
        raw = sb._debug_exec(probes)
        assert raw.ok, raw.error
        report = json.loads(raw.stdout)
        assert report["leaked"] == []
        if sb.seccomp:  # without the filter a same-user process may read /proc/<host>/environ
            assert f"/proc/{os.getpid()}/environ" in report["failed"]


# -- a worker never outlives its host ----------------------------------------------

_HOST_SCRIPT = """
import json, os, sys, threading, time
from envloop.sandbox import Sandbox, template
sb = Sandbox(sys.argv[1], timeout=600)
threading.Thread(target=sb.run, args=("while True:\\n    pass",), daemon=True).start()
time.sleep(0.3)
tpid = template.shared_template().pid
def parent(pid):
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None
kids = [int(p) for p in os.listdir("/proc") if p.isdigit() and parent(p) == tpid]
print(json.dumps({"worker": sb.pid, "template": tpid, "children": kids}), flush=True)
time.sleep(600)
"""


def test_workers_die_with_their_host(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _HOST_SCRIPT, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    pids = [info["worker"], info["template"], *info["children"]]
    assert info["worker"] in info["children"]
    assert _wait_gone(pids) == []


# -- the wire protocol ---------------------------------------------------------------


def test_frames_round_trip_and_oversized_frames_are_refused() -> None:
    import socket

    a, b = socket.socketpair()
    with a, b:
        message = {"op": "result", "stdout": "caf\u00e9 \ud800 \U0001f600", "n": [1, 2.5, None]}
        protocol.send_frame(a, message)
        protocol.send_frame(a, {"op": "ping"})
        reader = protocol.FrameReader(b, max_frame=1000)
        assert reader.read(time.monotonic() + 5) == message
        assert reader.read(time.monotonic() + 5) == {"op": "ping"}
        with pytest.raises(protocol.ReadTimeout):
            reader.read(time.monotonic() + 0.01)
        protocol.send_frame(a, {"op": "result", "stdout": "x" * 2000})
        with pytest.raises(protocol.FrameTooLarge):
            reader.read(time.monotonic() + 5)


def test_a_big_frame_cut_by_a_timeout_is_read_whole_afterwards() -> None:
    import socket
    import struct
    import threading

    a, b = socket.socketpair()
    with a, b:
        data = os.urandom(3 << 20)
        frame = struct.pack(">I", len(data) + 1) + b"\x00" + data + protocol.encode({"op": "after", "s": "y" * 100_000})
        reader = protocol.FrameReader(b, max_frame=64 << 20)
        a.sendall(frame[:100_000])
        with pytest.raises(protocol.ReadTimeout):
            reader.read(time.monotonic() + 0.05)
        sender = threading.Thread(target=a.sendall, args=(frame[100_000:],))
        sender.start()
        got = reader.read(time.monotonic() + 10)
        assert got["op"] == "chunk" and type(got["data"]) is bytes and got["data"] == data
        assert reader.read(time.monotonic() + 10) == {"op": "after", "s": "y" * 100_000}
        sender.join()
        a.sendall(struct.pack(">I", 500_000) + b"\x00" + b"z" * 1000)
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(protocol.PeerClosed):
            reader.read(time.monotonic() + 5)


def test_a_dead_template_is_replaced(tmp_path: Path) -> None:
    with Sandbox(tmp_path) as sb:
        sb.run("x = 1")
        old_template = template.shared_template().pid
        os.kill(old_template, signal.SIGKILL)
        assert _wait_gone([old_template]) == []
        crashed = sb.run("x")  # its worker died with it
        assert crashed.limit == "crash" and sb.restarts == 1
        assert sb.run("1 + 1").result == "2"
        assert template.shared_template().pid != old_template


def test_conversations_on_many_threads_at_once(tmp_path: Path) -> None:
    errors: list[object] = []

    def conversation(n: int) -> None:
        with Sandbox(tmp_path / str(n)) as sb:
            sb.run(f"total = {n}")
            for _ in range(20):
                sb.run("total += 1")
            result = sb.run("total")
            if result.result != str(n + 20):
                errors.append((n, result))

    threads = [threading.Thread(target=conversation, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_the_template_fills_the_allocators_free_slots_before_forking() -> None:
    """A worker's new objects would go into the holes of the template's pools, each first write copying a
    whole shared page; the template fills them first (see template._fill_pools). Checked in a fresh
    interpreter against the allocator's own statistics, so a change in their format cannot turn it off
    silently."""
    probe = textwrap.dedent("""
        import gc
        from envloop.sandbox import template
        template._preload()
        gc.collect()
        before = sum(template.free_slots().values())
        ballast = template._fill_pools()
        print(before, sum(template.free_slots().values()), len(ballast))
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    before, after, count = map(int, done.stdout.split())
    assert before > 500 and count > before // 2
    assert after < before / 2  # what is left are holes the fill and this count made themselves


def test_the_blocks_the_template_rehearses_run_and_store_under_the_policy() -> None:
    """A rehearsal block the policy refused would warm nothing, silently (see worker.rehearse)."""
    from envloop.sandbox import worker
    from envloop.sandbox.interpreter import Interpreter
    from envloop.sandbox.snapshot import Snapshotter

    interp = Interpreter()
    snapshot = Snapshotter(interp)
    stored = set()
    for source in worker.REHEARSAL_BLOCKS:
        result = interp.run(source)
        assert result["ok"], (source, result["error"])
        stored.update(change["name"] for change in snapshot.collect(source, result))
    assert {"nums", "scale", "freq", "Point", "p"} <= stored


def test_the_template_rehearses_through_a_workers_runner_and_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rehearsal block answers ok over the socket pair (an error there is swallowed: it would warm
    nothing, silently) and the pair is closed again: the template keeps no descriptor."""
    from envloop.sandbox import worker

    replies: list[dict[str, object]] = []
    real = worker._send_reply
    monkeypatch.setattr(worker, "_send_reply", lambda sock, reply: (replies.append(reply), real(sock, reply)))
    before = sorted(os.listdir("/proc/self/fd"))
    worker._rehearse_blocks()
    assert sorted(os.listdir("/proc/self/fd")) == before
    assert len(replies) == worker.REHEARSAL_ROUNDS * len(worker.REHEARSAL_BLOCKS)
    assert all(reply["ok"] for reply in replies), [r["error"] for r in replies if not r["ok"]]
    assert {c["name"] for c in replies[0]["changes"]} == {"nums", "total"}  # type: ignore[union-attr]


_REDEFINED = textwrap.dedent("""
    class P:
        def __init__(self, v):
            self._v = v
        def get(self):
            return super().__repr__() and self._v
    p = P({i}).get()
""")


def test_a_class_redefined_again_and_again_is_let_go_and_an_old_instance_keeps_working(tmp_path: Path) -> None:
    """Every class a block made stayed in the worker for good (~9 KB each): a class redefined 1,500
    times grew a worker from 7.6 to 20.3 MiB. Classes nothing refers to now go; one an old instance
    still uses stays, with that instance working as before."""
    with Sandbox(tmp_path / "ws", timeout=30.0, _allow_debug_exec=True) as sb:
        assert sb.run("class P:\n    def __init__(self, v):\n        self._v = v\nold = P(7)").ok
        for i in range(200):
            out = sb.run(_REDEFINED.format(i=i))
            assert out.ok, out.error
        alive = sb._debug_exec("import gc\nprint(sum(1 for o in gc.get_objects() if isinstance(o, type) "
                               "and o.__name__ == 'P'))")
        assert alive.ok, alive.error
        assert int(alive.stdout) < 80  # the first P (old's class), the current one, those since the last release
        used = sb.run("old._v += 1\nold._v, type(old) is P, p")
        assert used.ok and used.result == "(8, False, 199)", (used.error, used.result)


def test_classes_are_let_go_unless_freeing_them_could_run_code() -> None:
    """Freed between blocks, a class holding a suspended generator would run conversation code (its
    ``finally``) while it is out of the guards' sets: such a class is kept; the others go. (``__del__``
    is refused by the policy.)"""
    from envloop.sandbox.interpreter import Interpreter
    from envloop.sandbox.snapshot import Snapshotter

    interp = Interpreter()
    snapshot = Snapshotter(interp)
    for i in range(40):
        for source in (f"def gen():\n    try:\n        yield 1\n    finally:\n        print('done')\n"
                       f"class D:\n    g = gen()\nnext(D.g)\nd = {i}", f"class E:\n    pass\ne = {i}"):
            result = interp.run(source)
            assert result["ok"], result["error"]
            snapshot.collect(source, result)
    assert snapshot.release_classes() == 39  # every E but the one named E
    assert sorted(cls.__name__ for cls in interp.own_classes).count("D") == 40
    assert [cls for cls in interp.own_classes if cls.__name__ == "E"] == [interp.namespace["E"]]
