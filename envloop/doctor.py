"""``envloop doctor``: what this installation has, and what it lacks, in one look.

Each check says ok, warn (works, but not fully), fail (something needed is
missing: the command exits non-zero) or info (optional, for the test suite).
Secrets are never shown: for the model's key only whether it is present.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from envloop import __version__

__all__ = ["Check", "run_checks"]

Status = Literal["ok", "warn", "fail", "info"]


@dataclass
class Check:
    name: str
    status: Status
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _python() -> Check:
    version = platform.python_version()
    status: Status = "ok" if sys.version_info >= (3, 11) else "fail"
    return Check("python", status, f"{version} ({sys.executable})" + ("" if status == "ok" else "; needs 3.11+"))


def _requirements() -> list[tuple[str, str]]:
    """envloop's own runtime requirements (name, specifier), as installed metadata declares them."""
    found = []
    for line in importlib.metadata.requires("envloop") or []:
        if "extra ==" in line:
            continue
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*([^;]*)", line)
        if match:
            found.append((match.group(1), match.group(2).strip()))
    return found


def _dependencies() -> Check:
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:  # pragma: no cover - packaging comes with every pip install
        SpecifierSet = None  # type: ignore[assignment,misc]
    shown, missing, wrong = [], [], []
    for name, spec in _requirements():
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
            continue
        shown.append(f"{name} {version}")
        if spec and SpecifierSet is not None and not SpecifierSet(spec).contains(version, prereleases=True):
            wrong.append(f"{name} {version} (wants {spec})")
    if missing or wrong:
        return Check("dependencies", "fail", "; ".join(
            ([f"missing: {', '.join(missing)}"] if missing else []) + ([f"wrong: {', '.join(wrong)}"] if wrong else [])
        ) + " — reinstall from requirements.lock")
    return Check("dependencies", "ok", ", ".join(shown) or "(none declared)")


def _database(db: str | None, facts: dict[str, Any]) -> list[Check]:
    from sqlalchemy import func, select

    from envloop.store import retention
    from envloop.store.db import HEAD_REVISION, open_database
    from envloop.store.models import Blob, Conversation, DefinitionVersion

    try:
        database = open_database(db)  # as every command does: a new database is created, an old one upgraded
    except Exception as exc:  # an unreadable or corrupt database is the finding, not a crash
        return [Check("database", "fail", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)]
    try:
        revision = database.current_revision()
        state = "at head" if revision == HEAD_REVISION else f"head is {HEAD_REVISION}; opening it upgrades"
        checks = [Check("database", "ok" if revision == HEAD_REVISION else "warn",
                        f"{database.location} (revision {revision or '(empty)'}, {state})")]
        if revision != HEAD_REVISION:
            return checks
        with database.session() as session:
            channels = dict(session.execute(
                select(Conversation.channel, func.count()).group_by(Conversation.channel)).all())
            blobs, blob_bytes = session.execute(
                select(func.count(), func.coalesce(func.sum(Blob.size), 0)).select_from(Blob)).one()
            versions = session.scalar(select(func.count()).select_from(DefinitionVersion))
        size = retention.database_bytes(database)
        facts.update(database_bytes=size, blobs=blobs, blob_bytes=blob_bytes, versions=versions, channels=channels)
        checks.append(Check("sizes", "ok", f"{_human(size)} on disk; {versions} versions; {blobs} blobs, "
                                           f"{_human(int(blob_bytes))}"))
        listed = ", ".join(f"{name} {n}" for name, n in sorted(channels.items())) or "none yet"
        checks.append(Check("conversations", "ok", listed))
        return checks
    finally:
        database.dispose()


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def _sandbox() -> Check:
    from envloop.sandbox import Sandbox

    with tempfile.TemporaryDirectory(prefix="envloop-doctor-") as folder:
        try:
            sandbox = Sandbox(Path(folder), timeout=20)
        except Exception as exc:
            return Check("sandbox", "fail", f"a worker cannot start: {exc}")
        try:
            result = sandbox.run("6 * 7")
            filtered = sandbox.seccomp
        finally:
            sandbox.close()
    if not result.ok or result.result != "42":
        return Check("sandbox", "fail", f"a worker started but could not run code: {result.error}")
    if not filtered:
        return Check("sandbox", "warn", "workers run, but the seccomp filter is not active (this kernel or "
                                        "container refuses it); RestrictedPython and rlimits still apply")
    return Check("sandbox", "ok", "a worker runs code; seccomp filter active")


def _model() -> list[Check]:
    from envloop.llm import resolve_model_name

    try:
        name = resolve_model_name(None)
    except Exception as exc:
        return [Check("model", "fail", str(exc).splitlines()[0])]
    if name is None:
        return [Check("model", "warn", "none configured: set ENVLOOP_MODEL or model = \"...\" in config.toml "
                                       "(the chat, run and the other commands work without one)")]
    if name.startswith("replay:"):
        path = Path(name.removeprefix("replay:").split("?", 1)[0])
        ok = path.is_file()
        return [Check("model", "ok" if ok else "fail", f"{name} (replay file {'found' if ok else 'missing'})")]
    from envloop.llm.litellm_client import load_litellm

    try:
        found = load_litellm().validate_environment(model=name)
        missing = [str(k) for k in found.get("missing_keys") or []]
    except Exception as exc:  # litellm does not know the model: say so, without guessing a key
        return [Check("model", "warn", f"{name} (litellm cannot tell which key it needs: {exc})")]
    if missing:
        return [Check("model", "ok", name), Check("model key", "fail", f"not set: {', '.join(missing)}")]
    return [Check("model", "ok", name), Check("model key", "ok", "present (its value is never shown)")]


def _optional() -> list[Check]:
    chromium = os.environ.get("ENVLOOP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    checks = [Check("chromium", "info", f"{chromium}: the browser tests run" if chromium else
                    "not found: the browser tests are skipped (apt-get install chromium)")]
    pg = os.environ.get("ENVLOOP_PG_BIN") or next(
        (str(p.parent) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                                         key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
                                         reverse=True)), None
    ) or (str(Path(found).parent) if (found := shutil.which("initdb")) else None)
    checks.append(Check("postgresql", "info", f"server binaries in {pg}: the PostgreSQL tests run" if pg else
                        "server binaries (initdb) not found: the PostgreSQL tests are skipped"))
    try:
        checks.append(Check("psycopg", "info", f"driver {importlib.metadata.version('psycopg')}"))
    except importlib.metadata.PackageNotFoundError:
        checks.append(Check("psycopg", "info", "driver not installed: PostgreSQL URLs cannot be used"))
    return checks


def run_checks(db: str | None = None, *, sandbox: bool = True,
               progress: Callable[[Check], None] | None = None) -> tuple[list[Check], dict[str, Any]]:
    """Every check in order (each reported to ``progress`` as it finishes), and the raw facts found."""
    facts: dict[str, Any] = {"envloop": __version__}
    checks: list[Check] = []

    def add(*found: Check) -> None:
        for check in found:
            checks.append(check)
            if progress is not None:
                progress(check)

    add(_python(), Check("envloop", "ok", __version__), _dependencies())
    add(*_database(db, facts))
    if sandbox:
        add(_sandbox())
    add(*_model())
    add(*_optional())
    return checks, facts
