"""The CLI skeleton as a user meets it: help, version, db commands, listing, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from envloop import __version__
from envloop.conversation import Envloop
from envloop.store.db import HEAD_REVISION


def test_help_lists_the_commands(run_cli) -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    for word in ("--db", "ENVLOOP_DB", "db", "conversations", "--version"):
        assert word in done.stdout
    sub = run_cli("db", "--help")
    assert "upgrade" in sub.stdout and "current" in sub.stdout


def test_version(run_cli) -> None:
    done = run_cli("--version")
    assert done.returncode == 0 and __version__ in done.stdout


def test_fresh_default_database_is_created_and_at_head(run_cli, data_home: Path) -> None:
    done = run_cli("db", "current")
    assert done.returncode == 0, done.stderr
    db_path = data_home / "envloop" / "envloop.db"
    assert db_path.exists()
    assert done.stdout.strip() == f"{db_path}: revision {HEAD_REVISION} (head)"
    again = run_cli("db", "upgrade")
    assert again.returncode == 0 and f"already at revision {HEAD_REVISION}" in again.stdout


def test_conversations_json_lists_what_is_there(run_cli, data_home: Path) -> None:
    done = run_cli("conversations", "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == []
    with Envloop.open(str(data_home / "envloop" / "envloop.db")) as app:
        first = app.create_conversation(title="first")
        app.create_conversation(title="second", channel="telegram", external_id="42")
    listed = json.loads(run_cli("conversations", "--json").stdout)
    assert [c["title"] for c in listed] == ["second", "first"]
    assert listed[0]["channel"] == "telegram" and listed[0]["external_id"] == "42"
    assert listed[1]["id"] == first.id and listed[1]["turns"] == 0
    table = run_cli("conversations").stdout
    assert "first" in table and "second" in table


def test_db_flag_and_env_var_choose_the_database(run_cli, tmp_path: Path) -> None:
    flag_db = tmp_path / "flag.db"
    assert run_cli("--db", str(flag_db), "db", "current").returncode == 0
    assert flag_db.exists()
    env_db = tmp_path / "env.db"
    done = run_cli("db", "current", env={"ENVLOOP_DB": str(env_db)})
    assert done.returncode == 0 and str(env_db) in done.stdout


def test_corrupt_database_gives_one_line_error_and_exit_1(run_cli, tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"\x00garbage" * 512)
    for args in (("conversations",), ("db", "current"), ("conversations", "--json")):
        done = run_cli("--db", str(bad), *args)
        assert done.returncode == 1
        assert done.stderr.strip() == f"Error: database {bad}: file is not a database"
        assert "Traceback" not in done.stderr and done.stdout == ""


def test_unwritable_database_gives_one_line_error(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    assert run_cli("--db", str(path), "db", "current").returncode == 0
    done = run_cli("--db", f"sqlite:///file:{path}?mode=ro&uri=true", "conversations")
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "readonly" in done.stderr and str(path) in done.stderr
