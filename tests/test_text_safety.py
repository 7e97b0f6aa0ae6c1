"""Text from the sandbox is safe wherever it goes (issue 13, item 3).

Exports never carry executable text outside the blocks, Markdown and notebook
cells show HTML from answers instead of running it, and lone surrogates and
terminal escape sequences are spelled out instead of crashing or reprogramming
whatever shows them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from envloop import export
from envloop.export import BlockView, ConversationView, TurnView
from envloop.textsafe import for_comment_lines, for_markdown, for_terminal, unicode_safe

CR_INJECTION = "All done." + chr(13) + "import os; open('PWNED', 'w').write('x')"


def _conversation(answer: str, stdout: str = "", source: str = "x = 1", title: str | None = None,
                  text: str = "hi") -> ConversationView:
    block = BlockView("model", source, stdout=stdout, result=None, error_type="ValueError",
                      error_message="bad \x1b[2J" + chr(0xD800), error_line=1)
    turn = TurnView(1, "turn", text, "done", answer, None, "replay", [], [block])
    return ConversationView(7, title, None, None, [turn], [])


def test_a_carriage_return_in_an_answer_does_not_become_code_in_the_py_export(tmp_path):
    script = export._to_py(_conversation(CR_INJECTION))
    path = tmp_path / "export.py"
    path.write_text(script, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "PWNED").exists()
    assert "\r" not in script
    code = [line for line in script.splitlines() if line and not line.startswith("#")]
    assert code == ["x = 1"]  # the block is the only executable text


def test_every_line_break_python_knows_stays_inside_the_comment():
    for breaker in ["\r", "\r\n", "\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028"]:
        lines = for_comment_lines("a" + breaker + "import os")
        assert all("\r" not in line and "\n" not in line for line in lines)
        assert len(lines) == 2


def test_markdown_and_notebook_show_html_from_answers_instead_of_running_it():
    answer = "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3))"
    for text in (export._to_md(_conversation(answer)), export._to_ipynb(_conversation(answer))):
        assert "<script>" not in text and "<img" not in text
        assert "javascript:" not in text
        assert "&lt;script&gt;" in text


def test_surrogates_and_escapes_in_outputs_make_a_valid_utf8_export(tmp_path):
    conv = _conversation("done " + chr(0xDC80), stdout="\x1b]0;title\x07hi " + chr(0xD800), title="t\x1b[31m")
    for fmt, render in (("py", export._to_py), ("md", export._to_md), ("ipynb", export._to_ipynb)):
        text = render(conv)
        (tmp_path / f"x.{fmt}").write_text(text, encoding="utf-8")  # raised UnicodeEncodeError before
        assert "\x1b" not in text, fmt
        assert "\\x1b" in text or "\\u001b" in text, fmt
    notebook = json.loads((tmp_path / "x.ipynb").read_text(encoding="utf-8"))
    code = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    stream = code["outputs"][0]["text"]
    assert "".join(stream).startswith("\\x1b]0;title\\x07hi \\ud800")


def test_terminal_text_spells_out_controls_and_keeps_newlines_and_tabs():
    assert for_terminal("a\tb\nc\x1b[31m\x07\x9b\u202e") == "a\tb\nc\\x1b[31m\\x07\\x9b\\u202e"
    assert for_terminal("one\ntwo", newlines=False) == "one\\x0atwo"
    assert unicode_safe("caf" + chr(0xDCE9)) == "caf\\udce9"
    assert for_markdown("a < b & c") == "a &lt; b &amp; c"


# -- the command line -------------------------------------------------------------------------


def test_a_lone_surrogate_printed_by_a_block_is_shown_escaped_and_stored(run_cli):
    ran = run_cli("run", "--new", "print(chr(0xd800))\nx = chr(0xd801) + 'y'\nraise ValueError(chr(0xdc80))")
    assert ran.returncode == 1, ran.stderr
    assert ran.stdout == "\\ud800\n"
    assert "ValueError (line 3): \\udc80" in ran.stderr and "Traceback" not in ran.stderr
    again = run_cli("run", "print(len(x), repr(x))")
    assert again.returncode == 0 and again.stdout == "2 '\\ud801y'\n", again.stderr
    history = run_cli("history", "x")
    assert history.returncode == 0 and "Traceback" not in history.stderr


def test_arguments_that_are_not_utf8_do_not_traceback(run_cli, tmp_path):
    import os

    envloop = os.fsencode(Path(sys.executable).with_name("envloop"))
    home = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    for args in ([b"run", b"--new", b'v = "caf\xe9"\nprint(v)'], [b"history", b"caf\xe9"], [b"why", b"\xff"]):
        proc = subprocess.run([envloop, *args], capture_output=True, env=home, cwd=tmp_path, timeout=120)
        assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    ran = subprocess.run([envloop, b"run", b"print(v)"], capture_output=True, env=home, cwd=tmp_path, timeout=120)
    assert ran.stdout.decode() == "caf\ufffd\n"


def test_escape_sequences_reach_a_terminal_spelled_out(tmp_path):
    import os

    pexpect = __import__("pytest").importorskip("pexpect")
    envloop = str(Path(sys.executable).with_name("envloop"))
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "TERM": "xterm"}
    code = "print('\\x1b]0;pwned\\x07' + '\\x1b[2J' + '\\x1b[31mred\\x1b[0m' + '\\x9b' + 'end')"
    child = pexpect.spawn(envloop, ["run", "--new", code], env=env, cwd=str(tmp_path), timeout=120)
    child.expect(pexpect.EOF)
    out = child.before.decode("utf-8", "replace")
    assert "\x1b]0" not in out and "\x1b[2J" not in out and "\x9b" not in out
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in out and "\x1b[31mred\x1b[0m" in out  # colours pass


# -- secrets and host paths ----------------------------------------------------------------


def test_a_provider_error_quoting_a_piece_of_the_key_is_scrubbed(monkeypatch):
    from envloop.llm.provider_errors import scrub

    monkeypatch.setenv("OPENAI_API_KEY", "canary-XYZ123456789abcdef")
    cleaned = scrub("Incorrect API key provided: canary-XYZ1234****cdef; also 56789abcde and canary- alone")
    assert "canary-XYZ1" not in cleaned and "56789abc" not in cleaned
    assert "canary- alone" in cleaned  # shorter than 8 characters: not a fragment of the key


def test_errors_the_sandbox_sees_name_no_host_path(tmp_path):
    from envloop.sandbox import Sandbox

    workspace = tmp_path / "ws"

    def on_call(fn, args, kwargs):
        raise FileNotFoundError(f"[Errno 2] No such file: '{workspace.resolve()}/data/x.csv' "
                                f"(database {tmp_path}/envloop.db)")

    with Sandbox(workspace, on_call=on_call, host_functions=["load"]) as sb:
        result = sb.run("try:\n    load()\nexcept FileNotFoundError as e:\n    print(e)")
    assert result.ok, result.error
    assert "data/x.csv" in result.stdout and str(tmp_path) not in result.stdout
    assert "<host path>" in result.stdout


def test_telegram_messages_spell_out_escapes_and_surrogates():
    from envloop.channels.telegram.format import escape, spans_from_markdown, split_html

    assert escape("a<b>\x1b]0;x\x07" + chr(0xD800)) == "a&lt;b&gt;\\x1b]0;x\\x07\\ud800"
    (message,) = split_html(spans_from_markdown("result " + chr(0xDC00) + " \u202eevil"))
    message.encode("utf-8")  # Telegram's API gets text it can encode
    assert "\\udc00" in message and "\\u202e" in message


def test_ask_with_surrogates_in_output_and_answer_finishes_its_turn(run_cli, tmp_path):
    fence = "```"
    reply = f"Printing.\n{fence}python\nprint(chr(0xd800))\nanswer('odd ' + chr(0xdc80) + chr(13) + 'import os')\n{fence}\n"
    path = tmp_path / "replay.json"
    path.write_text(json.dumps([reply]))
    done = run_cli("ask", "--new", "--model", f"replay:{path}", "go")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "\\udc80" in done.stdout
    log = run_cli("log", "--json")
    assert log.returncode == 0 and '"running"' not in log.stdout, log.stdout
    exported = run_cli("export", "--format", "py")
    assert exported.returncode == 0, exported.stderr
    assert "\r" not in exported.stdout and "\nimport os" not in exported.stdout


def test_the_chat_console_spells_out_escapes_in_the_data_it_shows():
    import io

    from rich.text import Text

    from envloop.channels.chat.render import make_console

    out = io.StringIO()
    console, _ = make_console(out, utf8=True, width=80)
    console.print(Text("name \x1b]0;pwned\x07 \x1b[2J" + chr(0xD800), style="bold"))
    shown = out.getvalue()
    assert "\x1b]0" not in shown and "\x1b[2J" not in shown
    assert "\\x1b]0;pwned \\x1b[2J\\ud800" in shown  # (rich itself drops the BEL)


def test_a_model_reply_with_a_lone_surrogate_is_stored_spelled_out(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A reply can carry a lone surrogate (JSON's \\ud800); the database boundary must not fail on it."""
    import json as _json

    replies = tmp_path / "replies.json"
    replies.write_text(_json.dumps(["Answer: caf\ud800 here"]))
    cli("run", "--new", "x = 1")
    done = cli("ask", "--model", f"replay:{replies}", "hi")
    assert "caf\\ud800" in done.stdout
    assert cli("log", "--json")[-1]["status"] == "done"
