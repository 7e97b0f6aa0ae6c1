"""Everyday programs print exactly what plain CPython prints when run in the sandbox.

Each file in ``tests/fidelity/programs`` is a small, deterministic program of the
kind a model writes (data wrangling, text, dates, classes, the idioms the policy
extends RestrictedPython for).  The test runs it twice: as a script in a fresh
CPython process, and as one block of a fresh :class:`Interpreter` in this process,
and compares the printed output character for character.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROGRAMS = sorted((Path(__file__).parent / "fidelity" / "programs").glob("*.py"))


def test_there_are_at_least_a_hundred_programs():
    assert len(PROGRAMS) >= 100


def _cpython_stdout(path: Path, cwd: Path) -> str:
    """The program's output as a plain script (UTF-8 mode, isolated from the environment)."""
    proc = subprocess.run(
        [sys.executable, "-X", "utf8", "-I", str(path)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        cwd=cwd,
    )
    assert proc.returncode == 0, f"{path.name} fails in plain CPython:\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def interpreter_class():
    return pytest.importorskip("envloop.sandbox.interpreter").Interpreter


@pytest.mark.parametrize("path", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_program_prints_what_cpython_prints(path, interpreter_class, tmp_path):
    expected = _cpython_stdout(path, tmp_path)
    result = interpreter_class().run(path.read_text(encoding="utf-8"))
    assert result["error"] is None, f"{path.name} raised in the sandbox: {result['error']}"
    assert result["ok"] is True
    assert result["stdout"] == expected


_AFTER_PRELOAD = """
import json, sys
from pathlib import Path
from envloop.sandbox.interpreter import Interpreter
from envloop.sandbox.modules import preload

preload()
Interpreter().run("1 + 1")
before = set(sys.modules)
for path in sys.argv[1:]:
    Interpreter().run(Path(path).read_text(encoding="utf-8"))
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_programs_import_nothing_after_preload(interpreter_class, tmp_path):
    """A worker may open no file after the template's ``preload()``: nothing may be imported late."""
    proc = subprocess.run(
        [sys.executable, "-X", "utf8", "-c", _AFTER_PRELOAD, *map(str, PROGRAMS)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"imported after preload: {proc.stdout}"
