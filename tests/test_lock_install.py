"""The README's install never resolves anything: it installs exactly the hash-checked lock.

Two halves, both without a network:

* the lock files are closed: every requirement of every locked package (with the
  extras asked for, under this interpreter's markers) is met by a pin in the
  same lock, so installing them with ``--no-deps`` leaves nothing missing;
* the README's pip flags, run by the stock pip of a fresh ``python3.11 -m venv``
  against a local wheel directory where a newer release of a dependency has
  appeared, install the pinned one. The same directory without ``--no-deps``
  reproduces the break that made this test (pip re-resolving an extra and
  refusing the unpinned result), so the test can fail.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _pins(lock: Path) -> dict[str, str]:
    return {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", lock.read_text(), flags=re.M)
    }


def _project_requirements(extras: list[str]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    roots = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        roots += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return roots


def _unmet(roots: list[Requirement], pins: dict[str, str]) -> list[str]:
    """Walk requirements from the roots through installed metadata; list any the lock does not meet."""
    base_env = {k: str(v) for k, v in default_environment().items()}
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    todo: list[tuple[Requirement, str]] = [(r, "pyproject") for r in roots]
    while todo:
        req, why = todo.pop()
        name = canonicalize_name(req.name)
        if req.marker and not any(req.marker.evaluate({**base_env, "extra": e}) for e in ("", *_extras_of(why))):
            continue
        if name not in pins:
            problems.append(f"{req} (needed by {why}) is not in the lock")
            continue
        if not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req} (needed by {why}) is not met by the pinned {name}=={pins[name]}")
        for extra in sorted(req.extras) or [""]:
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            for raw in metadata.requires(name) or []:
                sub = Requirement(raw)
                env = {**base_env, "extra": extra}
                if sub.marker is None or sub.marker.evaluate(env):
                    sub.marker = None
                    todo.append((sub, f"{name}[{extra}]" if extra else name))
    return problems


def _extras_of(why: str) -> list[str]:
    return re.findall(r"\[(.+)\]", why)


@pytest.mark.parametrize(("lock", "extras"), [("requirements.lock", ["setup"]),
                                              ("requirements-dev.lock", ["setup", "dev"])])
def test_the_lock_is_closed(lock: str, extras: list[str]) -> None:
    pins = _pins(ROOT / lock)
    assert _unmet(_project_requirements(extras), pins) == []


def test_the_readme_installs_the_lock_without_resolving() -> None:
    readme = (ROOT / "README.md").read_text()
    for command in re.findall(r"```sh\n(python3\.11 -m venv .+?)\n```", readme):
        installs = [part.strip() for part in command.split("&&") if " install " in part and "-r " in part]
        assert installs and all("--no-deps" in part and "--require-hashes" in part for part in installs), command


# --- a fresh venv, its stock pip, a local index where a newer dependency appeared -------------


def _wheel(directory: Path, name: str, version: str, requires: list[str]) -> Path:
    """Write a minimal pure-Python wheel and return its path."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {name}\nVersion: {version}\n"
        "Provides-Extra: fast\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: envloop-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    target = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return target


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def stock_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the pip that ``python3.11 -m venv`` brings (never upgraded)."""
    venv = tmp_path_factory.mktemp("venv") / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    return venv


def _readme_pip_flags() -> list[str]:
    """The flags of the README's lock install, e.g. ['--no-deps', '--require-hashes']."""
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"```sh\n(python3\.11 -m venv .+?)\n```", readme)
    assert command
    part = next(p for p in command.group(1).split("&&") if "-r requirements" in p)
    words = shlex.split(part)
    return [w for w in words[words.index("install") + 1:] if w.startswith("--")]


def _install(venv: Path, flags: list[str], lock: Path, wheels: Path, target: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(
        [str(venv / "bin" / "pip"), "install", *flags, "-r", str(lock), "--no-index", "--find-links", str(wheels),
         "--target", str(target)],
        capture_output=True, text=True, env=env, check=False,
    )


def test_stock_pip_installs_exactly_the_pins_when_a_newer_release_appears(stock_venv: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    app = _wheel(wheels, "envlooptestapp", "1.0", ["envlooptestdep[fast]>=1.0,<3"])
    dep = _wheel(wheels, "envlooptestdep", "1.0", [])
    _wheel(wheels, "envlooptestdep", "2.0", [])  # published after the lock was made
    lock = tmp_path / "requirements.lock"
    lock.write_text(
        f"envlooptestapp==1.0 \\\n    --hash=sha256:{_sha256(app)}\n"
        f"envlooptestdep==1.0 \\\n    --hash=sha256:{_sha256(dep)}\n"
    )
    flags = _readme_pip_flags()
    done = _install(stock_venv, flags, lock, wheels, tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    installed = sorted(p.name for p in (tmp_path / "site").glob("*.dist-info"))
    assert installed == ["envlooptestapp-1.0.dist-info", "envlooptestdep-1.0.dist-info"]

    # The control: the flags the README had before resolve the extra again and fail.
    old = _install(stock_venv, [f for f in flags if f != "--no-deps"], lock, wheels, tmp_path / "old")
    assert old.returncode != 0 and "must have their versions pinned" in old.stdout + old.stderr
