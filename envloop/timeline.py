"""Rewriting a conversation's timeline without deleting anything: rollback, undo, redo, fork.

Each operation is recorded as a turn of its own kind ("rollback", "undo",
"redo", "fork") with a system block, and writes NEW versions equal to old ones
(``rolled_back_from_id`` says which), so every operation can itself be undone
and provenance stays whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select
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

__all__ = ["LogEntry", "TimelineChange", "UndoState", "fork", "log", "new_query", "redo", "rollback", "undo",
           "undo_state"]


@dataclass
class TimelineChange:
    """What a timeline operation wrote: (name, new version, kind) triples, in one turn."""

    conversation_id: int
    turn: int
    changed: list[tuple[str, int, str]]
    note: str


#: A conversation's last turn position (built once: every run and turn asks).
_LAST_POSITION = select(func.max(Query.position)).where(Query.conversation_id == bindparam("conversation"))


def new_query(session: Session, conversation_id: int, *, kind: str, text: str, status: str = "running") -> Query:
    """A new turn record at the next position of the conversation."""
    position = session.scalar(_LAST_POSITION, {"conversation": conversation_id})
    query = Query(conversation_id=conversation_id, position=(position or 0) + 1, kind=kind, text=text, status=status)
    session.add(query)
    session.flush()
    return query


def new_query_row(session: Session, conversation_id: int, *, kind: str, text: str) -> tuple[int, int]:
    """:func:`new_query` (status running) without the ORM object: its (id, position).

    Every direct run makes one; a prebuilt Core insert costs a fraction of the ORM's unit of work.
    """
    position = (session.scalar(_LAST_POSITION, {"conversation": conversation_id}) or 0) + 1
    made = session.execute(_INSERT_QUERY, {"conversation_id": conversation_id, "position": position, "kind": kind,
                                           "text": text, "status": "running"})
    return int(cast(Any, made).inserted_primary_key[0]), position


_INSERT_QUERY = insert(cast(Table, Query.__table__))


def _system_turn(session: Session, conversation_id: int, kind: str, text: str) -> tuple[Query, Block]:
    query = new_query(session, conversation_id, kind=kind, text=text, status="done")
    query.finished_at = utcnow()
    block = Block(conversation_id=conversation_id, query_id=query.id, author="system", source=f"# {text}")
    session.add(block)
    session.flush()
    return query, block


def copy_version(row: DefinitionVersion, *, conversation_id: int, version: int, block_id: int) -> DefinitionVersion:
    """A new version with ``row``'s content (``rolled_back_from_id`` pointing at it)."""
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
    row = copy_version(old, conversation_id=conversation_id, version=newest + 1, block_id=block.id)
    session.add(row)
    session.flush()
    return TimelineChange(conversation_id, query.position, [(name, row.version, row.kind)],
                          f"{name} v{newest} → v{row.version} (= v{version})")


# -- undo and redo: a history, not a toggle ---------------------------------------------

# An undo or redo turn names its target in its text: "undo turn 5 (turn)", "redo turn 5".
_TARGET = re.compile(r"^(undo|redo) turn (\d+)\b")
_NOT_UNDOABLE = ("undo", "redo", "fork")


@dataclass
class UndoState:
    """Where a conversation's timeline stands: what undo and redo would act on next.

    Derived from the turns themselves, so nothing else has to be kept in step:
    an undo turn marks its target undone and pushes it on the redo stack, a
    redo pops it, and a new turn that changes anything clears the redo stack
    (as in an editor). Undo always takes the newest changing turn that is not
    undone, so repeated undos walk back one turn at a time.
    """

    changing: list[int]  # positions of undoable turns that changed names, oldest first
    undone: set[int]
    redo_stack: list[int]

    def undo_target(self) -> int | None:
        return next((p for p in reversed(self.changing) if p not in self.undone), None)

    def redo_target(self) -> int | None:
        return self.redo_stack[-1] if self.redo_stack else None


def undo_state(session: Session, conversation_id: int) -> UndoState:
    changed = set(
        session.scalars(
            select(Query.position)
            .join(Block, Block.query_id == Query.id)
            .join(DefinitionVersion, DefinitionVersion.block_id == Block.id)
            .where(Query.conversation_id == conversation_id)
            .distinct()
        )
    )
    state = UndoState([], set(), [])
    kinds: dict[int, str] = {}
    rows = session.execute(
        select(Query.position, Query.kind, Query.text)
        .where(Query.conversation_id == conversation_id)
        .order_by(Query.position)
    )
    for position, kind, text in rows:
        kinds[position] = kind
        match = _TARGET.match(text or "") if kind in ("undo", "redo") else None
        if match is not None:
            target = int(match.group(2))
            if kinds.get(target) in _NOT_UNDOABLE:
                continue  # written by the old toggling undo; it names no turn of content
            if kind == "undo":
                state.undone.add(target)
                state.redo_stack.append(target)
            else:
                state.undone.discard(target)
                if target in state.redo_stack:
                    state.redo_stack.remove(target)
        elif position in changed and kind not in _NOT_UNDOABLE:
            state.changing.append(position)
            state.redo_stack.clear()
    return state


def _turn_versions(session: Session, conversation_id: int, position: int) -> dict[str, DefinitionVersion]:
    """The last version of each name that turn ``position`` wrote."""
    rows = session.scalars(
        select(DefinitionVersion)
        .join(Block, DefinitionVersion.block_id == Block.id)
        .join(Query, Block.query_id == Query.id)
        .where(Query.conversation_id == conversation_id, Query.position == position)
        .order_by(DefinitionVersion.version)
    )
    return {row.name: row for row in rows}


def _version_before(session: Session, conversation_id: int, name: str, position: int) -> DefinitionVersion | None:
    """``name``'s newest version written by a turn before ``position`` (None: it did not exist)."""
    return session.scalars(
        select(DefinitionVersion)
        .join(Block, DefinitionVersion.block_id == Block.id)
        .join(Query, Block.query_id == Query.id)
        .where(DefinitionVersion.conversation_id == conversation_id, DefinitionVersion.name == name,
               Query.position < position)
        .order_by(DefinitionVersion.version.desc())
        .limit(1)
    ).first()


def _restore(session: Session, conversation_id: int, block: Block, name: str,
             source: DefinitionVersion | None) -> DefinitionVersion:
    """A new version of ``name`` equal to ``source``, or a tombstone when there is none."""
    newest = _newest_number(session, conversation_id, name)
    if source is None:
        row = DefinitionVersion(conversation_id=conversation_id, name=name, version=newest + 1,
                                kind="deleted", preview="<deleted by undo>", block_id=block.id)
    else:
        row = copy_version(source, conversation_id=conversation_id, version=newest + 1, block_id=block.id)
    session.add(row)
    return row


def undo(session: Session, conversation_id: int) -> TimelineChange:
    """Undo the newest turn (or run, or rollback) that changed names and is not undone yet.

    Each name that turn changed gets a new version equal to its state before
    the turn (names it created are tombstoned). Repeating walks further back;
    ``redo`` walks forward again. Nothing is deleted.
    """
    state = undo_state(session, conversation_id)
    target = state.undo_target()
    if target is None:
        raise NotFoundError(f"nothing to undo in conversation {conversation_id}")
    touched = _turn_versions(session, conversation_id, target)
    kind = session.scalar(select(Query.kind).where(Query.conversation_id == conversation_id,
                                                   Query.position == target))
    query, block = _system_turn(session, conversation_id, "undo", f"undo turn {target} ({kind})")
    changed = []
    for name in sorted(touched):
        row = _restore(session, conversation_id, block, name, _version_before(session, conversation_id, name, target))
        changed.append((name, row.version, row.kind))
    session.flush()
    left = sum(1 for p in state.changing if p not in state.undone and p != target)
    return TimelineChange(conversation_id, query.position, changed,
                          f"undid turn {target} ({left} more to undo; `redo` brings it back)")


def redo(session: Session, conversation_id: int) -> TimelineChange:
    """Re-apply the turn the latest undo took back: its names get the values that turn gave them."""
    state = undo_state(session, conversation_id)
    target = state.redo_target()
    if target is None:
        raise NotFoundError(f"nothing to redo in conversation {conversation_id}")
    query, block = _system_turn(session, conversation_id, "redo", f"redo turn {target}")
    changed = []
    for name, made in sorted(_turn_versions(session, conversation_id, target).items()):
        row = _restore(session, conversation_id, block, name, made)
        changed.append((name, row.version, row.kind))
    session.flush()
    return TimelineChange(conversation_id, query.position, changed,
                          f"redid turn {target} ({len(state.redo_stack) - 1} more to redo)")


@dataclass
class LogEntry:
    """One line of ``envloop log``: a turn or a timeline operation."""

    turn: int
    kind: str
    status: str
    text: str
    created_at: datetime
    changed: int  # versions it wrote
    undone: bool  # taken back by an undo (and not redone)


def log(session: Session, conversation_id: int) -> list[LogEntry]:
    """The conversation's turns and timeline operations, oldest first."""
    state = undo_state(session, conversation_id)
    counts: dict[int, int] = {
        position: count
        for position, count in session.execute(
            select(Query.position, func.count(DefinitionVersion.id))
            .join(Block, Block.query_id == Query.id)
            .join(DefinitionVersion, DefinitionVersion.block_id == Block.id)
            .where(Query.conversation_id == conversation_id)
            .group_by(Query.position)
        )
    }
    rows = session.scalars(select(Query).where(Query.conversation_id == conversation_id).order_by(Query.position))
    return [
        LogEntry(q.position, q.kind, q.status, q.text, q.created_at, counts.get(q.position, 0),
                 q.position in state.undone)
        for q in rows
    ]


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
        copy = copy_version(row, conversation_id=child.id, version=1, block_id=block.id)
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
