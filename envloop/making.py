"""Which statements of a block made a name: what `history` and `why` show as a version's code.

A version records the block that wrote it; a block is often many lines that
made several names. People want the lines that made *this* name, so this
picks, from the block's top-level statements, the ones that bind, rebind,
mutate or delete it (``x = …``, ``x += …``, ``x[k] = …``, ``x.attr = …``,
``x.append(…)``, ``del x``, ``def x``, ``import x``, ``for x in …``). When none
does so visibly (the name changed through a function the block called), the
whole block is the answer. Pure syntax: nothing is run.
"""

from __future__ import annotations

import ast

__all__ = ["making_statements", "writes_name"]

_MAX_LINES = 40


def making_statements(block_source: str | None, name: str) -> str | None:
    """The block's statements that wrote ``name``, in order; the whole block if none visibly did."""
    if not block_source:
        return None
    try:
        tree = ast.parse(block_source)
    except SyntaxError:
        return _cap(block_source)
    lines = block_source.splitlines()
    picked = [stmt for stmt in tree.body if writes_name(stmt, name)]
    if not picked:
        return _cap(block_source)
    return _cap("\n".join(_segment(lines, stmt) for stmt in picked))


def _segment(lines: list[str], node: ast.stmt) -> str:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "\n".join(lines[first - 1 : node.end_lineno])


def _cap(text: str) -> str:
    kept = text.splitlines()
    if len(kept) <= _MAX_LINES:
        return text
    return "\n".join([*kept[:_MAX_LINES], f"# … {len(kept) - _MAX_LINES} more lines"])


def writes_name(stmt: ast.stmt, name: str) -> bool:
    """Does this top-level statement bind, rebind, mutate or delete ``name``?"""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return stmt.name == name
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return any((a.asname or a.name.split(".")[0]) == name for a in stmt.names)
    return any(_binds(node, name) or _mutates(node, name) for node in ast.walk(stmt))


def _base_name(node: ast.expr) -> str | None:
    """``x`` for ``x``, ``x[0]``, ``x.a.b``, ``x[0].a``: the name an assignment target hangs off."""
    while isinstance(node, ast.Subscript | ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _binds(node: ast.AST, name: str) -> bool:
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
        return node.id == name
    if isinstance(node, ast.Subscript | ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del):
        return _base_name(node) == name
    if isinstance(node, ast.Global | ast.Nonlocal):
        return False
    return isinstance(node, ast.AugAssign) and _base_name(node.target) == name


def _mutates(node: ast.AST, name: str) -> bool:
    """``x.append(…)``, ``x.update(…)``, ``x.items[0].add(…)``: a method called on the name's object."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and _base_name(node.func.value) == name
    )
