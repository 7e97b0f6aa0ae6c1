"""The data-only value codec: how a conversation's values are stored, never as pickles.

It runs inside the sandbox worker. The host stores the text and its digest and
never decodes or evaluates them (DESIGN.md, "Values are stored as data").

API::

    encode(value, *, own_classes=(), limit_bytes=...) -> Encoded | Unencodable
    encode_chunks(value, *, own_classes=(), limit_bytes=..., chunk_items=1024, chunk_chars=65536)
        -> Encoded | Unencodable            # same, with long parts split into chunks
    decode(data_or_text, *, classes={}, chunks=None) -> value
    class_table(classes) -> {qualname: class}   # the ``classes`` mapping decode wants

Format (version 1). The text is compact JSON of an envelope
``{"v": 1, "root": NODE, "defs": [NODE, ...]}`` (``defs`` only when needed). A
NODE is a JSON scalar for ``None``, bools, ints within 64 bits, finite floats
and strings (a JSON float always has a ``.`` or exponent, so ints and floats
stay apart), else a JSON array whose first item is a tag:

    ["l", x...] list          ["t", x...] tuple         ["d", k, v, k, v...] dict (any keys, insertion order)
    ["s", x...] set           ["f", x...] frozenset     members in canonical order (below)
    ["int", hex]  big int     ["fl", "nan"|"-nan"|"inf"|"-inf"]   ["c", re, im] complex (float texts)
    ["b", base64] bytes       ["ba", base64] bytearray  ["dec", str] Decimal   ["frac", n, d] Fraction
    ["date", iso] ["dt", iso, fold, tz] ["time", iso, fold, tz] ["td", days, s, us]
        tz: null | [offset seconds, microseconds, name|null] (datetime.timezone) | "Europe/Paris" (ZoneInfo)
    ["range", start, stop, step]   ["re", pattern, flags] / ["reb", base64, flags]  compiled regex
    ["od", k, v...] OrderedDict  ["ctr", k, v...] Counter  ["dq", maxlen, x...] deque
    ["dd", factory, k, v...] defaultdict; factory: null | "list" (a builtin's name) | ["cls", Class]
    ["o", Class, field, value...]           instance of a conversation class (``__dict__``, then slots)
    ["O", Class, kind, nfields, field, value..., item...]   one extending list/tuple/dict/set/frozenset
                                            (namedtuple and typing.NamedTuple classes are kind "t")
    ["e", Enum, member] / ["e", Enum, null, int]   member of a conversation Enum / a Flag combination
    ["wr", "ex", Class, args, __dict__, cause, context, suppress_context, extra]   an exception, builtin or
                                            of a conversation class (no traceback; see _codec_defs)
    ["wr", "sl", start, stop, step]  slice   (other "wr" kinds: staticmethod, property, type hints...)
    ["r", n]   the object numbered n again (shared reference or cycle)
    ["x", i]   defs[i], inline as far as numbering goes (keeps JSON nesting shallow for deep values)
    ["=", n, NODE]   walk NODE (it may define objects) but the value is object n (see below)
    ["@", digest...] as the only child: the children are in these chunks;  ["S@"|"b@", digest...] long str/bytes
    ["S$"|"b$"|"ba$", i]  the i-th long str/bytes/bytearray carried outside the text (:func:`encode_outside`)

Identity. Objects are numbered in walk order without writing the numbers:
a mutable container when it starts, an immutable one (tuple, frozenset, tuple
subclass) when it is complete, a str or bytes of 256+ characters when met. A
second meeting writes ``["r", n]``, so shared references and cycles come back
as shared references and cycles, and ``[big_string] * 1000`` stays small.
Immutables are numbered late because they can only be built from finished
parts; when a tuple is reached again inside itself (``a = []; t = (a,);
a.append(t)``) the inner meeting is encoded in full and the outer one becomes
``["=", n, ...]``, as pickle does. Equal but distinct objects are encoded
separately, so sharing changes the text: ``[(1,), (1,)]`` and ``[t, t]`` have
different digests. At worst that makes a redundant version; never a wrong value.

Canonical text. Encoding the same value twice gives the same text, so the
digest (sha256 of the UTF-8 text) tells "unchanged" cheaply. Dicts keep
insertion order (it is visible). Sets are sorted: by value when all members are
ints, all strs or all bytes; otherwise by a key that needs no user code (type
rank, then value, tuples elementwise, other members by their own encoding up to
4 KB). Members whose keys tie (structurally identical objects) keep iteration order.

Safety. Nothing a conversation wrote runs while encoding: dispatch is on
``type(x)`` by identity, containers are iterated through builtin methods,
instances are read through their class's ``__dict__`` and slot descriptors, and
previews are rendered from the encoded nodes, not with ``repr()``. An instance
is stored only when its class is in ``own_classes`` and every class in its MRO
is a conversation class, ``object``, a builtin container, or a library class
with ``__slots__ = ()`` (Generic, ABC, namedtuple bases); Exception subclasses
and other C-level state are refused. A class made by ``namedtuple(...)`` in
conversation code must be passed in ``own_classes`` like any other. Decoding
creates instances with the builtin base's ``__new__`` and sets fields through
descriptors: no ``__init__``, ``__new__`` or ``__setattr__`` runs, so frozen
dataclasses and slots work; hashing dict keys and set members may run a class's
``__hash__``/``__eq__``, which cannot be avoided. A class is found by its
``__qualname__``; a redefined class restores old instances as the new class.

Refused values. ``encode`` returns :class:`Unencodable` (never raises) with a
reason and ``kind``: ``"function"``, ``"class"`` or ``"module"`` for what the
versioning layer keeps as source instead, ``"other"`` for generators, open
files, library objects (``objects of library type socket.socket ...``),
defaultdicts with a lambda factory, datetimes with a custom tzinfo, and values
over ``limit_bytes``. The walk uses an explicit stack, so deep values fail or
succeed cleanly, never with RecursionError. Compiled regexes are stored as
pattern + flags: safe (recompiling runs no user code) and common in model code.

Chunks. For large containers the store should use :func:`encode_chunks`. A
container with more than ``chunk_items`` children, a str longer than
``chunk_chars``, bytes longer than ``chunk_chars * 3 // 4``, and the ``defs``
list are cut at fixed counts from the start into chunks named by the sha256 of
their text. Appending to a list of 100,000 ints then changes one chunk plus the
root (which lists ~98 digests): about 10 KB of new rows instead of ~600 KB.
Fixed counts, rather than content-defined boundaries, keep it simple and make
appends and in-place edits cheap; an insertion near the front of a list, or a
new member of a large set (sets are sorted), shifts later chunks. The root's
digest covers the chunks' digests, so it still identifies the whole value; it
differs from the unchunked digest of the same value, so a store uses one mode.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from envloop.sandbox._codec_chunks import Chunker, Outside
from envloop.sandbox._codec_common import (
    FORMAT_VERSION,
    DecodeError,
    Reject,
    class_qualname,
    dump,
    type_label,
)
from envloop.sandbox._codec_decode import Decoder
from envloop.sandbox._codec_encode import Encoder
from envloop.sandbox._codec_preview import render_node, summary

__all__ = [
    "DecodeError",
    "Encoded",
    "Unencodable",
    "class_table",
    "decode",
    "encode",
    "encode_chunks",
    "encode_outside",
]

DEFAULT_LIMIT_BYTES = 32 * 1024 * 1024
CHUNK_ITEMS = 1024
CHUNK_CHARS = 65536
OUTSIDE_CHARS = 4096  # encode_outside: str/bytes longer than this are carried outside the text
PREVIEW_CHARS = 200


@dataclass(frozen=True)
class Encoded:
    """A value stored as data: ``text`` (canonical JSON of ``data``) and its sha256 ``digest``.

    ``size`` counts the UTF-8 bytes of ``text`` plus every chunk; ``chunks``
    maps digest to chunk text and is empty unless :func:`encode_chunks` made it.
    """

    data: dict[str, Any]
    text: str
    digest: str
    type_name: str
    size: int
    preview: str
    chunks: Mapping[str, str] = field(default_factory=dict)
    ok: Literal[True] = True


@dataclass(frozen=True)
class Unencodable:
    """A value the codec will not store, with why; the caller keeps ``preview`` and marks the name lost."""

    reason: str
    kind: str  # "function" | "class" | "module" | "other"
    path: str  # where inside the value, e.g. "[3].items['a']"; "" for the value itself
    type_name: str
    preview: str
    ok: Literal[False] = False

    def describe(self, name: str) -> str:
        """One line for the user: ``xs[3]: generator objects cannot be stored ...``."""
        return f"{name}{self.path}: {self.reason}"


def encode(
    value: object, *, own_classes: Collection[type] = (), limit_bytes: int = DEFAULT_LIMIT_BYTES
) -> Encoded | Unencodable:
    """Encode ``value`` as one canonical JSON text; see the module docstring for the format."""
    return _encode(value, own_classes, limit_bytes, None)


def encode_chunks(
    value: object,
    *,
    own_classes: Collection[type] = (),
    limit_bytes: int = DEFAULT_LIMIT_BYTES,
    chunk_items: int = CHUNK_ITEMS,
    chunk_chars: int = CHUNK_CHARS,
) -> Encoded | Unencodable:
    """Like :func:`encode`, but long lists, dicts, sets, str and bytes go into content-addressed chunks."""
    return _encode(value, own_classes, limit_bytes, Chunker(chunk_items, chunk_chars))


def encode_outside(
    value: object,
    *,
    own_classes: Collection[type] = (),
    limit_bytes: int = DEFAULT_LIMIT_BYTES,
    chars: int = OUTSIDE_CHARS,
) -> tuple[Encoded, list[str | bytes | bytearray]] | Unencodable:
    """Like :func:`encode`, but str, bytes and bytearrays longer than ``chars`` are left out of the text.

    Each becomes ``["S$"|"b$"|"ba$", i]``, ``i`` indexing the list returned with
    the encoding (the objects themselves): the text holds the structure, and
    the caller writes the bulk as it is, without a copy
    (:func:`envloop.sandbox.stream.encode_value`). ``size`` and the limit
    check cover the text only; the caller counts the leaves.
    ``decode(text, leaves=...)`` rebuilds the value.
    """
    outside = Outside(chars)
    found = _encode(value, own_classes, limit_bytes, outside)
    return found if isinstance(found, Unencodable) else (found, outside.leaves)


def _encode(value: object, own_classes: Collection[type], limit: int, chunker: Chunker | None) -> Encoded | Unencodable:
    own = {id(c): c for c in own_classes}
    type_name = class_qualname(type(value)) if id(type(value)) in own else type_label(type(value))
    encoder = Encoder(own, limit, chunker)
    try:
        root = encoder.run(value)
    except Reject as refusal:
        return Unencodable(refusal.reason, refusal.kind, refusal.path, type_name, summary(value))
    except RecursionError:
        return Unencodable("the value is nested too deeply to store", "other", "", type_name, summary(value))
    defs = encoder.defs
    if chunker is not None:
        chunker.container(defs, 0)
    data: dict[str, Any] = {"v": FORMAT_VERSION, "root": root}
    if defs:
        data["defs"] = defs
    text, raw = dump(data)
    size = len(raw) + (sum(chunker.sizes.values()) if chunker else 0)
    if size > limit:
        why = f"the value is too large to store ({size} bytes encoded, limit {limit})"
        return Unencodable(why, "other", "", type_name, summary(value))
    chunks = dict(chunker.chunks) if chunker else {}
    leaves = chunker.leaves if isinstance(chunker, Outside) else ()
    preview = render_node(root, PREVIEW_CHARS, defs, chunks.__getitem__ if chunks else None, leaves)
    return Encoded(data, text, hashlib.sha256(raw).hexdigest(), type_name, size, preview, chunks)


def decode(
    data_or_text: str | Mapping[str, Any],
    *,
    classes: Mapping[str, type] | None = None,
    chunks: Mapping[str, str] | Callable[[str], str] | None = None,
    leaves: Sequence[object] = (),
) -> object:
    """Rebuild a value in the worker from its text (or parsed ``data``).

    ``classes`` maps a conversation class's ``__qualname__`` to the class (see
    :func:`class_table`); ``chunks`` finds a chunk's text by digest; ``leaves``
    are the str and bytes :func:`encode_outside` left out of the text. Raises
    :class:`DecodeError` for an unknown class, a missing or corrupt chunk, or
    data this version cannot read.
    """
    fetch: Callable[[str], str] | None
    fetch = chunks.__getitem__ if isinstance(chunks, Mapping) else chunks
    try:
        envelope = json.loads(data_or_text) if isinstance(data_or_text, str) else data_or_text
        return Decoder(classes or {}, fetch, leaves).run(envelope)
    except DecodeError:
        raise
    except RecursionError:
        raise DecodeError("the stored value is nested too deeply to rebuild") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as broken:
        raise DecodeError(f"the stored value is corrupt or does not fit its classes: {broken}") from None


def class_table(classes: Iterable[type]) -> dict[str, type]:
    """The ``classes`` mapping :func:`decode` needs; a later class of the same name wins (redefinition)."""
    return {class_qualname(c): c for c in classes}
