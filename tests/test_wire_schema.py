"""The host never fails on what a worker sends (issue 13): hostile frames kill and replace the worker.

Two layers: a property test drives random and hostile frames through the host's
parsing and schema check (everything is either accepted and turns into a result,
or refused as a protocol error: nothing else escapes), and real workers running
raw Python (the test-only debug hook, standing in for a policy escape) write
hostile frames to their pipe; the block reports a clear error, the worker is
replaced, and the next block answers.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envloop.sandbox import Sandbox, protocol, wire_schema
from envloop.sandbox.results import to_result

_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | st.floats() | st.text()
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
_names = st.sampled_from(["x", "__builtins__", "_getattr_", "", "a b", "class", "_x", "é", "x" * 400, "\ud800"])
_result = st.fixed_dictionaries({
    "op": st.just("result"), "ok": st.booleans() | _json, "stdout": st.text() | _json,
    "result": st.none() | st.text() | _json, "limit": st.sampled_from([None, "output", "memory", "x"]),
    "error": st.none() | st.fixed_dictionaries({"type": st.text() | _json, "message": st.text() | _json,
                                                "line": st.none() | st.integers(-(2**70), 2**70)}),
    "bound": st.lists(_names | _json, max_size=5), "read": st.lists(_names, max_size=5),
    "duration_ms": st.floats() | st.integers(), "changes": st.lists(
        st.fixed_dictionaries({"name": _names | _json, "kind": st.sampled_from(["value", "x"]) | _json,
                               "preview": st.text() | _json}), max_size=3),
})
_call = st.fixed_dictionaries({"op": st.just("call"), "id": _json, "fn": _names | _json, "args": _json,
                               "kwargs": _json})
_frames = _result | _call | st.dictionaries(st.text(max_size=6), _json, max_size=5) | st.fixed_dictionaries(
    {"op": st.sampled_from(["ready", "pong", "offer", "want", "chunk", "nope"]), "x": _json})


def _host_side(frame_bytes: bytes) -> None:
    """What the host does with one frame body: parse, check, build the result. Only protocol errors escape."""
    try:
        frame = protocol.FrameReader.decode(frame_bytes)
        wire_schema.check_frame(frame)
    except protocol.ProtocolError:
        return
    if frame["op"] == "result":
        result = to_result(frame, 65536)
        assert isinstance(result.stdout, str)
        assert all(wire_schema.check_name(n) for n in result.bound + result.deleted + result.read)


@settings(max_examples=400, deadline=None)
@given(_frames)
def test_random_and_hostile_frames_are_accepted_or_refused_never_crash_the_host(frame):
    _host_side(json.dumps(frame).encode("ascii"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_are_a_protocol_error(body):
    _host_side(body)


@pytest.mark.parametrize("body", [b"[" * 200_000 + b"]" * 200_000, b'{"op":"result","a":' + b"[" * 100 + b"]" * 100
                                  + b"}"])
def test_deep_nesting_is_refused_without_recursion(body):
    with pytest.raises(protocol.ProtocolError):
        frame = protocol.FrameReader.decode(body)
        wire_schema.check_frame(frame)


def test_versions_may_not_be_named_like_builtins_or_guards():
    for bad in ["__builtins__", "_getattr_", "class", "a.b", "", "x" * 301]:
        with pytest.raises(wire_schema.InvalidFrame):
            wire_schema.check_name(bad)
    assert wire_schema.check_name("_cache") == "_cache"


# -- real workers sending hostile frames ------------------------------------------------------

_RESULT = {"op": "result", "ok": True, "stdout": "", "result": None, "error": None, "limit": None,
           "bound": [], "deleted": [], "read": [], "duration_ms": 1.0}


def _bad(**change: object) -> bytes:
    frame = dict(_RESULT, **change)
    return protocol.encode(frame)


_HOSTILE = {
    "deep-json": b"\x00\x06\x1a\x80" + b"[" * 200_000 + b"]" * 200_000,
    "line-2**70": _bad(ok=False, error={"type": "E", "message": "m", "line": 2**70}),
    "dict-preview": _bad(result={"a": 1}),
    "non-str-stdout": _bad(stdout=["x"]),
    "version-named-builtins": _bad(bound=["__builtins__"]),
    "many-read-names": _bad(read=[f"n{i}" for i in range(300_000)]),
    "change-named-guard": _bad(changes=[{"name": "_getattr_", "kind": "value", "preview": "1"}]),
    "unknown-op": protocol.encode({"op": "surprise"}),
}


@pytest.fixture
def sandbox(tmp_path: Path):
    with Sandbox(tmp_path / "ws", timeout=3.0, _allow_debug_exec=True) as sb:
        yield sb


def _send_raw(sb: Sandbox, data: bytes, then: str = "while True:\n    pass"):
    return sb._debug_exec(textwrap.dedent(f"""
        import os, socket
        for fd in range(3, 64):
            try:
                socket.socket(fileno=fd).detach()
            except OSError:
                continue
            os.write(fd, {data!r}) if len({data!r}) < 60000 else socket.socket(fileno=fd).sendall({data!r})
            break
    """) + then, timeout=3.0)


@pytest.mark.parametrize("name", sorted(_HOSTILE))
def test_hostile_frame_replaces_the_worker_with_a_clear_error(sandbox: Sandbox, name: str):
    sandbox.run("kept = 1")
    result = _send_raw(sandbox, _HOSTILE[name])
    assert not result.ok and result.limit == "crash", result
    assert result.error["type"] == "WorkerCrashed" and "restarted" in result.error["message"]
    assert sandbox.restarts == 1
    after = sandbox.run("1 + 1")
    assert after.ok and after.result == "2", after  # a fresh answer, not a stale one


def test_worker_flooding_calls_without_reading_replies_meets_the_deadline(tmp_path: Path):
    calls = []
    with Sandbox(tmp_path / "ws", timeout=2.0, _allow_debug_exec=True,
                 on_call=lambda fn, a, k: calls.append(fn) or "x" * 60_000, host_functions=["f"]) as sb:
        frame = protocol.encode({"op": "call", "id": 1, "fn": "f", "args": [], "kwargs": {}})
        result = _send_raw(sb, b"", then=textwrap.dedent(f"""
            s = socket.socket(fileno=fd)
            while True:
                s.sendall({frame!r})
        """))
        assert not result.ok and result.limit == "timeout", result
        assert calls and sb.run("1 + 1").result == "2"


def test_a_run_time_trace_is_checked_and_bounded() -> None:
    """The trace (envloop.sandbox.tracing) becomes reads of versions: names only, no guard names, bounded."""
    base = {"op": "result", "ok": True, "stdout": "", "result": None, "limit": None, "error": None}
    good = dict(base, trace=[[], ["rate", "_cache"]])
    wire_schema.check_frame(good)
    assert to_result(good, 100).trace == ((), ("rate", "_cache"))
    assert to_result(dict(base), 100).trace is None  # an older worker, or a trace too large to send
    for bad in ([["_getattr_"]], [["__builtins__"]], [[1]], ["rate"], {"0": []},
                [[]] * (wire_schema.MAX_TRACE_STATEMENTS + 1), [["x"] * 60_000, ["y"] * 60_000]):
        with pytest.raises(wire_schema.InvalidFrame):
            wire_schema.check_frame(dict(base, trace=bad))
