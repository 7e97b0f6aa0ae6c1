"""PostgreSQL advisory locks for the conversation lock: a killed process releases at once.

A session-level advisory lock belongs to one server connection, and the server
drops it the moment that connection ends — when its process is SIGKILLed, or,
through TCP keepalives, soon after its machine vanishes.  So each held
conversation lock keeps one dedicated autocommit connection (outside the
SQLAlchemy pool, so many held locks never starve the pool), and released
locks hand their connection back to a small idle list for the next block.

Waiting is done by the server (``pg_advisory_lock`` under ``lock_timeout``):
first in line wakes as soon as the holder releases or dies, without polling.
"""

from __future__ import annotations

import threading
from typing import Any

from envloop.store.db import PG_CONNECT_ARGS, Database, guard

__all__ = ["AdvisoryLocks", "LOCK_CLASS", "advisory_locks"]

#: The first key of envloop's two-key advisory locks ("envl"); the second is the conversation id.
LOCK_CLASS = 0x656E766C
_KEEP_IDLE = 4


class AdvisoryLocks:
    """Advisory locks on one PostgreSQL database, each held on its own connection."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._idle: list[Any] = []
        self._guard = threading.Lock()

    def _connect(self) -> Any:
        import psycopg

        engine = self.database.engine
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        params = {**PG_CONNECT_ARGS, **cparams, "autocommit": True}
        params.setdefault("application_name", "envloop-lock")
        return psycopg.connect(*cargs, **params)

    def _checkout(self) -> Any:
        with self._guard:
            if self._idle:
                return self._idle.pop()
        with guard(self.database.url):
            return self._connect()

    def _checkin(self, conn: Any) -> None:
        with self._guard:
            if len(self._idle) < _KEEP_IDLE and not conn.closed:
                self._idle.append(conn)
                return
        conn.close()

    def acquire(self, key: int, wait: float) -> Any | None:
        """Take lock ``key``, waiting up to ``wait`` seconds; its connection, or None on timeout.

        A pooled connection the server has dropped (a restart) is replaced once;
        a server that cannot be reached raises StoreError.
        """
        import psycopg

        for attempt in range(2):
            conn = self._checkout()
            try:
                if conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, key)).fetchone()[0]:
                    return conn
                if wait <= 0:
                    self._checkin(conn)
                    return None
                conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{max(1, int(wait * 1000))}ms",))
                conn.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, key))
                return conn
            except psycopg.errors.LockNotAvailable:
                self._checkin(conn)
                return None
            except psycopg.OperationalError:
                conn.close()
                if attempt == 1:
                    with guard(self.database.url):
                        raise
            except BaseException:
                conn.close()  # interrupted mid-wait: the server may grant the lock later; drop it with the connection
                raise
        return None

    def release(self, key: int, conn: Any) -> None:
        """Give lock ``key`` back; a broken connection is closed (the server already dropped its locks)."""
        try:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, key))
        except Exception:
            conn.close()
            return
        self._checkin(conn)

    def close(self) -> None:
        with self._guard:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


_registry_guard = threading.Lock()


def advisory_locks(database: Database) -> AdvisoryLocks:
    """The database's advisory lock set (one per open Database, closed with it)."""
    with _registry_guard:
        locks = database.extras.get("advisory_locks")
        if locks is None:
            locks = database.extras["advisory_locks"] = AdvisoryLocks(database)
        return locks
