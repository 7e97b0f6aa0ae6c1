"""Stale derivations after a redefinition, rollback or undo, and `recompute` bringing them up to date.

Each step is a new `envloop` process on one database, as a person at a shell would run them.
"""

from __future__ import annotations

import json
from pathlib import Path


def _stale(cli) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {e["name"]: e["stale"] for e in cli("vars", "--json") if e["stale"]}


def test_redefinition_marks_derived_names_stale_transitively(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "a = 1")
    cli("run", "b = a + 1")
    cli("run", "c = b * 10\nunrelated = 3")
    assert _stale(cli) == {}
    cli("run", "a = 5")
    assert _stale(cli) == {"b": "read a v1, now v2", "c": "derived from stale b"}
    out = cli("why", "c").stdout
    assert "c is STALE: c: derived from stale b ← b: read a v1, now v2" in out


def test_a_block_that_rewrites_then_reads_is_not_stale(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "a = 1")
    cli("run", "a = 2\nb = a + 1")  # b read the a this block wrote
    assert _stale(cli) == {}


def test_rollback_says_what_it_made_stale_and_recompute_fixes_it(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "rate = 0.2\ndef f(x):\n    return round(x * (1 + rate), 2)")
    cli("run", "rate = 0.5\ntotal = f(100)")
    assert cli("run", "--json", "total")["result"] == "150.0"
    done = cli("rollback", "rate", "1")
    assert "now stale" in done.stdout and "total v1: read rate v2, now v3" in done.stdout
    assert "envloop recompute --all-stale" in done.stdout
    cli("recompute", "total")
    assert cli("run", "--json", "total")["result"] == "120.0"
    assert _stale(cli) == {}
    entries = cli("log", "--json")
    assert entries[-2]["kind"] == "recompute"  # one turn, so undo takes it back
    cli("undo")
    assert cli("run", "--json", "total")["result"] == "150.0" and "total" in _stale(cli)


def test_a_rollback_to_the_value_that_was_read_is_not_a_change(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "a = 1")
    cli("run", "b = a + 1")
    cli("run", "a = 9")
    assert "b" in _stale(cli)
    cli("rollback", "a", "1")
    assert _stale(cli) == {}


def test_recompute_asks_before_rerunning_calls_with_effects(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "name = 'a.txt'")
    cli("run", "size = write_file(name, 'hello')")
    cli("run", "name = 'b.txt'")
    refused = cli("recompute", "size", ok=False)
    assert refused.returncode == 1 and "calls write_file" in refused.stderr
    assert "size" in _stale(cli)
    cli("recompute", "size", "--yes")
    assert _stale(cli) == {} and "b.txt" in cli("run", "--json", "list_files()")["result"]


def test_recompute_errors_and_up_to_date(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "a = 1")
    assert "a is up to date" in cli("recompute", "a").stdout
    assert "nothing is stale" in cli("recompute", "--all-stale").stdout
    assert "no name 'zz'" in cli("recompute", "zz", ok=False).stderr
    assert cli("recompute", ok=False).returncode == 2


def test_the_models_var_index_marks_stale_names(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "a = 1")
    cli("run", "b = a + 1")
    cli("run", "a = 5")
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps(["b is stale, so I would recompute it first."]))
    cli("ask", "--model", f"replay:{replies}", "What is b?")
    prompt = cli("inspect").stdout
    assert "b: int" in prompt and "[STALE: read a v1, now v2; recompute it before relying on it]" in prompt
    a_line = next(line for line in prompt.splitlines() if line.lstrip().startswith("a: int"))
    assert "STALE" not in a_line


def test_a_redefinition_within_a_turn_marks_stale_in_the_next_iteration(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fence = "```"
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps([
        f"First a and b.\n{fence}python\na = 1\nb = a + 1\n{fence}\n",
        f"Now change a.\n{fence}python\na = 5\n{fence}\n",
        "b was computed from the old a.",
    ]))
    cli("run", "--new", "pass")
    cli("ask", "--model", f"replay:{replies}", "Make a and b, then change a.")
    second = cli("inspect", "--iteration", "2", "--json")["messages"][1]["content"]
    third = cli("inspect", "--iteration", "3", "--json")["messages"][1]["content"]
    assert "STALE" not in second
    b_line = next(line for line in third.splitlines() if line.lstrip().startswith("b: int"))
    assert "[STALE: read a v1, now v2; recompute it before relying on it]" in b_line


def test_sharing_objects_with_a_new_name_is_not_a_change(cli) -> None:  # type: ignore[no-untyped-def]
    cli("run", "--new", "invoices = [{'m': 3, 'v': 10}, {'m': 4, 'v': 5}]\nn = len(invoices)")
    cli("run", "march = [i for i in invoices if i['m'] == 3]")  # shares invoices' dicts: stored together
    assert _stale(cli) == {}
    cli("run", "invoices[0]['v'] = 11")  # changes march too, through the shared dict
    assert _stale(cli) == {"n": "read invoices v1, now v3"}
    assert cli("run", "(march[0] is invoices[0], march)").stdout.strip() == "(True, [{'m': 3, 'v': 11}])"
