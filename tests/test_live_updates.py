"""Live updates across processes: a block run elsewhere shows up in an open chat.

The chat runs in a real pseudo-terminal; the other process is a separate
``envloop run``.  On PostgreSQL the news travels by LISTEN/NOTIFY, on SQLite
by polling; the person sees the same thing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

ENVLOOP = str(Path(sys.executable).with_name("envloop"))
WAIT = 60.0
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[=>]|[@-Z\\-_])")


class Screen:
    """What the chat showed, searched in order: each wait looks after what the last one found."""

    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self.raw = ""
        self.position = 0

    @property
    def text(self) -> str:
        return _ESCAPES.sub("", self.raw)

    def wait_for(self, needle: str) -> None:
        deadline = time.monotonic() + WAIT
        while (found := self.text.find(needle, self.position)) < 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} did not appear:\n{self.text[-2000:]}")
            try:
                self.raw += self.child.read_nonblocking(65536, timeout=0.5)
            except pexpect.TIMEOUT:
                pass
        self.position = found + len(needle)

    def command(self, line: str) -> None:
        """Type ``line`` at the next prompt (keys typed before it is drawn can be lost)."""
        self.wait_for("envloop 1>")
        self.child.send(line)


@pytest.fixture
def chat_env(data_home: Path, tmp_path: Path, db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ENVLOOP_MODEL", "LC_ALL", "LC_CTYPE")}
    env.update({"XDG_DATA_HOME": str(data_home), "XDG_CONFIG_HOME": str(tmp_path / "config"), "LANG": "C.UTF-8",
                "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "ENVLOOP_DB": db_url})
    return env


def test_a_block_run_by_another_process_appears_in_the_open_chat(chat_env: dict[str, str], tmp_path: Path) -> None:
    def run(*args: str) -> None:
        done = subprocess.run([ENVLOOP, *args], env=chat_env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr

    run("run", "--new", "total = 1")
    child = pexpect.spawn(ENVLOOP, ["chat", "--conversation", "1"], env=chat_env, cwd=str(tmp_path),
                          dimensions=(40, 120), encoding="utf-8", codec_errors="replace", timeout=WAIT)
    screen = Screen(child)
    try:
        screen.command("!mine = 5\r")  # the chat's own block is not reported back as news
        screen.wait_for("mine v1 (new)")
        screen.wait_for("envloop 1>")
        run("run", "--conversation", "1", "total = total + 41\ntotal")
        screen.wait_for("Another process ran a block (by someone): total = total + 41")
        screen.wait_for("total v1 → v2")
        child.send("!total\r")  # the open chat's own namespace has the other process's value
        screen.wait_for("→ 42")
        screen.command("\x04")
        screen.wait_for("Bye.")
    finally:
        child.close(force=True)
    text = screen.text
    assert "Another process ran a block (by someone): mine" not in text
    assert "Traceback" not in text
