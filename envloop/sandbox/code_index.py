"""Where each function's code came from, and finding that code again by compiling its statement.

The worker notes the source of every block it compiles (and of every statement
a restore compiles); a function is then stored as the whole lines of the
innermost statement that holds its code, plus the code's qualname, first line
and rank among equal ones (see :mod:`envloop.sandbox._codec_defs`). Finding it
again compiles that statement with the sandbox's policy -- never runs it.
"""

from __future__ import annotations

import ast
import types
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from envloop.sandbox._codec_common import DecodeError, Reject
from envloop.sandbox.tracing import canonical

__all__ = ["CodeIndex"]

_Compile = Callable[[str], "tuple[types.CodeType | None, types.CodeType | None, Any]"]


def _nested(codes: tuple[types.CodeType | None, ...]) -> Iterator[types.CodeType]:
    """Every code object nested in ``codes``, preorder in constant order (the same for equal sources)."""
    stack = [c for c in reversed(codes) if c is not None]
    top = set(map(id, stack))
    while stack:
        code = stack.pop()
        if id(code) not in top:
            yield code
        stack.extend(c for c in reversed(code.co_consts) if type(c) is types.CodeType)


class CodeIndex:
    """Which statement each function's code came from, and finding it again by compiling that statement."""

    def __init__(self, compile_source: _Compile) -> None:
        self._compile = compile_source
        # code object -> (block source, nth code of its qualname and first line in the block)
        self._where: weakref.WeakKeyDictionary[types.CodeType, tuple[str, int]] = weakref.WeakKeyDictionary()
        self._statements: dict[str, list[tuple[int, int]]] = {}
        self._compiled: dict[str, list[types.CodeType]] = {}

    def note(self, source: str, *codes: types.CodeType | None) -> None:
        """Remember the source of every function code compiled from a block (or a restored statement)."""
        counts: dict[tuple[str, int], int] = {}
        for code in _nested(codes):
            key = (code.co_qualname, code.co_firstlineno)
            nth = counts.get(key, 0)
            counts[key] = nth + 1
            self._where[code] = (source, nth)

    def locate(self, code: types.CodeType) -> tuple[str, int, int]:
        """(statement source, line within it, nth) of a noted code; Reject when unknown."""
        code = canonical(code)  # a function caught holding its untraced twin (envloop.sandbox.tracing)
        found = self._where.get(code)
        if found is None:
            raise Reject(f"the function {code.co_qualname} was not written in this conversation", "function")
        source, nth = found
        first, last = self._span(source, code.co_firstlineno)
        lines = source.split("\n")[first - 1 : last]
        return _dedent(lines), code.co_firstlineno - first + 1, nth

    def find(self, statement: str, qualname: str, line: int, nth: int) -> types.CodeType:
        """The code object ``locate`` described, from a fresh compile of the statement."""
        codes = self._compiled.get(statement)
        if codes is None:
            try:
                codes = list(_nested(self._compile(statement)[:2]))
            except SyntaxError as exc:
                raise DecodeError(f"the source of {qualname} no longer compiles: {exc}") from None
            if len(self._compiled) > 256:
                self._compiled.clear()
            self._compiled[statement] = codes
            for code, where in zip(codes, _nth(codes), strict=True):
                self._where[code] = (statement, where)
        matches = [c for c in codes if c.co_qualname == qualname and c.co_firstlineno == line]
        if nth >= len(matches):
            raise DecodeError(f"the source of {qualname} no longer holds that function")
        return matches[nth]

    def _span(self, source: str, line: int) -> tuple[int, int]:
        """Whole lines of the innermost simple statement (or def/class) holding ``line``, plus any
        statements sharing those lines; the whole block when it does not parse alone."""
        spans = self._statements.get(source)
        if spans is None:
            spans = _statement_spans(source)
            if len(self._statements) > 256:
                self._statements.clear()
            self._statements[source] = spans
        inner = [s for s in spans if s[0] <= line <= s[1]]
        if not inner:
            return 1, source.count("\n") + 1
        first, last = min(inner, key=lambda s: s[1] - s[0])
        changed = True
        while changed:  # statements that share a line with the span join it
            changed = False
            for a, b in spans:
                if a <= last and b >= first and (a < first or b > last) and (a >= first or b <= last):
                    first, last, changed = min(a, first), max(b, last), True
        return first, last


def _nth(codes: list[types.CodeType]) -> Iterator[int]:
    counts: dict[tuple[str, int], int] = {}
    for code in codes:
        key = (code.co_qualname, code.co_firstlineno)
        yield counts.get(key, 0)
        counts[key] = counts.get(key, 0) + 1


_COMPOUND = (ast.If, ast.Try, ast.With, ast.For, ast.While, ast.Match, ast.TryStar, ast.AsyncFor, ast.AsyncWith)


def _statement_spans(source: str) -> list[tuple[int, int]]:
    """Line spans of every statement outside def/class bodies, compound statements excluded."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    spans: list[tuple[int, int]] = []
    work: list[ast.stmt] = list(tree.body)
    while work:
        node = work.pop()
        if isinstance(node, _COMPOUND):
            for field in ("body", "orelse", "finalbody"):
                work.extend(getattr(node, field, []) or [])
            for handler in getattr(node, "handlers", []) or []:
                work.extend(handler.body)
            for case in getattr(node, "cases", []) or []:
                work.extend(case.body)
            continue
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        spans.append((first, node.end_lineno or node.lineno))
    return sorted(spans)


def _dedent(lines: list[str]) -> str:
    """Lines of a nested statement, moved to column 0 so they compile alone."""
    indent = min((len(x) - len(x.lstrip(" \t")) for x in lines if x.strip()), default=0)
    return "\n".join(x[indent:] for x in lines)
