"""The conversation layer: the only API channels call.

``Envloop`` is the application handle: it owns the database and (in later
layers) the live environments of open conversations.  Channels (the CLI, the
terminal chat, the Telegram bot) hold no business logic; they call this.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from envloop import timeline
from envloop.engine import Event, Turn, TurnResult
from envloop.environment import BlockOutcome, Environment
from envloop.errors import NotFoundError
from envloop.store import history as store_history
from envloop.store.db import Database, default_db_path, open_database
from envloop.store.models import ArtifactVersion, Blob, Conversation, Iteration, Query, utcnow
from envloop.store.versions import latest_artifacts

__all__ = ["ConversationInfo", "Envloop", "Event", "RunReport", "TurnResult"]


@dataclass(frozen=True)
class ConversationInfo:
    """A conversation as listings show it."""

    id: int
    title: str | None
    channel: str
    external_id: str | None
    parent_id: int | None
    fork_turn: int | None
    created_at: datetime
    updated_at: datetime
    turns: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        return data


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
            "duration_ms": round(result.duration_ms, 3),
        }


class Envloop:
    """An open envloop: the database plus the live environments of its conversations."""

    #: Live environments idle longer than this are evicted (their worker stops; the state is in the database).
    IDLE_SECONDS = 15 * 60
    MAX_LIVE = 64

    def __init__(self, database: Database, *, timeout: float | None = None,
                 approve: Callable[[str, str], bool] | None = None) -> None:
        self.database = database
        self.timeout = timeout
        self.approve = approve
        self._live: dict[int, Environment] = {}
        self._used: dict[int, float] = {}
        self._running: dict[int, Turn] = {}
        self._guard = threading.RLock()
        self._extensions: Any = None
        self._models: dict[str | None, Any] = {}

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

    def resolve(self, conversation_id: int | None = None) -> int:
        """The given conversation (checked to exist), else the most recently active one."""
        with self.database.session() as session:
            if conversation_id is not None:
                if session.get(Conversation, conversation_id) is None:
                    raise NotFoundError(f"no conversation {conversation_id}")
                return conversation_id
            latest = session.scalar(
                select(Conversation.id).order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(1)
            )
        if latest is None:
            raise NotFoundError("there are no conversations yet (start one with `envloop run CODE --new`)")
        return latest

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

    def environment(self, conversation_id: int) -> Environment:
        """The live environment of a conversation, started (and restored) on first use."""
        with self._guard:
            self._evict_idle(keep=conversation_id)
            env = self._live.get(conversation_id)
            if env is None:
                env = Environment(self.database, conversation_id, self.workspace(conversation_id),
                                  timeout=self.timeout, extensions=self.extensions, approve=self.approve)
                try:
                    env.start()
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
            return _info(conv, turns)

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
            return _info(conv, 0)

    def last_turns(self, channel: str, *, conversation_id: int | None = None) -> list[dict[str, Any]]:
        """The last turn of each conversation of a channel (read-only): id, external id, turn, status, text.

        A channel calls this on start to find turns a dead process left "running"
        (``environment()`` marks them interrupted) and tell those chats.
        """
        last = (
            select(Query.conversation_id, func.max(Query.position).label("position"))
            .where(Query.kind == "turn")
            .group_by(Query.conversation_id)
            .subquery()
        )
        stmt = (
            select(Conversation.id, Conversation.external_id, Query.position, Query.status, Query.text)
            .join(last, last.c.conversation_id == Conversation.id)
            .join(Query, (Query.conversation_id == Conversation.id) & (Query.position == last.c.position))
            .where(Conversation.channel == channel)
            .order_by(Conversation.id)
        )
        if conversation_id is not None:
            stmt = stmt.where(Conversation.id == conversation_id)
        with self.database.session() as session:
            return [
                {"conversation_id": cid, "external_id": external, "turn": turn, "status": status, "text": text}
                for cid, external, turn, status, text in session.execute(stmt)
            ]

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
        env = self.environment(cid)
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
        env = self._live.get(conversation_id)
        if env is None:
            return False
        env.sandbox.interrupt()
        return True

    def run_code(
        self, code: str, *, conversation_id: int | None = None, new: bool = False, timeout: float | None = None
    ) -> RunReport:
        """Run a block directly (author: user) as a turn of kind "run"."""
        cid = self.create_conversation(title=_title(code)).id if new else self.resolve(conversation_id)
        env = self.environment(cid)
        with env.lock:
            with self.database.session(write=True) as session:
                query = timeline.new_query(session, cid, kind="run", text=code)
                query_id, position = query.id, query.position
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

    def vars(self, conversation_id: int | None = None) -> list[store_history.VarEntry]:
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            return store_history.var_index(session, cid)

    def history(self, name: str, conversation_id: int | None = None) -> list[store_history.VersionInfo]:
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            return store_history.history(session, cid, name)

    def why(self, name: str, conversation_id: int | None = None) -> list[store_history.VersionInfo]:
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            return store_history.why(session, cid, name)

    def _rewrite(self, conversation_id: int | None, operation: Any, *args: Any) -> timeline.TimelineChange:
        """Run a timeline operation under the lock, then bring the live namespace up to date."""
        cid = self.resolve(conversation_id)
        env = self.environment(cid)
        with env.lock:
            with self.database.session(write=True) as session:
                change = operation(session, cid, *args)
            if change.conversation_id == cid:
                env.sync()
        return change

    def rollback(self, name: str, version: int, conversation_id: int | None = None) -> timeline.TimelineChange:
        return self._rewrite(conversation_id, timeline.rollback, name, version)

    def undo(self, conversation_id: int | None = None) -> timeline.TimelineChange:
        return self._rewrite(conversation_id, timeline.undo)

    def fork(self, conversation_id: int | None = None, at: int | None = None) -> timeline.TimelineChange:
        return self._rewrite(conversation_id, timeline.fork, at)

    def usage(self, conversation_id: int | None = None) -> dict[str, Any]:
        """Tokens, cost and time spent on a conversation's turns, and on its last turn."""
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            totals = session.execute(
                select(func.count(Query.id), func.coalesce(func.sum(Query.tokens_in), 0),
                       func.coalesce(func.sum(Query.tokens_out), 0), func.sum(Query.cost),
                       func.coalesce(func.sum(Query.duration_ms), 0.0))
                .where(Query.conversation_id == cid, Query.kind == "turn")
            ).one()
            last = session.scalars(
                select(Query).where(Query.conversation_id == cid, Query.kind == "turn").order_by(Query.position.desc())
            ).first()
        usage = {"conversation_id": cid, "turns": totals[0], "tokens_in": totals[1], "tokens_out": totals[2],
                 "cost": totals[3], "duration_ms": totals[4], "last": None}
        if last is not None:
            usage["last"] = {"turn": last.position, "status": last.status, "tokens_in": last.tokens_in,
                             "tokens_out": last.tokens_out, "cost": last.cost, "duration_ms": last.duration_ms,
                             "iterations": last.iteration_count, "model": last.model}
        return usage

    def inspect(self, conversation_id: int | None = None, *, turn: int | None = None,
                iteration: int | None = None) -> dict[str, Any]:
        """Exactly what was sent to the model in one iteration (default: the latest) and its reply."""
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            stmt = select(Iteration, Query).join(Query, Iteration.query_id == Query.id).where(Query.conversation_id == cid)
            if turn is not None:
                stmt = stmt.where(Query.position == turn)
            if iteration is not None:
                stmt = stmt.where(Iteration.position == iteration)
            row = session.execute(stmt.order_by(Query.position.desc(), Iteration.position.desc()).limit(1)).first()
            if row is None:
                what = (f" turn {turn}" if turn is not None else "") + (f" iteration {iteration}" if iteration else "")
                raise NotFoundError(f"conversation {cid} has no model iteration{what}")
            it, query = row
            system = it.system_prompt.text if it.system_prompt is not None else ""
            return {
                "conversation_id": cid, "turn": query.position, "iteration": it.position, "model": query.model,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": it.prompt}],
                "reply": it.raw_reply, "error": it.error, "tokens_in": it.tokens_in, "tokens_out": it.tokens_out,
            }

    def export(self, conversation_id: int | None = None, fmt: str = "md") -> str:
        """The conversation as a notebook (ipynb), a Python script (py) or Markdown (md)."""
        from envloop.export import export_conversation

        return export_conversation(self.database, self.resolve(conversation_id), fmt)  # type: ignore[arg-type]

    # -- artifacts ------------------------------------------------------------------

    def artifacts(self, conversation_id: int | None = None) -> list[dict[str, Any]]:
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            counts = dict(
                session.execute(
                    select(ArtifactVersion.name, func.count())
                    .where(ArtifactVersion.conversation_id == cid)
                    .group_by(ArtifactVersion.name)
                ).all()
            )
            return [
                {"name": a.name, "version": a.version, "versions": counts[a.name], "media_type": a.media_type,
                 "size": a.size, "sha256": a.content_sha256, "created_at": a.created_at.isoformat()}
                for a in latest_artifacts(session, cid)
            ]

    def artifact(self, name: str, version: int | None = None, conversation_id: int | None = None) -> tuple[dict[str, Any], bytes]:
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            stmt = select(ArtifactVersion).where(ArtifactVersion.conversation_id == cid, ArtifactVersion.name == name)
            rows = list(session.scalars(stmt.order_by(ArtifactVersion.version)))
            if not rows:
                raise NotFoundError(f"no artifact {name!r} in conversation {cid}")
            chosen = rows[-1] if version is None else next((r for r in rows if r.version == version), None)
            if chosen is None:
                raise NotFoundError(f"artifact {name!r} has no version {version} (versions 1 to {rows[-1].version})")
            meta = {"name": name, "version": chosen.version, "media_type": chosen.media_type, "size": chosen.size}
            return meta, session.get(Blob, chosen.content_sha256).data

    def __enter__(self) -> Envloop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def list_conversations(self) -> list[ConversationInfo]:
        """Every conversation, most recently updated first, with its number of turns."""
        turns = (
            select(Query.conversation_id, func.count(Query.id).label("n"))
            .group_by(Query.conversation_id)
            .subquery()
        )
        stmt = (
            select(Conversation, func.coalesce(turns.c.n, 0))
            .outerjoin(turns, turns.c.conversation_id == Conversation.id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        )
        with self.database.session() as session:
            return [_info(conv, n) for conv, n in session.execute(stmt)]

    def create_conversation(
        self, *, title: str | None = None, channel: str = "cli", external_id: str | None = None
    ) -> ConversationInfo:
        with self.database.session(write=True) as session:
            conv = Conversation(title=title, channel=channel, external_id=external_id)
            session.add(conv)
            session.flush()
            return _info(conv, 0)


def _finish_run(session: Any, query_id: int, outcome: BlockOutcome | None) -> None:
    """Record how a direct run ended, in the transaction that stores its block."""
    query = session.get(Query, query_id)
    query.finished_at = utcnow()
    if outcome is None:
        query.status, query.error = "error", "the block could not be run"
        return
    result = outcome.result
    query.duration_ms = result.duration_ms
    query.status = "done" if result.ok else "error"
    query.answer = result.result
    if result.error:
        query.error = f"{result.error['type']}: {result.error['message']}"


def _title(code: str) -> str:
    first = code.strip().split("\n", 1)[0]
    return first[:60] + ("…" if len(first) > 60 else "")


def _info(conv: Conversation, turns: int) -> ConversationInfo:
    return ConversationInfo(
        id=conv.id,
        title=conv.title,
        channel=conv.channel,
        external_id=conv.external_id,
        parent_id=conv.parent_id,
        fork_turn=conv.fork_turn,
        created_at=conv.created_at,
        updated_at=conv.updated_at,
        turns=turns,
    )
