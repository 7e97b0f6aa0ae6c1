"""The value codec's encoder: an explicit-stack walk from a value to JSON-able nodes.

See :mod:`envloop.sandbox.codec` for the format. The walk never calls a
conversation's code: it dispatches on ``type(x)`` by identity (``id`` keys, so
not even a metaclass ``__hash__`` runs), iterates builtin containers through
their builtin methods, and reads instance state through the class's own
``__dict__``/slot descriptors.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from itertools import chain
from typing import Any

from envloop.sandbox._codec_chunks import Chunker
from envloop.sandbox._codec_common import (
    BIG_INT,
    DEF_DEPTH,
    KIND_OF_BASE,
    LEAF_ENCODERS,
    SHARE_MIN,
    Layout,
    Reject,
    class_mro,
    class_namespace,
    dump,
    float_text,
    foreign,
    layout_of,
    type_label,
)
from envloop.sandbox._codec_defs import current as current_defs
from envloop.sandbox._codec_defs import encode_def
from envloop.sandbox._codec_preview import path_step

SORT_KEY_BUDGET = 4096  # bytes of encoding used to order one complex set member
_FACTORIES = {id(f): f.__name__ for f in (list, dict, set, int, float, str, tuple, frozenset, bytes, bool, complex)}
_FACTORIES.update({id(f): f.__name__ for f in (collections.Counter, collections.OrderedDict, collections.deque)})


class _Frame:
    """One container being encoded: its output node, the children still to visit, and how it registers."""

    __slots__ = ("node", "it", "obj", "post", "head", "saved")

    def __init__(self, node: list[Any], it: Iterator[Any], obj: object, post: bool, head: int) -> None:
        self.node = node
        self.it = it
        self.obj = obj
        self.post = post  # immutable: gets its reference number when complete, not when started
        self.head = head  # number of header fields before the children
        self.saved: int | None = None


class Encoder:
    """Turns one value into a node tree plus out-of-line ``defs``; see the codec module for the format.

    Reference numbers: a mutable container gets the next number when it is
    started, an immutable one (tuple, frozenset, tuple subclass) when it is
    complete, a long str/bytes when visited. The decoder walks the same order,
    so numbers are never written down; only a repeat visit writes ``["r", n]``.
    """

    def __init__(
        self,
        own: Mapping[int, type],
        limit_bytes: int,
        chunker: Chunker | None = None,
        layouts: dict[int, Layout] | None = None,
        nesting: int = 0,
    ) -> None:
        self._own = own
        self._budget = limit_bytes  # a lower bound of the text still allowed
        self._chunker = chunker
        self._layouts = {} if layouts is None else layouts
        self._nesting = nesting  # > 0 inside the encoding of a set member's sort key
        self._memo: dict[int, int] = {}
        self._count = 0
        self._entries: dict[int, int] = {}  # immutables in progress -> count when last entered
        self._stack: list[_Frame] = []
        self.defs: list[Any] = []
        #: Objects made for the encoding (see encode_def), kept until it ends: ids stay unique meanwhile.
        self.alive: list[Any] = []
        active = current_defs()
        self._refs = active.name_refs if active is not None and nesting == 0 else None

    def run(self, value: object) -> object:
        """Encode ``value``; raises :class:`Reject` (with ``path`` set) when it cannot be stored."""
        top = _Frame([], iter((value,)), None, False, 0)
        stack = self._stack = [top]
        while stack:
            frame = stack[-1]
            out = frame.node
            append = out.append
            spent = 0
            for x in frame.it:
                t = type(x)
                if t is int:
                    if -BIG_INT < x < BIG_INT:
                        append(x)
                        continue
                elif t is str:
                    if len(x) < SHARE_MIN:
                        spent += len(x)
                        append(x)
                        continue
                elif t is float:
                    if x - x == 0.0:
                        append(x)
                        continue
                elif x is None or t is bool:
                    append(x)
                    continue
                node = self._visit_safely(x, t)
                if type(node) is _Frame:
                    self._open(node, out, len(stack))
                    stack.append(node)
                    break
                append(node)
            else:
                stack.pop()
                self._close(frame)
            self._charge(spent)
        return top.node[0]

    def _visit_safely(self, x: object, t: type) -> Any:
        try:
            return self._visit(x, t)
        except Reject as refusal:
            refusal.path = self._path()
            raise

    def _visit(self, x: Any, t: type) -> Any:
        """A leaf node, a reference, or a new :class:`_Frame` for a container."""
        if t is int:
            return ["int", format(x, "x")]
        if t is float:
            return ["fl", float_text(x)]
        seen = self._memo.get(id(x))
        if seen is not None:
            return ["r", seen]
        if self._refs is not None:
            name = self._refs.get(id(x))
            if name is not None:  # the object a name holds: a reference to that name
                return ["nref", name]
        start = _STARTERS.get(id(t))
        if start is not None:
            return start(self, x)
        leaf = LEAF_ENCODERS.get(id(t))
        if leaf is not None:
            return leaf(x)
        if id(t) in self._own and (BaseException not in class_mro(t) or current_defs() is None):
            return self._instance(x, t)  # (an own exception, in a worker: by encode_def, as an exception)
        found = encode_def(self, x, t, self._own)  # functions, class and builtin references, exceptions
        if found is not None:
            return found
        raise foreign(t)

    def _charge(self, n: int) -> None:
        self._budget -= n
        if self._budget < 0:
            raise Reject("the value is too large to store")

    def _register(self, x: object) -> None:
        self._memo[id(x)] = self._count
        self._count += 1

    def _frame(self, x: Any, node: list[Any], it: Iterator[Any], post: bool = False, size: int = 0) -> _Frame:
        """Start a container: charge its lower-bound size, number it now if mutable."""
        self._charge(2 * size + 8)
        frame = _Frame(node, it, x, post, len(node))
        if post:
            previous = self._entries.get(id(x))
            if previous == self._count:
                why = "a tuple-like value that contains itself with no list, dict, set or object between"
                raise Reject(f"{why} cannot be stored")
            frame.saved = previous
            self._entries[id(x)] = self._count
        else:
            self._register(x)
        return frame

    def _open(self, frame: _Frame, out: list[Any], depth: int) -> None:
        """Attach a started container to its parent, out of line every DEF_DEPTH levels."""
        if depth % DEF_DEPTH:
            out.append(frame.node)
        else:
            out.append(["x", len(self.defs)])
            self.defs.append(frame.node)

    def _close(self, frame: _Frame) -> None:
        """Finish a container: chunk it, and number it now if immutable.

        An immutable container already numbered by the time it completes was met
        again inside itself (a cycle through a mutable) and encoded there in
        full; this outer copy is wrapped as ``["=", n, node]`` so the decoder
        walks it (it may define objects) but yields object ``n``.
        """
        node = frame.node
        if self._chunker is not None:
            self._chunker.container(node, frame.head)
        if not frame.post:
            return
        oid = id(frame.obj)
        if frame.saved is None:
            del self._entries[oid]
        else:
            self._entries[oid] = frame.saved
        seen = self._memo.get(oid)
        if seen is None:
            self._register(frame.obj)
        else:
            node[:] = ["=", seen, node[:]]

    # ---------------------------------------------------------- containers ---

    def _flat(self, x: Any, node: list[Any]) -> list[Any]:
        """A container of inline scalars only: its node is complete at once, no frame needed.

        Numbering it now is the same as when started or when complete, since
        nothing inside it gets a number. This is the common case (rows,
        points, small records) and several times faster than a frame.
        """
        self._charge(2 * len(node) + 8)
        self._register(x)
        if self._chunker is not None:
            self._chunker.container(node, 1 if node[0] != "o" else 2)
        return node

    def _list(self, x: list[Any]) -> object:
        if _all_inline(x):
            return self._flat(x, ["l", *x])
        return self._frame(x, ["l"], iter(x), size=len(x))

    def _tuple(self, x: tuple[Any, ...]) -> object:
        if _all_inline(x):
            return self._flat(x, ["t", *x])
        return self._frame(x, ["t"], iter(x), post=True, size=len(x))

    def _dict(self, x: dict[Any, Any]) -> _Frame:
        return self._frame(x, ["d"], chain.from_iterable(dict.items(x)), size=2 * len(x))

    def _set(self, x: set[Any]) -> _Frame:
        return self._frame(x, ["s"], iter(self._members(x)), size=len(x))

    def _frozenset(self, x: frozenset[Any]) -> _Frame:
        return self._frame(x, ["f"], iter(self._members(x)), post=True, size=len(x))

    def _ordered(self, x: collections.OrderedDict[Any, Any]) -> _Frame:
        return self._frame(x, ["od"], chain.from_iterable(collections.OrderedDict.items(x)), size=2 * len(x))

    def _counter(self, x: collections.Counter[Any]) -> _Frame:
        return self._frame(x, ["ctr"], chain.from_iterable(dict.items(x)), size=2 * len(x))

    def _defaultdict(self, x: collections.defaultdict[Any, Any]) -> _Frame:
        node = ["dd", self._factory(x.default_factory)]
        return self._frame(x, node, chain.from_iterable(dict.items(x)), size=2 * len(x))

    def _deque(self, x: collections.deque[Any]) -> _Frame:
        return self._frame(x, ["dq", x.maxlen], iter(x), size=len(x))

    def _factory(self, f: object) -> object:
        """A defaultdict's default_factory as data: a builtin's name, an own class, or None."""
        if f is None:
            return None
        name = _FACTORIES.get(id(f))
        if name is not None:
            return name
        if id(f) in self._own:
            return ["cls", self._layout(f).name]  # type: ignore[arg-type]
        why = "a defaultdict whose default_factory is a function or lambda cannot be stored"
        raise Reject(f"{why} (use a builtin like list or int)")

    def _long_str(self, x: str) -> object:
        self._charge(len(x) + 2)
        self._register(x)
        if self._chunker is not None and len(x) > self._chunker.chars:
            return self._chunker.text(x)
        return x

    def _bytes(self, x: bytes) -> object:
        self._charge(len(x) * 4 // 3 + 8)
        if len(x) < SHARE_MIN:
            return ["b", base64.b64encode(x).decode("ascii")]
        self._register(x)
        if self._chunker is not None and len(x) > self._chunker.chars:
            return self._chunker.data(x)
        return ["b", base64.b64encode(x).decode("ascii")]

    def _bytearray(self, x: bytearray) -> object:
        self._charge(len(x) * 4 // 3 + 8)
        self._register(x)
        if self._chunker is not None and len(x) > self._chunker.chars:
            return self._chunker.array(x)
        return ["ba", base64.b64encode(x).decode("ascii")]

    # ----------------------------------------------------------- instances ---

    def _layout(self, t: type) -> Layout:
        found = self._layouts.get(id(t))
        if found is None:
            found = layout_of(t, lambda c: id(c) in self._own)
            defs = current_defs()
            if defs is not None:  # superseded classes go by their reserved name; the classes used are noted
                name = defs.class_name(t)
                if name != found.name:
                    found = dataclasses.replace(found, name=name)
            self._layouts[id(t)] = found
        return found

    def _instance(self, x: Any, t: type) -> object:
        """An own-class instance as class name + fields (+ items for container subclasses)."""
        lay = self._layout(t)
        if lay.problem is not None:
            raise Reject(lay.problem)
        if lay.enum:
            return self._enum_member(x, lay)
        fields = self._fields(x, lay)
        pairs = chain.from_iterable(fields)
        if lay.base is None:
            node = ["o", lay.name, *pairs]
            if _all_inline(node[2:]):
                return self._flat(x, node)
            return self._frame(x, ["o", lay.name], iter(node[2:]), size=2 * len(fields))
        base: Any = lay.base  # list, dict, set, tuple or frozenset: called unbound, past any override
        kind = KIND_OF_BASE[base]
        if kind == "d":
            content: Iterator[Any] = chain.from_iterable(dict.items(x))
        elif kind in ("s", "f"):
            content = iter(self._members(base.__iter__(x)))
        else:
            content = base.__iter__(x)
        size = 2 * len(fields) + base.__len__(x) * (2 if kind == "d" else 1)
        return self._frame(x, ["O", lay.name, kind, len(fields)], chain(pairs, content), post=kind in ("t", "f"), size=size)

    @staticmethod
    def _fields(x: object, lay: Layout) -> list[tuple[str, Any]]:
        """(name, value) of every instance attribute: ``__dict__`` in order, then set slots in MRO order."""
        fields: list[tuple[str, Any]] = []
        if lay.dict_get is not None:
            for key, value in dict.items(lay.dict_get(x)):
                if type(key) is not str:
                    raise Reject(f"an instance of {lay.name} has a non-str attribute name")
                fields.append((key, value))
        for key, slot in lay.slots:
            try:
                fields.append((key, slot.__get__(x, lay.cls)))
            except AttributeError:
                continue  # an unset slot stays unset
        return fields

    @staticmethod
    def _enum_member(x: object, lay: Layout) -> list[object]:
        state = dict.get(lay.dict_get(x), "_name_") if lay.dict_get else None
        members = class_namespace(lay.cls).get("_member_map_", {})
        if type(state) is str and dict.get(members, state) is x:
            return ["e", lay.name, state]
        value = dict.get(lay.dict_get(x), "_value_") if lay.dict_get else None
        if type(value) is int:
            return ["e", lay.name, None, value]  # a combination of Flag members
        raise Reject(f"the {lay.name} member cannot be stored")

    # ------------------------------------------------------------ set order ---

    def _members(self, members: Any) -> list[Any]:
        """Set members in a canonical order, so equal sets encode alike whatever the hash seed."""
        items = list(members)
        kinds = {id(type(m)) for m in items}
        if len(kinds) == 1 and kinds <= {id(int), id(str), id(bytes)}:
            items.sort()
        elif kinds == {id(tuple)} and all(type(v) is int for m in items for v in m):
            items.sort()  # tuples of ints (grid cells, edges): plain order, no user code
        else:
            items.sort(key=self._sort_key)
        return items

    def _sort_key(self, x: Any, depth: int = 0) -> tuple[Any, ...]:
        """A totally ordered key that runs no user code; complex members use their own encoding."""
        t = type(x)
        if t is int:
            return (0, x)
        if t is str:
            return (1, x)
        if t is float:
            return (2, float_text(x))
        if t is bool or x is None:
            return (3, repr(x))
        if t is bytes:
            return (4, x)
        if t is tuple and depth < 8:
            return (5, tuple(chain.from_iterable([self._sort_key(m, depth + 1) for m in x])))
        if t is frozenset and depth < 8:
            return (6, tuple(sorted(self._sort_key(m, depth + 1) for m in x)))
        if self._nesting >= 2:
            return (8, type_label(t))  # a set inside a set member's key: stop, or cycles would recurse
        try:
            alone = Encoder(self._own, SORT_KEY_BUDGET, None, self._layouts, self._nesting + 1)
            node = alone.run(x)
            return (7, dump([node, alone.defs])[0])
        except Reject:
            return (8, type_label(t))  # ties keep iteration order; documented in the codec

    # ---------------------------------------------------------------- paths ---

    def _path(self) -> str:
        """Where in the value the encoder is, e.g. ``[3].items['a']``, for refusal messages."""
        frames = self._stack[1:]
        last = len(frames) - 1
        return "".join(path_step(f.node, f.head, len(f.node) - f.head - (d != last)) for d, f in enumerate(frames))


def _all_inline(items: Any) -> bool:
    """True when the walk would write every item as a plain JSON scalar, numbering nothing."""
    for v in items:
        t = type(v)
        if t is int:
            if not -BIG_INT < v < BIG_INT:
                return False
        elif t is str:
            if len(v) >= SHARE_MIN:
                return False
        elif t is float:
            if v - v != 0.0:
                return False
        elif not (v is None or t is bool):
            return False
    return True


_STARTERS: dict[int, Callable[[Encoder, Any], Any]] = {
    id(list): Encoder._list,
    id(tuple): Encoder._tuple,
    id(dict): Encoder._dict,
    id(set): Encoder._set,
    id(frozenset): Encoder._frozenset,
    id(str): Encoder._long_str,
    id(bytes): Encoder._bytes,
    id(bytearray): Encoder._bytearray,
    id(collections.OrderedDict): Encoder._ordered,
    id(collections.Counter): Encoder._counter,
    id(collections.defaultdict): Encoder._defaultdict,
    id(collections.deque): Encoder._deque,
}
