"""litellm's own HTTP client against a local OpenAI-compatible server: streaming, usage, retries, failures, cancel.

The server (tests/openai_server.py) runs in this process on 127.0.0.1; envloop
runs as a user runs it, ``envloop ask --model openai/gpt-4o-mini`` in a new
process with ``ENVLOOP_API_BASE`` pointing at the server.  No network is used:
litellm's price table is the local copy (LITELLM_LOCAL_MODEL_COST_MAP).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ENVLOOP = str(Path(sys.executable).with_name("envloop"))
FENCE = "```"
KEY = "sk-test-0123456789abcdefSECRET"
MODEL = "openai/gpt-4o-mini"
WAIT = 120.0

_spec = importlib.util.spec_from_file_location("openai_server", Path(__file__).with_name("openai_server.py"))
assert _spec is not None and _spec.loader is not None
openai_server = importlib.util.module_from_spec(_spec)
sys.modules["openai_server"] = openai_server
_spec.loader.exec_module(openai_server)
Reply = openai_server.Reply

FIRST = (f"First two helpers, then the call.\n{FENCE}python\ndef g(n):\n    return 1 / n\n\n"
         f"def h(n):\n    return g(n) + 1\n\nprint('start')\nh(0)\n{FENCE}\n")
SECOND = f"g divides by n, so call h with 1.\n{FENCE}python\nanswer(h(1))\n{FENCE}\n"


@pytest.fixture
def server() -> Iterator[object]:
    srv = openai_server.OpenAIServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def env(server, data_home: Path) -> dict[str, str]:
    return {**os.environ, "ENVLOOP_API_BASE": server.base_url, "OPENAI_API_KEY": KEY,
            "ENVLOOP_MODEL": MODEL, "XDG_DATA_HOME": str(data_home)}


def envloop(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ENVLOOP, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=WAIT)


def read_until(proc: subprocess.Popen[str], needle: str) -> str:
    """stderr of ``proc`` up to and including the line that holds ``needle``."""
    seen = ""
    deadline = time.monotonic() + WAIT
    while needle not in seen:
        line = proc.stderr.readline() if proc.stderr else ""
        if not line or time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} never appeared on stderr:\n{seen}")
        seen += line
    return seen


def prices() -> dict[str, float]:
    spec = importlib.util.find_spec("litellm")
    assert spec is not None and spec.origin is not None
    table = json.loads(Path(spec.origin).with_name("model_prices_and_context_window_backup.json").read_text())
    return table["gpt-4o-mini"]


def test_ask_streams_a_two_iteration_turn_that_sees_its_code_and_traceback(server, env, tmp_path: Path) -> None:
    first, _ = server.script(Reply(FIRST, hold_after=8), SECOND)
    proc = subprocess.Popen([ENVLOOP, "ask", "--new", "What is h(0)?"], env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        shown = read_until(proc, "def g(n):")  # the code is on screen while the reply is still being written
        assert "print('start')" not in shown
        first.release()
        out, err = proc.communicate(timeout=WAIT)
    finally:
        first.release()
        proc.kill()
    assert proc.returncode == 0, err
    assert out.strip() == "2.0"
    assert "│ start" in err and "ZeroDivisionError: division by zero" in err
    assert "  h, line 5: return g(n) + 1\n  g, line 2: return 1 / n\nZeroDivisionError" in err  # the traceback too
    assert [r.body["stream"] for r in server.requests] == [True, True]
    second = server.requests[1].user_message
    assert "1 | def g(n):\n2 |     return 1 / n" in second and "8 | h(0)" in second and "  block, line 8: h(0)" in second
    assert "  h, line 5: return g(n) + 1\n  g, line 2: return 1 / n" in second


def test_tokens_and_cost_come_from_the_stream_and_the_key_is_never_stored(server, env, tmp_path: Path,
                                                                          data_home: Path) -> None:
    server.script("The answer is 42.")
    done = envloop(env, "ask", "--new", "--json", "What is six times seven?", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    usage = {"in": sum(len(m["content"]) // 4 for m in server.requests[0].body["messages"]),
             "out": len("The answer is 42.") // 4}
    assert result["answer"] == "The answer is 42." and result["tokens"] == usage
    price = prices()
    expected = usage["in"] * price["input_cost_per_token"] + usage["out"] * price["output_cost_per_token"]
    assert result["cost"] == pytest.approx(expected)
    assert server.requests[0].headers["Authorization"] == f"Bearer {KEY}"  # the key did reach the provider
    for path in data_home.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in done.stdout + done.stderr


def test_a_rate_limit_is_retried_after_the_servers_retry_after(server, env, tmp_path: Path) -> None:
    server.script(Reply(status=429, retry_after=1, text="slow down"), "Forty-two.")
    done = envloop(env, "ask", "--new", "--json", "Answer?", cwd=tmp_path)
    assert json.loads(done.stdout)["answer"] == "Forty-two.", done.stderr
    assert len(server.requests) == 2


def test_a_server_error_is_one_clear_line(server, env, tmp_path: Path) -> None:
    server.script(Reply(status=500, text="the model crashed"))
    done = envloop(env, "ask", "--new", "Answer?", cwd=tmp_path)
    assert done.returncode == 1
    assert "provider failed" in done.stderr and "the model crashed" in done.stderr
    assert "Traceback" not in done.stderr and KEY not in done.stderr


def test_a_stalled_stream_reports_what_arrived(server, env, tmp_path: Path) -> None:
    server.script(Reply("Let me think about this one slowly and carefully.", stall_after=3))
    done = envloop({**env, "ENVLOOP_MODEL_TIMEOUT": "2"}, "ask", "--new", "Think", cwd=tmp_path)
    assert done.returncode == 1
    assert "broke off after 28 characters" in done.stderr  # the provider's read timeout, or envloop's watchdog
    assert "timed out" in done.stderr or "stopped sending" in done.stderr
    assert "Let me think about" in done.stderr  # what arrived was shown as it came
    shown = json.loads(envloop(env, "inspect", "--json", cwd=tmp_path).stdout)
    assert shown["reply"] == "Let me think about this one "


def test_a_malformed_stream_fails_cleanly(server, env, tmp_path: Path) -> None:
    server.script(Reply("one two three four", malformed=True))
    done = envloop(env, "ask", "--new", "--json", "Hi", cwd=tmp_path)
    result = json.loads(done.stdout)
    assert done.returncode == 1 and result["status"] == "error" and result["error"]
    assert "Traceback" not in done.stderr


def test_llm_query_uses_the_non_streaming_call(server, env, tmp_path: Path) -> None:
    server.script(f"{FENCE}python\nanswer(llm_query('Say hi').upper())\n{FENCE}", "hi there",
                  f"{FENCE}python\nllm_query('again')\n{FENCE}", Reply("x", malformed=True), "It failed.")
    done = envloop(env, "ask", "--new", "--json", "Greet", cwd=tmp_path)
    assert json.loads(done.stdout)["answer"] == "HI THERE", done.stderr
    assert [r.body.get("stream", False) for r in server.requests] == [True, False]
    done = envloop(env, "ask", "--continue", "--json", "Again", cwd=tmp_path)
    assert json.loads(done.stdout)["answer"] == "It failed."
    assert "error:" in server.requests[-1].user_message  # the malformed body became the block's error


def test_ctrl_c_stops_a_stream_mid_reply(server, env, tmp_path: Path) -> None:
    (reply,) = server.script(Reply("Counting: one two three four five six seven eight nine ten", hold_after=3))
    proc = subprocess.Popen([ENVLOOP, "ask", "--new", "--json", "Count"], env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(proc, "iteration 1/8")
        deadline = time.monotonic() + WAIT
        while not any(r.body.get("stream") for r in server.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=WAIT)
    finally:
        reply.release()
        proc.kill()
    assert proc.returncode == 130 and json.loads(out)["status"] == "cancelled"


_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[=>]|[@-Z\\-_])")


def _chat(env: dict[str, str], tmp_path: Path) -> Any:
    import pexpect

    chat_env = {**env, "XDG_CONFIG_HOME": str(tmp_path / "config"), "LANG": "C.UTF-8", "TERM": "xterm",
                "PROMPT_TOOLKIT_NO_CPR": "1"}
    return pexpect.spawn(ENVLOOP, ["chat"], env=chat_env, cwd=str(tmp_path), dimensions=(40, 100),
                         encoding="utf-8", codec_errors="replace", timeout=WAIT)


@pytest.mark.parametrize("interrupt", [False, True])
def test_the_chat_shows_the_reply_while_it_streams(server, env, tmp_path: Path, interrupt: bool) -> None:
    import pexpect

    words = "Thinking aloud: alpha beta gamma delta epsilon zeta eta theta iota kappa."
    (reply,) = server.script(Reply(words, hold_after=3))
    child = _chat(env, tmp_path)
    screen = ""

    def wait_for(needle: str) -> None:
        nonlocal screen
        deadline = time.monotonic() + WAIT
        while needle not in _ESCAPES.sub("", screen):
            assert time.monotonic() < deadline and child.isalive(), _ESCAPES.sub("", screen)[-2000:]
            try:
                screen += child.read_nonblocking(65536, timeout=0.5)
            except pexpect.TIMEOUT:
                pass

    try:
        wait_for("envloop new>")
        child.send("Think aloud, please\r")
        wait_for("gamma delta")  # on screen while the server holds back the rest of the reply
        assert "kappa" not in _ESCAPES.sub("", screen)
        if interrupt:  # Ctrl-C mid-reply: the turn stops at once, the server still holding the rest
            child.send("\x03")
            wait_for("Turn cancelled")
        else:
            reply.release()
            wait_for("kappa.")
        wait_for("envloop 1>")
        child.send("\x04")
        child.expect(pexpect.EOF)
    finally:
        reply.release()
        child.terminate(force=True)
    assert "Traceback" not in _ESCAPES.sub("", screen)
