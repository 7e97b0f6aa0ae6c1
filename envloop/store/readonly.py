"""Reading a SQLite database that cannot be written: an archive, a read-only mount, a full disk.

SQLite in WAL mode needs to create ``-wal``/``-shm`` files next to the
database even to read it, and envloop checks that it can write at open; on a
read-only file or folder both fail, so ``vars``, ``history``, ``why``,
``export`` and ``conversations`` could not even look. Here the file is opened
with ``mode=ro`` (SQLite's read-only open), and if that cannot share the WAL
index either, ``immutable=1`` (no locks, no side files: safe because nobody
can be writing a file nobody may write). Reads work; a write fails with one
line saying the database is read-only. Nothing here migrates the schema: a
read-only database at an older revision is refused with that reason.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from envloop.errors import StoreError

__all__ = ["looks_read_only", "open_read_only"]

_SIGNS = ("readonly", "read-only", "unable to open database file", "disk is full", "disk i/o error")


def looks_read_only(error: BaseException) -> bool:
    """Whether opening failed the way a database that cannot be written fails."""
    text = str(error).lower()
    return any(sign in text for sign in _SIGNS)


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA query_only = ON")  # a write says so at once, whatever the file allows
    finally:
        cur.close()


def _engine(path: Path, params: str) -> Engine:
    uri = f"file:{path}?{params}"
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False))
    event.listen(engine, "connect", _pragmas)
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
    return engine


def open_read_only(url: str, head_revision: str, database_class: Any, why: BaseException) -> Any:
    """A Database over ``url``'s SQLite file opened read-only, or StoreError (``why`` when nothing works)."""
    path = Path(make_url(url).database or "")
    if not path.is_file():
        raise StoreError(str(why))
    for params in ("mode=ro", "mode=ro&immutable=1"):
        engine = _engine(path, params)
        database = database_class(url, engine, readers=sessionmaker(engine, expire_on_commit=False),
                                  writers=sessionmaker(engine, expire_on_commit=False))
        try:
            revision = database.current_revision()
        except StoreError:
            engine.dispose()
            continue
        if revision != head_revision:
            engine.dispose()
            raise StoreError(f"database {path} is read-only and its schema is older than this envloop's "
                             "(make it writable once to upgrade it)")
        database.extras["read_only"] = _Marker()
        return database
    raise StoreError(str(why))


class _Marker:
    """Sits in ``Database.extras`` so callers can tell a read-only database; nothing to close."""

    def close(self) -> None:
        pass
