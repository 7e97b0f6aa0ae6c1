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

    __slots__ = ("_sock", "_buf", "_poll", "max_frame")

    def __init__(self, sock: socket.socket, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._sock = sock
        self._buf = bytearray()
        # poll, not select: select fails outright on descriptors above 1023.
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN)
        self.max_frame = max_frame

    def read(self, deadline: float | None = None) -> dict[str, Any]:
        """Return the next message.

        ``deadline`` is a ``time.monotonic()`` instant; ``None`` waits forever.
        Raises :class:`ReadTimeout`, :class:`PeerClosed`, :class:`FrameTooLarge`
        or :class:`ProtocolError`. After anything but a timeout the stream is
        unusable and the caller should drop the peer.
        """
        buf = self._buf
        while len(buf) < 4:
            self._fill(deadline)
        (size,) = _HEADER.unpack_from(buf)
        if size > self.max_frame:
            raise FrameTooLarge(f"frame of {size} bytes exceeds the cap of {self.max_frame}")
        end = 4 + size
        while len(buf) < end:
            self._fill(deadline, end - len(buf))
        if size and buf[4] == 0:  # a binary frame (send_chunk)
            data = bytes(memoryview(buf)[5:end])  # one copy, not two
            del buf[:end]
            return {"op": "chunk", "data": data}
        body = bytes(buf[4:end])
        del buf[:end]
        return self.decode(body)

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

    def _fill(self, deadline: float | None, want: int = _CHUNK) -> None:
        """Receive more bytes, waiting no later than ``deadline``."""
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._poll.poll(remaining * 1000.0 + 0.5):
                raise ReadTimeout()
        try:
            data = self._sock.recv(max(want, _CHUNK))
        except ConnectionResetError:
            data = b""
        if not data:
            raise PeerClosed("peer closed the connection")
        self._buf += data
