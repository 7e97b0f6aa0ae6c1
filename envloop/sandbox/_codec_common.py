"""Pieces the value codec's encoder, decoder and preview share.

The format itself is described in :mod:`envloop.sandbox.codec`. This module
holds what both directions must agree on: the constants that decide which
objects get a reference number, safe class introspection (which never runs a
conversation's code: class namespaces and MROs are read through ``type``'s own
descriptors, so a metaclass cannot intercept them), the small "leaf" types
that encode to one self-contained node, and the reasons given for refusals.
"""

from __future__ import annotations

import _io
import base64
import datetime as dt
import decimal
import enum
import fractions
import json
import math
import random
import re
import types
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from envloop.errors import StoreError

FORMAT_VERSION = 1
BIG_INT = 1 << 63  # ints in (-BIG_INT, BIG_INT) are JSON numbers; larger ones are hex text
SHARE_MIN = 256  # str and bytes at least this long are shared by reference when repeated
DEF_DEPTH = 64  # every DEF_DEPTH levels a node moves out of line, so JSON nesting stays shallow

class_namespace = type.__dict__["__dict__"].__get__  # the real class dict, even under a metaclass
class_mro = type.__dict__["__mro__"].__get__
class_qualname = type.__dict__["__qualname__"].__get__
_GETSET = types.GetSetDescriptorType
_MEMBER = types.MemberDescriptorType
_CONTAINER_BASES = {id(list): list, id(dict): dict, id(set): set, id(tuple): tuple, id(frozenset): frozenset}
KIND_OF_BASE = {list: "l", dict: "d", set: "s", tuple: "t", frozenset: "f"}


class DecodeError(StoreError):
    """A stored value could not be rebuilt: unknown class, changed class, or corrupt data."""


class Reject(Exception):
    """Raised inside the encoder when a value cannot be stored; ``kind`` lets the caller route it."""

    def __init__(self, reason: str, kind: str = "other") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.path = ""


def dump(obj: object) -> tuple[str, bytes]:
    """Canonical compact JSON text and its UTF-8 bytes.

    Non-ASCII text is kept as is (smaller); a string with a lone surrogate cannot
    be UTF-8, so such a value falls back to ``\\u`` escapes. Either way the text
    is a pure function of the value.
    """
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False)
    try:
        return text, text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=True, allow_nan=False, check_circular=False)
        return text, text.encode("ascii")


def type_label(t: type) -> str:
    """``list``, ``Point`` or ``decimal.Decimal``: a type's name without touching user code."""
    module = class_namespace(t).get("__module__")
    name: str = class_qualname(t)
    if type(module) is not str or module in ("builtins", "__main__"):
        return name
    return f"{module}.{name}"


def float_text(x: float) -> str:
    """Exact text for any float; NaN keeps its sign (``float("-nan")`` reads it back)."""
    if x != x:
        return "-nan" if math.copysign(1.0, x) < 0 else "nan"
    return repr(x)


def int_node(n: int) -> object:
    """A JSON number when it fits in 64 bits, else ``["int", hex]``.

    Hex because decimal conversion of huge ints is quadratic and capped by
    ``sys.int_info.str_digits_check_threshold``; hex is linear and uncapped.
    """
    return n if -BIG_INT < n < BIG_INT else ["int", format(n, "x")]


def int_value(node: object) -> int:
    """Inverse of :func:`int_node`."""
    if type(node) is int:
        return node
    if type(node) is list and len(node) == 2 and node[0] == "int" and type(node[1]) is str:
        return int(node[1], 16)
    raise DecodeError(f"expected an integer, found {type(node).__name__}")


# ---------------------------------------------------------------- refusals ---

_FUNCTION_TYPES = tuple(
    id(t)
    for t in (
        types.FunctionType,
        types.BuiltinFunctionType,
        types.MethodType,
        types.MethodWrapperType,
        types.WrapperDescriptorType,
        types.MethodDescriptorType,
        types.ClassMethodDescriptorType,
    )
)
_GENERATOR_TYPES = (id(types.GeneratorType), id(types.CoroutineType), id(types.AsyncGeneratorType))


def foreign(t: type) -> Reject:
    """Why an object of a type the codec does not store is refused, and which kind it is."""
    tid = id(t)
    if tid in _FUNCTION_TYPES:
        why = "only functions written in this conversation, and library functions its imports give, can be stored"
        return Reject(f"{type_label(t)} objects cannot be stored: {why}", "function")
    if any(c is type for c in class_mro(t)):
        why = "only classes of this conversation, and library classes its imports give, can be stored"
        return Reject(f"this class cannot be stored: {why}", "class")
    if tid == id(types.ModuleType):
        return Reject("modules are kept as their import statement, not as data", "module")
    if tid in _GENERATOR_TYPES:
        return Reject("generator objects cannot be stored: they hold a paused function (store list(...) of it)")
    if any(c is _io._IOBase for c in class_mro(t)):
        return Reject("open files cannot be stored; save their content instead")
    return Reject(f"objects of library type {type_label(t)} cannot be stored")


# ---------------------------------------------------------------- classes ---


@dataclass(frozen=True)
class Layout:
    """Where an instance of a conversation class keeps its state.

    ``base`` is the builtin container it extends (list, dict, set, tuple,
    frozenset) or None; ``dict_get`` reads the real instance ``__dict__``;
    ``slots`` are the member descriptors of every ``__slots__`` entry, keyed by
    their (mangled) name; ``problem`` says why instances cannot be stored.
    """

    cls: type
    name: str
    base: type | None = None
    dict_get: Callable[[object], dict[str, Any]] | None = None
    slots: tuple[tuple[str, Any], ...] = ()
    enum: bool = False
    problem: str | None = None


def _stateless(ns: Any) -> bool:
    """A library class with ``__slots__ = ()`` (Generic, ABC, namedtuple classes) adds no state."""
    slots = ns.get("__slots__", None)
    return (type(slots) is tuple or type(slots) is list) and len(slots) == 0


def _dict_getter(mro: tuple[type, ...]) -> Callable[[object], dict[str, Any]] | None | str:
    """The getter of the real instance ``__dict__``; None without one; a str when the class overrides it."""
    for c in mro:
        found = class_namespace(c).get("__dict__", None)
        if found is not None:
            return found.__get__ if type(found) is _GETSET else "overridden"
    return None


def layout_of(cls: type, is_own: Callable[[type], bool]) -> Layout:
    """Read a class's state layout from its MRO; refuse C-level state the codec cannot see."""
    name = class_qualname(cls)
    mro = class_mro(cls)
    dict_get = _dict_getter(mro)
    if type(dict_get) is str:
        return Layout(cls, name, problem=f"instances of {name} cannot be stored: the class overrides __dict__")
    if any(c is enum.Enum for c in mro):
        return Layout(cls, name, dict_get=dict_get, enum=True)  # type: ignore[arg-type]
    base: type | None = None
    slots: list[tuple[str, Any]] = []
    for c in mro:
        container = _CONTAINER_BASES.get(id(c))
        if c is object or container is not None:
            base = base or container
            continue
        ns = class_namespace(c)
        if not is_own(c) and not _stateless(ns):
            why = f"instances of {name} cannot be stored: it inherits from {type_label(c)}"
            return Layout(cls, name, problem=f"{why}, whose state the codec cannot read")
        slots.extend((k, v) for k, v in ns.items() if type(v) is _MEMBER)
    return Layout(cls, name, base, dict_get, tuple(slots))  # type: ignore[arg-type]


# ------------------------------------------------------------------ leaves ---


def _tz_node(tz: dt.tzinfo | None) -> object:
    """A tzinfo as data: null, ``[seconds, microseconds, name]`` for a fixed offset, or a zone key."""
    if tz is None:
        return None
    if type(tz) is dt.timezone:
        offset, *name = tz.__getinitargs__()  # type: ignore[attr-defined]
        return [offset.days * 86400 + offset.seconds, offset.microseconds, name[0] if name else None]
    if type(tz) is zoneinfo.ZoneInfo and type(tz.key) is str:
        return tz.key
    raise Reject(f"a datetime with a tzinfo of type {type_label(type(tz))} cannot be stored (use timezone or ZoneInfo)")


def _tz_value(node: object) -> dt.tzinfo | None:
    if node is None:
        return None
    if type(node) is str:
        try:
            return zoneinfo.ZoneInfo(node)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise DecodeError(f"time zone {node!r} is not available in this worker") from None
    seconds, micros, name = cast(tuple[int, int, "str | None"], node)
    offset = dt.timedelta(seconds=seconds, microseconds=micros)
    return dt.timezone(offset) if name is None else dt.timezone(offset, name)


def _pattern_node(p: re.Pattern[Any]) -> list[object]:
    source = p.pattern
    if type(source) is str:
        return ["re", source, p.flags]
    return ["reb", base64.b64encode(source).decode("ascii"), p.flags]


LEAF_ENCODERS: dict[int, Callable[[Any], list[object]]] = {
    id(complex): lambda x: ["c", float_text(x.real), float_text(x.imag)],
    id(decimal.Decimal): lambda x: ["dec", str(x)],
    id(fractions.Fraction): lambda x: ["frac", int_node(x.numerator), int_node(x.denominator)],
    id(dt.date): lambda x: ["date", x.isoformat()],
    id(dt.datetime): lambda x: ["dt", x.replace(tzinfo=None).isoformat(), x.fold, _tz_node(x.tzinfo)],
    id(dt.time): lambda x: ["time", x.replace(tzinfo=None).isoformat(), x.fold, _tz_node(x.tzinfo)],
    id(dt.timedelta): lambda x: ["td", x.days, x.seconds, x.microseconds],
    id(range): lambda x: ["range", int_node(x.start), int_node(x.stop), int_node(x.step)],
    id(re.Pattern): _pattern_node,
    id(random.Random): lambda x: ["rng", *_rng_state(x)],
}


def _datetime(node: list[Any]) -> dt.datetime:
    value = dt.datetime.fromisoformat(node[1])
    return value.replace(tzinfo=_tz_value(node[3]), fold=node[2])


def _time(node: list[Any]) -> dt.time:
    value = dt.time.fromisoformat(node[1])
    return value.replace(tzinfo=_tz_value(node[3]), fold=node[2])


def _rng_state(r: random.Random) -> list[object]:
    """A ``random.Random``'s Mersenne Twister state as data: version, 625 words, the cached gauss."""
    version, words, gauss = r.getstate()
    return [version, list(words), gauss]


def _rng(node: list[Any]) -> random.Random:
    r = random.Random()
    r.setstate((node[1], tuple(node[2]), node[3]))
    return r


LEAF_DECODERS: dict[str, Callable[[list[Any]], object]] = {
    "int": int_value,
    "fl": lambda n: float(n[1]),
    "c": lambda n: complex(float(n[1]), float(n[2])),
    "dec": lambda n: decimal.Decimal(n[1]),
    "frac": lambda n: fractions.Fraction(int_value(n[1]), int_value(n[2])),
    "date": lambda n: dt.date.fromisoformat(n[1]),
    "dt": _datetime,
    "time": _time,
    "td": lambda n: dt.timedelta(days=n[1], seconds=n[2], microseconds=n[3]),
    "range": lambda n: range(int_value(n[1]), int_value(n[2]), int_value(n[3])),
    "re": lambda n: re.compile(n[1], n[2]),
    "reb": lambda n: re.compile(base64.b64decode(n[1]), n[2]),
    "rng": _rng,
}
