"""The conversation layer: the only API channels call.

``Envloop`` is the application handle: it owns the database and (in later
layers) the live environments of open conversations.  Channels (the CLI, the
terminal chat, the Telegram bot) hold no business logic; they call this.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from envloop.store.db import Database, open_database
from envloop.store.models import Conversation, Query

__all__ = ["ConversationInfo", "Envloop"]


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


class Envloop:
    """An open envloop: the database plus the conversations in it."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @classmethod
    def open(cls, db: str | None = None, *, upgrade: bool = True) -> Envloop:
        """Open the database named by ``db`` (path or URL), ENVLOOP_DB, or the default."""
        return cls(open_database(db, upgrade=upgrade))

    def close(self) -> None:
        self.database.dispose()

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
