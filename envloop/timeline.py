"""Rewriting a conversation's timeline without deleting anything: rollback, undo, fork.

Each operation is recorded as a turn of its own kind ("rollback", "undo",
"fork") with a system block, and writes NEW versions equal to old ones
(``rolled_back_from_id`` says which), so every operation can itself be undone
and provenance stays whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from envloop.errors import NotFoundError
from envloop.store.history import version_row
from envloop.store.models import (
    Block,
    Conversation,
    DefinitionVersion,
    ProvenanceEdge,
    Query,
    utcnow,
)

__all__ = ["TimelineChange", "fork", "new_query", "rollback", "undo"]


@dataclass
class TimelineChange:
    """What a timeline operation wrote: (name, new version, kind) triples, in one turn."""

    conversation_id: int
    turn: int
    changed: list[tuple[str, int, str]]
    note: str


def new_query(session: Session, conversation_id: int, *, kind: str, text: str, status: str = "running") -> Query:
    """A new turn record at the next position of the conversation."""
    position = session.scalar(select(func.max(Query.position)).where(Query.conversation_id == conversation_id))
    query = Query(conversation_id=conversation_id, position=(position or 0) + 1, kind=kind, text=text, status=status)
    session.add(query)
    session.flush()
    return query


def _system_turn(session: Session, conversation_id: int, kind: str, text: str) -> tuple[Query, Block]:
    query = new_query(session, conversation_id, kind=kind, text=text, status="done")
    query.finished_at = utcnow()
    block = Block(conversation_id=conversation_id, query_id=query.id, author="system", source=f"# {text}")
    session.add(block)
    session.flush()
    return query, block


def _copy(row: DefinitionVersion, *, conversation_id: int, version: int, block_id: int) -> DefinitionVersion:
    return DefinitionVersion(
        conversation_id=conversation_id,
        name=row.name,
        version=version,
        kind=row.kind,
        source=row.source,
        encoding=row.encoding,
        value_sha256=row.value_sha256,
        lost_reason=row.lost_reason,
        preview=row.preview,
        type_name=row.type_name,
        size=row.size,
        block_id=block_id,
        rolled_back_from_id=row.id,
    )


def _newest_number(session: Session, conversation_id: int, name: str) -> int:
    return session.scalar(
        select(func.max(DefinitionVersion.version)).where(
            DefinitionVersion.conversation_id == conversation_id, DefinitionVersion.name == name
        )
    ) or 0


def rollback(session: Session, conversation_id: int, name: str, version: int) -> TimelineChange:
    """Write a new version of ``name`` equal to ``version`` (which must exist)."""
    old = version_row(session, conversation_id, name, version)
    newest = _newest_number(session, conversation_id, name)
    query, block = _system_turn(session, conversation_id, "rollback", f"rollback {name} to v{version}")
    row = _copy(old, conversation_id=conversation_id, version=newest + 1, block_id=block.id)
    session.add(row)
    session.flush()
    return TimelineChange(conversation_id, query.position, [(name, row.version, row.kind)],
                          f"{name} v{newest} → v{row.version} (= v{version})")


def undo(session: Session, conversation_id: int) -> TimelineChange:
    """Roll back every name the last turn that changed anything changed; new names get a tombstone."""
    last = session.execute(
        select(Query)
        .join(Block, Block.query_id == Query.id)
        .join(DefinitionVersion, DefinitionVersion.block_id == Block.id)
        .where(Query.conversation_id == conversation_id)
        .order_by(Query.position.desc())
        .limit(1)
    ).scalar()
    if last is None:
        raise NotFoundError(f"nothing to undo in conversation {conversation_id}")
    touched = session.execute(
        select(DefinitionVersion.name, func.min(DefinitionVersion.version))
        .join(Block, DefinitionVersion.block_id == Block.id)
        .where(Block.query_id == last.id)
        .group_by(DefinitionVersion.name)
        .order_by(DefinitionVersion.name)
    ).all()
    query, block = _system_turn(session, conversation_id, "undo", f"undo turn {last.position} ({last.kind})")
    changed = []
    for name, first_version in touched:
        newest = _newest_number(session, conversation_id, name)
        if first_version > 1:
            before = version_row(session, conversation_id, name, first_version - 1)
            row = _copy(before, conversation_id=conversation_id, version=newest + 1, block_id=block.id)
        else:
            row = DefinitionVersion(conversation_id=conversation_id, name=name, version=newest + 1,
                                    kind="deleted", preview="<deleted by undo>", block_id=block.id)
        session.add(row)
        changed.append((name, row.version, row.kind))
    session.flush()
    return TimelineChange(conversation_id, query.position, changed, f"undid turn {last.position}")


def fork(session: Session, conversation_id: int, at: int | None = None) -> TimelineChange:
    """A new conversation whose state is this one's after turn ``at`` (default: the latest)."""
    parent = session.get(Conversation, conversation_id)
    if parent is None:
        raise NotFoundError(f"no conversation {conversation_id}")
    newest_turn = session.scalar(select(func.max(Query.position)).where(Query.conversation_id == conversation_id))
    if at is None:
        at = newest_turn or 0
    elif at < 0 or at > (newest_turn or 0):
        raise NotFoundError(f"conversation {conversation_id} has no turn {at} (turns 1 to {newest_turn or 0})")
    rows = _state_after(session, conversation_id, at)
    child = Conversation(title=f"fork of {parent.title or conversation_id} at turn {at}",
                         channel=parent.channel, parent_id=conversation_id, fork_turn=at)
    session.add(child)
    session.flush()
    query, block = _system_turn(session, child.id, "fork", f"fork of conversation {conversation_id} at turn {at}")
    changed = []
    for row in rows:
        copy = _copy(row, conversation_id=child.id, version=1, block_id=block.id)
        copy.rolled_back_from_id = None
        session.add(copy)
        session.flush()
        session.add(ProvenanceEdge(definition_version_id=copy.id, read_definition_version_id=row.id))
        changed.append((row.name, 1, row.kind))
    session.flush()
    return TimelineChange(child.id, query.position, changed, f"forked conversation {conversation_id} at turn {at}")


def _state_after(session: Session, conversation_id: int, at: int) -> list[DefinitionVersion]:
    """The newest version of each live name among the versions written by turns up to ``at``."""
    upto = (
        select(DefinitionVersion.name, func.max(DefinitionVersion.version).label("v"))
        .join(Block, DefinitionVersion.block_id == Block.id)
        .join(Query, Block.query_id == Query.id)
        .where(DefinitionVersion.conversation_id == conversation_id, Query.position <= at)
        .group_by(DefinitionVersion.name)
        .subquery()
    )
    rows = session.scalars(
        select(DefinitionVersion)
        .join(upto, (DefinitionVersion.name == upto.c.name) & (DefinitionVersion.version == upto.c.v))
        .where(DefinitionVersion.conversation_id == conversation_id)
        .order_by(DefinitionVersion.id)
    )
    return [row for row in rows if row.kind != "deleted"]
