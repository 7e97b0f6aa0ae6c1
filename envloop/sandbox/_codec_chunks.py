"""Content-addressed chunks for the value codec (see "Chunks" in :mod:`envloop.sandbox.codec`)."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from envloop.sandbox._codec_common import dump


class Chunker:
    """Splits long child lists, strings and bytes into content-addressed chunks.

    Boundaries are fixed counts from the start (``items`` child nodes, ``chars``
    characters, ``3 * chars // 4`` bytes), so appending to a container changes
    only its last chunk and the root's digest list.
    """

    def __init__(self, items: int, chars: int) -> None:
        self.items = max(2, items - items % 2)  # even, so a dict's key and value share a chunk
        self.chars = max(4, chars - chars % 4)
        self.chunks: dict[str, str] = {}
        self.sizes: dict[str, int] = {}

    def _put(self, piece: object) -> str:
        text, raw = dump(piece)
        digest = hashlib.sha256(raw).hexdigest()
        self.chunks[digest] = text
        self.sizes[digest] = len(raw)
        return digest

    def container(self, node: list[Any], head: int) -> None:
        """Replace a long child list by one ``["@", digest, ...]`` child."""
        if len(node) - head <= self.items:
            return
        step = self.items
        digests = [self._put(node[i : i + step]) for i in range(head, len(node), step)]
        del node[head:]
        node.append(["@", *digests])

    def text(self, s: str) -> list[str]:
        step = self.chars
        return ["S@", *(self._put(s[i : i + step]) for i in range(0, len(s), step))]

    def data(self, b: bytes) -> list[str]:
        step = self.chars * 3 // 4
        return ["b@", *(self._put(base64.b64encode(b[i : i + step]).decode("ascii")) for i in range(0, len(b), step))]

    def array(self, b: bytearray) -> object:
        """A long bytearray: kept inline here (a chunked ``b@`` node would come back as bytes)."""
        return ["ba", base64.b64encode(b).decode("ascii")]


_SURROGATE = re.compile("[\ud800-\udfff]")


class Outside(Chunker):
    """Leaves long str, bytes and bytearrays out of the walker's text, for the stream to carry as they are.

    The walker (:mod:`envloop.sandbox._codec_encode`) builds its whole text in
    memory; a value it stores whose bulk is long strings or bytes (an own
    class's instance holding them, names sharing a big list) would cost that
    bulk again, and a third time as base64.  With this chunker such a leaf
    becomes ``["S$"|"b$"|"ba$", i]`` -- the ``i``-th of :attr:`leaves`, which
    holds the objects themselves, not copies -- and
    :func:`envloop.sandbox.stream.encode_value` writes the leaves in pieces
    before the text.  A str with lone surrogates stays in the text (msgpack
    carries only UTF-8).
    """

    def __init__(self, chars: int) -> None:
        super().__init__(2, chars)
        self.chars = chars
        self.leaves: list[str | bytes | bytearray] = []

    def container(self, node: list[Any], head: int) -> None:
        return

    def _leaf(self, tag: str, x: str | bytes | bytearray) -> list[Any]:
        self.leaves.append(x)
        return [tag, len(self.leaves) - 1]

    def text(self, s: str) -> Any:
        if not s.isascii() and _SURROGATE.search(s):
            return s
        return self._leaf("S$", s)

    def data(self, b: bytes) -> list[Any]:
        return self._leaf("b$", b)

    def array(self, b: bytearray) -> list[Any]:
        return self._leaf("ba$", b)
