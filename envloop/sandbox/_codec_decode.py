"""The value codec's decoder: rebuilds a value from its nodes, in the worker.

It walks nodes in the encoder's order with an explicit stack, numbering
objects by the same rule (mutable containers when started, immutable ones when
complete, long str/bytes when met), so ``["r", n]`` finds the right object and
cycles close on the half-built mutable shells. Conversation classes are rebuilt
with their builtin base's ``__new__`` and their fields set through the
instance ``__dict__`` and slot descriptors: no ``__init__``, ``__new__`` or
``__setattr__`` of the class runs. Building a dict or set still hashes its
keys, which may call a class's own ``__hash__``/``__eq__``; that is unavoidable.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain, islice
from typing import Any, cast

from envloop.sandbox._codec_common import (
    FORMAT_VERSION,
    KIND_OF_BASE,
    LEAF_DECODERS,
    SHARE_MIN,
    DecodeError,
    Layout,
    class_namespace,
    layout_of,
)
from envloop.sandbox._codec_defs import (
    FN_HEAD,
    HIDDEN_CLASS,
    finish_function,
    finish_method,
    finish_wrapped,
    shown_name,
    start_def,
)
from envloop.sandbox._codec_defs import current as current_defs

_FACTORIES: dict[str, Callable[[], Any]] = {
    f.__name__: f
    for f in (list, dict, set, int, float, str, tuple, frozenset, bytes, bool, complex)
    + (collections.Counter, collections.OrderedDict, collections.deque)
}
_DICT_TAGS = ("d", "od", "ctr", "dd")
_BASE_OF_KIND = {kind: base for base, kind in KIND_OF_BASE.items()}


class _Frame:
    """One container being rebuilt: its node, remaining children, decoded children, and its object."""

    __slots__ = ("tag", "node", "it", "items", "obj", "override")

    def __init__(self, tag: str, node: list[Any], it: Iterator[Any], obj: object = None) -> None:
        self.tag = tag
        self.node = node
        self.it = it
        self.items: list[Any] = []
        self.obj = obj
        self.override: int | None = None


class Decoder:
    """Rebuilds one stored value; see :func:`envloop.sandbox.codec.decode`."""

    def __init__(self, classes: Mapping[str, type], fetch: Callable[[str], str] | None,
                 leaves: Sequence[object] = ()) -> None:
        self._classes = classes
        self._own = {id(c) for c in classes.values()}
        self._fetch = fetch
        self._leaves = leaves  # long str/bytes carried outside the text (codec.encode_outside)
        self._memo: list[Any] = []
        self._defs: list[Any] = []
        self._layouts: dict[int, Layout] = {}

    def run(self, envelope: object) -> object:
        if type(envelope) is not dict or envelope.get("v") != FORMAT_VERSION or "root" not in envelope:
            raise DecodeError("not a stored value of a format this envloop can read (expected version 1)")
        self._defs = list(self._children(envelope.get("defs", []), 0))
        top = _Frame("", [], iter((envelope["root"],)))
        stack = [top]
        memo = self._memo
        while stack:
            frame = stack[-1]
            items = frame.items
            for child in frame.it:
                t = type(child)
                if t is list:
                    value = self._start(child)
                    if type(value) is _Frame:
                        stack.append(value)
                        break
                    items.append(value)
                else:
                    if t is str and len(child) >= SHARE_MIN:
                        memo.append(child)
                    items.append(child)
            else:
                stack.pop()
                if stack:
                    stack[-1].items.append(self._finish(frame))
        return top.items[0]

    def _children(self, node: list[Any], head: int) -> Iterator[Any]:
        """The child nodes after ``head``, reading chunks when the only child is ``["@", ...]``."""
        if len(node) == head + 1:
            only = node[head]
            if type(only) is list and only and only[0] == "@":
                return chain.from_iterable(self._chunk(d) for d in only[1:])
        return islice(node, head, None)

    def _chunk(self, digest: str) -> Any:
        if self._fetch is None:
            raise DecodeError("this value is stored in chunks; pass chunks= to decode it")
        try:
            text = self._fetch(digest)
        except KeyError:
            raise DecodeError(f"chunk {digest[:12]} of this value is missing") from None
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != digest:
            raise DecodeError(f"chunk {digest[:12]} of this value is corrupt")
        return json.loads(text)

    def _start(self, node: list[Any]) -> Any:
        """A finished value for a leaf or reference, or a new frame for a container."""
        tag = node[0]
        start = _STARTERS.get(tag)
        if start is not None:
            return start(self, node)
        leaf = LEAF_DECODERS.get(tag)
        if leaf is None:
            raise DecodeError(f"unknown node {str(tag)[:20]!r} in a stored value")
        return leaf(node)

    def _mutable(self, node: list[Any], obj: object, head: int = 1) -> _Frame:
        self._memo.append(obj)
        return _Frame(node[0], node, self._children(node, head), obj)

    def _immutable(self, node: list[Any], head: int = 1) -> _Frame:
        return _Frame(node[0], node, self._children(node, head))

    def _ref(self, node: list[Any]) -> object:
        return self._memo[node[1]]

    def _out_of_line(self, node: list[Any]) -> object:
        return self._start(self._defs[node[1]])

    def _same_as(self, node: list[Any]) -> _Frame:
        frame = self._start(node[2])
        frame.override = node[1]
        return cast(_Frame, frame)

    def _def(self, node: list[Any]) -> object:
        """A function (a frame: its cells, defaults and attributes follow) or a class/builtin reference."""
        value = start_def(self, node)
        return _Frame("fn", node, self._children(node, FN_HEAD), value) if node[0] == "fn" else value

    def _register(self, value: object) -> object:
        self._memo.append(value)
        return value

    def _bytes(self, node: list[Any]) -> bytes:
        value = base64.b64decode(node[1])
        return self._register(value) if len(value) >= SHARE_MIN else value  # type: ignore[return-value]

    def _chunked_bytes(self, node: list[Any]) -> object:
        return self._register(b"".join(base64.b64decode(self._chunk(d)) for d in node[1:]))

    def _chunked_text(self, node: list[Any]) -> object:
        return self._register("".join(self._chunk(d) for d in node[1:]))

    def _leaf(self, node: list[Any], kind: type) -> Any:
        """The ``i``-th leaf carried outside the text, for ``["S$"|"b$"|"ba$", i]``; checked, not trusted."""
        i = node[1] if len(node) == 2 else None
        if type(i) is not int or not 0 <= i < len(self._leaves) or type(self._leaves[i]) is not kind:
            raise DecodeError(f"the stored value refers to a missing or mistyped piece ({str(node)[:40]})")
        return self._leaves[i]

    # ----------------------------------------------------------- instances ---

    def _class(self, name: str) -> type:
        cls = self._classes.get(name) if type(name) is str else None
        if not isinstance(cls, type):
            if type(name) is str and name.startswith(HIDDEN_CLASS):
                raise DecodeError(f"the earlier class {shown_name(name)} it refers to (redefined since) could not be "
                                  "rebuilt, so its instance cannot be restored")
            raise DecodeError(f"class {name!r} is not defined in this conversation, so its instance cannot be restored")
        defs = current_defs()
        if defs is not None and defs.used is not None:
            defs.used.add(id(cls))
        return cls

    def _layout(self, cls: type) -> Layout:
        found = self._layouts.get(id(cls))
        if found is None:
            found = self._layouts[id(cls)] = layout_of(cls, lambda c: id(c) in self._own)
        if found.problem is not None:
            raise DecodeError(found.problem)
        return found

    def _object(self, node: list[Any]) -> object:
        lay = self._layout(self._class(node[1]))
        if lay.base is not None:
            raise DecodeError(f"class {lay.name} now extends {lay.base.__name__}; its stored instance does not")
        if _all_inline(node, 2):
            obj = self._register(object.__new__(lay.cls))
            self._set_fields(obj, node[2:])
            return obj
        return self._mutable(node, object.__new__(lay.cls), head=2)

    def _list(self, node: list[Any]) -> object:
        return self._register(node[1:]) if _all_inline(node, 1) else self._mutable(node, [])

    def _tuple(self, node: list[Any]) -> object:
        return self._register(tuple(node[1:])) if _all_inline(node, 1) else self._immutable(node)

    def _container_object(self, node: list[Any]) -> _Frame:
        lay = self._layout(self._class(node[1]))
        if lay.base is not _BASE_OF_KIND.get(node[2]):
            raise DecodeError(f"class {lay.name} changed its builtin base since its instance was stored")
        if node[2] in ("t", "f"):
            return self._immutable(node, head=4)
        return self._mutable(node, lay.base.__new__(lay.cls), head=4)  # type: ignore[call-arg]

    def _enum(self, node: list[Any]) -> object:
        cls = self._class(node[1])
        if node[2] is None:
            return cls(node[3])  # a combination of Flag members
        member = class_namespace(cls).get("_member_map_", {}).get(node[2])
        if member is None:
            raise DecodeError(f"{node[1]} has no member {node[2]!r} any more")
        return member

    def _set_fields(self, obj: object, pairs: list[Any]) -> None:
        """Restore fields without the class's ``__setattr__`` (so frozen dataclasses work)."""
        lay = self._layout(type(obj))
        slots = dict(lay.slots)
        attrs = lay.dict_get(obj) if lay.dict_get is not None else None
        for i in range(0, len(pairs), 2):
            name, value = pairs[i], pairs[i + 1]
            slot = slots.get(name)
            if slot is not None:
                slot.__set__(obj, value)
            elif attrs is not None:
                attrs[name] = value
            else:
                raise DecodeError(f"class {lay.name} has no field {name!r} to restore")

    # -------------------------------------------------------------- finish ---

    def _finish(self, frame: _Frame) -> object:
        """Fill a mutable shell, or build an immutable value and number it."""
        tag, items, obj = frame.tag, frame.items, frame.obj
        if tag in ("l", "dq"):
            obj.extend(items)  # type: ignore[attr-defined]
        elif tag in _DICT_TAGS:
            pairs = iter(items)
            update = collections.OrderedDict.update if tag == "od" else dict.update
            update(obj, zip(pairs, pairs, strict=False))  # type: ignore[call-overload]
        elif tag == "s":
            obj.update(items)  # type: ignore[attr-defined]
        elif tag == "o":
            self._set_fields(obj, items)
        elif tag == "O":
            obj = self._finish_container_object(frame)
        elif tag == "fn":
            finish_function(obj, frame.node, items)  # type: ignore[arg-type]
        elif tag in ("bm", "bbm"):
            obj = finish_method(frame.node, items)
        elif tag == "wr":
            obj = finish_wrapped(frame.node, items)
        elif tag == "t":
            obj = tuple(items)
        elif tag == "f":
            obj = frozenset(items)
        if frame.override is not None:
            return self._memo[frame.override]
        if tag in ("t", "f", "bm", "bbm", "wr") or (tag == "O" and frame.node[2] in ("t", "f")):
            self._memo.append(obj)
        return obj

    def _finish_container_object(self, frame: _Frame) -> object:
        node, items, obj = frame.node, frame.items, frame.obj
        fields, content = 2 * node[3], items[2 * node[3] :]
        kind = node[2]
        if kind in ("t", "f"):
            cls = self._class(node[1])
            obj = _BASE_OF_KIND[kind].__new__(cls, content)  # type: ignore[call-arg, arg-type]
        elif kind == "l":
            list.extend(obj, content)  # type: ignore[arg-type]
        elif kind == "d":
            pairs = iter(content)
            dict.update(obj, zip(pairs, pairs, strict=False))  # type: ignore[call-overload]
        else:
            set.update(obj, content)  # type: ignore[arg-type]
        self._set_fields(obj, items[:fields])
        return obj


def _all_inline(node: list[Any], head: int) -> bool:
    """No child is a node or a numbered string: the container can be built at once."""
    for child in islice(node, head, None):
        t = type(child)
        if t is list or (t is str and len(child) >= SHARE_MIN):
            return False
    return True


def _factory(node: object, decoder: Decoder) -> Callable[[], Any] | None:
    if node is None:
        return None
    if type(node) is list:
        return decoder._class(node[1])
    found = _FACTORIES.get(node)  # type: ignore[call-overload]
    if found is None:
        raise DecodeError(f"unknown defaultdict factory {node!r}")
    return cast("Callable[[], Any]", found)


_STARTERS: dict[str, Callable[[Decoder, list[Any]], Any]] = {
    "r": Decoder._ref,
    "x": Decoder._out_of_line,
    "=": Decoder._same_as,
    "l": Decoder._list,
    "t": Decoder._tuple,
    "d": lambda d, n: d._mutable(n, {}),
    "s": lambda d, n: d._mutable(n, set()),
    "f": lambda d, n: d._immutable(n),
    "od": lambda d, n: d._mutable(n, collections.OrderedDict()),
    "ctr": lambda d, n: d._mutable(n, collections.Counter()),
    "dd": lambda d, n: d._mutable(n, collections.defaultdict(_factory(n[1], d)), head=2),
    "dq": lambda d, n: d._mutable(n, collections.deque(maxlen=n[1]), head=2),
    "o": Decoder._object,
    "O": Decoder._container_object,
    "e": Decoder._enum,
    "b": Decoder._bytes,
    "b@": Decoder._chunked_bytes,
    "S@": Decoder._chunked_text,
    "S$": lambda d, n: d._register(d._leaf(n, str)),
    "b$": lambda d, n: d._register(d._leaf(n, bytes)),
    "ba$": lambda d, n: d._register(d._leaf(n, bytearray)),
    "ba": lambda d, n: d._register(bytearray(base64.b64decode(n[1]))),
    "fn": Decoder._def,
    "bi": Decoder._def,
    "cref": Decoder._def,
    "mref": Decoder._def,
    "nref": Decoder._def,
    "bm": lambda d, n: d._immutable(n),
    "bbm": lambda d, n: d._immutable(n, head=2),
    "wr": lambda d, n: d._immutable(n, head=2),
}
