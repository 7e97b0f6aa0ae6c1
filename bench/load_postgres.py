"""Load and fault proof on PostgreSQL: several envloop processes on one database.

Three runs, each against a throwaway PostgreSQL server (tests/pgserver.py):

1. load: P processes all run B blocks on each of the same C conversations at
   once (``n = n + 1; log.append(n)``).  Then: the version numbers of ``n`` in
   every conversation are 1..K with none lost, duplicated or skipped, every
   block a process saw committed is stored, ``n`` equals the number of
   committed blocks, and every process's live namespace, a fresh process's
   restored one and the stored newest version agree.
2. kills: a victim and a survivor work on one conversation; the victim is
   SIGKILLed mid-block K times.  Measured: how long until the survivor ran its
   next block (the lock must pass at once, far inside the 30 s lease); every
   version the victim reported committed is still there.
3. restart: P processes run blocks while the server is restarted; each
   reports the one-line error it got, reconnects and carries on; nothing
   reported committed is lost, the numbers are still contiguous.

Run: ``.venv/bin/python bench/load_postgres.py`` (full size: 4 × 25 × 20,
10 kills, 1 restart; a few minutes) or ``--quick``.  tests/test_postgres_load.py
runs the same functions at a small size.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from envloop.conversation import Envloop
from envloop.store.models import DefinitionVersion

ROOT = Path(__file__).resolve().parent.parent

DRIVER = r"""
import json, sys, time
from envloop.conversation import Envloop
from envloop.errors import EnvloopError
url, cids, rounds, code = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
app = Envloop.open(url)
print(json.dumps({"ready": True}), flush=True)
for _ in range(rounds):
    for cid in cids:
        while True:
            try:
                report = app.run_code(code, conversation_id=cid)
            except EnvloopError as exc:
                print(json.dumps({"error": str(exc), "cid": cid, "t": time.time()}), flush=True)
                time.sleep(0.2)
                continue
            mine = [v for name, v, _ in report.outcome.changed if name == "n"]
            print(json.dumps({"cid": cid, "n": mine, "ok": report.outcome.result.ok,
                              "err": report.outcome.result.error, "t": time.time()}), flush=True)
            break
print(json.dumps({"rounds_done": True}), flush=True)
sys.stdin.readline()  # every process has finished its rounds: now compare namespaces
final = {}
for cid in cids:
    while True:
        try:
            final[cid] = app.run_code("(n, log == list(range(1, n + 1)))", conversation_id=cid).outcome.result.result
            break
        except EnvloopError:
            time.sleep(0.2)
print(json.dumps({"final": final}), flush=True)
app.close()
"""

COUNT = "n = n + 1\nlog.append(n)"
SLOW_COUNT = "import time\ntime.sleep(0.05)\nn = n + 1\nlog.append(n)"


def load_pgserver() -> Any:
    spec = importlib.util.spec_from_file_location("pgserver", ROOT / "tests" / "pgserver.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pgserver"] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Driver:
    """One envloop process running blocks, and what it reported, line by line."""

    proc: subprocess.Popen[str]
    stderr: Any = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    reader: threading.Thread | None = None

    def error_output(self) -> str:
        self.stderr.seek(0)
        return str(self.stderr.read())[-2000:]

    @classmethod
    def start(cls, url: str, cids: list[int], rounds: int, code: str) -> Driver:
        stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 - lives as long as the driver; never an unread pipe
        proc = subprocess.Popen([sys.executable, "-c", DRIVER, url, json.dumps(cids), str(rounds), code],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True)
        driver = cls(proc, stderr=stderr)
        driver.reader = threading.Thread(target=driver._read, daemon=True)
        driver.reader.start()
        return driver

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(line.get("ready") for line in self.lines):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"driver did not start: {self.error_output()}")
            time.sleep(0.02)

    def finish(self, timeout: float = 900) -> None:
        self.proc.wait(timeout)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        if self.reader is not None:
            self.reader.join(30)
        if self.proc.returncode not in (0, -signal.SIGKILL):
            raise RuntimeError(f"driver failed ({self.proc.returncode}): {self.error_output()}")

    def committed(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for line in self.lines:
            if "n" in line:
                out.setdefault(line["cid"], []).extend(line["n"])
        return out

    def wait_blocks(self, count: int, timeout: float = 120) -> None:
        """Until this driver reported ``count`` committed blocks."""
        deadline = time.monotonic() + timeout
        while sum(1 for line in list(self.lines) if "n" in line) < count:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"driver ran no block: {self.error_output()}")
            time.sleep(0.01)

    def wait_rounds(self, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while not any(line.get("rounds_done") for line in self.lines):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"driver stopped before finishing its rounds: {self.error_output()}")
            time.sleep(0.05)

    @property
    def errors(self) -> list[str]:
        return [line["error"] for line in self.lines if "error" in line]

    @property
    def final(self) -> dict[int, str]:
        for line in self.lines:
            if "final" in line:
                return {int(k): v for k, v in line["final"].items()}
        return {}


def finish_all(drivers: list[Driver]) -> None:
    """Wait until every driver ran its rounds, then let them all compare namespaces and exit."""
    for driver in drivers:
        driver.wait_rounds()
    for driver in drivers:
        assert driver.proc.stdin is not None
        driver.proc.stdin.write("go\n")
        driver.proc.stdin.flush()
    for driver in drivers:
        driver.finish()


def _stored_numbers(app: Envloop, cid: int) -> list[int]:
    with app.database.session() as session:
        return list(session.scalars(
            select(DefinitionVersion.version)
            .where(DefinitionVersion.conversation_id == cid, DefinitionVersion.name == "n")
            .order_by(DefinitionVersion.version)
        ))


def _new_conversations(url: str, count: int) -> list[int]:
    with Envloop.open(url) as app:
        return [app.run_code("n = 0\nlog = []", new=True).conversation_id for _ in range(count)]


def check_consistency(url: str, cids: list[int], drivers: list[Driver]) -> dict[str, Any]:
    """Every invariant of the run; returns the figures, raises AssertionError on a violation."""
    problems: list[str] = []
    total_versions = 0
    with Envloop.open(url) as app:
        for cid in cids:
            numbers = _stored_numbers(app, cid)
            total_versions += len(numbers)
            if numbers != list(range(1, len(numbers) + 1)):
                problems.append(f"conversation {cid}: version numbers not 1..{len(numbers)}: {numbers[:10]}…")
            reported = [v for d in drivers for v in d.committed().get(cid, [])]
            if len(reported) != len(set(reported)):
                problems.append(f"conversation {cid}: a version number was reported twice")
            missing = set(reported) - set(numbers)
            if missing:
                problems.append(f"conversation {cid}: committed versions lost: {sorted(missing)}")
            fresh = app.run_code("(n, log == list(range(1, n + 1)))", conversation_id=cid).outcome.result.result
            expected = f"({len(numbers) - 1}, True)"
            if fresh != expected:
                problems.append(f"conversation {cid}: restored namespace {fresh}, stored state {expected}")
            for driver in drivers:
                seen = driver.final.get(cid)
                if seen is not None and seen != expected:
                    problems.append(f"conversation {cid}: a process's live namespace {seen} != stored {expected}")
        with app.database.session() as session:
            all_versions = session.scalar(select(func.count(DefinitionVersion.id)))
    assert not problems, "\n".join(problems[:20])
    return {"versions_of_n": total_versions, "rows": all_versions}


def run_load(server: Any, processes: int, conversations: int, blocks: int) -> dict[str, Any]:
    url = server.create_database("load")
    cids = _new_conversations(url, conversations)
    drivers = [Driver.start(url, cids, blocks, COUNT) for _ in range(processes)]
    for driver in drivers:
        driver.wait_ready()
    started = time.monotonic()
    for driver in drivers:
        driver.wait_rounds()
    seconds = time.monotonic() - started
    finish_all(drivers)
    figures = check_consistency(url, cids, drivers)
    ran = sum(1 for d in drivers for line in d.lines if "n" in line)
    failed = [line["err"] for d in drivers for line in d.lines if "n" in line and not line["ok"]]
    assert not failed, f"blocks failed: {failed[:3]}"
    assert ran == processes * conversations * blocks, (ran, processes * conversations * blocks)
    errors = [e for d in drivers for e in d.errors]
    return {"processes": processes, "conversations": conversations, "blocks_each": blocks, "blocks": ran,
            "seconds": round(seconds, 1), "blocks_per_s": round(ran / seconds, 1), "busy_errors": len(errors),
            **figures}


def run_kills(server: Any, kills: int, seed: int = 17) -> dict[str, Any]:
    url = server.create_database("kills")
    [cid] = _new_conversations(url, 1)
    rng = random.Random(seed)
    survivor = Driver.start(url, [cid], 100_000, COUNT)
    survivor.wait_ready()
    victims: list[Driver] = []
    takeovers: list[float] = []
    for _ in range(kills):
        victim = Driver.start(url, [cid], 100_000, SLOW_COUNT)
        victim.wait_ready()
        victim.wait_blocks(1)  # it runs blocks now (each sleeps 50 ms): the kill lands mid-block
        time.sleep(rng.uniform(0.0, 0.1))
        killed_at = time.time()
        os.kill(victim.proc.pid, signal.SIGKILL)
        victim.finish()
        victims.append(victim)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            after = [line["t"] for line in list(survivor.lines) if "n" in line and line["t"] > killed_at]
            if after:
                takeovers.append(after[0] - killed_at)
                break
            time.sleep(0.005)
        else:
            raise AssertionError("the survivor never took the conversation over after a kill")
    os.kill(survivor.proc.pid, signal.SIGKILL)
    survivor.finish()
    figures = check_consistency(url, [cid], [survivor, *victims])
    victim_blocks = sum(1 for v in victims for line in v.lines if "n" in line)
    return {"kills": kills, "takeover_ms_median": round(statistics.median(takeovers) * 1000, 1),
            "takeover_ms_max": round(max(takeovers) * 1000, 1), "lock_lease_s": 30,
            "victim_blocks_committed": victim_blocks, **figures}


def run_restart(server: Any, processes: int, conversations: int, blocks: int, mode: str = "fast") -> dict[str, Any]:
    url = server.create_database("restart")
    cids = _new_conversations(url, conversations)
    drivers = [Driver.start(url, cids, blocks, SLOW_COUNT) for _ in range(processes)]
    for driver in drivers:
        driver.wait_ready()
    for driver in drivers:
        driver.wait_blocks(2)
    before = sum(1 for d in drivers for line in list(d.lines) if "n" in line)
    restart_started = time.time()
    server.restart(mode)  # fast: sessions ended cleanly; immediate: a crash (recovery from the WAL)
    restart_seconds = time.time() - restart_started
    finish_all(drivers)
    figures = check_consistency(url, cids, drivers)
    errors = [e for d in drivers for e in d.errors]
    resumed = [min((line["t"] for line in d.lines if "n" in line and line["t"] > restart_started), default=None)
               for d in drivers]
    assert all(t is not None for t in resumed), "a process never carried on after the restart"
    assert errors, "a server restart mid-run should be reported"
    assert all("\n" not in e and e.startswith("database ") or "busy" in e or "lost its lock" in e
               for e in errors), errors
    return {"mode": mode, "blocks_before_restart": before, "restart_s": round(restart_seconds, 2),
            "errors_reported": len(errors), "distinct_errors": sorted({_shape(e) for e in errors}),
            "resumed_after_s": round(max(t for t in resumed if t is not None) - restart_started, 2), **figures}


def _shape(error: str) -> str:
    """An error line with the database URL cut, to group them."""
    return error.split(": ", 1)[1][:120] if error.startswith("database ") else error[:120]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run (smoke test, not the proof)")
    parser.add_argument("--only", choices=["load", "kills", "restart"], help="one of the three runs")
    parser.add_argument("--restart-mode", choices=["fast", "immediate"], default="fast",
                        help="how the server stops: fast (clean) or immediate (a crash)")
    args = parser.parse_args()
    pgserver = load_pgserver()
    try:
        server = pgserver.PgServer().start()
    except pgserver.PgUnavailable as exc:
        print(f"load_postgres: skipped: {exc}")
        return 0
    try:
        size = (2, 3, 4) if args.quick else (4, 25, 20)
        if args.only in (None, "load"):
            print("load   ", json.dumps(run_load(server, *size)), flush=True)
        if args.only in (None, "kills"):
            print("kills  ", json.dumps(run_kills(server, 3 if args.quick else 10)), flush=True)
        if args.only in (None, "restart"):
            print("restart", json.dumps(run_restart(server, 2 if args.quick else 4, 3 if args.quick else 10,
                                                    4 if args.quick else 10, args.restart_mode)), flush=True)
    finally:
        server.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
