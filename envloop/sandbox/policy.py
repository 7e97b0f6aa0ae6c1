"""Compile a block under envloop's policy, and the builtins it runs with.

:func:`compile_block` caps the source size and AST depth, runs the extended
RestrictedPython transformer (:mod:`envloop.sandbox.transformer`) and splits
off a trailing expression so its value can be previewed like a REPL.
:func:`safe_builtins` assembles the restricted builtins of one interpreter:
vetted stdlib builtins, the guards of :mod:`envloop.sandbox.guards`, one
``print`` writing to one capped buffer per block, a ``__build_class__`` that
records the conversation's own classes, and the import allowlist.
"""

from __future__ import annotations

import ast
import builtins
import typing
from dataclasses import dataclass

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

from envloop.sandbox import tracing
from envloop.sandbox._match import MatchClasses
from envloop.sandbox.class_born import Born
from envloop.sandbox.guards import (
    REAL_METACLASS,
    Guards,
    SafeType,
    checked_mul,
    inplace_attr,
    inplace_item,
    inplacevar,
    vet_value,
)
from envloop.sandbox.names import BlockNames, analyse_names
from envloop.sandbox.transformer import EnvloopTransformer

if typing.TYPE_CHECKING:
    from types import CodeType

FILENAME = "<block>"
TRUNCATION_MARKER = "\n… [output truncated]"

_SAFE_NAMES = ["abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr", "classmethod", "complex", "dict", "divmod", "enumerate", "filter", "float", "format", "frozenset", "hash", "hex", "id", "int", "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next", "object", "oct", "ord", "pow", "property", "range", "repr", "reversed", "round", "set", "slice", "sorted", "staticmethod", "str", "sum", "super", "tuple", "zip", "NotImplemented", "Ellipsis", "None", "True", "False"]


class OutputLimitExceeded(BaseException):
    """Raised by ``print`` once the block's output cap is reached, and on every print after."""


@dataclass
class CompiledBlock:
    """What :func:`compile_block` returns besides the code objects."""

    names: BlockNames
    has_result: bool
    statements: int = 0  # top-level statements of the source (the trailing expression is the last)


def _ast_depth(tree: ast.AST) -> int:
    """Depth of the tree, iteratively (the limit exists because recursion is unsafe)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _policy_error(details: list[tuple[int | None, str]]) -> SyntaxError:
    line = next((lineno for lineno, _ in details if lineno), None)
    message = "; ".join(msg for _, msg in details)
    err = SyntaxError(message)
    err.lineno = line
    return err


def _parse(source: str, max_source: int, max_ast_depth: int) -> ast.Module:
    if not isinstance(source, str):
        raise SyntaxError(f"a block must be a string, not {type(source).__name__}")
    if len(source) > max_source:
        raise SyntaxError(f"block too long: {len(source)} characters (limit {max_source})")
    try:
        tree = ast.parse(source, FILENAME, "exec")
    except (RecursionError, MemoryError):
        raise SyntaxError("block is nested too deeply to parse") from None
    if _ast_depth(tree) > max_ast_depth:
        raise SyntaxError(f"block is nested too deeply (AST depth limit {max_ast_depth})")
    return tree


class _Transformer(EnvloopTransformer):
    """Collects (line, message) pairs next to the stock "Line N: ..." strings."""

    def __init__(self) -> None:
        super().__init__()
        self.details: list[tuple[int | None, str]] = []

    def error(self, node: ast.AST, info: str) -> None:
        super().error(node, info)
        self.details.append((getattr(node, "lineno", None), info))


def compile_block(
    source: str, *, max_source: int = 200_000, max_ast_depth: int = 200, trace: bool = True
) -> tuple[CodeType | None, CodeType | None, CompiledBlock]:
    """Compile a block: (exec code or None, trailing-expression eval code or None, info).

    With ``trace`` (the default) the code calls the run-time recorder of
    :mod:`envloop.sandbox.tracing` (its builtins come with an Interpreter).

    Raises SyntaxError (with ``lineno`` when known) for bad syntax, a policy
    violation or a cap; never anything else for bad input.
    """
    tree = _parse(source, max_source, max_ast_depth)
    names = analyse_names(tree)
    starts = [(stmt.lineno, stmt.col_offset) for stmt in tree.body]
    future = {i for i, stmt in enumerate(tree.body)
              if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"}
    transformer = _Transformer()
    try:
        tree = transformer.visit(tree)
    except RecursionError:
        raise SyntaxError("block is nested too deeply") from None
    if transformer.details:
        raise _policy_error(transformer.details)
    try:
        plan = tracing.instrument(tree) if trace and ("def" in source or "lambda" in source) else None
    except RecursionError:
        raise SyntaxError("block is nested too deeply") from None
    body = tree.body
    last = body[-1] if body and isinstance(body[-1], ast.Expr) else None
    if last is not None:
        body = body[:-1]
    if trace:
        body = tracing.with_boundaries(body, starts, future)
    exec_code, eval_code = _compile(body, last)
    if plan is not None and plan.strip:  # the twins of the swapped functions: the same tree, no prologue
        for strip in plan.strip:
            strip()
        clean_exec, clean_eval = _compile(body, last)
        tracing.note_twins(tracing.pair_twins(exec_code, clean_exec) + tracing.pair_twins(eval_code, clean_eval))
    return exec_code, eval_code, CompiledBlock(names, last is not None, len(starts))


def _compile(body: list[ast.stmt], last: ast.Expr | None) -> tuple[CodeType | None, CodeType | None]:
    exec_code = eval_code = None
    if last is not None:
        eval_code = compile(ast.Expression(last.value), FILENAME, "eval", dont_inherit=True)
    if body:
        module = ast.Module(body=body, type_ignores=[])
        exec_code = compile(module, FILENAME, "exec", dont_inherit=True)
    return exec_code, eval_code


class OutputBuffer:
    """One capped buffer per block; every ``print`` of the block, in any function, lands here."""

    __slots__ = ("parts", "size", "cap", "exceeded", "redirects")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.reset()

    def reset(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.exceeded = False
        self.redirects: list[typing.Any] = []  # contextlib.redirect_stdout targets, innermost last

    def write(self, text: str) -> None:
        if type(text) is not str:  # a str subclass from a user __str__/__add__: keep plain data
            if not isinstance(text, str):
                raise TypeError(f"write() argument must be str, not {type(text).__name__}")
            text = str.__str__(text)
        if self.exceeded:
            raise OutputLimitExceeded(f"output limit of {self.cap} characters reached")
        size = self.size + len(text)
        if size > self.cap:
            self.parts.append(text[: self.cap - self.size])
            self.size, self.exceeded = self.cap, True
            raise OutputLimitExceeded(f"output limit of {self.cap} characters reached")
        self.parts.append(text)
        self.size = size

    def getvalue(self) -> str:
        text = "".join(self.parts)
        return text + TRUNCATION_MARKER if self.exceeded else text


def make_print(out: OutputBuffer) -> typing.Callable[..., None]:
    """``print`` honouring ``sep``/``end``, ignoring ``flush``, writing ``file=`` objects natively."""
    write = out.write

    def print(*objects: object, sep: str | None = " ", end: str | None = "\n",
              file: typing.Any = None, flush: bool = False) -> None:
        if sep is None:
            sep = " "
        elif not isinstance(sep, str):
            raise TypeError(f"sep must be None or a string, not {type(sep).__name__}")
        if end is None:
            end = "\n"
        elif not isinstance(end, str):
            raise TypeError(f"end must be None or a string, not {type(end).__name__}")
        if file is None and out.redirects:
            file = out.redirects[-1]
        sink = write if file is None else file.write
        if len(objects) == 1:
            sink(str(objects[0]) + end)
            return
        parts: list[str] = []
        try:
            for i, obj in enumerate(objects):
                if i:
                    parts.append(sep)
                parts.append(str(obj))
        except BaseException:
            sink("".join(parts))  # CPython has written the pieces before the failing one
            raise
        parts.append(end)
        sink("".join(parts))

    print._output = out  # type: ignore[attr-defined]  # for contextlib.redirect_stdout (_replacements)
    return print


def _lazy_import(name: str, globals: typing.Any = None, locals: typing.Any = None,
                 fromlist: typing.Any = (), level: int = 0) -> typing.Any:
    """``__import__`` through the allowlist in :mod:`envloop.sandbox.modules`."""
    try:
        from envloop.sandbox.modules import safe_import
    except ImportError:
        raise ImportError(f"import of {name!r} is not available (no import allowlist)") from None
    return safe_import(name, globals, locals, fromlist, level)


def _exceptions() -> dict[str, type]:
    return {
        name: value for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, BaseException) and not name.startswith("_")
    }


def _apply(func: typing.Callable[..., typing.Any], *args: typing.Any, **kwargs: typing.Any) -> typing.Any:
    return func(*args, **kwargs)


def safe_builtins(interpreter: typing.Any) -> dict[str, typing.Any]:
    """The ``__builtins__`` of one interpreter.

    Needs ``interpreter.own_classes`` and ``.output``; ``.plain_own_classes``
    (own classes whose whole MRO is the conversation's or clean builtins, the
    ones whose ``self._x`` may be read natively) is used when present.
    """
    plain: set[type] = getattr(interpreter, "plain_own_classes", set())
    guards = Guards(interpreter.own_classes, plain)
    real_build_class = builtins.__build_class__

    def build_class(func: typing.Any, name: str, *bases: typing.Any, **kwargs: typing.Any) -> typing.Any:
        """Record every class a ``class`` statement makes; map metaclass stand-ins back."""
        meta = kwargs.get("metaclass")
        if isinstance(meta, type) and meta in REAL_METACLASS:
            kwargs["metaclass"] = REAL_METACLASS[meta]
        cls = real_build_class(func, name, *bases, **kwargs)
        if isinstance(cls, type):
            guards.register(cls)
            born = getattr(interpreter, "class_born", None)
            if born is not None:  # what the statement itself makes (see Snapshotter._class_state)
                born[cls] = Born(type.__dict__["__dict__"].__get__(cls), getattr(func, "__code__", None))
        return cls

    table: dict[str, typing.Any] = {name: getattr(builtins, name) for name in _SAFE_NAMES}
    table.update(_exceptions())
    table.update(
        type=SafeType,
        getattr=guards.getattr,
        hasattr=guards.hasattr,
        setattr=guards.setattr,
        delattr=guards.delattr,
        vars=guards.vars,
        dir=builtins.dir,
        __build_class__=build_class,
        __import__=_lazy_import,
        __metaclass__=type,
        _getattr_=guards.getattr,
        _write_=guards.write,
        _getitem_=lambda obj, key: obj[key],
        _getiter_=iter,
        _iter_unpack_sequence_=guarded_iter_unpack_sequence,
        _unpack_sequence_=guarded_unpack_sequence,
        _inplacevar_=inplacevar,
        _inplace_attr_=inplace_attr,
        _inplace_item_=inplace_item,
        _mul_=checked_mul,
        _slice_=slice,
        _vet_=vet_value,
        _type_=type,
        _plain_own_=plain,
        _apply_=_apply,
        _match_class_=MatchClasses(guards.own_private),
        _register_class_=guards.register,  # classes made by dataclasses.make_dataclass (_typing_safe)
        _print_=make_print(interpreter.output),
    )
    table["print"] = table["_print_"]  # a plain builtin: `print = log` shadows it, `del print` restores it
    return table
