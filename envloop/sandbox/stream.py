"""Values cross the pipe in bounded, content-addressed chunks, never as one frame.

Worker side, after a block: each changed value is encoded
(:mod:`envloop.sandbox._codec_fast`, or the Python walker for what is not
plain data) into a byte stream that :class:`ChunkWriter` cuts into chunks of
:data:`CHUNK_BYTES` at fixed offsets, each named by its sha256.  Chunks are
offered to the host a few at a time (``offer`` → ``need``), while the encoder
goes on; only the ones the database lacks cross the pipe, as binary frames.  The result frame then names
each value by its list of chunk digests.  On restore the worker asks for
chunks (``want``) a few at a time and decodes while they arrive.

Host side, :class:`HostChunkPort` answers those frames from a
:class:`ChunkStore`: it checks every chunk it receives against the digest it
asked for (a worker cannot poison the content-addressed store), and keeps
them where the caller says -- the environment spools them to a temporary
file and writes them in the block's one transaction.

Memory on both sides is bounded by a few chunks plus one slice of the
encoder, whatever the value's size; the value itself is the only big thing.
sha256 rather than blake2b: with the CPU's SHA extensions it measured 1.8 GB/s
against blake2b's 1.0 GB/s here, and the blob table is keyed by sha256.
"""

from __future__ import annotations

import hashlib
import socket
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgpack  # type: ignore[import-untyped]  # no stubs; used only through these two modules

from envloop.limits import human
from envloop.sandbox import codec, protocol
from envloop.sandbox._codec_common import DecodeError
from envloop.sandbox._codec_fast import K_WALKER, Fallback, FastDecoder, FastEncoder, plain_preview
from envloop.sandbox._codec_survey import Survey, survey

__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_MAX_VALUE_BYTES",
    "ENCODING",
    "ChunkStore",
    "ChunkWriter",
    "HostChunkPort",
    "LocalChunks",
    "MemoryChunkStore",
    "Streamed",
    "TooLarge",
    "WorkerTransport",
    "decode_value",
    "encode_value",
    "stored_digest",
]

ENCODING = "envloop-codec-2"
CHUNK_BYTES = 1 << 20
BATCH = 8  # chunks per offer / want round trip
DEFAULT_MAX_VALUE_BYTES = 1 << 30
_MAX_DIGESTS = 64
_HEX = frozenset("0123456789abcdef")


# ----------------------------------------------------------------- encoding --


class ChunkWriter:
    """Cuts a byte stream into fixed-size chunks, hands each to ``put`` with its sha256.

    Past ``limit`` bytes it stops buffering and sending but keeps counting, so
    a value over the limit is reported with its real size at no memory cost.
    """

    def __init__(self, put: Callable[[str, bytes], None], limit: int, chunk: int = CHUNK_BYTES) -> None:
        self._put: Callable[[str, bytes], None] | None = put
        self._parts: list[bytes | memoryview] = []  # the next chunk's bytes so far, as written (not copied)
        self._held = 0
        self._chunk = chunk
        self.limit = limit
        self.size = 0
        self.digests: list[str] = []

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._put is None:
            return
        if self.size > self.limit:
            self._put = None
            self._parts.clear()
            return
        chunk = self._chunk
        if self._held + len(data) < chunk:
            self._parts.append(data)
            self._held += len(data)
            return
        # Each chunk is copied once, joined from what was written (a bytearray buffer copied it
        # in and out again, and moved its tail: 8 ms for 5 MB, now 3 ms of which hashing is 2.7).
        view = memoryview(data)
        need = chunk - self._held
        self._parts.append(view[:need])
        self._emit(b"".join(self._parts))
        self._parts.clear()
        self._held = 0
        view = view[need:]
        while len(view) >= chunk:
            self._emit(bytes(view[:chunk]))
            view = view[chunk:]
        if view:
            self._parts.append(view)
            self._held = len(view)

    def close(self) -> None:
        if self._parts and self._put is not None:
            self._emit(b"".join(self._parts))
        self._parts.clear()
        self._held = 0

    def _emit(self, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()
        self.digests.append(digest)
        assert self._put is not None
        self._put(digest, data)


@dataclass(frozen=True)
class Streamed:
    """A value written as chunks: what the result frame says about it."""

    digest: str
    chunks: list[str]
    size: int
    preview: str
    type_name: str
    ok: bool = True


@dataclass(frozen=True)
class TooLarge:
    """A value over the per-value limit: it stays live in the worker, reported as not stored."""

    size: int
    limit: int
    preview: str
    type_name: str
    ok: bool = False
    kind: str = field(default="other")

    def describe(self, name: str) -> str:
        return (f"{name}: not stored: {human(self.size)} encoded is over the limit of {human(self.limit)} "
                "per value (ENVLOOP_MAX_VALUE_BYTES); it stays live until the worker restarts")


def encode_value(value: object, own_classes: Collection[type], put: Callable[[str, bytes], None],
                 limit: int, walker: bool = False, plan: Survey | None = None) -> Streamed | TooLarge | codec.Unencodable:
    """Encode ``value`` as chunks handed to ``put``; plain data at C speed, the rest by the walker.

    ``walker=True`` skips the fast path: names stored together (sandbox/aliases.py) need the
    walker's numbering of long strings, so a string several names share comes back once.
    ``plan``: the value's survey when the caller has it (else it is made here).
    """
    writer = ChunkWriter(put, limit)
    try:
        if walker:
            raise Fallback
        FastEncoder(writer.write).run(value, plan if plan is not None else survey(value))
        preview, type_name = plain_preview(value), type(value).__name__
    except Fallback:
        # Long str and bytes stay out of the walker's text and are written as they are:
        # an own class's instance holding 500 MB of bytes costs the worker no second copy.
        found = codec.encode_outside(value, own_classes=own_classes, limit_bytes=max(limit, 1))
        if isinstance(found, codec.Unencodable):
            return found
        encoded, leaves = found
        writer = ChunkWriter(put, limit)
        if leaves:
            FastEncoder(writer.write).outside(leaves, encoded.text)
        else:  # the same stream as before there were leaves: digests of stored values do not move
            FastEncoder(writer.write).pieces(encoded.text, K_WALKER)
        preview, type_name = encoded.preview, encoded.type_name
    writer.close()
    if writer.size > limit:
        return TooLarge(writer.size, limit, preview, type_name)
    digest = hashlib.sha256("\n".join([ENCODING, *writer.digests]).encode()).hexdigest()
    return Streamed(digest, writer.digests, writer.size, preview, type_name)


def decode_value(stored: Mapping[str, Any], classes: Mapping[str, type],
                 fetch: Callable[[list[str]], Iterator[bytes]]) -> object:
    """Rebuild a stored value in the worker, chunk by chunk (``envloop-codec-1`` values come inline)."""
    if stored.get("encoding") != ENCODING:
        return codec.decode(stored["root"], classes=classes, chunks=stored.get("chunks") or {})
    digests = stored.get("chunks")
    if type(digests) is not list:
        raise DecodeError("the stored value lists no chunks")
    decoder = FastDecoder(lambda text, leaves=(): codec.decode(text, classes=classes, leaves=leaves))
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, use_list=True, max_buffer_size=64 << 20)
    try:
        for data in fetch(digests):
            unpacker.feed(data)
            decoder.feed(unpacker)
    except (ValueError, TypeError, KeyError, IndexError, msgpack.UnpackException) as broken:
        raise DecodeError(f"the stored value is corrupt: {broken}") from None
    if not decoder.done or unpacker.read_bytes(1):
        raise DecodeError("the stored value is incomplete")
    return decoder.value


# ---------------------------------------------------------------- transport --


class WorkerTransport:
    """The worker's end: offer chunks after a block, fetch them during a restore.

    A block's small chunks are offered together when it ends (one round trip);
    once a chunk's worth is pending, it is offered at once and the encoder goes
    on: the host checks, receives and stores those chunks on its core while
    this one encodes the next (the ``need`` answer is read when it has come,
    or when too much is waiting for one).  Offers are answered in order, so
    the chunks sent match the host's list of the ones it expects.
    """

    def __init__(self, sock: socket.socket, reader: protocol.FrameReader, batch: int = BATCH) -> None:
        self._sock = sock
        self._reader = reader
        self._batch = batch
        self._pending: list[tuple[str, bytes]] = []
        self._pending_bytes = 0
        self._offered: deque[list[tuple[str, bytes]]] = deque()  # offers the host has not answered yet
        self._offered_bytes = 0
        self._seen: set[str] = set()  # digests offered since the last flush: never offered twice

    def put(self, digest: str, data: bytes) -> None:
        if digest in self._seen:
            return
        self._seen.add(digest)
        self._pending.append((digest, data))
        self._pending_bytes += len(data)
        if self._pending_bytes >= CHUNK_BYTES or len(self._pending) >= self._batch:
            self._offer()
            while self._offered and (self._reader.ready() or self._offered_bytes > self._batch * CHUNK_BYTES):
                self._answer()

    def flush(self) -> None:
        """Offer the pending chunks; send every one the host says it lacks (the block's end)."""
        self._offer()
        while self._offered:
            self._answer()
        self._seen.clear()

    def _offer(self) -> None:
        if not self._pending:
            return
        protocol.send_frame(self._sock, {"op": "offer", "digests": [d for d, _ in self._pending]})
        self._offered.append(self._pending)
        self._offered_bytes += self._pending_bytes
        self._pending, self._pending_bytes = [], 0

    def _answer(self) -> None:
        """Read the host's answer to the oldest offer and send the chunks it lacks."""
        need = set(self._await("need").get("digests") or ())
        for digest, data in self._offered.popleft():
            self._offered_bytes -= len(data)
            if digest in need:
                need.discard(digest)
                protocol.send_chunk(self._sock, data)

    def fetch(self, digests: list[str]) -> Iterator[bytes]:
        """The chunks' bytes in order, asked for a batch at a time and checked against their digests."""
        for start in range(0, len(digests), self._batch):
            part = digests[start : start + self._batch]
            protocol.send_frame(self._sock, {"op": "want", "digests": part})
            got = [self._await("chunk", "missing") for _ in part]  # read the whole batch: no stray frames
            for digest, frame in zip(part, got, strict=True):
                data = frame.get("data")
                if frame.get("op") == "missing" or type(data) is not bytes:
                    raise DecodeError(f"chunk {digest[:12]} of the stored value is missing")
                if hashlib.sha256(data).hexdigest() != digest:
                    raise DecodeError(f"chunk {digest[:12]} of the stored value is corrupt")
                yield data

    def _await(self, *ops: str) -> dict[str, Any]:
        while True:
            frame = self._reader.read()
            if frame.get("op") in ops:
                return frame
            if frame.get("op") != "reply":  # a reply to a call an interrupt abandoned is dropped
                raise protocol.ProtocolError(f"expected {ops[0]}, got {str(frame.get('op'))[:20]}")


class LocalChunks:
    """The worker's chunk sink when no host is attached (a Snapshotter used on its own)."""

    def __init__(self) -> None:
        self.chunks: dict[str, bytes] = {}

    def put(self, digest: str, data: bytes) -> None:
        self.chunks[digest] = data

    def flush(self) -> None:
        pass

    def fetch(self, digests: list[str]) -> Iterator[bytes]:
        for digest in digests:
            if digest not in self.chunks:
                raise DecodeError(f"chunk {digest[:12]} of the stored value is missing")
            yield self.chunks[digest]


def stored_digest(stored: Mapping[str, Any]) -> str:
    """The digest :func:`encode_value` gives the value ``stored`` holds (change detection after a restore)."""
    if stored.get("encoding") == ENCODING:
        return hashlib.sha256("\n".join([ENCODING, *stored["chunks"]]).encode()).hexdigest()
    return hashlib.sha256(str(stored["root"]).encode("utf-8", "surrogatepass")).hexdigest()


class ChunkStore(Protocol):
    """Where the host keeps chunks: the database (through a spool) or memory."""

    def missing(self, digests: list[str]) -> list[str]: ...

    def put(self, digest: str, data: bytes) -> None: ...

    def get(self, digest: str) -> bytes | None: ...


class MemoryChunkStore:
    """Chunks in a dict: for a Sandbox used without a database (tests, benchmarks)."""

    def __init__(self) -> None:
        self.chunks: dict[str, bytes] = {}

    def missing(self, digests: list[str]) -> list[str]:
        return [d for d in dict.fromkeys(digests) if d not in self.chunks]

    def put(self, digest: str, data: bytes) -> None:
        self.chunks[digest] = data

    def get(self, digest: str) -> bytes | None:
        return self.chunks.get(digest)


def _digests(frame: dict[str, Any]) -> list[str] | None:
    value = frame.get("digests")
    if type(value) is not list or len(value) > _MAX_DIGESTS:
        return None
    for d in value:
        if type(d) is not str or len(d) != 64 or not _HEX.issuperset(d):
            return None
    return value


class HostChunkPort:
    """The host's end: answers ``offer``, ``chunk`` and ``want`` frames from a :class:`ChunkStore`."""

    OPS = frozenset({"offer", "chunk", "want"})

    def __init__(self, store: ChunkStore | None = None) -> None:
        self.store: ChunkStore = store if store is not None else MemoryChunkStore()
        self._expected: deque[str] = deque()

    def reset(self) -> None:
        self._expected.clear()

    def handle(self, sock: socket.socket, frame: dict[str, Any]) -> bool:
        """Answer one frame; False when the worker broke the protocol (the caller replaces it)."""
        op = frame.get("op")
        if op == "chunk":
            data = frame.get("data")
            if not self._expected or type(data) is not bytes:
                return False
            digest = self._expected.popleft()
            if hashlib.sha256(data).hexdigest() != digest:
                return False
            self.store.put(digest, data)
            return True
        digests = _digests(frame)
        if digests is None:
            return False
        try:
            if op == "offer":
                need = self.store.missing(digests)
                self._expected.extend(need)
                protocol.send_frame(sock, {"op": "need", "digests": need})
            else:
                many = getattr(self.store, "get_many", None)  # one query for the batch when the store can
                found = many(digests) if many is not None else {}
                for digest in digests:
                    data = found.get(digest) or self.store.get(digest)
                    if data is None:
                        protocol.send_frame(sock, {"op": "missing", "digest": digest})
                    else:
                        protocol.send_chunk(sock, data)
        except OSError:
            pass  # the next read reports the worker's death
        return True
