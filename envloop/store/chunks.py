"""The host's chunk store for one conversation: a spool file while a block runs, the database after.

Chunks of changed values (and artifact contents) arrive while the block is
still running, before its transaction exists, and a block may stream far more
than the host should hold in memory.  So the first :data:`MEMORY_BYTES` of
them are held in memory (most blocks stream less) and the rest go to an
anonymous temporary file, indexed by digest; :meth:`SpoolChunkStore.commit` copies the ones a
finished block's versions refer to into ``blobs`` inside the block's one
transaction, one chunk at a time.  A block that is killed, or whose values are
refused, leaves nothing behind: the spool is emptied before the next block.

``missing`` answers the worker's offers: a chunk the database or the spool
already holds does not cross the pipe again.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable
from typing import IO
from urllib.parse import quote

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from envloop.store.db import BUSY_TIMEOUT_MS, Database, insert_missing
from envloop.store.models import Blob
from envloop.store.versions import BLOBS_PRESENT

__all__ = ["SpoolChunkStore"]

_LOOKUP = 500  # digests per IN (...) query
MEMORY_BYTES = 8 << 20  # a block's first chunks, held in memory (a few chunks: the host's memory stays bounded)


class SpoolChunkStore:
    """Chunks spooled to a temporary file, then written to the database in the block's transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._file: IO[bytes] | None = None
        self._held: dict[str, bytes] = {}  # the block's first chunks, up to MEMORY_BYTES
        self._held_bytes = 0
        self._index: dict[str, tuple[int, int]] = {}
        self._end = 0
        self._probe: sqlite3.Connection | None = None
        self._no_probe = False  # not a SQLite file: SQLAlchemy answers

    # -- the ChunkStore protocol (envloop.sandbox.stream) --------------------------

    def missing(self, digests: list[str]) -> list[str]:
        wanted = [d for d in dict.fromkeys(digests) if not self.spooled(d)]
        if not wanted:
            return []
        have = self._existing_sqlite(wanted)
        if have is None:
            with self.database.transaction() as conn:  # Core: no ORM session for one prebuilt select
                have = _existing(conn, wanted)
        return [d for d in wanted if d not in have]

    def prepare(self) -> None:
        """Open the SQLite probe of :meth:`missing` ahead of time (its first query reads the schema)."""
        if self._probe is None and not self._no_probe:
            self._existing_sqlite([])

    def _existing_sqlite(self, digests: list[str]) -> set[str] | None:
        """The digests a SQLite database holds, asked on a read-only driver connection of this store's own.

        The worker waits for this answer at the end of every block that made
        data, and a pooled SQLAlchemy transaction around one SELECT cost ten
        times the SELECT.  None: not SQLite, or the driver failed (the caller
        then asks through SQLAlchemy, which reports a failure properly).
        """
        if self._probe is None:
            url = self.database.engine.url
            if self._no_probe or url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
                self._no_probe = True
                return None
            try:
                self._probe = sqlite3.connect(f"file:{quote(str(url.database))}?mode=ro", uri=True,
                                              isolation_level=None, check_same_thread=False)
                self._probe.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                self._probe.execute("SELECT sha256 FROM blobs LIMIT 0").fetchall()  # reads the schema
            except sqlite3.Error:
                self._close_probe()
                return None
        found: set[str] = set()
        try:
            for start in range(0, len(digests), _LOOKUP):
                part = digests[start : start + _LOOKUP]
                query = f"SELECT sha256 FROM blobs WHERE sha256 IN ({','.join('?' * len(part))})"
                found.update(row[0] for row in self._probe.execute(query, part))
        except sqlite3.Error:
            self._close_probe()
            return None
        return found

    def _close_probe(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None

    def put(self, digest: str, data: bytes) -> None:
        if self.spooled(digest):
            return
        if self._held_bytes + len(data) <= MEMORY_BYTES:
            self._held[digest] = data
            self._held_bytes += len(data)
            return
        spool = self._spool()
        spool.seek(self._end)
        spool.write(data)
        self._index[digest] = (self._end, len(data))
        self._end += len(data)

    def get(self, digest: str) -> bytes | None:
        if self.spooled(digest):
            return self._read(digest)
        with self.database.session() as session:
            blob = session.get(Blob, digest)
            return None if blob is None else bytes(blob.data)

    def get_many(self, digests: list[str]) -> dict[str, bytes]:
        """Several chunks in one query (a restore asks for a batch at a time)."""
        found = {d: self._read(d) for d in digests if self.spooled(d)}
        wanted = [d for d in digests if d not in found]
        if wanted:
            with self.database.session() as session:
                for digest, data in session.execute(select(Blob.sha256, Blob.data).where(Blob.sha256.in_(wanted))):
                    found[digest] = bytes(data)
        return found

    # -- the block's life ------------------------------------------------------------

    def spooled(self, digest: str) -> bool:
        return digest in self._held or digest in self._index

    def commit(self, session: Session, digests: Iterable[str]) -> int:
        """Write the spooled chunks among ``digests`` (the database lacked them when offered); bytes written.

        One chunk at a time, so memory stays one chunk; a chunk another writer
        stored meanwhile is skipped by the insert itself (ON CONFLICT DO NOTHING).
        """
        written = 0
        for digest in dict.fromkeys(digests):
            if self.spooled(digest):
                data = self._read(digest)
                insert_missing(session, Blob, [{"sha256": digest, "size": len(data), "data": data}], "sha256")
                written += len(data)
        return written

    def reset(self) -> None:
        """Forget what the last block spooled (called before each block)."""
        self._held.clear()
        self._held_bytes = 0
        self._index.clear()
        if self._file is not None and self._end:
            self._file.truncate(0)
        self._end = 0

    def close(self) -> None:
        self._close_probe()
        if self._file is not None:
            self._file.close()
            self._file = None
        self._held.clear()
        self._held_bytes = 0
        self._index.clear()

    def _spool(self) -> IO[bytes]:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="envloop-spool-")  # noqa: SIM115 (lives with the store)
        return self._file

    def _read(self, digest: str) -> bytes:
        held = self._held.get(digest)
        if held is not None:
            return held
        offset, size = self._index[digest]
        spool = self._spool()
        spool.seek(offset)
        return spool.read(size)


def _existing(conn: Connection, digests: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(digests), _LOOKUP):
        part = digests[start : start + _LOOKUP]
        found.update(conn.execute(BLOBS_PRESENT, {"digests": part}).scalars())
    return found
