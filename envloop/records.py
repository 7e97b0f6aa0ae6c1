"""Reading a conversation back: listings, the var index, history, provenance, usage, prompts, artifacts.

``Records`` is the read-only half of :class:`envloop.conversation.Envloop`
(which channels use); it needs only ``self.database``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select

from envloop import timeline
from envloop.errors import NotFoundError
from envloop.instructions import current as current_instructions
from envloop.stale import Stale, stale_names
from envloop.store import history as store_history
from envloop.store.db import Database
from envloop.store.models import ArtifactVersion, Blob, Conversation, Iteration, Query
from envloop.store.versions import latest_artifacts, version_counts

if TYPE_CHECKING:
    from envloop.export import ConversationView

__all__ = ["ConversationInfo", "Records", "conversation_info"]


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


#: Whether a conversation exists (every direct run asks; built once, and not loading the whole row).
_EXISTS = select(Conversation.__table__.c.id).where(Conversation.__table__.c.id == bindparam("cid"))


class Records:
    """Read-only questions about the conversations in one database."""

    database: Database

    def resolve(self, conversation_id: int | None = None) -> int:
        """The given conversation (checked to exist), else the most recently active one."""
        with self.database.session() as session:
            if conversation_id is not None:
                if session.execute(_EXISTS, {"cid": conversation_id}).first() is None:
                    raise NotFoundError(f"no conversation {conversation_id}")
                return conversation_id
            latest = session.scalar(
                select(Conversation.id).order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(1)
            )
        if latest is None:
            raise NotFoundError("there are no conversations yet (start one with `envloop run CODE --new`)")
        return latest

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

    def vars(self, conversation_id: int | None = None) -> list[store_history.VarEntry]:
        """The var index, each stale name marked with why (envloop.stale)."""
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            entries = store_history.var_index(session, cid)
            stale = stale_names(session, cid)
        for entry in entries:
            if entry.name in stale:
                entry.stale = stale[entry.name].reason
        return entries

    def history(self, name: str, conversation_id: int | None = None) -> list[store_history.VersionInfo]:
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            return store_history.history(session, cid, name)

    def diff(self, name: str, old: int, new: int, conversation_id: int | None = None) -> list[str]:
        """What changed from version ``old`` to version ``new`` of ``name`` (envloop.diff)."""
        from envloop.diff import diff_versions

        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            return diff_versions(session, cid, name, old, new)

    def log(self, conversation_id: int | None = None) -> list[timeline.LogEntry]:
        """The conversation's turns and timeline operations (undo, redo, rollback, fork), oldest first."""
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            return timeline.log(session, cid)

    def why(self, name: str, conversation_id: int | None = None,
            version: int | None = None) -> list[store_history.VersionInfo]:
        """The provenance chain of ``name``'s given (default: newest) version."""
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            return store_history.why(session, cid, name, version)

    def stale(self, conversation_id: int | None = None) -> dict[str, Stale]:
        """Names derived from versions that have since been superseded, with why (envloop.stale)."""
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            return stale_names(session, cid)

    def transcript(self, conversation_id: int | None = None) -> ConversationView:
        """The conversation's turns, iterations and blocks as plain views (one consistent read)."""
        from envloop.export import load_conversation

        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            return load_conversation(session, cid)

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
        usage: dict[str, Any] = {"conversation_id": cid, "turns": totals[0], "tokens_in": totals[1], "tokens_out": totals[2],
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
                "instructions": current_instructions(session, cid).to_json(),  # in force now (the prompt: then)
            }

    def export(self, conversation_id: int | None = None, fmt: str = "md") -> str:
        """The conversation as a notebook (ipynb), a Python script (py) or Markdown (md)."""
        from envloop.export import export_conversation

        return export_conversation(self.database, self.resolve(conversation_id), fmt)  # type: ignore[arg-type]

    def artifacts(self, conversation_id: int | None = None) -> list[dict[str, Any]]:
        cid = self.resolve(conversation_id)
        with self.database.session() as session:
            counts = version_counts(session, ArtifactVersion, cid)
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
            return meta, session.get_one(Blob, chosen.content_sha256).data

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
            return [conversation_info(conv, n) for conv, n in session.execute(stmt)]


def conversation_info(conv: Conversation, turns: int) -> ConversationInfo:
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
