"""A turn or run queued behind another process's turn says so at once, can be cancelled, and gives up at the limit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ENVLOOP = str(Path(sys.executable).with_name("envloop"))
WAIT = 120.0


def replay(tmp_path: Path, name: str, *replies: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(list(replies)))
    return f"replay:{path}"


def start(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([ENVLOOP, *args], cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def read_until(proc: subprocess.Popen[str], needle: str) -> str:
    seen = ""
    deadline = time.monotonic() + WAIT
    while needle not in seen:
        line = proc.stderr.readline() if proc.stderr else ""
        if not line or time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} never appeared on stderr:\n{seen}")
        seen += line
    return seen


def test_a_queued_turn_says_who_holds_the_conversation_and_can_be_cancelled(tmp_path: Path, data_home: Path,
                                                                          run_cli) -> None:
    holder = start(tmp_path, "ask", "--new", "--model",
                   replay(tmp_path, "slow.json", {"reply": "Done.", "delay": 90}), "Take your time")
    try:
        read_until(holder, "iteration 1/8")  # the holder is inside its turn, waiting for its model
        queued = start(tmp_path, "ask", "--continue", "--model", replay(tmp_path, "b.json", "Hi."), "Me too")
        said = read_until(queued, "Ctrl-C cancels")
        assert f"conversation 1 is busy: a turn from the cli (pid {holder.pid})" in said
        assert "running since" in said and "waiting up to 600 s" in said
        queued.send_signal(signal.SIGINT)
        _, err = queued.communicate(timeout=WAIT)
        assert queued.returncode == 130 and "cancelled while waiting for conversation 1" in err

        limited = run_cli("run", "1 + 1", env={"ENVLOOP_LOCK_WAIT": "1"})
        assert limited.returncode == 1
        assert "conversation 1 is busy: a turn from the cli" in limited.stderr
        assert "gave up after 1 s (set ENVLOOP_LOCK_WAIT to wait longer)" in limited.stderr
    finally:
        holder.send_signal(signal.SIGINT)
        holder.communicate(timeout=WAIT)
    after = run_cli("run", "--json", "1 + 1")
    assert json.loads(after.stdout)["result"] == "2" and "busy" not in after.stderr
    turns = json.loads(run_cli("conversations", "--json").stdout)[0]["turns"]
    assert turns == 2  # the cancelled turn and the direct run; the queued and refused ones left nothing


def test_a_direct_run_waiting_for_the_conversation_stops_on_interrupt(tmp_path: Path, data_home: Path) -> None:
    """The chat's Ctrl-C calls interrupt(): it must also end a `!` run's wait for another process's turn."""
    import threading

    from envloop.conversation import Envloop
    from envloop.waiting import WaitCancelled

    holder = start(tmp_path, "ask", "--new", "--model",
                   replay(tmp_path, "slow.json", {"reply": "Done.", "delay": 90}), "Take your time")
    try:
        read_until(holder, "iteration 1/8")
        app = Envloop.open(None)
        told = threading.Event()
        app.on_wait = lambda info: told.set()
        outcome: list[BaseException | object] = []

        def run() -> None:
            try:
                outcome.append(app.run_code("1 + 1", conversation_id=1))
            except BaseException as exc:  # what the run ended with is the assertion
                outcome.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        assert told.wait(WAIT), "the run never said it was waiting"
        assert app.interrupt(1)
        worker.join(WAIT)
        assert not worker.is_alive() and isinstance(outcome[0], WaitCancelled)
        app.close()
    finally:
        holder.send_signal(signal.SIGINT)
        holder.communicate(timeout=WAIT)
