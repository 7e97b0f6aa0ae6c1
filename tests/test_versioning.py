"""The versioned environment through the real CLI: every change a version; resume, rollback, undo, fork, why.

Each ``run_cli`` call is a new envloop process, so every test here also
checks that a conversation survives its process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def env_cli(run_cli, db_url: str, monkeypatch: pytest.MonkeyPatch):
    """Run a command and return parsed JSON output when --json is given; assert success.

    Every command runs against ``db_url``: a SQLite file, then a PostgreSQL server.
    """
    monkeypatch.setenv("ENVLOOP_DB", db_url)

    def call(*args: str, ok: bool = True):
        done = run_cli(*args)
        if ok:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return json.loads(done.stdout) if "--json" in args and done.stdout else done

    return call


def _versions(env_cli) -> dict[str, tuple[int, str]]:
    return {v["name"]: (v["version"], v["status"]) for v in env_cli("vars", "--json")}


def test_bound_mutated_deleted_names_get_versions_and_unchanged_ones_do_not(env_cli) -> None:
    env_cli("run", "--new", "xs = [1, 2]\nd = {'a': 1}\nclass Acc:\n    def __init__(self):\n        self.n = 0\nacc = Acc()")
    assert _versions(env_cli) == {"xs": (1, "live"), "d": (1, "live"), "Acc": (1, "live"), "acc": (1, "live")}
    report = env_cli("run", "--json", "xs.append(3)\nd['b'] = 2\nacc.n = 5\nlen(xs)")
    assert report["result"] == "3" and sorted(report["names"]) == ["acc", "d", "xs"]
    assert _versions(env_cli)["xs"] == (2, "live") and _versions(env_cli)["acc"] == (2, "live")
    env_cli("run", "total = sum(xs) + d['a'] + acc.n")  # reads only: no new versions of what it read
    assert _versions(env_cli)["xs"] == (2, "live")
    env_cli("run", "del d")
    assert "d" not in _versions(env_cli)
    history = env_cli("history", "d", "--json")
    assert [h["kind"] for h in history] == ["value", "value", "deleted"]


def test_mutation_through_a_function_of_an_earlier_block(env_cli) -> None:
    env_cli("run", "--new", "items = []\ndef add(x):\n    items.append(x)\n    return len(items)")
    env_cli("run", "add(1)\nadd(2)")
    history = env_cli("history", "items", "--json")
    assert [h["preview"] for h in history] == ["[]", "[1, 2]"]
    assert history[1]["reads"] == ["add v1", "items v1"]


def test_resume_in_a_new_process_restores_values_functions_classes_and_imports(env_cli) -> None:
    env_cli(
        "run",
        "--new",
        "import math\nfrom collections import Counter\n"
        "from dataclasses import dataclass\n@dataclass\nclass Pt:\n    x: int\n    y: int\n"
        "def norm(p):\n    return math.hypot(p.x, p.y)\n"
        "square = lambda v: v * v\n"
        "pts = [Pt(3, 4), Pt(6, 8)]\nshared = [pts[0], pts[0]]\nc = Counter('hello')\n"
        "big = 2 ** 100\nfrom decimal import Decimal\nprice = Decimal('9.99')",
    )
    check = env_cli(
        "run",
        "--json",
        "(norm(pts[1]), square(7), c['l'], big, str(price), shared[0] is shared[1], type(pts[0]).__name__)",
    )
    assert check["ok"], check
    assert check["result"] == "(10.0, 49, 2, 1267650600228229401496703205376, '9.99', True, 'Pt')"


def test_unencodable_values_are_listed_lost_and_never_restored_wrong(env_cli) -> None:
    env_cli("run", "--new", "gen = (i for i in range(3))\nkeep = 1")
    entries = {v["name"]: v for v in env_cli("vars", "--json")}
    assert entries["gen"]["status"] == "lost" and "generator" in entries["gen"]["preview"]
    after = env_cli("run", "--json", "gen", ok=False)
    assert after["error"]["type"] == "NameError"
    assert env_cli("run", "--json", "keep")["result"] == "1"


def test_rollback_writes_a_new_version_and_updates_the_namespace(env_cli) -> None:
    env_cli("run", "--new", "x = 1")
    env_cli("run", "x = x + 10")
    env_cli("run", "x = x * 2")
    done = env_cli("rollback", "x", "1")
    assert "x v3 → v4 (= v1)" in done.stdout
    assert env_cli("run", "--json", "x")["result"] == "1"
    env_cli("rollback", "x", "3")  # the rollback itself can be rolled back
    assert env_cli("run", "--json", "x")["result"] == "22"
    history = env_cli("history", "x", "--json")
    assert [h["version"] for h in history] == [1, 2, 3, 4, 5]
    assert history[3]["rolled_back_from"] == "x v1"


def test_undo_reverts_the_last_turn_and_redo_brings_it_back(env_cli) -> None:
    env_cli("run", "--new", "xs = [1]")
    env_cli("run", "xs.append(2)\nfresh = 'new'")
    done = env_cli("undo")
    assert "undid turn 2" in done.stdout
    # This check binds no name, so it is no turn to undo.
    state = env_cli("run", "--json", "print(xs)\ntry:\n    fresh\nexcept NameError:\n    print('no fresh')")
    assert state["stdout"] == "[1]\nno fresh\n"
    env_cli("redo")
    assert env_cli("run", "--json", "(xs, fresh)")["result"] == "([1, 2], 'new')"


def test_fork_copies_the_state_after_a_turn_with_provenance(env_cli, run_cli) -> None:
    env_cli("run", "--new", "a = 1")
    env_cli("run", "a = 2\nb = 3")
    parent = env_cli("conversations", "--json")[0]["id"]
    done = env_cli("fork", "--at", "1")
    child = int(done.stdout.split(": conversation ", 1)[1].split()[0])
    assert child != parent and f"envloop use {parent}" in done.stdout
    assert env_cli("conversations", "--json")[0]["id"] == child  # the fork is the current conversation
    state = env_cli("run", "--json", "--conversation", str(child),
                    "try:\n    b\n    has = True\nexcept NameError:\n    has = False\n(a, has)")
    assert state["result"] == "(1, False)"
    chain = env_cli("why", "a", "--conversation", str(child), "--json")
    assert chain[1]["conversation_id"] == parent and chain[1]["version"] == 1
    listed = {c["id"]: c for c in env_cli("conversations", "--json")}
    assert listed[child]["parent_id"] == parent and listed[child]["fork_turn"] == 1
    assert env_cli("run", "--json", "--conversation", str(parent), "a")["result"] == "2"


def test_why_walks_back_to_the_turns_that_started_it(env_cli) -> None:
    env_cli("run", "--new", "rate = 0.1")
    env_cli("run", "prices = [10, 20]")
    env_cli("run", "taxed = [p * (1 + rate) for p in prices]")
    chain = env_cli("why", "taxed", "--json")
    assert [(c["name"], c["version"], c["depth"]) for c in chain] == [
        ("taxed", 1, 0), ("rate", 1, 1), ("prices", 1, 1)
    ]
    assert chain[0]["turn_text"].startswith("taxed =") and chain[0]["author"] == "user"
    assert chain[2]["block_source"] == "prices = [10, 20]"
    text = env_cli("why", "taxed").stdout
    assert "taxed v1" in text and "  prices v1" in text


def test_artifacts_are_versioned_by_content(env_cli, tmp_path: Path) -> None:
    env_cli("run", "--new", "save_artifact('report.txt', 'hello')\nsave_artifact('report.txt', 'hello')\n"
            "save_artifact('blob.bin', b'\\x00\\x01', media_type='application/octet-stream')")
    rows = {a["name"]: a for a in env_cli("artifacts", "--json")}
    assert rows["report.txt"]["version"] == 2 and rows["report.txt"]["media_type"] == "text/plain"
    assert rows["blob.bin"]["size"] == 2
    assert env_cli("artifact", "report.txt").stdout == "hello"
    out = tmp_path / "b.bin"
    env_cli("artifact", "blob.bin", "-o", str(out))
    assert out.read_bytes() == b"\x00\x01"
    loaded = env_cli("run", "--json", "summary = load_artifact('report.txt').upper()\n(summary, load_artifact('blob.bin'))")
    assert loaded["result"] == "('HELLO', b'\\x00\\x01')"
    assert env_cli("why", "summary", "--json")[0]["reads"] == ["artifact:blob.bin v1", "artifact:report.txt v2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("vars", "--conversation", "999"), "Error: no conversation 999"),
        (("history", "nope"), "Error: no name 'nope' in conversation"),
        (("rollback", "x", "7"), "Error: 'x' has no version 7 (versions 1 to 1)"),
        (("artifact", "missing.txt"), "Error: no artifact 'missing.txt'"),
        (("fork", "--at", "5"), "Error: conversation"),
    ],
)
def test_unknown_things_give_one_line_errors(env_cli, run_cli, args, message) -> None:
    env_cli("run", "--new", "x = 1")
    done = run_cli(*args)
    assert done.returncode == 1
    assert done.stderr.startswith(message) and len(done.stderr.strip().splitlines()) == 1


def test_commands_on_an_empty_database_say_there_is_no_conversation(run_cli) -> None:
    done = run_cli("vars")
    assert done.returncode == 1 and "no conversations yet" in done.stderr


def test_a_name_rebound_before_it_is_read_is_read_at_its_new_version(env_cli) -> None:
    env_cli("run", "--new", "rate = 0.2\nbase = 100")
    env_cli("run", "rate = 0.1\ntotal = base * (1 + rate)\nbase = base + 0")
    chain = env_cli("why", "total", "--json")
    assert chain[0]["reads"] == ["base v1", "rate v2"]  # the rate this block wrote, the value actually used
