"""ruff and mypy run with the tests and must report nothing.

Rules are in pyproject.toml ([tool.ruff], [tool.mypy]): ruff's rule set is
pycodestyle, pyflakes, import sorting, bugbear, pyupgrade and simplify; mypy is
strict on the core (``envloop/``) and in its default mode on ``channels/``,
``extensions/`` and ``migrations/``.

mypy cannot follow setuptools' ``package-dir`` mapping (``channels/`` is
installed as ``envloop.channels``), so the check lays the package out as it is
installed — a tree of symlinks in a temporary folder — and checks
``-p envloop`` there; findings are reported with the repository's paths.

Run it alone with ``python tests/test_lint.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.exists() else (shutil.which(name) or name)


def _staged_layout(into: Path) -> Path:
    """``into/envloop`` laid out as installed, every file a symlink into the repository."""
    pkg = into / "envloop"
    pkg.mkdir()
    for entry in (ROOT / "envloop").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    for dotted, folder in _package_dirs().items():
        (pkg / dotted.split(".", 1)[1]).symlink_to(ROOT / folder)
    return pkg


def run_mypy() -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as tmp:
        _staged_layout(Path(tmp))
        done = subprocess.run(
            [_tool("mypy"), "--config-file", str(ROOT / "pyproject.toml"), "--no-incremental", "-p", "envloop"],
            cwd=tmp, capture_output=True, text=True, check=False,
        )
    mapping = {f"envloop/{d.split('.', 1)[1]}/": f"{f}/" for d, f in _package_dirs().items()}
    out = done.stdout
    for staged, real in mapping.items():
        out = out.replace(staged, real)
    return subprocess.CompletedProcess(done.args, done.returncode, out, done.stderr)


def _package_dirs() -> dict[str, str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(pyproject["tool"]["setuptools"]["package-dir"])


def run_ruff() -> subprocess.CompletedProcess[str]:
    return subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True,
                          check=False)


def test_ruff_reports_nothing() -> None:
    done = run_ruff()
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_reports_nothing() -> None:
    done = run_mypy()
    assert done.returncode == 0 and "error" not in done.stdout, done.stdout + done.stderr
    assert "note: unused section" not in done.stdout + done.stderr, done.stdout + done.stderr


if __name__ == "__main__":
    os.chdir(ROOT)
    status = 0
    for check in (run_ruff, run_mypy):
        result = check()
        sys.stdout.write(result.stdout + result.stderr)
        status = status or result.returncode
    sys.exit(status)
