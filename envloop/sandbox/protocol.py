"""Length-prefixed JSON frames between the host and a sandbox worker.

A frame is a 4-byte big-endian length followed by that many bytes of JSON
(one object). JSON because the host must never evaluate anything the sandbox
made: whatever arrives is plain data (str, int, float, bool, None, list,
dict), never an object with behaviour. ``ensure_ascii=True`` keeps the body
pure ASCII, so lone surrogates a block printed survive the trip and encoding
is the C fast path.

The reader enforces a size cap *before* it buffers a body: a worker that
floods the pipe is stopped at the header, not after the host has allocated
whatever the worker claimed. A deadline turns every read into a bounded
wait, which is how the host enforces wall-clock limits without any alarm
inside the worker.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import time
from typing import Any

__all__ = [
    "DEFAULT_MAX_FRAME",
    "FrameReader",
    "FrameTooLarge",
    "PeerClosed",
    "ProtocolError",
    "ReadTimeout",
    "encode",
    "send_before",
    "send_chunk",
    "send_frame",
    "WriteTimeout",
]

#: The cap a reader applies when none is given (the worker reading the host).
DEFAULT_MAX_FRAME = 64 << 20

_HEADER = struct.Struct(">I")
_CHUNK = 1 << 16
_BIG = 1 << 16  # frames longer than this, when not yet buffered, are received into their own buffer
_encoder = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=True)
_decode = json.JSONDecoder().decode


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed frame."""


class FrameTooLarge(ProtocolError):
    """A frame header announced more bytes than the reader accepts."""


class PeerClosed(ProtocolError):
    """The other end closed the connection (end of file)."""


class ReadTimeout(Exception):
    """No complete frame arrived before the deadline."""


def encode(message: dict[str, Any]) -> bytes:
    """Return the wire bytes (header + JSON body) for one message."""
    body = _encoder.encode(message).encode("ascii")
    return _HEADER.pack(len(body)) + body


def send_frame(sock: socket.socket, message: dict[str, Any]) -> None:
    """Send one message; a single ``sendall`` keeps it to one syscall when small."""
    sock.sendall(encode(message))


class WriteTimeout(Exception):
    """The peer did not take the bytes before the deadline (it stopped reading)."""


def send_before(sock: socket.socket, data: bytes, deadline: float) -> None:
    """``sendall`` that gives up at ``deadline`` (a ``time.monotonic()`` instant).

    A worker that floods the pipe with frames and never reads its replies
    would otherwise block the host in ``sendall`` for ever, past every deadline.
    """
    view = memoryview(data)
    poll = select.poll()
    poll.register(sock, select.POLLOUT)
    while view:
        try:
            view = view[sock.send(view, socket.MSG_DONTWAIT):]
            continue
        except (BlockingIOError, InterruptedError):
            pass
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poll.poll(remaining * 1000.0 + 0.5):
            raise WriteTimeout("the worker stopped reading")


def send_chunk(sock: socket.socket, data: bytes) -> None:
    """Send bytes as a binary frame: a zero byte (never the start of JSON), then the data.

    Used for the chunks of stored values (:mod:`envloop.sandbox.stream`), so
    they cross the pipe without base64 or JSON; the reader hands them back as
    ``{"op": "chunk", "data": bytes}``.
    """
    sock.sendall(_HEADER.pack(len(data) + 1) + b"\x00")
    sock.sendall(data)


class FrameReader:
    """Reads frames from a stream socket, keeping leftover bytes between calls.

    One reader per socket: it buffers whatever a ``recv`` returned beyond the
    current frame, so a burst of frames costs one syscall, not two per frame.
    """

    __slots__ = ("_sock", "_buf", "_poll", "max_frame", "_big", "_got")

    def __init__(self, sock: socket.socket, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._sock = sock
        self._buf = bytearray()
        # poll, not select: select fails outright on descriptors above 1023.
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN)
        self.max_frame = max_frame
        self._big: bytearray | None = None  # a big frame being received straight into its own buffer
        self._got = 0

    def read(self, deadline: float | None = None) -> dict[str, Any]:
        """Return the next message.

        ``deadline`` is a ``time.monotonic()`` instant; ``None`` waits forever.
        Raises :class:`ReadTimeout`, :class:`PeerClosed`, :class:`FrameTooLarge`
        or :class:`ProtocolError`. After anything but a timeout the stream is
        unusable and the caller should drop the peer.
        """
        if self._big is not None:  # a timeout came in the middle of a big frame
            return self._read_big(deadline)
        buf = self._buf
        while len(buf) < 4:
            self._fill(deadline)
        (size,) = _HEADER.unpack_from(buf)
        if size > self.max_frame:
            raise FrameTooLarge(f"frame of {size} bytes exceeds the cap of {self.max_frame}")
        end = 4 + size
        if size > _BIG and len(buf) < end:
            # Straight into the frame's own buffer: a chunk is copied once on its way to bytes,
            # not three times through the shared buffer.
            self._big = bytearray(size)
            self._got = len(buf) - 4
            self._big[: self._got] = memoryview(buf)[4:]
            buf.clear()
            return self._read_big(deadline)
        while len(buf) < end:
            self._fill(deadline, end - len(buf))
        if size and buf[4] == 0:  # a binary frame (send_chunk)
            data = bytes(memoryview(buf)[5:end])  # one copy, not two
            del buf[:end]
            return {"op": "chunk", "data": data}
        body = bytes(buf[4:end])
        del buf[:end]
        return self.decode(body)

    def ready(self) -> bool:
        """Whether a frame has (begun to) come in: :meth:`read` would not wait for the peer to send."""
        return bool(self._buf) or self._big is not None or bool(self._poll.poll(0))

    @staticmethod
    def decode(body: bytes) -> dict[str, Any]:
        """Parse one frame body; anything but a JSON object is a :class:`ProtocolError`."""
        try:
            message = _decode(body.decode("ascii"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # too deep: a hostile frame
            raise ProtocolError(f"undecodable frame: {type(exc).__name__}") from None
        if type(message) is not dict:
            raise ProtocolError("a frame must hold a JSON object")
        return message

    def _read_big(self, deadline: float | None) -> dict[str, Any]:
        big = self._big
        assert big is not None
        with memoryview(big) as view:
            while self._got < len(big):
                self._wait(deadline)
                try:
                    got = self._sock.recv_into(view[self._got :])
                except ConnectionResetError:
                    got = 0
                if not got:
                    raise PeerClosed("peer closed the connection")
                self._got += got
            self._big = None
            if big[0] == 0:  # a binary frame (send_chunk)
                return {"op": "chunk", "data": bytes(view[1:])}
        return self.decode(bytes(big))

    def _wait(self, deadline: float | None) -> None:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._poll.poll(remaining * 1000.0 + 0.5):
                raise ReadTimeout()

    def _fill(self, deadline: float | None, want: int = _CHUNK) -> None:
        """Receive more bytes, waiting no later than ``deadline``."""
        self._wait(deadline)
        try:
            data = self._sock.recv(max(want, _CHUNK))
        except ConnectionResetError:
            data = b""
        if not data:
            raise PeerClosed("peer closed the connection")
        self._buf += data
