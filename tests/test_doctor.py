"""``envloop doctor`` as a user runs it: on a fresh database, on one with data, and with things missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envloop.conversation import Envloop


def doctor(run_cli, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, dict[str, str]]]:
    done = run_cli("doctor", "--json", *args, env=env)
    data = json.loads(done.stdout)
    assert data["ok"] == (done.returncode == 0)
    return done.returncode, {c["name"]: c for c in data["checks"]}


def test_fresh_database(run_cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ENVLOOP_MODEL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    code, checks = doctor(run_cli)
    assert code == 0
    assert checks["python"]["status"] == "ok" and "3.11" in checks["python"]["detail"]
    assert checks["dependencies"]["status"] == "ok" and "SQLAlchemy" in checks["dependencies"]["detail"]
    assert "revision" in checks["database"]["detail"] and "at head" in checks["database"]["detail"]
    assert checks["conversations"]["detail"] == "none yet"
    assert checks["sandbox"]["status"] in ("ok", "warn") and "seccomp" in checks["sandbox"]["detail"]
    assert checks["model"]["status"] == "warn" and "ENVLOOP_MODEL" in checks["model"]["detail"]
    assert {"chromium", "postgresql"} <= set(checks)
    table = run_cli("doctor", "--no-sandbox")
    assert table.returncode == 0 and "conversations" in table.stdout and "sandbox" not in table.stdout


def test_existing_database_sizes_and_channels(run_cli, data_home: Path) -> None:
    assert run_cli("run", "--new", "xs = list(range(1000))").returncode == 0
    with Envloop.open(str(data_home / "envloop" / "envloop.db")) as app:
        app.open_conversation(channel="telegram", external_id="42")
    code, checks = doctor(run_cli, "--no-sandbox")
    assert checks["conversations"]["detail"] == "cli 1, telegram 1"
    assert "1 versions" in checks["sizes"]["detail"] and "kB on disk" in checks["sizes"]["detail"]


def test_model_key_is_checked_never_shown(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, checks = doctor(run_cli, "--no-sandbox", env={"ENVLOOP_MODEL": "gpt-4o-mini"})
    assert code == 1
    assert checks["model key"]["status"] == "fail" and "OPENAI_API_KEY" in checks["model key"]["detail"]
    secret = "sk-doctor-test-0123456789abcdefSECRET"
    done = run_cli("doctor", "--no-sandbox", env={"ENVLOOP_MODEL": "gpt-4o-mini", "OPENAI_API_KEY": secret})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "present" in done.stdout and secret not in done.stdout + done.stderr


def test_missing_things_fail(run_cli, tmp_path: Path) -> None:
    code, checks = doctor(run_cli, "--no-sandbox", env={"ENVLOOP_MODEL": f"replay:{tmp_path / 'gone.json'}"})
    assert code == 1 and checks["model"]["status"] == "fail" and "missing" in checks["model"]["detail"]
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"this is not a database" * 100)
    code, checks = doctor(run_cli, "--no-sandbox", env={"ENVLOOP_DB": str(bad)})
    assert code == 1 and checks["database"]["status"] == "fail"


def test_each_back_end(run_cli, db_url: str) -> None:
    assert run_cli("--db", db_url, "run", "--new", "x = 1").returncode == 0
    code, checks = doctor(run_cli, "--no-sandbox", env={"ENVLOOP_DB": db_url})
    assert checks["database"]["status"] == "ok" and "at head" in checks["database"]["detail"]
    assert "password" not in checks["database"]["detail"].lower() or "***" in checks["database"]["detail"]
    assert checks["conversations"]["detail"] == "cli 1" and "on disk" in checks["sizes"]["detail"]
