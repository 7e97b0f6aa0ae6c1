"""What other processes do in the open conversation, shown above the chat's prompt.

A person may have the chat open while a Telegram bot, a web page or another
terminal works on the same conversation.  :class:`Follower` waits on the
store's watcher (LISTEN/NOTIFY on PostgreSQL, polling on SQLite), reads what
is new — turns started and answered, blocks run and the names they changed —
and prints it without disturbing the line being typed.  While the chat runs
its own turn or command it is paused, and what that work wrote is marked as
seen, so a person never sees their own blocks twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.text import Text
from sqlalchemy import func, select

from envloop.channels.chat.render import View
from envloop.conversation import Envloop
from envloop.store.models import Block, DefinitionVersion, Query
from envloop.store.watch import Watcher

__all__ = ["Follower"]

logger = logging.getLogger(__name__)
SOURCE_CHARS = 70


class Follower:
    """A daemon thread that shows changes made elsewhere to the conversation ``current()`` names."""

    def __init__(self, app: Envloop, view: View, current: Callable[[], int | None],
                 show: Callable[[Callable[[], None]], None]) -> None:
        self.app = app
        self.view = view
        self.current = current
        self.show = show  # runs a printing function where it does not garble the prompt
        self._paused = threading.Lock()
        self._stop = threading.Event()
        self._cid: int | None = None
        self._watcher: Watcher | None = None
        self._last_block = 0
        self._last_query = 0
        self._running: dict[int, int] = {}  # turns seen running elsewhere: query id → position
        self._thread = threading.Thread(target=self._run, name="envloop-chat-follow", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        watcher = self._watcher
        if watcher is not None:
            watcher.close()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Around the chat's own work: nothing is shown meanwhile, and what it wrote counts as seen.

        The newest ids are read again right when the work ends, here: read later
        by the follower's thread (up to a poll later), they also swallowed a
        block another process ran in between, which then never showed.
        """
        with self._paused:
            try:
                yield
            finally:
                self._cid = None  # the conversation may have changed too
                try:
                    cid = self.current()
                    if cid is not None:
                        self._rebase(cid)
                except Exception:  # a lost database: the follower's thread tries again
                    logger.debug("chat follower: could not read the newest ids", exc_info=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow_once()
            except Exception:  # a lost database must not end the chat; try again shortly
                logger.debug("chat follower: could not read changes", exc_info=True)
                self._stop.wait(2.0)

    def _follow_once(self) -> None:
        cid = self.current()
        if cid is None:
            self._stop.wait(0.5)
            return
        with self._paused:
            if cid != self._cid:
                self._rebase(cid)
        watcher = self._watcher
        if watcher is None or not watcher.wait(1.0) or self._stop.is_set():
            return
        with self._paused:
            if self._cid != cid:  # our own work ran meanwhile: its writes are not news
                return
            news = self._read(cid)
        if news:
            self.show(lambda: self._print(news))

    def _rebase(self, cid: int) -> None:
        """Start following ``cid`` from now: everything already stored counts as seen."""
        if self._watcher is None or self._watcher.conversation_id != cid:
            if self._watcher is not None:
                self._watcher.close()
            self._watcher = Watcher(self.app.database, cid)
        with self.app.database.session() as session:
            self._last_block = session.scalar(select(func.max(Block.id)).where(Block.conversation_id == cid)) or 0
            self._last_query = session.scalar(select(func.max(Query.id)).where(Query.conversation_id == cid)) or 0
        self._running.clear()
        self._cid = cid

    def _read(self, cid: int) -> list[Any]:
        """Renderables for what is new since the last look."""
        news: list[Any] = []
        with self.app.database.session() as session:
            for query in session.scalars(select(Query).where(Query.conversation_id == cid, Query.id > self._last_query,
                                                             Query.kind == "turn").order_by(Query.id)):
                news.append(Text(f"Another process started turn {query.position}: {_short(query.text)}", style="dim"))
                self._running[query.id] = query.position
            self._last_query = max([self._last_query, *self._running])
            blocks = list(session.scalars(select(Block).where(Block.conversation_id == cid, Block.id > self._last_block)
                                          .order_by(Block.id)))
            changed = _changes(session, [b.id for b in blocks])
            for block in blocks:
                news.extend(self._block_lines(block, changed.get(block.id, [])))
                self._last_block = block.id
            for query_id in list(self._running):
                turn = session.get(Query, query_id)
                if turn is not None and turn.status != "running":
                    del self._running[query_id]
                    news.append(self._finished_line(turn))
        return news

    def _block_lines(self, block: Block, changed: list[tuple[str, int, str]]) -> list[Any]:
        g = self.view.g
        by = "the model" if block.author == "llm" else "someone"
        lines: list[Any] = [Text(f"Another process ran a block (by {by}): {_short(block.source)}", style="dim")]
        if block.error_type:
            lines.append(Text(f"  {block.error_type}: {_short(block.error_message or '')}", style="red"))
        elif block.result_preview is not None:
            lines.append(Text(f"  {g.arrow} {_short(block.result_preview)}", style="green"))
        lines.extend(self.view.change_line(name, version, kind) for name, version, kind in changed)
        return lines

    def _finished_line(self, query: Query) -> Text:
        if query.status == "done":
            return Text(f"  turn {query.position} answered: {_short(query.answer or '')}", style="green")
        return Text(f"  turn {query.position} ended: {query.status}", style="yellow")

    def _print(self, news: list[Any]) -> None:
        for item in news:
            self.view.print(item)


def _changes(session: Any, block_ids: list[int]) -> dict[int, list[tuple[str, int, str]]]:
    out: dict[int, list[tuple[str, int, str]]] = {}
    if not block_ids:
        return out
    rows = session.execute(
        select(DefinitionVersion.block_id, DefinitionVersion.name, DefinitionVersion.version, DefinitionVersion.kind)
        .where(DefinitionVersion.block_id.in_(block_ids)).order_by(DefinitionVersion.id)
    )
    for block_id, name, version, kind in rows:
        out.setdefault(block_id, []).append((name, version, kind))
    return out


def _short(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    more = len(text.strip().splitlines()) > 1 or len(first) > SOURCE_CHARS
    return first[:SOURCE_CHARS] + (" …" if more else "")


def above_prompt(session: Any) -> Callable[[Callable[[], None]], None]:
    """A ``show`` for :class:`Follower`: print above prompt-toolkit's prompt, then redraw it."""

    def show(render: Callable[[], None]) -> None:
        app = session.app
        loop = getattr(app, "loop", None)
        if not app.is_running or loop is None:
            render()
            return

        def in_loop() -> None:
            from prompt_toolkit.application import run_in_terminal
            from prompt_toolkit.application.current import set_app

            with set_app(app):
                run_in_terminal(render)

        loop.call_soon_threadsafe(in_loop)

    return show
