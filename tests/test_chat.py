"""The terminal chat, driven in a real pseudo-terminal (pexpect) with replay models; and ``envloop demo``.

The screen is read as a stream with the terminal's escape sequences removed,
and each check waits (generously: these machines are slow and shared) for a
piece of text to appear after the previous one. Nothing asserts on speed.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

ENVLOOP = str(Path(sys.executable).with_name("envloop"))
FENCE = "```"
WAIT = float(os.environ.get("CHAT_TEST_WAIT", "120"))  # seconds any one piece of text may take to appear
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[=>]|[@-Z\\-_])")

ESC_ENTER = "\x1b\r"
CTRL_C, CTRL_D = "\x03", "\x04"


def code(source: str, prose: str = "Let me compute that.") -> str:
    return f"{prose}\n{FENCE}python\n{source}\n{FENCE}\n"


def replay(tmp_path: Path, *replies: object) -> str:
    path = tmp_path / "replay.json"
    path.write_text(json.dumps(list(replies)))
    return f"replay:{path}"


class Screen:
    """A running ``envloop chat`` in a pseudo-terminal, read as text without escape sequences."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, columns: int = 120) -> None:
        self.child = pexpect.spawn(ENVLOOP, ["chat", *args], env=env, cwd=str(cwd), dimensions=(50, columns),
                                   encoding="utf-8", codec_errors="replace", timeout=WAIT)
        self.raw = ""
        self.position = 0  # where the next wait starts looking, in the cleaned text

    @property
    def text(self) -> str:
        return _ESCAPES.sub("", self.raw)

    def _read(self) -> None:
        try:
            self.raw += self.child.read_nonblocking(65536, timeout=0.5)
        except pexpect.TIMEOUT:
            pass

    def wait_for(self, needle: str, timeout: float = WAIT) -> None:
        """Wait until ``needle`` appears after what earlier waits found."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.text.find(needle, self.position)
            if found >= 0:
                self.position = found + len(needle)
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} did not appear; the screen ends with:\n{self.text[-3000:]}")
            try:
                self._read()
            except pexpect.EOF:
                raise AssertionError(f"the chat exited before {needle!r}:\n{self.text[-3000:]}") from None

    def prompt(self, conversation: str = "1") -> None:
        self.wait_for(f"envloop {conversation}>")

    def line(self, text: str) -> None:
        self.child.send(text + "\r")

    def leave(self) -> str:
        """Ctrl-D, wait for the process to end, return everything it showed."""
        self.child.send(CTRL_D)
        self.wait_for("Bye.")
        while True:
            try:
                self._read()
            except pexpect.EOF:
                break
        self.child.close()
        assert self.child.exitstatus == 0, self.text[-2000:]
        assert "Traceback" not in self.text
        return self.text


@pytest.fixture
def chat_env(data_home: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ENVLOOP_MODEL", "LC_ALL", "LC_CTYPE", "ENVLOOP_DB")}
    env.update({"XDG_DATA_HOME": str(data_home), "XDG_CONFIG_HOME": str(tmp_path / "config"), "LANG": "C.UTF-8",
                "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"})
    return env


@pytest.fixture
def open_chat(chat_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Screen]]:
    screens: list[Screen] = []

    def start(*args: str, env: dict[str, str] | None = None, columns: int = 120) -> Screen:
        screen = Screen(list(args), {**chat_env, **(env or {})}, tmp_path, columns)
        screens.append(screen)
        return screen

    yield start
    for screen in screens:
        if screen.child.isalive():
            screen.child.terminate(force=True)


AREA_REPLIES = (
    code("import math\ndef area(r):\n    return math.pi * r * r\nprint(round(area(2), 3))"),
    {"reply": code("total = area(3)\nanswer(f'The area is **{total:.2f}**')", "Now the real radius."), "delay": 0.5},
)


def test_a_two_iteration_turn_renders_its_blocks_and_answer(open_chat, tmp_path: Path) -> None:
    screen = open_chat("--model", replay(tmp_path, *AREA_REPLIES))
    screen.prompt("new")
    screen.line("What is the area of a circle of radius 3?")
    for piece in ("iteration 1/8", "Let me compute that.", "block 1", "def area(r):", "12.566", "area v1 (new)",
                  "iteration 2/8", "Now the real radius.", "total = area(3)", "total v1 (new)",
                  "The area is 28.27", "2 iterations", "tokens", "$0.0000"):
        screen.wait_for(piece)
    screen.prompt("1")
    screen.line("/vars")
    screen.wait_for("area")
    screen.wait_for("function")
    screen.prompt()
    screen.line("/why total")
    for piece in ("total v1", "turn 1", "area v1", "asked in turn 1: What is the area"):
        screen.wait_for(piece)
    screen.prompt()
    screen.line("/inspect")
    for piece in ("iteration 2", "-- system --", "You are envloop", "-- user --", "-- reply --", "area(3)"):
        screen.wait_for(piece)
    screen.prompt()
    screen.line("/cost")
    screen.wait_for("turn 1")
    screen.prompt()
    screen.line(f"/export py {tmp_path / 'turns.py'}")
    screen.wait_for("wrote")
    screen.prompt()
    screen.leave()
    assert "total = area(3)" in (tmp_path / "turns.py").read_text()


def test_bang_code_rollback_multiline_and_completion(open_chat, data_home: Path) -> None:
    screen = open_chat()
    screen.prompt("new")
    screen.line("!x = 1")
    screen.wait_for("x v1 (new)")
    screen.line("!x = 2")
    screen.wait_for("x v1 → v2")
    screen.line("/rollback x 1")
    screen.wait_for("x v2 → v3 (= v1)")
    screen.line("!x * 10")
    screen.wait_for("→ 10")
    screen.child.send("!a = 20" + ESC_ENTER + "b_long_name = a + 1")  # Esc Enter: a second line, not sent yet
    time.sleep(1)
    screen.line("")
    screen.wait_for("b_long_name v1 (new)")
    screen.prompt()
    screen.child.send("!b_lo")
    time.sleep(1)
    screen.child.send("\t")  # completes the name
    time.sleep(1)
    screen.line(" * 2")
    screen.wait_for("→ 42")
    screen.prompt()
    screen.child.send("/va")
    time.sleep(1)
    screen.child.send("\t")  # completes the command
    time.sleep(1)
    screen.line("")
    screen.wait_for("b_long_name")
    screen.prompt()
    screen.line("/history x")
    screen.wait_for("x v3")
    screen.wait_for("(= x v1)")
    screen.prompt()
    screen.leave()
    history = (data_home / "envloop" / "chat_history").read_text()
    assert "+!x = 1" in history and "+b_long_name = a + 1" in history


def test_ctrl_c_cancels_a_long_block_and_the_chat_goes_on(open_chat, tmp_path: Path) -> None:
    model = replay(tmp_path, code("n = 0\nwhile True:\n    n += 1", "Counting forever."), "All good again.")
    screen = open_chat("--model", model)
    screen.prompt("new")
    screen.line("Count forever")
    screen.wait_for("while True:")
    time.sleep(1.0)
    screen.child.send(CTRL_C)
    screen.wait_for("cancelling")
    screen.wait_for("Turn cancelled")
    screen.prompt()
    assert screen.child.isalive()
    screen.line("!n >= 0")
    screen.wait_for("→ True")
    screen.line("Are you still there?")
    screen.wait_for("All good again.")
    screen.prompt()
    screen.leave()


def test_resuming_an_old_conversation_brings_its_names_back(open_chat, tmp_path: Path) -> None:
    first = open_chat()
    first.prompt("new")
    first.line("!prices = [3, 4, 5]")
    first.wait_for("prices v1 (new)")
    first.line("!def double(x):" + ESC_ENTER + "    return 2 * x")
    first.wait_for("double v1 (new)")
    first.prompt()
    first.leave()
    second = open_chat("--resume")
    second.wait_for("Conversation 1, 2 names: double, prices")
    second.prompt()
    second.line("!sum(double(p) for p in prices)")
    second.wait_for("→ 24")
    second.prompt()
    second.leave()
    third = open_chat("--new")
    third.wait_for("/resume 1 continues the latest")
    third.prompt("new")
    third.line("/resume 1")
    third.wait_for("Conversation 1, 2 names")
    third.prompt()
    third.line("/conversations")
    third.wait_for("*1")
    third.prompt()
    third.child.send("\x1b[A\x1b[A\x1b[A")  # Up three times: back past this run to the last line of the previous one
    time.sleep(1)
    third.line("")
    third.wait_for("→ 24")
    third.prompt()
    third.leave()


def test_without_a_model_code_and_commands_still_work(open_chat) -> None:
    screen = open_chat()
    screen.wait_for("none configured")
    screen.prompt("new")
    screen.line("hello, anyone there?")
    screen.wait_for("none is configured")
    screen.wait_for("ENVLOOP_MODEL")
    screen.prompt("new")
    screen.line("!answer_value = 6 * 7")
    screen.wait_for("answer_value v1 (new)")
    screen.line("/vars")
    screen.wait_for("answer_value")
    screen.line("/model")
    screen.wait_for("no model configured")
    screen.line("/cost")
    screen.wait_for("conversation 1")
    screen.line("/undo")
    screen.wait_for("answer_value deleted (v2)")
    screen.line("/nonsense")
    screen.wait_for("unknown command /nonsense")
    screen.prompt()
    screen.leave()


@pytest.mark.parametrize("allow", [True, False])
def test_irreversible_calls_are_approved_inline(open_chat, tmp_path: Path, outbox_plugin, allow: bool) -> None:
    outbox = outbox_plugin.outbox
    model = replay(tmp_path, code("try:\n    status = send_message('ann', 'hi')\nexcept PermissionError as e:\n"
                                  "    status = 'refused'\nanswer(status)"))
    screen = open_chat("--model", model, env=outbox_plugin.env)
    screen.prompt("new")
    screen.line("Tell Ann hi")
    screen.wait_for("Allow send_message")
    screen.wait_for("(y/n)")
    screen.child.send("y" if allow else "n")
    screen.wait_for("sent" if allow else "refused")
    screen.wait_for("1 iteration")
    screen.prompt()
    screen.leave()
    assert outbox.exists() is allow


def test_a_narrow_ascii_terminal_keeps_the_layout(open_chat, tmp_path: Path) -> None:
    words = "word " * 40
    model = replay(tmp_path, code(f"print({words!r})\ngreeting = 'π ≈ 3.14 → ok ✓'\nprint(greeting)\n"
                                  "answer('done — “fine”')"))
    screen = open_chat("--model", model, env={"LANG": "C", "LC_ALL": "C"}, columns=60)
    screen.prompt("new")
    screen.line("Print things")
    screen.wait_for("? ? 3.14 > ok v")
    screen.wait_for('done - "fine"')
    screen.prompt()
    screen.line("/vars")
    screen.wait_for("-----")
    screen.wait_for("greeting")
    screen.prompt()
    text = screen.leave()
    assert all(ord(c) < 128 for c in text)
    word_lines = [line for line in re.split(r"[\r\n]", text) if line.startswith("word")]
    assert len(word_lines) >= 3 and all(len(line.rstrip()) <= 60 for line in word_lines)


def test_piped_input_is_handled_line_by_line(run_cli) -> None:
    done = run_cli("chat", input="!x = 41\n!x + 1\n/vars\n")
    assert done.returncode == 0, done.stderr
    assert "envloop new> !x = 41" in done.stdout and "→ 42" in done.stdout and "x " in done.stdout


def test_chat_opens_a_given_conversation(run_cli) -> None:
    assert run_cli("run", "--new", "x = 41").returncode == 0
    assert run_cli("run", "--new", "y = 1").returncode == 0
    done = run_cli("chat", "--conversation", "1", input="!x + 1\n")
    assert done.returncode == 0, done.stderr
    assert "Conversation 1, 1 names: x" in done.stdout and "→ 42" in done.stdout
    assert run_cli("chat", "--conversation", "9", input="").returncode == 1


def test_chat_refuses_two_ways_of_choosing_the_conversation(run_cli) -> None:
    done = run_cli("chat", "--new", "--resume")
    assert done.returncode == 2 and "only one of" in done.stderr


def test_demo_plays_through_the_real_engine(run_cli, data_home: Path, tmp_path: Path) -> None:
    done = run_cli("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for piece in ("iteration 1/8", "iteration 2/8", "3 invoices, 2480.0 before tax", "with_tax v1 (new)",
                  "The 2 March invoices come to 2,460.00 with 20% tax.", "envloop 1> /vars", "tax_rate v1 → v2",
                  "tax_rate v2 → v3 (= v1)", "→ 120.0", "total v2", "asked in turn 2"):
        assert piece in out, piece
    assert not (data_home / "envloop" / "envloop.db").exists()  # a temporary database, gone now
    kept = tmp_path / "demo.db"
    assert run_cli("demo", "--db", str(kept)).returncode == 0
    names = json.loads(run_cli("--db", str(kept), "vars", "--json").stdout)
    assert {"invoices", "tax_rate", "with_tax", "march", "total"} <= {n["name"] for n in names}


def test_demo_in_a_c_locale_prints_ascii(run_cli) -> None:
    done = run_cli("demo", env={"LANG": "C", "LC_ALL": "C", "COLUMNS": "60"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.isascii() and "tax_rate v2 -> v3 (= v1)" in done.stdout


def test_folded_output_is_kept_for_show() -> None:
    from envloop.channels.chat.render import View, make_console

    buffer = io.StringIO()
    console, glyphs = make_console(buffer, utf8=True, width=60)
    view = View(console, glyphs)
    view.block_output("\n".join(f"row {i}" for i in range(100)), None, None, None)
    shown = buffer.getvalue()
    assert "row 0" in shown and "row 99" in shown and "row 50" not in shown and "/show 1 shows all" in shown
    view.show(1)
    assert "row 50" in buffer.getvalue()


def test_the_ascii_writer_never_raises() -> None:
    from envloop.channels.chat.render import AsciiWriter, terminal_is_utf8

    out = io.StringIO()
    AsciiWriter(out).write("→ π 漢字 ✓ \udcff")
    assert out.getvalue().isascii() and out.getvalue().startswith("> ? ?? v")
    assert terminal_is_utf8({"LANG": "en_US.UTF-8"}) and terminal_is_utf8({"LC_ALL": "C.utf8", "LANG": "C"})
    assert not terminal_is_utf8({"LC_ALL": "C", "LANG": "en_US.UTF-8"}) and not terminal_is_utf8({})
