"""Shared fixtures: an isolated data folder per test and a runner for the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ENVLOOP = str(Path(sys.executable).with_name("envloop"))


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
