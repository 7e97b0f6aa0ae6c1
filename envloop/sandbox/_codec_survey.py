"""One C-speed walk over plain data, shared by the fast encoder and the alias finder.

After a block, each changed value used to be walked three times or more
before a byte was packed: for the names it shares objects with
(:mod:`envloop.sandbox.aliases`), then by the fast encoder for its types, its
longest strings and containers met twice -- each walk a pass over every item.
On data work (a sorted list of rows is scattered all over memory) the passes,
not the packing, were the cost.  :func:`survey` does the walk once, in
windows of :data:`WINDOW` items checked with C-speed passes (``map``,
``compress``, ``gc.get_referents``), the containers a window finds looked
into as soon as a window's worth is found, while they are in the CPU cache.

A survey exists only for plain data: lists, tuples and dicts, nested in any
way, of ``None``, bools, ints, floats, str and bytes (exact types), with no
container met twice (no sharing, no cycle).  Anything else -- a set, the
conversation's own instances, a bytearray, a shared row -- gives ``None``,
and the callers take their general paths.

What it records is what those callers ask: per depth, the item types, the
dict keys' types, the longest str/bytes and the widest container; and the
reach, for :func:`envloop.sandbox.aliases.reach`: the root, and the lists,
dicts and long strings inside that something else also refers to.

Containers met twice are found by reference counts, not by collecting every
id (a set of 200,000 ids cost more than packing them): an object whose only
referrer is its container -- its count equals that of a fresh probe held the
same way -- cannot be met twice in the value, nor be shared with another
name now.  Only the others are taken by id, to find repeats inside the value
and to be the reach.  A name's reach is kept between blocks, and an object
that gains a second referrer later does so in a block that reads a name
reaching it, whose reach is then taken again; what this leaves out (a
referrer that is no name) loses at worst ``is`` between two names, which
:data:`~envloop.sandbox.aliases.REACH_CAP` already allows for big values.
"""

from __future__ import annotations

import gc
import sys
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate, chain, compress, islice
from typing import Any

from envloop.sandbox._codec_common import SHARE_MIN

__all__ = ["WINDOW", "Depth", "Survey", "survey"]

WINDOW = 1 << 14  # items checked together (while they are in the CPU cache)
_MIN_ROWS = 32  # rows checked column by column: enough of them for a column to be worth a slice
_MAX_COLUMNS = 64
_SCALARS = frozenset({int, float, str, bytes, bool, type(None)})
_TEXT = frozenset({str, bytes})
_BOXES = frozenset({list, tuple, dict})
_ALLOWED = _SCALARS | _BOXES
_DEEP = _TEXT | _BOXES  # what needs more than the types of a window
_refs = sys.getrefcount


@dataclass
class Depth:
    """What the items at one depth are (depth 0: the root's own items, keys and values)."""

    types: set[type] = field(default_factory=set)
    keys: set[type] = field(default_factory=set)  # types of the dict keys among the items
    longest: int = 0  # the longest str or bytes
    widest: int = 0  # the most items in one container among the items


@dataclass(frozen=True)
class Survey:
    """A plain value's shape; see the module docstring."""

    depths: list[Depth]
    reach: frozenset[int]


class _NotPlain(Exception):
    pass


def survey(value: object) -> Survey | None:
    """The survey of a list, tuple or dict of plain data; None for anything else (or shared)."""
    t = type(value)
    if t not in _BOXES:
        return None
    walk = _Walk()
    if t is not tuple:
        walk.reach.add(id(value))
    root = _Level()
    root.add([value], [len(value)], t is dict)  # type: ignore[arg-type]
    try:
        walk.visit(root, 0)
    except (_NotPlain, RecursionError):  # RecursionError: nested deeper than the walk goes (the walker's job)
        return None
    return Survey(walk.depths, frozenset(walk.reach))


class _Level:
    """Containers at one depth: lists and tuples, and dicts, with their lengths."""

    def __init__(self) -> None:
        self.seqs: list[Any] = []
        self.seq_lens: list[int] = []
        self.dicts: list[Any] = []
        self.dict_lens: list[int] = []
        self.size = 0  # items and containers: when to look inside them

    def add(self, boxes: list[Any], lens: list[int], dicts: bool) -> None:
        (self.dicts if dicts else self.seqs).extend(boxes)
        (self.dict_lens if dicts else self.seq_lens).extend(lens)
        self.size += len(boxes) + sum(lens)

    def take(self) -> _Level:
        taken = _Level()
        taken.seqs, taken.seq_lens, taken.dicts, taken.dict_lens = self.seqs, self.seq_lens, self.dicts, self.dict_lens
        self.__init__()  # type: ignore[misc]
        return taken


def _runs(boxes: list[Any], lens: list[int]) -> Iterator[tuple[list[Any], int]]:
    """``boxes`` in runs holding about WINDOW items in all (a bigger box comes alone), with their item counts."""
    ends = list(accumulate(lens))
    start = 0
    while start < len(boxes):
        before = ends[start - 1] if start else 0
        stop = max(start + 1, bisect_right(ends, before + WINDOW, lo=start))
        yield boxes[start:stop], ends[stop - 1] - before
        start = stop


class _Walk:
    """Depth first by windows: the containers a window finds are looked into while they are in the cache."""

    def __init__(self) -> None:
        self.depths: list[Depth] = []
        self.reach: set[int] = set()  # the root, and lists, dicts and long str/bytes something else refers to
        self.seen: set[int] = set()  # containers something else refers to: met once only?

    def visit(self, level: _Level, d: int) -> None:
        """The items of the containers at depth ``d`` (they are at ``d + 1``... counted from the root's items)."""
        if d == len(self.depths):
            self.depths.append(Depth())
        following = _Level()
        for run, _ in _runs(level.seqs, level.seq_lens):
            self.sequences(run, d, following)
        for run, count in _runs(level.dicts, level.dict_lens):
            self.dicts(run, count, d, following)
        if following.size:
            self.visit(following, d + 1)

    def sequences(self, run: list[Any], d: int, following: _Level) -> None:
        """The items of the lists and tuples in ``run`` (one big one: WINDOW items at a time)."""
        if len(run) == 1 and len(run[0]) > WINDOW:
            box = run.pop()
            if not set(map(type, box[:64])) & _DEEP:  # looks like numbers: one pass over all of it, no windows
                types = set(map(type, box))
                if not types & _DEEP:
                    self.check_types(types, self.depths[d], False)
                    return
            items = iter(box)
            for start in range(0, len(box), WINDOW):
                types = set(map(type, islice(items, WINDOW)))
                if types & _DEEP or not types <= _ALLOWED:
                    part = box[start : start + WINDOW]  # a new list (a tuple's is copied: ``items`` must be one)
                    self.check(part if type(part) is list else list(part), d, following, False, types)
                else:
                    self.check_types(types, self.depths[d], False)  # numbers: one pass, nothing to collect
        else:
            if len(run) < _MIN_ROWS or not 1 < len(run[0]) <= _MAX_COLUMNS:  # not column by column:
                types = set(map(type, chain.from_iterable(run)))  # numbers need only their types, no list
                if not types & _DEEP:
                    self.check_types(types, self.depths[d], False)
                    return
            self.columns(run, gc.get_referents(*run), d, following)  # the items, at C speed

    def dicts(self, run: list[Any], count: int, d: int, following: _Level) -> None:
        """The keys and values of the dicts in ``run`` (one big one: WINDOW items at a time)."""
        if len(run) == 1 and len(run[0]) > WINDOW:
            box = run.pop()
            keys, values = iter(box), iter(box.values())
            for _ in range(0, len(box), WINDOW):
                self.check(list(islice(keys, WINDOW)), d, following, True)
                self.check(list(islice(values, WINDOW)), d, following, False)
            return
        values = gc.get_referents(*run)
        if len(values) == count and self._str_keys(run, self.depths[d]):
            self.columns(run, values, d, following)
            return
        del values
        self.check(list(chain.from_iterable(run)), d, following, True)
        self.check(list(chain.from_iterable(map(dict.values, run))), d, following, False)

    @staticmethod
    def _str_keys(run: list[Any], depth: Depth) -> bool:
        """For dicts whose keys are all exact str (CPython then traverses only their values): the keys' lengths.

        Records repeat the same few keys, so they are measured once each;
        hashing an exact str runs no conversation code.  False when a key is
        long enough for the reach (every long key is then taken by id).
        """
        distinct = set().union(*run)  # C-speed: each dict's keys with their stored hashes
        longest = max(map(len, distinct), default=0)
        if longest >= SHARE_MIN:
            return False
        if distinct:
            depth.types.add(str)
            depth.keys.add(str)
            depth.longest = max(depth.longest, longest)
        return True

    def columns(self, run: list[Any], items: list[Any], d: int, following: _Level) -> None:
        """The items of the rows in ``run`` (tuples, lists, or dicts' values), checked column by column.

        Rows of one width hold one kind of item per position (an id, a float, a
        name), so their items taken ``k`` apart are mostly of one type: a
        column's checks need no per-item selection of the text among numbers,
        which cost more than the packing.  Rows of other widths only mix the
        columns, which :meth:`check` handles as before.
        """
        width = len(run[0])
        if len(run) < _MIN_ROWS or not 1 < width <= _MAX_COLUMNS or len(items) != width * len(run):
            self.check(items, d, following, False)
            return
        for j in range(width):
            self.check(items[j::width], d, following, False, holders=(items,))

    def check(self, items: list[Any], d: int, following: _Level, keys: bool,
              types: set[type] | None = None, holders: tuple[list[Any], ...] = ()) -> None:
        """One window of items: their types, text lengths and containers.

        ``items`` holds them, with ``holders`` (a list they were sliced from), if any.
        """
        depth = self.depths[d]
        if types is None:
            types = set(map(type, items))
        self.check_types(types, depth, keys)
        if not types & _DEEP:
            return
        # The types of each item, to pick the containers among others; with one type, ``items`` is the selection.
        kinds = list(map(type, items)) if len(types) > 1 and (types & _BOXES or types >= _TEXT) else []
        if types & _TEXT:
            if types <= _TEXT:
                texts = items
            elif kinds:
                texts = list(compress(items, map(_TEXT.__contains__, kinds)))
            else:  # exact types (checked): isinstance is the type test, one call an item
                texts = list(filter((str if str in types else bytes).__instancecheck__, items))
            longest = max(map(len, texts))
            depth.longest = max(depth.longest, longest)
            if longest >= SHARE_MIN:  # long text is numbered by the codec: names sharing it share one copy
                long = list(compress(texts, map(SHARE_MIN.__le__, map(len, texts))))
                self.reach.update(map(id, _shared(long, items, texts, *holders)))
        if types & _BOXES:
            self._boxes(items, kinds, types, depth, following, holders)
            if following.size >= WINDOW:  # look inside them now, while they are in the cache
                self.visit(following.take(), d + 1)

    @staticmethod
    def check_types(types: set[type], depth: Depth, keys: bool) -> None:
        if not types <= _ALLOWED:
            raise _NotPlain
        depth.types |= types
        if keys:
            depth.keys |= types

    def _boxes(self, items: list[Any], kinds: list[type], types: set[type], depth: Depth, following: _Level,
               holders: tuple[list[Any], ...]) -> None:
        for t in (list, dict, tuple):
            if t not in types:
                continue
            boxes = items if len(types) == 1 else list(compress(items, map(frozenset({t}).__contains__, kinds)))
            shared = _shared(boxes, items, *holders)
            if shared:
                before = len(self.seen)
                self.seen.update(map(id, shared))
                if len(self.seen) != before + len(shared):
                    raise _NotPlain  # a container met twice: shared or cyclic
                if t is not tuple:
                    self.reach.update(map(id, shared))
            lens = list(map(len, boxes))
            depth.widest = max(depth.widest, max(lens))
            following.add(boxes, lens, t is dict)


def _shared(selection: list[Any], *holders: list[Any]) -> list[Any]:
    """The objects of ``selection`` something refers to besides their container (and this walk's lists).

    Reference counts, against a fresh probe held the same way: by one variable
    (as an item by its container) and by ``selection`` and ``holders``, the
    walk's lists that hold the items -- so its count is what an object nobody
    else refers to has, on any interpreter.  Such an object cannot be met
    twice in the value, nor be shared with another name.
    """
    probe = tuple([0.5])
    lists = list({id(held): held for held in (selection, *holders)}.values())
    for held in lists:
        held.append(probe)
    try:
        alone = _refs(probe)
        if max(map(_refs, selection)) <= alone:  # the common case: nothing shared, no list of counts made
            return []
        counts = list(map(_refs, selection))
    finally:
        for held in lists:
            held.pop()
    counts.pop()
    return list(compress(selection, map(alone.__lt__, counts)))
