"""The package layout: every folder declared, namespaced under envloop, in editable and wheel installs."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"channels": "envloop.channels", "extensions": "envloop.extensions", "migrations": "envloop.migrations"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _package_folders() -> set[str]:
    """Dotted names of every folder holding Python code, as they are installed."""
    found = set()
    for top in ("envloop", *MAPPED):
        for path in (ROOT / top).rglob("*.py"):
            rel = path.parent.relative_to(ROOT)
            if "__pycache__" in rel.parts:
                continue
            dotted = ".".join(rel.parts)
            first = rel.parts[0]
            found.add(MAPPED[first] + dotted[len(first):] if first in MAPPED else dotted)
    return found


def test_every_package_folder_is_declared() -> None:
    declared = set(_pyproject()["tool"]["setuptools"]["packages"])
    assert _package_folders() <= declared, "undeclared package folders would be missing from the wheel"
    for folder in _package_folders():
        installed_path = folder
        for top, dotted in MAPPED.items():
            installed_path = installed_path.replace(dotted, top, 1)
        assert (ROOT / installed_path.replace(".", "/") / "__init__.py").exists(), folder


def test_mapped_folders_use_package_dir() -> None:
    assert _pyproject()["tool"]["setuptools"]["package-dir"] == {v: k for k, v in MAPPED.items()}


def test_tests_are_not_a_package_and_use_importlib_mode() -> None:
    assert not (ROOT / "tests" / "__init__.py").exists()
    assert "--import-mode=importlib" in _pyproject()["tool"]["pytest"]["ini_options"]["addopts"]


def _imports_in(python: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = (
        "import importlib.util, envloop.channels, envloop.extensions, envloop.migrations\n"
        "print([importlib.util.find_spec(n) is None for n in ('channels', 'extensions', 'migrations')])"
    )
    return subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=cwd)


def test_editable_install_namespaces_the_mapped_folders(tmp_path: Path) -> None:
    done = _imports_in(sys.executable, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[True, True, True]"


@pytest.mark.slow
def test_built_wheel_installs_only_the_envloop_namespace(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("envloop-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"envloop"}
    for expected in (
        "envloop/channels/__init__.py",
        "envloop/extensions/__init__.py",
        "envloop/migrations/env.py",
        "envloop/migrations/script.py.mako",
        "envloop/migrations/versions/0001_initial_schema.py",
    ):
        assert expected in names
    # Install the wheel alone into a fresh environment and import the mapped packages.
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    python = str(target / "bin" / "python")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    done = _imports_in(python, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[True, True, True]"
