"""Reading the versioned namespace back: the var index, a name's history, and ``why``.

Everything here is read-only and returns plain dataclasses that channels print
as tables, trees or JSON.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from envloop.errors import NotFoundError
from envloop.making import making_statements
from envloop.store.models import (
    ArtifactVersion,
    Block,
    DefinitionVersion,
    Query,
)
from envloop.store.provenance import reads_of
from envloop.store.versions import latest_versions, version_counts

__all__ = ["VarEntry", "VersionInfo", "history", "var_index", "version_row", "why"]


@dataclass
class VarEntry:
    """One line of the var index."""

    name: str
    kind: str
    versions: int
    type_name: str | None
    size: int | None
    preview: str | None
    status: str  # "live" or "lost"
    version: int
    changed_at: datetime
    lost_reason: str | None = None  # why a lost name was not stored (too large: its size and the limit)
    stale: str | None = None  # why it derives from a superseded version (envloop.stale), if it does

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["changed_at"] = self.changed_at.isoformat()
        return data


@dataclass
class VersionInfo:
    """One version with where it came from: block, turn, author, and what it read."""

    id: int
    name: str
    version: int
    kind: str
    source: str | None
    preview: str | None
    type_name: str | None
    lost_reason: str | None
    rolled_back_from: str | None
    created_at: datetime
    block_id: int | None
    block_source: str | None
    author: str | None
    turn: int | None
    turn_text: str | None
    conversation_id: int
    reads: list[str] = field(default_factory=list)  # "name vN" of what its block read
    depth: int = 0
    statement: str | None = None  # the lines of its block that wrote this name (envloop.making)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


def var_index(session: Session, conversation_id: int) -> list[VarEntry]:
    """Live and lost names, most recently changed first (tombstoned names left out)."""
    counts = version_counts(session, DefinitionVersion, conversation_id)
    entries = [
        VarEntry(
            name=row.name,
            kind=row.kind,
            versions=counts[row.name],
            type_name=row.type_name,
            size=row.size,
            preview=row.preview,
            status="lost" if row.lost_reason else "live",
            version=row.version,
            changed_at=row.created_at,
            lost_reason=row.lost_reason,
        )
        for row in latest_versions(session, conversation_id)
        if row.kind != "deleted"
    ]
    entries.sort(key=lambda e: e.changed_at, reverse=True)
    return entries


def version_row(session: Session, conversation_id: int, name: str, version: int | None = None) -> DefinitionVersion:
    """A name's given (or newest) version; NotFoundError with a clear message otherwise."""
    stmt = select(DefinitionVersion).where(
        DefinitionVersion.conversation_id == conversation_id, DefinitionVersion.name == name
    )
    if version is None:
        row = session.scalars(stmt.order_by(DefinitionVersion.version.desc()).limit(1)).first()
        if row is None:
            raise NotFoundError(f"no name {name!r} in conversation {conversation_id}")
        return row
    row = session.scalars(stmt.where(DefinitionVersion.version == version)).first()
    if row is None:
        newest = version_row(session, conversation_id, name)
        raise NotFoundError(f"{name!r} has no version {version} (versions 1 to {newest.version})")
    return row


def _info(session: Session, row: DefinitionVersion, depth: int = 0) -> VersionInfo:
    block = session.get(Block, row.block_id) if row.block_id else None
    query = session.get(Query, block.query_id) if block is not None and block.query_id else None
    origin = session.get(DefinitionVersion, row.rolled_back_from_id) if row.rolled_back_from_id else None
    return VersionInfo(
        id=row.id,
        name=row.name,
        version=row.version,
        kind=row.kind,
        source=row.source,
        preview=row.preview,
        type_name=row.type_name,
        lost_reason=row.lost_reason,
        rolled_back_from=f"{origin.name} v{origin.version}" if origin else None,
        created_at=row.created_at,
        block_id=row.block_id,
        block_source=block.source if block else None,
        author=block.author if block else None,
        turn=query.position if query else None,
        turn_text=query.text if query else None,
        conversation_id=row.conversation_id,
        reads=[f"{n} v{v}" for n, v in _reads(session, row.id)],
        depth=depth,
        statement=making_statements(block.source, row.name) if block is not None else None,
    )


def _reads(session: Session, version_id: int) -> list[tuple[str, int]]:
    """``(name, version)`` of what a version's block read: definitions, then ``artifact:NAME``s."""
    found = []
    read_versions, read_artifacts = reads_of(session, version_id)
    for model, ids, prefix in (
        (DefinitionVersion, read_versions, ""),
        (ArtifactVersion, read_artifacts, "artifact:"),
    ):
        if ids:
            rows = session.execute(
                select(model.name, model.version).where(model.id.in_(ids)).order_by(model.name)
            ).all()
            found += [(prefix + name, version) for name, version in rows]
    return found


def history(session: Session, conversation_id: int, name: str) -> list[VersionInfo]:
    """Every version of ``name``, oldest first, with its source or preview and provenance."""
    version_row(session, conversation_id, name)  # raises NotFoundError for an unknown name
    rows = session.scalars(
        select(DefinitionVersion)
        .where(DefinitionVersion.conversation_id == conversation_id, DefinitionVersion.name == name)
        .order_by(DefinitionVersion.version)
    )
    return [_info(session, row) for row in rows]


def why(session: Session, conversation_id: int, name: str, version: int | None = None) -> list[VersionInfo]:
    """The provenance chain of a version, breadth-first back to the turns that started it.

    Each version appears once, with ``depth`` its distance from the asked one;
    rollbacks lead back to the version they restored, forks to the parent's.
    """
    start = version_row(session, conversation_id, name, version)
    seen = {start.id}
    queue: deque[tuple[DefinitionVersion, int]] = deque([(start, 0)])
    chain = []
    while queue:
        row, depth = queue.popleft()
        chain.append(_info(session, row, depth))
        read_versions = reads_of(session, row.id)[0]
        parents = list(
            session.scalars(
                select(DefinitionVersion).where(DefinitionVersion.id.in_(read_versions)).order_by(DefinitionVersion.id)
            )
        ) if read_versions else []
        if row.rolled_back_from_id:
            source = session.get(DefinitionVersion, row.rolled_back_from_id)
            if source is not None:
                parents.append(source)
        for parent in parents:
            if parent is not None and parent.id not in seen:
                seen.add(parent.id)
                queue.append((parent, depth + 1))
    return chain
