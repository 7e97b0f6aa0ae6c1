"""The per-conversation lock, kept in the database so it holds across processes and machines.

On SQLite a lock is a row-level claim on ``conversations.lock_owner`` with an
expiry.  It is taken with one conditional UPDATE, renewed by a small heartbeat
thread while held, and released on exit.  A lock whose owner died is
reclaimed: at once when the owner was a process on this machine that no
longer exists (SIGKILL leaves no chance to release), otherwise when its expiry
passes.

On PostgreSQL the lock is a session advisory lock (envloop.store.advisory),
which the server drops the moment the holder's connection ends — a killed
process on any machine releases at once — and waiters are woken by the server
rather than polling.  The row claim is still written, for the "busy: held by …"
message and for :meth:`ConversationLock.confirm`.

Either way, a block's results are stored only after :meth:`confirm` finds, in
the same transaction, that this lock still owns the row: a holder that lost
its lock (a lease that expired, a server restart that dropped its advisory
lock and let another process in) fails its write instead of interleaving.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, or_, select, update

from envloop.errors import ConversationBusyError, NotFoundError
from envloop.store.advisory import advisory_locks
from envloop.store.db import Database
from envloop.store.models import Conversation, utcnow

__all__ = ["ConversationLock", "owner_is_dead", "process_owner_id"]

_HOST = socket.gethostname()
_TOKEN = uuid.uuid4().hex[:8]


def process_owner_id() -> str:
    """``host:pid:token`` naming this process (the token tells apart a reused pid)."""
    return f"{_HOST}:{os.getpid()}:{_TOKEN}"


def owner_is_dead(owner: str | None) -> bool:
    """True when ``owner`` names a process on this machine that no longer runs."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return owner != process_owner_id()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class _Heartbeat:
    """One daemon thread per process renews every held lock, so taking a lock starts no thread."""

    def __init__(self) -> None:
        self._held: set[ConversationLock] = set()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, lock: ConversationLock) -> None:
        with self._guard:
            self._held.add(lock)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="envloop-lock-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, lock: ConversationLock) -> None:
        with self._guard:
            self._held.discard(lock)

    def _loop(self) -> None:
        while True:
            time.sleep(_RENEW_EVERY)
            with self._guard:
                locks = list(self._held)
            for lock in locks:
                if time.monotonic() - lock.renewed_at >= lock.ttl / 3:
                    lock.renew()


_RENEW_EVERY = 2.0
_heartbeat = _Heartbeat()

# Every statement the lock runs, built once on the table (Core, not the ORM's bulk-update path):
# building and running them through the ORM cost about a millisecond of every block.
_TABLE = cast(Table, Conversation.__table__)
_ROW = _TABLE.c.id == bindparam("cid")
_OURS = _TABLE.c.lock_owner == bindparam("owner")
_LEASE: dict[str, Any] = {"lock_owner": bindparam("new_owner"), "lock_expires_at": bindparam("expires")}
_TAKE_FREE = update(_TABLE).where(
    _ROW, or_(_TABLE.c.lock_owner.is_(None), _TABLE.c.lock_expires_at < bindparam("now"))
).values(**_LEASE)
_TAKE_FROM = update(_TABLE).where(_ROW, _OURS).values(**_LEASE)
_HOLDER = select(_TABLE.c.lock_owner).where(_ROW)
_RENEW = update(_TABLE).where(_ROW, _OURS).values(lock_expires_at=bindparam("expires"))
_CONFIRM = update(_TABLE).where(_ROW, _OURS).values(updated_at=bindparam("now"))
_RELEASE = update(_TABLE).where(_ROW, _OURS).values(lock_owner=None, lock_expires_at=None)


class ConversationLock:
    """One turn or block at a time per conversation, across processes.

    Use as a context manager; ``acquire(wait=…)`` polls until the lock is
    free (not strictly FIFO across processes) and raises ConversationBusyError
    naming the holder when ``wait`` runs out.  While held, the process-wide
    heartbeat renews the lease.
    """

    def __init__(self, database: Database, conversation_id: int, *, ttl: float = 30.0) -> None:
        self.database = database
        self.conversation_id = conversation_id
        self.ttl = ttl
        self.owner = f"{process_owner_id()}:{uuid.uuid4().hex[:6]}"
        self.renewed_at = 0.0
        self._held = False
        self._advisory = advisory_locks(database) if database.is_postgresql else None
        self._advisory_conn: Any = None
        # Threads of this process queue here first, in order, without polling the database.
        self._local = threading.Lock()

    @property
    def held(self) -> bool:
        return self._held

    def relabel(self, channel: str) -> None:
        """Name the channel (chat, telegram, cli, web) taking this lock, for whoever waits for it (envloop.waiting)."""
        if not self._held:
            clean = "".join(c for c in channel.lower() if c.isalnum() or c == "_")[:16]
            self.owner = f"{process_owner_id()}:{clean}-{uuid.uuid4().hex[:6]}" if clean else self.owner

    def _update(self, conn: Any, statement: Any, **params: Any) -> int:
        """Run one of the prebuilt statements above on this conversation's row; the rows it changed."""
        return int(conn.execute(statement, {"cid": self.conversation_id, **params}).rowcount)

    def _try_take(self) -> str | None:
        """Take the lock if free, expired or owned by a dead process; else return the holder."""
        now = utcnow()
        lease = {"new_owner": self.owner, "expires": now + timedelta(seconds=self.ttl)}
        with self.database.transaction(write=True) as conn:
            if self._update(conn, _TAKE_FREE, now=now, **lease) == 1:
                return None
            holder = conn.execute(_HOLDER, {"cid": self.conversation_id}).first()
            if holder is None:
                raise NotFoundError(f"no conversation {self.conversation_id}")
            current = holder[0]
            if (
                current is not None
                and owner_is_dead(current.rsplit(":", 1)[0])
                and self._update(conn, _TAKE_FROM, owner=current, **lease) == 1
            ):
                return None
            return current or "unknown:?"

    def acquire(self, wait: float = 600.0) -> None:
        deadline = time.monotonic() + wait
        if not self._local.acquire(timeout=wait):
            raise ConversationBusyError(f"conversation {self.conversation_id} is busy in this process")
        try:
            if self._advisory is not None:
                self._acquire_advisory(deadline)
            else:
                self._acquire_row(deadline)
        except BaseException:
            self._local.release()
            raise

    def _busy(self, holder: str) -> ConversationBusyError:
        host, _, rest = holder.partition(":")
        return ConversationBusyError(
            f"conversation {self.conversation_id} is busy: another process ({host}, "
            f"pid {rest.partition(':')[0]}) is running a block or turn on it"
        )

    def _acquire_advisory(self, deadline: float) -> None:
        """PostgreSQL: the server queues us on the advisory lock; then the row names us."""
        assert self._advisory is not None
        taken = self._advisory.acquire(self.conversation_id, max(0.0, deadline - time.monotonic()),
                                       self.owner, utcnow() + timedelta(seconds=self.ttl))
        if taken is None:
            with self.database.session() as session:
                holder = session.scalar(select(Conversation.lock_owner).where(Conversation.id == self.conversation_id))
            raise self._busy(holder or "unknown:?")
        conn, exists = taken
        if not exists:
            self._advisory.release(self.conversation_id, conn, self.owner)
            raise NotFoundError(f"no conversation {self.conversation_id}")
        self._advisory_conn = conn
        self._held = True
        self.renewed_at = time.monotonic()

    def _acquire_row(self, deadline: float) -> None:
        delay = 0.005
        while True:
            holder = self._try_take()
            if holder is None:
                break
            if time.monotonic() >= deadline:
                raise self._busy(holder)
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        self._held = True
        self.renewed_at = time.monotonic()
        _heartbeat.add(self)

    def renew(self) -> None:
        """Push the lease's expiry forward; a failure only shortens the lease."""
        try:
            with self.database.transaction(write=True) as conn:
                self._update(conn, _RENEW, owner=self.owner, expires=utcnow() + timedelta(seconds=self.ttl))
            self.renewed_at = time.monotonic()
        except Exception:
            pass

    def confirm(self, session: Any) -> None:
        """In a write transaction: check this lock still owns the conversation, and touch it.

        Raises ConversationBusyError (and so rolls the transaction back) when
        another process has taken the conversation over meanwhile.
        """
        if self._update(session, _CONFIRM, owner=self.owner, now=utcnow()) != 1:
            raise ConversationBusyError(
                f"conversation {self.conversation_id}: this process lost its lock (database restarted "
                "or lease expired) and another took the conversation over; the block's results were not stored"
            )

    def release(self) -> None:
        if not self._held:
            return
        _heartbeat.discard(self)
        self._held = False
        conn, self._advisory_conn = self._advisory_conn, None
        try:
            if conn is not None and self._advisory is not None:
                self._advisory.release(self.conversation_id, conn, self.owner)  # claim and lock, one statement
            else:
                with self.database.transaction(write=True) as conn:
                    self._update(conn, _RELEASE, owner=self.owner)
        finally:
            self._local.release()

    def __enter__(self) -> ConversationLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
