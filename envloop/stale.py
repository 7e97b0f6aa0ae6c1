"""Stale derivations: names computed from a version that is no longer current.

Notebooks that track dependencies (marimo, ipyflow) mark a cell stale when
something it read changed. envloop keeps every version with what it read, so
the same question has an exact answer after a redefinition, a rollback or an
undo: a name is **stale** when a version it was computed from has been
superseded by a different value, or when it was computed from a name that is
itself stale. A superseding version with the same content (a rollback to the
value that was read) is not a change.

Computed on demand from the provenance rows: nothing is stored that could go
out of step with the versions themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from envloop.store.models import DefinitionVersion, ProvenanceEdge, ReadSetItem
from envloop.store.versions import latest_versions

__all__ = ["Stale", "stale_names"]

@dataclass(frozen=True)
class Stale:
    """Why one name is stale: the read that changed, or the stale name it was derived from."""

    name: str
    version: int
    reason: str
    via: str | None = None  # the stale name this one was derived from (None: a direct read changed)
    stale_reads: tuple[str, ...] = ()  # every stale name whose current version this one read


def _same(a: DefinitionVersion, b: DefinitionVersion) -> bool:
    if a.id == b.id:
        return True
    if a.kind != b.kind or a.kind == "deleted":
        return False
    if a.content_sha256 and b.content_sha256 and a.source == b.source:  # the values themselves, alone
        return a.content_sha256 == b.content_sha256
    content_a, content_b = (a.value_sha256, a.source), (b.value_sha256, b.source)
    return content_a == content_b and any(content_a)


def stale_names(session: Session, conversation_id: int) -> dict[str, Stale]:
    """Every live name whose value derives from a superseded version, with the reason.

    A constant number of queries whatever the number of names: the engine asks
    this for the model's var index at the start of every turn.
    """
    newest = {row.name: row for row in latest_versions(session, conversation_id)}
    live = {name: row for name, row in newest.items() if row.kind != "deleted" and not row.lost_reason}
    makers = {name: _made_by(session, row) for name, row in live.items()}
    reads_by_id = _reads_of_many(session, [row.id for row in makers.values()])
    reads = {name: reads_by_id.get(makers[name].id, []) for name in live}
    read_rows = _rows(session, {i for ids in reads.values() for i in ids})
    found: dict[str, Stale] = {}
    derived: dict[str, list[str]] = {}
    for name, row in sorted(live.items()):
        for read in (read_rows[i] for i in reads[name] if i in read_rows):
            now = newest.get(read.name)
            if read.name == name or read.conversation_id != conversation_id:
                continue  # its own earlier version, or a fork's parent: not a dependency that moves
            if now is None or _same(read, now) or (now.block_id is not None and now.block_id == makers[name].block_id):
                # (the block that made this version also wrote the newer one: a mutation through
                # an alias, ``b.append(2)`` versioning a and b, is not a derivation gone stale)
                derived.setdefault(read.name, []).append(name)
                continue
            what = "deleted" if now.kind == "deleted" else f"v{now.version}"
            found.setdefault(name, Stale(name, row.version, f"read {read.name} v{read.version}, now {what}"))
    _spread(found, derived, live)
    upstream: dict[str, list[str]] = {}
    for source, names in derived.items():
        if source in found:
            for name in names:
                upstream.setdefault(name, []).append(source)
    return {name: replace(s, stale_reads=tuple(sorted(set(upstream.get(name, []))))) for name, s in found.items()}


def _reads_of_many(session: Session, version_ids: list[int]) -> dict[int, list[int]]:
    """Definition versions each of ``version_ids`` read: its read set's items and any single edges."""
    found: dict[int, list[int]] = {}
    for start in range(0, len(version_ids), 500):
        part = version_ids[start : start + 500]
        in_sets = session.execute(
            select(DefinitionVersion.id, ReadSetItem.read_definition_version_id)
            .join(ReadSetItem, ReadSetItem.read_set_id == DefinitionVersion.read_set_id)
            .where(DefinitionVersion.id.in_(part), ReadSetItem.read_definition_version_id.is_not(None))
        )
        edges = session.execute(
            select(ProvenanceEdge.definition_version_id, ProvenanceEdge.read_definition_version_id)
            .where(ProvenanceEdge.definition_version_id.in_(part),
                   ProvenanceEdge.read_definition_version_id.is_not(None))
        )
        for version_id, read_id in [*in_sets, *edges]:
            if read_id != version_id:
                found.setdefault(version_id, []).append(read_id)
    return found


def _made_by(session: Session, row: DefinitionVersion) -> DefinitionVersion:
    """The version that computed this value: a rollback/undo/redo copy inherits its origin's reads."""
    seen = {row.id}
    while row.rolled_back_from_id is not None:
        origin = session.get(DefinitionVersion, row.rolled_back_from_id)
        if origin is None or origin.id in seen:
            break
        seen.add(origin.id)
        row = origin
    return row


def _rows(session: Session, ids: Iterable[int]) -> dict[int, DefinitionVersion]:
    wanted = sorted(set(ids))
    rows: dict[int, DefinitionVersion] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        rows.update({r.id: r for r in session.scalars(select(DefinitionVersion).where(DefinitionVersion.id.in_(part)))})
    return rows


def _spread(found: dict[str, Stale], derived: dict[str, list[str]], live: dict[str, DefinitionVersion]) -> None:
    """Names computed from the current version of a stale name are stale too, transitively."""
    todo = sorted(found)
    while todo:
        source = todo.pop()
        for name in sorted(derived.get(source, [])):
            if name not in found:
                found[name] = Stale(name, live[name].version, f"derived from stale {source}", via=source)
                todo.append(name)
