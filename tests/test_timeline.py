"""The timeline is a history, not a toggle: undo walks back turn by turn, redo walks forward,
`log` shows it all, `history` shows the code that made each version, and `fork` moves you.

Every step is a new `envloop` process on one database, as a person at a shell would run them.
"""

from __future__ import annotations


def _value(cli, expr: str) -> str:  # type: ignore[no-untyped-def]
    return cli("run", "--json", expr)["result"]


def test_undo_walks_back_several_turns_and_redo_walks_forward(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "x = 41")
    cli("run", "x = x + 1\nys = [x]")
    cli("run", "x = 84\nys.append(2)")
    cli("run", "print(x)")  # changes nothing: not a step of the timeline
    seen = []
    for _ in range(3):
        assert "undid turn" in cli("undo").stdout
        seen.append(cli("run", "--json", "x")["result"] if _defined(cli, "x") else None)
    assert seen == ["42", "41", None]  # one step back each time, never a flip between two states
    refused = cli("undo", ok=False)
    assert refused.returncode == 1 and "nothing to undo" in refused.stderr
    cli("redo")
    assert _value(cli, "x") == "41"
    cli("redo")
    assert _value(cli, "(x, ys)") == "(42, [42])"
    cli("redo")
    assert _value(cli, "(x, ys)") == "(84, [42, 2])"
    assert "nothing to redo" in cli("redo", ok=False).stderr


def _defined(cli, name: str) -> bool:  # type: ignore[no-untyped-def]
    return bool(cli("run", name, ok=False).returncode == 0)


def test_a_new_change_after_undo_clears_redo(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "a = 1")
    cli("run", "a = 2")
    cli("undo")
    cli("run", "b = 10")  # new work: what was undone stays undone
    assert "nothing to redo" in cli("redo", ok=False).stderr
    cli("undo")  # takes back b
    assert _value(cli, "a") == "1" and cli("run", "b", ok=False).returncode == 1
    cli("undo")  # then a = 1 itself (a = 2 is already undone)
    assert cli("run", "a", ok=False).returncode == 1


def test_undo_takes_back_a_rollback(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "n = 1")
    cli("run", "n = 2")
    cli("rollback", "n", "1")
    assert _value(cli, "n") == "1"
    cli("undo")
    assert _value(cli, "n") == "2"


def test_log_shows_turns_operations_and_what_is_undone(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "x = 1")
    cli("run", "x = 2")
    cli("undo")
    entries = cli("log", "--json")
    assert [(e["turn"], e["kind"], e["changed"], e["undone"]) for e in entries] == [
        (1, "run", 1, False), (2, "run", 1, True), (3, "undo", 1, False)]
    text = cli("log").stdout
    assert "undo turn 2" in text and "(undone)" in text


def test_history_shows_the_code_that_made_each_version(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "prices = [10, 20]\nrate = 0.5\nunrelated = 'x' * 3")
    cli("run", "prices.append(30)\nother = 1")
    out = cli("history", "prices").stdout
    assert "prices = [10, 20]" in out and "prices.append(30)" in out
    assert "rate = 0.5" not in out and "other = 1" not in out  # only the statements that made it
    assert "value: [10, 20, 30]" in out and "turn 2 by user" in out
    data = cli("history", "prices", "--json")
    assert data[1]["statement"] == "prices.append(30)"


def test_fork_becomes_current_and_says_how_to_go_back(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "v = 1")
    cli("run", "v = 2")
    done = cli("fork", "--at", "1")
    assert "is now the current one" in done.stdout and "envloop use 1" in done.stdout
    assert _value(cli, "v") == "1"  # the next command is in the fork
    cli("use", "1")
    assert _value(cli, "v") == "2"
    assert "no conversation 99" in cli("use", "99", ok=False).stderr
