"""Which of the conversation's own functions ran during each top-level statement of a block.

Provenance (``envloop/provenance.py``) counts the globals a function reads as
reads of the statement that called it. Which functions a statement called is
only known at run time (``ops['add'](1, 2)``, ``fs[0](1)``, ``acc.add(3)``, a
``key=`` callback, a call on a branch that did not run), so the worker records
it, at almost no cost to compute:

* :func:`instrument` (run by ``policy.compile_block`` after the policy
  transformer) gives every ``def`` and ``lambda`` a prologue calling the
  recorder ``_el_enter_()``, and puts ``_el_stmt_(i)`` before each top-level
  statement ``i`` of the block (not before the first, so a docstring stays one,
  nor before ``from __future__`` imports);
* a function made at module or class level, outside loops and comprehensions
  (one ``def``/``lambda`` statement makes one object), is *swapped*: the
  decorator ``_el_fn_`` (innermost, located on the ``def`` line, so
  ``co_firstlineno`` is unchanged) registers the object -- a function the
  codec restores is registered the same way -- and on its first call in a
  statement the recorder sets its ``__code__`` to a twin compiled from the same
  tree without the prologue (the same lines, the same nested code objects);
  later calls, recursion included, run the twin at full speed. The next
  ``_el_stmt_`` and the end of the block (also after an error) give every
  swapped function its traced code back;
* a function made inside another function, a loop or a comprehension (a
  closure made per call, a ``key=lambda`` in a loop) is not registered (that
  would cost on every creation); its prologue is ``if _el_tN_: _el_enter_()``
  with one flag per code object in the sandbox's builtins, which the recorder
  clears for the rest of the statement: two instructions per call.

A function's reads are its code's ``LOAD_GLOBAL``/``LOAD_NAME`` names,
including those of its comprehensions and of classes made in its body, not of
the functions defined in it (they record themselves when they run). The codec
finds a function by its code object: every function holds its traced code
whenever a snapshot is taken, and :func:`canonical` maps a twin back in case
one does not (tracebacks quote a twin's lines too, see ``frames.SourceMap``).
Generators and coroutines record when their body starts (a generator resumed
in a later statement is not recorded again). The price: a block that defines
functions compiles them twice (0.4-1 ms more for bench_sandbox's kernels).
"""

from __future__ import annotations

import ast
import bisect
import itertools
import opcode
import sys
import types
import weakref
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from envloop.sandbox.rules import is_user_name

__all__ = ["ENTER", "REGISTER", "STATEMENT", "ByCode", "Instrumented", "Tracer", "canonical", "instrument", "note_twins",
           "pair_twins", "twin_of", "with_boundaries"]

ENTER = "_el_enter_"
REGISTER = "_el_fn_"
STATEMENT = "_el_stmt_"
_FLAG_PREFIX = "_el_t"
#: A trace longer than this (statements) or with more names in all is not sent: provenance falls back to the source.
MAX_STATEMENTS = 20_000
MAX_TRACE_NAMES = 100_000

_flags = itertools.count(1)  # one flag name per nested code object, unique in the process
_getframe = sys._getframe
_V = TypeVar("_V")
_FunctionType = types.FunctionType


@dataclass
class Instrumented:
    """What :func:`instrument` changed: how to compile the twins."""

    strip: list[Callable[[], None]] = field(default_factory=list)  # undo each swapped function's prologue


def _name(id_: str, like: ast.AST) -> ast.Name:
    return ast.copy_location(ast.Name(id_, ast.Load()), like)


def _enter_call(like: ast.AST) -> ast.Call:
    return ast.copy_location(ast.Call(func=_name(ENTER, like), args=[], keywords=[]), like)


class _Instrument(ast.NodeTransformer):
    """Adds the prologues and registrations; ``depth`` counts the enclosing functions, loops and comprehensions."""

    def __init__(self) -> None:
        self.depth = 0
        self.done = Instrumented()

    def _visit_list(self, nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            new = self.visit(node)
            if isinstance(new, list):
                out.extend(new)
            elif new is not None:
                out.append(new)
        return out

    @staticmethod
    def _flag() -> str:
        return f"{_FLAG_PREFIX}{next(_flags)}_"

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        node.decorator_list = self._visit_list(node.decorator_list)
        node.args = self.visit(node.args)  # defaults and annotations run where the def runs
        if node.returns is not None:
            node.returns = self.visit(node.returns)
        self.depth += 1
        try:
            node.body = self._visit_list(node.body)
        finally:
            self.depth -= 1
        first = node.body[0]
        docstring = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                     and isinstance(first.value.value, str))
        at = 1 if docstring else 0
        like = node.body[at] if at < len(node.body) else first
        prologue: ast.stmt
        if self.depth:
            prologue = ast.If(test=_name(self._flag(), like), body=[ast.Expr(_enter_call(like))], orelse=[])
            ast.copy_location(prologue.body[0], like)
        else:
            prologue = ast.Expr(_enter_call(like))
            node.decorator_list.append(_name(REGISTER, node))  # innermost: registers the function itself
            body = node.body
            self.done.strip.append(lambda: body.remove(prologue))
        ast.copy_location(prologue, like)
        node.body.insert(at, prologue)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def _repeated(self, node: ast.AST) -> ast.AST:
        """A loop or comprehension may make many functions: those get flags, not a registration each."""
        self.depth += 1
        try:
            return self.generic_visit(node)
        finally:
            self.depth -= 1

    visit_For = visit_AsyncFor = visit_While = _repeated
    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _repeated

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        node.args = self.visit(node.args)
        self.depth += 1
        try:
            body = node.body = self.visit(node.body)
        finally:
            self.depth -= 1
        if self.depth:  # (_el_tN_ and _el_enter_()) or body: the body's value either way
            test: ast.expr = ast.copy_location(
                ast.BoolOp(op=ast.And(), values=[_name(self._flag(), body), _enter_call(body)]), body)
            node.body = ast.copy_location(ast.BoolOp(op=ast.Or(), values=[test, body]), body)
            return node
        node.body = ast.copy_location(ast.BoolOp(op=ast.Or(), values=[_enter_call(body), body]), body)

        def strip() -> None:
            node.body = body

        self.done.strip.append(strip)
        call = ast.Call(func=_name(REGISTER, node), args=[node], keywords=[])
        return ast.copy_location(call, node)


def instrument(tree: ast.Module) -> Instrumented:
    """Give every function of the (policy-transformed) tree its prologue; see the module docstring."""
    walker = _Instrument()
    tree.body = walker._visit_list(tree.body)
    return walker.done


def with_boundaries(body: list[ast.stmt], starts: list[tuple[int, int]], future: set[int]) -> list[ast.stmt]:
    """``body`` with ``_el_stmt_(i)`` before the first statement made from top-level statement ``i``.

    ``starts`` are the (line, column) where each statement of the source began; the
    transformer's statements keep the location of the one they came from.
    """
    out: list[ast.stmt] = []
    current = 0
    for stmt in body:
        line = getattr(stmt, "lineno", None)
        index = current if line is None else max(0, bisect.bisect_right(starts, (line, stmt.col_offset)) - 1)
        if index > current and index not in future:
            call = ast.Call(func=_name(STATEMENT, stmt), args=[ast.copy_location(ast.Constant(index), stmt)],
                            keywords=[])
            out.append(ast.copy_location(ast.Expr(ast.copy_location(call, stmt)), stmt))
        current = max(current, index)
        out.append(stmt)
    return out


def _codes(code: types.CodeType | None) -> list[types.CodeType]:
    """Every code object nested in ``code``, preorder in constant order."""
    found: list[types.CodeType] = []
    stack = [c for c in reversed(code.co_consts) if type(c) is types.CodeType] if code is not None else []
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(c for c in reversed(current.co_consts) if type(c) is types.CodeType)
    return found


def _swapped_kind(code: types.CodeType) -> bool:
    return bool(code.co_names) and code.co_names[0] == ENTER


def _instrumented(code: types.CodeType) -> bool:
    return bool(code.co_names) and (code.co_names[0] == ENTER or code.co_names[0].startswith(_FLAG_PREFIX))


def pair_twins(traced: types.CodeType | None, clean: types.CodeType | None
               ) -> list[tuple[types.CodeType, types.CodeType]]:
    """(traced, twin) for each swapped function: the twin is ``clean``'s code holding ``traced``'s nested code."""
    pairs: list[tuple[types.CodeType, types.CodeType]] = []
    ours, theirs = _codes(traced), _codes(clean)
    if len(ours) != len(theirs):
        return pairs
    for t, c in zip(ours, theirs, strict=True):
        if not _swapped_kind(t):
            continue
        if (t.co_qualname, t.co_firstlineno, t.co_freevars, t.co_cellvars) != (
                c.co_qualname, c.co_firstlineno, c.co_freevars, c.co_cellvars) or ENTER in c.co_names:
            return []  # not the same tree: trace without swapping rather than guess
        nested = iter([k for k in t.co_consts if type(k) is types.CodeType])
        consts = tuple(next(nested) if type(k) is types.CodeType else k for k in c.co_consts)
        pairs.append((t, c.replace(co_consts=consts)))
    return pairs


_LOAD_GLOBAL = opcode.opmap["LOAD_GLOBAL"]
_LOAD_NAME = opcode.opmap["LOAD_NAME"]
_EXTENDED_ARG = opcode.EXTENDED_ARG
_GLOBAL_SHIFT = 1 if sys.version_info >= (3, 11) else 0  # 3.11 keeps a push-NULL flag in the low bit


def global_loads(code: types.CodeType) -> frozenset[str]:
    """Global names ``code`` loads, with its comprehensions and class bodies, not its nested functions.

    A plain scan of the bytecode (``dis`` would allocate, and dirty, far more of the worker's memory).
    """
    names: set[str] = set()
    stack = [code]
    while stack:
        current = stack.pop()
        raw, table, extended = current.co_code, current.co_names, 0
        for i in range(0, len(raw), 2):
            op, arg = raw[i], raw[i + 1] | extended
            if op == _EXTENDED_ARG:
                extended = arg << 8
                continue
            extended = 0
            if op == _LOAD_GLOBAL:
                names.add(table[arg >> _GLOBAL_SHIFT])
            elif op == _LOAD_NAME:
                names.add(table[arg])
        stack.extend(c for c in current.co_consts if type(c) is types.CodeType and not _instrumented(c))
    return frozenset(names)


class _Ref(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a code object that carries its map key and value."""

    __slots__ = ("key", "value")
    key: int
    value: Any


class ByCode(Generic[_V]):
    """A map keyed by a code object's identity, dropping an entry when its code dies.

    Not a WeakKeyDictionary: code objects compare equal by content, and the same
    ``def`` compiled twice must keep two entries.  Entries keep the order they
    were last set in (the oldest first).
    """

    def __init__(self) -> None:
        self._data: dict[int, _Ref] = {}
        self._callback = self._gone

    def _gone(self, ref: _Ref) -> None:
        if self._data.get(ref.key) is ref:
            del self._data[ref.key]

    def __len__(self) -> int:
        return len(self._data)

    def get(self, code: types.CodeType) -> _V | None:
        ref = self._data.get(id(code))
        return ref.value if ref is not None and ref() is code else None

    def set(self, code: types.CodeType, value: _V) -> None:
        ref = _Ref(code, self._callback)
        ref.key, ref.value = id(code), value
        self._data.pop(ref.key, None)  # set again: now the newest
        self._data[ref.key] = ref

    def pop(self, key: int) -> None:
        """Forget the entry of the code whose ``id`` is ``key``, if any."""
        self._data.pop(key, None)

    def drop_oldest(self) -> None:
        del self._data[next(iter(self._data))]


class _CodeState:
    """What one interpreter knows of one function code: its flags are set, its functions, its reads."""

    __slots__ = ("functions", "loads")

    def __init__(self) -> None:
        self.functions: list[weakref.ref[types.FunctionType]] = []
        self.loads: frozenset[str] | None = None


_TWINS: ByCode[types.CodeType] = ByCode()  # traced code -> twin
_CANONICAL: ByCode[weakref.ref[types.CodeType]] = ByCode()  # twin -> traced code


def note_twins(pairs: list[tuple[types.CodeType, types.CodeType]]) -> None:
    """Remember what :func:`pair_twins` found (code objects only: shared by every interpreter of the process)."""
    for traced, twin in pairs:
        _TWINS.set(traced, twin)
        _CANONICAL.set(twin, weakref.ref(traced))


def twin_of(code: types.CodeType) -> types.CodeType | None:
    return _TWINS.get(code)


def canonical(code: types.CodeType) -> types.CodeType:
    """The traced code of a twin (what the codec and the code index know); any other code as it is."""
    found = _CANONICAL.get(code)
    traced = found() if found is not None else None
    return traced if traced is not None else code


class Tracer:
    """The recorder a block's code calls (``_el_enter_``, ``_el_fn_``, ``_el_stmt_``), in one interpreter."""

    def __init__(self, builtins: MutableMapping[str, Any]) -> None:
        self._builtins = builtins
        self._codes: ByCode[_CodeState] = ByCode()  # codes whose flags (and nested ones') are set
        self._hot: dict[int, types.CodeType] = {}  # code objects entered in this statement, by id
        self._swapped: list[tuple[types.FunctionType, types.CodeType]] = []
        self._flags: list[str] = []
        self._current = 0
        self._ran: dict[int, list[types.CodeType]] | None = None  # None: not recording
        builtins[ENTER] = self.enter
        builtins[REGISTER] = self.register
        builtins[STATEMENT] = self.statement

    def adopt(self, *codes: types.CodeType | None) -> None:
        """Set the flags of ``codes`` and everything nested in them (before any of it runs)."""
        for code in codes:
            if code is not None and self._codes.get(code) is None:
                self._adopt(code)

    def _adopt(self, code: types.CodeType) -> _CodeState:
        for inner in (code, *_codes(code)):
            first = inner.co_names[0] if inner.co_names else ""
            if first.startswith(_FLAG_PREFIX) and first not in self._builtins:
                self._builtins[first] = True
        state = _CodeState()
        self._codes.set(code, state)
        return state

    # -- run time (called by the block's code) -----------------------------
    def enter(self) -> None:
        """A function's prologue: note its code for this statement, then make its next calls cheap."""
        code = _getframe(1).f_code
        hot = self._hot
        if id(code) in hot:
            return
        hot[id(code)] = code
        first = code.co_names[0] if code.co_names else ""
        if first.startswith(_FLAG_PREFIX):
            self._flags.append(first)
            self._builtins[first] = False
            return
        twin = _TWINS.get(code)
        state = self._codes.get(code)
        if twin is not None and state is not None:
            for ref in state.functions:
                fn = ref()
                if fn is not None and fn.__code__ is code:
                    self._swapped.append((fn, code))
                    fn.__code__ = twin

    def register(self, fn: Any) -> Any:
        """``_el_fn_``: remember a function made at module or class level (or restored); returns it unchanged."""
        if type(fn) is _FunctionType:
            code = fn.__code__
            state = self._codes.get(code) or self._adopt(code)
            twin = _TWINS.get(code)
            if twin is not None:
                functions = state.functions
                if len(functions) >= 8 and len(functions) & (len(functions) - 1) == 0:  # at powers of two
                    functions[:] = [ref for ref in functions if ref() is not None]
                functions.append(weakref.ref(fn))
                if self._hot.get(id(code)) is code:  # its code already ran in this statement
                    self._swapped.append((fn, code))
                    fn.__code__ = twin
        return fn

    def registered(self, fn: types.FunctionType) -> bool:
        """Will ``fn`` run its twin after its first call in a statement?"""
        state = self._codes.get(fn.__code__)
        return _TWINS.get(fn.__code__) is not None and state is not None and any(r() is fn for r in state.functions)

    def statement(self, index: int) -> None:
        """``_el_stmt_(i)``: top-level statement ``i`` starts."""
        self._flush()
        self._current = index

    def _flush(self) -> None:
        swapped = self._swapped
        while swapped:  # set before popping: an interrupt here leaves nothing swapped for good
            fn, code = swapped[-1]
            fn.__code__ = code
            swapped.pop()
        flags, builtins = self._flags, self._builtins
        while flags:
            builtins[flags[-1]] = True
            flags.pop()
        if self._hot:
            if self._ran is not None:
                self._ran.setdefault(self._current, []).extend(self._hot.values())
            self._hot = {}

    # -- around a block ----------------------------------------------------
    def begin(self) -> None:
        self._flush()
        self._ran = {}
        self._current = 0

    def end(self, namespace: Mapping[str, Any]) -> list[list[str]] | None:
        """Stop recording; per statement that started, the names its functions read (None if too large)."""
        self._flush()
        ran, self._ran = self._ran, None
        if ran is None or self._current >= MAX_STATEMENTS:
            return None
        builtins = self._builtins
        trace: list[list[str]] = []
        total = 0
        for index in range(self._current + 1):
            names: set[str] = set()
            for code in ran.get(index, ()):
                names |= self._global_loads(code)
            kept = sorted(n for n in names if is_user_name(n) and (n in namespace or n not in builtins))
            total += len(kept)
            trace.append(kept)
        return trace if total <= MAX_TRACE_NAMES else None

    def _global_loads(self, code: types.CodeType) -> frozenset[str]:
        state = self._codes.get(code)
        if state is None:
            return global_loads(code)
        if state.loads is None:
            state.loads = global_loads(code)
        return state.loads
