"""``typing.get_type_hints`` and ``dataclasses.make_dataclass`` as the sandbox may use them.

The originals are unsafe as shipped: ``get_type_hints`` evaluates string
annotations (and ``ForwardRef`` arguments nested in generics) with the real
``eval`` and real builtins, so ``def f(x: "().__class__.__base__..."):`` was an
escape; ``make_dataclass`` builds a class from a namespace dict, which could hold
hooks a ``class`` statement may not define (``__getattr__``, ``__init_subclass__``).

Here every string annotation is compiled and evaluated like a block's trailing
expression, under the sandbox's policy and in the calling block's globals; the
namespace of ``make_dataclass`` passes the same name checks as a class body,
and the class is recorded as the conversation's own.
"""

from __future__ import annotations

import abc
import dataclasses
import sys
import types
import typing
from typing import Any

from envloop.sandbox.rules import CLASS_BODY_DUNDER_NAMES, DATA_MODEL_DUNDERS, is_private_name

__all__ = ["get_type_hints", "make_dataclass"]


def _sandbox_frame() -> types.FrameType | None:
    """The nearest frame running sandboxed code (its builtins hold the sandbox's print)."""
    frame: types.FrameType | None = sys._getframe(2)
    while frame is not None and "_print_" not in frame.f_builtins:
        frame = frame.f_back
    return frame


def _evaluate(expr: str, namespace: dict[str, Any]) -> Any:
    """``expr`` evaluated as a block's expression would be: compiled under the policy."""
    from envloop.sandbox.policy import compile_block

    exec_code, eval_code, _info = compile_block(expr, max_source=10_000, max_ast_depth=60, trace=False)
    if exec_code is not None or eval_code is None:
        raise SyntaxError(f"forward reference must be an expression, got {expr!r}")
    return eval(eval_code, namespace)  # policy-compiled, sandbox globals and builtins


def _resolve(value: Any, namespace: dict[str, Any], depth: int = 0) -> Any:
    """Evaluate strings and ForwardRefs, also inside ``list['X']`` and ``typing.Dict[str, 'X']``."""
    if depth > 20:
        return value
    if value is None:
        return type(None)
    if isinstance(value, str):
        return _evaluate(value, namespace)
    if isinstance(value, typing.ForwardRef):
        return _evaluate(value.__forward_arg__, namespace)
    args = getattr(value, "__args__", None)
    if type(args) is not tuple or not args:
        return value
    new = tuple(_resolve(arg, namespace, depth + 1) for arg in args)
    if all(a is b for a, b in zip(new, args, strict=True)):
        return value
    if isinstance(value, types.GenericAlias):
        return types.GenericAlias(value.__origin__, new)  # type: ignore[arg-type]
    copy_with = getattr(value, "copy_with", None)
    return copy_with(new) if callable(copy_with) else value


def get_type_hints(obj: Any, globalns: Any = None, localns: Any = None, include_extras: bool = False) -> dict[str, Any]:
    """``typing.get_type_hints``, with forward references evaluated under the sandbox's policy."""
    frame = _sandbox_frame()
    namespace = dict(frame.f_globals) if frame is not None else {"__builtins__": {}}
    for extra in (globalns, localns):
        if isinstance(extra, dict):  # never its own builtins: those hold the guards the policy calls
            namespace.update({k: v for k, v in extra.items() if k != "__builtins__"})
    if isinstance(obj, type):
        layers = [vars(base).get("__annotations__", {}) for base in reversed(obj.__mro__)]
    else:
        layers = [getattr(obj, "__annotations__", None) or {}]
    hints: dict[str, Any] = {}
    for layer in layers:
        for name, value in dict(layer).items():
            hints[name] = _resolve(value, namespace)
    if include_extras:
        return hints
    return {name: typing._strip_annotations(value) for name, value in hints.items()}  # type: ignore[attr-defined]


def _check_namespace(namespace: Any) -> dict[str, Any]:
    if namespace is None:
        return {}
    if not isinstance(namespace, dict):
        raise TypeError("make_dataclass: namespace must be a dict")
    for key in namespace:
        allowed = type(key) is str and (
            not key.startswith("_") or is_private_name(key) or key in DATA_MODEL_DUNDERS
            or key in CLASS_BODY_DUNDER_NAMES)
        if not allowed:
            raise ValueError(f"make_dataclass: {key!r} cannot be defined in the sandbox")
    return dict(namespace)


def make_dataclass(cls_name: str, fields: Any, *, bases: tuple[type, ...] = (), namespace: Any = None,
                   **options: Any) -> type:
    """``dataclasses.make_dataclass`` whose names pass the checks a ``class`` statement gets."""
    from envloop.sandbox._replacements import check_dataclass_names

    if type(cls_name) is not str or not cls_name.isidentifier():
        raise TypeError(f"make_dataclass: class name must be an identifier, not {cls_name!r}")
    if any(not isinstance(base, type) or type(base) not in (type, abc.ABCMeta) for base in bases):
        raise TypeError("make_dataclass: bases must be ordinary classes")
    items = []
    for item in fields:
        name = item if isinstance(item, str) else item[0]
        if type(name) is not str or not name.isidentifier() or name.startswith("__"):
            raise TypeError(f"make_dataclass: field name {name!r} is not allowed")
        items.append(item)
    for base in bases:
        check_dataclass_names(base)
    cls = dataclasses.make_dataclass(cls_name, items, bases=tuple(bases), namespace=_check_namespace(namespace),
                                     **options)
    cls.__module__ = "__main__"
    frame = _sandbox_frame()
    register = frame.f_builtins.get("_register_class_") if frame is not None else None
    if callable(register):
        register(cls)
    return cls
