"""Names that share objects: versioned together, stored together, restored shared.

``a = [1]; b = a`` then ``b.append(2)`` changes ``a`` too, and after a resume
``a is b`` must hold again. Kishu calls such names co-variables. After each
block the snapshotter asks :meth:`Aliases.groups` to split the candidate names
into groups: names whose values reach a common mutable object (a list, dict,
set, instance, function or closure cell, at any depth) -- including stored
names the block did not touch -- form one group. A group of two or more is
encoded as ONE value, ``{name: value, ...}`` in name order, so the codec's own
reference numbering keeps the sharing; each name's version points at that value
with its own ``member`` name, and the restore decodes it once.

What each stored name reaches is remembered as a set of object ids; finding
the untouched names a value shares with is one C-speed ``isdisjoint`` per
stored name that reaches anything mutable (it walks the smaller set). The walk is capped per value (:data:`REACH_CAP` objects): sharing
deeper inside a bigger value is not detected, which at worst stores two names
separately -- their values are still exact, only ``is`` between them is lost.
Plain data (lists, tuples and dicts of scalars) is surveyed at C speed instead
(:mod:`envloop.sandbox._codec_survey`, which the encoder then reuses): its
reach is the value itself and the objects inside that something else also
refers to, found by reference counts rather than by collecting every id.
"""

from __future__ import annotations

import array
import collections
import functools
import hashlib
import types
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

from envloop.sandbox import codec, stream
from envloop.sandbox._codec_common import (
    SHARE_MIN,
    class_mro,
    class_namespace,
    class_qualname,
    type_label,
)
from envloop.sandbox._codec_defs import ITERATORS, exception_referents
from envloop.sandbox._codec_fast import _longest
from envloop.sandbox._codec_preview import summary
from envloop.sandbox._codec_survey import Survey, survey

__all__ = ["REACH_CAP", "Aliases"]

REACH_CAP = 100_000
_LEAVES = frozenset({int, float, str, bytes, bool, type(None), complex})
_SEQUENCES = frozenset({list, tuple, set, frozenset, collections.deque})
_MAPPINGS = frozenset({dict, collections.OrderedDict, collections.Counter, collections.defaultdict})
_SHAREABLE_LEAVES = frozenset({bytearray, array.array})
_GROUPABLE = frozenset({functools.partial, collections.ChainMap, array.array})
_TEXT = frozenset({str, bytes})
_METHOD_OWNERS: frozenset[type] = frozenset({list, dict, set, bytearray, collections.deque})
_SURVEYED = frozenset({list, tuple, dict})


def reach(value: object, cap: int = REACH_CAP, plan: Survey | None = None) -> frozenset[int]:
    """Ids of the mutable objects ``value`` reaches (itself included), at most ``cap`` of them.

    Plain data (lists, tuples and dicts of scalars: ``plan``, its survey) is
    walked once at C speed, and that survey serves the encoder too.
    """
    if plan is not None:
        return plan.reach
    found: set[int] = set()
    walked: set[int] = set()  # tuples and frozensets: walked once, but not shareable themselves
    stack: list[Any] = [value]
    while stack and len(found) < cap:
        x = stack.pop()
        t = type(x)
        if (t is str or t is bytes) and len(x) >= SHARE_MIN:
            found.add(id(x))  # long text is numbered by the codec too: names sharing it share one copy
            continue
        if t in _LEAVES or id(x) in found or id(x) in walked:
            continue
        (walked if t is tuple or t is frozenset else found).add(id(x))
        if t in _SEQUENCES:
            if not _inert(x) and not _inert_rows(x, found):  # checked at C speed (H12)
                stack.extend(x)
        elif t in _MAPPINGS:
            if not (_inert(dict.keys(x)) and _inert(dict.values(x))):
                stack.extend(dict.keys(x))
                stack.extend(dict.values(x))
        elif t is types.FunctionType:
            stack.extend(_function_parts(x))
        elif t is types.MethodType or t is types.BuiltinMethodType:  # acc.add, xs.append: their object
            stack.append(x.__self__)
            stack.append(getattr(x, "__func__", None))
        elif t is types.CellType:
            try:
                stack.append(x.cell_contents)
            except ValueError:
                pass
        elif t in _SHAREABLE_LEAVES or isinstance(x, type):
            continue
        elif t is functools.partial:
            stack.extend((x.func, x.args, x.keywords))
        elif t is collections.ChainMap:
            stack.append(x.maps)
        elif t is slice:
            stack.extend((x.start, x.stop, x.step))
        elif t in ITERATORS:  # what it goes over (``it = iter(rows)`` shares ``rows``)
            stack.append(x.__reduce__()[1][0])
        elif BaseException in class_mro(t):  # its args, chained exceptions and a few builtin fields
            stack.extend(exception_referents(x))
        else:
            state = _instance_dict(x)
            if state is not None:
                stack.extend(dict.values(state))
            if isinstance(x, dict):
                stack.extend(dict.values(x))
            elif isinstance(x, list | set | tuple | frozenset):
                stack.extend(x)
    return frozenset(found)


def _inert(items: Any) -> bool:
    """Only numbers, None and short text: nothing in ``items`` can be shared (C-speed checks)."""
    kinds = set(map(type, items))
    return kinds <= _LEAVES and (not kinds & _TEXT or _longest(items) < SHARE_MIN)


def _inert_rows(x: Any, found: set[int]) -> bool:
    """Rows (dicts, lists or tuples) of numbers and short strings: number them all at C speed, walk none."""
    kinds = set(map(type, x))
    if len(kinds) != 1 or not kinds <= {dict, list, tuple}:
        return False
    kind = next(iter(kinds))
    if kind is dict:
        inner = list(chain(chain.from_iterable(x), chain.from_iterable(map(dict.values, x))))
    else:
        inner = list(chain.from_iterable(x))
    if not _inert(inner):
        return False
    if kind is not tuple:
        found.update(map(id, x))
    return True


def _function_parts(fn: types.FunctionType) -> Iterator[object]:
    yield from fn.__closure__ or ()
    yield from fn.__defaults__ or ()
    yield from (fn.__kwdefaults__ or {}).values()


def _instance_dict(x: object) -> dict[str, Any] | None:
    for c in type(x).__mro__:
        getter = class_namespace(c).get("__dict__")
        if type(getter) is types.GetSetDescriptorType:
            state = getter.__get__(x)
            return state if type(state) is dict else None
    return None


class Aliases:
    """What each stored name reaches, and the groups of names that share objects."""

    def __init__(self) -> None:
        self._reach: dict[str, frozenset[int]] = {}
        self._plans: dict[int, tuple[object, Survey | None]] = {}  # during one collect: id -> (value, survey)

    def plan(self, value: object) -> Survey | None:
        """The survey of a plain list, tuple or dict, made once per block (see :meth:`release`)."""
        if type(value) not in _SURVEYED:
            return None
        held = self._plans.get(id(value))
        if held is None or held[0] is not value:
            held = self._plans[id(value)] = (value, survey(value))
        return held[1]

    def release(self) -> None:
        """Forget the surveys (and the values they hold) once the block's changes are encoded."""
        self._plans.clear()

    def forget(self, name: str) -> None:
        self._reach.pop(name, None)

    def note(self, name: str, value: object) -> None:
        """Remember what a restored name reaches (it may share objects with names restored with it)."""
        self._note(name, reach(value, plan=survey(value)) if groupable(value) else frozenset())

    def _note(self, name: str, ids: frozenset[int]) -> None:
        if ids:
            self._reach[name] = ids
        else:
            self._reach.pop(name, None)

    def groups(self, names: list[str], ns: dict[str, Any]) -> list[list[str]]:
        """``names`` split into groups that share objects, each widened by stored names it shares with.

        Deterministic: groups come in the order of their first name in ``names``, members sorted.
        """
        self.release()
        fresh = {n: reach(ns[n], plan=self.plan(ns[n])) if groupable(ns[n]) else frozenset() for n in names}
        parent: dict[str, str] = {}

        def root(n: str) -> str:
            while parent.get(n, n) != n:
                n = parent[n]
            return n

        def join(a: str, b: str) -> None:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)

        for n in names:
            self._note(n, fresh[n])
        for n in names:
            ids = fresh[n]
            if not ids:
                continue
            for other, theirs in self._reach.items():  # set intersection at C speed, the smaller set walked
                if other != n and not ids.isdisjoint(theirs) and other in ns and groupable(ns[other]):
                    join(n, other)
        members: dict[str, list[str]] = {}
        for n in [*names, *sorted(set(parent) | set(parent.values()))]:
            members.setdefault(root(n), [])
            if n not in members[root(n)]:
                members[root(n)].append(n)
        order: list[list[str]] = []
        placed: set[str] = set()
        for n in names:
            r = root(n)
            if r not in placed:
                placed.add(r)
                order.append(sorted(members[r]))
        return order

    def encode_group(self, group: list[str], ns: dict[str, Any], encode: Callable[..., Any],
                     own: set[type]) -> list[dict[str, Any]] | None:
        """One encoding of ``{name: value}`` for the group and a record per member pointing at it;
        None when the group cannot be stored as one (the caller stores the names one by one)."""
        encoded = encode({n: ns[n] for n in group}, walker=True)
        if not isinstance(encoded, stream.Streamed):
            return None
        records: list[dict[str, Any]] = []
        for name in group:
            value = ns[name]
            records.append({
                "name": name, "kind": "function" if type(value) is types.FunctionType else "value",
                "encoding": stream.ENCODING, "chunks": encoded.chunks, "member": name,
                "preview": _preview(value, own), "type_name": _type_name(value),
                "size": encoded.size, "digest": _sha(f"{encoded.digest}\0{name}"),
            })
        return records


def groupable(value: object) -> bool:
    """Plain containers, functions, exceptions and the conversation's own instances; never classes, modules or
    library objects."""
    t = type(value)
    if t in _SEQUENCES or t in _MAPPINGS or t is types.FunctionType or t is bytearray:
        return True
    if t is types.MethodType or (t is types.BuiltinMethodType and type(value.__self__) in _METHOD_OWNERS):  # type: ignore[attr-defined]
        return True
    if t is str or t is bytes:
        return len(value) >= SHARE_MIN  # type: ignore[arg-type]
    if t in _GROUPABLE or t in ITERATORS or BaseException in class_mro(t):  # stored, and mutable or holding what is
        return True
    return not isinstance(value, type) and class_namespace(t).get("__module__") == "__main__"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _type_name(value: object) -> str:
    t = type(value)
    return class_qualname(t) if class_namespace(t).get("__module__") == "__main__" else type_label(t)


def _preview(value: object, own: set[type]) -> str:
    found = codec.encode(value, limit_bytes=1 << 16, own_classes=own)
    return found.preview if found.ok else summary(value)
