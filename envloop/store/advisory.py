"""PostgreSQL advisory locks for the conversation lock: a killed process releases at once.

A session-level advisory lock belongs to one server connection, and the server
drops it the moment that connection ends — when its process is SIGKILLed, or,
through TCP keepalives, soon after its machine vanishes.  So each held
conversation lock keeps one dedicated autocommit connection (outside the
SQLAlchemy pool, so many held locks never starve the pool), and released
locks hand their connection back to a small idle list for the next block.

Waiting is done by the server (``pg_advisory_lock`` under ``lock_timeout``):
first in line wakes as soon as the holder releases or dies, without polling.
The row claim that names the holder (``conversations.lock_owner``) is written
on the same connection in the same statement as the lock (and cleared with
the unlock), so an uncontended lock costs one round trip to take and one to
give back.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from envloop.store.db import PG_CONNECT_ARGS, Database, guard

__all__ = ["AdvisoryLocks", "LOCK_CLASS", "advisory_locks"]

#: The first key of envloop's two-key advisory locks ("envl"); the second is the conversation id.
LOCK_CLASS = 0x656E766C
_KEEP_IDLE = 4

# Take the lock if free and, only then, name the holder; (locked?, rows claimed).
_TRY_AND_CLAIM = (
    "WITH got AS (SELECT pg_try_advisory_lock(%(cls)s, %(key)s) AS ok), "
    "claim AS (UPDATE conversations SET lock_owner = %(owner)s, lock_expires_at = %(expires)s "
    "WHERE id = %(key)s AND (SELECT ok FROM got) RETURNING id) "
    "SELECT (SELECT ok FROM got), (SELECT count(*) FROM claim)"
)
_CLAIM = "UPDATE conversations SET lock_owner = %(owner)s, lock_expires_at = %(expires)s WHERE id = %(key)s"
# Clear our claim (if still ours) and unlock, in one statement.
_UNCLAIM_AND_UNLOCK = (
    "WITH done AS (UPDATE conversations SET lock_owner = NULL, lock_expires_at = NULL "
    "WHERE id = %(key)s AND lock_owner = %(owner)s RETURNING id) "
    "SELECT pg_advisory_unlock(%(cls)s, %(key)s)"
)


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

    def acquire(self, key: int, wait: float, owner: str, expires: datetime) -> tuple[Any, bool] | None:
        """Take lock ``key`` (waiting up to ``wait`` seconds) and name ``owner`` in the conversation row.

        Returns (the lock's connection, whether the conversation row exists),
        or None on timeout.  A pooled connection the server has dropped (a
        restart) is replaced once; a server that cannot be reached raises StoreError.
        """
        import psycopg

        params = {"cls": LOCK_CLASS, "key": key, "owner": owner, "expires": expires.replace(tzinfo=None)}
        for attempt in range(2):
            conn = self._checkout()
            try:
                locked, claimed = conn.execute(_TRY_AND_CLAIM, params).fetchone()
                if locked:
                    return conn, claimed == 1
                if wait <= 0:
                    self._checkin(conn)
                    return None
                conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{max(1, int(wait * 1000))}ms",))
                conn.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, key))
                return conn, conn.execute(_CLAIM, params).rowcount == 1
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

    def release(self, key: int, conn: Any, owner: str) -> None:
        """Clear ``owner``'s claim and give lock ``key`` back; a broken connection is closed
        (the server already dropped its locks, and the next holder overwrites the stale claim)."""
        try:
            conn.execute(_UNCLAIM_AND_UNLOCK, {"cls": LOCK_CLASS, "key": key, "owner": owner})
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
