"""Provenance rows: a block's read set, stored once, and the reads of a version.

A block reads some versions and writes some others.  Its reads become one
:class:`~envloop.store.models.ReadSet` with one item per version read, and
every version (or artifact version) the block wrote points at it, so the rows
grow with reads + writes, not their product.  Older databases, rollbacks and
forks also have single :class:`~envloop.store.models.ProvenanceEdge` rows;
:func:`reads_of` returns both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from envloop.store.models import DefinitionVersion, ProvenanceEdge, ReadSet, ReadSetItem

__all__ = ["reads_of", "write_read_set"]


def write_read_set(session: Session, conversation_id: int, version_ids: Sequence[int],
                   artifact_ids: Sequence[int] = ()) -> int | None:
    """Store what a block read, once; its id (None when it read nothing stored)."""
    versions, artifacts = list(dict.fromkeys(version_ids)), list(dict.fromkeys(artifact_ids))
    if not versions and not artifacts:
        return None
    # Prebuilt Core inserts on the tables, not an ORM object, a flush and the ORM's bulk insert: the same
    # rows, a fraction of the cost, and compiled once per engine.
    made = session.execute(INSERT_READ_SET, {"conversation_id": conversation_id})
    read_set = int(cast(Any, made).inserted_primary_key[0])
    rows = [{"read_set_id": read_set, "read_definition_version_id": v, "read_artifact_version_id": None}
            for v in versions]
    rows += [{"read_set_id": read_set, "read_definition_version_id": None, "read_artifact_version_id": a}
             for a in artifacts]
    session.execute(INSERT_READ_SET_ITEMS, rows)
    return read_set


INSERT_READ_SET = insert(cast(Table, ReadSet.__table__))
INSERT_READ_SET_ITEMS = insert(cast(Table, ReadSetItem.__table__))


def reads_of(session: Session, version_id: int) -> tuple[list[int], list[int]]:
    """Ids of the definition and artifact versions a definition version came from."""
    read_set = select(DefinitionVersion.read_set_id).where(DefinitionVersion.id == version_id).scalar_subquery()
    in_set = session.execute(
        select(ReadSetItem.read_definition_version_id, ReadSetItem.read_artifact_version_id).where(
            ReadSetItem.read_set_id == read_set
        )
    ).all()
    edges = session.execute(
        select(ProvenanceEdge.read_definition_version_id, ProvenanceEdge.read_artifact_version_id).where(
            ProvenanceEdge.definition_version_id == version_id
        )
    ).all()
    versions = [d for d, _ in [*in_set, *edges] if d is not None and d != version_id]
    artifacts = [a for _, a in [*in_set, *edges] if a is not None]
    return list(dict.fromkeys(versions)), list(dict.fromkeys(artifacts))
