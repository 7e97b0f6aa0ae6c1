"""Reading a streamed reply without ever blocking the person: cancellable, watched for silence.

A provider's stream is a blocking iterator (an HTTP response read chunk by
chunk), and a read cannot be interrupted.  So the iterator is drained in a
daemon thread into a queue, and the caller's thread takes pieces from the
queue: it hands text to the listener as it comes, stops at once when the
cancel event is set, and gives up when nothing has arrived for ``idle``
seconds between chunks (a stalled stream; longer before the first one).  An abandoned reader stops at its next chunk.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from envloop.llm.client import ModelCancelled, StreamBroken, TextSink

__all__ = ["StreamFailed", "StreamStalled", "pump"]

T = TypeVar("T")

_POLL_SECONDS = 0.05


class StreamFailed(Exception):
    """The stream's own iterator raised; ``cause`` is its exception, ``partial`` the text before it.

    Internal: the client decides whether that is a retry (nothing arrived yet)
    or a :class:`~envloop.llm.client.StreamBroken` (something did).
    """

    def __init__(self, cause: BaseException, partial: str, chunks: list[Any]) -> None:
        super().__init__(type(cause).__name__)
        self.cause, self.partial, self.chunks = cause, partial, chunks


class StreamStalled(StreamBroken):
    """Nothing arrived for the idle limit; ``partial`` is what had arrived."""


def pump(open_stream: Callable[[], Iterable[T]], text_of: Callable[[T], str | None], on_text: TextSink,
         *, cancel: threading.Event | None, idle: float, what: str) -> tuple[list[T], str]:
    """Drain ``open_stream()`` in a thread; return (every chunk, the whole text).

    ``on_text`` gets each non-empty piece on the calling thread.  Raises
    :class:`ModelCancelled` on cancel and :class:`StreamStalled` after ``idle``
    silent seconds (both with the text so far), and :class:`StreamFailed`
    when the iterator itself fails.
    """
    inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()

    def read() -> None:
        try:
            for chunk in open_stream():
                if stop.is_set():
                    return
                inbox.put(("chunk", chunk))
            inbox.put(("end", None))
        except BaseException as exc:  # handed to the caller's thread
            inbox.put(("error", exc))

    threading.Thread(target=read, name=f"envloop-stream-{what}", daemon=True).start()
    chunks: list[T] = []
    pieces: list[str] = []
    last = time.monotonic()
    try:
        while True:
            if cancel is not None and cancel.is_set():
                raise ModelCancelled(f"{what} cancelled", "".join(pieces))
            try:
                kind, item = inbox.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                # Before the first chunk the request is still being made (and the provider's
                # own timeout governs it): allow longer than between chunks.
                if time.monotonic() - last > (idle if chunks else 2 * idle + 5):
                    raise StreamStalled(f"{what}: the model sent nothing for {idle:g} s",
                                        "".join(pieces)) from None
                continue
            last = time.monotonic()
            if kind == "end":
                return chunks, "".join(pieces)
            if kind == "error":
                raise StreamFailed(item, "".join(pieces), chunks)
            chunks.append(item)
            piece = text_of(item)
            if piece:
                pieces.append(piece)
                on_text(piece)
    finally:
        stop.set()
