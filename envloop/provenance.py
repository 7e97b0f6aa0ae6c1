"""Statement-level provenance: which versions each name a block wrote was computed from.

A block is a list of top-level statements; a name it wrote was made by some of
them (``making.py`` finds which). The version's reads are what *those*
statements read, not what the whole block read:

* ``c = a + 1; d = b + 1`` — ``c`` read ``a`` only;
* ``rate = 0.5; total = f(100)`` — ``total`` read ``f`` and, through ``f``'s
  body, ``rate``: the globals read by the conversation's own functions a
  statement ran count as reads of that statement;
* that ``rate`` is the version the block itself just wrote (``"new"``), not
  the one before the block (``"old"``): a read after an earlier statement of
  the same block wrote the name sees the new value.

Which functions a statement ran is traced at run time by the worker
(:mod:`envloop.sandbox.tracing`): per top-level statement, the global names
read by the conversation's functions that were entered while it ran —
``ops['add'](1, 2)``, ``fs[0](1)``, ``acc.add(3)``, a ``key=`` callback, only
the branch that ran. A statement's reads are its own loads in the source (not
the bodies of the functions and lambdas it merely defines) plus those.

Blocks stored without a trace (before it existed) fall back to the source: a
function named in a statement is taken as called, and the global reads of the
conversation's functions and classes it names count, transitively. Either way,
definition-time reads of a ``def`` are its decorators and defaults; its body's
reads belong to the statements that call it.

:func:`assign_read_sets` stores the result: each version the block wrote
points at one read set (``store/provenance.py``) of the versions its making
statements read, shared by the names the same statements made.
"""

from __future__ import annotations

import ast
import copy as copy_module
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Literal, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from envloop.making import writes_name
from envloop.sandbox.names import analyse_names
from envloop.store.models import DefinitionVersion
from envloop.store.provenance import write_read_set
from envloop.store.versions import WrittenVersion, latest_numbers

__all__ = ["Seen", "assign_read_sets", "version_reads"]

Seen = Literal["old", "new"]


def version_reads(
    block_source: str, written: Iterable[str], function_sources: Mapping[str, str] | None = None,
    trace: Sequence[Sequence[str]] | None = None,
) -> dict[str, dict[str, Seen]]:
    """For each written name: ``{read name: "old" | "new"}`` of the statements that made it.

    ``trace`` is the worker's run-time trace: per top-level statement that ran,
    the globals read by the conversation's functions it called. With it, a
    statement read its own loads (not those inside the functions and lambdas it
    only defines) plus those. Without it (a block stored before traces), calls
    are followed in the source: ``function_sources`` holds the source of the
    conversation's functions and classes defined before this block (name ->
    ``def``/``class`` source), so a call into them counts their global reads;
    names the block defines itself are found in the block.
    """
    try:
        body = ast.parse(block_source).body
    except SyntaxError:
        return {name: {} for name in written}
    bodies = _Bodies(function_sources or {})
    direct = [_statement_loads(stmt if trace is None else _without_bodies(stmt)) for stmt in body]
    first_write: dict[str, int] = {}
    reads_per_statement: list[set[str]] = []
    for index, stmt in enumerate(body):
        if trace is None:
            reads_per_statement.append(bodies.closure(direct[index]))
        else:
            reads_per_statement.append(direct[index] | set(trace[index] if index < len(trace) else ()))
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bodies.define(stmt.name, stmt)
        for name in analyse_names(ast.Module(body=[stmt], type_ignores=[])).bound:
            first_write.setdefault(name, index)
    result: dict[str, dict[str, Seen]] = {}
    for name in written:
        making = [i for i, stmt in enumerate(body) if writes_name(stmt, name)]
        if not making:  # changed through a function or an alias: the statements that reach it
            making = [i for i, reads in enumerate(reads_per_statement) if name in reads]
        if not making:
            making = [i for i, reads in enumerate(reads_per_statement) if reads]
        seen: dict[str, Seen] = {}
        for index in making:
            for read in sorted(reads_per_statement[index]):
                new = first_write.get(read, len(body)) < index
                seen[read] = "new" if new or seen.get(read) == "new" else "old"
        result[name] = seen
    return result


def _without_bodies(stmt: ast.stmt) -> ast.stmt:
    """A copy of ``stmt`` whose functions and lambdas have empty bodies: what runs when it runs.

    (Their bodies' reads count where the trace says they ran.)  A statement without any is
    returned as it is: copying it cost half of this module's time on a plain block.
    """
    if not any(isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) for node in ast.walk(stmt)):
        return stmt
    copy = copy_module.deepcopy(stmt)
    for node in ast.walk(copy):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.body = [ast.Pass()]
        elif isinstance(node, ast.Lambda):
            node.body = ast.Constant(None)
    return copy


def _loads(nodes: Iterable[ast.AST]) -> set[str]:
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.expr):
            node = ast.Expr(value=node)
        if isinstance(node, ast.stmt):
            found |= analyse_names(ast.Module(body=[node], type_ignores=[])).loaded
    return found


def _definition_time(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[ast.AST]:
    args = node.args
    parts: list[ast.AST] = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
    if not isinstance(node, ast.Lambda):
        parts += node.decorator_list
    return parts


def _statement_loads(stmt: ast.stmt) -> set[str]:
    """Global names a top-level statement reads when it runs (a def's body is not run by it)."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
        return _loads(_definition_time(stmt))
    if isinstance(stmt, ast.ClassDef):
        runs_now = [s for s in stmt.body if not isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)]
        methods = [s for s in stmt.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)]
        parts: list[ast.AST] = [*stmt.bases, *(k.value for k in stmt.keywords), *stmt.decorator_list, *runs_now]
        return _loads(parts) | _loads(p for m in methods for p in _definition_time(m))
    if isinstance(stmt, ast.Assign | ast.AnnAssign) and isinstance(stmt.value, ast.Lambda):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return _loads([*_definition_time(stmt.value), *(t for t in targets if not isinstance(t, ast.Name))])
    return _loads([stmt])


class _Bodies:
    """Global reads of the conversation's functions and classes, followed transitively."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = dict(sources)
        self.parsed: dict[str, set[str]] = {}

    def define(self, name: str, node: ast.stmt) -> None:
        self.parsed[name] = analyse_names(ast.Module(body=[node], type_ignores=[])).loaded - {name}

    def _body_reads(self, name: str) -> set[str] | None:
        if name not in self.parsed:
            source = self.sources.get(name)
            if source is None:
                return None
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return None
            self.parsed[name] = analyse_names(tree).loaded - {name}
        return self.parsed[name]

    def closure(self, names: set[str]) -> set[str]:
        found = set(names)
        todo = list(names)
        while todo:
            reads = self._body_reads(todo.pop())
            for read in reads or ():
                if read not in found:
                    found.add(read)
                    todo.append(read)
        return found


def assign_read_sets(
    session: Session,
    conversation_id: int,
    block_id: int,
    block_source: str,
    rows: Sequence[DefinitionVersion | WrittenVersion],
    before: Mapping[str, tuple[int, int]],
    artifact_ids: Sequence[int] = (),
    trace: Sequence[Sequence[str]] | None = None,
    looked_up: Collection[str] | None = None,
) -> None:
    """Point each version the block wrote at the read set of the statements that made it.

    ``before`` maps names to (id, number) of their newest version before the
    block (``latest_numbers``). Names made by the same statements share one
    read set, so a block whose one call changed N names stores one set.
    ``trace`` is the worker's run-time trace of the block (see :func:`version_reads`).
    ``looked_up``: the names ``before`` covers, found or not (the block's reads, which existed before it).
    The rows (already inserted) get their read set by one prebuilt UPDATE, whether they
    are ORM objects (a recompute's) or the plain rows of ``write_versions``.
    """
    if not rows:
        return
    new_ids = {row.name: row.id for row in rows}
    sources = _function_sources(session, conversation_id, block_id) if trace is None else None
    per_name = version_reads(block_source, list(new_ids), sources, trace)
    needed = {read for reads in per_name.values() for read in reads}
    missing = needed - set(before) - set(new_ids)  # read only inside called functions' bodies
    if looked_up is not None and trace is not None:
        # What the block loads itself was looked up if it existed before the block (the worker's
        # reads); what did not exist then (``range``, ``str``) has no version: no query for those.
        missing = (missing & {name for names in trace for name in names}) - set(looked_up)
    if missing:
        before = {**before, **latest_numbers(session, conversation_id, missing)}
    shared: dict[tuple[int, ...], int | None] = {}
    changed = []
    for row in rows:
        ids = []
        for read, seen in per_name.get(row.name, {}).items():
            if seen == "new" and read in new_ids and read != row.name:
                ids.append(new_ids[read])
            elif read in before:
                ids.append(before[read][0])
        key = tuple(sorted(set(ids)))
        if key not in shared:
            shared[key] = write_read_set(session, conversation_id, key, artifact_ids)
        if row.read_set_id != shared[key]:
            changed.append({"vid": row.id, "rs": shared[key]})
        if isinstance(row, DefinitionVersion):  # the UPDATE below stores it: not a change for the ORM to flush
            set_committed_value(row, "read_set_id", shared[key])
        else:
            row.read_set_id = shared[key]
    if changed:
        session.execute(SET_READ_SET, changed)


_VERSIONS = cast(Table, DefinitionVersion.__table__)
#: A version's read set, set after the versions exist (a read set may hold versions the same block wrote).
SET_READ_SET = update(_VERSIONS).where(_VERSIONS.c.id == bindparam("vid")).values(read_set_id=bindparam("rs"))


def _function_sources(session: Session, conversation_id: int, block_id: int) -> dict[str, str]:
    """Source of the newest earlier version of every function and class: what calls into them read.

    Instances of the conversation's classes map to their class's source, so
    ``acc.add(5)`` counts the globals ``add`` reads.
    """
    newest = (
        select(DefinitionVersion.name, func.max(DefinitionVersion.id).label("id"))
        .where(DefinitionVersion.conversation_id == conversation_id, DefinitionVersion.block_id != block_id)
        .group_by(DefinitionVersion.name)
        .subquery()
    )
    rows = session.execute(
        select(DefinitionVersion.name, DefinitionVersion.kind, DefinitionVersion.source, DefinitionVersion.type_name)
        .join(newest, DefinitionVersion.id == newest.c.id)
    ).all()
    sources = {name: source for name, kind, source, _ in rows if kind in ("function", "class") and source}
    # An instance of the conversation's own class: calling its methods reads what the class's body reads.
    for name, kind, _, type_name in rows:
        if kind == "value" and type_name in sources and name not in sources:
            sources[name] = sources[type_name]
    return sources
