"""Shared fixtures: an isolated data folder per test and a runner for the real CLI."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ENVLOOP = str(Path(sys.executable).with_name("envloop"))


def _load_pgserver():
    spec = importlib.util.spec_from_file_location("pgserver", Path(__file__).with_name("pgserver.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["pgserver"] = module
    spec.loader.exec_module(module)
    return module


pgserver = _load_pgserver()
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """A throwaway PostgreSQL cluster for the whole run (initdb in a temp dir, a free port).

    Skips, saying why, when the server binaries or the psycopg driver are missing.
    """
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("PostgreSQL tests need psycopg: pip install 'envloop[postgres]'")
    try:
        server = pgserver.PgServer().start()
    except pgserver.PgUnavailable as exc:
        pytest.skip(f"no PostgreSQL server to test against: {exc}")
    yield server
    server.destroy()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database on each back end: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "envloop.db")
    return request.getfixturevalue("pg_server").create_database()


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh XDG_DATA_HOME, so the default database is a new file for each test."""
    home = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.delenv("ENVLOOP_DB", raising=False)
    return home


@pytest.fixture
def run_cli(data_home: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed ``envloop`` console script as a user would, in a scratch folder."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120, input: str | None = None):
        full_env = dict(os.environ)
        full_env.update(env or {})
        return subprocess.run(
            [ENVLOOP, *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=full_env,
            timeout=timeout,
            input=input,
        )

    return run


@pytest.fixture
def cli(run_cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``envloop ARGS`` on one scratch database, each call a new process.

    Asserts success unless ``ok=False``; with ``--json`` returns the parsed output.
    """
    monkeypatch.setenv("ENVLOOP_DB", str(tmp_path / "t.db"))

    def call(*args: str, ok: bool = True) -> Any:
        done = run_cli(*args)
        if ok:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return json.loads(done.stdout) if "--json" in args and done.returncode == 0 else done

    return call


OUTBOX_PLUGIN = '''
"""A test extension with one irreversible function: it "sends" by writing a file."""
from pathlib import Path
from envloop.extensions_api import HostFunction, hookimpl

OUTBOX = Path({outbox!r})

def send_message(ctx, to, text):
    if type(to) is not str or type(text) is not str:
        raise TypeError("send_message(to, text) takes two str")
    OUTBOX.write_text(f"{{to}}: {{text}}")
    return "sent"

@hookimpl
def envloop_functions():
    return [HostFunction("send_message", send_message, "irreversible", "Send a message to someone.",
                         "send_message(to: str, text: str) -> str")]
'''


class OutboxPlugin:
    """Where the test extension lives, the environment that loads it, and the file it writes."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "plugins"
        self.folder.mkdir()
        self.outbox = root / "outbox.txt"
        (self.folder / "outbox_plugin.py").write_text(OUTBOX_PLUGIN.format(outbox=str(self.outbox)))
        self.env = {"ENVLOOP_EXTENSIONS": "outbox_plugin", "PYTHONPATH": str(self.folder)}


@pytest.fixture
def outbox_plugin(tmp_path: Path) -> OutboxPlugin:
    """An irreversible extension function, send_message(to, text), for approval tests."""
    return OutboxPlugin(tmp_path)
