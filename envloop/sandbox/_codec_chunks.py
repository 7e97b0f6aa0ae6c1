"""Content-addressed chunks for the value codec (see "Chunks" in :mod:`envloop.sandbox.codec`)."""

from __future__ import annotations

import base64
import hashlib
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
