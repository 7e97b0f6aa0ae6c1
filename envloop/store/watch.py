"""Live updates across processes: wait until a conversation changes, whoever changed it.

One small API for every channel that shows a conversation while other
processes work on it (the chat, the web page)::

    with Watcher(database, conversation_id) as watcher:
        while watcher.wait(timeout=30):
            ...re-read what is new and show it...

``wait`` returns True as soon as something visible changed (a turn started
or ended, a block ran, a version or title was written) and False when the
timeout passed with nothing new.  It says only *that* something changed;
the caller reads *what* from the store, so a burst of changes costs one read.

PostgreSQL: the server pushes ``NOTIFY envloop, '<id>'`` from a trigger
(migration 0002) and one listening connection per open database hands each
notice to the watchers of that conversation — no polling, a wait costs
nothing.  After the listening connection is lost (a server restart) it
reconnects and wakes every watcher, since notices may have been missed.
SQLite has no notifications: there a watcher polls a cheap signature of the
conversation (newest block, turn, version and the last turn's status)
every ``poll`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select

from envloop.store.db import PG_CONNECT_ARGS, Database
from envloop.store.models import Block, Conversation, DefinitionVersion, Query

__all__ = ["CHANNEL", "Watcher", "watch"]

logger = logging.getLogger(__name__)

#: The NOTIFY channel the trigger of migration 0002 sends on.
CHANNEL = "envloop"
_RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)


class Watcher:
    """Waits for changes to one conversation (or, with ``conversation_id=None``, to any)."""

    def __init__(self, database: Database, conversation_id: int | None = None, *, poll: float = 0.5) -> None:
        self.database = database
        self.conversation_id = conversation_id
        self.poll = poll
        self._changed = threading.Event()
        self._listener: _Listener | None = None
        self._signature: tuple[Any, ...] | None = None
        if database.is_postgresql:
            self._listener = _listener(database)
            self._listener.subscribe(self)
        else:
            self._signature = self._read_signature()

    def notify(self) -> None:
        """Mark a change (called by the listener; a channel may call it for its own writes)."""
        self._changed.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the conversation changes (True) or ``timeout`` seconds pass (False)."""
        if self._listener is not None:
            if self._changed.wait(timeout):
                self._changed.clear()
                return True
            return False
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._changed.is_set():
                self._changed.clear()
                return True
            signature = self._read_signature()
            if signature != self._signature:
                self._signature = signature
                return True
            left = self.poll if deadline is None else min(self.poll, deadline - time.monotonic())
            if left <= 0:
                return False
            self._changed.wait(left)

    def _read_signature(self) -> tuple[Any, ...]:
        """What a person would notice changing, in one cheap read (SQLite only)."""
        cid = self.conversation_id
        with self.database.session() as session:
            if cid is None:
                return tuple(session.execute(
                    select(func.count(Conversation.id), func.max(Conversation.updated_at),
                           select(func.max(Query.id)).scalar_subquery())
                ).one())
            last_turn = (
                select(Query.status).where(Query.conversation_id == cid)
                .order_by(Query.position.desc()).limit(1).scalar_subquery()
            )
            return tuple(session.execute(select(
                select(func.max(Block.id)).where(Block.conversation_id == cid).scalar_subquery(),
                select(func.max(Query.id)).where(Query.conversation_id == cid).scalar_subquery(),
                select(func.max(DefinitionVersion.id)).where(DefinitionVersion.conversation_id == cid)
                .scalar_subquery(),
                last_turn,
                select(Conversation.title).where(Conversation.id == cid).scalar_subquery(),
            )).one())

    def close(self) -> None:
        if self._listener is not None:
            self._listener.unsubscribe(self)
            self._listener = None
        self._changed.set()  # wake a thread still waiting, so it can see it is closed

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def watch(database: Database, conversation_id: int | None = None, *,
          stop: threading.Event | None = None, idle: float = 30.0) -> Iterator[None]:
    """Yield once per change to the conversation, until ``stop`` is set (checked every ``idle`` s)."""
    with Watcher(database, conversation_id) as watcher:
        while stop is None or not stop.is_set():
            if watcher.wait(idle) and (stop is None or not stop.is_set()):
                yield None


class _Listener:
    """One LISTEN connection per database and a daemon thread handing notices to watchers."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._watchers: set[Watcher] = set()
        self._guard = threading.Lock()
        self._closed = False
        self._conn: Any = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="envloop-listen", daemon=True)
        self._thread.start()
        self._ready.wait(10)  # changes after a watcher exists must not be missed

    def subscribe(self, watcher: Watcher) -> None:
        with self._guard:
            self._watchers.add(watcher)

    def unsubscribe(self, watcher: Watcher) -> None:
        with self._guard:
            self._watchers.discard(watcher)

    def _dispatch(self, conversation_id: int | None) -> None:
        with self._guard:
            watchers = list(self._watchers)
        for watcher in watchers:
            if conversation_id is None or watcher.conversation_id in (None, conversation_id):
                watcher.notify()

    def _connect(self) -> Any:
        import psycopg

        engine = self.database.engine
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        params = {**PG_CONNECT_ARGS, **cparams, "autocommit": True}
        params.setdefault("application_name", "envloop-listen")
        conn = psycopg.connect(*cargs, **params)
        conn.execute(f"LISTEN {CHANNEL}")
        return conn

    def _run(self) -> None:
        failures = 0
        while not self._closed:
            try:
                self._conn = self._connect()
            except Exception as exc:
                self._ready.set()
                delay = _RECONNECT_DELAYS[min(failures, len(_RECONNECT_DELAYS) - 1)]
                logger.warning("envloop: cannot listen for live updates (%s); retrying in %.1fs", exc, delay)
                failures += 1
                time.sleep(delay)
                continue
            if failures or self._ready.is_set():
                self._dispatch(None)  # reconnected: notices may have been missed while away
            failures = 0
            self._ready.set()
            self._follow(self._conn)

    def _follow(self, conn: Any) -> None:
        """Hand out notices until the connection breaks or the listener closes."""
        try:
            while not self._closed:
                # Blocks in the driver until a notice arrives; the timeout only lets close() be seen.
                for notice in conn.notifies(timeout=5.0):
                    self._dispatch(int(notice.payload) if notice.payload.isdigit() else None)
        except Exception as exc:
            if not self._closed:
                logger.info("envloop: live-update connection lost (%s); reconnecting", exc)
        finally:
            try:
                conn.close()
            except Exception:
                pass

    def close(self) -> None:
        self._closed = True
        self._dispatch(None)  # the thread notices within its notifies() timeout and closes its connection


_registry_guard = threading.Lock()


def _listener(database: Database) -> _Listener:
    with _registry_guard:
        listener = database.extras.get("listener")
        if listener is None:
            listener = database.extras["listener"] = _Listener(database)
        return listener
