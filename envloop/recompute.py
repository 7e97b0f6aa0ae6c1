"""Bring stale names up to date by re-running the statements that made them.

``envloop recompute NAME`` (or ``--all-stale``) collects the stale names it
needs — NAME and the stale names it was derived from — finds, for each, the
statements of its block that wrote it (``making.py``), orders them as they
first ran (a name's version is always newer than what it read, so version
order is dependency order), and runs them as one block under the usual policy
and limits: one new turn, undoable like any other. A name whose value comes
out the same still gets a version, with the reads that made it now
(:func:`refresh_unchanged`), so it is no longer stale.

A statement that calls an extension function that writes or is irreversible
(``write_file``, ``send_message`` …) is listed, and the caller must confirm
before it runs again.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from envloop.errors import NotFoundError
from envloop.making import making_statements
from envloop.provenance import assign_read_sets
from envloop.stale import Stale, stale_names
from envloop.store.history import version_row
from envloop.store.models import Block, DefinitionVersion
from envloop.timeline import copy_version

__all__ = ["RecomputePlan", "plan_recompute", "refresh_unchanged"]


@dataclass
class RecomputePlan:
    """What a recompute would run: the names it refreshes and the code, in dependency order."""

    names: list[str]
    code: str
    reasons: dict[str, str] = field(default_factory=dict)
    side_effects: list[str] = field(default_factory=list)  # "statement: calls write_file" lines

    @property
    def empty(self) -> bool:
        return not self.names


def plan_recompute(session: Session, conversation_id: int, name: str | None,
                   effectful: Collection[str] = ()) -> RecomputePlan:
    """The plan for NAME (with its stale sources) or, with ``name=None``, for every stale name."""
    stale = stale_names(session, conversation_id)
    if name is not None:
        version_row(session, conversation_id, name)  # an unknown name is a clear error
        if name not in stale:
            return RecomputePlan([], "")
        wanted = _upstream(name, stale)
    else:
        wanted = set(stale)
    rows = sorted((version_row(session, conversation_id, n) for n in wanted), key=lambda r: r.id)
    statements: list[str] = []
    for row in rows:
        block = session.get(Block, row.block_id) if row.block_id else None
        if block is None or block.author == "system":
            raise NotFoundError(f"{row.name} v{row.version} was made by a timeline operation, not by code; "
                                f"roll it back or redefine it instead")
        text = making_statements(block.source, row.name) or ""
        if text and text not in statements:
            statements.append(text)
    code = "\n".join(statements)
    return RecomputePlan([r.name for r in rows], code, {n: stale[n].reason for n in wanted},
                         _side_effects(statements, effectful))


def _upstream(name: str, stale: dict[str, Stale]) -> set[str]:
    """NAME and every stale name it was derived from: they must be recomputed first."""
    found, todo = {name}, [name]
    while todo:
        for source in stale[todo.pop()].stale_reads:
            if source not in found:
                found.add(source)
                todo.append(source)
    return found


def _side_effects(statements: list[str], effectful: Collection[str]) -> list[str]:
    found = []
    for text in statements:
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        called = sorted({n.func.id for n in ast.walk(tree)
                         if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in effectful})
        if called:
            found.append(f"{text.splitlines()[0][:80]}: calls {', '.join(called)}")
    return found


def refresh_unchanged(session: Session, conversation_id: int, block_id: int, block_source: str,
                      names: Collection[str], trace: Sequence[Sequence[str]] | None = None
                      ) -> list[DefinitionVersion]:
    """New versions for recomputed names whose value came out the same, with their new reads.

    An unchanged value makes no version when a block runs; after a recompute it
    must, or the name would still point at the reads that made it stale.
    ``trace`` is the recompute block's run-time trace (see ``provenance.version_reads``).
    """
    rows = []
    for name in sorted(names):
        current = version_row(session, conversation_id, name)
        row = copy_version(current, conversation_id=conversation_id, version=current.version + 1, block_id=block_id)
        row.rolled_back_from_id = None  # computed again, not restored
        session.add(row)
        rows.append(row)
    session.flush()
    assign_read_sets(session, conversation_id, block_id, block_source, rows, {}, trace=trace)
    return rows
