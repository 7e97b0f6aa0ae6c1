"""PostgreSQL as the shared store: types, the advisory lock, live updates, CLI commands.

Each test runs against a real server (the session's throwaway cluster, see
tests/pgserver.py); the lock and live-update tests run on SQLite too, where
the same promises hold by other means (a row lease, polling).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import select, text

from envloop.conversation import Envloop
from envloop.errors import ConversationBusyError
from envloop.store.db import open_database
from envloop.store.locks import ConversationLock
from envloop.store.models import Block
from envloop.store.watch import Watcher

HOLDER = """
import sys, time
from envloop.store.db import open_database
from envloop.store.locks import ConversationLock
lock = ConversationLock(open_database(sys.argv[1]), int(sys.argv[2]))
lock.acquire(wait=10)
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def pg_url(pg_server) -> str:
    return pg_server.create_database()


def test_columns_use_postgresql_types(pg_url: str) -> None:
    db = open_database(pg_url)
    with db.engine.connect() as conn:
        types = dict(conn.execute(text(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        )).all())
    db.dispose()
    assert types["blobs.data"] == "bytea" and types["blobs.size"] == "bigint"
    assert types["definition_versions.size"] == "bigint" and types["blocks.stdout"] == "text"
    assert types["conversations.created_at"] == "timestamp without time zone"


def test_large_values_and_nul_in_output_are_stored(pg_url: str) -> None:
    # PostgreSQL text cannot hold NUL; a block may print one. It is stored as U+FFFD.
    with Envloop.open(pg_url) as app:
        cid = app.run_code("big = bytes(range(256)) * 40000\nprint('a\\x00b')", new=True).conversation_id
    with Envloop.open(pg_url) as app:
        report = app.run_code("(len(big), big[:3], big[-1])", conversation_id=cid)
        assert report.outcome.result.result == "(10240000, b'\\x00\\x01\\x02', 255)"
        with app.database.session() as session:
            first = session.scalars(select(Block.stdout).where(Block.conversation_id == cid)).first()
    assert first == "a\ufffdb\n"


def _holder(url: str, cid: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, url, str(cid)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_killed_holder_releases_the_lock_at_once(db_url: str) -> None:
    db = open_database(db_url)
    with Envloop.open(db_url) as app:
        cid = app.create_conversation(title="shared").id
    proc = _holder(db_url, cid)
    try:
        lock = ConversationLock(db, cid, ttl=300)  # a lease would only lapse after 5 minutes
        with pytest.raises(ConversationBusyError, match=f"pid {proc.pid}"):
            lock.acquire(wait=0.3)
    finally:
        proc.kill()
        proc.wait()
    lock.acquire(wait=60)  # taken over long before the lease could lapse
    assert lock.held
    lock.release()
    db.dispose()


def test_a_waiter_gets_the_lock_when_the_holder_releases(db_url: str) -> None:
    db_a, db_b = open_database(db_url), open_database(db_url)
    with Envloop.open(db_url) as app:
        cid = app.create_conversation().id
    first, second = ConversationLock(db_a, cid), ConversationLock(db_b, cid)
    first.acquire()
    got = threading.Event()

    def wait_for_it() -> None:
        second.acquire(wait=60)
        got.set()

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    assert not got.wait(0.3)
    first.release()
    waiter.join(60)
    assert got.is_set() and second.held
    second.release()
    db_a.dispose()
    db_b.dispose()


def test_a_holder_that_lost_its_lock_stores_nothing_and_resyncs(pg_url: str) -> None:
    """The server drops a holder's lock connection mid-block (as a restart would): another
    process takes over; the first block's write is refused, and its namespace is rebuilt."""
    with Envloop.open(pg_url) as first, Envloop.open(pg_url) as second:
        cid = first.run_code("x = 1", new=True).conversation_id
        outcome: dict[str, BaseException | None] = {}

        def slow_block() -> None:
            try:
                first.run_code("import time\ntime.sleep(1.5)\nx = x + 10", conversation_id=cid)
                outcome["error"] = None
            except BaseException as exc:
                outcome["error"] = exc

        runner = threading.Thread(target=slow_block)
        runner.start()
        time.sleep(0.5)
        with first.database.engine.connect() as conn:
            dropped = conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "
                "WHERE locktype = 'advisory' AND objid = :cid AND granted"
            ), {"cid": cid}).scalar()
        assert dropped == 1
        assert second.run_code("x = 100", conversation_id=cid).outcome.result.ok
        runner.join(60)
        assert isinstance(outcome["error"], ConversationBusyError)
        assert "lost its lock" in str(outcome["error"])
        assert first.run_code("x", conversation_id=cid).outcome.result.result == "100"


def test_watcher_wakes_on_a_change_from_another_process_only_for_its_conversation(db_url: str) -> None:
    with Envloop.open(db_url) as app:
        cid = app.run_code("a = 1", new=True).conversation_id
        other = app.run_code("b = 1", new=True).conversation_id
        with Watcher(app.database, cid, poll=0.05) as watcher:
            assert watcher.wait(0.3) is False  # nothing happened
            code = f"from envloop.conversation import Envloop\nwith Envloop.open({db_url!r}) as a:\n"
            subprocess.run([sys.executable, "-c", code + f"    a.run_code('b = 2', conversation_id={other})"],
                           check=True)
            assert watcher.wait(0.5) is False  # another conversation changed, not this one
            subprocess.run([sys.executable, "-c", code + f"    a.run_code('a = 2', conversation_id={cid})"],
                           check=True)
            assert watcher.wait(30) is True
            assert watcher.wait(0.3) is False  # one change, reported once


def test_cli_commands_work_against_postgresql(pg_url: str, run_cli, tmp_path) -> None:
    replies = tmp_path / "replies.json"
    replies.write_text('["```python\\ntotal = sum(xs)\\nanswer(total)\\n```"]')
    env = {"ENVLOOP_DB": pg_url}
    assert run_cli("db", "current", env=env).returncode == 0
    assert run_cli("run", "--new", "xs = [1, 2, 3]", env=env).returncode == 0
    turn = run_cli("ask", "--model", f"replay:{replies}", "Sum xs", env=env)
    assert turn.returncode == 0, turn.stderr
    assert "6" in turn.stdout
    shown = run_cli("vars", env=env)
    assert "total" in shown.stdout and "xs" in shown.stdout
    assert run_cli("rollback", "xs", "1", env=env).returncode == 0
    history = run_cli("history", "total", env=env)
    assert "total v1" in history.stdout


def test_without_server_binaries_the_reason_to_skip_is_clear(tmp_path) -> None:
    import pgserver  # loaded by conftest from tests/pgserver.py

    with pytest.raises(pgserver.PgUnavailable, match="initdb.*not found; install the postgresql package"):
        pgserver.PgServer(bin_dir=tmp_path / "no-such-bin")
