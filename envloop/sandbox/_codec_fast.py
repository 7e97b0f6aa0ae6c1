"""The codec's C-speed path: plain data as a stream of msgpack operations.

Data work makes a few shapes again and again: lists, tuples and dicts of
numbers, strings, bytes and None, rows of them (a list of tuples, of lists or
of small dicts), and long strings or bytes.  For those the Python walker of
:mod:`envloop.sandbox._codec_encode` costs microseconds per item; here the
type check is one ``set(map(type, ...))`` per container and the packing is
msgpack's C code, so the cost per item is close to ``pickle``'s.  msgpack is
data only: unpacking it can create nothing but the scalar and container types
above, so nothing stored can make the decoder run code.

A value is written as a sequence of msgpack arrays ``[op, payload]`` (the ops
are below), cut by :class:`ChunkWriter` into fixed-size chunks.  Big containers
are written as ``BEGIN``, slices, ``END``, and long strings as pieces, so no
single packed object -- and no buffer on either side -- grows with the value:
memory stays a small multiple of the slice and chunk sizes.  Slices are cut
by item counts from the start, so appending to a big list changes only its
last slice and the chunks after it.

Anything else -- the conversation's own class instances, sets, dates, big
ints, strings with lone surrogates, a container reached twice (shared
references and cycles) -- raises :class:`Fallback`, and the whole value goes
through the Python walker, wrapped as ``WALKER`` text pieces in the same stream;
when the walker left long strings and bytes out of its text
(:func:`envloop.sandbox.codec.encode_outside`), ``OUTSIDE`` carries them first,
in pieces, then the text, so neither side holds the bulk twice.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from itertools import chain, compress, islice
from typing import Any

import msgpack  # type: ignore[import-untyped]  # no stubs; used only through these two modules

from envloop.sandbox._codec_survey import Depth, Survey

__all__ = ["Fallback", "FastDecoder", "FastEncoder", "plain_preview"]

# Operations: each is one msgpack array [op, payload?].
VALUE, TUPLE, ROWS, BEGIN, END, EXTEND, EXTEND_ROWS, UPDATE, PIECE = range(9)
# BEGIN kinds.
K_LIST, K_TUPLE, K_DICT, K_STR, K_BYTES, K_WALKER, K_OUTSIDE, K_BYTEARRAY = range(8)

SCALARS: frozenset[type] = frozenset({int, float, str, bytes, bool, type(None)})
_TEXT = frozenset({str, bytes})
_CONTAINERS = frozenset({list, dict})
_PLAIN = SCALARS | _CONTAINERS
_DICT, _LIST = frozenset({dict}), frozenset({list})
_ROWS = frozenset({tuple, list})
ROW_ITEMS = 4096  # containers packed in bulk hold at most this many items
SLICE_BYTES = 1 << 18  # target packed size of one slice
PIECE_CHARS = 1 << 18  # long str/bytes are written in pieces of this many characters
ROW_TEXT = 4096  # rows packed in bulk may hold strings up to this long


class Fallback(Exception):
    """The value is not plain data (or shares a container): use the Python walker."""


def _packer() -> Callable[[object], bytes]:
    return msgpack.Packer(use_bin_type=True, autoreset=True).pack  # type: ignore[no-any-return]


class FastEncoder:
    """Writes one plain value as msgpack operations to ``write`` (a :class:`ChunkWriter`)."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self._pack = _packer()
        self._seen: set[int] = set()

    def run(self, value: object, plan: Survey | None = None) -> None:
        """Encode ``value``; raises :class:`Fallback` when it is not plain data.

        ``plan`` is the value's :func:`~envloop.sandbox._codec_survey.survey`:
        with it, the common shapes are packed without walking the value again.
        """
        try:
            if plan is None or not self._planned(value, plan):
                self._emit(value)
        except (OverflowError, UnicodeEncodeError, RecursionError, ValueError, TypeError):
            raise Fallback from None

    def _planned(self, x: Any, plan: Survey) -> bool:
        """Pack ``x`` as the checks of :meth:`_emit` would, from its survey; False: not one of these shapes."""
        depths = plan.depths
        items = depths[0]
        if type(x) is dict:
            if _fits(items, SCALARS, ROW_TEXT) or _plain_depths(depths):
                self._dict_slices(x)
                return True
            return False
        if items.types <= SCALARS:
            if items.types & _TEXT and items.longest > PIECE_CHARS:
                return False  # long strings: written in pieces, item by item
            self._flat(x, type(x) is tuple, rows=False)
            return True
        if type(x) is list and len(items.types) == 1 and items.types <= _ROWS and _fits(depths[1], SCALARS, ROW_TEXT):
            self._flat(x, False, rows=tuple in items.types)
            return True
        if _plain_depths(depths):
            self._flat(x, type(x) is tuple, rows=False)
            return True
        return False

    def _op(self, *parts: object) -> None:
        self._write(self._pack(parts))

    def _emit(self, x: object) -> None:
        t = type(x)
        if t is str or t is bytes:
            if len(x) > PIECE_CHARS:  # type: ignore[arg-type]
                self.pieces(x, K_STR if t is str else K_BYTES)  # type: ignore[arg-type]
            else:
                self._op(VALUE, x)
        elif t in SCALARS:
            self._op(VALUE, x)
        elif t is list or t is tuple:
            self._sequence(x, t)  # type: ignore[arg-type]
        elif t is dict:
            self._dict(x)  # type: ignore[arg-type]
        else:
            raise Fallback

    def outside(self, leaves: list[str | bytes | bytearray], text: str) -> None:
        """The walker's ``text`` after the long str and bytes it left out: BEGIN OUTSIDE, each leaf, the text, END."""
        self._op(BEGIN, K_OUTSIDE)
        for leaf in [*leaves, text]:
            if type(leaf) is bytearray:  # rebuilt in place, as a bytearray (no copy at the end)
                self.pieces(leaf, K_BYTEARRAY)
            elif len(leaf) > PIECE_CHARS:
                self.pieces(leaf, K_STR if type(leaf) is str else K_BYTES)
            else:
                self._op(VALUE, leaf)
        self._op(END)

    def pieces(self, x: str | bytes | bytearray, kind: int) -> None:
        """A long str or bytes (or the walker's text) as BEGIN, pieces, END."""
        self._op(BEGIN, kind)
        for i in range(0, len(x), PIECE_CHARS):
            self._op(PIECE, x[i : i + PIECE_CHARS])
        self._op(END)

    def _enter(self, items: Iterable[object], count: int) -> None:
        """Number containers by id: one met twice (shared or cyclic) is the walker's job."""
        before = len(self._seen)
        self._seen.update(map(id, items))
        if len(self._seen) != before + count:
            raise Fallback

    def _sequence(self, x: list[Any] | tuple[Any, ...], t: type) -> None:
        self._enter((x,), 1)
        types = set(map(type, x))
        if types <= SCALARS:
            if types & _TEXT and _longest(x) > PIECE_CHARS:
                return self._generic(x, K_LIST if t is list else K_TUPLE)
            return self._flat(x, t is tuple, rows=False)
        if t is list and len(types) == 1 and (tuple in types or list in types):
            inner = set(map(type, chain.from_iterable(x)))
            if inner <= SCALARS and (not inner & _TEXT or _longest(chain.from_iterable(x)) <= ROW_TEXT):
                self._enter(x, len(x))
                return self._flat(x, False, rows=tuple in types)
        if self._plain(x):  # records, nested lists and dicts of scalars: msgpack packs whole slices
            return self._flat(x, t is tuple, rows=False)
        self._generic(x, K_LIST if t is list else K_TUPLE)

    def _plain(self, children: Iterable[Any]) -> bool:
        """Whether ``children`` are scalars or small lists and dicts of them, nested, none met twice.

        Checked level by level at C speed (``set(map(type, ...))``, ``compress``),
        so the cost is per element in C and per nesting level in Python. On
        success every container below is numbered in ``_seen``; on failure
        nothing is, and the generic path takes over (sharing raises :class:`Fallback`).
        """
        level = list(children)
        added: list[list[Any]] = []
        while True:
            types = set(map(type, level))
            ok = types <= _PLAIN and (not types & _TEXT or _longest(level) <= ROW_TEXT)
            boxes = list(compress(level, map(_CONTAINERS.__contains__, map(type, level)))) if ok and types & _CONTAINERS \
                else []
            if ok and boxes:
                before = len(self._seen)
                self._seen.update(map(id, boxes))
                if len(self._seen) != before + len(boxes):
                    raise Fallback  # a container met twice: shared or cyclic, the walker keeps that
                added.append(boxes)
                ok = max(map(len, boxes)) <= ROW_ITEMS
            if ok and boxes:
                dicts = list(compress(boxes, map(_DICT.__contains__, map(type, boxes))))
                lists = compress(boxes, map(_LIST.__contains__, map(type, boxes)))
                ok = set(map(type, chain.from_iterable(dicts))) <= SCALARS
                level = list(chain(chain.from_iterable(lists), chain.from_iterable(dicts),
                                   chain.from_iterable(map(dict.values, dicts))))
            if not ok:
                for boxes in added:
                    self._seen.difference_update(map(id, boxes))
                return False
            if not boxes:
                return True

    def _generic(self, x: Iterable[Any], kind: int) -> None:
        self._op(BEGIN, kind)
        for item in x:
            self._emit(item)
        self._op(END)

    def _flat(self, x: list[Any] | tuple[Any, ...], is_tuple: bool, rows: bool) -> None:
        """A sequence whose items (or rows' items) are scalars: packed in slices by msgpack."""
        n = len(x)
        step = _step(self._pack(x[:64]), min(n, 64))
        if n <= step:
            self._op(ROWS if rows else TUPLE if is_tuple else VALUE, x if type(x) is list else list(x))
            return
        self._op(BEGIN, K_TUPLE if is_tuple else K_LIST)
        op = EXTEND_ROWS if rows else EXTEND
        start = 0
        if step > 1:
            step, start = self._first_slice(x, op, step)
        while start < n:
            part = x[start : start + step]
            packed = self._pack((op, part))
            if len(packed) > 4 * SLICE_BYTES and step > 1:  # wider rows than the sample: halve
                step //= 2
                continue
            self._write(packed)
            start += len(part)
        self._op(END)

    def _first_slice(self, x: list[Any] | tuple[Any, ...], op: int, step: int) -> tuple[int, int]:
        """The loop of :meth:`_flat` on its first slice, packed as two halves: (step, next start).

        When the sample underestimated the items (ints growing from 0), the
        loop packed the whole first slice, found it too wide and packed half
        of it again; here the halves are the next slices, and when the whole
        fits it is joined from them, byte for byte what packing it gives.
        """
        half = step // 2
        a, b = self._pack((op, x[:half])), self._pack((op, x[half:step]))
        a_head, b_head, head = _extend_head(op, half), _extend_head(op, step - half), _extend_head(op, step)
        if len(a) + len(b) - len(a_head) - len(b_head) + len(head) <= 4 * SLICE_BYTES:
            self._write(b"".join((head, memoryview(a)[len(a_head):], memoryview(b)[len(b_head):])))
            return step, step
        if len(a) > 4 * SLICE_BYTES and half > 1:
            return half, 0  # narrower still: the loop halves again
        self._write(a)
        if step - half != half or (len(b) > 4 * SLICE_BYTES and half > 1):
            return half, half
        self._write(b)
        return half, step

    def _dict(self, x: dict[Any, Any]) -> None:
        self._enter((x,), 1)
        keys, values = set(map(type, x)), set(map(type, x.values()))
        both = keys | values
        flat = both <= SCALARS and (not both & _TEXT or _longest(chain(x, x.values())) <= ROW_TEXT)
        if not flat and not (keys <= SCALARS and self._plain(chain(x, x.values()))):
            if not keys <= SCALARS | {tuple}:
                raise Fallback  # keys the generic path cannot write (frozensets, own objects)
            self._op(BEGIN, K_DICT)
            for k, v in x.items():
                self._emit(k)
                self._emit(v)
            self._op(END)
            return
        self._dict_slices(x)

    def _dict_slices(self, x: dict[Any, Any]) -> None:
        """A dict of plain data: one value, or UPDATE slices of about SLICE_BYTES packed."""
        n = len(x)
        step = _step(self._pack(dict(islice(x.items(), 64))), min(n, 64))
        if n <= step:
            self._op(VALUE, x)
            return
        self._op(BEGIN, K_DICT)
        items = iter(x.items())
        for _ in range(0, n, step):
            self._op(UPDATE, dict(islice(items, step)))
        self._op(END)


def _fits(depth: Depth, types: frozenset[type], text: int) -> bool:
    """Whether the items at ``depth`` are all of ``types``, with no str or bytes longer than ``text``."""
    return depth.types <= types and (not depth.types & _TEXT or depth.longest <= text)


def _plain_depths(depths: list[Depth]) -> bool:
    """What :meth:`FastEncoder._plain` checks: scalars, lists and dicts at every depth, small and short."""
    return all(_fits(d, _PLAIN, ROW_TEXT) and d.keys <= SCALARS and d.widest <= ROW_ITEMS for d in depths)


def _extend_head(op: int, count: int) -> bytes:
    """The bytes msgpack writes before the items of ``(op, items)`` with ``count`` items (op < 128)."""
    if count < 16:
        return bytes((0x92, op, 0x90 | count))
    if count < 1 << 16:
        return bytes((0x92, op, 0xDC)) + count.to_bytes(2, "big")
    return bytes((0x92, op, 0xDD)) + count.to_bytes(4, "big")


def _step(sample: bytes, count: int) -> int:
    """Items per slice, from the packed size of a sample of the first items."""
    per_item = max(1.0, len(sample) / max(1, count))
    return max(1, int(SLICE_BYTES / per_item))


def _longest(items: Iterable[Any]) -> int:
    """The length of the longest str or bytes among ``items``, at C speed (it bounds a slice's size)."""
    items = items if isinstance(items, list | tuple) else list(items)
    return max(map(len, compress(items, map(_TEXT.__contains__, map(type, items)))), default=0)


class _Bytes(io.BytesIO):
    """A long bytes value's pieces, written into one growing buffer as they arrive.

    ``getvalue`` hands that buffer over as the bytes object without a copy;
    ``b"".join`` of a list would hold every piece and the result at once
    (a 500 MB bytes would need 1 GB, the worker's whole address space).
    """

    append = io.BytesIO.write


class _Array:
    """A bytearray's pieces, extended in place: the bytearray itself is the value."""

    __slots__ = ("append", "value")

    def __init__(self) -> None:
        self.value = bytearray()
        self.append = self.value.extend


class FastDecoder:
    """Rebuilds a value from the operations :class:`FastEncoder` wrote.

    ``walker(text)`` decodes a WALKER section (the Python walker's JSON text), ``walker(text, leaves)`` an OUTSIDE one.
    """

    def __init__(self, walker: Callable[..., object]) -> None:
        self._walker = walker
        self._stack: list[list[Any]] = []  # [kind, accumulator, pending dict key]
        self.done = False
        self.value: object = None

    def feed(self, ops: Iterable[Any]) -> None:
        """Apply operations (msgpack arrays) in order."""
        for op in ops:
            code = op[0]
            if code == VALUE:
                self._push(op[1])
            elif code == EXTEND:
                self._stack[-1][1].extend(op[1])
            elif code == EXTEND_ROWS:
                self._stack[-1][1].extend(map(tuple, op[1]))
            elif code == UPDATE:
                self._stack[-1][1].update(op[1])
            elif code == PIECE:
                self._stack[-1][1].append(op[1])
            elif code == BEGIN:
                kind = op[1]
                acc: Any = {} if kind == K_DICT else _Bytes() if kind == K_BYTES else _Array() if kind == K_BYTEARRAY else []
                self._stack.append([kind, acc, _NO_KEY])
            elif code == END:
                self._push(self._finish(*self._stack.pop()[:2]))
            elif code == TUPLE:
                self._push(tuple(op[1]))
            elif code == ROWS:
                self._push(list(map(tuple, op[1])))
            else:
                raise ValueError(f"unknown operation {code!r}")

    def _finish(self, kind: int, acc: Any) -> object:
        if kind == K_TUPLE:
            return tuple(acc)
        if kind == K_STR:
            return "".join(acc)
        if kind == K_BYTES:
            return acc.getvalue()
        if kind == K_BYTEARRAY:
            return acc.value
        if kind == K_WALKER:
            return self._walker("".join(acc))
        if kind == K_OUTSIDE:  # the leaves, then the text: walker(text, leaves)
            return self._walker(acc.pop(), acc)
        return acc

    def _push(self, value: object) -> None:
        if not self._stack:
            if self.done:
                raise ValueError("data after the end of the value")
            self.done, self.value = True, value
            return
        top = self._stack[-1]
        if top[0] != K_DICT:
            top[1].append(value)
        elif top[2] is _NO_KEY:
            top[2] = value
        else:
            top[1][top[2]] = value
            top[2] = _NO_KEY


_NO_KEY = object()


def plain_preview(x: object, limit: int = 200) -> str:
    """A one-line preview of plain data, capped at ``limit`` characters.

    Only builtin scalars get ``repr`` (their repr runs no conversation code);
    containers are rendered here so a huge one costs only what fits.
    """
    preview = _Preview(limit)
    try:
        preview.render(x, 0)
    except _Full:
        return "".join(preview.parts)[: limit - 1] + "…"
    return "".join(preview.parts)


class _Preview:
    """The text of :func:`plain_preview` as it grows (an object, not closures: no reference cycle
    left for the garbage collector after every stored value)."""

    __slots__ = ("parts", "room")

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.room = limit

    def put(self, text: str) -> None:
        self.parts.append(text)
        self.room -= len(text)
        if self.room < 0:
            raise _Full

    def render(self, v: object, depth: int) -> None:
        put, t = self.put, type(v)
        if t is str or t is bytes:
            put(repr(v[: self.room + 1]))  # type: ignore[index]
        elif t in SCALARS:
            put(repr(v))
        elif depth > 20:
            put("…")
        elif t is dict:
            put("{")
            for i, (k, val) in enumerate(v.items()):  # type: ignore[attr-defined]
                put(", " if i else "")
                self.render(k, depth + 1)
                put(": ")
                self.render(val, depth + 1)
            put("}")
        else:
            seq: Any = v
            put("(" if t is tuple else "[")
            for i, item in enumerate(seq):
                put(", " if i else "")
                self.render(item, depth + 1)
            put(",)" if t is tuple and len(seq) == 1 else ")" if t is tuple else "]")


class _Full(Exception):
    pass
