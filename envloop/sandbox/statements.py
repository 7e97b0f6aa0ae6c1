"""Which statement of a block made each name: the source kept for functions, classes and imports.

Functions and classes are stored as the source of the statement that created
them (a ``def``, a ``class`` with its decorators, or an assignment such as
``f = lambda …`` / ``P = namedtuple(…)``) and imports as their own import
statement, one per imported name, so restoring re-runs exactly that statement.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

__all__ = ["binding_statements"]

_COMPOUND = (ast.If, ast.Try, ast.With, ast.For, ast.While, ast.Match, ast.TryStar)


def _segment(lines: list[str], node: ast.stmt) -> str:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    text = "\n".join(lines[first - 1 : node.end_lineno])
    # Statements nested in an if/try/with keep their indentation; dedent them.
    indent = len(text) - len(text.lstrip(" \t"))
    if indent:
        text = "\n".join(line[indent:] if line[:indent].isspace() else line for line in text.split("\n"))
    return text


def _import_statement(node: ast.Import | ast.ImportFrom, alias: ast.alias) -> str:
    part = alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"
    if isinstance(node, ast.Import):
        return f"import {part}"
    return f"from {'.' * node.level}{node.module or ''} import {part}"


def _targets(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    else:
        return []
    return [t.id for t in targets if isinstance(t, ast.Name)]


def _walk(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Top-level statements, looking inside if/try/with/loops but never into def/class bodies."""
    for node in body:
        yield node
        if isinstance(node, _COMPOUND):
            for name in ("body", "orelse", "finalbody"):
                yield from _walk(getattr(node, name, []) or [])
            for handler in getattr(node, "handlers", []) or []:
                yield from _walk(handler.body)
            for case in getattr(node, "cases", []) or []:
                yield from _walk(case.body)


def binding_statements(source: str) -> dict[str, tuple[str, str]]:
    """name → (statement kind, statement source) for the LAST statement binding each name.

    Kinds: "def", "class", "import", "assign".  Names bound only by other
    statements (for targets, with-as, walrus) are absent: their values are data.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    lines = source.split("\n")
    found: dict[str, tuple[str, str]] = {}
    for node in _walk(tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = ("def", _segment(lines, node))
        elif isinstance(node, ast.ClassDef):
            found[node.name] = ("class", _segment(lines, node))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if alias.name != "*":
                    found[bound] = ("import", _import_statement(node, alias))
        else:
            exact = ast.get_source_segment(source, node)  # this statement only, not `P = ...; log.append(1)`
            for name in _targets(node):
                found[name] = ("assign", exact if exact is not None else _segment(lines, node))
    return found


def _loads_and_stores(node: ast.stmt) -> tuple[set[str], set[str]]:
    """Names one top-level statement loads and stores; a def's or class's body runs later, so only
    its decorators, defaults and bases count as loads (and its own name as a store)."""
    loads: set[str] = set()
    stores: set[str] = set()
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        heads: list[ast.AST] = list(node.decorator_list)
        if isinstance(node, ast.ClassDef):
            heads += node.bases + [k.value for k in node.keywords]
        else:
            heads += node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
        for head in heads:
            loads.update(n.id for n in ast.walk(head) if isinstance(n, ast.Name))
        stores.add(node.name)
        return loads, stores
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            (stores if isinstance(sub.ctx, ast.Store | ast.Del) else loads).add(sub.id)
        elif isinstance(sub, ast.alias):
            stores.add(sub.asname or sub.name.split(".")[0])
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        loads.add(node.target.id)  # x += 1 reads x first
    return loads, stores


def written_before_read(source: str) -> set[str]:
    """Names a block binds at top level before it first reads them.

    Such a read sees the block's own new value, not the version that existed
    before the block, so provenance must not record it as a read.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    written: set[str] = set()
    read: set[str] = set()
    for node in tree.body:
        loads, stores = _loads_and_stores(node)
        read.update(loads - written)
        written.update(stores - read)
    return written - read
