"""The one place the web channel learns that a conversation changed in the database.

A turn run from the CLI, the terminal chat or Telegram on the same database
(another process) must appear on an open page without a reload. The page's
event stream asks :class:`PageWatch` "has conversation N changed?" and, when
it has, re-reads the transcript. The answer comes from
:class:`envloop.store.watch.Watcher`: PostgreSQL pushes a notice
(LISTEN/NOTIFY, no polling); on SQLite it polls a cheap signature of the
conversation twice a second. The blocking wait runs in a worker thread so
the server's event loop never waits on the database.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from envloop.store.watch import Watcher

__all__ = ["PageWatch"]


class PageWatch:
    """Changes to one conversation, for one open page."""

    def __init__(self, app: Any, conversation_id: int) -> None:
        self._watcher = Watcher(app.database, conversation_id)

    @classmethod
    async def open(cls, app: Any, conversation_id: int) -> PageWatch:
        return await run_in_threadpool(cls, app, conversation_id)  # reads the first signature

    async def wait(self, timeout: float) -> bool:
        """True as soon as the conversation changed, False after ``timeout`` seconds without a change."""
        return bool(await run_in_threadpool(self._watcher.wait, timeout))

    def close(self) -> None:
        self._watcher.close()
