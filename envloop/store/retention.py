"""Deleting and pruning what the database holds: a conversation, old prompts and outputs, free pages.

- :func:`delete_conversation` removes a conversation's rows (turns, iterations,
  blocks, versions, artifacts, provenance: the foreign keys cascade) and the
  blobs nobody else uses. Blobs are content-addressed and shared: the same
  value in two conversations is one blob, so a blob (or a chunk of a big value)
  that any other conversation still refers to is kept.
- :func:`prune` drops the bulky, re-creatable history of old iterations — the
  exact prompt sent, the raw reply, the blocks' printed output — and keeps
  every version's value and provenance, the code of every block, the turns'
  questions and answers.
- :func:`vacuum` gives the freed pages back to the file system (SQLite keeps
  them in the file until then) or the server (PostgreSQL).

Each reports the bytes it freed. Blob references are found from the schema's
foreign keys to ``blobs.sha256`` (so a table added later is covered) plus the
chunk lists inside value envelopes (``{"codec": ..., "chunks": [...]}``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Column, Table, delete, exists, func, or_, select, text, update
from sqlalchemy.orm import Session

from envloop.store.db import Database
from envloop.store.models import (
    ArtifactVersion,
    Base,
    Blob,
    Block,
    Conversation,
    DefinitionVersion,
    Iteration,
    Query,
    SystemPrompt,
    utcnow,
)

__all__ = ["DeleteReport", "PruneReport", "delete_conversation", "folder_bytes", "prune", "vacuum"]

T = TypeVar("T")
PRUNED = "[pruned]"
_BATCH = 500


@dataclass
class DeleteReport:
    conversation_id: int
    turns: int
    versions: int
    row_bytes: int  # text and data held in its rows (prompts, replies, code, outputs, previews)
    blob_bytes: int  # blobs only it used, now deleted
    blobs_deleted: int
    blobs_shared: int  # blobs other conversations still use, kept
    workspace_bytes: int = 0

    @property
    def bytes_freed(self) -> int:
        return self.row_bytes + self.blob_bytes + self.workspace_bytes


@dataclass
class PruneReport:
    iterations: int
    blocks: int
    bytes_freed: int
    kept_named: int  # iterations kept because their blocks made a version (--keep-named)


def _blob_columns() -> list[Column[Any]]:
    """Every column with a foreign key to ``blobs.sha256``, from the schema itself."""
    columns = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table.name == Blob.__tablename__ for fk in column.foreign_keys):
                columns.append(column)
    return columns


def _chunks(data: bytes) -> list[str]:
    """The chunk digests a value envelope lists (none for anything else)."""
    if not data.startswith(b"{"):
        return []
    try:
        envelope = json.loads(data)
    except ValueError:
        return []
    chunks = envelope.get("chunks") if isinstance(envelope, dict) else None
    if isinstance(chunks, dict):
        chunks = list(chunks)
    return [c for c in chunks or () if isinstance(c, str)]


def _batches(items: Iterable[T]) -> Iterator[list[T]]:
    listed = list(items)
    for start in range(0, len(listed), _BATCH):
        yield listed[start:start + _BATCH]


def _referenced_by(session: Session, conversation_id: int) -> set[str]:
    """Blobs a conversation's rows refer to, with the chunks of its value envelopes."""
    roots: set[str] = set()
    for column in _blob_columns():
        table = column.table
        if isinstance(table, Table) and "conversation_id" in table.c:
            roots.update(d for d in session.scalars(
                select(column).where(table.c.conversation_id == conversation_id, column.is_not(None))) if d)
    found = set(roots)
    for part in _batches(roots):
        for data in session.scalars(select(Blob.data).where(Blob.sha256.in_(part))):
            found.update(_chunks(bytes(data)))
    return found


def _still_used(session: Session, candidates: set[str]) -> set[str]:
    """Which candidates some remaining row (directly, or through a value envelope's chunks) refers to."""
    used: set[str] = set()
    for column in _blob_columns():
        for part in _batches(candidates):
            used.update(session.scalars(select(column).where(column.in_(part)).distinct()))
    chunk_candidates = candidates - used
    if chunk_candidates:
        envelopes = select(Blob.data).where(
            Blob.sha256.in_(select(DefinitionVersion.value_sha256).where(DefinitionVersion.value_sha256.is_not(None)))
        )
        for data in session.execute(envelopes.execution_options(yield_per=_BATCH)).scalars():
            used.update(chunk_candidates.intersection(_chunks(bytes(data))))
    return used


def _text_bytes(session: Session, conversation_id: int) -> int:
    """The characters a conversation's rows hold (a fair measure of what deleting them frees)."""
    def total(*columns: Any, where: Any) -> int:
        sums = [func.coalesce(func.sum(func.length(c)), 0) for c in columns]
        return int(sum(session.execute(select(*sums).where(where)).one()))

    in_conv = Query.conversation_id == conversation_id
    return (
        total(Query.text, Query.answer, Query.error, where=in_conv)
        + total(Iteration.prompt, Iteration.raw_reply, Iteration.thinking, Iteration.error,
                where=Iteration.query_id.in_(select(Query.id).where(in_conv)))
        + total(Block.source, Block.stdout, Block.result_preview, Block.error_message,
                where=Block.conversation_id == conversation_id)
        + total(DefinitionVersion.source, DefinitionVersion.preview,
                where=DefinitionVersion.conversation_id == conversation_id)
    )


def delete_conversation(session: Session, conversation_id: int) -> DeleteReport:
    """Delete a conversation and the blobs only it used, in the caller's transaction."""
    turns = session.scalar(select(func.count(Query.id)).where(Query.conversation_id == conversation_id)) or 0
    versions = session.scalar(
        select(func.count(DefinitionVersion.id)).where(DefinitionVersion.conversation_id == conversation_id)) or 0
    row_bytes = _text_bytes(session, conversation_id)
    candidates = _referenced_by(session, conversation_id)
    session.execute(delete(Conversation).where(Conversation.id == conversation_id))
    session.flush()
    shared = _still_used(session, candidates)
    unused = candidates - shared
    blob_bytes = 0
    for part in _batches(unused):
        blob_bytes += int(session.scalar(select(func.coalesce(func.sum(Blob.size), 0)).where(Blob.sha256.in_(part)))
                          or 0)
        session.execute(delete(Blob).where(Blob.sha256.in_(part)))
    _drop_unused_system_prompts(session)
    return DeleteReport(conversation_id, turns, versions, row_bytes, blob_bytes, len(unused), len(shared))


def _drop_unused_system_prompts(session: Session) -> int:
    """System prompts are stored once by hash and shared; drop those no iteration refers to any more."""
    orphan = ~exists().where(Iteration.system_prompt_id == SystemPrompt.id)
    freed = session.scalar(select(func.coalesce(func.sum(func.length(SystemPrompt.text)), 0)).where(orphan)) or 0
    session.execute(delete(SystemPrompt).where(orphan))
    return int(freed)


def _made_a_version(block_id: Any) -> Any:
    return or_(exists().where(DefinitionVersion.block_id == block_id),
               exists().where(ArtifactVersion.block_id == block_id))


def _clear(session: Session, ids: list[int], id_column: Any, sizes: Any, values: dict[str, Any]) -> int:
    """Set ``values`` on the rows ``ids`` (in batches); the characters ``sizes`` measured before."""
    freed = 0
    for part in _batches(ids):
        freed += int(session.scalar(select(func.coalesce(func.sum(sizes), 0)).where(id_column.in_(part))) or 0)
        session.execute(update(id_column.table).where(id_column.in_(part)).values(**values)
                        .execution_options(synchronize_session=False))
    return freed


def prune(session: Session, older_than: timedelta, *, keep_named: bool = False,
          now: datetime | None = None) -> PruneReport:
    """Drop prompts, raw replies and block outputs older than ``older_than``; versions stay whole.

    With ``keep_named``, iterations and blocks that made a named version (a
    definition or an artifact) keep theirs too.
    """
    cutoff = (now or utcnow()) - older_than
    old_iterations = select(Iteration.id).where(Iteration.created_at < cutoff, Iteration.prompt != PRUNED)
    old_blocks = select(Block.id).where(Block.created_at < cutoff, Block.author != "system",
                                        or_(Block.stdout.not_in(["", PRUNED]), Block.result_preview.is_not(None)))
    kept = 0
    if keep_named:
        naming = select(Block.iteration_id).where(Block.iteration_id.is_not(None), _made_a_version(Block.id))
        kept = len(list(session.scalars(old_iterations.where(Iteration.id.in_(naming)))))
        old_iterations = old_iterations.where(Iteration.id.not_in(naming))
        old_blocks = old_blocks.where(~_made_a_version(Block.id))
    iteration_ids = list(session.scalars(old_iterations))
    block_ids = list(session.scalars(old_blocks))
    freed = _clear(session, iteration_ids, Iteration.__table__.c.id,
                   func.length(Iteration.prompt) + func.coalesce(func.length(Iteration.raw_reply), 0),
                   {"prompt": PRUNED, "raw_reply": None, "system_prompt_id": None})
    freed += _clear(session, block_ids, Block.__table__.c.id,
                    func.length(Block.stdout) + func.coalesce(func.length(Block.result_preview), 0),
                    {"stdout": PRUNED, "result_preview": None})
    freed += _drop_unused_system_prompts(session)
    freed -= len(PRUNED) * (len(iteration_ids) + len(block_ids))  # the markers left in their place
    return PruneReport(len(iteration_ids), len(block_ids), max(freed, 0), kept)


def folder_bytes(path: Path) -> int:
    """The bytes of the regular files under ``path`` (links not followed); 0 when it does not exist."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _sqlite_files(database: Database) -> list[Path]:
    name = database.engine.url.database
    if not name or name == ":memory:":
        return []
    return [Path(name + suffix) for suffix in ("", "-wal", "-shm")]


def database_bytes(database: Database) -> int:
    """The database's size on disk (SQLite: the file and its WAL) or on the server (PostgreSQL)."""
    if database.is_sqlite:
        return sum(p.stat().st_size for p in _sqlite_files(database) if p.exists())
    with database.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar() or 0)


def vacuum(database: Database, *, full: bool = False) -> tuple[int, int]:
    """Give free pages back: SQLite VACUUM and a WAL truncation; PostgreSQL VACUUM (FULL with ``full``).

    Returns the size before and after.
    """
    before = database_bytes(database)
    raw = database.engine.raw_connection()  # outside any transaction: VACUUM refuses to run inside one
    try:
        if database.is_postgresql:
            raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        cursor = raw.cursor()
        statements = (["VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"] if database.is_sqlite
                      else ["VACUUM (FULL, ANALYZE)" if full else "VACUUM (ANALYZE)"])
        for statement in statements:
            cursor.execute(statement)
        cursor.close()
    finally:
        raw.close()
    return before, database_bytes(database)
