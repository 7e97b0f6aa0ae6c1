"""Waiting for a conversation another turn holds: said at once, cancellable, bounded.

A turn or a block needs its conversation's lock (envloop.store.locks), and
another process -- the chat in one terminal, ``envloop ask`` in another, the
Telegram bot -- may hold it for minutes.  Instead of waiting silently,
:func:`holding` tries once, and when the lock is taken it tells the caller at
once who holds it (the channel, its process, what it is running and since
when), then keeps trying until the lock is free, the caller cancels
(:class:`WaitCancelled`), or the wait limit passes (ConversationBusyError).

The limit is ``$ENVLOOP_LOCK_WAIT`` seconds (default 600).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from envloop.errors import ConversationBusyError, EnvloopError
from envloop.store.locks import ConversationLock
from envloop.store.models import Conversation, Query, utcnow

__all__ = ["LOCK_WAIT_ENV", "WaitCancelled", "holder", "holding", "lock_wait"]

LOCK_WAIT_ENV = "ENVLOOP_LOCK_WAIT"
DEFAULT_LOCK_WAIT = 600.0
_STEP = 0.25  # seconds between looks at the cancel event while the lock is taken


class WaitCancelled(EnvloopError):
    """The caller cancelled while waiting for another turn to release the conversation."""


def lock_wait() -> float:
    """Seconds to wait for a busy conversation: ``$ENVLOOP_LOCK_WAIT``, else 600."""
    raw = os.environ.get(LOCK_WAIT_ENV, "").strip()
    if not raw:
        return DEFAULT_LOCK_WAIT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < 1e7:
        raise EnvloopError(f"{LOCK_WAIT_ENV} must be a number of seconds (0 or more), not {raw!r}")
    return seconds


def _owner_parts(owner: str | None) -> tuple[str, str, str]:
    """(host, pid, channel) from a lock owner ``host:pid:token:channel-suffix``; blanks when unknown."""
    if not owner:
        return "", "", ""
    parts = owner.split(":")
    host, pid = parts[0], parts[1] if len(parts) > 1 else ""
    tail = parts[3] if len(parts) > 3 else ""
    channel = tail.rpartition("-")[0]
    return host, pid, channel


def holder(lock: ConversationLock) -> dict[str, Any]:
    """Who holds ``lock``'s conversation: channel, process, what runs and since when, and one line saying so."""
    cid = lock.conversation_id
    with lock.database.session() as session:
        owner = session.scalar(select(Conversation.lock_owner).where(Conversation.id == cid))
        running = session.scalars(
            select(Query).where(Query.conversation_id == cid, Query.status == "running")
            .order_by(Query.position.desc())
        ).first()
        kind, since = (running.kind, running.created_at) if running is not None else ("", None)
    host, pid, channel = _owner_parts(owner)
    who = f"the {channel}" if channel else "another envloop"
    where = f"pid {pid}" + (f" on {host}" if host and host != socket.gethostname() else "") if pid else ""
    what = {"turn": "a turn", "run": "a block"}.get(kind, "a turn or block")
    text = f"conversation {cid} is busy: {what} from {who}" + (f" ({where})" if where else "")
    if since is not None:
        ago = max(0, int((utcnow() - since).total_seconds()))
        text += f", running since {since.astimezone().strftime('%H:%M:%S')} ({ago} s)"
    return {"conversation_id": cid, "channel": channel or None, "host": host or None, "pid": pid or None,
            "kind": kind or None, "since": since.isoformat() if since is not None else None, "message": text}


@contextmanager
def holding(lock: ConversationLock, *, cancel: threading.Event | None = None,
            on_wait: Callable[[dict[str, Any]], None] | None = None, wait: float | None = None) -> Iterator[None]:
    """Hold ``lock`` inside the block; if it is taken, tell ``on_wait`` at once and wait (cancellably)."""
    limit = lock_wait() if wait is None else wait
    try:
        lock.acquire(wait=0)
    except ConversationBusyError:
        info = holder(lock)
        if on_wait is not None:
            info["message"] += f"; waiting up to {limit:g} s (Ctrl-C cancels)"
            on_wait(info)
        _wait_for(lock, cancel, limit, info)
    try:
        yield
    finally:
        lock.release()


def _wait_for(lock: ConversationLock, cancel: threading.Event | None, limit: float, info: dict[str, Any]) -> None:
    deadline = time.monotonic() + limit
    while True:
        if cancel is not None and cancel.is_set():
            raise WaitCancelled(f"cancelled while waiting for conversation {lock.conversation_id}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            busy = info["message"].split("; waiting up to")[0]
            raise ConversationBusyError(f"{busy}; gave up after {limit:g} s (set {LOCK_WAIT_ENV} to wait longer)")
        try:
            lock.acquire(wait=min(_STEP, remaining))
            return
        except ConversationBusyError:
            continue
