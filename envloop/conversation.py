"""The conversation layer: the only API channels call.

``Envloop`` is the application handle: it owns the database and the live
environments of open conversations (one per conversation, evicted when idle),
runs turns and direct blocks, and rewrites timelines; its read-only half
(listings, vars, history, why, usage, inspect, export, artifacts) lives in
:mod:`envloop.records`.  Channels (the CLI, the terminal chat, the Telegram
bot) hold no business logic; they call this.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update

from envloop import timeline
from envloop.engine import Event, Turn, TurnResult
from envloop.environment import BlockOutcome, Environment
from envloop.errors import NotFoundError
from envloop.instructions import InstructionsApi
from envloop.privacy import PrivacyApi
from envloop.recompute import RecomputePlan, plan_recompute, refresh_unchanged
from envloop.records import ConversationInfo, Records, conversation_info
from envloop.store.db import Database, default_db_path, open_database
from envloop.store.models import Conversation, Query, utcnow
from envloop.waiting import holding

__all__ = ["ConversationInfo", "Envloop", "Event", "RunReport", "TurnResult"]


@dataclass
class RunReport:
    """The outcome of ``run``: which conversation, and what the block did."""

    conversation_id: int
    turn: int
    outcome: BlockOutcome

    def to_json(self) -> dict[str, Any]:
        result = self.outcome.result
        return {
            "conversation_id": self.conversation_id,
            "ok": result.ok,
            "stdout": result.stdout,
            "result": result.result,
            "error": result.error,
            "limit": result.limit,
            "names": self.outcome.names,
            "not_stored": self.outcome.not_stored,
            "duration_ms": round(result.duration_ms, 3),
        }


_frozen = False


def _freeze_start_up() -> None:
    """Take what is loaded when the first Envloop opens out of the collector's way (once per process).

    The modules, SQLAlchemy's mappers and the first engine live as long as the
    process; a full collection walked them all, 30-60 ms after one block, and
    now walks what was made since (under 1 ms).  Once only: whatever a later
    open makes can still be collected.
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


class Envloop(Records, InstructionsApi, PrivacyApi):
    """An open envloop: the database plus the live environments of its conversations."""

    #: Live environments idle longer than this are evicted (their worker stops; the state is in the database).
    IDLE_SECONDS = 15 * 60
    MAX_LIVE = 64
    #: Who this process is, shown to another process waiting for a conversation it holds (chat, telegram, web).
    channel = "cli"

    def __init__(self, database: Database, *, timeout: float | None = None,
                 approve: Callable[[str, str], bool] | None = None) -> None:
        self.database = database
        self.timeout = timeout
        self.approve = approve
        self._live: dict[int, Environment] = {}
        self._run_waits: dict[int, threading.Event] = {}  # direct runs waiting for their conversation
        self._used: dict[int, float] = {}
        self._running: dict[int, Turn] = {}
        self._guard = threading.RLock()
        self._extensions: Any = None
        self._models: dict[str | None, Any] = {}
        #: Told at once when a direct run or a rewrite must wait for another turn (see envloop.waiting).
        self.on_wait: Callable[[dict[str, Any]], None] | None = None
        _freeze_start_up()

    @classmethod
    def open(cls, db: str | None = None, *, upgrade: bool = True, timeout: float | None = None) -> Envloop:
        """Open the database named by ``db`` (path or URL), ENVLOOP_DB, or the default."""
        return cls(open_database(db, upgrade=upgrade), timeout=timeout)

    def close(self) -> None:
        for env in self._live.values():
            env.close()
        self._live.clear()
        self.database.dispose()

    # -- conversations ---------------------------------------------------------

    def workspace(self, conversation_id: int) -> Path:
        """The conversation's working folder: next to a SQLite file, else under the data folder."""
        root = os.environ.get("ENVLOOP_WORKSPACES")
        if root:
            return Path(root) / str(conversation_id)
        if self.database.is_sqlite and self.database.engine.url.database not in (None, "", ":memory:"):
            return Path(self.database.engine.url.database).parent / "workspaces" / str(conversation_id)
        return default_db_path().parent / "workspaces" / str(conversation_id)

    @property
    def extensions(self) -> Any:
        """The active extensions (built-ins, entry points, ENVLOOP_EXTENSIONS), loaded once."""
        if self._extensions is None:
            from envloop.extensions_api import load_extensions

            self._extensions = load_extensions()
        return self._extensions

    def environment(self, conversation_id: int, *, cancel: threading.Event | None = None,
                    on_wait: Callable[[dict[str, Any]], None] | None = None) -> Environment:
        """The live environment of a conversation, started (and restored) on first use.

        Starting takes the conversation's lock; when another process holds it,
        ``on_wait`` hears who at once and ``cancel`` stops the wait (envloop.waiting).
        """
        with self._guard:
            self._evict_idle(keep=conversation_id)
            env = self._live.get(conversation_id)
            if env is None:
                env = Environment(self.database, conversation_id, self.workspace(conversation_id),
                                  timeout=self.timeout, extensions=self.extensions, approve=self.approve)
                env.lock.relabel(self.channel)
                try:
                    with holding(env.lock, cancel=cancel, on_wait=on_wait or self.on_wait):
                        env.start(locked=True)
                except BaseException:
                    env.close()
                    raise
                self._live[conversation_id] = env
            self._used[conversation_id] = time.monotonic()
            return env

    def _evict_idle(self, keep: int) -> None:
        """Stop the workers of conversations nobody used for a while (or the oldest, past MAX_LIVE)."""
        now = time.monotonic()
        idle = sorted((used, cid) for cid, used in self._used.items() if cid != keep and cid not in self._running)
        surplus = len(self._live) - self.MAX_LIVE + 1
        for position, (used, cid) in enumerate(idle):
            if now - used > self.IDLE_SECONDS or position < surplus:
                self.evict(cid)

    def evict(self, conversation_id: int) -> None:
        """Stop a conversation's worker; it is restored from the database on next use."""
        with self._guard:
            env = self._live.pop(conversation_id, None)
            self._used.pop(conversation_id, None)
        if env is not None:
            env.close()

    def live_conversations(self) -> list[int]:
        return list(self._live)

    # -- turns ------------------------------------------------------------------------

    def open_conversation(self, *, channel: str, external_id: str, title: str | None = None) -> ConversationInfo:
        """The conversation of a channel's chat (say a Telegram chat id), created on first contact."""
        with self.database.session(write=True) as session:
            conv = session.scalar(
                select(Conversation).where(Conversation.channel == channel, Conversation.external_id == external_id)
            )
            if conv is None:
                conv = Conversation(title=title, channel=channel, external_id=external_id)
                session.add(conv)
                session.flush()
            turns = session.scalar(select(func.count(Query.id)).where(Query.conversation_id == conv.id)) or 0
            return conversation_info(conv, turns)

    def new_channel_conversation(self, *, channel: str, external_id: str, title: str | None = None) -> ConversationInfo:
        """A fresh conversation for a channel's chat (Telegram's /new); the old one is kept, not deleted.

        (channel, external_id) is unique, so in one transaction the chat's current
        conversation is renamed to ``{external_id}#archived-{its id}`` and a new one
        takes the chat's external id.
        """
        with self.database.session(write=True) as session:
            old = session.scalar(
                select(Conversation).where(Conversation.channel == channel, Conversation.external_id == external_id)
            )
            if old is not None:
                old.external_id = f"{external_id}#archived-{old.id}"
                session.flush()
            conv = Conversation(title=title, channel=channel, external_id=external_id)
            session.add(conv)
            session.flush()
            return conversation_info(conv, 0)

    def send(
        self,
        text: str,
        *,
        conversation_id: int | None = None,
        new: bool = False,
        model: str | None = None,
        max_iterations: int = 8,
        on_event: Callable[[Event], None] | None = None,
        approve: Callable[[str, str], bool] | None = None,
        cancel: threading.Event | None = None,
    ) -> TurnResult:
        """Run one turn; events stream to ``on_event`` as it runs. Raises ModelNotConfigured without a model."""
        client = self.model(model)
        cid = self.create_conversation(title=_title(text)).id if new else self.resolve(conversation_id)
        announce = None if on_event is None else (lambda info: on_event(Event("waiting", info)))
        env = self.environment(cid, cancel=cancel, on_wait=announce)
        turn = Turn(env, client, max_iterations=max_iterations, on_event=on_event, cancel=cancel,
                    approve=approve or self.approve)
        with self._guard:
            self._running[cid] = turn
        try:
            return turn.run(text)
        finally:
            with self._guard:
                if self._running.get(cid) is turn:
                    del self._running[cid]
                self._used[cid] = time.monotonic()

    def model(self, name: str | None = None) -> Any:
        """The model client for ``name`` (or the configured one), kept for the life of this Envloop.

        Keeping it means a replay model continues where the previous turn stopped.
        Raises ModelNotConfigured, saying how to configure one, when there is none.
        """
        from envloop.llm import get_model, resolve_model_name

        key = resolve_model_name(name)
        with self._guard:
            if key not in self._models:
                self._models[key] = get_model(key)
            return self._models[key]

    def cancel(self, conversation_id: int) -> bool:
        """Cancel the running turn of a conversation: stop the model wait and interrupt its block."""
        turn = self._running.get(conversation_id)
        if turn is None:
            return False
        turn.cancel.set()
        turn.env.sandbox.interrupt()
        return True

    def interrupt(self, conversation_id: int) -> bool:
        """Interrupt the block running in a conversation's sandbox (a direct ``run_code`` too); False if not live."""
        waiting = self._run_waits.get(conversation_id)
        if waiting is not None:
            waiting.set()  # a run still waiting for another process's turn: stop waiting
        env = self._live.get(conversation_id)
        if env is None:
            return waiting is not None
        env.sandbox.interrupt()
        return True

    def run_code(
        self, code: str, *, conversation_id: int | None = None, new: bool = False, timeout: float | None = None,
        kind: str = "run", text: str | None = None,
    ) -> RunReport:
        """Run a block directly (author: user) as a turn of kind "run" (or ``kind``, e.g. "recompute")."""
        cid = self.create_conversation(title=_title(code)).id if new else self.resolve(conversation_id)
        # interrupt(cid) -- Ctrl-C in the chat -- also stops the wait for another process's turn
        cancel = self._run_waits.setdefault(cid, threading.Event())
        try:
            env = self.environment(cid, cancel=cancel)
            with holding(env.lock, cancel=cancel, on_wait=self.on_wait):
                self._run_waits.pop(cid, None)
                return self._run_locked(env, cid, code, timeout, kind, text)
        finally:
            self._run_waits.pop(cid, None)

    def _run_locked(self, env: Environment, cid: int, code: str, timeout: float | None, kind: str,
                    text: str | None) -> RunReport:
        """The run itself, with the conversation's lock held: its turn record, the block, its versions."""
        with self.database.session(write=True) as session:
            query_id, position = timeline.new_query_row(session, cid, kind=kind, text=text or code)
        try:
            outcome = env.run_block(
                code, author="user", query_id=query_id, timeout=timeout,
                finish=lambda session, done: _finish_run(session, query_id, done),
            )
        except BaseException:
            with self.database.session(write=True) as session:
                _finish_run(session, query_id, None)
            raise
        return RunReport(cid, position, outcome)

    # -- the versioned namespace --------------------------------------------------

    def _rewrite(self, conversation_id: int | None, operation: Any, *args: Any) -> timeline.TimelineChange:
        """Run a timeline operation under the lock, then bring the live namespace up to date."""
        cid = self.resolve(conversation_id)
        env = self.environment(cid)
        with holding(env.lock, on_wait=self.on_wait):
            with self.database.session(write=True) as session:
                change: timeline.TimelineChange = operation(session, cid, *args)
            if change.conversation_id == cid:
                env.sync()
        return change

    def rollback(self, name: str, version: int, conversation_id: int | None = None) -> timeline.TimelineChange:
        return self._rewrite(conversation_id, timeline.rollback, name, version)

    def undo(self, conversation_id: int | None = None) -> timeline.TimelineChange:
        """Undo the newest changing turn not undone yet; repeat to walk further back."""
        return self._rewrite(conversation_id, timeline.undo)

    def redo(self, conversation_id: int | None = None) -> timeline.TimelineChange:
        """Re-apply the turn the latest undo took back."""
        return self._rewrite(conversation_id, timeline.redo)

    def plan_recompute(self, name: str | None = None, conversation_id: int | None = None) -> RecomputePlan:
        """What ``recompute`` would run for NAME (or every stale name), and which calls have effects."""
        cid = self.resolve(conversation_id)
        effectful = {n for n, f in self.extensions.functions.items() if f.effect != "read"}
        with self.database.session() as session:
            return plan_recompute(session, cid, name, effectful)

    def recompute(self, plan: RecomputePlan, conversation_id: int | None = None) -> RunReport:
        """Run a recompute plan as one new turn (undoable like any other)."""
        header = f"# recompute {', '.join(plan.names)}"
        report = self.run_code(plan.code, conversation_id=conversation_id, kind="recompute",
                               text=f"{header}\n{plan.code}")
        outcome = report.outcome
        unchanged = set(plan.names) - {name for name, _, _ in outcome.changed}
        if outcome.result.ok and unchanged:
            env = self.environment(report.conversation_id)
            with env.lock, self.database.session(write=True) as session:
                rows = refresh_unchanged(session, report.conversation_id, outcome.block_id, plan.code, unchanged,
                                         outcome.result.trace)
                outcome.changed += [(row.name, row.version, row.kind) for row in rows]
                env.note_written([row.id for row in rows])
        return report

    def use(self, conversation_id: int) -> ConversationInfo:
        """Make ``conversation_id`` the current one (the default of every command): mark it active now."""
        with self.database.session(write=True) as session:
            conv = session.get(Conversation, conversation_id)
            if conv is None:
                raise NotFoundError(f"no conversation {conversation_id}")
            conv.updated_at = utcnow()
            turns = session.scalar(select(func.count(Query.id)).where(Query.conversation_id == conversation_id))
            return conversation_info(conv, turns or 0)

    def fork(self, conversation_id: int | None = None, at: int | None = None) -> timeline.TimelineChange:
        """A new conversation from this one's state after turn ``at``; it becomes the current one."""
        change = self._rewrite(conversation_id, timeline.fork, at)
        self.use(change.conversation_id)
        return change

    def __enter__(self) -> Envloop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_conversation(
        self, *, title: str | None = None, channel: str = "cli", external_id: str | None = None
    ) -> ConversationInfo:
        with self.database.session(write=True) as session:
            conv = Conversation(title=title, channel=channel, external_id=external_id)
            session.add(conv)
            session.flush()
            return conversation_info(conv, 0)


def _finish_run(session: Any, query_id: int, outcome: BlockOutcome | None) -> None:
    """Record how a direct run ended, in the transaction that stores its block.

    One prebuilt UPDATE of the row ``_run_locked`` just made (answer, error and duration still empty), not an
    ORM load and flush: it runs with every block."""
    values: dict[str, Any] = {"qid": query_id, "finished": utcnow(), "status": "error",
                              "error": "the block could not be run", "answer": None, "duration": None}
    if outcome is not None:
        result = outcome.result
        values.update(status="done" if result.ok else "error", answer=result.result, duration=result.duration_ms,
                      error=f"{result.error['type']}: {result.error['message']}" if result.error else None)
    session.execute(_FINISH_RUN, values)


_QUERIES = cast(Table, Query.__table__)
_FINISH_RUN = update(_QUERIES).where(_QUERIES.c.id == bindparam("qid")).values(
    finished_at=bindparam("finished"), status=bindparam("status"), error=bindparam("error"),
    answer=bindparam("answer"), duration_ms=bindparam("duration"))


def _title(code: str) -> str:
    first = code.strip().split("\n", 1)[0]
    return first[:60] + ("…" if len(first) > 60 else "")
