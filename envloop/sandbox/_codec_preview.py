"""One-line, length-capped previews of values, built from encoded nodes.

A preview is rendered from the codec's nodes rather than with ``repr()``, so a
conversation's own ``__repr__`` never runs and a huge value costs only what
fits in the cap. Library leaf types (Decimal, dates, ...) are rebuilt and
shown with their own library ``repr``. Shared or cyclic references show as ``…``.
"""

from __future__ import annotations

import base64
import json
import types
from collections.abc import Callable, Iterator, Sequence
from itertools import chain, islice
from typing import Any

from envloop.sandbox._codec_common import LEAF_DECODERS, class_mro, class_qualname
from envloop.sandbox._codec_defs import DEF_TAGS, preview_def, shown_name

_ELLIPSIS = "…"
_OPEN_CLOSE = {
    "l": ("[", "]"),
    "t": ("(", ")"),
    "s": ("{", "}"),
    "f": ("frozenset({", "})"),
    "d": ("{", "}"),
    "od": ("OrderedDict({", "})"),
    "ctr": ("Counter({", "})"),
    "dq": ("deque([", "])"),
    "dd": ("{", "}"),
}


class _Full(Exception):
    """The preview reached its cap."""


class _Writer:
    def __init__(self, limit: int, defs: list[Any], fetch: Callable[[str], str] | None,
                 leaves: Sequence[Any] = ()) -> None:
        self.parts: list[str] = []
        self.room = limit
        self.defs = defs
        self.fetch = fetch
        self.leaves = leaves

    def put(self, text: str) -> None:
        self.parts.append(text)
        self.room -= len(text)
        if self.room < 0:
            raise _Full

    def children(self, node: list[Any], head: int) -> Iterator[Any]:
        if len(node) == head + 1 and type(node[head]) is list and node[head][:1] == ["@"]:
            if self.fetch is None:
                return iter(["…"])
            return chain.from_iterable(json.loads(self.fetch(d)) for d in node[head][1:])
        return islice(node, head, None)


def render_node(
    node: object, limit: int = 200, defs: list[Any] | None = None, fetch: Callable[[str], str] | None = None,
    leaves: Sequence[Any] = (),
) -> str:
    """A Python-like one-line rendering of an encoded node, at most ``limit`` characters."""
    writer = _Writer(limit, defs or [], fetch, leaves)
    try:
        _render(writer, node, 0)
    except _Full:
        return "".join(writer.parts)[: max(limit - 1, 0)] + _ELLIPSIS
    except Exception:  # a malformed node must not break a listing; show what was rendered
        return "".join(writer.parts)[: max(limit - 1, 0)] + _ELLIPSIS
    return "".join(writer.parts)


def _render(w: _Writer, node: object, depth: int) -> None:
    t = type(node)
    if t is str:
        w.put(repr(node[: w.room + 2]))  # type: ignore[index]
    elif t is not list:
        w.put(repr(node))
    elif depth > 12:
        w.put(_ELLIPSIS)
    else:
        _render_tagged(w, node, depth)  # type: ignore[arg-type]


def _render_tagged(w: _Writer, node: list[Any], depth: int) -> None:
    tag = node[0]
    if tag == "dq" or (tag in _OPEN_CLOSE and tag != "dd"):
        _render_items(w, node, 2 if tag == "dq" else 1, tag, depth)
    elif tag == "dd":
        factory = node[1] if type(node[1]) is str else node[1][1] if type(node[1]) is list else None
        w.put(f"defaultdict({factory}, ")
        _render_items(w, node, 2, tag, depth)
        w.put(")")
    elif tag in ("o", "O"):
        _render_object(w, node, depth)
    elif tag == "e":
        cls = shown_name(node[1])
        w.put(f"{cls}.{node[2]}" if node[2] is not None else f"{cls}({node[3]})")
    elif tag == "x":
        _render(w, w.defs[node[1]], depth)
    elif tag == "=":
        _render(w, node[2], depth)
    elif tag == "r":
        w.put(_ELLIPSIS)
    elif tag in ("b", "ba"):
        data = base64.b64decode(node[1][: (w.room + 8) * 4 // 3 // 4 * 4 + 4])
        w.put(repr(data) if tag == "b" else f"bytearray({data!r})")
    elif tag in ("S$", "b$", "ba$"):
        piece = w.leaves[node[1]][: w.room + 2]
        w.put(repr(piece) if tag == "S$" else repr(bytes(piece)) if tag == "b$" else f"bytearray({bytes(piece)!r})")
    elif tag in ("S@", "b@"):
        first = json.loads(w.fetch(node[1])) if w.fetch else ""
        _render(w, first if tag == "S@" else ["b", first], depth)
    elif tag == "wr" and node[1] in ("ex", "sl") and len(node) > 3:  # ``ValueError('bad', 3)``, ``slice(2, None)``
        parts = w.children(node, 2)
        if node[1] == "ex":
            cls, args = islice(parts, 2)
            w.put(shown_name(cls[1]) if type(cls) is list and cls[:1] in (["bi"], ["cref"]) else "<exception>")
            parts = w.children(args, 1) if type(args) is list and args[:1] == ["t"] else iter(())
        else:
            w.put("slice")
        w.put("(")
        _render_body(w, parts, False, depth)
        w.put(")")
    elif tag in DEF_TAGS:
        w.put(preview_def(node))
    elif tag == "int":
        value = int(node[1], 16)
        w.put(str(value) if value.bit_length() < 1000 else f"<int of {value.bit_length()} bits>")
    else:
        w.put(repr(LEAF_DECODERS[tag](node)))


def _render_items(w: _Writer, node: list[Any], head: int, tag: str, depth: int) -> None:
    if tag == "s" and len(node) == head:
        w.put("set()")
        return
    _render_seq(w, w.children(node, head), tag, depth)


def _render_seq(w: _Writer, children: Iterator[Any], tag: str, depth: int) -> None:
    opening, closing = _OPEN_CLOSE[tag]
    w.put(opening)
    count = _render_body(w, children, tag in ("d", "od", "ctr", "dd"), depth)
    w.put("," + closing if tag == "t" and count == 1 else closing)


def _render_body(w: _Writer, children: Iterator[Any], pairs: bool, depth: int) -> int:
    count = 0
    for child in children:
        if count:
            w.put(", ")
        _render(w, child, depth + 1)
        if pairs:
            w.put(": ")
            _render(w, next(children), depth + 1)
        count += 1
    return count


def _render_object(w: _Writer, node: list[Any], depth: int) -> None:
    """``Point(x=1, y=2)``; a container subclass shows its items first: ``Stack([1, 2], name='s')``."""
    w.put(f"{shown_name(node[1])}(")
    if node[0] == "o":
        children = w.children(node, 2)
        fields = children
    else:
        children = w.children(node, 4)
        fields = iter(list(islice(children, 2 * node[3])))
        _render_seq(w, children, "s" if node[2] == "f" else node[2], depth + 1)
    count = 0 if node[0] == "o" else 1
    for name in fields:
        w.put(f", {name}=" if count else f"{name}=")
        _render(w, next(fields), depth + 1)
        count += 1
    w.put(")")


def path_step(node: list[Any], head: int, i: int) -> str:
    """The path step to child ``i`` of a container node."""
    tag = node[0]
    if tag == "O":
        fields = 2 * node[3]
        if i < fields:
            return _pair_step(node, head, i, attr=True)
        tag, head, i = node[2], head + fields, i - fields
    elif tag == "o":
        return _pair_step(node, head, i, attr=True)
    if tag in ("d", "od", "ctr", "dd"):
        return _pair_step(node, head, i, attr=False)
    if tag in ("s", "f"):
        return " (a set member)"
    if tag == "fn":  # children: new cells' contents, then defaults, kwdefaults, doc, attributes
        cells = sum(1 for entry in node[7] if entry == 0 and type(entry) is int)
        parts = (" (a closure variable)", ".__defaults__", ".__kwdefaults__", ".__doc__", ".__dict__",
                 ".__annotations__")
        return parts[0] if i < cells else parts[min(i - cells + 1, 5)]
    return f"[{i}]"


def _pair_step(node: list[Any], start: int, i: int, attr: bool) -> str:
    if i % 2 == 0:
        return " (a key)"
    key = node[start + i - 1]
    if attr:
        return f".{key}"
    return f"[{render_node(key, limit=40)}]"


def summary(x: object) -> str:
    """A safe preview of a value the codec refused: its kind and name, never its repr."""
    t = type(x)
    if any(c is type for c in class_mro(t)):
        return f"<class {class_qualname(x)}>"
    if t is types.FunctionType or t is types.BuiltinFunctionType or t is types.ModuleType:
        found = getattr(x, "__qualname__", None) or getattr(x, "__name__", None)
        kind = "module" if t is types.ModuleType else "function"
        return f"<{kind} {found}>" if type(found) is str else f"<{kind}>"
    if t is list or t is tuple or t is dict or t is set or t is frozenset:
        return f"<{t.__name__} of {len(x)} items>"  # type: ignore[arg-type]
    return f"<{class_qualname(t)} object>"
