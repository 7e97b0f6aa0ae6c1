"""Every limit a block can hit, and the host answering normally right after each."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from envloop.sandbox import RunResult, Sandbox


@pytest.fixture
def sandbox(tmp_path: Path):
    with Sandbox(tmp_path / "ws", timeout=1.0, _allow_debug_exec=True) as sb:
        yield sb


def _still_answers(sb: Sandbox) -> None:
    after = sb.run("1 + 1")
    assert after.ok and after.result == "2", after


def _assert_replaced(sb: Sandbox, result: RunResult, limit: str, restarts: int = 1) -> None:
    assert not result.ok and result.limit == limit, result
    assert "restarted" in result.error["message"]
    assert sb.restarts == restarts
    _still_answers(sb)


@pytest.mark.parametrize("source", [
    "while True:\n    pass",
    "sum(range(10**12))",
    textwrap.dedent("""
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
    """),
], ids=["infinite-loop", "long-C-call", "catches-BaseException"])
def test_wall_clock_deadline_kills_the_worker(sandbox: Sandbox, source: str) -> None:
    result = sandbox.run(source)
    _assert_replaced(sandbox, result, "timeout")
    assert result.error["type"] == "TimeoutError"


def test_per_call_timeout_overrides_the_default(sandbox: Sandbox) -> None:
    result = sandbox.run("while True:\n    pass", timeout=0.2)
    _assert_replaced(sandbox, result, "timeout")
    assert "0.2 s" in result.error["message"]


def test_huge_string_is_a_memory_limit_and_the_namespace_survives(sandbox: Sandbox) -> None:
    sandbox.run("kept = 1")
    result = sandbox.run("'a' * 10**10")
    assert not result.ok and result.limit == "memory" and result.error["type"] == "MemoryError"
    assert sandbox.restarts == 0 and sandbox.run("kept").result == "1"


def test_address_space_limit_applies_to_raw_allocations(tmp_path: Path) -> None:
    with Sandbox(tmp_path, memory_bytes=256 << 20, _allow_debug_exec=True) as sb:
        result = sb._debug_exec("block = bytearray(512 << 20)")
        assert result.limit == "memory" and result.error["type"] == "MemoryError"
        _still_answers(sb)


def test_deep_recursion_is_an_error_not_a_crash(sandbox: Sandbox) -> None:
    result = sandbox.run("def down(n):\n    return down(n + 1)\ndown(0)")
    assert not result.ok and result.error["type"] == "RecursionError"
    assert sandbox.restarts == 0
    _still_answers(sandbox)


def test_a_million_nested_generator_expressions(sandbox: Sandbox) -> None:
    depth = 10**6
    source = "g = " + "(x for x in " * depth + "[1]" + ")" * depth
    result = sandbox.run(source)
    assert not result.ok and result.error["type"] in ("SyntaxError", "RecursionError", "MemoryError")
    _still_answers(sandbox)


@pytest.mark.parametrize("source", [
    "while True:\n    print('x' * 1000)",
    "for i in range(10**6):\n    print(i)",
], ids=["endless", "many-lines"])
def test_output_flood_is_capped(tmp_path: Path, source: str) -> None:
    with Sandbox(tmp_path, timeout=5.0, output_cap=4096) as sb:
        result = sb.run(source)
        assert result.limit == "output" and len(result.stdout) < 4096 + 100
        _still_answers(sb)


def test_system_exit_is_reported_and_the_worker_stays(sandbox: Sandbox) -> None:
    result = sandbox.run("raise SystemExit(3)")
    assert not result.ok and result.error["type"] == "SystemExit" and sandbox.restarts == 0
    _still_answers(sandbox)


def test_os_exit_is_a_crash(sandbox: Sandbox) -> None:
    result = sandbox._debug_exec("import os\nos._exit(0)")
    _assert_replaced(sandbox, result, "crash")


def test_segfault_is_a_crash(sandbox: Sandbox) -> None:
    result = sandbox._debug_exec("import ctypes\nctypes.string_at(0)")
    _assert_replaced(sandbox, result, "crash")
    assert "SIGSEGV" in result.error["message"]


# Raw code in the worker writes to its socket to the host: a frame header announcing
# 2 GiB (refused at the header, before any of it is read), or a frame of garbage.
_RAW_FRAMES = {
    "output": 'struct.pack(">I", 2**31) + b"x" * 4096',
    "crash": 'b"\\x00\\x00\\x00\\x03{]!"',
}


@pytest.mark.parametrize("limit", ["output", "crash"], ids=["flood-stopped-at-header", "garbage"])
def test_worker_breaking_the_protocol_is_replaced(sandbox: Sandbox, limit: str) -> None:
    result = sandbox._debug_exec(textwrap.dedent(f"""
        import os, socket, struct
        for fd in range(3, 64):
            try:
                socket.socket(fileno=fd).detach()  # a socket (fstat is refused once ready)
                os.write(fd, {_RAW_FRAMES[limit]})
            except OSError:
                pass
        while True:
            pass
    """))
    _assert_replaced(sandbox, result, limit)


def test_limits_one_after_another_keep_the_host_responsive(sandbox: Sandbox) -> None:
    sandbox.run("while True:\n    pass")
    sandbox._debug_exec("import ctypes\nctypes.string_at(0)")
    sandbox.run("'a' * 10**10")
    sandbox.run("raise SystemExit")
    assert sandbox.restarts == 2
    _still_answers(sandbox)
