"""Per-conversation instructions: set, show, versioned (history, rollback, undo), in the prompt beneath the
core rules, defaults per channel from the config file, and changes by the model only with approval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envloop.channels.telegram.commands import run_command
from envloop.conversation import Envloop
from envloop.errors import ChannelError


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def replay(tmp_path: Path, *replies: str) -> str:
    path = tmp_path / f"replay-{len(list(tmp_path.glob('replay-*')))}.json"
    path.write_text(json.dumps(list(replies)))
    return f"replay:{path}"


def show(run_cli) -> dict:
    done = run_cli("instructions", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def system_prompt_of_last_turn(run_cli) -> str:
    done = run_cli("inspect", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["messages"][0]["content"]


def test_set_show_history_undo_rollback_clear(run_cli, config_home: Path) -> None:
    assert run_cli("run", "--new", "total = 41").returncode == 0  # an existing conversation with state
    assert show(run_cli)["source"] == "none"
    done = run_cli("instructions", "set", "Answer in French.")
    assert done.returncode == 0 and "v1" in done.stdout
    (config_home / "rules.md").parent.mkdir(parents=True, exist_ok=True)
    rules = config_home / "rules.md"
    rules.write_text("Be brief.\nUse metric units.\n")
    assert run_cli("instructions", "set", "--file", str(rules)).returncode == 0
    now = show(run_cli)
    assert now == {"conversation_id": 1, "channel": "cli", "text": "Be brief.\nUse metric units.",
                   "source": "conversation", "version": 2}
    listed = run_cli("instructions", "history").stdout
    assert "v1" in listed and "Answer in French." in listed and "Use metric units." in listed

    # undo takes the newest change back, as for any name; redo brings it again
    assert run_cli("undo").returncode == 0
    assert show(run_cli)["text"] == "Answer in French."
    assert run_cli("redo").returncode == 0
    assert show(run_cli)["text"] == "Be brief.\nUse metric units."
    rolled = run_cli("instructions", "rollback", "1")
    assert rolled.returncode == 0 and "(= v1)" in rolled.stdout
    assert show(run_cli)["text"] == "Answer in French."

    assert run_cli("instructions", "clear").returncode == 0
    assert show(run_cli)["source"] == "cleared" and show(run_cli)["text"] is None
    assert run_cli("undo").returncode == 0
    assert show(run_cli)["text"] == "Answer in French."

    # the namespace never sees them: vars lists only the conversation's names, and code still runs
    names = [v["name"] for v in json.loads(run_cli("vars", "--json").stdout)]
    assert names == ["total"]
    ran = run_cli("run", "total + 1")
    assert ran.returncode == 0 and ran.stdout.strip() == "42"


def test_bad_input_is_one_clear_line(run_cli, tmp_path: Path) -> None:
    fresh = run_cli("instructions")
    assert fresh.returncode == 1 and "no conversations yet" in fresh.stderr
    run_cli("run", "--new", "x = 1")
    rules = tmp_path / "rules.txt"
    rules.write_text("Round money to cents.\n")
    assert run_cli("instructions", "--file", str(rules)).returncode == 0  # the group's --file sets them too
    assert show(run_cli)["text"] == "Round money to cents."
    for args, words in ((("instructions", "set", "   "), "empty"),
                        (("instructions", "set"), "TEXT or with --file"),
                        (("instructions", "set", "--file", str(tmp_path / "missing.md")), "cannot read"),
                        (("instructions", "rollback", "7"), "no instructions version 7 (versions 1 to 1)")):
        done = run_cli(*args)
        assert done.returncode == 1 and words in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    assert run_cli("instructions", "set", "x" * 9000).returncode == 1


def test_instructions_go_beneath_the_core_rules_and_show_in_inspect(run_cli, tmp_path: Path) -> None:
    model = replay(tmp_path, "```python\nanswer(str(6 * 7))\n```")
    assert run_cli("run", "--new", "x = 1").returncode == 0
    assert run_cli("instructions", "set", "Always answer in French.").returncode == 0
    assert run_cli("ask", "--model", model, "What is six times seven?").returncode == 0
    system = system_prompt_of_last_turn(run_cli)
    core = system.index("Never invent data")
    placed = system.index("Always answer in French.")
    assert core < placed
    assert "core rules above always come first" in system[core:placed]
    out = run_cli("inspect").stdout
    assert "instructions in force now: v1" in out and "Always answer in French." in out


def test_channel_default_from_the_config_file(run_cli, config_home: Path, tmp_path: Path) -> None:
    (config_home / "envloop").mkdir(parents=True)
    (config_home / "envloop" / "config.toml").write_text(
        '[instructions]\ncli = "Use metric units."\ntelegram = "Keep it short."\n')
    assert run_cli("run", "--new", "x = 1").returncode == 0
    now = show(run_cli)
    assert now["source"] == "default" and now["text"] == "Use metric units."
    assert run_cli("ask", "--model", replay(tmp_path, "Fine."), "hello").returncode == 0
    assert "Use metric units." in system_prompt_of_last_turn(run_cli)
    # the conversation's own instructions replace the default; clearing them leaves none
    run_cli("instructions", "set", "Use imperial units.")
    run_cli("ask", "--model", replay(tmp_path, "Fine."), "hello again")
    system = system_prompt_of_last_turn(run_cli)
    assert "Use imperial units." in system and "Use metric units." not in system
    run_cli("instructions", "clear")
    assert show(run_cli)["source"] == "cleared"
    (config_home / "envloop" / "config.toml").write_text("[instructions\n")
    assert run_cli("run", "--new", "y = 1").returncode == 0  # a conversation that would use the default
    bad = run_cli("instructions")
    assert bad.returncode == 1 and "not valid TOML" in bad.stderr


PROPOSE = '```python\nprint(propose_instructions("Answer in haiku."))\n```'


def test_the_model_changes_them_only_with_approval(run_cli, tmp_path: Path) -> None:
    assert run_cli("run", "--new", "x = 1").returncode == 0
    denied = run_cli("ask", "--model", replay(tmp_path, PROPOSE, "Done."), "change your style")
    assert "denied propose_instructions" in denied.stderr
    assert show(run_cli)["source"] == "none"
    approved = run_cli("ask", "--yes", "--model", replay(tmp_path, PROPOSE, "Done."), "change your style")
    assert approved.returncode == 0, approved.stderr
    now = show(run_cli)
    assert now["text"] == "Answer in haiku." and now["version"] == 1
    assert "by the model, approved by you" in run_cli("instructions", "history").stdout
    # the next turn's system prompt carries them; undo of that turn takes them back
    run_cli("ask", "--model", replay(tmp_path, "Ok."), "hi")
    assert "Answer in haiku." in system_prompt_of_last_turn(run_cli)
    log = run_cli("log", "--json").stdout
    approving_turn = next(e["turn"] for e in json.loads(log) if e["text"] == "change your style" and e["changed"])
    assert approving_turn
    run_cli("undo")  # the last changing turn is the approved one (the "hi" turn changed nothing)
    assert show(run_cli)["source"] == "cleared"


def test_fork_keeps_them_and_telegram_command(tmp_path: Path, config_home: Path) -> None:
    with Envloop.open(str(tmp_path / "t.db")) as app:
        info = app.open_conversation(channel="telegram", external_id="42")
        assert "none" in run_command(app, info.id, "instructions", [])[0]
        run_command(app, info.id, "instructions", ["set", "Reply", "in", "English."])
        assert app.instructions(info.id).text == "Reply in English."
        assert "English." in run_command(app, info.id, "instructions", [])[0]
        assert "v1" in run_command(app, info.id, "instructions", ["history"])[0]
        run_command(app, info.id, "instructions", ["clear"])
        assert app.instructions(info.id).source == "cleared"
        run_command(app, info.id, "instructions", ["rollback", "1"])
        assert app.instructions(info.id).text == "Reply in English."
        with pytest.raises(ChannelError):
            run_command(app, info.id, "instructions", ["bogus"])
        child = app.fork(info.id)
        assert app.instructions(child.conversation_id).text == "Reply in English."


def test_chat_slash_command(data_home: Path, tmp_path: Path) -> None:
    """/instructions in the terminal chat, in a real pseudo-terminal."""
    import os
    import re
    import sys

    import pexpect

    env = {k: v for k, v in os.environ.items() if k not in ("ENVLOOP_MODEL", "LC_ALL", "LC_CTYPE", "ENVLOOP_DB")}
    env.update({"XDG_DATA_HOME": str(data_home), "XDG_CONFIG_HOME": str(tmp_path / "config"), "LANG": "C.UTF-8",
                "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"})
    child = pexpect.spawn(str(Path(sys.executable).with_name("envloop")), ["chat"], env=env, cwd=str(tmp_path),
                          dimensions=(50, 120), encoding="utf-8", timeout=120)
    escapes = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[=>]|[@-Z\\-_])")
    seen = ""

    def wait_for(needle: str) -> None:
        nonlocal seen
        while needle not in seen:
            try:
                seen = seen + escapes.sub("", child.read_nonblocking(65536, timeout=120))
            except pexpect.EOF:
                raise AssertionError(f"{needle!r} never appeared:\n{seen[-2000:]}") from None
        seen = seen[seen.index(needle) + len(needle):]

    try:
        wait_for("envloop new>")
        child.send("!x = 1\r")
        wait_for("x v1")
        child.send('/instructions set "Answer in French."\r')
        wait_for("instructions set (v1)")
        child.send("/instructions\r")
        wait_for("Answer in French.")
        child.send("/undo\r")
        wait_for("@instructions")
        child.send("/instructions history\r")
        wait_for("v2")
        child.send("/instructions bogus\r")
        wait_for("say show, set TEXT, clear, history or rollback N")
    finally:
        child.terminate(force=True)
