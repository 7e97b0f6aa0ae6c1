"""Durability: two processes on one conversation lose nothing; SIGKILL at any moment corrupts nothing.

Each test runs on SQLite and on a throwaway PostgreSQL server (the ``db_url`` fixture).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from envloop.conversation import Envloop
from envloop.store.db import Database, open_database
from envloop.store.models import Block, DefinitionVersion, Query

# A driver that runs blocks on one conversation in a loop, as a separate envloop process would.
DRIVER = """
import sys
from envloop.conversation import Envloop
db, cid, count, code = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
app = Envloop.open(db)
print("ready", flush=True)
for _ in range(count):
    report = app.run_code(code, conversation_id=cid)
    assert report.outcome.result.ok, report.outcome.result.error
app.close()
"""


def _start(db: str, cid: int, count: int, code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, db, str(cid), str(count), code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _count(store: Database, cid: int) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count(Block.id)).where(Block.conversation_id == cid)) or 0)


def _numbers(db: str, cid: int, name: str) -> list[int]:
    with Envloop.open(db) as app, app.database.session() as session:
        return list(
            session.scalars(
                select(DefinitionVersion.version)
                .where(DefinitionVersion.conversation_id == cid, DefinitionVersion.name == name)
                .order_by(DefinitionVersion.version)
            )
        )


@pytest.mark.slow
def test_two_processes_on_one_conversation_lose_no_write(db_url: str) -> None:
    db = db_url
    with Envloop.open(db) as app:
        cid = app.run_code("counter = 0", new=True).conversation_id
    per_process = 15
    procs = [_start(db, cid, per_process, "counter = counter + 1") for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert _numbers(db, cid, "counter") == list(range(1, 2 * per_process + 2))  # no duplicate, none skipped
    with Envloop.open(db) as app:
        assert app.run_code("counter", conversation_id=cid).outcome.result.result == str(2 * per_process)


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_a_consistent_database(db_url: str) -> None:
    db = db_url
    with Envloop.open(db) as app:
        cid = app.run_code("n = 0\nlog = []", new=True).conversation_id
    rng = random.Random(1234)
    block = "n = n + 1\nlog.append(n)\npad = 'x' * (1000 * (n % 7))"
    store = open_database(db)
    for _ in range(8):
        before = _count(store, cid)
        proc = _start(db, cid, 10_000, block)
        assert proc.stdout.readline().strip() == "ready"
        while _count(store, cid) == before:  # the kill lands while it runs blocks, however slow the machine
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.0))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        if "://" not in db:
            with sqlite3.connect(db) as raw:
                assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.dispose()
    numbers = _numbers(db, cid, "n")
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) > 8
    with Envloop.open(db) as app:
        report = app.run_code("(n, len(log), log[-1] == n, len(pad) == 1000 * (n % 7))", conversation_id=cid)
        assert report.outcome.result.result == f"({len(numbers) - 1}, {len(numbers) - 1}, True, True)"
        with app.database.session() as session:
            statuses = set(session.scalars(select(Query.status).where(Query.conversation_id == cid)))
    assert "running" not in statuses  # turns cut off by a kill became interrupted on the next open
    assert statuses <= {"done", "interrupted"}
